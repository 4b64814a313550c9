//! Step 8: the filesystem. A pure plan is made from the policy while nothing has changed
//! (plan.rs: every user error is found there); the apply functions here are thin.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use nix::fcntl::{OFlag, open};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::stat::Mode;

use crate::error::{Context, Error, Result, Step};
use crate::log::debug;
use crate::policy::Root;
use crate::sys;

pub mod devtpl;
mod plan;
pub use plan::{Op, Plan, RealHost, plan};

/// Where the host's tree is reachable between the pivot and its detachment.
const OLD_ROOT: &str = "/.oldroot";
/// The directory the new root tmpfs is mounted on before the pivot.
const STAGING: &str = "/tmp";

/// Parts of a fresh procfs that must not be writable from the sandbox (they reach global state).
const PROC_READONLY: &[&str] = &["sys", "sysrq-trigger"];
/// Writable only by real root; made read-only too when the program keeps real root.
const PROC_READONLY_FOR_ROOT: &[&str] = &["irq", "bus", "fs"];

// ---- apply ----

fn c(path: &str) -> CString {
    CString::new(path).expect("policy paths hold no NUL byte")
}

fn err(call: String, e: nix::errno::Errno) -> Error {
    Error::call(Step::Mount, call, e)
}

/// Step 3: the prepared `/dev` to bind (see `devtpl`), when the plan makes a `/dev` and one
/// passes the checks: `SELFBOX_DEV_TEMPLATE` (a directory, or `off`), else `dev` beside this
/// library (`lib_dir`, canonical).
pub fn dev_template(plan: &Plan, lib_dir: Option<&Path>) -> Result<Option<String>> {
    if !plan.ops.iter().any(|op| matches!(op, Op::Dev { .. })) {
        return Ok(None);
    }
    let dir = match crate::env::caller_var("SELFBOX_DEV_TEMPLATE").filter(|v| !v.is_empty()).as_deref() {
        Some(b"off") => return Ok(None),
        Some(v) if v.starts_with(b"/") => String::from_utf8_lossy(v).into_owned(),
        Some(v) => {
            return Err(Error::refused(
                Step::Mount,
                format!("SELFBOX_DEV_TEMPLATE={} is neither an absolute directory nor off", String::from_utf8_lossy(v)),
                "name a directory made by selfbox cache dev, or off",
            ));
        }
        None => match lib_dir.map(|d| d.join("dev")) {
            Some(d) if std::fs::symlink_metadata(&d).is_ok() => d.display().to_string(),
            _ => return Ok(None),
        },
    };
    match devtpl::check(Path::new(&dir), crate::seccomp::untrusted_dir) {
        Ok(()) => Ok(Some(dir)),
        Err(why) => {
            debug!("mount", "/dev template not used: {why}");
            Ok(None)
        }
    }
}

