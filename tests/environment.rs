//! The program's environment: the preload's own variables and its own `LD_PRELOAD` entry are gone
//! from `environ`, from `/proc/self/environ` and from every child, other preloaded objects stay;
//! children are not sandboxed again; the policy's `env` section. Each check has a control run
//! that shows it would notice the opposite. Every test runs as root and as uid 65534.

mod common;

use std::path::Path;

use common::*;

/// The preload's variables as the caller sets them.
const OWN: &[&str] = &["SELFBOX_POLICY", "POLICY", "SELFBOX_LOG"];

/// A policy file: the default plus read-only binds of `dirs` (the scratch and probe directories
/// live under /tmp, which is a fresh tmpfs inside).
fn with_binds(s: &Scratch, name: &str, dirs: &[&Path]) -> String {
    policy_extending_default(s, name, &format!(r#""mounts": [{}]"#, binds(dirs)))
}

fn binds(dirs: &[&Path]) -> String {
    dirs.iter().map(|d| format!(r#"{{"type": "bind", "source": "{}"}}"#, d.display())).collect::<Vec<_>>().join(", ")
}

/// The harmless preloaded object and the directory it lives in.
fn noop() -> (std::path::PathBuf, std::path::PathBuf) {
    let so = probe("ev_noop");
    let dir = so.parent().unwrap().to_path_buf();
    (so, dir)
}

/// What is wrong with a `NAME=value` listing: the preload's variables, or an `LD_PRELOAD` that is
/// not exactly the other object. Empty when the listing is clean.
fn leaks(listing: &str, other: &Path) -> Vec<String> {
    let mut bad = Vec::new();
    let lines: Vec<&str> = listing.lines().filter(|l| !l.is_empty()).collect();
    if !lines.iter().any(|l| l.starts_with("PATH=")) {
        bad.push("no PATH= line: not an environment listing".to_owned());
    }
    for l in &lines {
        if OWN.iter().any(|v| l.starts_with(&format!("{v}="))) {
            bad.push(format!("own variable: {l}"));
        }
        if l.contains("libselfbox") {
            bad.push(format!("the library is named: {l}"));
        }
    }
    let preload: Vec<&&str> = lines.iter().filter(|l| l.starts_with("LD_PRELOAD=")).collect();
    if preload.len() != 1 || *preload[0] != format!("LD_PRELOAD={}", other.display()) {
        bad.push(format!("LD_PRELOAD is {preload:?}, expected only {}", other.display()));
    }
    bad
}

/// Splits a script's output at lines "@@".
fn sections(out: &str) -> Vec<String> {
    let mut v = vec![String::new()];
    for l in out.lines() {
        if l == "@@" {
            v.push(String::new());
        } else {
            let last = v.last_mut().unwrap();
            last.push_str(l);
            last.push('\n');
        }
    }
    v
}

/// bash: its own /proc/PID/environ, its shell variables, a child's and a grandchild's
/// environment, and which preloaded objects bash and a child have mapped.
const BASH_SCRIPT: &str = r#"tr '\0' '\n' < /proc/$$/environ; echo @@
for v in PATH SELFBOX_POLICY POLICY SELFBOX_LOG LD_PRELOAD; do [ "${!v+set}" ] && echo "$v=${!v}"; done; echo @@
env; echo @@
sh -c 'sh -c env; :'; echo @@
grep -c ev_noop /proc/$$/maps; grep -c libselfbox /proc/$$/maps
sh -c 'grep -c ev_noop /proc/self/maps; grep -c libselfbox /proc/self/maps; :'; echo @@
ls / | wc -l; hostname"#;

/// python: os.environ, /proc/self/environ, a subprocess's environment.
const PY_SCRIPT: &str = r#"import os, subprocess
print('\n'.join(k + '=' + v for k, v in os.environ.items()))
print('@@')
raw = open('/proc/self/environ', 'rb').read()
print('\n'.join(e.decode() for e in raw.split(b'\0') if e))
print('@@')
print(subprocess.run(['/usr/bin/env'], capture_output=True, text=True).stdout)
"#;

#[test]
fn own_variables_and_own_preload_entry_are_gone_other_preloads_stay() {
    let (so, probes) = noop();
    let lib = lib().display().to_string();
    for who in identities() {
        let s = Scratch::new("env-own");
        let policy = with_binds(&s, "p.json", &[&s.0, &probes]);
        // Both separators ld.so accepts, with the library first and last.
        for preload in [format!("{lib} {}", so.display()), format!("{}:{lib}", so.display())] {
            // The harness's own LD_PRELOAD= comes first on env's command line; ours replaces it.
            let run = || {
                sandboxed(who, &policy).env("POLICY", &policy).env("SELFBOX_LOG", "error").env("LD_PRELOAD", &preload)
            };
            let out = run().run(&["/bin/bash", "-c", BASH_SCRIPT]);
            out.ok();
            assert!(!out.stderr.contains("cannot be preloaded"), "as {who:?}: {out:?}");
            let sec = sections(&out.stdout);
            assert_eq!(sec.len(), 6, "as {who:?}: {out:?}");
            for (i, what) in
                ["/proc/$$/environ", "bash's variables", "a child's env", "a grandchild's env"].iter().enumerate()
            {
                let bad = leaks(&sec[i], &so);
                assert!(bad.is_empty(), "as {who:?}, {preload}, {what}: {bad:?}\n{}", sec[i]);
            }
            // Both objects were preloaded into the program (so our LD_PRELOAD won), and the sandbox
            // was built; a child loads only the other object.
            let maps: Vec<&str> = sec[4].lines().collect();
            assert!(maps[0] != "0" && maps[1] != "0", "as {who:?}: program maps {maps:?}");
            assert!(maps[2] != "0" && maps[3] == "0", "as {who:?}: child maps {maps:?}");
            assert_eq!(sec[5].lines().nth(1), Some("sandbox"), "as {who:?}: {out:?}");

            let py = run().run(&["/usr/bin/python3", "-c", PY_SCRIPT]);
            py.ok();
            let sec = sections(&py.stdout);
            assert_eq!(sec.len(), 3, "as {who:?}: {py:?}");
            for (i, what) in ["os.environ", "/proc/self/environ", "subprocess env"].iter().enumerate() {
                let bad = leaks(&sec[i], &so);
                assert!(bad.is_empty(), "as {who:?}, {preload}, python {what}: {bad:?}\n{}", sec[i]);
            }
            // The raw block holds no trace of the removed strings either (they are zeroed).
            let raw = run().sh("cat /proc/$$/environ; sh -c 'cat /proc/$$/environ'");
            assert!(!raw.ok().stdout.contains("libselfbox"), "as {who:?}: {raw:?}");
            assert!(!raw.stdout.contains("SELFBOX_") && !raw.stdout.contains("\0POLICY="), "as {who:?}: {raw:?}");
        }

        // Control: without the preload every listing shows the variables.
        let ctl = bare(who)
            .env("SELFBOX_POLICY", &policy)
            .env("POLICY", &policy)
            .env("SELFBOX_LOG", "error")
            .env("LD_PRELOAD", &so.display().to_string())
            .run(&["/bin/bash", "-c", BASH_SCRIPT]);
        let sec = sections(&ctl.stdout);
        for section in sec.iter().take(4) {
            let bad = leaks(section, &so);
            for v in OWN {
                assert!(
                    bad.iter().any(|b| b.contains(&format!("{v}="))),
                    "control as {who:?}: {v} not seen in {}",
                    section
                );
            }
        }
        let py = bare(who)
            .env("SELFBOX_POLICY", &policy)
            .env("POLICY", &policy)
            .env("SELFBOX_LOG", "error")
            .env("LD_PRELOAD", &format!("{lib}_not_loaded {}", so.display()))
            .run(&["/usr/bin/python3", "-c", PY_SCRIPT]);
        for sec in sections(&py.stdout) {
            assert!(!leaks(&sec, &so).is_empty(), "control as {who:?}: {sec}");
        }
    }
}

/// An inline policy's text is not readable in /proc/self/environ (or a child's).
#[test]
fn inline_policy_text_is_not_in_proc_environ() {
    let (_, probes) = noop();
    for who in identities() {
        let s = Scratch::new("env-inline");
        let marker = format!("ev-inline-{}", std::process::id());
        let inline = format!(
            r#"{{"selfbox": 1, "description": "{marker}", "extends": "{}", "mounts": [{}]}}"#,
            default_policy(),
            binds(&[&s.0, &probes])
        );
        let script = "cat /proc/$$/environ; echo; sh -c 'cat /proc/$$/environ; :'; echo; env; hostname";
        let out = sandboxed(who, &inline).sh(script);
        assert!(out.ok().stdout.ends_with("sandbox\n"), "as {who:?}: {out:?}");
        assert!(!out.stdout.contains(&marker), "as {who:?}: {out:?}");
        assert!(!out.stdout.contains("\"selfbox\""), "as {who:?}: {out:?}");
        let py =
            sandboxed(who, &inline).run(&["/usr/bin/python3", "-c", "print(open('/proc/self/environ','rb').read())"]);
        assert!(!py.ok().stdout.contains(&marker), "as {who:?}: {py:?}");
        // Control: the same variable is readable there without the preload.
        let ctl = bare(who).env("SELFBOX_POLICY", &inline).sh(script);
        assert!(ctl.stdout.contains(&marker), "control as {who:?}: {ctl:?}");
    }
}

/// A preloaded library's constructor puts `SELFBOX_LOG=error` into the environment with
/// putenv and a string literal (read-only memory, outside the kernel's environment block):
/// selfbox drops the variable without writing to the string, and the program runs without it.
/// Control: without selfbox the variable is there, so the drop is what the check sees.
#[test]
fn variables_set_by_constructors_are_dropped_without_writing_them() {
    let putenv = probe("ev_putenv").display().to_string();
    for who in identities() {
        let preload = format!("{} {putenv}", lib().display());
        let out = sandboxed(who, &default_policy()).env("LD_PRELOAD", &preload).sh("env; hostname");
        assert!(out.ok().stdout.ends_with("sandbox\n"), "as {who:?}: {out:?}");
        assert!(!out.stdout.contains("SELFBOX_LOG"), "as {who:?}: {out:?}");
        let ctl = bare(who).env("LD_PRELOAD", &putenv).sh("env");
        assert!(ctl.ok().stdout.contains("SELFBOX_LOG=error"), "control as {who:?}: {ctl:?}");
    }
}

fn guard_lines(stderr: &str) -> usize {
    stderr.lines().filter(|l| l.contains("guards passed")).count()
}

/// A child that execs another dynamically linked program is not sandboxed again: the library's
/// entry is gone from its LD_PRELOAD, so only one sandbox starts.
#[test]
fn children_are_not_sandboxed_again() {
    let lib_dir = lib().parent().unwrap().to_path_buf();
    for who in identities() {
        let s = Scratch::new("env-nested");
        // The library and a policy are visible inside, so only LD_PRELOAD decides.
        let inner = s.file("inner.json", &format!(r#"{{"selfbox": 1, "extends": "{}"}}"#, default_policy()));
        let policy = with_binds(&s, "p.json", &[&s.0, &lib_dir, &repo().join("policy")]);
        // "; :" keeps each shell from exec'ing its last command, so the inner sh is a new process.
        let out = sandboxed(who, &policy)
            .env("SELFBOX_LOG", "debug")
            .sh(r#"echo $$; sh -c "sh -c 'echo \$\$; hostname'; :"; :"#);
        let lines: Vec<&str> = out.ok().stdout.lines().collect();
        assert_eq!(lines.len(), 3, "as {who:?}: {out:?}");
        assert_eq!(lines[0], "2", "as {who:?}: {out:?}");
        assert_ne!(lines[1], "2", "as {who:?}: nested sandbox? {out:?}");
        assert_eq!(lines[2], "sandbox", "as {who:?}: {out:?}");
        assert_eq!(guard_lines(&out.stderr), 1, "as {who:?}: {out:?}");

        // Control: re-setting the preload inside does start a second sandbox (whether or not it
        // can finish here: a nested /proc may be refused), which the checks above would notice.
        let again = format!(
            "echo $$; LD_PRELOAD={} SELFBOX_POLICY={} SELFBOX_LOG=debug sh -c 'echo $$'; echo rc=$?",
            lib().display(),
            inner.display()
        );
        let ctl = sandboxed(who, &policy).env("SELFBOX_LOG", "debug").sh(&again);
        assert_eq!(guard_lines(&ctl.stderr), 2, "control as {who:?}: {ctl:?}");
        let inner_pid_2 = ctl.stdout.lines().nth(1) == Some("2");
        let inner_refused = ctl.stdout.contains("rc=125");
        assert!(inner_pid_2 || inner_refused, "control as {who:?}: {ctl:?}");
    }
}

fn listing(out: &Out) -> Vec<String> {
    out.stdout.lines().map(String::from).collect()
}

fn has(l: &[String], entry: &str) -> bool {
    l.iter().any(|e| e == entry)
}

fn named(l: &[String], name: &str) -> Vec<String> {
    l.iter().filter(|e| e.starts_with(&format!("{name}="))).cloned().collect()
}

/// `clear` with `keep`, `set` with a variable expanded, `unset`; the caller's variables for them.
#[test]
fn env_section_clear_keep_set_unset() {
    let (_, probes) = noop();
    let caller = [("EV_KEEP", "k1"), ("EV_DROP", "d1"), ("EV_UNSET", "u1"), ("EV_OVER", "old1"), ("HOME", "/ev-home")];
    for who in identities() {
        let s = Scratch::new("env-section");
        let mounts = format!(r#""mounts": [{}]"#, binds(&[&s.0, &probes]));
        let clear = policy_extending_default(
            &s,
            "clear.json",
            &format!(
                r#"{mounts}, "env": {{"clear": true, "keep": ["PATH", "EV_KEEP", "EV_MISSING"],
                    "set": {{"EV_HOME": "${{HOME}}/sub", "EV_UID": "${{UID}}", "EV_OVER": "new1"}}}}"#
            ),
        );
        let unset = policy_extending_default(
            &s,
            "unset.json",
            &format!(r#"{mounts}, "env": {{"unset": ["EV_UNSET", "EV_MISSING"], "set": {{"EV_OVER": "new1"}}}}"#),
        );
        let with_caller = |mut r: Run| {
            for (k, v) in caller {
                r = r.env(k, v);
            }
            r
        };
        let uid = if who == Who::Root { 0 } else { who.uid() };

        // clear: exactly what keep and set give, in the program and in its /proc environ.
        let out = with_caller(sandboxed(who, &clear)).run(&["/usr/bin/env"]);
        let mut got = listing(out.ok());
        got.sort();
        let path = named(&got, "PATH");
        assert_eq!(path.len(), 1, "as {who:?}: {got:?}");
        let mut want = vec![
            path[0].clone(),
            "EV_KEEP=k1".to_owned(),
            "EV_HOME=/ev-home/sub".to_owned(),
            format!("EV_UID={uid}"),
            "EV_OVER=new1".to_owned(),
        ];
        want.sort();
        assert_eq!(got, want, "as {who:?}");
        let proc = with_caller(sandboxed(who, &clear)).sh("tr '\\0' '\\n' < /proc/$$/environ | grep . ; hostname");
        let p = listing(proc.ok());
        assert_eq!(p.last().map(String::as_str), Some("sandbox"), "as {who:?}");
        for gone in ["EV_DROP=d1", "EV_UNSET=u1", "EV_OVER=old1", "HOME=/ev-home"] {
            assert!(!has(&p, gone), "as {who:?}: {gone} still in /proc environ: {p:?}");
        }
        assert!(has(&p, "EV_KEEP=k1"), "as {who:?}: {p:?}");

        // unset and set without clear: everything else stays.
        let out = with_caller(sandboxed(who, &unset)).run(&["/usr/bin/env"]);
        let got = listing(out.ok());
        assert!(
            has(&got, "EV_KEEP=k1") && has(&got, "EV_DROP=d1") && has(&got, "HOME=/ev-home"),
            "as {who:?}: {got:?}"
        );
        assert!(named(&got, "EV_UNSET").is_empty(), "as {who:?}: {got:?}");
        assert_eq!(named(&got, "EV_OVER"), ["EV_OVER=new1"], "as {who:?}: {got:?}");

        // Control: the caller's environment does hold all of it.
        let ctl = listing(&with_caller(bare(who)).run(&["/usr/bin/env"]));
        for (k, v) in caller {
            assert!(has(&ctl, &format!("{k}={v}")), "control as {who:?}: {k}");
        }
        assert!(named(&ctl, "EV_HOME").is_empty());
    }
}

/// Listing the preload's variables and LD_PRELOAD in `keep` does not bring them back.
#[test]
fn preload_variables_cannot_leak_through_keep() {
    let (so, probes) = noop();
    let lib = lib().display().to_string();
    for who in identities() {
        let s = Scratch::new("env-keep");
        let policy = policy_extending_default(
            &s,
            "keep.json",
            &format!(
                r#""mounts": [{}], "env": {{"clear": true, "keep": ["PATH", "LD_PRELOAD", "SELFBOX_POLICY", "POLICY", "SELFBOX_LOG", "SELFBOX_STATUS_FD"]}}"#,
                binds(&[&s.0, &probes])
            ),
        );
        let base = || sandboxed(who, &policy).env("POLICY", &policy).env("SELFBOX_LOG", "error");
        // With another object: LD_PRELOAD is kept without this library.
        let out = base().env("LD_PRELOAD", &format!("{lib} {}", so.display())).run(&["/usr/bin/env"]);
        let got = listing(out.ok());
        let bad = leaks(&out.stdout, &so);
        assert!(bad.is_empty(), "as {who:?}: {bad:?} in {got:?}");
        assert_eq!(got.len(), 2, "as {who:?}: only PATH and LD_PRELOAD: {got:?}");
        // With this library alone: LD_PRELOAD is gone entirely.
        let out = base().run(&["/usr/bin/env"]);
        let got = listing(out.ok());
        assert_eq!(got.len(), 1, "as {who:?}: only PATH: {got:?}");
        assert!(got[0].starts_with("PATH="), "as {who:?}: {got:?}");
        let raw = base().sh("cat /proc/$$/environ");
        assert!(!raw.ok().stdout.contains("SELFBOX") && !raw.stdout.contains("libselfbox"), "as {who:?}: {raw:?}");
        // Control: the same keep list without the preload lets them through.
        let ctl = bare(who)
            .env("SELFBOX_POLICY", &policy)
            .env("POLICY", &policy)
            .env("SELFBOX_LOG", "error")
            .run(&["/usr/bin/env"]);
        for v in OWN {
            assert!(!named(&listing(&ctl), v).is_empty(), "control as {who:?}: {v}");
        }
    }
}

/// Runs `inner` in bash with LD_PRELOAD set to `[lib] <dir>/<name>`, where `name` is `ev-noop-`,
/// `odd` bytes 0xff (not UTF-8) and `.so`: the harness's `env` arguments are text, so a bare
/// shell sets the variable and execs bash, which the preload (when listed) sandboxes.
fn odd_preload(who: Who, s: &Scratch, odd: usize, with_lib: bool, inner: &str) -> Out {
    use std::os::unix::ffi::OsStrExt;
    let mut name = b"ev-noop-".to_vec();
    name.extend(std::iter::repeat_n(0xffu8, odd));
    name.extend(b".so");
    let file = s.0.join(std::ffi::OsStr::from_bytes(&name));
    if !file.exists() {
        std::fs::copy(probe("ev_noop"), &file).unwrap();
    }
    let fmt = format!("ev-noop-{}.so", "\\377".repeat(odd));
    let first = if with_lib { "$1 " } else { "" };
    let set = format!(r#"o="$2/$(printf '{fmt}')"; LD_PRELOAD="{first}$o" exec /bin/bash -c "$3""#);
    let policy = with_binds(s, "p.json", &[&s.0]);
    let lib = lib().display().to_string();
    let dir = s.0.display().to_string();
    bare(who).env("SELFBOX_POLICY", &policy).run(&["/bin/sh", "-c", &set, "sh", &lib, &dir, inner])
}

/// Another preloaded object whose path is not UTF-8 stays usable: children still load it.
#[test]
fn non_utf8_preload_entries_stay_intact() {
    let inner = "sh -c 'grep -c ev-noop- /proc/self/maps; :'; echo $$";
    for who in identities() {
        let s = Scratch::new("env-odd");
        // Control: without the library, a child loads the object (the check can see it).
        let ctl = odd_preload(who, &s, 1, false, inner);
        let lines: Vec<&str> = ctl.stdout.lines().collect();
        assert!(lines.len() == 2 && lines[0] != "0" && lines[1] != "2", "control as {who:?}: {ctl:?}");
        assert!(!ctl.stderr.contains("cannot be preloaded"), "control as {who:?}: {ctl:?}");
        let out = odd_preload(who, &s, 1, true, inner);
        assert_eq!(out.status(), 0, "as {who:?}: {out:?}");
        assert!(!out.stderr.contains("cannot be preloaded"), "as {who:?}: the entry was rewritten: {}", out.stderr);
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines.len(), 2, "as {who:?}: {out:?}");
        assert_ne!(lines[0], "0", "as {who:?}: a child did not load the object: {out:?}");
        assert_eq!(lines[1], "2", "as {who:?}: {out:?}");
    }
}

/// A long non-UTF-8 entry: rewriting LD_PRELOAD must not fail (and never outside the one-line,
/// status-125 path).
#[test]
fn long_non_utf8_preload_entry_does_not_break_setup() {
    let inner = "sh -c 'grep -c ev-noop- /proc/self/maps; :'; echo $$";
    for who in identities() {
        let s = Scratch::new("env-odd-long");
        let ctl = odd_preload(who, &s, 60, false, inner);
        assert!(ctl.ok().stdout.lines().next() != Some("0"), "control as {who:?}: {ctl:?}");
        let out = odd_preload(who, &s, 60, true, inner);
        assert_eq!(out.status(), 0, "as {who:?}: {out:?}");
        assert_eq!(out.stdout.lines().nth(1), Some("2"), "as {who:?}: {out:?}");
    }
}
