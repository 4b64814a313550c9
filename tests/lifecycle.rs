//! The process lifecycle under the preload: exit codes and fatal signals pass through, signals
//! reach the program exactly once (kill(2) to the supervisor, Ctrl-C on a terminal), orphans are
//! reaped, nothing outlives a SIGKILLed supervisor, an inherited SIGCHLD=SIG_IGN does no harm,
//! and `wall_time` ends the run. Each check has a control run that shows it could fail. Every
//! test runs as root and as uid 65534.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// A policy extending the shipped default with `extra` top-level fields, inline.
fn inline_policy(extra: &str) -> String {
    format!(r#"{{"selfbox": 1, "extends": "{}", {extra}}}"#, default_policy())
}

#[test]
fn exit_codes_pass_through() {
    for who in identities() {
        for n in [0, 3, 255] {
            let script = format!("exit {n}");
            let out = sandboxed(who, &default_policy()).sh(&script);
            assert_eq!((out.code, out.signal), (Some(n), None), "as {who:?}, exit {n}: {out:?}");
            // Control: the same program without the sandbox, so the expected value is the program's own.
            let ctl = bare(who).sh(&script);
            assert_eq!(ctl.code, Some(n), "control as {who:?}: {ctl:?}");
        }
    }
}

/// The supervisor dies of the program's fatal signal (PITFALLS 29): a shell sees 128+N.
#[test]
fn fatal_signals_pass_through() {
    let segv = probe("lc_segv");
    let segv = segv.to_str().unwrap();
    for who in identities() {
        let out = sandboxed(who, &default_policy()).sh("kill -TERM $$; echo survived");
        assert_eq!((out.status(), out.signal), (143, Some(15)), "as {who:?}: {out:?}");
        assert!(!out.stdout.contains("survived"), "as {who:?}: {out:?}");

        let out = sandboxed(who, &default_policy()).run(&[segv]);
        assert!(out.stdout.contains("crashing"), "as {who:?}: the probe did not run: {out:?}");
        assert_eq!((out.status(), out.signal), (139, Some(11)), "as {who:?}: {out:?}");

        // Controls: the bare programs die the same way, and a program that merely exits 143
        // has the same status() but no signal: the signal check tells them apart.
        let ctl = bare(who).sh("kill -TERM $$");
        assert_eq!((ctl.status(), ctl.signal), (143, Some(15)), "control as {who:?}: {ctl:?}");
        let ctl = bare(who).run(&[segv]);
        assert_eq!((ctl.status(), ctl.signal), (139, Some(11)), "control as {who:?}: {ctl:?}");
        let ctl = sandboxed(who, &default_policy()).sh("exit 143");
        assert_eq!((ctl.status(), ctl.signal), (143, None), "control as {who:?}: {ctl:?}");
    }
}

/// Traps TERM and prints "TERM" for each delivery; ends 1 s after the first one (so that a
/// second delivery would still be counted), or after 5 s without any.
const TRAP_TERM: &str = "trap 'echo TERM; t=1' TERM; echo ready; i=0; j=0; \
    while [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); \
    if [ -n \"$t\" ]; then j=$((j+1)); [ $j -ge 10 ] && break; fi; done; echo done";

/// kill(2) to the supervisor reaches the program once (supervisor -> init -> program).
#[test]
fn sigterm_to_the_supervisor_reaches_the_program_once() {
    let within = Duration::from_secs(10);
    for who in identities() {
        let mut r =
            sandboxed(who, &default_policy()).timeout(Duration::from_secs(20)).spawn(&["/bin/sh", "-c", TRAP_TERM]);
        r.expect_line("ready", within);
        r.signal(libc::SIGTERM);
        let out = r.wait();
        assert_eq!(count(&out.stdout, "TERM"), 1, "as {who:?}: {out:?}");
        assert!(out.stdout.contains("done"), "as {who:?}: {out:?}");
        assert_eq!(out.status(), 0, "as {who:?}: {out:?}");

        // Control: two signals, the second after the first was handled, are counted as two.
        let mut r =
            sandboxed(who, &default_policy()).timeout(Duration::from_secs(20)).spawn(&["/bin/sh", "-c", TRAP_TERM]);
        r.expect_line("ready", within);
        r.signal(libc::SIGTERM);
        r.expect_line("TERM", within);
        r.signal(libc::SIGTERM);
        let out = r.wait();
        assert_eq!(count(&out.stdout, "TERM"), 2, "control as {who:?}: {out:?}");

        // Control: without the sandbox the same program sees it once.
        let mut r = bare(who).timeout(Duration::from_secs(20)).spawn(&["/bin/sh", "-c", TRAP_TERM]);
        r.expect_line("ready", within);
        r.signal(libc::SIGTERM);
        let out = r.wait();
        assert_eq!(count(&out.stdout, "TERM"), 1, "control as {who:?}: {out:?}");
    }
}

/// Deliveries of a queued (real-time) signal: sent to the supervisor it reaches the program
/// once; sent to the whole process group (which holds supervisor, init and program) twice,
/// directly and through the relay, never a third time through init's own copy; with and without
/// a PID namespace (where init sees the supervisor's pid). Control: bare,
/// the group send reaches the program once, and two sends count two.
#[test]
fn signals_are_relayed_once_per_send() {
    let within = Duration::from_secs(10);
    let rt = libc::SIGRTMIN() + 1;
    let count_after = |run: Run, target: &dyn Fn(i32) -> Vec<i32>| {
        let exe = probe("lc_rtcount").display().to_string();
        // setsid: the group is the supervisor's own, not the test's.
        let mut r = run.wrap(&["setsid"]).timeout(Duration::from_secs(20)).spawn(&[&exe, "1500"]);
        r.expect_line("ready", within);
        for pid in target(r.pid()) {
            // SAFETY: kill has no memory preconditions; the target is a process we started.
            assert_eq!(unsafe { libc::kill(pid, rt) }, 0);
        }
        let out = r.wait();
        let line = out.stdout.lines().find_map(|l| l.strip_prefix("count ")).map(str::to_owned);
        line.and_then(|n| n.parse::<u32>().ok()).unwrap_or_else(|| panic!("{out:#?}"))
    };
    let one = |p: i32| vec![p];
    let group = |p: i32| vec![-p];
    let no_pid = r#"{"selfbox": 1, "namespaces": ["user", "net", "ipc", "uts"], "root": "host"}"#;
    for who in identities() {
        for p in [default_policy(), no_pid.to_owned()] {
            assert_eq!(count_after(sandboxed(who, &p), &one), 1, "to the supervisor as {who:?} with {p}");
            assert_eq!(count_after(sandboxed(who, &p), &group), 2, "to the group as {who:?} with {p}");
        }
        assert_eq!(count_after(bare(who), &group), 1, "control: bare, to the group, as {who:?}");
        assert_eq!(count_after(sandboxed(who, &default_policy()), &|p| vec![p, p]), 2, "control: two sends");
    }
}

/// A SIGTERM the program does not handle kills it, and the supervisor with the same signal.
#[test]
fn an_unhandled_sigterm_kills_the_program() {
    let looping = |prefix: &str| {
        format!("{prefix} echo ready; i=0; while [ $i -lt 30 ]; do sleep 0.1; i=$((i+1)); done; echo finished")
    };
    let within = Duration::from_secs(10);
    for who in identities() {
        let mut r =
            sandboxed(who, &default_policy()).timeout(Duration::from_secs(20)).spawn(&["/bin/sh", "-c", &looping("")]);
        r.expect_line("ready", within);
        r.signal(libc::SIGTERM);
        let out = r.wait();
        assert_eq!((out.status(), out.signal), (143, Some(15)), "as {who:?}: {out:?}");
        assert!(!out.stdout.contains("finished"), "as {who:?}: {out:?}");
        assert!(out.elapsed < Duration::from_secs(2), "as {who:?}: the signal did not end it: {out:?}");

        // Control: a program that ignores SIGTERM runs to its end and exits 0.
        let mut r = sandboxed(who, &default_policy()).timeout(Duration::from_secs(20)).spawn(&[
            "/bin/sh",
            "-c",
            &looping("trap '' TERM;"),
        ]);
        r.expect_line("ready", within);
        r.signal(libc::SIGTERM);
        let out = r.wait();
        assert_eq!((out.status(), out.signal), (0, None), "control as {who:?}: {out:?}");
        assert!(out.stdout.contains("finished"), "control as {who:?}: {out:?}");
    }
}

/// Runs `argv` on a new pseudo-terminal (its controlling terminal, foreground group), waits
/// for "ready", types Ctrl-C `n` times (each after the previous one's "GOT-INT"), then collects
/// the output until EOF. Returns the output and the "STATUS=" line. Every wait is bounded.
const PTY_DRIVER: &str = r#"
import os, pty, select, signal, sys, time
n = int(sys.argv[1])
argv = sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
buf = b""
def pump(pred, secs):
    global buf
    end = time.monotonic() + secs
    while not pred():
        left = end - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            continue
        try:
            d = os.read(fd, 4096)
        except OSError:
            return pred()
        if not d:
            return pred()
        buf += d
    return True
if pump(lambda: b"ready" in buf, 15):
    for i in range(n):
        os.write(fd, b"\x03")
        pump(lambda: buf.count(b"GOT-INT") > i, 5)
pump(lambda: False, 15)
status = None
end = time.monotonic() + 5
while status is None and time.monotonic() < end:
    p, st = os.waitpid(pid, os.WNOHANG)
    if p == pid:
        status = st
    else:
        time.sleep(0.02)
if status is None:
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
sys.stdout.write(buf.decode(errors="replace"))
print()
print("STATUS=%d" % os.waitstatus_to_exitcode(status))
"#;

/// Traps INT and prints "GOT-INT" for each delivery; ends 1 s after the first one.
const TRAP_INT: &str = "trap 'echo GOT-INT; t=1' INT; echo ready; i=0; j=0; \
    while [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); \
    if [ -n \"$t\" ]; then j=$((j+1)); [ $j -ge 10 ] && break; fi; done; echo done";

/// Runs `run`'s command line for `sh -c script` under the pty driver (system python3).
fn on_a_terminal(run: &Run, script: &str, ctrl_c: u32) -> String {
    let inner = run.command(&["/bin/sh", "-c", script]);
    let mut py = Command::new("/usr/bin/python3");
    py.arg("-c").arg(PTY_DRIVER).arg(ctrl_c.to_string()).arg(inner.get_program()).args(inner.get_args());
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => py.env(k, v),
            None => py.env_remove(k),
        };
    }
    if let Some(d) = inner.get_current_dir() {
        py.current_dir(d);
    }
    py.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = py.spawn().expect("spawn /usr/bin/python3");
    // The driver bounds itself (about 45 s at most); this is the last resort.
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the pty driver timed out");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().expect("driver output");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "pty driver failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// Ctrl-C reaches the whole foreground group directly; the supervisor must not relay it again
/// (PITFALLS 26), and the program must not be PID 1, which would ignore it (PITFALLS 25).
#[test]
fn ctrl_c_on_a_terminal_reaches_the_program_once() {
    for who in identities() {
        let out = on_a_terminal(&sandboxed(who, &default_policy()), TRAP_INT, 1);
        assert!(out.contains("ready"), "as {who:?}: the program did not start: {out}");
        assert_eq!(count(&out, "GOT-INT"), 1, "as {who:?}: {out}");
        assert!(out.contains("done") && out.contains("STATUS=0"), "as {who:?}: {out}");

        // Controls: bare, the same program sees one; two Ctrl-C are counted as two.
        let ctl = on_a_terminal(&bare(who), TRAP_INT, 1);
        assert_eq!(count(&ctl, "GOT-INT"), 1, "control as {who:?}: {ctl}");
        let ctl = on_a_terminal(&sandboxed(who, &default_policy()), TRAP_INT, 2);
        assert_eq!(count(&ctl, "GOT-INT"), 2, "control as {who:?}: {ctl}");
    }
}

