//! The `selfbox` command end to end: `run` refuses what LD_PRELOAD cannot protect and runs the
//! rest sandboxed, `check` and `explain` read policies as the preload does, `wrap` writes working
//! wrappers, `scripts/install` lays out a working installation. Each check has a control that
//! shows it could fail; the tool runs as root and as uid 65534 where that makes sense.

mod common;

use common::*;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// Helpers

/// Runs the built `selfbox` with `args` under `run` (its identity, environment and timeout).
fn sb(run: &Run, args: &[&str]) -> Out {
    let t = tool().display().to_string();
    let mut argv = vec![t.as_str()];
    argv.extend_from_slice(args);
    run.run(&argv)
}

/// `selfbox ARGS` as `who` with a clean environment.
fn selfbox(who: Who, args: &[&str]) -> Out {
    sb(&bare(who), args)
}

/// Prints a reason a check was skipped where `cargo test` shows it (not captured).
fn skip(what: &str, why: &str) {
    let _ = writeln!(std::io::stderr(), "SKIP {what}: {why}");
}

/// Whether gcc links a trivial program with `flags`; the error text when it cannot.
fn gcc_can(flags: &[&str]) -> Result<(), String> {
    let s = Scratch::new("gcc");
    let src = s.file("t.c", "int main(void) { return 0; }\n");
    let out = Command::new("timeout")
        .args(["120", "gcc", "-o"])
        .arg(s.path("t"))
        .arg(&src)
        .args(flags)
        .output()
        .map_err(|e| format!("gcc: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).lines().take(2).collect::<Vec<_>>().join(" | "))
    }
}

/// `KEY=value` lines the tl_* probes print (pid, host, arg).
fn field<'a>(out: &'a Out, key: &str) -> Vec<&'a str> {
    out.stdout.lines().filter_map(|l| l.strip_prefix(key)?.strip_prefix('=')).collect()
}

/// The probe ran sandboxed: it was PID 2 in its namespace and saw the policy's hostname.
fn assert_sandboxed(out: &Out, ctx: &str) {
    assert_eq!(out.status(), 0, "{ctx}: {out:#?}");
    assert_eq!(field(out, "pid"), ["2"], "{ctx}: {out:#?}");
    assert_eq!(field(out, "host"), ["sandbox"], "{ctx}: {out:#?}");
}

/// The probe ran outside any sandbox: a host pid and the host's name.
fn assert_unsandboxed(out: &Out, ctx: &str) {
    let pid = field(out, "pid");
    assert_eq!(pid.len(), 1, "{ctx}: the program did not run: {out:#?}");
    assert_ne!(pid[0], "2", "{ctx}: {out:#?}");
    assert_ne!(field(out, "host"), ["sandbox"], "{ctx}: {out:#?}");
}

/// A refusal: exit 125, nothing on stdout, exactly one stderr line with `prefix` naming `why`.
fn assert_refused(out: &Out, prefix: &str, why: &[&str], ctx: &str) {
    assert_eq!(out.status(), 125, "{ctx}: {out:#?}");
    assert_eq!(out.stdout, "", "{ctx}: the program ran? {out:#?}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{ctx}: not exactly one stderr line: {out:#?}");
    assert!(lines[0].starts_with(prefix), "{ctx}: {:?} does not start with {prefix:?}", lines[0]);
    for w in why {
        assert!(lines[0].contains(w), "{ctx}: {:?} does not say {w:?}", lines[0]);
    }
}

/// A copy of a built probe in `s` with `mode`, owned by root:root when running as root.
fn copy_probe(s: &Scratch, probe_name: &str, as_name: &str, mode: u32) -> PathBuf {
    let dst = s.path(as_name);
    std::fs::copy(probe(probe_name), &dst).unwrap();
    if is_root() {
        std::os::unix::fs::chown(&dst, Some(0), Some(0)).unwrap();
    }
    // After chown, which clears the set-id bits.
    std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(mode)).unwrap();
    dst
}

fn who_tag(who: Who) -> &'static str {
    match who {
        Who::Root => "root",
        Who::User => "user",
    }
}

/// Refusal by `selfbox run` of `program` (with ARGS), as `who`, with the marker it would write:
/// the refusal line names `why`, and the marker never appears.
fn assert_run_refuses(who: Who, s: &Scratch, program: &Path, why: &[&str]) {
    let marker = s.path(&format!("marker-refused-{}-{}", who_tag(who), program.file_name().unwrap().to_string_lossy()));
    let m = marker.display().to_string();
    let p = program.display().to_string();
    let out = sb(&bare(who).env("TL_MARKER", &m), &["run", "--", &p, "arg"]);
    assert_refused(&out, "selfbox: run:", why, &format!("{p} as {who:?}"));
    assert!(out.stderr.contains(&p), "the refusal names the program: {out:?}");
    std::thread::sleep(Duration::from_millis(50));
    assert!(!marker.exists(), "{p} ran as {who:?} although selfbox refused it");
}

/// Control: run without selfbox, the same program does run and writes its marker.
fn assert_runs_bare(who: Who, s: &Scratch, program: &Path) {
    let marker = s.path(&format!("marker-bare-{}-{}", who_tag(who), program.file_name().unwrap().to_string_lossy()));
    let p = program.display().to_string();
    let out = bare(who).env("TL_MARKER", &marker.display().to_string()).run(&[&p]);
    assert!(marker.exists(), "control: {p} as {who:?} did not write its marker: {out:?}");
}

/// Control: with LD_PRELOAD alone (no launcher), the program runs unsandboxed: what `run`
/// protects against.
fn assert_preload_alone_leaves_it_unsandboxed(who: Who, program: &Path) {
    let p = program.display().to_string();
    let out = sandboxed(who, &default_policy()).run(&[&p]);
    assert_unsandboxed(&out, &format!("control: {p} under LD_PRELOAD alone as {who:?}"));
}

/// A scratch policy extending the default that also binds `dir` read-only.
fn policy_binding(s: &Scratch, name: &str, dir: &Path) -> String {
    policy_extending_default(s, name, &format!(r#""mounts": [{{"type": "bind", "source": "{}"}}]"#, dir.display()))
}

/// `selfbox check` output parsed by Python's json module: one line per requested value.
fn parse_json(json: &str, py_expr_lines: &str) -> Vec<String> {
    let script = format!("import json, sys\nd = json.load(sys.stdin)\n{py_expr_lines}\n");
    let me = if is_root() { Who::Root } else { Who::User };
    let out = bare(me).stdin(json.as_bytes()).run(&["/usr/bin/python3", "-c", &script]);
    assert_eq!(out.status(), 0, "python could not parse the JSON: {out:#?}\n{json}");
    out.stdout.lines().map(String::from).collect()
}

/// The score of an `explain` output.
fn exposure(out: &Out) -> f64 {
    let line = out.stdout.lines().find(|l| l.starts_with("Overall exposure: ")).unwrap_or_else(|| panic!("{out:#?}"));
    let rest = line.strip_prefix("Overall exposure: ").unwrap();
    let (score, tail) = rest.split_once(" / 10").unwrap_or_else(|| panic!("{line:?}"));
    assert!(tail.is_empty() || tail.starts_with("  "), "{line:?}");
    score.trim().parse().unwrap_or_else(|e| panic!("{line:?}: {e}"))
}

/// (name, home) of `uid` in /etc/passwd, as the preload reads it.
fn passwd_entry(uid: u32) -> (String, String) {
    let text = std::fs::read_to_string("/etc/passwd").unwrap();
    text.lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 6 && f[2] == uid.to_string()).then(|| (f[0].to_owned(), f[5].to_owned()))
        })
        .unwrap_or_else(|| panic!("uid {uid} is not in /etc/passwd"))
}