/// Makes `/` private, builds the new root (or keeps the host's) and applies every planned mount,
/// then the read-only flags. The old root stays reachable until PID 1 has mounted `/proc`.
/// `dev_template`: from `dev_template`.
pub fn build(plan: &Plan, dev_template: Option<&str>) -> Result<()> {
    // Every later mount must stay inside this namespace (mount_namespaces(7)).
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
        .map_err(|e| err("mount(/, MS_REC|MS_PRIVATE)".into(), e))?;
    // Hold every bind source now, while paths are the host's, refusing symlinks: the plan
    // resolved them, so one found now was put there since (a swapped path component).
    let sources = hold_sources(plan)?;
    // Held too, since a mount of the plan may hide its path when the host's root is kept.
    let template = match dev_template {
        Some(t) => Some(sys::open_path_no_symlinks(&c(t)).map_err(|e| err(format!("openat2({t}, O_PATH)"), e))?),
        None => None,
    };
    let old = match plan.root {
        Root::Host => "",
        Root::Tmpfs => {
            mount(Some("selfbox"), STAGING, Some("tmpfs"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some("mode=0755"))
                .map_err(|e| err(format!("mount(tmpfs, {STAGING})"), e))?;
            let put_old = format!("{STAGING}{OLD_ROOT}");
            nix::unistd::mkdir(put_old.as_str(), Mode::from_bits_truncate(0o700))
                .map_err(|e| err(format!("mkdir({put_old})"), e))?;
            nix::unistd::pivot_root(STAGING, put_old.as_str())
                .map_err(|e| err(format!("pivot_root({STAGING}, {put_old})"), e))?;
            // A cwd left on the old tree would reach the host through ".." (pivot_root(2)).
            nix::unistd::chdir("/").map_err(|e| err("chdir(/)".into(), e))?;
            OLD_ROOT
        }
    };
    let mut sources = sources.into_iter();
    for op in &plan.ops {
        match op {
            Op::Dev { dst } => dev(dst, old, template.as_ref())?,
            _ => apply(op, old, &mut sources)?,
        }
    }
    for a in &plan.attrs {
        let (set, clear) = if a.readonly { (sys::MOUNT_ATTR_RDONLY, 0) } else { (0, sys::MOUNT_ATTR_RDONLY) };
        sys::mount_setattr(&c(&a.path), a.recursive, set, clear).map_err(|e| {
            let what = if a.readonly { "MOUNT_ATTR_RDONLY" } else { "clear MOUNT_ATTR_RDONLY" };
            let call = format!("mount_setattr({}, {what}{})", a.path, if a.recursive { ", AT_RECURSIVE" } else { "" });
            let e2 = err(call, e);
            match e {
                nix::errno::Errno::ENOSYS => e2.hint("read-only binds need Linux 5.12 or later (mount_setattr)"),
                nix::errno::Errno::EPERM if !a.readonly => {
                    e2.hint("the source is read-only on the host and that flag is locked")
                }
                _ => e2,
            }
        })?;
    }
    debug!("mount", "{} operations, {} read-only settings", plan.ops.len(), plan.attrs.len());
    Ok(())
}

fn hold_sources(plan: &Plan) -> Result<Vec<OwnedFd>> {
    let mut held = Vec::new();
    for op in &plan.ops {
        if let Op::Bind { src, .. } = op {
            let fd = sys::open_path_no_symlinks(&c(src)).map_err(|e| {
                let e2 = err(format!("openat2({src}, RESOLVE_NO_SYMLINKS)"), e);
                match e {
                    nix::errno::Errno::ELOOP => {
                        e2.hint("the source path holds a symlink now; it changed since the policy was read")
                    }
                    nix::errno::Errno::ENOENT => e2.hint("the source vanished since the policy was read"),
                    nix::errno::Errno::ENOSYS => e2.hint("needs Linux 5.6 or later (openat2)"),
                    _ => e2,
                }
            })?;
            held.push(fd);
        }
    }
    Ok(held)
}

fn mkdir_all(path: &str) -> Result<()> {
    std::fs::create_dir_all(path).at(Step::Mount, || format!("mkdir({path})"))
}

fn bind(src: &str, dst: &str) -> Result<()> {
    mount(Some(src), dst, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>).map_err(|e| {
        let e2 = err(format!("bind {src} -> {dst}"), e);
        match e {
            nix::errno::Errno::ENOENT => e2.hint("source or mountpoint vanished since the policy was read"),
            nix::errno::Errno::EACCES => e2.hint("the sandbox user cannot reach the source"),
            _ => e2,
        }
    })
}

/// Applies one operation; a bind takes the next of the sources `hold_sources` opened.
fn apply(op: &Op, old: &str, sources: &mut dyn Iterator<Item = OwnedFd>) -> Result<()> {
    match op {
        Op::MkdirAll(p) => mkdir_all(p),
        Op::Touch(p) => {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(p)
                .at(Step::Mount, || format!("create({p})"))?;
            Ok(())
        }
        Op::Bind { src, dst } => {
            let fd = sources.next().ok_or_else(|| err(format!("bind {src} -> {dst}"), nix::errno::Errno::EBADF))?;
            bind(&format!("{old}/proc/self/fd/{}", fd.as_raw_fd()), dst)
        }
        Op::Tmpfs { dst, size, mode } => {
            let mut opts = String::new();
            if let Some(s) = size {
                opts.push_str(&format!("size={s}"));
            }
            let mode = mode.unwrap_or(0o1777);
            if !opts.is_empty() {
                opts.push(',');
            }
            opts.push_str(&format!("mode={mode:o}"));
            mount(
                Some("tmpfs"),
                dst.as_str(),
                Some("tmpfs"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                Some(opts.as_str()),
            )
            .map_err(|e| err(format!("mount(tmpfs, {dst}, {opts})"), e))
        }
        Op::Dev { dst } => dev(dst, old, None),
        Op::Symlink { link, dst } => {
            std::os::unix::fs::symlink(link, dst).at(Step::Mount, || format!("symlink({link}, {dst})"))
        }
        Op::Dir { dst, mode } => {
            match nix::unistd::mkdir(dst.as_str(), Mode::from_bits_truncate(*mode)) {
                Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
                Err(e) => return Err(err(format!("mkdir({dst}, {mode:o})"), e)),
            }
            // mkdir applies the umask; the policy's mode is meant literally. The directory is
            // opened without following a symlink and changed through that descriptor.
            let fd = open(
                dst.as_str(),
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| err(format!("open({dst}, O_DIRECTORY|O_NOFOLLOW)"), e))?;
            nix::sys::stat::fchmod(&fd, Mode::from_bits_truncate(*mode))
                .map_err(|e| err(format!("fchmod({dst}, {mode:o})"), e))
        }
        Op::File { dst, content, mode } => {
            use std::io::Write;
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            // A new file only: never through a symlink or into something already there.
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(*mode)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(dst)
                .at(Step::Mount, || format!("create({dst}, O_EXCL)"))?;
            f.write_all(content.as_bytes()).at(Step::Mount, || format!("write({dst})"))?;
            f.set_permissions(std::fs::Permissions::from_mode(*mode))
                .at(Step::Mount, || format!("fchmod({dst}, {mode:o})"))
        }
    }
}

/// A minimal /dev: the prepared template bound (`template`, held), or else a tmpfs holding the
/// host's harmless nodes (bound, since mknod is refused in a user namespace) and the usual
/// links; either way a private devpts and a shm tmpfs.
fn dev(dst: &str, old: &str, template: Option<&OwnedFd>) -> Result<()> {
    let through_fd = |fd: &OwnedFd| format!("{old}/proc/self/fd/{}", fd.as_raw_fd());
    let console = terminal_node(old);
    if let Some(t) = template {
        // The template holds no console to bind the caller's terminal onto: built then.
        if console.is_none() {
            // Not recursive: nothing mounted below the template on the host comes along.
            mount(Some(through_fd(t).as_str()), dst, None::<&str>, MsFlags::MS_BIND, None::<&str>)
                .map_err(|e| err(format!("bind /dev template -> {dst}"), e))?;
            sys::mount_setattr(&c(dst), false, sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NOEXEC, 0)
                .map_err(|e| err(format!("mount_setattr({dst}, MOUNT_ATTR_NOSUID|MOUNT_ATTR_NOEXEC)"), e))?;
            debug!("mount", "{dst}: the prepared template");
            return dev_mounts(dst);
        }
        debug!("mount", "{dst}: built, to offer the terminal as console");
    }
    // With the host's root kept, the tmpfs hides the host nodes: hold them first. Under a new
    // root they stay reachable through the old one, by name.
    let mut held: Vec<(&str, Option<OwnedFd>)> = Vec::new();
    for (n, _, _) in devtpl::NODES {
        let p = format!("{old}/dev/{n}");
        let fd = match old {
            "" => Some(
                open(p.as_str(), OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
                    .map_err(|e| err(format!("open({p})"), e))?,
            ),
            _ => None,
        };
        held.push((n, fd));
    }
    mount(Some("tmpfs"), dst, Some("tmpfs"), MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC, Some("mode=0755"))
        .map_err(|e| err(format!("mount(tmpfs, {dst})"), e))?;
    for (n, fd) in &held {
        let node = format!("{dst}/{n}");
        apply(&Op::Touch(node.clone()), "", &mut std::iter::empty())?;
        bind(&fd.as_ref().map_or_else(|| format!("{old}/dev/{n}"), through_fd), &node)?;
    }
    if let Some(fd) = &console {
        // The inherited terminal, so that ttyname() finds it by scanning /dev (a fresh devpts
        // does not hold it).
        let node = format!("{dst}/console");
        apply(&Op::Touch(node.clone()), "", &mut std::iter::empty())?;
        bind(&through_fd(fd), &node)?;
    }
    for d in devtpl::DIRS {
        mkdir_all(&format!("{dst}/{d}"))?;
    }
    for (name, link) in devtpl::LINKS {
        apply(&Op::Symlink { link: (*link).to_owned(), dst: format!("{dst}/{name}") }, "", &mut std::iter::empty())?;
    }
    dev_mounts(dst)
}

/// The filesystems on a minimal /dev's mountpoints.
fn dev_mounts(dst: &str) -> Result<()> {
    let pts = format!("{dst}/pts");
    // No gid= option: group 5 is not mapped inside a user namespace.
    mount(
        Some("devpts"),
        pts.as_str(),
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=620"),
    )
    .map_err(|e| err(format!("mount(devpts, {pts})"), e))?;
    let shm = format!("{dst}/shm");
    mount(Some("tmpfs"), shm.as_str(), Some("tmpfs"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some("mode=1777"))
        .map_err(|e| err(format!("mount(tmpfs, {shm})"), e))
}

/// The inherited terminal's device node, opened by its name through the old root: a
/// descriptor inherited from the caller belongs to the caller's mount namespace, and the kernel
/// refuses to bind it here (EINVAL). Only for ttyname(); a terminal that cannot be found this
/// way is simply not offered as /dev/console.
fn terminal_node(old: &str) -> Option<OwnedFd> {
    let fd = (0..3).find(|fd| nix::unistd::isatty(sys::borrow_fd(*fd)).unwrap_or(false))?;
    let name = std::fs::read_link(format!("{old}/proc/self/fd/{fd}")).ok()?;
    let name = name.to_str().filter(|n| n.starts_with("/dev/"))?;
    let p = format!("{old}{name}");
    match open(p.as_str(), OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty()) {
        Ok(f) => Some(f),
        Err(e) => {
            debug!("mount", "terminal {name} not offered as /dev/console: {e}");
            None
        }
    }
}

/// In PID 1 of the new PID namespace: mounts each procfs (only possible from inside it, and
/// only while the host's full /proc is still visible), then detaches the old root and makes the
/// root tmpfs read-only.
pub fn finish_in_pidns(plan: &Plan, program_is_root: bool) -> Result<()> {
    let extra: &[&str] = if program_is_root { PROC_READONLY_FOR_ROOT } else { &[] };
    for target in &plan.procs {
        mount(
            Some("proc"),
            target.as_str(),
            Some("proc"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None::<&str>,
        )
        .map_err(|e| {
            let e2 = Error::call(Step::Proc, format!("mount(proc, {target})"), e);
            if e == nix::errno::Errno::EPERM {
                e2.hint("this host's /proc has masked or read-only parts (a container?); the kernel refuses a new procfs in a user namespace then")
            } else {
                e2
            }
        })?;
        for sub in PROC_READONLY.iter().chain(extra) {
            let p = format!("{target}/{sub}");
            if !Path::new(&p).exists() {
                continue;
            }
            mount(Some(p.as_str()), p.as_str(), None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
                .map_err(|e| Error::call(Step::Proc, format!("bind {p} -> {p}"), e))?;
            sys::mount_setattr(&c(&p), true, sys::MOUNT_ATTR_RDONLY, 0)
                .map_err(|e| Error::call(Step::Proc, format!("mount_setattr({p}, MOUNT_ATTR_RDONLY)"), e))?;
        }
    }
    debug!("proc", "{} procfs mounted", plan.procs.len());
    Ok(())
}

/// The host's tree is still attached under the new root after `/proc`: with a tmpfs root it has
/// to go, and the root becomes read-only. Init does it right after fork #2: the detach waits for
/// an RCU grace period (0.07-0.25 ms here), which then overlaps the program's own setup; the
/// program waits for it to end before its filter and `main`.
pub fn detach_old_root(plan: &Plan) -> Option<impl FnOnce() -> Result<()> + use<>> {
    (plan.root == Root::Tmpfs).then_some(|| {
        umount2(OLD_ROOT, MntFlags::MNT_DETACH).map_err(|e| err(format!("umount2({OLD_ROOT}, MNT_DETACH)"), e))?;
        std::fs::remove_dir(OLD_ROOT).at(Step::Mount, || format!("rmdir({OLD_ROOT})"))?;
        sys::mount_setattr(c"/", false, sys::MOUNT_ATTR_RDONLY, 0)
            .map_err(|e| err("mount_setattr(/, MOUNT_ATTR_RDONLY)".into(), e))?;
        debug!("mount", "old root detached, / read-only");
        Ok(())
    })
}
