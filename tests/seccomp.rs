//! The syscall filter, checked with real syscalls: what the default policy refuses and with
//! which errno, what it still allows (threads, subprocesses, terminal reads, the harmless
//! `personality` values), that other ABIs are killed, that unknown names fail closed, that later
//! rules override earlier ones and argument exceptions work, the `log`, `kill` and `kill_thread`
//! actions, what the strict allow list refuses, and the debug timings. Each check has a control
//! run (bare, or another policy) that shows it could fail. Every test runs as root and as uid
//! 65534.
//!
//! Probes: `sc_try NAME...` performs each named call in a child process and prints
//! `NAME RET ERRNO` (ERRNO is `OK` on success); `sc_abi int80|x32`; `sc_threads [N]`;
//! `sc_thread_kill`. They live in the program's own directory, which the default policy binds.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;

/// Bound on every single run (the harness kills the run and fails the test after it).
const T: Duration = Duration::from_secs(30);

/// Calls the default policy refuses, each with the errno it documents.
fn default_denied() -> Vec<(&'static str, &'static str)> {
    let mut v = vec![
        ("mount", "EPERM"),
        ("umount2", "EPERM"),
        ("pivot_root", "EPERM"),
        ("chroot", "EPERM"),
        ("init_module", "EPERM"),
        ("finit_module", "EPERM"),
        ("reboot", "EPERM"),
        ("swapon", "EPERM"),
        ("swapoff", "EPERM"),
        ("keyctl", "EPERM"),
        ("add_key", "EPERM"),
        ("request_key", "EPERM"),
        ("clock_settime", "EPERM"),
        ("adjtimex", "EPERM"),
        ("bpf", "EPERM"),
        ("userfaultfd", "EPERM"),
        ("perf_event_open", "EPERM"),
        ("ptrace", "EPERM"),
        ("process_vm_readv", "EPERM"),
        ("process_vm_writev", "EPERM"),
        ("pidfd_getfd", "EPERM"),
        ("acct", "EPERM"),
        ("quotactl", "EPERM"),
        ("open_by_handle_at", "EPERM"),
        ("setns", "EPERM"),
        ("unshare_user", "EPERM"),
        ("unshare_all", "EPERM"),
        ("clone_user", "EPERM"),
        ("clone3", "ENOSYS"),
        ("io_uring_setup", "ENOSYS"),
        ("personality_norandom", "EPERM"),
        ("personality_norandom_hi", "EPERM"),
        ("personality_exec", "EPERM"),
        ("syslog", "EPERM"),
        ("uselib", "EPERM"),
        ("sysfs", "EPERM"),
        ("ustat", "EPERM"),
        ("lookup_dcookie", "EPERM"),
    ];
    if cfg!(target_arch = "x86_64") {
        v.extend([("iopl", "EPERM"), ("ioperm", "EPERM")]);
    }
    v
}

/// Calls the default policy lets through (they succeed bare as well).
fn default_allowed() -> Vec<&'static str> {
    let mut v = vec![
        "personality_linux",
        "personality_linux32",
        "personality_query",
        "clone_plain",
        "getpriority_process",
        "kcmp",
        "mincore",
        "uname",
    ];
    if cfg!(target_arch = "x86_64") {
        v.extend(["modify_ldt", "pkey_alloc"]);
    }
    v
}

/// Calls the kernel itself refuses with EPERM to an unprivileged caller (capability checks
/// that come before any argument check, or `kernel.dmesg_restrict`): as uid 65534 the bare
/// control cannot tell the filter's EPERM from the kernel's; root's control does, and for the
/// first two a user, mount and pid namespace of the caller's own does too.
const KERNEL_EPERM_UNPRIVILEGED: &[&str] = &["pivot_root", "reboot", "swapoff", "acct", "syslog"];
const NAMESPACE_CAPABLE: &[&str] = &["pivot_root", "reboot"];

/// A policy that extends `base` (a path) with seccomp `rules` (JSON array items), inline.
fn extending(base: &str, rules: &str) -> String {
    format!(r#"{{"selfbox": 1, "extends": "{base}", "seccomp": {{"rules": [{rules}]}}}}"#)
}

fn strict_policy() -> String {
    repo().join("policy/strict.json").display().to_string()
}

/// One `sc_try` result: the return value (or `killed`/`unknown`) and the errno name (`OK` on
/// success, the signal number when killed).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Res {
    ret: String,
    err: String,
}