/// A background child is orphaned by its parent's exit, then exits itself; the State lines of
/// every process are printed after it did, by python3, which never reaps children it did not
/// start (a shell would reap it while waiting for its own foreground command).
const ORPHAN: &str = "sh -c 'sleep 0.2 &'; exec /usr/bin/python3 -c \
    'import glob, time; time.sleep(0.8); \
    print(\"\\n\".join(l.strip() for f in glob.glob(\"/proc/[0-9]*/status\") for l in open(f) if l.startswith(\"State\")))'";

/// Orphans are reparented to init, which reaps them (PITFALLS 25).
#[test]
fn orphans_are_reaped() {
    for who in identities() {
        let out = sandboxed(who, &default_policy()).sh(ORPHAN);
        assert!(out.ok().stdout.contains("State:"), "as {who:?}: {out:?}");
        assert!(!out.stdout.contains("zombie"), "as {who:?}: {out:?}");
        // The form from the brief: the orphan is not the outer shell's child inside.
        let out = sandboxed(who, &default_policy())
            .sh("sh -c 'sleep 0.2 &'; sleep 0.6; grep -h '^State' /proc/[0-9]*/status");
        assert!(out.ok().stdout.contains("State:"), "as {who:?}: {out:?}");
        assert!(!out.stdout.contains("zombie"), "as {who:?}: {out:?}");

        // Control: the same program as PID 1 of a plain PID namespace leaves a zombie.
        let unshare: &[&str] =
            if who == Who::Root { &["unshare", "-pf", "--mount-proc"] } else { &["unshare", "-Urpf", "--mount-proc"] };
        let ctl = bare(who).wrap(unshare).sh(ORPHAN);
        assert!(ctl.stdout.contains("Z (zombie)"), "control as {who:?}: {ctl:?}");
    }
}

