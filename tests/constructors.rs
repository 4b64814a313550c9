//! Constructors: the executable's own run inside the sandbox (as its pid 2, threads allowed);
//! a library constructor that started a thread before the hook, and an executable that never
//! reaches the hook, are refused before any of the program's code runs. Each check has a
//! control run. Every test runs as root and as uid 65534.

mod common;

use std::path::Path;

use common::*;

/// The default policy plus `dir` bound writable (so that a marker written by a program that ran
/// sandboxed would appear on the host).
fn writable(s: &Scratch, dir: &Path) -> String {
    policy_extending_default(
        s,
        "rw.json",
        &format!(r#""mounts": [{{"type": "bind", "source": "{}", "readonly": false}}]"#, dir.display()),
    )
}

/// The one line selfbox prints when it refuses.
fn refusal(out: &Out) -> &str {
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(out.status(), 125, "{out:?}");
    assert_eq!(lines.len(), 1, "one stderr line: {out:?}");
    assert!(lines[0].starts_with("selfbox: "), "{out:?}");
    lines[0]
}

/// The executable's constructor runs after the sandbox is built: it already sees pid 2. The
/// default policy's `${EXE_DIR}` bind makes the probe visible inside.
#[test]
fn executable_constructor_runs_inside_the_sandbox() {
    let exe = probe("ev_ctor_pid");
    let exe = exe.to_str().unwrap();
    for who in identities() {
        let out = sandboxed(who, &default_policy()).run(&[exe]);
        assert_eq!(out.ok().stdout, "ctor pid=2\nmain pid=2\n", "as {who:?}: {out:?}");
        // Control: without the preload the constructor sees the host pid.
        let ctl = bare(who).run(&[exe]);
        let lines: Vec<&str> = ctl.ok().stdout.lines().collect();
        assert_eq!(lines.len(), 2, "control as {who:?}: {ctl:?}");
        assert_ne!(lines[0], "ctor pid=2", "control as {who:?}: {ctl:?}");
        assert_eq!(lines[0].replace("ctor", "main"), lines[1], "control as {who:?}: {ctl:?}");
    }
}

/// The executable's constructor may start a thread: it runs after the single-thread guard.
#[test]
fn executable_constructor_may_start_a_thread() {
    let exe = probe("ev_ctor_thread");
    let exe = exe.to_str().unwrap();
    for who in identities() {
        let out = sandboxed(who, &default_policy()).run(&[exe]);
        assert_eq!(out.ok().stdout.trim(), "thread joined=0 result=500500 pid=2", "as {who:?}: {out:?}");
        let ctl = bare(who).run(&[exe]);
        assert!(ctl.ok().stdout.starts_with("thread joined=0 result=500500 pid="), "control as {who:?}: {ctl:?}");
        assert!(!ctl.stdout.contains("pid=2\n"), "control as {who:?}: {ctl:?}");
    }
}

/// A preloaded library whose constructor starts a thread: the process has two threads at the
/// hook, namespaces cannot be created, selfbox refuses and the program never runs.
#[test]
fn library_constructor_thread_is_refused() {
    let threads = probe("ev_libthread");
    let lib = lib().display().to_string();
    for who in identities() {
        let s = Scratch::new("libthread");
        let policy = writable(&s, &s.0);
        let marker = s.path("marker");
        let touch = format!("touch {}; hostname", marker.display());
        let preload = format!("{lib} {}", threads.display());
        let out = sandboxed(who, &policy).env("LD_PRELOAD", &preload).sh(&touch);
        let line = refusal(&out);
        assert!(line.contains("thread"), "as {who:?}: {line}");
        assert!(!marker.exists(), "as {who:?}: the program ran");
        // Control: without that library the same run builds the sandbox and writes the marker.
        let ctl = sandboxed(who, &policy).sh(&touch);
        assert_eq!(ctl.ok().stdout.trim(), "sandbox", "control as {who:?}: {ctl:?}");
        assert!(marker.exists(), "control as {who:?}: no marker");
        std::fs::remove_file(&marker).unwrap();
        // Control: the library itself does not stop a program that is not sandboxed.
        let ctl = bare(who).env("LD_PRELOAD", &threads.display().to_string()).sh(&touch);
        assert!(ctl.ok().stdout.trim() != "sandbox" && marker.exists(), "control as {who:?}: {ctl:?}");
    }
}

/// An executable with its own `_start` never calls `__libc_start_main`: the library's constructor
/// refuses it before its code runs (else it would run unsandboxed).
#[test]
fn executable_without_libc_start_main_is_refused() {
    let exe = probe("ev_own_entry");
    let exe = exe.to_str().unwrap();
    for who in identities() {
        let s = Scratch::new("own-entry");
        let policy = writable(&s, &s.0);
        let marker = s.path("marker");
        let m = marker.display().to_string();
        let out = sandboxed(who, &policy).env("EV_MARKER", &m).run(&[exe]);
        let line = refusal(&out);
        assert!(line.contains("__libc_start_main"), "as {who:?}: {line}");
        assert!(out.stdout.is_empty(), "as {who:?}: {out:?}");
        assert!(!marker.exists(), "as {who:?}: the program ran");
        // Control: without the preload it runs and writes the marker.
        let ctl = bare(who).env("EV_MARKER", &m).run(&[exe]);
        assert_eq!(ctl.ok().stdout, "own entry ran\n", "control as {who:?}: {ctl:?}");
        assert_eq!(std::fs::read_to_string(&marker).unwrap(), "ran\n", "control as {who:?}");
    }
}