/// Runs `sc_try` with `names` under `run` and returns each name's result (every name must
/// have one; the probe itself must exit 0).
fn try_calls(run: Run, names: &[&str]) -> BTreeMap<String, Res> {
    let exe = probe("sc_try");
    let mut argv = vec![exe.to_str().unwrap()];
    argv.extend_from_slice(names);
    let out = run.timeout(T).run(&argv);
    assert_eq!(out.status(), 0, "sc_try {names:?}: {out:#?}");
    let mut m = BTreeMap::new();
    for l in out.stdout.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        assert_eq!(f.len(), 3, "sc_try line {l:?}: {out:#?}");
        m.insert(f[0].to_owned(), Res { ret: f[1].to_owned(), err: f[2].to_owned() });
    }
    for n in names {
        let r = m.get(*n).unwrap_or_else(|| panic!("sc_try said nothing about {n}: {out:#?}"));
        assert_ne!(r.ret, "unknown", "sc_try does not know {n}");
    }
    m
}

fn errno_of<'a>(m: &'a BTreeMap<String, Res>, name: &str) -> &'a str {
    &m[name].err
}

/// Blocked calls fail with the documented errno under the default policy; bare, the same calls
/// with the same arguments succeed or fail with another errno (the arguments are chosen so that
/// the kernel rejects them before, or without, a permission check).
#[test]
fn default_policy_refuses_each_listed_syscall_with_its_errno() {
    let denied = default_denied();
    let allowed = default_allowed();
    let mut names: Vec<&str> = denied.iter().map(|(n, _)| *n).collect();
    names.extend(&allowed);
    for who in identities() {
        let got = try_calls(sandboxed(who, &default_policy()), &names);
        let ctl = try_calls(bare(who), &names);
        for (name, errno) in &denied {
            assert_eq!(errno_of(&got, name), *errno, "{name} as {who:?}: {:?}", got[*name]);
            assert_ne!(ctl[*name].ret, "killed", "control {name} as {who:?}");
            if who == Who::User && KERNEL_EPERM_UNPRIVILEGED.contains(name) {
                assert_eq!(errno_of(&ctl, name), "EPERM", "control {name} as {who:?}: {:?}", ctl[*name]);
            } else {
                assert_ne!(
                    errno_of(&ctl, name),
                    *errno,
                    "control {name} as {who:?}: the kernel alone gives the filter's answer"
                );
            }
        }
        for name in &allowed {
            assert_eq!(errno_of(&got, name), "OK", "{name} as {who:?}: {:?}", got[*name]);
            assert_eq!(errno_of(&ctl, name), "OK", "control {name} as {who:?}: {:?}", ctl[*name]);
        }
        if who == Who::User {
            // With a user, mount and pid namespace of its own the kernel's permission checks
            // for these pass, and it answers about the arguments.
            let wrapped = bare(who).wrap(&["unshare", "--user", "--map-root-user", "--mount", "--pid", "--fork"]);
            let ns = try_calls(wrapped, NAMESPACE_CAPABLE);
            for name in NAMESPACE_CAPABLE {
                assert_ne!(errno_of(&ns, name), "EPERM", "control {name} in own namespaces: {:?}", ns[*name]);
            }
        }
    }
}

/// Drives a program on a pseudo-terminal (outside the sandbox): the program gets the slave as
/// stdin, stdout, stderr and controlling terminal; after it prints READY, a line is written
/// into the master. Prints the program's output (CRLF as LF) and `EXIT n`.
const PTY_DRIVER: &str = r#"
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    try:
        os.execv(sys.argv[1], sys.argv[1:])
    finally:
        os._exit(127)
buf = b""
deadline = time.monotonic() + 20
def pump(until=None):
    global buf
    while until is None or until not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            buf += b"\nDRIVER TIMEOUT\n"
            os.kill(pid, 9)
            return
        r, _, _ = select.select([fd], [], [], min(left, 0.5))
        if not r:
            continue
        try:
            d = os.read(fd, 4096)
        except OSError:
            d = b""
        if not d:
            return
        buf += d
pump(b"READY")
os.write(fd, b"hello\n")
pump()
_, st = os.waitpid(pid, 0)
sys.stdout.write(buf.decode(errors="replace").replace("\r\n", "\n"))
sys.stdout.write("EXIT %d\n" % os.waitstatus_to_exitcode(st))
"#;

/// Runs on the terminal: echo off, TIOCSTI (plain, and with garbage in the upper half of the
/// request, which the kernel ignores), TIOCLINUX, FIONREAD, then reads a line.
const PTY_PROGRAM: &str = r#"
import ctypes, errno, fcntl, sys, termios
attrs = termios.tcgetattr(0)
attrs[3] &= ~termios.ECHO
termios.tcsetattr(0, termios.TCSANOW, attrs)
def attempt(name, fn):
    try:
        fn()
        print(name, "OK", flush=True)
    except OSError as e:
        print(name, errno.errorcode.get(e.errno, e.errno), flush=True)
libc = ctypes.CDLL(None, use_errno=True)
def raw_ioctl(req, arg):
    r = libc.syscall(ctypes.c_long(16), ctypes.c_long(0), ctypes.c_ulong(req), ctypes.c_char_p(arg))
    if r < 0:
        raise OSError(ctypes.get_errno(), "ioctl")
