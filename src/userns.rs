//! Steps 6 and 7: who builds the sandbox, and the one `unshare` with its id maps.
//!
//! Rootless, the caller creates the user namespace together with all the others (step 7) and
//! builds the sandbox with the capabilities it has inside it.
//!
//! As real root, the sandbox is built with root's own privileges and without a user namespace;
//! the program then becomes `run_as` and only after that creates its user namespace (step 11,
//! through `enter_late`). Root inside is therefore never root outside, the mount, network and
//! other namespaces are not owned by any namespace the program holds capabilities in, and the
//! supervisor stays root so that it can remove the sandbox's cgroup at the end.

use std::os::fd::{AsFd, OwnedFd};

use nix::fcntl::{OFlag, openat};
use nix::sched::{CloneFlags, unshare};
use nix::sys::stat::Mode;
use nix::unistd::{Gid, Uid, getegid, geteuid, setgroups, setresgid, setresuid};

use crate::error::{Context, Error, Result, Step};
use crate::log::debug;
use crate::policy::{IdMap, NAMESPACES, Policy, RunAs};
use crate::sys;

/// Step 6: how identity is handled for this run.
pub struct Identity {
    pub real_root: bool,
    /// Real root becomes these ids in step 11 (`None`: `run_as` is null, root is kept).
    pub run_as: Option<(u32, u32)>,
    /// The user namespace is created by the program in step 11, after `run_as`.
    pub late_userns: bool,
    /// The host's /proc, to write the late namespace's maps whatever /proc the sandbox has.
    pub proc: Option<OwnedFd>,
}

pub fn identity(policy: &Policy, real_root: bool) -> Result<Identity> {
    // Root without CAP_SYS_ADMIN (a container's, or capsh --drop) cannot mount, and the
    // rootless path would leave the program root outside: neither is acceptable.
    const CAP_SYS_ADMIN: u32 = 21;
    if real_root && sys::capget().is_ok_and(|(effective, _, _)| effective & (1 << CAP_SYS_ADMIN) == 0) {
        return Err(Error::refused(
            Step::Identity,
            "uid 0 without CAP_SYS_ADMIN",
            "selfbox builds a root caller's sandbox with root's privileges and will not leave the program root outside; run it as another user, or with CAP_SYS_ADMIN",
        ));
    }
    let run_as = match (&policy.run_as, real_root) {
        (_, false) | (None, true) => None,
        (Some(RunAs::Ids { uid, gid }), true) => Some((*uid, *gid)),
        (Some(RunAs::Name(n)), true) => {
            return Err(Error::refused(Step::Identity, format!("run_as \"{n}\" was not resolved"), "internal error"));
        }
    };
    let late_userns = real_root && policy.has(libc::CLONE_NEWUSER);
    let proc = if late_userns { Some(sys::open_proc().at(Step::Identity, || "open(/proc)".into())?) } else { None };
    if real_root {
        match run_as {
            Some((u, g)) => debug!("identity", "real root: building as root, the program runs as {u}:{g}"),
            None => debug!("identity", "real root and run_as null: the program keeps root"),
        }
    }
    Ok(Identity { real_root, run_as, late_userns, proc })
}

/// The uid the program runs as, seen from outside every namespace selfbox makes: what decides
/// which files it could write there.
pub fn program_uid(policy: &Policy, real_root: bool) -> u32 {
    match (&policy.run_as, real_root) {
        (Some(RunAs::Ids { uid, .. }), true) => *uid,
        (_, true) => 0,
        (_, false) => geteuid().as_raw(),
    }
}

/// Becomes `uid`/`gid` for good: supplementary groups first, then gid, then uid (setresuid
/// last, since it drops the capability to change the others).
pub fn become_user(uid: u32, gid: u32, step: Step) -> Result<()> {
    setgroups(&[]).at(step, || "setgroups([])".into())?;
    let g = Gid::from_raw(gid);
    setresgid(g, g, g).at(step, || format!("setresgid({gid})"))?;
    let u = Uid::from_raw(uid);
    setresuid(u, u, u).at(step, || format!("setresuid({uid})"))?;
    Ok(())
}

fn flag_names(flags: i32) -> String {
    NAMESPACES
        .iter()
        .filter(|(_, f)| flags & f != 0)
        .map(|(n, _)| match *n {
            "mount" => "CLONE_NEWNS".to_owned(),
            other => format!("CLONE_NEW{}", other.to_ascii_uppercase()),
        })
        .collect::<Vec<_>>()
        .join("|")
}

