//! The policy library in policy/: every shipped file validates against policy/schema.json, the
//! schema and the parser (`selfbox check`) agree on a corpus of good and bad policies, and each
//! program policy does its real task as root and as uid 65534, with a control showing that the
//! restriction it promises holds (and that the check would notice if it did not).
//!
//! Needs: python3 with the jsonschema module (Debian: python3-jsonschema), poppler-utils, curl,
//! git, sqlite3, tar, openssl and ca-certificates.

mod common;
use common::*;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const PYTHON: &str = "/usr/bin/python3";

fn shipped(name: &str) -> String {
    let p = repo().join(format!("policy/{name}.json"));
    assert!(p.is_file(), "{} is missing", p.display());
    p.display().to_string()
}

/// A program the tests need, with the Debian package that provides it.
fn need(program: &'static str, package: &str) -> &'static str {
    assert!(Path::new(program).exists(), "{program} is missing: apt-get install {package}");
    program
}

/// A host command that must succeed (test set-up, never sandboxed).
fn host(argv: &[&str], cwd: &Path) -> String {
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..]).current_dir(cwd);
    let d = run_command(cmd, None, Duration::from_secs(60));
    assert_eq!(d.code, Some(0), "{argv:?} failed: {}", d.stderr);
    String::from_utf8_lossy(&d.stdout).into_owned()
}

// ---------------------------------------------------------------------------------------------
// The schema

const VALIDATE: &str = r#"
import json, sys
try:
    import jsonschema