attempt("TIOCSTI", lambda: fcntl.ioctl(0, termios.TIOCSTI, b"x"))
attempt("TIOCSTI_HI", lambda: raw_ioctl((1 << 32) | termios.TIOCSTI, b"y"))
attempt("TIOCLINUX", lambda: fcntl.ioctl(0, 0x541C, bytes([12])))
attempt("FIONREAD", lambda: fcntl.ioctl(0, termios.FIONREAD, b"\0\0\0\0"))
print("READY", flush=True)
print("READ", repr(sys.stdin.readline()), flush=True)
"#;

/// The `NAME RESULT` lines of the terminal program.
fn pty_results(out: &Out) -> BTreeMap<String, String> {
    out.stdout.lines().filter_map(|l| l.split_once(' ')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

/// TIOCSTI (and TIOCLINUX) on the terminal the sandbox shares are refused; reading from it and
/// other ioctls still work. Control: bare, TIOCSTI pushes input the program then reads.
#[cfg(target_arch = "x86_64")]
#[test]
fn tiocsti_is_refused_while_the_terminal_still_works() {
    let run = |r: Run| {
        r.wrap(&["/usr/bin/python3", "-c", PTY_DRIVER]).timeout(T).run(&["/usr/bin/python3", "-c", PTY_PROGRAM])
    };
    for who in identities() {
        let ctl = run(bare(who));
        let c = pty_results(&ctl);
        assert_eq!(ctl.status(), 0, "control as {who:?}: {ctl:#?}");
        assert_eq!(c.get("EXIT").map(String::as_str), Some("0"), "control as {who:?}: {ctl:#?}");
        assert_eq!(c.get("TIOCSTI").map(String::as_str), Some("OK"), "control as {who:?}: {ctl:#?}");
        assert_eq!(c.get("TIOCSTI_HI").map(String::as_str), Some("OK"), "control as {who:?}: {ctl:#?}");
        assert_ne!(c.get("TIOCLINUX").map(String::as_str), Some("EPERM"), "control as {who:?}: {ctl:#?}");
        assert_eq!(c.get("READ").map(String::as_str), Some("'xyhello\\n'"), "control as {who:?}: {ctl:#?}");
        for policy in [default_policy(), strict_policy()] {
            let out = run(sandboxed(who, &policy));
            let r = pty_results(&out);
            let what = format!("{policy} as {who:?}: {out:#?}");
            assert_eq!(r.get("EXIT").map(String::as_str), Some("0"), "{what}");
            assert_eq!(r.get("TIOCSTI").map(String::as_str), Some("EPERM"), "{what}");
            assert_eq!(r.get("TIOCSTI_HI").map(String::as_str), Some("EPERM"), "{what}");
            assert_eq!(r.get("TIOCLINUX").map(String::as_str), Some("EPERM"), "{what}");
            assert_eq!(r.get("FIONREAD").map(String::as_str), Some("OK"), "{what}");
            assert_eq!(r.get("READ").map(String::as_str), Some("'hello\\n'"), "{what}");
        }
    }
}

const PY_PROCESSES: &str = r#"
import multiprocessing, subprocess, threading
def square(x):
    return x * x
if __name__ == "__main__":
    seen = []
    ts = [threading.Thread(target=lambda: seen.append(threading.get_native_id())) for i in range(8)]
    for t in ts: t.start()
    for t in ts: t.join()
    print("threads", len(set(seen)))
    print("subprocess", subprocess.run(["/bin/sh", "-c", "echo $((6*7))"], capture_output=True, text=True).stdout.strip())
    with multiprocessing.Pool(2) as p:
        print("pool", sum(p.map(square, range(10))))
    q = multiprocessing.get_context("spawn").Pool(1)
    print("spawn", q.apply(abs, (-12,)))
    q.close(); q.join()
"#;

/// Threads (glibc tries clone3 first and must fall back to clone on ENOSYS) and subprocesses
/// work under the default and the strict policy. Control: with clone3 refused with EPERM
/// instead, glibc does not fall back and thread creation fails.
#[test]
fn threads_and_subprocesses_work_under_default_and_strict() {
    let threads = probe("sc_threads");
    let threads = threads.to_str().unwrap();
    for who in identities() {
        for policy in [default_policy(), strict_policy()] {
            let out = sandboxed(who, &policy).timeout(T).run(&[threads]);
            assert_eq!(out.ok().stdout.trim(), "threads 8 distinct 8", "{policy} as {who:?}: {out:#?}");
            let out = sandboxed(who, &policy).timeout(T).run(&["/usr/bin/python3", "-c", PY_PROCESSES]);
            let lines: Vec<&str> = out.ok().stdout.lines().collect();
            assert_eq!(lines, ["threads 8", "subprocess 42", "pool 285", "spawn 12"], "{policy} as {who:?}: {out:#?}");
            let out = sandboxed(who, &policy).timeout(T).sh("seq 1 1000 | sort -rn | head -1");
            assert_eq!(out.ok().stdout.trim(), "1000", "{policy} as {who:?}: {out:#?}");
        }
        let eperm = extending(&default_policy(), r#"{"action": "errno", "errno": "EPERM", "syscalls": ["clone3"]}"#);
        let ctl = sandboxed(who, &eperm).timeout(T).run(&[threads]);
        assert_eq!(ctl.status(), 1, "control as {who:?}: {ctl:#?}");
        assert_eq!(ctl.stdout.trim(), "pthread_create 0: EPERM", "control as {who:?}: {ctl:#?}");
    }
}

/// A syscall through the i386 entry (`int 0x80`) or with the x32 bit kills the program (the
/// filter's bad-architecture action), under the default and the strict policy. Control: bare,
/// the probe survives both.
#[cfg(target_arch = "x86_64")]
#[test]
fn other_abis_are_killed() {
    let abi = probe("sc_abi");
    let abi = abi.to_str().unwrap();
    for who in identities() {
        let ctl = bare(who).timeout(T).run(&[abi, "int80"]);
        assert!(ctl.ok().stdout.contains("int80 returned "), "control as {who:?}: {ctl:#?}");
        let ctl = bare(who).timeout(T).run(&[abi, "x32"]);
        assert!(ctl.ok().stdout.contains("x32 returned "), "control as {who:?}: {ctl:#?}");
        for policy in [default_policy(), strict_policy()] {
            for mode in ["int80", "x32"] {
                let out = sandboxed(who, &policy).timeout(T).run(&[abi, mode]);
                assert_eq!(out.status(), 128 + libc::SIGSYS, "{mode} under {policy} as {who:?}: {out:#?}");
                // It ran up to the call, and not past it.
                assert_eq!(out.stdout.trim(), format!("before {mode}"), "{mode} under {policy} as {who:?}: {out:#?}");
            }
        }
    }
}

/// An unknown syscall or group name is an error naming its JSON pointer: status 125, one line,
/// and the program does not run. Control: the same policy with a known name runs it.
#[test]
fn unknown_syscall_names_fail_closed() {
    for who in identities() {
        let s = Scratch::new("sc-unknown");
        let marker = s.path("marker");
        let script = format!("touch {} && echo ran", marker.display());
        let policy = |rules: &str| {
            format!(
                r#"{{"selfbox": 1, "extends": "{}", "mounts": [{{"type": "bind", "source": "{}", "readonly": false}}], "seccomp": {{"rules": [{rules}]}}}}"#,
                default_policy(),
                s.0.display()
            )
        };
        let ctl = sandboxed(who, &policy(r#"{"action": "errno", "syscalls": ["uselib"]}"#)).timeout(T).sh(&script);
        assert_eq!(ctl.ok().stdout.trim(), "ran", "control as {who:?}: {ctl:#?}");
        assert!(marker.exists(), "control as {who:?}: no marker");
        std::fs::remove_file(&marker).unwrap();
        let cases = [
            (r#"{"action": "errno", "syscalls": ["no_such_call"]}"#, "/seccomp/rules/0/syscalls/0", "no_such_call"),
            (r#"{"action": "errno", "syscalls": ["@no-such-group"]}"#, "/seccomp/rules/0/syscalls/0", "@no-such-group"),
            (
                r#"{"action": "errno", "syscalls": ["uselib"]}, {"action": "kill", "syscalls": ["uname", "no_such_call"]}"#,
                "/seccomp/rules/1/syscalls/1",
                "no_such_call",
            ),
        ];
        for (rules, ptr, name) in cases {
            let out = sandboxed(who, &policy(rules)).timeout(T).sh(&script);
            let lines: Vec<&str> = out.stderr.lines().collect();
            assert_eq!(out.status(), 125, "{name} as {who:?}: {out:#?}");
            assert_eq!(lines.len(), 1, "{name} as {who:?}: one stderr line: {out:#?}");
            assert!(lines[0].starts_with("selfbox: "), "{name} as {who:?}: {out:#?}");
            assert!(lines[0].contains(ptr), "{name} as {who:?}: {ptr} not in {:?}", lines[0]);
            assert!(lines[0].contains(&format!("\"{name}\"")), "{name} as {who:?}: name not in {:?}", lines[0]);
            assert!(out.stdout.is_empty(), "{name} as {who:?}: {out:#?}");
            assert!(!marker.exists(), "{name} as {who:?}: the program ran");
        }
    }
}

/// A later rule for the same syscall replaces the earlier one, in either direction, across
/// `extends`. Control: the default alone refuses ptrace.
#[test]
fn later_rules_replace_earlier_ones() {
    let d = default_policy();
    let allow = extending(&d, r#"{"action": "allow", "syscalls": ["ptrace"]}"#);
    let allow_then_deny = extending(
        &d,
        r#"{"action": "allow", "syscalls": ["ptrace"]}, {"action": "errno", "errno": "EACCES", "syscalls": ["ptrace"]}"#,
    );
    let deny_then_allow = extending(
        &d,
        r#"{"action": "errno", "errno": "EACCES", "syscalls": ["ptrace"]}, {"action": "allow", "syscalls": ["ptrace"]}"#,
    );
    // A syscall the default allows, refused by a later rule.
    let deny_uname = extending(&d, r#"{"action": "errno", "errno": "EACCES", "syscalls": ["uname"]}"#);
    for who in identities() {
        let names = ["ptrace", "uname"];
        let ctl = try_calls(sandboxed(who, &d), &names);
        assert_eq!(errno_of(&ctl, "ptrace"), "EPERM", "control as {who:?}");
        assert_eq!(errno_of(&ctl, "uname"), "OK", "control as {who:?}");
        let r = try_calls(sandboxed(who, &allow), &names);
        assert_eq!(errno_of(&r, "ptrace"), "OK", "allow after the default's deny as {who:?}");
        let r = try_calls(sandboxed(who, &allow_then_deny), &names);
        assert_eq!(errno_of(&r, "ptrace"), "EACCES", "deny after allow as {who:?}");
        let r = try_calls(sandboxed(who, &deny_then_allow), &names);
        assert_eq!(errno_of(&r, "ptrace"), "OK", "allow after deny as {who:?}");
        let r = try_calls(sandboxed(who, &deny_uname), &names);
        assert_eq!(errno_of(&r, "uname"), "EACCES", "deny of an allowed call as {who:?}");
        assert_eq!(errno_of(&r, "ptrace"), "EPERM", "other rules stay as {who:?}");
    }
}

/// Rules comparing an argument after an unconditional rule for the same syscall are
/// exceptions to it, first match first, under an allow-by-default and an errno-by-default base;
/// a conditional rule alone affects only the matching calls. Control: the base policies allow
/// every `getpriority`.
#[test]
fn argument_exceptions_apply_to_matching_calls_only() {
    let names = ["getpriority_process", "getpriority_pgrp", "getpriority_user"];
    let exceptions = r#"{"action": "errno", "errno": "EACCES", "syscalls": ["getpriority"]},
        {"action": "allow", "syscalls": ["getpriority"], "args": [{"index": 0, "op": "eq", "value": 0}]},
        {"action": "errno", "errno": "ENOTTY", "syscalls": ["getpriority"], "args": [{"index": 0, "op": "eq", "value": 2}]}"#;
    let conditional_only = r#"{"action": "errno", "errno": "EACCES", "syscalls": ["getpriority"],
        "args": [{"index": 0, "op": "eq", "value": 1}]}"#;
    for who in identities() {
        for base in [default_policy(), strict_policy()] {
            let ctl = try_calls(sandboxed(who, &base), &names);
            for n in names {
                assert_eq!(errno_of(&ctl, n), "OK", "control {n} under {base} as {who:?}");
            }
            let r = try_calls(sandboxed(who, &extending(&base, exceptions)), &names);
            assert_eq!(errno_of(&r, "getpriority_process"), "OK", "the exception value under {base} as {who:?}");
            assert_eq!(errno_of(&r, "getpriority_pgrp"), "EACCES", "no exception under {base} as {who:?}");
            assert_eq!(errno_of(&r, "getpriority_user"), "ENOTTY", "second exception under {base} as {who:?}");
            let r = try_calls(sandboxed(who, &extending(&base, conditional_only)), &names);
            assert_eq!(errno_of(&r, "getpriority_process"), "OK", "conditional only under {base} as {who:?}");
            assert_eq!(errno_of(&r, "getpriority_pgrp"), "EACCES", "conditional only under {base} as {who:?}");
            assert_eq!(errno_of(&r, "getpriority_user"), "OK", "conditional only under {base} as {who:?}");
        }
    }
}

/// `log` allows the call. Controls: bare the parent is not pid 1; a `kill` rule for the same
/// call ends the program.
#[test]
fn log_action_allows_the_call() {
    let ppid = ["/usr/bin/python3", "-c", "import os; print(os.getppid())"];
    let log = extending(&default_policy(), r#"{"action": "log", "syscalls": ["getppid"]}"#);
    let kill = extending(&default_policy(), r#"{"action": "kill", "syscalls": ["getppid"]}"#);
    for who in identities() {
        let out = sandboxed(who, &log).timeout(T).run(&ppid);
        assert_eq!(out.ok().stdout.trim(), "1", "as {who:?}: {out:#?}");
        let ctl = bare(who).timeout(T).run(&ppid);
        assert_ne!(ctl.ok().stdout.trim(), "1", "control as {who:?}: {ctl:#?}");
        let ctl = sandboxed(who, &kill).timeout(T).run(&ppid);
        assert_eq!(ctl.status(), 128 + libc::SIGSYS, "control as {who:?}: {ctl:#?}");
        assert!(ctl.stdout.is_empty(), "control as {who:?}: {ctl:#?}");
    }
}

/// A `kill` rule ends the program with SIGSYS, and selfbox names the syscall on stderr; a killed
/// child (SIGKILL) is reported with its pid in the sandbox, and its shell goes on. Control: without the
/// rule uname runs.
#[test]
fn kill_rules_report_the_syscall() {
    let kill = extending(&default_policy(), r#"{"action": "kill", "syscalls": ["uname"]}"#);
    let report = "selfbox: program killed by seccomp policy: uname(";
    for who in identities() {
        let ctl = sandboxed(who, &default_policy()).timeout(T).run(&["/usr/bin/uname"]);
        assert_eq!(ctl.ok().stdout.trim(), "Linux", "control as {who:?}: {ctl:#?}");
        assert!(!ctl.stderr.contains("killed by seccomp"), "control as {who:?}: {ctl:#?}");

        let out = sandboxed(who, &kill).timeout(T).run(&["/usr/bin/uname"]);
        assert_eq!(out.status(), 128 + libc::SIGSYS, "as {who:?}: {out:#?}");
        assert!(out.stdout.is_empty(), "uname ran as {who:?}: {out:#?}");
        let lines: Vec<&str> = out.stderr.lines().filter(|l| l.contains("killed by seccomp")).collect();
        assert_eq!(lines.len(), 1, "as {who:?}: {out:#?}");
        assert!(lines[0].starts_with(report), "as {who:?}: {out:#?}");
        assert!(!lines[0].contains("in the sandbox"), "the program itself has no pid note, as {who:?}: {out:#?}");

        // The child dies of SIGKILL (a signal it cannot catch); only the program's own end is
        // reported as SIGSYS.
        let out = sandboxed(who, &kill).timeout(T).sh("uname; echo after $?");
        assert_eq!(out.ok().stdout.trim(), "after 137", "as {who:?}: {out:#?}");
        let lines: Vec<&str> = out.stderr.lines().filter(|l| l.contains("killed by seccomp")).collect();
        assert_eq!(lines.len(), 1, "as {who:?}: {out:#?}");
        assert!(lines[0].starts_with(report), "as {who:?}: {out:#?}");
        let pid = lines[0]
            .rsplit_once("(pid ")
            .and_then(|(_, r)| r.strip_suffix(" in the sandbox)"))
            .and_then(|p| p.parse::<u32>().ok());
        // The shell is pid 2, its child comes later.
        assert!(pid.is_some_and(|p| p > 2), "as {who:?}: no sandbox pid in {:?}", lines[0]);
    }
}

/// `kill_thread` ends only the thread that made the call. Control: without the rule the thread
/// returns.
#[test]
fn kill_thread_ends_only_the_thread() {
    let exe = probe("sc_thread_kill");
    let exe = exe.to_str().unwrap();
    let kt = extending(&default_policy(), r#"{"action": "kill_thread", "syscalls": ["getcpu"]}"#);
    for who in identities() {
        let ctl = sandboxed(who, &default_policy()).timeout(T).run(&[exe]);
        let lines: Vec<&str> = ctl.ok().stdout.lines().collect();
        assert_eq!(lines, ["thread returned 0", "main alive"], "control as {who:?}: {ctl:#?}");
        let out = sandboxed(who, &kt).timeout(T).run(&[exe]);
        assert_eq!(out.ok().stdout.trim(), "main alive", "as {who:?}: {out:#?}");
    }
}

/// The strict policy refuses with EPERM what is outside its allow list (and what it denies
/// again) while the default allows it: the control.
#[test]
fn strict_refuses_what_is_outside_its_allow_list() {
    let mut outside = vec!["mincore", "kcmp"];
    if cfg!(target_arch = "x86_64") {
        outside.extend(["modify_ldt", "pkey_alloc"]);
    }
    let also_default = ["syslog", "acct", "swapoff", "quotactl"];
    let works = ["personality_linux", "personality_linux32", "personality_query", "clone_plain", "uname"];
    let mut names = outside.clone();
    names.extend(also_default);
    names.extend(works);
    names.push("personality_norandom");
    for who in identities() {
        let strict = try_calls(sandboxed(who, &strict_policy()), &names);
        let ctl = try_calls(sandboxed(who, &default_policy()), &names);
        for n in &outside {
            assert_eq!(errno_of(&strict, n), "EPERM", "{n} under strict as {who:?}: {:?}", strict[*n]);
            assert_eq!(errno_of(&ctl, n), "OK", "control {n} under default as {who:?}: {:?}", ctl[*n]);
        }
        for n in also_default {
            assert_eq!(errno_of(&strict, n), "EPERM", "{n} under strict as {who:?}: {:?}", strict[n]);
        }
        for n in works {
            assert_eq!(errno_of(&strict, n), "OK", "{n} under strict as {who:?}: {:?}", strict[n]);
        }
        assert_eq!(errno_of(&strict, "personality_norandom"), "EPERM", "as {who:?}");
    }
}

/// The strict policy says "the hardening of the default applies again on top of the allow
/// list": every call the default refuses, strict refuses with the same errno. Control: a
/// policy that re-allows one of them is noticed.
#[test]
fn strict_keeps_every_refusal_of_the_default() {
    let denied = default_denied();
    let names: Vec<&str> = denied.iter().map(|(n, _)| *n).collect();
    let reallow = extending(&strict_policy(), r#"{"action": "allow", "syscalls": ["ptrace"]}"#);
    for who in identities() {
        let ctl = try_calls(sandboxed(who, &reallow), &["ptrace"]);
        assert_eq!(errno_of(&ctl, "ptrace"), "OK", "control as {who:?}");
        let strict = try_calls(sandboxed(who, &strict_policy()), &names);
        let wrong: Vec<String> = denied
            .iter()
            .filter(|(n, e)| errno_of(&strict, n) != *e)
            .map(|(n, e)| format!("{n}: {} {} (default: {e})", strict[*n].ret, strict[*n].err))
            .collect();
        assert!(wrong.is_empty(), "strict lets through what the default refuses, as {who:?}: {wrong:#?}");
    }
}

/// `seccomp: built N rules ... in X us` from a debug log line, as (N, X).
fn built_line(stderr: &str) -> Option<(u64, u64)> {
    let l = stderr.lines().find(|l| l.contains("seccomp: built "))?;
    let rest = l.split_once("seccomp: built ")?.1;
    let n = rest.split_whitespace().next()?.parse().ok()?;
    let us = rest.strip_suffix(" us")?.rsplit_once(" in ")?.1.parse().ok()?;
    Some((n, us))
}

/// With SELFBOX_LOG=debug selfbox says how many rules it built and in how long, and that it
/// loaded them, for the default and the strict policy. `SELFBOX_FILTER_CACHE=off` makes sure
/// the filter is built rather than taken from a cache of compiled filters.
/// Control: without SELFBOX_LOG, neither line.
#[test]
fn debug_log_times_the_filter() {
    for who in identities() {
        let mut rules = Vec::new();
        for policy in [default_policy(), strict_policy()] {
            let out = sandboxed(who, &policy)
                .env("SELFBOX_LOG", "debug")
                .env("SELFBOX_FILTER_CACHE", "off")
                .timeout(T)
                .run(&["/bin/true"]);
            out.ok();
            let (n, us) = built_line(&out.stderr).unwrap_or_else(|| panic!("{policy} as {who:?}: {out:#?}"));
            assert!(n > 10, "{policy} as {who:?}: {n} rules");
            assert!(us > 0 && us < 5_000_000, "{policy} as {who:?}: {us} us");
            assert!(out.stderr.lines().any(|l| l.contains("seccomp: loaded")), "{policy} as {who:?}: {out:#?}");
            eprintln!("{policy} as {who:?}: {n} rules built in {us} us");
            rules.push(n);
            let quiet = sandboxed(who, &policy).timeout(T).run(&["/bin/true"]);
            assert!(!quiet.ok().stderr.contains("seccomp:"), "control {policy} as {who:?}: {quiet:#?}");
        }
        // The allow list is the bigger filter.
        assert!(rules[1] > rules[0], "as {who:?}: {rules:?}");
    }
}

/// FNV-1a, the cache file's checksum (see src/seccomp/cache_file.rs).
fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// A cache entry with the key of `genuine` and a program that allows everything: what a
/// sandboxed program would write to switch off its next sandbox's filter.
fn poisoned(genuine: &[u8]) -> Vec<u8> {
    let magic = b"selfbox-bpf-3\n";
    assert!(genuine.starts_with(magic), "cache format changed");
    let klen = u32::from_le_bytes(genuine[magic.len()..magic.len() + 4].try_into().unwrap()) as usize;
    let key = &genuine[magic.len() + 4..magic.len() + 4 + klen];
    // BPF_RET | BPF_K, SECCOMP_RET_ALLOW
    let allow: [u8; 8] = [0x06, 0, 0, 0, 0, 0, 0xff, 0x7f];
    let mut data = magic.to_vec();
    for part in [key, &allow[..]] {
        data.extend_from_slice(&(part.len() as u32).to_le_bytes());
        data.extend_from_slice(part);
    }
    data.extend_from_slice(&1u32.to_le_bytes());
    data.extend_from_slice(&0u32.to_le_bytes());
    let sum = fnv1a(&data);
    data.extend_from_slice(&sum.to_le_bytes());
    data
}

/// The compiled-filter cache cannot be used to switch off a later sandbox's filter: an entry
/// the program could have written (its directory or file owned by the program's user, or
/// writable by others) is ignored and the filter is built from the policy, and a program that
/// runs as root uses no cache at all. Control: the same poisoned entry in a root-owned directory
/// is used (the refused call then succeeds), so the check could fail. Also: real root stores
/// what it builds (mode 0600) and a rootless caller stores nothing.
#[test]
fn filter_cache_only_trusts_what_the_program_could_not_write() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if !is_root() {
        eprintln!("skipped: needs root to make root-owned cache directories");
        return;
    }
    let s = Scratch::new("sc-trust");
    s.close();
    let policy = policy_extending_default(
        &s,
        "p.json",
        r#""seccomp": {"rules": [{"action": "errno", "errno": "EACCES", "syscalls": ["uname"]}]}"#,
    );
    let mode = |p: &std::path::Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    let trusted = s.path("trusted");
    std::fs::create_dir(&trusted).unwrap();
    mode(&trusted, 0o755);
    let built = run_command(
        {
            let mut c = std::process::Command::new(tool());
            c.args(["cache", "build", "--dir", trusted.to_str().unwrap(), &policy]);
            c
        },
        None,
        T,
    );
    assert_eq!(built.code, Some(0), "{}", built.stderr);
    let entries: Vec<_> = std::fs::read_dir(&trusted).unwrap().flatten().map(|e| e.path()).collect();
    let [entry] = entries.as_slice() else { panic!("one entry expected: {entries:?}") };
    let name = entry.file_name().unwrap().to_owned();
    let bad = poisoned(&std::fs::read(entry).unwrap());
    // Untrusted places for the same poisoned entry.
    let user_dir = s.path("user-dir");
    let open_dir = s.path("open-dir");
    let user_file = s.path("user-file");
    for d in [&user_dir, &open_dir, &user_file] {
        std::fs::create_dir(d).unwrap();
        mode(d, 0o755);
        std::fs::write(d.join(&name), &bad).unwrap();
        mode(&d.join(&name), 0o644);
    }
    std::os::unix::fs::chown(&user_dir, Some(NOBODY), Some(NOBODY)).unwrap();
    mode(&open_dir, 0o777);
    std::os::unix::fs::chown(user_file.join(&name), Some(NOBODY), Some(NOBODY)).unwrap();
    let uname = |who: Who, policy: &str, dir: &std::path::Path| {
        try_calls(sandboxed(who, policy).env("SELFBOX_FILTER_CACHE", dir.to_str().unwrap()), &["uname"])["uname"]
            .err
            .clone()
    };
    for who in identities() {
        // The genuine entry is used and refuses uname as the policy says.
        assert_eq!(uname(who, &policy, &trusted), "EACCES", "genuine entry as {who:?}");
        for d in [&user_dir, &open_dir, &user_file] {
            assert_eq!(uname(who, &policy, d), "EACCES", "poisoned entry in {} used as {who:?}", d.display());
        }
    }
    std::fs::write(trusted.join(&name), &bad).unwrap();
    for who in identities() {
        assert_eq!(uname(who, &policy, &trusted), "OK", "control: root's own entry is used, as {who:?}");
    }
    // Real root keeping root: no cache, even a root-owned one.
    let keeps_root = s.file("root.json", &format!(r#"{{"selfbox": 1, "extends": "{policy}", "run_as": null}}"#));
    assert_eq!(uname(Who::Root, keeps_root.to_str().unwrap(), &trusted), "EACCES", "a root program used the cache");
    // Real root stores what it builds; a rootless caller does not.
    let fresh = s.path("fresh");
    for who in identities() {
        let out = sandboxed(who, &policy)
            .env("SELFBOX_FILTER_CACHE", fresh.to_str().unwrap())
            .env("SELFBOX_LOG", "debug")
            .run(&["/bin/true"]);
        out.ok();
        let stored: Vec<_> =
            std::fs::read_dir(&fresh).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
        match who {
            Who::Root => {
                let [e] = stored.as_slice() else { panic!("root stored {stored:?}: {out:#?}") };
                let m = std::fs::metadata(e).unwrap();
                assert_eq!((m.uid(), m.mode() & 0o777), (0, 0o600), "{}", e.display());
            }
            Who::User => assert!(out.stderr.contains("only real root writes"), "{out:#?}"),
        }
    }
}