fn read_sysctl(name: &str) -> Option<String> {
    std::fs::read_to_string(format!("/proc/sys/{}", name.replace('.', "/"))).ok().map(|s| s.trim().to_owned())
}

/// Why the kernel refused a user namespace, from the sysctls that control it.
fn userns_hint(errno: nix::errno::Errno) -> String {
    if read_sysctl("kernel.unprivileged_userns_clone").as_deref() == Some("0") {
        return "unprivileged user namespaces are disabled: sysctl -w kernel.unprivileged_userns_clone=1".into();
    }
    if read_sysctl("user.max_user_namespaces").as_deref() == Some("0") {
        return "user namespaces are disabled: sysctl -w user.max_user_namespaces=15000".into();
    }
    if read_sysctl("kernel.apparmor_restrict_unprivileged_userns").as_deref() == Some("1") {
        return "AppArmor restricts unprivileged user namespaces: sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or give the program an AppArmor profile that allows \"userns\"".into();
    }
    match errno {
        nix::errno::Errno::ENOSPC => "the user.max_user_namespaces (or another namespace) limit is reached".into(),
        nix::errno::Errno::EINVAL => {
            "the process has more than one thread, or the kernel lacks one of these namespaces".into()
        }
        nix::errno::Errno::EPERM => {
            "user namespaces are not allowed here (a container's seccomp profile, or a kernel sysctl)".into()
        }
        _ => "the kernel refused the namespaces".into(),
    }
}

/// Step 7. One `unshare()` with every namespace flag (as real root, all but the user
/// namespace), then `setgroups deny` and the one-line uid and gid maps a process may write for
/// itself (user_namespaces(7)).
pub fn unshare_all(policy: &Policy, id: &Identity) -> Result<()> {
    let mut flags = policy.namespaces;
    if id.late_userns {
        flags &= !libc::CLONE_NEWUSER;
    }
    if flags == 0 {
        return Ok(());
    }
    let outer = (geteuid().as_raw(), getegid().as_raw());
    unshare(CloneFlags::from_bits_retain(flags)).map_err(|e| {
        let err = Error::call(Step::Unshare, format!("unshare({})", flag_names(flags)), e);
        if flags & libc::CLONE_NEWUSER != 0 { err.hint(userns_hint(e)) } else { err }
    })?;
    if flags & libc::CLONE_NEWUSER != 0 {
        write_maps(policy, outer, None)?;
    }
    debug!("unshare", "{}", flag_names(flags));
    Ok(())
}

/// Step 11, as real root with a user namespace: the program, already `run_as`, creates its
/// user namespace and maps itself.
pub fn enter_late(policy: &Policy, id: &Identity) -> Result<()> {
    let outer = (geteuid().as_raw(), getegid().as_raw());
    unshare(CloneFlags::CLONE_NEWUSER)
        .map_err(|e| Error::call(Step::Privs, "unshare(CLONE_NEWUSER)", e).hint(userns_hint(e)))?;
    write_maps(policy, outer, id.proc.as_ref())?;
    debug!("privileges", "user namespace entered as {}:{}", outer.0, outer.1);
    Ok(())
}

fn write_maps(policy: &Policy, (uid, gid): (u32, u32), proc: Option<&OwnedFd>) -> Result<()> {
    let inner = |m: IdMap, outer: u32| match m {
        IdMap::Same => outer,
        IdMap::Id(i) => i,
    };
    write_proc(proc, "setgroups", "deny")?;
    write_proc(proc, "uid_map", &format!("{} {uid} 1", inner(policy.uid, uid)))?;
    write_proc(proc, "gid_map", &format!("{} {gid} 1", inner(policy.gid, gid)))?;
    Ok(())
}

/// Writes /proc/self/NAME, through `proc` when given.
fn write_proc(proc: Option<&OwnedFd>, name: &str, line: &str) -> Result<()> {
    let path = format!("self/{name}");
    let step = Step::Unshare;
    let fd = match proc {
        Some(p) => openat(p.as_fd(), path.as_str(), OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty()),
        None => nix::fcntl::open(format!("/proc/{path}").as_str(), OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty()),
    }
    .at(step, || format!("open(/proc/{path})"))?;
    sys::write_all(std::os::fd::AsRawFd::as_raw_fd(&fd), line.as_bytes()).map_err(|e| {
        Error::call(step, format!("write(/proc/{path}, \"{line}\")"), e)
            .hint("a process may map only its own uid and gid, once")
    })
}
