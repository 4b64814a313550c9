//! `selfbox explain`: what a program under a policy can and cannot reach, and an overall
//! exposure score in the spirit of `systemd-analyze security` (0 = nothing exposed, 10 = fully).

use crate::policy::syscalls::{expand_group, native_nr};
use crate::policy::{self, Action, CmpOp, MountKind, Policy, Root, RunAs, Seccomp, values};
use crate::{Loaded, Refusal, load, parse_args};

const HELP: &str = "\
Usage: selfbox explain [--program PROGRAM] POLICY

Prints what a program under POLICY can reach (files, processes, network, IPC, devices, syscalls,
limits), one check per line with the exposure it adds, and an overall exposure score from 0.0
(nothing exposed) to 10.0 (no sandbox), for the caller running explain: as real root the
program runs as the policy's run_as, otherwise as the caller. POLICY is a file when it holds a
slash (./app.json), inline JSON when it starts with {, and otherwise the name of a shipped
policy (default, strict, ...). Variables such as ${EXE_DIR} are resolved for PROGRAM (default:
/usr/bin/true), found as `selfbox run` finds it (a name without a slash is looked up in PATH).
Exit 125 if the policy is invalid.";

struct Check {
    area: &'static str,
    what: String,
    ok: bool,
    weight: u32,
}

pub fn main(args: &[String]) -> Result<(), Refusal> {
    let a = parse_args(args, &["--program"], false)?;
    if a.help {
        crate::print_out(HELP);
        return Ok(());
    }
    let [policy_arg] = a.positional.as_slice() else {
        return Err(Refusal::usage("explain takes one POLICY; see selfbox explain --help".into()));
    };
    let program = crate::program_arg("explain", &a)?;
    let loaded = load(policy_arg, &program)?;
    crate::print_out(&render(&loaded));
    Ok(())
}

/// What the filter does with `name` called with `arg` (index, value), if any is given.
fn decides(s: &Seccomp, name: &str, arg: Option<(u32, u64)>) -> Action {
    let Some(nr) = native_nr(name) else { return s.default_action };
    let matches = |c: &crate::policy::ArgCmp| match (arg, c.op) {
        (Some((i, v)), CmpOp::Eq) => i == c.index && v == c.value,
        (Some((i, v)), CmpOp::MaskedEq(m)) => i == c.index && v & m == c.value & m,
        _ => false,
    };
    if let Some(e) = s.exceptions.iter().find(|e| e.nr == nr) {
        return e.cases.iter().find(|(c, _)| matches(c)).map_or(e.base, |(_, a)| *a);
    }
    let mut conditional = s.rules.iter().filter(|r| r.nr == nr && !r.args.is_empty());
    if let Some(r) = conditional.find(|r| r.args.iter().all(matches)) {
        return r.action;
    }
    s.rules.iter().find(|r| r.nr == nr && r.args.is_empty()).map_or(s.default_action, |r| r.action)
}

fn denied(s: Option<&Seccomp>, name: &str, arg: Option<(u32, u64)>) -> bool {
    s.is_some_and(|s| !matches!(decides(s, name, arg), Action::Allow | Action::Log))
}

/// Who the program is on the host, and whether that keeps it from being root (userns.rs:
/// real root becomes run_as, `null` keeps root; any other caller stays itself).
fn identity(p: &Policy, real_root: bool) -> (String, bool) {
    if !real_root {
        let uid = nix::unistd::getuid().as_raw();
        return (
            format!("started as uid {uid}, not real root: the program runs as that user (run_as applies to root only)"),
            true,
        );
    }
    match &p.run_as {
        None => ("started as root, the program keeps root (\"run_as\": null)".into(), false),
        Some(RunAs::Ids { uid: 0, .. }) => ("started as root, the program keeps root (run_as is uid 0)".into(), false),
        Some(RunAs::Ids { uid, gid }) => {
            let name = policy::passwd_by_uid(*uid).map_or(String::new(), |(n, _)| format!(" ({n})"));
            (format!("started as root, the program runs as uid {uid}{name} gid {gid}, not root (run_as)"), true)
        }
        // Resolved to ids whenever the caller is real root; kept for completeness.
        Some(RunAs::Name(n)) => (format!("started as root, the program runs as {n}, not root (run_as)"), n != "root"),
    }
}

fn checks(p: &Policy, real_root: bool) -> Vec<Check> {
    let has = |f: i32| p.has(f);
    let mut c = Vec::new();
    let mut add = |area, what: String, ok, weight| c.push(Check { area, what, ok, weight });
    let rw_binds: Vec<String> = p
        .mounts
        .iter()
        .filter_map(|m| match &m.kind {
            MountKind::Bind { host: Some(h), readonly: false, .. } if h.symlink.is_none() => {
                Some(format!("{} (from {})", m.target, h.path))
            }
            _ => None,
        })
        .collect();
    let home = std::env::var("HOME").unwrap_or_default();
    let home_visible = p.root == Root::Host
        || p.mounts.iter().any(|m| match &m.kind {
            MountKind::Bind { host: Some(h), .. } => {
                !home.is_empty() && (home.starts_with(&h.path) || h.path.starts_with(&home))
            }
            _ => false,
        });
    add("filesystem", "starts from an empty root holding only the policy's mounts".into(), p.root == Root::Tmpfs, 10);
    let host_tree = p.root == Root::Host;
    add(
        "filesystem",
        if host_tree {
            "the host's tree is writable wherever the user can write (root: host)".into()
        } else if rw_binds.is_empty() {
            "no host directory is writable".into()
        } else {
            format!("host directories writable: {}", rw_binds.join(", "))
        },
        rw_binds.is_empty() && !host_tree,
        8,
    );
    add("filesystem", format!("the caller's home ({home}) is invisible"), !home_visible, 6);
    add(
        "devices",
        "no host device beyond null, zero, full, random, urandom, tty".into(),
        !p.mounts.iter().any(|m| matches!(&m.kind, MountKind::Bind { host: Some(h), .. } if h.path == "/dev" || h.path.starts_with("/dev/"))) && p.root == Root::Tmpfs,
        5,
    );
    add("processes", "host processes are invisible (PID namespace)".into(), has(libc::CLONE_NEWPID), 6);
    add("processes", "inherited descriptors above 2 are closed".into(), p.close_fds != crate::policy::CloseFds::No, 3);
    add("identity", "a user namespace: no privilege over the host".into(), has(libc::CLONE_NEWUSER), 6);
    let (who, not_root) = identity(p, real_root);
    add("identity", who, not_root, 8);
    add(
        "identity",
        if p.capabilities.is_empty() {
            "no capabilities".into()
        } else {
            format!(
                "capabilities kept: {}",
                p.capabilities.iter().map(|c| values::capability_name(*c)).collect::<Vec<_>>().join(", ")
            )
        },
        p.capabilities.is_empty(),
        8,
    );
    add("identity", "no_new_privs: setuid programs cannot raise privileges".into(), p.no_new_privs, 5);
    add("network", "no network but loopback".into(), has(libc::CLONE_NEWNET), 7);
    add("ipc", "host System V IPC and POSIX message queues are invisible".into(), has(libc::CLONE_NEWIPC), 3);
    add("ipc", "the host's hostname is hidden and cannot be changed".into(), has(libc::CLONE_NEWUTS), 1);
    add("ipc", "the host's cgroup tree is hidden (cgroup namespace)".into(), has(libc::CLONE_NEWCGROUP), 1);
    let s = p.seccomp.as_ref();
    add("syscalls", "a seccomp filter is installed".into(), s.is_some(), 6);
    add(
        "syscalls",
        "allow list: unknown syscalls are refused".into(),
        s.is_some_and(|s| !matches!(s.default_action, Action::Allow | Action::Log)),
        4,
    );
    let tiocsti = values::CONSTANTS.iter().find(|(n, _)| *n == "TIOCSTI").map_or(0, |(_, v)| *v);
    let newuser = libc::CLONE_NEWUSER as u64;
    let mut mount_calls = Vec::new();
    expand_group("@mount", &mut mount_calls);
    add(
        "syscalls",
        "the filesystem view cannot be changed (every @mount call is refused)".into(),
        !mount_calls.is_empty() && mount_calls.iter().all(|(name, _)| denied(s, name, None)),
        3,
    );
    for (what, name, arg, w) in [
        ("ptrace is refused", "ptrace", None, 2),
        ("bpf is refused", "bpf", None, 2),
        ("perf_event_open is refused", "perf_event_open", None, 1),
        ("kernel keyrings are refused (keyctl)", "keyctl", None, 1),
        ("new user namespaces are refused (unshare)", "unshare", Some((0, newuser)), 3),
        ("new user namespaces are refused (clone)", "clone", Some((0, newuser)), 2),
        ("io_uring is refused", "io_uring_setup", None, 2),
        ("typing into the terminal (TIOCSTI) is refused", "ioctl", Some((1, tiocsti)), 3),
        ("kernel modules cannot be loaded", "init_module", None, 1),
    ] {
        add("syscalls", what.into(), denied(s, name, arg) || (p.new_session && name == "ioctl"), w);
    }
    let has_rlimit = |n: &str| p.rlimits.iter().any(|r| r.name == n && r.hard != libc::RLIM_INFINITY);
    add(
        "limits",
        "memory is limited (cgroup memory_max or rlimit as)".into(),
        p.cgroup.memory_max.is_some() || has_rlimit("as"),
        2,
    );
    add(
        "limits",
        "process count is limited (cgroup pids_max or rlimit nproc)".into(),
        p.cgroup.pids_max.is_some() || has_rlimit("nproc"),
        2,
    );
    add(
        "limits",
        "CPU is limited (cgroup cpu_max or rlimit cpu)".into(),
        p.cgroup.cpu_max.is_some() || has_rlimit("cpu"),
        1,
    );
    add("limits", "run time is limited (wall_time)".into(), p.wall_time.is_some(), 1);
    c
}

pub fn score(p: &Policy, real_root: bool) -> f64 {
    let c = checks(p, real_root);
    let total: u32 = c.iter().map(|c| c.weight).sum();
    let exposed: u32 = c.iter().filter(|c| !c.ok).map(|c| c.weight).sum();
    (f64::from(exposed) * 100.0 / f64::from(total)).round() / 10.0
}

fn rating(s: f64) -> &'static str {
    match s {
        s if s < 2.0 => "OK",
        s if s < 5.0 => "MEDIUM",
        s if s < 8.0 => "EXPOSED",
        _ => "UNSAFE",
    }
}