/// The sandbox dies with its supervisor, even a SIGKILLed one (PITFALLS 27).
/// Also without a PID namespace, where nothing but the parent-death signal ends the program.
#[test]
fn nothing_survives_a_sigkilled_supervisor() {
    let no_pid = r#"{"selfbox": 1, "namespaces": ["user", "net", "ipc", "uts"], "root": "host"}"#;
    let cases = identities().into_iter().flat_map(|w| [(w, default_policy()), (w, no_pid.to_owned())]);
    for (i, (who, policy)) in cases.enumerate() {
        let m = format!("sleep 30.5{}", marker(i as u32));
        let script = format!("echo ready; exec {m}");
        let mut r = sandboxed(who, &policy).timeout(Duration::from_secs(20)).spawn(&["/bin/sh", "-c", &script]);
        r.expect_line("ready", Duration::from_secs(10));
        let is_sleep = |p: &i32| std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "sleep");
        let running = eventually(Duration::from_secs(5), || live_with(&m).iter().any(is_sleep));
        // Control: before the kill the detection sees the program, and the supervisor.
        let before = live_with(&m);
        assert!(running, "as {who:?}: the program never showed up: {before:?}");
        assert!(before.contains(&r.pid()), "as {who:?}: {before:?} lacks the supervisor {}", r.pid());
        assert!(before.len() >= 3, "as {who:?}: supervisor, init and program expected: {before:?}");

        r.signal(libc::SIGKILL);
        // Before collecting the output: a survivor would hold stdout open until it ends.
        let mut left = Vec::new();
        let gone = eventually(Duration::from_secs(3), || {
            left = live_with(&m);
            left.is_empty()
        });
        assert!(gone, "as {who:?} with {policy}: still running 3 s after the supervisor's SIGKILL: {left:?}");
        let out = r.wait();
        assert_eq!(out.signal, Some(libc::SIGKILL), "as {who:?}: {out:?}");
    }
}