/// The first executable `name` in `dirs`, as execvp would find it.
fn which(name: &str, dirs: &[&str]) -> Option<PathBuf> {
    dirs.iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// A scratch policy extending the default that sets TL_USER, TL_HOME, TL_TMP and TL_EXE in the
/// program's environment from the variables of the same names.
fn policy_with_vars(s: &Scratch) -> String {
    policy_extending_default(
        s,
        "vars.json",
        r#""env": {"set": {"TL_USER": "${USER}", "TL_HOME": "${HOME}", "TL_TMP": "${TMPDIR}", "TL_EXE": "${EXE}"}}"#,
    )
}

const VAR_KEYS: [&str; 4] = ["TL_USER", "TL_HOME", "TL_TMP", "TL_EXE"];

/// The TL_* values `selfbox check` resolved, in VAR_KEYS order.
fn checked_vars(out: &Out) -> Vec<String> {
    parse_json(
        &out.ok().stdout,
        "print('\\n'.join(d['env']['set'][k] for k in ['TL_USER', 'TL_HOME', 'TL_TMP', 'TL_EXE']))",
    )
}

/// The source of the topmost mount on `/` in a mountinfo text.
fn root_mount_source(mountinfo: &str) -> String {
    let line = mountinfo
        .lines()
        .rfind(|l| l.split_whitespace().nth(4) == Some("/"))
        .unwrap_or_else(|| panic!("no / in {mountinfo}"));
    let (_, after) = line.split_once(" - ").unwrap_or_else(|| panic!("{line}"));
    after.split_whitespace().nth(1).unwrap_or_default().to_owned()
}

// ---------------------------------------------------------------------------------------------
// 1. run refuses what LD_PRELOAD cannot protect

#[test]
fn run_refuses_static_and_static_pie_executables() {
    let s = Scratch::new("static");
    for (flag, name) in [("-static", "tl_static"), ("-static-pie", "tl_static_pie")] {
        if let Err(e) = gcc_can(&[flag]) {
            skip(&format!("{name} (gcc {flag})"), &format!("static libc unavailable (install libc6-dev): {e}"));
            continue;
        }
        let exe = copy_probe(&s, name, name, 0o755);
        for who in identities() {
            assert_run_refuses(who, &s, &exe, &["statically linked", "no program interpreter"]);
            assert_runs_bare(who, &s, &exe);
            assert_preload_alone_leaves_it_unsandboxed(who, &exe);
        }
    }
}

#[test]
fn run_refuses_setuid_and_setgid_executables() {
    if !is_root() {
        skip("setuid/setgid executables", "only root can make root-owned set-id files");
        return;
    }
    let s = Scratch::new("setid");
    let plain = copy_probe(&s, "tl_dyn", "tl_plain", 0o755);
    for (mode, name, why) in [(0o4755, "tl_setuid", "is setuid"), (0o2755, "tl_setgid", "is setgid")] {
        let exe = copy_probe(&s, "tl_dyn", name, mode);
        assert_eq!(std::fs::metadata(&exe).unwrap().permissions().mode() & 0o7777, mode);
        for who in identities() {
            assert_run_refuses(who, &s, &exe, &[why, "secure-execution"]);
            assert_runs_bare(who, &s, &exe);
        }
        // The danger: as an ordinary user the loader ignores LD_PRELOAD for it.
        assert_preload_alone_leaves_it_unsandboxed(Who::User, &exe);
    }
    // Control: the same program without the bits runs, sandboxed.
    for who in identities() {
        let out = selfbox(who, &["run", "--", &plain.display().to_string()]);
        assert_sandboxed(&out, &format!("plain copy as {who:?}"));
    }
}

#[test]
fn run_refuses_executables_with_file_capabilities() {
    if !is_root() {
        skip("file capabilities", "setcap needs root");
        return;
    }
    let setcap = ["/usr/sbin/setcap", "/sbin/setcap", "/usr/bin/setcap"].into_iter().find(|p| Path::new(p).exists());
    let Some(setcap) = setcap else {
        skip("file capabilities", "setcap is missing (install libcap2-bin)");
        return;
    };
    let s = Scratch::new("fcaps");
    let exe = copy_probe(&s, "tl_dyn", "tl_caps", 0o755);
    let st = Command::new("timeout").args(["30", setcap, "cap_net_raw+ep"]).arg(&exe).status().unwrap();
    if !st.success() {
        skip("file capabilities", &format!("setcap failed on {} (no xattr support?)", exe.display()));
        return;
    }
    for who in identities() {
        assert_run_refuses(who, &s, &exe, &["has file capabilities", "secure-execution"]);
        assert_runs_bare(who, &s, &exe);
    }
    assert_preload_alone_leaves_it_unsandboxed(Who::User, &exe);
    // Control: a copy without the attribute runs, sandboxed.
    let plain = copy_probe(&s, "tl_dyn", "tl_nocaps", 0o755);
    for who in identities() {
        assert_sandboxed(&selfbox(who, &["run", "--", &plain.display().to_string()]), &format!("as {who:?}"));
    }
}

#[test]
fn run_refuses_an_executable_with_its_own_entry_point() {
    let s = Scratch::new("entry");
    let exe = copy_probe(&s, "tl_entry", "tl_entry", 0o755);
    for who in identities() {
        assert_run_refuses(who, &s, &exe, &["does not call __libc_start_main", "own entry point"]);
        assert_runs_bare(who, &s, &exe);
    }
}

#[test]
fn run_refuses_a_32_bit_executable_and_a_32_bit_library() {
    if let Err(e) = gcc_can(&["-m32"]) {
        skip("32-bit executable", &format!("gcc -m32 cannot link (install gcc-multilib): {e}"));
        return;
    }
    let s = Scratch::new("m32");
    let exe = copy_probe(&s, "tl_m32", "tl_m32", 0o755);
    for who in identities() {
        assert_run_refuses(who, &s, &exe, &["is ELF32 i386", "library is ELF64"]);
        assert_runs_bare(who, &s, &exe);
        // The danger: ld.so says "wrong ELF class ... ignored" and runs it.
        let out = sandboxed(who, &default_policy()).run(&[&exe.display().to_string()]);
        assert!(out.stderr.contains("cannot be preloaded"), "{out:?}");
        assert_unsandboxed(&out, "32-bit program under LD_PRELOAD alone");
    }
    // The other way round: a 32-bit library given for a 64-bit program.
    let lib32 = probe("tl_lib32").display().to_string();
    let dyn64 = probe("tl_dyn").display().to_string();
    for who in identities() {
        let out = sb(&bare(who).env("SELFBOX_LIB", &lib32), &["run", "-p", &default_policy(), "--", &dyn64]);
        assert_refused(&out, "selfbox: run:", &["tl_lib32", "no selfbox marker"], &format!("as {who:?}"));
        let ctl = sb(&bare(who).env("SELFBOX_LIB", &lib().display().to_string()), &["run", "--", &dyn64]);
        assert_sandboxed(&ctl, &format!("control as {who:?}"));
    }
}

#[test]
fn run_judges_a_script_by_its_interpreter() {
    if let Err(e) = gcc_can(&["-static"]) {
        skip("script with a static interpreter", &format!("static libc unavailable (install libc6-dev): {e}"));
        return;
    }
    let s = Scratch::new("script");
    let interp = copy_probe(&s, "tl_static", "tl_static_interp", 0o755);
    let script = s.file("static.sh", &format!("#!{}\n", interp.display()));
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    // A script whose interpreter is that script (the kernel follows up to 4 levels).
    let nested = s.file("nested.sh", &format!("#!{}\n", script.display()));
    std::fs::set_permissions(&nested, std::fs::Permissions::from_mode(0o755)).unwrap();
    for who in identities() {
        for sc in [&script, &nested] {
            assert_run_refuses(who, &s, sc, &["statically linked", "interpreter of"]);
            assert_runs_bare(who, &s, sc);
            assert_preload_alone_leaves_it_unsandboxed(who, sc);
        }
    }
}

#[test]
fn run_refuses_programs_it_cannot_find_or_run() {
    let s = Scratch::new("notfound");
    let name = format!("tl-no-such-program-{}", std::process::id());
    let text = s.file("data.txt", "just text, not a program\n");
    std::fs::set_permissions(&text, std::fs::Permissions::from_mode(0o755)).unwrap();
    for who in identities() {
        let env = bare(who).env("PATH", "/usr/bin:/bin");
        let out = sb(&env, &["run", "--", &name]);
        assert_refused(&out, "selfbox: run:", &[&name, "not found"], &format!("as {who:?}"));
        let missing = s.path("missing").display().to_string();
        let out = sb(&env, &["run", "--", &missing]);
        assert_refused(&out, "selfbox: run:", &[&missing, "No such file"], &format!("as {who:?}"));
        let out = sb(&env, &["run", "--", &text.display().to_string()]);
        assert_refused(&out, "selfbox: run:", &["not an ELF executable or a #! script"], &format!("as {who:?}"));
        // Control: a name found in PATH runs.
        let ok = sb(&env, &["run", "--", "hostname"]);
        assert_eq!(ok.ok().stdout.trim(), "sandbox", "as {who:?}");
    }
}

#[test]
fn run_runs_a_dynamic_program_and_a_script_sandboxed() {
    let s = Scratch::new("controls");
    let exe = copy_probe(&s, "tl_dyn", "tl_dyn", 0o755);
    let script = s.file("hello.sh", "#!/bin/sh\necho \"pid=$$\"\necho \"host=$(hostname)\"\n");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    // The script's directory is bound: the interpreter (dash) opens the script after the sandbox
    // is built, and ${EXE_DIR} is the interpreter's directory.
    let policy = policy_binding(&s, "script.json", &s.0);
    for who in identities() {
        let out = selfbox(who, &["run", "--", &exe.display().to_string()]);
        assert_sandboxed(&out, &format!("dynamic probe as {who:?}"));
        let out = selfbox(who, &["run", "-p", &policy, "--", &script.display().to_string()]);
        assert_sandboxed(&out, &format!("#!/bin/sh script as {who:?}"));
        // Controls: run directly, neither is sandboxed.
        assert_unsandboxed(&bare(who).run(&[&exe.display().to_string()]), "control");
        assert_unsandboxed(&bare(who).run(&[&script.display().to_string()]), "control");
    }
}

/// `selfbox run ./script.sh` with the default policy: the shell opens the script once the
/// sandbox is built, but ${EXE_DIR} is the interpreter's directory (/usr/bin), so the script's
/// own directory is not there.
#[test]
fn run_runs_a_script_in_its_own_directory_under_the_default_policy() {
    let s = Scratch::new("script-default");
    let script = s.file("hello.sh", "#!/bin/sh\necho \"pid=$$\"\necho \"host=$(hostname)\"\n");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    for who in identities() {
        let out = selfbox(who, &["run", "--", &script.display().to_string()]);
        assert_sandboxed(&out, &format!("#!/bin/sh script under the default policy as {who:?}"));
    }
}

// ---------------------------------------------------------------------------------------------
// 2. run details

#[test]
fn run_uses_the_policy_given_or_the_default() {
    let s = Scratch::new("policies");
    let file = policy_extending_default(&s, "file.json", r#""hostname": "from-file""#);
    let inline = format!(r#"{{"selfbox": 1, "extends": "{}", "hostname": "from-inline"}}"#, default_policy());
    let env_policy = format!(r#"{{"selfbox": 1, "extends": "{}", "hostname": "from-env"}}"#, default_policy());
    for who in identities() {
        let host = |r: &Run, args: &[&str]| {
            let mut a = vec!["run"];
            a.extend(args.iter().copied());
            a.extend(["--", "/bin/hostname"]);
            let out = sb(r, &a);
            assert_eq!(out.status(), 0, "{args:?} as {who:?}: {out:#?}");
            out.stdout.trim().to_owned()
        };
        assert_eq!(host(&bare(who), &["-p", &file]), "from-file", "as {who:?}");
        assert_eq!(host(&bare(who), &["--policy", &inline]), "from-inline", "as {who:?}");
        // A relative file path (it has a slash), from the caller's directory.
        assert_eq!(host(&bare(who).cwd(&s.0), &["-p", "./file.json"]), "from-file", "as {who:?}");
        // Without -p: the shipped default, whatever SELFBOX_POLICY the caller has.
        assert_eq!(host(&bare(who).env("SELFBOX_POLICY", &env_policy), &[]), "sandbox", "as {who:?}");
        // Control: the preload alone does follow the caller's SELFBOX_POLICY.
        let ctl = sandboxed(who, &env_policy).run(&["/bin/hostname"]);
        assert_eq!(ctl.ok().stdout.trim(), "from-env");
        // Which file: the debug log names it.
        for (args, want) in [
            (vec![], "policy/default.json (1 files)"),
            (vec!["-p", "default"], "policy/default.json (1 files)"),
            (vec!["-p", "strict"], "policy/strict.json (2 files)"),
            (vec!["--policy=strict"], "policy/strict.json (2 files)"),
        ] {
            let mut a = vec!["run", "--log", "debug"];
            a.extend(args.iter().copied());
            a.extend(["--", "/bin/true"]);
            let out = selfbox(who, &a);
            assert_eq!(out.status(), 0, "{a:?}: {out:#?}");
            let line = out.stderr.lines().find(|l| l.contains(" policy: ")).unwrap_or_else(|| panic!("{out:#?}"));
            assert!(line.contains(want), "{a:?} as {who:?}: {line}");
        }
    }
    // Behaviour: strict's allow list refuses a call the default allows (modify_ldt, x86_64).
    if cfg!(target_arch = "x86_64") {
        let py = "import ctypes; l = ctypes.CDLL(None, use_errno=True); \
                  r = l.syscall(154, 0, ctypes.create_string_buffer(16), 16); print(r, ctypes.get_errno())";
        for who in identities() {
            let run = |p: &[&str]| {
                let mut a = vec!["run"];
                a.extend(p.iter().copied());
                a.extend(["--", "/usr/bin/python3", "-c", py]);
                let out = selfbox(who, &a);
                assert_eq!(out.status(), 0, "{out:#?}");
                out.stdout.trim().to_owned()
            };
            assert_eq!(run(&["-p", "strict"]), "-1 1", "strict as {who:?}: EPERM");
            assert_eq!(run(&[]), "0 0", "default as {who:?}");
        }
    }
}

/// A POLICY without a slash is the name of a shipped policy, even when a file of that name is in
/// the current directory; `./NAME` is that file. An unknown name says so.
#[test]
fn policy_names_without_a_slash_are_shipped_policies() {
    let s = Scratch::new("policy-names");
    let shipped = repo().join("policy/default.json").canonicalize().unwrap().display().to_string();
    let here = policy_extending_default(&s, "default.json", r#""hostname": "cwd-default""#);
    policy_extending_default(&s, "mine.json", r#""hostname": "cwd-mine""#);
    let dynp = probe("tl_dyn").display().to_string();
    let last_file = "print(d['files'][-1])";
    for who in identities() {
        let r = bare(who).cwd(&s.0);
        let host = |p: &str| {
            let out = sb(&r, &["run", "-p", p, "--", "/bin/hostname"]);
            assert_eq!(out.status(), 0, "-p {p} as {who:?}: {out:#?}");
            out.stdout.trim().to_owned()
        };
        for name in ["default", "default.json"] {
            assert_eq!(host(name), "sandbox", "-p {name} as {who:?} took the file in the current directory");
            let out = sb(&r, &["check", name]);
            assert_eq!(
                parse_json(&out.ok().stdout, last_file),
                std::slice::from_ref(&shipped),
                "check {name} as {who:?}"
            );
        }
        // Control: the file here is another policy, and ./ reaches it.
        assert_eq!(host("./default.json"), "cwd-default", "as {who:?}");
        let out = sb(&r, &["check", "./default.json"]);
        assert_eq!(parse_json(&out.ok().stdout, last_file), std::slice::from_ref(&here), "as {who:?}");
        assert_eq!(host("./mine.json"), "cwd-mine", "as {who:?}");
        // No shipped policy has that name: every command says how to name the file.
        let w = s.path(&format!("w-{}", who_tag(who))).display().to_string();
        let cases: [&[&str]; 4] = [
            &["run", "-p", "mine.json", "--", "/bin/hostname"],
            &["check", "mine.json"],
            &["explain", "mine.json"],
            &["wrap", "-p", "mine.json", "-o", &w, &dynp],
        ];
        for args in cases {
            let out = sb(&r, args);
            let why = ["no shipped policy named mine.json", "(for a file in this directory, write ./mine.json)"];
            assert_refused(&out, "selfbox: ", &why, &format!("{args:?} as {who:?}"));
        }
        assert!(!Path::new(&w).exists());
    }
}

#[test]
fn run_passes_arguments_and_exit_codes_through() {
    let script = r#"printf '[%s]\n' "$0" "$@"; echo "pid=$$"; exit 7"#;
    for who in identities() {
        let out =
            selfbox(who, &["run", "--", "/bin/sh", "-c", script, "zero", "a b", "it's", "\"q\"", "", "--help", "-p"]);
        assert_eq!(out.status(), 7, "as {who:?}: {out:#?}");
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines, ["[zero]", "[a b]", "[it's]", "[\"q\"]", "[]", "[--help]", "[-p]", "pid=2"], "as {who:?}");
        // Options after the program are the program's, even without "--".
        let out = selfbox(who, &["run", "/usr/bin/printf", "%s\\n", "--help", "-p", "x"]);
        assert_eq!(out.ok().stdout, "--help\n-p\nx\n", "as {who:?}");
        // A signal death shows as 128 + N.
        let out = selfbox(who, &["run", "--", "/bin/sh", "-c", "kill -TERM $$"]);
        assert_eq!(out.status(), 128 + libc::SIGTERM, "as {who:?}: {out:#?}");
        // Control: the status is the program's, not a constant.
        assert_eq!(selfbox(who, &["run", "--", "/bin/sh", "-c", "exit 0"]).status(), 0);
    }
}

#[test]
fn run_keeps_the_callers_preloads() {
    let extra = probe("tl_preload").display().to_string();
    let script = r#"echo "pid=$$"; echo "pre=${TL_PRELOADED:-none}""#;
    for who in identities() {
        let out = sb(&bare(who).env("LD_PRELOAD", &extra), &["run", "--", "/bin/sh", "-c", script]);
        let lines: Vec<&str> = out.ok().stdout.lines().collect();
        // Loaded into the program itself ("sh"), and the program is sandboxed.
        assert_eq!(lines, ["pid=2", "pre=sh"], "as {who:?}: {out:#?}");
        // Control: without the caller's preload there is no trace.
        let ctl = selfbox(who, &["run", "--", "/bin/sh", "-c", script]);
        assert_eq!(ctl.ok().stdout.lines().collect::<Vec<_>>(), ["pid=2", "pre=none"], "control as {who:?}");
    }
}

#[test]
fn run_log_debug_prints_debug_lines() {
    for who in identities() {
        for args in [&["run", "--log", "debug", "--", "/bin/true"][..], &["run", "--log=debug", "/bin/true"]] {
            let out = selfbox(who, args);
            assert_eq!(out.status(), 0, "{out:#?}");
            let debug = out.stderr.lines().filter(|l| l.starts_with("selfbox[") && l.contains(" debug ")).count();
            assert!(debug >= 5, "{args:?} as {who:?}: {out:#?}");
        }
        // Control: without --log, nothing.
        let out = selfbox(who, &["run", "--", "/bin/true"]);
        assert_eq!(out.ok().stderr, "", "as {who:?}");
    }
}

#[test]
fn run_refuses_a_missing_or_unusable_library() {
    let s = Scratch::new("nolib");
    let private = s.path("private.so");
    std::fs::copy(lib(), &private).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600)).unwrap();
    let dynp = probe("tl_dyn").display().to_string();
    let hint = "(build it with `cargo build --release`, install it, or set SELFBOX_LIB)";
    for who in identities() {
        let mut cases = vec![
            ("/nonexistent/libselfbox.so", "No such file"),
            ("/etc/passwd", "not an ELF file"),
            ("/tmp", "Is a directory"),
        ];
        // Root-owned and 0600: unreadable for uid 65534 only.
        if is_root() && who == Who::User {
            cases.push((private.to_str().unwrap(), "Permission denied"));
        }
        for (l, why) in cases {
            let marker = s.path(&format!("m-{}", who_tag(who)));
            let r = bare(who).env("SELFBOX_LIB", l).env("TL_MARKER", &marker.display().to_string());
            let out = sb(&r, &["run", "-p", &default_policy(), "--", &dynp]);
            let line = format!("selfbox: run: the library {l}:");
            assert_refused(&out, &line, &[why, hint], &format!("SELFBOX_LIB={l} as {who:?}"));
            assert!(!marker.exists());
        }
        // Control: the real library, given the same way, works.
        let out = sb(&bare(who).env("SELFBOX_LIB", &lib().display().to_string()), &["run", "--", &dynp]);
        assert_sandboxed(&out, &format!("SELFBOX_LIB=the built library as {who:?}"));
    }
}

/// Without -p, a missing library is reported as a missing default policy (the policy
/// directories are derived from the library's path), with no word about the library.
#[test]
fn run_names_a_missing_library_even_without_a_policy_option() {
    for who in identities() {
        let out = sb(&bare(who).env("SELFBOX_LIB", "/nonexistent"), &["run", "--", "/bin/true"]);
        assert_refused(&out, "selfbox: run:", &["/nonexistent", "SELFBOX_LIB"], &format!("as {who:?}"));
    }
}

/// PITFALLS 12: a preload the loader cannot load ("cannot be preloaded ... ignored") leaves the
/// program unsandboxed. The launcher only checks that SELFBOX_LIB is an ELF file of the right
/// class, so a PIE executable (or a static one) passes and the program runs outside any sandbox.
#[test]
fn run_refuses_a_library_the_loader_cannot_preload() {
    let s = Scratch::new("badlib");
    let dynp = probe("tl_dyn").display().to_string();
    for who in identities() {
        let marker = s.path(&format!("m-{}", who_tag(who)));
        let r = bare(who).env("SELFBOX_LIB", "/usr/bin/true").env("TL_MARKER", &marker.display().to_string());
        let out = sb(&r, &["run", "-p", &default_policy(), "--", &dynp]);
        assert!(!marker.exists() && field(&out, "pid").is_empty(), "ran unsandboxed as {who:?}: {out:#?}");
        assert_refused(&out, "selfbox: run:", &["/usr/bin/true"], &format!("as {who:?}"));
    }
}

// ---------------------------------------------------------------------------------------------
// 3. check

#[test]
fn check_prints_the_resolved_policy() {
    let s = Scratch::new("check");
    let good = policy_extending_default(&s, "good.json", r#""hostname": "checked""#);
    let bindir = s.dir("bin");
    let prog = copy_probe(&s, "tl_dyn", "bin/prog", 0o755);
    let bindir = bindir.canonicalize().unwrap().display().to_string();
    let default_file = repo().join("policy/default.json").canonicalize().unwrap().display().to_string();
    for who in identities() {
        let out = selfbox(who, &["check", &good]);
        assert_eq!(out.status(), 0, "as {who:?}: {out:#?}");
        assert_eq!(out.stderr, "");
        let v = parse_json(&out.stdout, "print(len(d['files']))\nprint('\\n'.join(d['files']))\nprint(d['hostname'])");
        assert_eq!(v, ["2", &default_file, &good, "checked"], "extends merged, as {who:?}");
        // ${EXE_DIR} resolved for --program.
        let binds =
            "print('\\n'.join('%s %s' % (m.get('source'), m.get('host')) for m in d['mounts'] if m['type'] == 'bind'))";
        let out = selfbox(who, &["check", "--program", &prog.display().to_string(), "default"]);
        let v = parse_json(&out.ok().stdout, binds);
        assert!(v.contains(&format!("{bindir} {bindir}")), "as {who:?}: {v:?}");
        assert!(!v.iter().any(|l| l.contains("${")), "unresolved variables: {v:?}");
        // Control: without --program, ${EXE_DIR} is /usr/bin (of /usr/bin/true).
        let out = selfbox(who, &["check", "default"]);
        let v = parse_json(&out.ok().stdout, binds);
        assert!(!v.iter().any(|l| l.contains(&bindir)), "{v:?}");
        assert!(v.contains(&"/usr/bin /usr/bin".to_owned()), "{v:?}");
    }
}

/// `check` resolves ${USER}, ${HOME}, ${TMPDIR} and ${EXE} as the preload does (src/caller.rs):
/// USER and HOME from the environment when set and not empty, /etc/passwd otherwise; TMPDIR
/// defaulting to /tmp; an absolute SELFBOX_EXE naming the executable, a relative one ignored.
#[test]
fn check_resolves_variables_as_the_preload_does() {
    let s = Scratch::new("vars");
    let policy = policy_with_vars(&s);
    let fake_exe = s.path("fake-exe").display().to_string();
    let program = Path::new("/usr/bin/env").canonicalize().unwrap().display().to_string();
    let all = ["USER", "HOME", "TMPDIR", "SELFBOX_EXE"];
    for who in identities() {
        let (pw_user, pw_home) = passwd_entry(who.uid());
        // (the environment set, the four values expected)
        type Case<'a> = (&'a [(&'a str, &'a str)], [&'a str; 4]);
        let cases: [Case; 4] = [
            (
                &[
                    ("USER", "tl-env-user"),
                    ("HOME", "/tl/env/home"),
                    ("TMPDIR", "/tl/env/tmp"),
                    ("SELFBOX_EXE", &fake_exe),
                ],
                ["tl-env-user", "/tl/env/home", "/tl/env/tmp", &fake_exe],
            ),
            (&[("USER", "tl-only-user")], ["tl-only-user", &pw_home, "/tmp", &program]),
            (
                &[("USER", ""), ("HOME", ""), ("TMPDIR", ""), ("SELFBOX_EXE", "relative/exe")],
                [&pw_user, &pw_home, "/tmp", &program],
            ),
            (&[], [&pw_user, &pw_home, "/tmp", &program]),
        ];
        for (set, want) in cases {
            let with_env = |mut r: Run| {
                for k in all {
                    r = r.env_remove(k);
                }
                for (k, v) in set {
                    r = r.env(k, v);
                }
                r
            };
            let ctx = format!("{set:?} as {who:?}");
            let out = sb(&with_env(bare(who)), &["check", "--program", &program, &policy]);
            assert_eq!(checked_vars(&out), want, "check, {ctx}");
            // The preload itself, started the same way, sees the same values.
            let out = with_env(sandboxed(who, &policy)).run(&[&program]);
            assert_eq!(out.status(), 0, "{ctx}: {out:#?}");
            let seen: Vec<&str> = VAR_KEYS
                .iter()
                .map(|k| out.stdout.lines().find_map(|l| l.strip_prefix(&format!("{k}="))).unwrap_or("<unset>"))
                .collect();
            assert_eq!(seen, want, "the preload, {ctx}");
        }
        // Control: the environment's values and passwd's differ, so each case tells them apart.
        assert_ne!(pw_user, "tl-env-user");
        assert_ne!(pw_home, "/tl/env/home");
    }
}

/// `check --program NAME` and `explain --program NAME` find NAME in PATH as `run` does.
#[test]
fn check_and_explain_find_the_program_in_path_as_run_does() {
    let s = Scratch::new("progpath");
    let bindir = s.dir("bin");
    let found = copy_probe(&s, "tl_dyn", "bin/tl_found", 0o755).canonicalize().unwrap().display().to_string();
    let bindir_c = bindir.canonicalize().unwrap().display().to_string();
    let policy = policy_with_vars(&s);
    let path_with = format!("{}:/usr/bin:/bin", bindir.display());
    for who in identities() {
        let r = bare(who).env("PATH", &path_with);
        let out = sb(&r, &["check", "--program", "tl_found", &policy]);
        assert_eq!(checked_vars(&out)[3], found, "check as {who:?}");
        let out = sb(&r, &["explain", "--program", "tl_found", "default"]);
        assert!(
            out.ok().stdout.contains(&format!(" {bindir_c} <- {bindir_c}\n")),
            "explain as {who:?}: {}",
            out.stdout
        );
        // run finds the very same program.
        assert_sandboxed(&sb(&r, &["run", "--", "tl_found"]), &format!("run tl_found as {who:?}"));
        // Control: without its directory in PATH it is not found, by any of the three.
        let r = bare(who).env("PATH", "/usr/bin:/bin");
        for cmd in ["check", "explain", "run"] {
            let args: &[&str] =
                if cmd == "run" { &["run", "--", "tl_found"] } else { &[cmd, "--program", "tl_found", "default"] };
            let out = sb(&r, args);
            assert_refused(
                &out,
                &format!("selfbox: {cmd}:"),
                &["tl_found", "not found in PATH"],
                &format!("{cmd} as {who:?}"),
            );
        }
        // And the same for a program of the system, named as people name it.
        match which("python3", &["/usr/bin", "/bin"]) {
            Some(py) => {
                let out = sb(&r, &["check", "--program", "python3", &policy]);
                let want = py.canonicalize().unwrap().display().to_string();
                assert_eq!(checked_vars(&out)[3], want, "--program python3 as {who:?}");
                assert_eq!(sb(&r, &["explain", "--program", "python3", "default"]).status(), 0, "as {who:?}");
            }
            None => skip("--program python3", "python3 is not installed"),
        }
    }
}

#[test]
fn check_reports_bad_policies_as_the_preload_does() {
    let s = Scratch::new("bad");
    let d = default_policy();
    let bad_file = s.file("bad.json", r#"{"selfbox": 1, "hostname": 5}"#).display().to_string();
    let bad_json = s.file("broken.json", "{\"selfbox\": 1,\n  \"namespaces\": [\"user\",]\n}").display().to_string();
    let cases = [
        r#"{"selfbox": 2}"#.to_owned(),
        r#"{"selfbox": 1, "bogus": 1}"#.to_owned(),
        format!(r#"{{"selfbox": 1, "extends": "{d}", "hostname": 5}}"#),
        format!(
            r#"{{"selfbox": 1, "extends": "{d}", "seccomp": {{"default_action": "allow", "rules": [{{"action": "errno", "errno": "EPERM", "syscalls": ["no_such_call"]}}]}}}}"#
        ),
        r#"{"selfbox": 1, "extends": "no-such-shipped-policy"}"#.to_owned(),
        r#"{"selfbox": 1,"#.to_owned(),
        r#"{"selfbox": 1, "namespaces": ["user"], "root": "tmpfs"}"#.to_owned(),
        format!(
            r#"{{"selfbox": 1, "extends": "{d}", "mounts": [{{"type": "bind", "source": "/nonexistent-tl-dir"}}]}}"#
        ),
        bad_file,
        bad_json,
    ];
    for who in identities() {
        for p in &cases {
            let out = selfbox(who, &["check", p]);
            assert_refused(&out, "selfbox: policy: ", &[], &format!("check {p} as {who:?}"));
            let preload = sandboxed(who, p).run(&["/bin/true"]);
            assert_eq!(preload.status(), 125, "{preload:#?}");
            assert_eq!(out.stderr, preload.stderr, "check and the preload disagree on {p} as {who:?}");
        }
        // Control: a good policy passes both.
        assert_eq!(selfbox(who, &["check", &d]).status(), 0);
        assert_eq!(sandboxed(who, &d).run(&["/bin/true"]).status(), 0);
    }
}

/// A missing policy file: the preload says `read(PATH): ENOENT (no such file)`, check says
/// `policy PATH: No such file or directory (os error 2)` (and "policy: policy").
#[test]
fn check_reports_a_missing_policy_file_as_the_preload_does() {
    let s = Scratch::new("missing-policy");
    let p = s.path("absent.json").display().to_string();
    for who in identities() {
        let out = selfbox(who, &["check", &p]);
        let preload = sandboxed(who, &p).run(&["/bin/true"]);
        assert_eq!(out.status(), 125);
        assert_eq!(out.stderr, preload.stderr, "as {who:?}");
    }
}

/// Run from a job directory holding in/ and out/, which policies binding `${CWD}/in` and
/// `${CWD}/out` (pdftotext) need.
#[test]
fn check_accepts_every_shipped_policy() {
    let s = Scratch::new("shipped");
    let job = s.dir("job");
    s.dir("job/in");
    s.dir("job/out");
    let mut seen = 0;
    for e in std::fs::read_dir(repo().join("policy")).unwrap().flatten() {
        let path = e.path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".json") || name == "schema.json" {
            continue;
        }
        seen += 1;
        let stem = name.trim_end_matches(".json");
        for who in identities() {
            for arg in [path.display().to_string(), stem.to_owned()] {
                let out = sb(&bare(who).cwd(&job), &["check", &arg]);
                assert_eq!(out.status(), 0, "{arg} as {who:?}: {out:#?}");
                let v = parse_json(&out.stdout, "print(d['files'][-1])");
                assert_eq!(v, [path.canonicalize().unwrap().display().to_string()], "{arg}");
            }
        }
    }
    assert!(seen >= 2, "default and strict at least");
}

// ---------------------------------------------------------------------------------------------
// 4. explain

/// No namespaces at all, the host's tree, no filter: as little sandbox as a policy can say.
const NO_SANDBOX: &str =
    r#"{"selfbox": 1, "namespaces": [], "root": "host", "network": "host", "close_fds": false, "no_new_privs": false}"#;
/// A fresh root holding /usr, but the host's network, processes and IPC, and no filter.
const WEAK: &str = r#"{"selfbox": 1, "namespaces": ["user", "mount"], "root": "tmpfs", "network": "host", "mounts": [{"type": "bind", "source": "/usr"}]}"#;

#[test]
fn explain_scores_policies_by_exposure() {
    for who in identities() {
        let mut scores = Vec::new();
        for p in ["strict", "default", WEAK, NO_SANDBOX] {
            let out = selfbox(who, &["explain", p]);
            assert_eq!(out.status(), 0, "{p} as {who:?}: {out:#?}");
            for section in ["Policy: ", "What the program sees:", "Checks (exposure each adds when not met):"] {
                assert!(out.stdout.lines().any(|l| l.starts_with(section)), "{p}: no {section:?}: {}", out.stdout);
            }
            let s = exposure(&out);
            assert!((0.0..=10.0).contains(&s), "{p}: {s}");
            scores.push(s);
        }
        let [strict, default, weak, none] = scores[..] else { unreachable!() };
        assert!(strict < default, "as {who:?}: strict {strict} vs default {default}");
        assert!(default < weak, "as {who:?}: default {default} vs weak {weak}");
        assert!(weak < none, "as {who:?}: weak {weak} vs none {none}");
        assert!(default < 2.0, "as {who:?}: default {default}");
        assert!(none >= 7.0, "as {who:?}: no sandbox scores only {none}");
        // The lines behind the scores.
        let out = selfbox(who, &["explain", NO_SANDBOX]);
        assert!(out.stdout.contains("  NO  network     no network but loopback"), "{}", out.stdout);
        assert!(out.stdout.contains("syscalls   no filter"), "{}", out.stdout);
        let out = selfbox(who, &["explain", "default"]);
        assert!(out.stdout.contains("  ok  network     no network but loopback"), "{}", out.stdout);
        // An invalid policy is refused as check refuses it.
        let bad = selfbox(who, &["explain", r#"{"selfbox": 2}"#]);
        assert_refused(&bad, "selfbox: policy: ", &["unsupported format version"], "explain bad");
    }
}

/// With `"root": "host"` the whole host tree is there, writable wherever the program's uid may
/// write; explain still says "ok  filesystem  no host directory is writable".
#[test]
fn explain_counts_the_hosts_tree_as_writable() {
    let s = Scratch::new("hostroot");
    let target = s.path("written");
    for who in identities() {
        // The program does write a host directory under this policy.
        let out =
            selfbox(who, &["run", "-p", NO_SANDBOX, "--", "/bin/sh", "-c", &format!("touch {}", target.display())]);
        assert_eq!(out.status(), 0, "{out:#?}");
        assert!(target.exists(), "as {who:?}");
        std::fs::remove_file(&target).unwrap();
        let out = selfbox(who, &["explain", NO_SANDBOX]);
        assert!(!out.stdout.contains("  ok  filesystem  no host directory is writable"), "{}", out.stdout);
    }
}

/// Who the program runs as depends on the caller: real root becomes run_as (nobody by default),
/// `"run_as": null` or uid 0 keeps root; any other caller stays itself whatever run_as says.
/// pivot_root is used, and named, only for a tmpfs root in a mount namespace.
#[test]
fn explain_says_who_the_program_runs_as_and_when_it_pivots() {
    let s = Scratch::new("explain-id");
    let out_dir = s.dir("out");
    let rw = format!(r#""mounts": [{{"type": "bind", "source": "{}", "readonly": false}}]"#, out_dir.display());
    let variants = [
        ("default", policy_extending_default(&s, "dflt.json", &rw)),
        ("null", policy_extending_default(&s, "null.json", &format!(r#"{rw}, "run_as": null"#))),
        ("zero", policy_extending_default(&s, "zero.json", &format!(r#"{rw}, "run_as": 0"#))),
    ];
    for who in identities() {
        let mut owners = Vec::new();
        for (tag, policy) in &variants {
            let file = out_dir.join(format!("{tag}-{}", who_tag(who)));
            let f = file.display().to_string();
            let out = selfbox(who, &["run", "-p", policy, "--", "/bin/sh", "-c", &format!("echo x > {f}")]);
            assert_eq!(out.status(), 0, "{tag} as {who:?}: {out:#?}");
            let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&file).unwrap());
            owners.push(owner);
            let out = selfbox(who, &["explain", policy]);
            let line =
                out.ok().stdout.lines().find(|l| l.contains("identity") && l.contains("started as")).map(String::from);
            let line = line.unwrap_or_else(|| panic!("no identity line: {}", out.stdout));
            let keeps_root = owner == 0;
            assert_eq!(
                line.starts_with("  NO "),
                keeps_root,
                "{tag} as {who:?}: {line} (the program's file is owned by {owner})"
            );
            if who == Who::Root {
                let says =
                    if keeps_root { "started as root, the program keeps root" } else { "runs as uid 65534 (nobody)" };
                assert!(line.contains(says), "{tag} as root: {line}");
            } else {
                assert_eq!(owner, who.uid(), "{tag} as {who:?}");
                assert!(line.contains(&format!("started as uid {}, not real root", who.uid())), "{line}");
            }
        }
        // Control: as root the variants do differ (nobody, root, root); otherwise they do not.
        let want = if who == Who::Root { vec![NOBODY, 0, 0] } else { vec![who.uid(); 3] };
        assert_eq!(owners, want, "as {who:?}");
    }
    // pivot_root: named for a tmpfs root in a mount namespace, and only then; the program's
    // root is selfbox's tmpfs exactly then.
    let host_ns = r#"{"selfbox": 1, "namespaces": ["user", "mount"], "root": "host"}"#;
    for who in identities() {
        for (policy, pivots) in [("default", true), (host_ns, false), (NO_SANDBOX, false)] {
            let out = selfbox(who, &["explain", policy]);
            let root = out.ok().stdout.lines().find(|l| l.starts_with("  root ")).unwrap_or_default().to_owned();
            assert_eq!(out.stdout.contains("pivot_root"), pivots, "{policy} as {who:?}: {}", out.stdout);
            assert_eq!(root.contains("pivot_root"), pivots, "{policy} as {who:?}: {root}");
            let run = selfbox(who, &["run", "-p", policy, "--", "/bin/cat", "/proc/self/mountinfo"]);
            let source = root_mount_source(&run.ok().stdout);
            assert_eq!(source == "selfbox", pivots, "{policy} as {who:?}: / is {source}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 5. wrap

#[test]
fn wrap_writes_a_working_wrapper() {
    let s = Scratch::new("wrap");
    let exe = copy_probe(&s, "tl_dyn", "tl_wrapped", 0o755);
    let e = exe.display().to_string();
    let args = ["a b", "it's", "\"q\"", "$HOME", "", "*", "--help"];
    for who in identities() {
        let w = s.path(&format!("wrapper-{}", who_tag(who)));
        let ws = w.display().to_string();
        let out = selfbox(who, &["wrap", "--policy", "default", "--output", &ws, &e]);
        assert_eq!(out.status(), 0, "as {who:?}: {out:#?}");
        assert_eq!(std::fs::metadata(&w).unwrap().permissions().mode() & 0o777, 0o755);
        let text = std::fs::read_to_string(&w).unwrap();
        assert!(text.starts_with("#!/bin/sh\n"), "{text}");
        assert!(text.contains(&tool().canonicalize().unwrap().display().to_string()), "{text}");
        // POSIX sh: dash parses it.
        assert_eq!(bare(who).run(&["/bin/dash", "-n", &ws]).status(), 0);
        let mut argv = vec![ws.as_str()];
        argv.extend(args);
        let out = bare(who).run(&argv);
        assert_sandboxed(&out, &format!("wrapper as {who:?}"));
        let want: Vec<String> = args.iter().map(|a| format!("[{a}]")).collect();
        assert_eq!(field(&out, "arg"), want, "arguments as {who:?}");
        // Control: the program alone is not sandboxed.
        assert_unsandboxed(&bare(who).run(&[&e]), "control");
    }
    // The launcher checks the program at every start: replaced by a static one, it is refused.
    if gcc_can(&["-static"]).is_ok() {
        let w = s.path("wrapper-replaced");
        let ws = w.display().to_string();
        let prog = copy_probe(&s, "tl_dyn", "tl_replaced", 0o755);
        let p = prog.display().to_string();
        assert_eq!(selfbox(identities()[0], &["wrap", "-p", "default", "-o", &ws, &p]).status(), 0);
        assert_sandboxed(&bare(identities()[0]).run(&[&ws]), "before the replacement");
        std::fs::remove_file(&prog).unwrap();
        std::fs::copy(probe("tl_static"), &prog).unwrap();
        for who in identities() {
            let out = bare(who).run(&[&ws]);
            assert_refused(&out, "selfbox: run:", &["statically linked"], &format!("replaced, as {who:?}"));
        }
    }
}

#[test]
fn wrap_refuses_a_relative_program_and_a_bad_policy() {
    let s = Scratch::new("wrap-bad");
    let exe = copy_probe(&s, "tl_dyn", "tl_dyn", 0o755);
    let e = exe.display().to_string();
    let bad = s.file("bad.json", r#"{"selfbox": 1, "hostname": 5}"#).display().to_string();
    for who in identities() {
        let w = s.path(&format!("w-{}", who_tag(who)));
        let ws = w.display().to_string();
        // A relative program is a usage error (exit 2), even when it names a file here.
        let out = sb(&bare(who).cwd(&s.0), &["wrap", "--policy", "default", "--output", &ws, "tl_dyn"]);
        assert_eq!(out.status(), 2, "relative program as {who:?}: {out:#?}");
        assert_eq!(out.stdout, "");
        assert_eq!(out.stderr.lines().count(), 1, "{out:#?}");
        assert!(
            out.stderr.starts_with("selfbox: wrap:") && out.stderr.contains("must be an absolute path"),
            "{out:#?}"
        );
        assert!(!w.exists(), "a relative program wrote a wrapper");
        let cases: [(&[&str], &str, &[&str]); 3] = [
            (&["wrap", "--policy", &bad, "--output", &ws, &e], "selfbox: policy:", &["/hostname"]),
            (&["wrap", "--policy", r#"{"selfbox": 2}"#, "--output", &ws, &e], "selfbox: wrap:", &["not inline JSON"]),
            (&["wrap", "--policy", "no-such-policy-tl", "--output", &ws, &e], "selfbox: wrap:", &["no-such-policy-tl"]),
        ];
        for (args, prefix, why) in cases {
            let out = sb(&bare(who).cwd(&s.0), args);
            assert_refused(&out, prefix, why, &format!("{args:?} as {who:?}"));
            assert!(!w.exists(), "{args:?} wrote a wrapper");
        }
        // Control: the same with an absolute program and a good policy writes it.
        assert_eq!(selfbox(who, &["wrap", "--policy", "default", "--output", &ws, &e]).status(), 0);
        assert!(w.exists());
    }
}

/// The program and policy paths go unquoted into the wrapper's comment lines: a newline in a
/// path (legal in file names) turns the rest of it into a shell command.
#[test]
fn wrap_paths_with_newlines_cannot_inject_commands() {
    let s = Scratch::new("wrap-nl");
    let injected = s.path("injected");
    let dir = s.dir(&format!("d\ntouch {}\n#", injected.display()));
    let prog = dir.join("prog");
    std::fs::copy(probe("tl_dyn"), &prog).unwrap();
    let w = s.path("w");
    let me = identities()[0];
    let out = selfbox(me, &["wrap", "-p", "default", "-o", &w.display().to_string(), &prog.display().to_string()]);
    assert_eq!(out.status(), 0, "{out:#?}");
    let _ = bare(me).run(&[&w.display().to_string()]);
    assert!(
        !injected.exists(),
        "the wrapper ran a command from the program's path:\n{}",
        std::fs::read_to_string(&w).unwrap()
    );
}

/// `--output` naming the program itself (the same path, another spelling of it, a hard link or
/// a symlink to it) is refused: the wrapper would replace the program.
#[test]
fn wrap_refuses_to_write_over_the_program() {
    let s = Scratch::new("wrap-self");
    let sub = s.dir("sub");
    let prog = copy_probe(&s, "tl_dyn", "prog", 0o755);
    let p = prog.display().to_string();
    let original = std::fs::read(&prog).unwrap();
    let hard = s.path("hard");
    std::fs::hard_link(&prog, &hard).unwrap();
    let soft = s.path("soft");
    std::os::unix::fs::symlink(&prog, &soft).unwrap();
    let outputs =
        [p.clone(), format!("{}/../prog", sub.display()), hard.display().to_string(), soft.display().to_string()];
    for who in identities() {
        for o in &outputs {
            let out = selfbox(who, &["wrap", "-p", "default", "-o", o, &p]);
            assert_refused(
                &out,
                "selfbox: wrap:",
                &["is the program", "would replace it"],
                &format!("-o {o} as {who:?}"),
            );
            assert_eq!(std::fs::read(&prog).unwrap(), original, "-o {o} as {who:?} changed the program");
            assert_eq!(std::fs::read(o).unwrap(), original, "-o {o} as {who:?} changed the output");
        }
        assert!(std::fs::symlink_metadata(&soft).unwrap().file_type().is_symlink());
        assert_runs_bare(who, &s, &prog);
        // Control: another output is written, and the program stays as it was.
        let w = s.path(&format!("w-{}", who_tag(who)));
        selfbox(who, &["wrap", "-p", "default", "-o", &w.display().to_string(), &p]).ok();
        assert!(std::fs::read_to_string(&w).unwrap().starts_with("#!/bin/sh\n"));
        assert_eq!(std::fs::read(&prog).unwrap(), original);
    }
}

/// Names in a directory, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

/// The wrapper is written beside the output and renamed over it: a reader of the old file keeps
/// it whole, a symlink at the output is replaced rather than written through, the mode is 0755
/// whatever the umask, and no temporary file stays behind, on success or on failure.
#[test]
fn wrap_replaces_the_output_atomically() {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let s = Scratch::new("wrap-atomic");
    let prog = copy_probe(&s, "tl_dyn", "prog", 0o755).display().to_string();
    let t = tool().display().to_string();
    let under_umask_077 = |who: Who, args: &[&str]| {
        let mut argv = vec!["/bin/sh", "-c", "umask 077; exec \"$@\"", "sh", t.as_str()];
        argv.extend_from_slice(args);
        bare(who).run(&argv)
    };
    for who in identities() {
        let dir = s.dir(&format!("out-{}", who_tag(who)));
        let w = dir.join("w");
        let ws = w.display().to_string();
        std::fs::write(&w, "old wrapper\n").unwrap();
        std::fs::set_permissions(&w, std::fs::Permissions::from_mode(0o666)).unwrap();
        let held = std::fs::File::open(&w).unwrap();
        let old_ino = std::fs::metadata(&w).unwrap().ino();
        let out = under_umask_077(who, &["wrap", "-p", "default", "-o", &ws, &prog]);
        assert_eq!(out.status(), 0, "as {who:?}: {out:#?}");
        assert_ne!(std::fs::metadata(&w).unwrap().ino(), old_ino, "as {who:?}: written in place");
        let mut old = String::new();
        (&held).read_to_string(&mut old).unwrap();
        assert_eq!(old, "old wrapper\n", "as {who:?}: the old file changed under its reader");
        assert!(std::fs::read_to_string(&w).unwrap().starts_with("#!/bin/sh\n"));
        assert_eq!(mode(&w), 0o755, "as {who:?}, umask 077");
        // A symlink at the output is replaced, its target left alone.
        let target = dir.join("target");
        std::fs::write(&target, "keep me\n").unwrap();
        let link = dir.join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let out = selfbox(who, &["wrap", "-p", "default", "-o", &link.display().to_string(), &prog]);
        assert_eq!(out.status(), 0, "as {who:?}: {out:#?}");
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_file(), "as {who:?}");
        assert!(std::fs::read_to_string(&link).unwrap().starts_with("#!/bin/sh\n"));
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me\n", "as {who:?}: written through the link");
        // A failed rename (the output is a directory) leaves no temporary file beside it.
        let d = dir.join("is-a-dir");
        std::fs::create_dir(&d).unwrap();
        let out = selfbox(who, &["wrap", "-p", "default", "-o", &d.display().to_string(), &prog]);
        assert_refused(&out, "selfbox: wrap: rename ", &["Is a directory"], &format!("as {who:?}"));
        let tmp = out.stderr.strip_prefix("selfbox: wrap: rename ").and_then(|r| r.split_once(" to ")).unwrap().0;
        assert_eq!(Path::new(tmp).parent(), Some(dir.as_path()), "the temporary file is beside the output");
        assert!(!Path::new(tmp).exists(), "as {who:?}: {tmp} left behind");
        assert_eq!(entries(&dir), ["is-a-dir", "link", "target", "w"], "as {who:?}");
        // Controls: writing in place shows through a held reader, writing to a symlink reaches
        // its target, and the umask does narrow a new file's mode.
        let ctl = s.dir(&format!("ctl-{}", who_tag(who)));
        let f = ctl.join("f");
        std::fs::write(&f, "old\n").unwrap();
        let held = std::fs::File::open(&f).unwrap();
        std::fs::write(&f, "new\n").unwrap();
        let mut seen = String::new();
        (&held).read_to_string(&mut seen).unwrap();
        assert_eq!(seen, "new\n");
        let t2 = ctl.join("target");
        std::fs::write(&t2, "keep me\n").unwrap();
        std::os::unix::fs::symlink(&t2, ctl.join("link")).unwrap();
        std::fs::write(ctl.join("link"), "through\n").unwrap();
        assert_eq!(std::fs::read_to_string(&t2).unwrap(), "through\n");
        let made = ctl.join("made");
        let out = bare(who).run(&["/bin/sh", "-c", &format!("umask 077; : > {}", made.display())]);
        assert_eq!(out.status(), 0, "{out:#?}");
        assert_eq!(mode(&made), 0o600);
    }
}

/// `wrap` judges the program as `run` judges it before every exec, so a packager learns at once;
/// `--no-check` writes the wrapper anyway (a staged install), and the launcher then refuses the
/// program at its start, for the same reason.
#[test]
fn wrap_judges_the_program_as_run_does() {
    let s = Scratch::new("wrap-judge");
    let text = s.file("text", "just text\n");
    std::fs::set_permissions(&text, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut bad: Vec<(PathBuf, &[&str])> = vec![
        (copy_probe(&s, "tl_entry", "tl_entry", 0o755), &["does not call __libc_start_main"]),
        (text, &["not an ELF executable or a #! script"]),
        (s.path("missing"), &["No such file"]),
    ];
    match gcc_can(&["-static"]) {
        Ok(()) => bad.push((copy_probe(&s, "tl_static", "tl_static", 0o755), &["statically linked"])),
        Err(e) => skip("wrap of a static program", &format!("static libc unavailable: {e}")),
    }
    if is_root() {
        bad.push((copy_probe(&s, "tl_dyn", "tl_setuid", 0o4755), &["is setuid"]));
    }
    let help = selfbox(identities()[0], &["wrap", "--help"]);
    assert!(help.ok().stdout.contains("--no-check"), "{}", help.stdout);
    for who in identities() {
        for (prog, why) in &bad {
            let p = prog.display().to_string();
            let name = prog.file_name().unwrap().to_string_lossy();
            let w = s.path(&format!("w-{}-{name}", who_tag(who)));
            let ws = w.display().to_string();
            let ctx = format!("{name} as {who:?}");
            let out = selfbox(who, &["wrap", "-p", "default", "-o", &ws, &p]);
            assert_refused(&out, "selfbox: wrap:", why, &ctx);
            assert!(out.stderr.contains(&p), "{ctx}: {out:#?}");
            if name == "missing" {
                assert!(out.stderr.contains("--no-check"), "{ctx}: {out:#?}");
            }
            assert!(!w.exists(), "{ctx}: a wrapper was written");
            // Control: --no-check writes it, and the launcher refuses the program at its start.
            let out = selfbox(who, &["wrap", "--no-check", "-p", "default", "-o", &ws, &p]);
            assert_eq!(out.status(), 0, "{ctx}: {out:#?}");
            let marker = s.path(&format!("m-{}-{name}", who_tag(who)));
            let run = bare(who).env("TL_MARKER", &marker.display().to_string()).run(&[&ws]);
            assert_refused(&run, "selfbox: run:", why, &format!("{ctx}, at start"));
            assert!(!marker.exists(), "{ctx}: the program ran");
        }
        // Control: a program run accepts is wrapped without --no-check, and runs sandboxed.
        let good = copy_probe(&s, "tl_dyn", &format!("good-{}", who_tag(who)), 0o755).display().to_string();
        let w = s.path(&format!("w-{}-good", who_tag(who))).display().to_string();
        selfbox(who, &["wrap", "-p", "default", "-o", &w, &good]).ok();
        assert_sandboxed(&bare(who).run(&[&w]), &format!("good as {who:?}"));
    }
}

/// The program gets the wrapper's name as argv[0] (the wrapper runs `selfbox run --argv0 "$0"`).
#[test]
fn wrap_passes_the_wrappers_name_as_argv0() {
    let s = Scratch::new("wrap-argv0");
    let cat = which("cat", &["/usr/bin", "/bin"]).expect("cat").display().to_string();
    let argv0 = |out: &Out| {
        assert_eq!(out.status(), 0, "{out:#?}");
        out.stdout.split('\0').next().unwrap_or_default().to_owned()
    };
    for who in identities() {
        let w = s.path(&format!("w-{}", who_tag(who))).display().to_string();
        selfbox(who, &["wrap", "-p", "default", "-o", &w, &cat]).ok();
        assert_eq!(argv0(&bare(who).run(&[&w, "/proc/self/cmdline"])), w, "as {who:?}");
        // Started through another name, that name.
        let alias = s.path(&format!("alias-{}", who_tag(who)));
        std::os::unix::fs::symlink(&w, &alias).unwrap();
        let a = alias.display().to_string();
        assert_eq!(argv0(&bare(who).run(&[&a, "/proc/self/cmdline"])), a, "as {who:?}");
        // Control: run directly, the program's argv[0] is its own path.
        assert_eq!(argv0(&selfbox(who, &["run", "--", &cat, "/proc/self/cmdline"])), cat, "as {who:?}");
    }
}

/// SELFBOX_LAUNCHER replaces the launcher written into the wrapper, and the help says so.
#[test]
fn wrap_writes_the_launcher_named_by_selfbox_launcher() {
    let s = Scratch::new("wrap-launcher");
    let prog = copy_probe(&s, "tl_dyn", "prog", 0o755).display().to_string();
    let fake = s.file("fake-launcher", "#!/bin/sh\nprintf '[%s]\\n' \"$@\"\n");
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let f = fake.display().to_string();
    let help = selfbox(identities()[0], &["wrap", "--help"]);
    assert!(help.ok().stdout.contains("SELFBOX_LAUNCHER"), "{}", help.stdout);
    let default = repo().join("policy/default.json").canonicalize().unwrap();
    for who in identities() {
        let w = s.path(&format!("w-{}", who_tag(who))).display().to_string();
        sb(&bare(who).env("SELFBOX_LAUNCHER", &f), &["wrap", "-p", "default", "-o", &w, &prog]).ok();
        let out = bare(who).run(&[&w, "a b"]);
        let lines: Vec<&str> = out.ok().stdout.lines().collect();
        assert_eq!(lines.len(), 8, "as {who:?}: {lines:?}");
        let policy = lines[4].trim_start_matches('[').trim_end_matches(']');
        assert_eq!(Path::new(policy).canonicalize().unwrap(), default, "as {who:?}");
        let want = [
            "[run]".to_owned(),
            "[--argv0]".into(),
            format!("[{w}]"),
            "[-p]".into(),
            lines[4].into(),
            "[--]".into(),
            format!("[{prog}]"),
            "[a b]".into(),
        ];
        assert_eq!(lines, want, "as {who:?}");
        // Control: without it, the wrapper runs this selfbox, which runs the program sandboxed.
        sb(&bare(who).env_remove("SELFBOX_LAUNCHER"), &["wrap", "-p", "default", "-o", &w, &prog]).ok();
        assert!(!std::fs::read_to_string(&w).unwrap().contains(&f));
        assert_sandboxed(&bare(who).run(&[&w]), &format!("as {who:?}"));
    }
}

// ---------------------------------------------------------------------------------------------
// 6. scripts/install

/// The build tree's release directory, or None (with a reason printed) for another profile.
fn release_built() -> Option<()> {
    let t = tool();
    if t.parent().and_then(Path::file_name).is_some_and(|n| n == "release") {
        Some(())
    } else {
        skip("scripts/install", "tests not built with --release; NO_BUILD=1 installs target/release");
        None
    }
}

fn install(env: &[(&str, &str)]) -> Out {
    let me = if is_root() { Who::Root } else { Who::User };
    let mut r =
        bare(me).env_remove("DESTDIR").env_remove("PREFIX").env("NO_BUILD", "1").timeout(Duration::from_secs(120));
    for (k, v) in env {
        r = r.env(k, v);
    }
    r.run(&[&repo().join("scripts/install").display().to_string()])
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o7777
}

/// The installation's compiled filters are used, as every identity, when the directories
/// above are root's and closed to others (`trusted`); otherwise the filter is built.
fn check_filters(root: &Path, trusted: bool) {
    let filters = root.join("lib/selfbox/filters");
    let n = std::fs::read_dir(&filters).map(|d| d.flatten().count()).unwrap_or(0);
    assert!(n >= 2, "{}: {n} entries (default and strict at least)", filters.display());
    let libso = root.join("lib/selfbox/libselfbox.so").display().to_string();
    for who in identities() {
        for p in ["default", "strict"] {
            let policy = repo().join(format!("policy/{p}.json")).display().to_string();
            let out = bare(who)
                .env("LD_PRELOAD", &libso)
                .env("SELFBOX_POLICY", &policy)
                .env("SELFBOX_LOG", "debug")
                .run(&["/bin/true"]);
            let from = format!("rules from {}", filters.canonicalize().unwrap().display());
            assert_eq!(out.ok().stderr.contains(&from), trusted, "{p} as {who:?}, trusted {trusted}: {out:#?}");
            let refused = format!("filter cache {} not used", filters.display());
            assert_eq!(out.stderr.contains(&refused), !trusted, "{p} as {who:?}: {out:#?}");
        }
    }
}

/// The installation's prepared /dev (made when installed as root) is bound when `trusted`, as
/// every identity; otherwise /dev is built.
fn check_dev(root: &Path, trusted: bool) {
    let dev = root.join("lib/selfbox/dev");
    assert_eq!(dev.join("null").exists(), is_root(), "{}", dev.display());
    let libso = root.join("lib/selfbox/libselfbox.so").display().to_string();
    for who in identities() {
        let out = bare(who)
            .env("LD_PRELOAD", &libso)
            .env("SELFBOX_POLICY", &default_policy())
            .env("SELFBOX_LOG", "debug")
            .run(&["/bin/sh", "-c", "echo x > /dev/null && ls /dev/pts"]);
        assert_eq!(out.ok().stdout, "ptmx\n");
        let used = out.stderr.contains("/dev: the prepared template");
        assert_eq!(used, trusted && is_root(), "as {who:?}, trusted {trusted}: {out:#?}");
        let refused = out.stderr.contains("/dev template not used: ");
        assert_eq!(refused, !trusted && is_root(), "as {who:?}: {out:#?}");
    }
}

/// Checks an installation whose PREFIX is at `root` on this machine (DESTDIR + PREFIX).
fn check_installation(s: &Scratch, root: &Path) {
    let bin = root.join("bin/selfbox");
    let libso = root.join("lib/selfbox/libselfbox.so");
    let pdir = root.join("share/selfbox/policy");
    assert_eq!(mode(&bin), 0o755);
    assert_eq!(mode(&libso), 0o644);
    let mut shipped: Vec<String> = std::fs::read_dir(repo().join("policy"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    let mut installed: Vec<String> =
        std::fs::read_dir(&pdir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    shipped.sort();
    installed.sort();
    assert_eq!(installed, shipped);
    for p in &installed {
        assert_eq!(mode(&pdir.join(p)), 0o644, "{p}");
    }
    // Mark the installed default so that runs show which default they found.
    let default = pdir.join("default.json");
    let text = std::fs::read_to_string(&default).unwrap();
    assert!(text.contains(r#""hostname": "sandbox""#));
    std::fs::write(&default, text.replace(r#""hostname": "sandbox""#, r#""hostname": "installed-default""#)).unwrap();

    let b = bin.display().to_string();
    let anywhere = s.file("anywhere.json", r#"{"selfbox": 1, "extends": "default"}"#).display().to_string();
    let dynp = probe("tl_dyn").display().to_string();
    for who in identities() {
        let r = bare(who).env_remove("SELFBOX_LIB");
        let out = r.run(&[&b, "run", "--", "/bin/sh", "-c", "echo $$"]);
        assert_eq!(out.ok().stdout.trim(), "2", "installed launcher as {who:?}");
        let out = r.run(&[&b, "run", "--", "/bin/hostname"]);
        assert_eq!(out.ok().stdout.trim(), "installed-default", "as {who:?}");
        // A policy anywhere extending "default" finds the installed one, through the launcher
        // and through the installed library alone.
        let out = r.run(&[&b, "run", "-p", &anywhere, "--", "/bin/hostname"]);
        assert_eq!(out.ok().stdout.trim(), "installed-default", "as {who:?}");
        let out = bare(who)
            .env("LD_PRELOAD", &libso.display().to_string())
            .env("SELFBOX_POLICY", &anywhere)
            .run(&["/bin/hostname"]);
        assert_eq!(out.ok().stdout.trim(), "installed-default", "installed library as {who:?}");
        let out = r.run(&[&b, "check", &anywhere]);
        let files = parse_json(&out.ok().stdout, "print('\\n'.join(d['files']))");
        assert_eq!(files, [default.canonicalize().unwrap().display().to_string(), anywhere.clone()]);
        // Control: the build tree's tool finds the build tree's default.
        let out = selfbox(who, &["run", "-p", &anywhere, "--", "/bin/hostname"]);
        assert_eq!(out.ok().stdout.trim(), "sandbox", "build tree as {who:?}");
        // A wrapper written by the installed launcher runs through it.
        let w = s.path(&format!("wrapper-{}", who_tag(who)));
        let ws = w.display().to_string();
        r.run(&[&b, "wrap", "--policy", "default", "--output", &ws, &dynp]).ok();
        let text = std::fs::read_to_string(&w).unwrap();
        assert!(text.contains(&format!("'{}' run", bin.canonicalize().unwrap().display())), "{text}");
        let out = r.run(&[&ws, "x y"]);
        assert_eq!(out.status(), 0, "{out:#?}");
        assert_eq!(field(&out, "pid"), ["2"]);
        assert_eq!(field(&out, "host"), ["installed-default"]);
        assert_eq!(field(&out, "arg"), ["[x y]"]);
    }
}

#[test]
fn install_into_a_destdir() {
    if release_built().is_none() {
        return;
    }
    let s = Scratch::new("destdir");
    let dest = s.dir("dest");
    let out = install(&[("DESTDIR", &dest.display().to_string()), ("PREFIX", "/usr")]);
    assert_eq!(out.status(), 0, "{out:#?}");
    // Nothing outside DESTDIR: its only child is usr.
    let top: Vec<String> =
        std::fs::read_dir(&dest).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(top, ["usr"]);
    check_installation(&s, &dest.join("usr"));
    // The scratch directory is open to everyone: a program could have planted entries there.
    check_filters(&dest.join("usr"), false);
    check_dev(&dest.join("usr"), false);
}

#[test]
fn install_into_a_prefix() {
    if release_built().is_none() {
        return;
    }
    let s = Scratch::new("prefix");
    let prefix = s.path("prefix");
    let out = install(&[("PREFIX", &prefix.display().to_string())]);
    assert_eq!(out.status(), 0, "{out:#?}");
    check_installation(&s, &prefix);
    // Closed to others, as /usr is, a root installation's compiled filters are used.
    if is_root() {
        s.close();
        check_filters(&prefix, true);
    }
    check_dev(&prefix, is_root());
    // Control: without the library beside it, the launcher does not find one.
    std::fs::remove_file(prefix.join("lib/selfbox/libselfbox.so")).unwrap();
    let b = prefix.join("bin/selfbox").display().to_string();
    let out =
        bare(identities()[0]).env_remove("SELFBOX_LIB").run(&[&b, "run", "-p", &default_policy(), "--", "/bin/true"]);
    assert_refused(&out, "selfbox: run: the library ", &["SELFBOX_LIB"], "library removed");
}

/// `cache dev` makes device nodes: root only. It never empties a directory that holds anything
/// but a template's names (a wrong --dir), and replaces a template it made.
#[test]
fn cache_dev_refusals() {
    let s = Scratch::new("cachedev");
    // Closed to others, or the preload would not use what it makes (and `cache dev` says so).
    s.close();
    for who in identities() {
        let dir = s.path(&format!("dev-{who:?}")).display().to_string();
        let out = selfbox(who, &["cache", "dev", "--dir", &dir]);
        if who == Who::User || !is_root() {
            assert_refused(&out, "selfbox: cache dev: making device nodes needs root", &["root"], "as a user");
            assert!(!Path::new(&dir).exists());
            continue;
        }
        assert_eq!(out.ok().stdout.trim(), format!("{dir}: /dev template ready"));
        // Again over its own output: replaced.
        selfbox(who, &["cache", "dev", "--dir", &dir]).ok();
        // A directory holding anything else is left alone.
        let other = s.dir("other");
        s.file("other/keep", "x");
        let out = selfbox(who, &["cache", "dev", "--dir", &other.display().to_string()]);
        assert_refused(&out, "selfbox: cache dev: ", &["not replaced"], "foreign directory");
        assert!(other.join("keep").exists());
    }
}

// ---------------------------------------------------------------------------------------------
// 7. help, version, usage errors

#[test]
fn help_and_version_exit_0() {
    for who in identities() {
        for args in [&["--help"][..], &["-h"], &["help"]] {
            let out = selfbox(who, args);
            assert_eq!(out.status(), 0, "{args:?}: {out:#?}");
            assert!(out.stdout.contains("Usage:"), "{args:?}: {out:#?}");
            for cmd in ["selfbox run", "selfbox check", "selfbox explain", "selfbox wrap", "selfbox cache"] {
                assert!(out.stdout.contains(cmd), "{args:?} does not mention {cmd}");
            }
        }
        for args in [&["--version"][..], &["-V"], &["version"]] {
            let out = selfbox(who, args);
            let v = out.ok().stdout.trim().to_owned();
            assert!(v.starts_with("selfbox ") && v[8..].starts_with(|c: char| c.is_ascii_digit()), "{v:?}");
        }
        for cmd in ["run", "check", "explain", "wrap", "cache"] {
            for h in ["--help", "-h"] {
                let out = selfbox(who, &[cmd, h]);
                assert_eq!(out.status(), 0, "{cmd} {h}: {out:#?}");
                assert!(out.stdout.starts_with(&format!("Usage: selfbox {cmd}")), "{cmd} {h}: {out:#?}");
                assert_eq!(out.stderr, "");
            }
        }
    }
}

#[test]
fn unknown_commands_and_options_exit_2() {
    for who in identities() {
        let cases: [&[&str]; 17] = [
            &[],
            &["frobnicate"],
            &["--frobnicate"],
            &["run", "--frobnicate", "/bin/true"],
            &["run", "-x", "/bin/true"],
            &["run"],
            &["run", "-p"],
            &["check", "--frobnicate", "default"],
            &["check"],
            &["check", "default", "strict"],
            &["explain", "--frobnicate", "default"],
            &["wrap", "--policy", "default", "/bin/true"],
            &["cache"],
            &["cache", "frobnicate"],
            &["cache", "build", "--frobnicate"],
            &["cache", "dev", "--frobnicate"],
            &["cache", "dev", "extra"],
        ];
        for args in cases {
            let out = selfbox(who, args);
            assert_eq!(out.status(), 2, "{args:?} as {who:?}: {out:#?}");
            assert_eq!(out.stdout, "", "{args:?}");
            assert!(out.stderr.starts_with("selfbox"), "{args:?}: {out:#?}");
        }
        // Control: the same commands well formed do not exit 2.
        assert_eq!(selfbox(who, &["run", "/bin/true"]).status(), 0);
        assert_eq!(selfbox(who, &["check", "default"]).status(), 0);
    }
}

/// `selfbox --help | head -1` and friends: help and version are printed with println!, which
/// panics on a closed pipe (the tool is built with panic=abort: SIGABRT). The commands that
/// print through print_out (check, explain) exit 0 as intended.
#[test]
fn help_to_a_closed_pipe_is_not_a_crash() {
    for args in [&["--help"][..], &["--version"], &["run", "--help"], &["check", "--help"], &["check", "default"]] {
        let mut fds = [0; 2];
        // SAFETY: fds is a valid array of two ints.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: fds[0] is the pipe's read end, owned here and closed once.
        unsafe { libc::close(fds[0]) };
        // SAFETY: fds[1] is an open descriptor owned by nobody else.
        let w = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fds[1]) };
        let mut cmd = Command::new("timeout");
        cmd.arg("30").arg(tool()).args(args).stdout(w).stderr(std::process::Stdio::piped());
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {:?} {}", out.status, String::from_utf8_lossy(&out.stderr));
    }
}