except ImportError as e:
    sys.stderr.write("python3 cannot import jsonschema (%s); install it: apt-get install python3-jsonschema\n" % e)
    sys.exit(3)
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
v = jsonschema.Draft202012Validator(schema)
out = []
for text in json.load(sys.stdin):
    try:
        doc = json.loads(text)
    except ValueError as e:
        out.append(["not JSON: %s" % e])
        continue
    errs = sorted(v.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    out.append(["/" + "/".join(map(str, e.absolute_path)) + ": " + e.message[:400] for e in errs])
print(json.dumps(out))
"#;

/// The schema's errors for each document (empty: valid). Fails, not skips, without jsonschema.
fn schema_errors(docs: &[String]) -> Vec<Vec<String>> {
    assert!(Path::new(PYTHON).exists(), "{PYTHON} is missing: apt-get install python3 python3-jsonschema");
    let schema = repo().join("policy/schema.json");
    let mut cmd = Command::new(PYTHON);
    cmd.arg("-c").arg(VALIDATE).arg(&schema).env_remove("PYTHONPATH").env_remove("PYTHONHOME");
    let input = serde_json::to_string(docs).unwrap();
    let d = run_command(cmd, Some(input.as_bytes()), Duration::from_secs(120));
    assert_ne!(d.code, Some(3), "{}", d.stderr.trim());
    assert_eq!(d.code, Some(0), "validating with {}: {}", schema.display(), d.stderr);
    let out: Vec<Vec<String>> = serde_json::from_slice(&d.stdout).expect("validator output");
    assert_eq!(out.len(), docs.len());
    out
}

/// `selfbox check FILE` run from `cwd`: Ok(()) for exit 0, Err(stderr) for exit 125.
fn parser_verdict(file: &Path, cwd: &Path) -> Result<(), String> {
    let mut cmd = Command::new(tool());
    cmd.arg("check").arg(file).current_dir(cwd);
    cmd.env_remove("LD_PRELOAD").env_remove("SELFBOX_POLICY").env_remove("POLICY").env_remove("SELFBOX_LIB");
    let d = run_command(cmd, None, Duration::from_secs(60));
    match d.code {
        Some(0) => Ok(()),
        Some(125) => Err(d.stderr.trim().to_owned()),
        other => panic!("selfbox check {} exited {other:?}: {}", file.display(), d.stderr),
    }
}

fn shipped_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("policy"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json") && p.file_name().is_some_and(|n| n != "schema.json"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_shipped_policy_validates_against_the_schema_and_the_parser() {
    let files = shipped_files();
    let names: Vec<String> = files.iter().map(|p| p.file_stem().unwrap().to_string_lossy().into_owned()).collect();
    for expected in
        ["default", "strict", "network", "python-script", "pdftotext", "curl", "git", "sqlite3", "tar-extract"]
    {
        assert!(names.iter().any(|n| n == expected), "policy/{expected}.json is missing; found {names:?}");
    }
    let docs: Vec<String> = files.iter().map(|p| std::fs::read_to_string(p).unwrap()).collect();
    let errors = schema_errors(&docs);
    for (file, errs) in files.iter().zip(&errors) {
        assert!(errs.is_empty(), "{} does not follow policy/schema.json:\n{}", file.display(), errs.join("\n"));
    }
    // The parser too, from a directory holding in/ and out/ (the pdftotext convention).
    let s = Scratch::new("shipped");
    s.dir("in");
    s.dir("out");
    for file in &files {
        if let Err(e) = parser_verdict(file, &s.0) {
            panic!("selfbox check {}: {e}", file.display());
        }
        let text = std::fs::read_to_string(file).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(doc.get("description").and_then(|d| d.as_str()).is_some_and(|d| d.len() > 40), "{}", file.display());
    }
    // `explain` works on every one of them too.
    for file in &files {
        let mut cmd = Command::new(tool());
        cmd.arg("explain").arg(file).current_dir(&s.0);
        let d = run_command(cmd, None, Duration::from_secs(60));
        assert_eq!(d.code, Some(0), "selfbox explain {}: {}", file.display(), d.stderr);
        assert!(String::from_utf8_lossy(&d.stdout).contains("Overall exposure"));
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// Both the schema and the parser accept it.
    Good,
    /// Both refuse it.
    Bad,
    /// Only the parser can tell (it needs the host, the syscall table, the `extends` chain or a
    /// rule JSON Schema cannot state): the parser refuses, the schema accepts.
    ParserOnly,
}
use Verdict::*;

/// Policies on which schema and parser are compared; `{}` around fields is added by [`doc`].
const CORPUS: &[(&str, Verdict, &str)] = &[
    // Good
    ("minimal", Good, r#""selfbox": 1"#),
    (
        "extends default with comments",
        Good,
        r#""$schema": "./schema.json", "selfbox": 1, "description": "d", "comment": "c", "extends": "default""#,
    ),
    (
        "every mount type",
        Good,
        r#""selfbox": 1, "mounts": [
            {"type": "bind", "source": "/usr", "comment": "c"},
            {"type": "bind", "source": "/etc", "target": "/host/etc", "readonly": true, "optional": false, "keep_symlink": false},
            {"type": "bind", "source": "/selfbox-no-such-dir", "optional": true},
            {"type": "bind", "source": "/bin", "keep_symlink": true},
            {"type": "symlink", "target": "/lib", "link": "usr/lib"},
            {"type": "tmpfs", "target": "/tmp", "size": "64M", "mode": "1777"},
            {"type": "tmpfs", "target": "/run", "size": 1048576},
            {"type": "proc"},
            {"type": "dev", "target": "/dev"},
            {"type": "dir", "target": "/home/user", "mode": "0700"},
            {"type": "file", "target": "/etc/motd", "content": "hello\n", "mode": "0644"}
        ]"#,
    ),
    (
        "variables",
        Good,
        r#""selfbox": 1, "extends": "default", "mounts": [
            {"type": "bind", "source": "${CWD}", "target": "/work/${UID}-${USER}", "readonly": false},
            {"type": "symlink", "target": "/self", "link": "${EXE}"},
            {"type": "bind", "source": "${POLICY_DIR}", "target": "/policy"}
        ], "cwd": "/work/${UID}-${USER}",
        "env": {"set": {"HOME": "${HOME}", "PRICE": "cost $5 and $${HOME} literally", "WHERE": "${TMPDIR}:${GID}"}}"#,
    ),
    (
        "rlimits in every form",
        Good,
        r#""selfbox": 1, "rlimits": {"nofile": 1024, "as": "4G", "cpu": "unlimited", "fsize": {"soft": "1M", "hard": "2M"},
            "core": 0, "stack": " 8M ", "memlock": "64K", "locks": {"hard": 64}, "data": "unlimited"}"#,
    ),
    (
        "cgroup",
        Good,
        r#""selfbox": 1, "cgroup": {"comment": "c", "memory_max": "512M", "memory_swap_max": "max", "pids_max": 256,
            "cpu_max": 1.5, "io_weight": 100, "optional": true}"#,
    ),
    (
        "seccomp with arguments",
        Good,
        r#""selfbox": 1, "seccomp": {"comment": "c", "default_action": "errno", "default_errno": 38, "rules": [
            {"action": "allow", "syscalls": ["read", "write", "close"], "comment": "c"},
            {"action": "errno", "errno": "EPERM", "syscalls": ["@mount", "@obsolete"]},
            {"action": "errno", "errno": "EACCES", "syscalls": ["ioctl"],
             "args": [{"index": 1, "op": "masked_eq", "mask": "0xffffffff", "value": "TIOCSTI", "comment": "c"}]},
            {"action": "errno", "errno": 1, "syscalls": ["unshare"],
             "args": [{"index": 0, "op": "masked_eq", "mask": "CLONE_NEWUSER | CLONE_NEWNS", "value": 0}]},
            {"action": "log", "syscalls": ["sendto"], "args": [{"index": 2, "op": "ge", "value": "4096"}, {"index": 3, "op": "ne", "value": "2"}]},
            {"action": "trap", "syscalls": ["pread64"], "args": [{"index": 2, "op": "lt", "value": "PER_LINUX32|UNAME26"}]},
            {"action": "kill_process", "syscalls": ["bpf"]},
            {"action": "errno", "errno": "EWOULDBLOCK", "syscalls": ["acct"]},
            {"action": "kill", "syscalls": ["kexec_load"]},
            {"action": "kill_thread", "syscalls": ["quotactl_fd"], "optional": true}
        ]}"#,
    ),
    (
        "namespaces, network and hostname agree",
        Good,
        r#""selfbox": 1, "namespaces": ["user", "mount", "pid", "net", "uts", "time"], "network": "none", "hostname": "box-1.example""#,
    ),
    ("uid and gid mapped", Good, r#""selfbox": 1, "namespaces": ["user", "mount", "pid"], "uid": 0, "gid": "same""#),
    (
        "process options",
        Good,
        r#""selfbox": 1, "close_fds": {"keep": [3, 4]}, "new_session": true, "no_new_privs": true, "wall_time": 0.5,
            "capabilities": ["CAP_NET_BIND_SERVICE", "cap_chown", "sys_ptrace", "Cap_Kill"], "run_as": "65534:65534""#,
    ),
    ("run_as null and no wall time", Good, r#""selfbox": 1, "run_as": null, "wall_time": null, "hostname": null"#),
    ("run_as by number", Good, r#""selfbox": 1, "run_as": 65534, "close_fds": false"#),
    (
        "host root without a mount namespace",
        Good,
        r#""selfbox": 1, "namespaces": ["user", "pid", "ipc"], "root": "host", "network": "host""#,
    ),
    (
        "env",
        Good,
        r#""selfbox": 1, "env": {"comment": "c", "clear": true, "keep": ["PATH", "LANG"], "unset": ["TERM"]}"#,
    ),
    // Bad: the format itself
    ("missing version", Bad, r#""description": "no selfbox key""#),
    ("version 2", Bad, r#""selfbox": 2"#),
    ("unknown top-level key", Bad, r#""selfbox": 1, "netwrok": "none""#),
    ("description not a string", Bad, r#""selfbox": 1, "description": 5"#),
    ("empty extends", Bad, r#""selfbox": 1, "extends": """#),
    ("extends with an unknown variable", Bad, r#""selfbox": 1, "extends": "${NOPE}/default.json""#),
    ("unknown namespace", Bad, r#""selfbox": 1, "namespaces": ["user", "network"]"#),
    ("namespace listed twice", Bad, r#""selfbox": 1, "namespaces": ["user", "user"]"#),
    ("unknown network", Bad, r#""selfbox": 1, "network": "bridge""#),
    (
        "network contradicts namespaces",
        Bad,
        r#""selfbox": 1, "namespaces": ["user", "mount", "net"], "network": "host""#,
    ),
    ("network none without net", Bad, r#""selfbox": 1, "namespaces": ["user", "mount", "pid"], "network": "none""#),
    ("bad hostname", Bad, r#""selfbox": 1, "hostname": "-bad""#),
    ("hostname without uts", Bad, r#""selfbox": 1, "namespaces": ["user", "mount", "pid"], "hostname": "box""#),
    ("uid without a user namespace", Bad, r#""selfbox": 1, "namespaces": ["mount", "pid"], "uid": 0"#),
    ("uid out of range", Bad, r#""selfbox": 1, "uid": 4294967295"#),
    ("run_as not uid:gid", Bad, r#""selfbox": 1, "run_as": "a:b""#),
    ("unknown root", Bad, r#""selfbox": 1, "root": "overlay""#),
    // Bad: mounts
    ("mount is not an object", Bad, r#""selfbox": 1, "mounts": ["/usr"]"#),
    ("mount without type", Bad, r#""selfbox": 1, "mounts": [{"source": "/usr"}]"#),
    ("unknown mount type", Bad, r#""selfbox": 1, "mounts": [{"type": "overlay", "target": "/x"}]"#),
    ("unknown key in a bind", Bad, r#""selfbox": 1, "mounts": [{"type": "bind", "source": "/usr", "readonyl": true}]"#),
    (
        "key of another mount type",
        Bad,
        r#""selfbox": 1, "mounts": [{"type": "tmpfs", "target": "/tmp", "source": "/usr"}]"#,
    ),
    ("bind without source", Bad, r#""selfbox": 1, "mounts": [{"type": "bind", "target": "/usr"}]"#),
    ("tmpfs without target", Bad, r#""selfbox": 1, "mounts": [{"type": "tmpfs", "size": "1M"}]"#),
    ("symlink without link", Bad, r#""selfbox": 1, "mounts": [{"type": "symlink", "target": "/bin"}]"#),
    ("relative bind source", Bad, r#""selfbox": 1, "mounts": [{"type": "bind", "source": "usr"}]"#),
    ("relative variable as a path", Bad, r#""selfbox": 1, "mounts": [{"type": "dir", "target": "${UID}/x"}]"#),
    ("dot-dot in a path", Bad, r#""selfbox": 1, "mounts": [{"type": "bind", "source": "/usr/../etc"}]"#),
    ("unknown variable", Bad, r#""selfbox": 1, "mounts": [{"type": "bind", "source": "${HOEM}"}]"#),
    ("unterminated variable", Bad, r#""selfbox": 1, "cwd": "${HOME""#),
    ("mount over /", Bad, r#""selfbox": 1, "mounts": [{"type": "tmpfs", "target": "/"}]"#),
    ("bind of / onto itself", Bad, r#""selfbox": 1, "mounts": [{"type": "bind", "source": "/"}]"#),
    ("mode as a number", Bad, r#""selfbox": 1, "mounts": [{"type": "dir", "target": "/x", "mode": 755}]"#),
    ("mode not octal", Bad, r#""selfbox": 1, "mounts": [{"type": "dir", "target": "/x", "mode": "0800"}]"#),
    ("mode too large", Bad, r#""selfbox": 1, "mounts": [{"type": "file", "target": "/x", "mode": "17777"}]"#),
    ("fractional size", Bad, r#""selfbox": 1, "mounts": [{"type": "tmpfs", "target": "/tmp", "size": "1.5G"}]"#),
    (
        "readonly not a boolean",
        Bad,
        r#""selfbox": 1, "mounts": [{"type": "bind", "source": "/usr", "readonly": "yes"}]"#,
    ),
    (
        "mounts without a mount namespace",
        Bad,
        r#""selfbox": 1, "namespaces": ["user", "pid"], "mounts": [{"type": "dir", "target": "/x"}]"#,
    ),
    (
        "proc without a pid namespace",
        Bad,
        r#""selfbox": 1, "namespaces": ["user", "mount"], "mounts": [{"type": "proc"}]"#,
    ),
    // Bad: env, process, limits
    ("env set value not a string", Bad, r#""selfbox": 1, "env": {"set": {"N": 5}}"#),
    ("env name with =", Bad, r#""selfbox": 1, "env": {"keep": ["A=B"]}"#),
    ("env unknown key", Bad, r#""selfbox": 1, "env": {"remove": ["A"]}"#),
    ("close_fds keeps stderr", Bad, r#""selfbox": 1, "close_fds": {"keep": [2]}"#),
    ("close_fds with a comment", Bad, r#""selfbox": 1, "close_fds": {"keep": [3], "comment": "c"}"#),
    ("unknown capability", Bad, r#""selfbox": 1, "capabilities": ["CAP_NOPE"]"#),
    ("unknown rlimit", Bad, r#""selfbox": 1, "rlimits": {"files": 10}"#),
    ("size on a count rlimit", Bad, r#""selfbox": 1, "rlimits": {"nofile": "10K"}"#),
    ("empty soft/hard", Bad, r#""selfbox": 1, "rlimits": {"nofile": {}}"#),
    ("negative rlimit", Bad, r#""selfbox": 1, "rlimits": {"core": -1}"#),
    ("cgroup io_weight 0", Bad, r#""selfbox": 1, "cgroup": {"io_weight": 0}"#),
    ("cgroup cpu_max 0", Bad, r#""selfbox": 1, "cgroup": {"cpu_max": 0}"#),
    ("cgroup unknown key", Bad, r#""selfbox": 1, "cgroup": {"memory": "1G"}"#),
    ("wall_time 0", Bad, r#""selfbox": 1, "wall_time": 0"#),
    ("wall_time as text", Bad, r#""selfbox": 1, "wall_time": "30s""#),
    // Bad: seccomp
    ("seccomp unknown key", Bad, r#""selfbox": 1, "seccomp": {"defaultAction": "allow"}"#),
    ("unknown action", Bad, r#""selfbox": 1, "seccomp": {"rules": [{"action": "deny", "syscalls": ["bpf"]}]}"#),
    ("rule without syscalls", Bad, r#""selfbox": 1, "seccomp": {"rules": [{"action": "errno"}]}"#),
    ("empty syscalls", Bad, r#""selfbox": 1, "seccomp": {"rules": [{"action": "errno", "syscalls": []}]}"#),
    ("syscall not a string", Bad, r#""selfbox": 1, "seccomp": {"rules": [{"action": "errno", "syscalls": [321]}]}"#),
    ("unknown group", Bad, r#""selfbox": 1, "seccomp": {"rules": [{"action": "errno", "syscalls": ["@nope"]}]}"#),
    (
        "errno with allow",
        Bad,
        r#""selfbox": 1, "seccomp": {"rules": [{"action": "allow", "errno": "EPERM", "syscalls": ["bpf"]}]}"#,
    ),
    (
        "unknown errno",
        Bad,
        r#""selfbox": 1, "seccomp": {"rules": [{"action": "errno", "errno": "EWHAT", "syscalls": ["bpf"]}]}"#,
    ),
    (
        "errno out of range",
        Bad,
        r#""selfbox": 1, "seccomp": {"rules": [{"action": "errno", "errno": 5000, "syscalls": ["bpf"]}]}"#,
    ),
    ("default_errno alone", Bad, r#""selfbox": 1, "seccomp": {"default_errno": "EPERM"}"#),
    (
        "default_errno with allow",
        Bad,
        r#""selfbox": 1, "seccomp": {"default_action": "allow", "default_errno": "EPERM"}"#,
    ),
    (
        "unknown op",
        Bad,
        r#""selfbox": 1, "seccomp": {"rules": [{"action": "errno", "syscalls": ["ioctl"], "args": [{"index": 1, "op": "contains", "value": 1}]}]}"#,
    ),
    (
        "masked_eq without mask",
        Bad,
        r#""selfbox": 1, "seccomp": {"rules": [{"action": "errno", "syscalls": ["ioctl"], "args": [{"index": 1, "op": "masked_eq", "value": 1}]}]}"#,
    ),
    (
        "mask with eq",
        Bad,
        r#""selfbox": 1, "seccomp": {"rules": [{"action": "errno", "syscalls": ["ioctl"], "args": [{"index": 1, "op": "eq", "mask": 1, "value": 1}]}]}"#,
    ),
    (
        "argument index 6",
        Bad,
        r#""selfbox": 1, "seccomp": {"rules": [{"action": "errno", "syscalls": ["ioctl"], "args": [{"index": 6, "op": "eq", "value": 1}]}]}"#,
    ),
    (
        "argument without value",
        Bad,
        r#""selfbox": 1, "seccomp": {"rules": [{"action": "errno", "syscalls": ["ioctl"], "args": [{"index": 1, "op": "eq"}]}]}"#,
    ),
    (
        "unknown constant",
        Bad,
        r#""selfbox": 1, "seccomp": {"rules": [{"action": "errno", "syscalls": ["ioctl"], "args": [{"index": 1, "op": "eq", "value": "TIOCST"}]}]}"#,
    ),
    (
        "fractional constant",
        Bad,
        r#""selfbox": 1, "seccomp": {"rules": [{"action": "errno", "syscalls": ["ioctl"], "args": [{"index": 1, "op": "eq", "value": 1.5}]}]}"#,
    ),
    (
        "argument unknown key",
        Bad,
        r#""selfbox": 1, "seccomp": {"rules": [{"action": "errno", "syscalls": ["ioctl"], "args": [{"index": 1, "op": "eq", "value": 1, "arg": 2}]}]}"#,
    ),
    ("not JSON", Bad, r#""selfbox": 1,"#),
    // Only the parser can tell
    ("duplicate key", ParserOnly, r#""selfbox": 1, "network": "none", "network": "host""#),
    (
        "missing bind source",
        ParserOnly,
        r#""selfbox": 1, "mounts": [{"type": "bind", "source": "/selfbox-no-such-dir"}]"#,
    ),
    (
        "unknown syscall",
        ParserOnly,
        r#""selfbox": 1, "seccomp": {"rules": [{"action": "errno", "syscalls": ["no_such_call"]}]}"#,
    ),
    ("extends a missing policy", ParserOnly, r#""selfbox": 1, "extends": "selfbox-no-such-policy""#),
    ("extends itself", ParserOnly, r#""selfbox": 1, "extends": "./{SELF}""#),
    ("set and unset", ParserOnly, r#""selfbox": 1, "env": {"set": {"A": "1"}, "unset": ["A"]}"#),
    ("soft above hard", ParserOnly, r#""selfbox": 1, "rlimits": {"nofile": {"soft": 100, "hard": 10}}"#),
    (
        "one argument compared twice",
        ParserOnly,
        r#""selfbox": 1, "seccomp": {"rules": [{"action": "errno", "syscalls": ["ioctl"],
            "args": [{"index": 1, "op": "ge", "value": 1}, {"index": 1, "op": "le", "value": 9}]}]}"#,
    ),
    (
        "kill in an exception",
        ParserOnly,
        r#""selfbox": 1, "seccomp": {"rules": [{"action": "kill", "syscalls": ["ioctl"]},
            {"action": "allow", "syscalls": ["ioctl"], "args": [{"index": 1, "op": "eq", "value": 1}]}]}"#,
    ),
    (
        "seccomp without no_new_privs",
        ParserOnly,
        r#""selfbox": 1, "no_new_privs": false, "seccomp": {"rules": [{"action": "errno", "syscalls": ["bpf"]}]}"#,
    ),
    (
        "size overflows",
        ParserOnly,
        r#""selfbox": 1, "mounts": [{"type": "tmpfs", "target": "/tmp", "size": "99999999999T"}]"#,
    ),
];

fn doc(fields: &str, self_name: &str) -> String {
    format!("{{{}}}", fields.replace("{SELF}", self_name))
}

#[test]
fn schema_and_parser_agree_on_a_corpus() {
    let both = CORPUS.iter().filter(|c| c.1 != ParserOnly).count();
    assert!(both >= 25, "the corpus needs at least 25 cases both can decide, has {both}");
    assert!(CORPUS.iter().any(|c| c.1 == Good) && CORPUS.iter().any(|c| c.1 == Bad));
    let s = Scratch::new("corpus");
    let docs: Vec<String> =
        CORPUS.iter().enumerate().map(|(i, (_, _, fields))| doc(fields, &format!("case-{i}.json"))).collect();
    let schema = schema_errors(&docs);
    let mut wrong = Vec::new();
    for (i, ((name, verdict, _), text)) in CORPUS.iter().zip(&docs).enumerate() {
        let file = s.file(&format!("case-{i}.json"), text);
        let parser = parser_verdict(&file, &s.0);
        let schema_ok = schema[i].is_empty();
        let (want_schema, want_parser) = match verdict {
            Good => (true, true),
            Bad => (false, false),
            ParserOnly => (true, false),
        };
        if schema_ok != want_schema || parser.is_ok() != want_parser {
            wrong.push(format!(
                "{name} ({verdict:?}): schema {} {:?}; parser {} {:?}\n    {text}",
                if schema_ok { "accepts" } else { "refuses" },
                schema[i],
                if parser.is_ok() { "accepts" } else { "refuses" },
                parser.err().unwrap_or_default(),
            ));
        } else if let Err(e) = &parser {
            // A refusal is one line naming the file (or a JSON syntax position).
            assert!(e.starts_with("selfbox: policy:") && e.lines().count() == 1, "{name}: {e}");
        }
    }
    assert!(wrong.is_empty(), "schema and parser disagree with the corpus:\n{}", wrong.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// The program policies on real tasks

/// A local HTTP(S) server (`http.server` of the host's python) on 127.0.0.1 and a free port,
/// serving `dir`; killed by its pid when dropped.
struct Server {
    child: Child,
    port: u16,
}

const SERVER: &str = r#"
import functools, http.server, ssl, sys
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
if len(sys.argv) > 3:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[2], sys.argv[3])
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

impl Server {
    fn start(dir: &Path, tls: Option<(&Path, &Path)>) -> Server {
        let mut cmd = Command::new(PYTHON);
        cmd.arg("-c").arg(SERVER).arg(dir);
        if let Some((cert, key)) = tls {
            cmd.arg(cert).arg(key);
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null());
        let mut child = cmd.spawn().expect("start the python http server");
        let so = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::BufReader::new(so).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
        let Ok(port) = line.trim().parse::<u16>() else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the http server did not start (printed {line:?})");
        };
        Server { child, port }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok()
}

#[test]
fn network_policy_shares_the_host_network_and_resolves_names() {
    let python = need(PYTHON, "python3");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let code = format!(
        "import socket\n\
         print(sorted({{a[4][0] for a in socket.getaddrinfo('localhost', {port}, socket.AF_INET)}}))\n\
         socket.create_connection(('localhost', {port}), timeout=5).close()\n\
         print('connected')\n"
    );
    for who in identities() {
        let out = sandboxed(who, &shipped("network")).run(&[python, "-c", &code]);
        assert_eq!(out.ok().stdout, "['127.0.0.1']\nconnected\n", "as {who:?}: {out:?}");
        // Control: the default policy has no network but its own loopback.
        let none = sandboxed(who, &default_policy()).run(&[python, "-c", &code]);
        assert_ne!(none.status(), 0, "as {who:?}: {none:?}");
        assert!(none.stderr.contains("ConnectionRefusedError"), "as {who:?}: {none:?}");
    }
    drop(listener);
}

const SCRIPT: &str = r#"
import os, socket, sys
mode, outside, secret, sibling, port = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
def readable(p):
    try:
        with open(p) as f:
            f.read()
        return "yes"
    except OSError:
        return "no"
def writable(p):
    try:
        with open(p, "w") as f:
            f.write("x")
        return "yes"
    except OSError:
        return "no"
def connects():
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        return "yes"
    except OSError:
        return "no"
with open("result.txt", "w") as f:
    f.write("sum %d\n" % sum(range(10)))
print("outside", readable(outside))
print("home", readable(secret))
print("connect", connects())
if mode == "sandbox":
    writable(sibling)
    for p in ["/usr/selfbox-probe", "/etc/selfbox-probe", "/selfbox-probe"]:
        print("write", p, writable(p))
    print("HOME", os.environ.get("HOME"))
    print("tmp", " ".join(sorted(os.listdir("/tmp"))))
"#;

#[test]
fn python_script_writes_its_project_only_and_has_no_network() {
    let python = need(PYTHON, "python3");
    let policy = shipped("python-script");
    // Something listening on the host's loopback: reachable without the sandbox only.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    for who in identities() {
        let s = Scratch::new("pyscript");
        let proj = s.dir("proj");
        s.file("proj/script.py", SCRIPT);
        let outside = s.file("outside.txt", "not yours");
        s.dir("home");
        let secret = s.file("home/secret.txt", "password");
        let sibling = s.path("escaped.txt");
        let args = |mode: &str| -> Vec<String> {
            let files = [&outside, &secret, &sibling].map(|p| p.display().to_string());
            [python, "script.py", mode].iter().map(|a| a.to_string()).chain(files).chain([port.clone()]).collect()
        };
        let argv = args("sandbox");
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let out = sandboxed(who, &policy).cwd(&proj).env("HOME", s.path("home").to_str().unwrap()).run(&argv);
        out.ok();
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(read(&proj.join("result.txt")).as_deref(), Some("sum 45\n"), "as {who:?}: {out:?}");
        for l in ["outside no", "home no", "connect no", "HOME /tmp"] {
            assert!(lines.contains(&l), "as {who:?}: no {l:?} in {out:?}");
        }
        for p in ["/usr", "/etc", ""] {
            assert!(lines.contains(&format!("write {p}/selfbox-probe no").as_str()), "as {who:?}: {out:?}");
        }
        assert!(!sibling.exists(), "as {who:?}: the script wrote beside its project: {out:?}");
        // /tmp is private: it holds only the way to the project (the scratch directory).
        let scratch_name = s.0.file_name().unwrap().to_string_lossy().into_owned();
        assert!(lines.contains(&format!("tmp {scratch_name}").as_str()), "as {who:?}: {out:?}");

        // Control: the same script without the sandbox reads both files and connects.
        std::fs::remove_file(proj.join("result.txt")).unwrap();
        let argv = args("control");
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let ctl = bare(who).cwd(&proj).run(&argv);
        let lines: Vec<&str> = ctl.ok().stdout.lines().collect();
        assert_eq!(lines, ["outside yes", "home yes", "connect yes"], "control as {who:?}: {ctl:?}");
    }
    drop(listener);
}

/// A one-page PDF with one line of text in Helvetica (a standard font: no font file needed),
/// written by hand with a correct cross-reference table.
fn minimal_pdf(text: &str) -> String {
    let content = format!("BT /F1 24 Tf 72 700 Td ({text}) Tj ET\n");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_owned(),
        format!("<< /Length {} >>\nstream\n{content}endstream", content.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
    ];
    let mut pdf = String::from("%PDF-1.4\n");
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.push_str(&format!("{} 0 obj\n{o}\nendobj\n", i + 1));
    }
    let xref = pdf.len();
    pdf.push_str(&format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1));
    for o in offsets {
        pdf.push_str(&format!("{o:010} 00000 n \n"));
    }
    pdf.push_str(&format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1));
    pdf
}

#[test]
fn pdftotext_converts_from_in_to_out_and_cannot_write_in() {
    let pdftotext = need("/usr/bin/pdftotext", "poppler-utils");
    let policy = shipped("pdftotext");
    let pdf = minimal_pdf("Hello from selfbox");
    for who in identities() {
        let s = Scratch::new("pdf");
        let job = s.dir("job");
        s.dir("job/in");
        let out_dir = s.dir("job/out");
        s.file("job/in/doc.pdf", &pdf);
        s.file("job/elsewhere.pdf", &pdf);

        let out = sandboxed(who, &policy).cwd(&job).run(&[pdftotext, "in/doc.pdf", "out/doc.txt"]);
        out.ok();
        let text = read(&out_dir.join("doc.txt")).unwrap_or_default();
        assert_eq!(text.trim(), "Hello from selfbox", "as {who:?}: {out:?}");

        // in/ is read-only, and the rest of the job directory is not there at all.
        let into_in = sandboxed(who, &policy).cwd(&job).run(&[pdftotext, "in/doc.pdf", "in/doc.txt"]);
        assert_ne!(into_in.status(), 0, "as {who:?}: {into_in:?}");
        assert!(into_in.stderr.contains("in/doc.txt"), "as {who:?}: {into_in:?}");
        assert!(!job.join("in/doc.txt").exists(), "as {who:?}");
        let other = sandboxed(who, &policy).cwd(&job).run(&[pdftotext, "elsewhere.pdf", "out/elsewhere.txt"]);
        assert_ne!(other.status(), 0, "as {who:?}: {other:?}");
        assert!(!out_dir.join("elsewhere.txt").exists());

        // Control: without the sandbox both work, so the checks above would notice.
        bare(who).cwd(&job).run(&[pdftotext, "in/doc.pdf", "in/doc.txt"]).ok();
        assert!(job.join("in/doc.txt").exists());
        bare(who).cwd(&job).run(&[pdftotext, "elsewhere.pdf", "out/elsewhere.txt"]).ok();
    }
}

#[test]
fn curl_downloads_into_the_cwd_over_http_and_tls_but_cannot_read_home() {
    let curl = need("/usr/bin/curl", "curl");
    let openssl = need("/usr/bin/openssl", "openssl");
    let policy = shipped("curl");
    let s = Scratch::new("curl-server");
    let site = s.dir("site");
    s.file("site/hello.txt", "hello over http\n");
    // A self-signed certificate for localhost: TLS and name resolution inside the sandbox.
    host(
        &[
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
        ],
        &s.0,
    );
    let http = Server::start(&site, None);
    let https = Server::start(&site, Some((&s.path("cert.pem"), &s.path("key.pem"))));
    let http_url = format!("http://127.0.0.1:{}/hello.txt", http.port);
    let https_url = format!("https://localhost:{}/hello.txt", https.port);
    let cert = std::fs::read_to_string(s.path("cert.pem")).unwrap();
    for who in identities() {
        let t = Scratch::new("curl");
        let dl = t.dir("dl");
        t.file("dl/cert.pem", &cert);
        let home = t.dir("home");
        let secret = t.file("home/secret.txt", "password");
        // The caller's ~/.curlrc would send the download elsewhere.
        t.file("home/.curlrc", "output = \"from-curlrc.txt\"\n");
        let run = || {
            sandboxed(who, &policy)
                .cwd(&dl)
                .env("HOME", home.to_str().unwrap())
                .env_remove("CURL_HOME")
                .env_remove("XDG_CONFIG_HOME")
                .timeout(Duration::from_secs(60))
        };
        let out = run().run(&[curl, "-sS", "--max-time", "20", "-o", "got.txt", &http_url]);
        out.ok();
        assert_eq!(read(&dl.join("got.txt")).as_deref(), Some("hello over http\n"), "as {who:?}: {out:?}");
        let out = run().run(&[curl, "-sS", "--max-time", "20", "--cacert", "cert.pem", "-o", "tls.txt", &https_url]);
        out.ok();
        assert_eq!(read(&dl.join("tls.txt")).as_deref(), Some("hello over http\n"), "as {who:?}: {out:?}");
        // The system's CA bundle is readable (TLS to real hosts needs it).
        let ca = run().run(&[curl, "-sS", "-o", "/dev/null", "file:///etc/ssl/certs/ca-certificates.crt"]);
        assert_eq!(ca.status(), 0, "as {who:?}: the CA bundle is not readable: {ca:?}");

        // HOME is invisible: neither a file in it nor its .curlrc is read.
        let url = format!("file://{}", secret.display());
        let leak = run().run(&[curl, "-sS", "-o", "-", &url]);
        assert_ne!(leak.status(), 0, "as {who:?}: {leak:?}");
        assert!(!leak.stdout.contains("password"), "as {who:?}: {leak:?}");
        let plain = run().run(&[curl, "-sS", "--max-time", "20", &http_url]);
        assert_eq!(plain.ok().stdout, "hello over http\n", "as {who:?}: {plain:?}");
        assert!(!dl.join("from-curlrc.txt").exists(), "as {who:?}: ~/.curlrc was read");
        // Nothing but the cwd is writable: -o ../x does not reach the host.
        let _ = run().run(&[curl, "-sS", "--max-time", "20", "-o", "../escaped.txt", &http_url]);
        assert!(!t.path("escaped.txt").exists(), "as {who:?}: curl wrote outside its directory");

        // Control: without the sandbox the home file is read and ~/.curlrc is obeyed.
        let ctl = bare(who)
            .cwd(&dl)
            .env("HOME", home.to_str().unwrap())
            .env_remove("CURL_HOME")
            .env_remove("XDG_CONFIG_HOME");
        assert_eq!(ctl.run(&[curl, "-q", "-sS", "-o", "-", &url]).ok().stdout, "password");
        ctl.run(&[curl, "-sS", "--max-time", "20", &http_url]).ok();
        assert!(dl.join("from-curlrc.txt").exists(), "control as {who:?}: ~/.curlrc was not obeyed");
    }
    drop(https);
    drop(http);
}

#[test]
fn git_commits_in_the_repository_without_network_or_home() {
    let git = need("/usr/bin/git", "git");
    let policy = shipped("git");
    let ident = [
        ("GIT_AUTHOR_NAME", "Sandboxed Author"),
        ("GIT_AUTHOR_EMAIL", "author@example.invalid"),
        ("GIT_COMMITTER_NAME", "Sandboxed Author"),
        ("GIT_COMMITTER_EMAIL", "author@example.invalid"),
    ];
    // A repository served over dumb HTTP by a local server: reachable without the sandbox.
    let s = Scratch::new("git-server");
    let src = s.dir("src");
    let site = s.dir("site");
    let host_git = |args: &[&str], cwd: &Path| {
        let mut argv = vec![git, "-c", "user.name=x", "-c", "user.email=x@example.invalid", "-c", "safe.directory=*"];
        argv.extend(args.iter().copied());
        host(&argv, cwd)
    };
    host_git(&["init", "-q"], &src);
    host_git(&["commit", "-q", "--allow-empty", "-m", "served"], &src);
    host_git(&["clone", "-q", "--bare", src.to_str().unwrap(), site.join("served.git").to_str().unwrap()], &s.0);
    host_git(&["update-server-info"], &site.join("served.git"));
    let server = Server::start(&site, None);
    let remote = format!("http://127.0.0.1:{}/served.git", server.port);

    for who in identities() {
        let t = Scratch::new("git");
        let repo_dir = t.dir("repo");
        t.file("repo/a.txt", "first file\n");
        let home = t.dir("home");
        t.file("home/.gitconfig", "[user]\n\tname = From Home\n\temail = home@example.invalid\n");
        let run = || {
            let mut r = sandboxed(who, &policy).cwd(&repo_dir).env("HOME", home.to_str().unwrap());
            for (k, v) in ident {
                r = r.env(k, v);
            }
            r.env_remove("XDG_CONFIG_HOME").timeout(Duration::from_secs(60))
        };
        run().run(&[git, "init", "-q"]).ok();
        run().run(&[git, "add", "a.txt"]).ok();
        run().run(&[git, "commit", "-q", "-m", "first commit"]).ok();
        let log = run().run(&[git, "log", "--format=%s|%an"]);
        assert_eq!(log.ok().stdout, "first commit|Sandboxed Author\n", "as {who:?}: {log:?}");
        assert!(repo_dir.join(".git/HEAD").is_file() && repo_dir.join(".git/index").is_file(), "as {who:?}");

        // ~/.gitconfig is not read (HOME is /tmp inside, the real one invisible).
        let cfg = run().run(&[git, "config", "--get", "user.name"]);
        assert_ne!(cfg.status(), 0, "as {who:?}: {cfg:?}");
        assert!(!cfg.stdout.contains("From Home"), "as {who:?}: {cfg:?}");

        // No network: the local server and any outside address are unreachable.
        let lr = run().run(&[git, "ls-remote", &remote]);
        assert_ne!(lr.status(), 0, "as {who:?}: {lr:?}");
        assert!(lr.stderr.contains("connect") || lr.stderr.contains("Connection refused"), "as {who:?}: {lr:?}");
        let far = run().run(&[git, "ls-remote", "https://192.0.2.1/nothing.git"]);
        assert_ne!(far.status(), 0, "as {who:?}: {far:?}");
        let clone = run().run(&[git, "clone", "-q", &remote, "cloned"]);
        assert_ne!(clone.status(), 0, "as {who:?}: {clone:?}");
        assert!(!repo_dir.join("cloned/.git/HEAD").exists());

        // Control: without the sandbox the remote answers and ~/.gitconfig is read.
        let ctl = || bare(who).cwd(&t.0).env("HOME", home.to_str().unwrap()).env_remove("XDG_CONFIG_HOME");
        let lr = ctl().run(&[git, "ls-remote", &remote]);
        assert!(lr.ok().stdout.contains("refs/heads/"), "control as {who:?}: {lr:?}");
        assert_eq!(ctl().run(&[git, "config", "--get", "user.name"]).ok().stdout, "From Home\n");
    }
    drop(server);
}

#[test]
fn sqlite3_creates_and_queries_a_database_in_its_directory_only() {
    let sqlite3 = need("/usr/bin/sqlite3", "sqlite3");
    let policy = shipped("sqlite3");
    for who in identities() {
        let s = Scratch::new("sqlite");
        let db = s.dir("db");
        let outside = s.path("outside.db");
        host(&[sqlite3, outside.to_str().unwrap(), "create table secret(x); insert into secret values (1);"], &s.0);
        std::fs::set_permissions(&outside, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();

        let out = sandboxed(who, &policy).cwd(&db).run(&[
            sqlite3,
            "test.db",
            "create table t(x); insert into t values (42), (7); select sum(x) from t;",
        ]);
        assert_eq!(out.ok().stdout, "49\n", "as {who:?}: {out:?}");
        assert!(db.join("test.db").is_file(), "as {who:?}");
        let again = sandboxed(who, &policy).cwd(&db).run(&[sqlite3, "test.db", "select count(*), max(x) from t;"]);
        assert_eq!(again.ok().stdout, "2|42\n", "as {who:?}: {again:?}");

        // A database outside the directory is not there: ATTACH makes a new, empty one in the
        // sandbox's private filesystem (or fails), never the host's.
        let attach = format!("attach '{}' as o; select count(*) from o.sqlite_master;", outside.display());
        let sb = sandboxed(who, &policy).cwd(&db).run(&[sqlite3, "test.db", &attach]);
        assert!(!sb.stdout.contains('1'), "as {who:?}: {sb:?}");
        let made = format!("attach '{}' as o; create table o.t(x);", s.path("made.db").display());
        let _ = sandboxed(who, &policy).cwd(&db).run(&[sqlite3, "test.db", &made]);
        assert!(!s.path("made.db").exists(), "as {who:?}: sqlite3 wrote outside its directory");
        // Control: without the sandbox the outside database is attached with its table.
        assert_eq!(bare(who).cwd(&db).run(&[sqlite3, "test.db", &attach]).ok().stdout, "1\n", "control as {who:?}");
    }
}

const MAKE_TAR: &str = r#"
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w", format=tarfile.GNU_FORMAT) as t:
    def add(name, data=None, link=None):
        ti = tarfile.TarInfo(name)
        if link is None:
            ti.size, ti.mode = len(data), 0o644
            t.addfile(ti, io.BytesIO(data))
        else:
            ti.type, ti.linkname, ti.mode = tarfile.SYMTYPE, link, 0o777
            t.addfile(ti)
    add("good/hello.txt", b"inside\n")
    add("../escape-rel.txt", b"relative\n")
    add(sys.argv[2], b"absolute\n")
    add("up", link="..")
    add("up/escape-link.txt", b"through a symlink\n")
"#;

/// An archive with one good member and three that try to leave the directory they are extracted
/// in (`../`, an absolute name inside `outside`, a symlink to `..`).
fn hostile_tar(outside: &Path) -> Vec<u8> {
    let out = outside.join("archive.tar");
    host(&[PYTHON, "-c", MAKE_TAR, out.to_str().unwrap(), outside.join("escape-abs.txt").to_str().unwrap()], outside);
    let data = std::fs::read(&out).unwrap();
    std::fs::remove_file(&out).unwrap();
    data
}

#[test]
fn tar_extracts_from_stdin_into_the_cwd_and_nothing_escapes() {
    let tar = need("/usr/bin/tar", "tar");
    let policy = shipped("tar-extract");
    let escapes = ["escape-rel.txt", "escape-abs.txt", "escape-link.txt"];
    for who in identities() {
        let s = Scratch::new("tar");
        let dest = s.dir("dest");
        s.file("neighbour.txt", "beside the destination");
        let archive = hostile_tar(&s.0);
        // -P keeps ../ and absolute names and follows the archive's symlink: tar itself protects
        // nothing here, the sandbox does.
        let out = sandboxed(who, &policy).cwd(&dest).stdin(&archive).run(&[tar, "-xPf", "-"]);
        assert_eq!(read(&dest.join("good/hello.txt")).as_deref(), Some("inside\n"), "as {who:?}: {out:?}");
        for e in escapes {
            assert!(!s.path(e).exists(), "as {who:?}: {e} escaped: {out:?}");
        }
        // Plain `tar xf -` works and stays inside too.
        let dest2 = s.dir("dest2");
        let plain = sandboxed(who, &policy).cwd(&dest2).stdin(&archive).run(&[tar, "xf", "-"]);
        assert_eq!(read(&dest2.join("good/hello.txt")).as_deref(), Some("inside\n"), "as {who:?}: {plain:?}");
        for e in escapes {
            assert!(!s.path(e).exists(), "as {who:?}: {e} escaped: {plain:?}");
        }
        // The directory around the destination is not even visible.
        let ls = sandboxed(who, &policy).cwd(&dest).run(&["/usr/bin/ls", "-A", ".."]);
        assert_eq!(ls.ok().stdout, "dest\n", "as {who:?}: {ls:?}");

        // Control: without the sandbox the same archive and command escape.
        let c = Scratch::new("tar-control");
        let cdest = c.dir("dest");
        let carchive = hostile_tar(&c.0);
        bare(who).cwd(&cdest).stdin(&carchive).run(&[tar, "-xPf", "-"]).ok();
        for e in escapes {
            assert!(c.path(e).exists(), "control as {who:?}: {e} did not escape");
        }
        assert!(bare(who).cwd(&dest).run(&["/usr/bin/ls", "-A", ".."]).ok().stdout.contains("neighbour.txt"));
    }
}