/// An inherited SIGCHLD=SIG_IGN (PITFALLS 28): supervisor and init still see the program's end,
/// and the program gets the caller's disposition back.
#[test]
fn an_inherited_ignored_sigchld_does_no_harm() {
    let ign = probe("lc_ignchld");
    let ign = [ign.to_str().unwrap()];
    let bit = |out: &Out| -> bool {
        let line =
            out.stdout.lines().find(|l| l.starts_with("SigIgn:")).unwrap_or_else(|| panic!("no SigIgn: {out:?}"));
        let mask = u64::from_str_radix(line["SigIgn:".len()..].trim(), 16).unwrap();
        mask & (1 << (libc::SIGCHLD - 1)) != 0
    };
    let sig_ign = ["/bin/grep", "SigIgn", "/proc/self/status"];
    for who in identities() {
        let out = sandboxed(who, &default_policy()).wrap(&ign).sh("exit 5");
        assert_eq!((out.code, out.signal), (Some(5), None), "as {who:?}: {out:?}");
        let out = sandboxed(who, &default_policy()).wrap(&ign).sh("sh -c 'exit 3'; echo $?");
        assert_eq!(out.ok().stdout.trim(), "3", "as {who:?}: {out:?}");
        let out = sandboxed(who, &default_policy()).wrap(&ign).run(&sig_ign);
        assert!(bit(out.ok()), "as {who:?}: the program lost the caller's SIG_IGN: {out:?}");

        // Controls: without the wrapper the bit is clear; bare, the wrapper sets it.
        let ctl = sandboxed(who, &default_policy()).run(&sig_ign);
        assert!(!bit(ctl.ok()), "control as {who:?}: {ctl:?}");
        let ctl = bare(who).wrap(&ign).run(&sig_ign);
        assert!(bit(ctl.ok()), "control as {who:?}: {ctl:?}");
    }
}