fn render(l: &Loaded) -> String {
    let p = &l.policy;
    let mut out = String::new();
    out.push_str(&format!("Policy: {}\n", p.files.join(" <- ")));
    out.push_str("\nWhat the program sees:\n");
    // The preload pivots only into a tmpfs root, which needs a mount namespace (mount/mod.rs).
    let root = match (p.root, p.has(libc::CLONE_NEWNS)) {
        (Root::Tmpfs, true) => "a fresh tmpfs, read-only (pivot_root into it; the host's tree is detached)",
        (_, true) => "the host's tree, with the policy's mounts on top in a private mount namespace",
        (_, false) => "the host's tree and the host's mounts (no mount namespace)",
    };
    out.push_str(&format!("  root       {root}\n"));
    for m in &p.mounts {
        let line = match &m.kind {
            MountKind::Bind { host: Some(h), readonly, .. } => match &h.symlink {
                Some(link) => format!("  symlink    {} -> {link}", m.target),
                None => format!("  {}         {} <- {}", if *readonly { "ro" } else { "rw" }, m.target, h.path),
            },
            MountKind::Bind { host: None, .. } => continue,
            MountKind::Symlink { link } => format!("  symlink    {} -> {link}", m.target),
            MountKind::Tmpfs { size, .. } => format!(
                "  tmpfs      {}{}",
                m.target,
                size.map_or(String::new(), |s| format!(" (at most {} MiB)", s >> 20))
            ),
            MountKind::Proc => format!("  proc       {} (this sandbox's processes; /proc/sys read-only)", m.target),
            MountKind::Dev => {
                format!("  dev        {} (null zero full random urandom tty, private pts and shm)", m.target)
            }
            MountKind::Dir { mode } => format!("  dir        {} ({mode:04o})", m.target),
            MountKind::File { mode, .. } => format!("  file       {} ({mode:04o})", m.target),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(&format!(
        "  network    {}\n",
        if p.has(libc::CLONE_NEWNET) { "none (lo only)" } else { "the host's" }
    ));
    if let Some(s) = &p.seccomp {
        let n = s.rules.len() + s.exceptions.len();
        let kind = if matches!(s.default_action, Action::Allow) { "deny list" } else { "allow list" };
        let insns = l.filter.as_ref().map_or(0, |f| f.bpf.len() / 8);
        out.push_str(&format!(
            "  syscalls   {kind}: {n} rules, default {}, {insns} BPF instructions\n",
            s.default_action.describe()
        ));
    } else {
        out.push_str("  syscalls   no filter\n");
    }
    out.push_str("\nChecks (exposure each adds when not met):\n");
    let c = checks(p, l.real_root);
    let total: u32 = c.iter().map(|c| c.weight).sum();
    for ch in &c {
        let mark = if ch.ok { "  ok " } else { "  NO " };
        let exp =
            if ch.ok { String::new() } else { format!("  +{:.1}", f64::from(ch.weight) * 10.0 / f64::from(total)) };
        out.push_str(&format!("{mark} {:<11} {}{exp}\n", ch.area, ch.what));
    }
    let s = score(p, l.real_root);
    out.push_str(&format!("\nOverall exposure: {s:.1} / 10  {}\n", rating(s)));
    out
}