#[test]
fn wall_time_ends_the_run_with_124() {
    let policy = inline_policy(r#""wall_time": 1"#);
    for (i, who) in identities().into_iter().enumerate() {
        let m = format!("10.4{}", marker(10 + i as u32));
        let out = sandboxed(who, &policy).run(&["/bin/sleep", &m]);
        assert_eq!((out.code, out.signal), (Some(124), None), "as {who:?}: {out:?}");
        let secs = out.elapsed.as_secs_f64();
        assert!((0.9..=2.5).contains(&secs), "as {who:?}: ended after {secs} s: {out:?}");
        assert!(out.stderr.contains("wall_time"), "as {who:?}: {out:?}");
        let mut left = Vec::new();
        let gone = eventually(Duration::from_secs(1), || {
            left = live_with(&m);
            left.is_empty()
        });
        assert!(gone, "as {who:?}: the program outlived its wall_time: {left:?}");

        // Control: a program that ends in time is not touched.
        let ctl = sandboxed(who, &policy).run(&["/bin/sleep", "0.2"]);
        assert_eq!((ctl.code, ctl.signal), (Some(0), None), "control as {who:?}: {ctl:?}");
        assert!(!ctl.stderr.contains("wall_time"), "control as {who:?}: {ctl:?}");
    }
}

/// When the program ends, everything it left behind in the sandbox is gone by the time the
/// supervisor exits (init empties the namespace before it reports), with or without a cgroup.
#[test]
fn nothing_outlives_the_program_when_it_exits() {
    for who in identities() {
        let marker = format!("3{}.271828", who as u8);
        let script = format!("(sleep {marker} >/dev/null 2>&1 &); sleep 0.2; ps -eo args | grep -c '^sleep {marker}'");
        let with_cgroup = format!(
            r#"{{"selfbox": 1, "extends": "{}", "cgroup": {{"pids_max": 64, "optional": true}}}}"#,
            default_policy()
        );
        for policy in [default_policy(), with_cgroup] {
            let out = sandboxed(who, &policy).sh(&script);
            // Control: the background process was running inside while the program ran.
            assert_eq!(out.ok().stdout.trim(), "1", "as {who:?}: {out:?}");
            let left = live_with(&format!("sleep {marker}"));
            assert!(left.is_empty(), "as {who:?}: still running after the supervisor exited: {left:?}");
        }
    }
}
