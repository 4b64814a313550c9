use super::*;

fn ctx() -> Context {
    Context {
        vars: Vars {
            home: Some("/home/u".into()),
            cwd: "/work".into(),
            exe: "/opt/app/bin/app".into(),
            exe_dir: "/opt/app/bin".into(),
            uid: 1000,
            gid: 1000,
            user: Some("u".into()),
            tmpdir: "/tmp".into(),
            ..Vars::default()
        },
        search_dirs: Vec::new(),
        real_root: false,
    }
}

fn inline(text: &str) -> Result<Policy, PolicyError> {
    load(&Source::Inline(text.to_owned()), &ctx())
}

fn err(text: &str) -> String {
    inline(text).unwrap_err().to_string()
}

/// A directory of policy files for `extends` tests.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("selfbox-policy-test-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn minimal_policy_gets_safe_defaults() {
    let p = inline(r#"{"selfbox": 1}"#).unwrap();
    assert_eq!(p.namespaces, DEFAULT_NAMESPACES);
    assert_eq!(p.root, Root::Tmpfs);
    assert!(p.mounts.is_empty());
    assert_eq!(p.network(), Network::None);
    assert_eq!(p.hostname.as_deref(), Some("sandbox"));
    assert_eq!(p.close_fds, CloseFds::All);
    assert!(p.no_new_privs);
    assert!(p.capabilities.is_empty());
    assert_eq!(p.run_as, Some(RunAs::Name("nobody".into())));
    assert_eq!((p.uid, p.gid), (IdMap::Same, IdMap::Same));
}

#[test]
fn version_is_required_and_checked() {
    assert!(err("{}").contains("missing \"selfbox\": 1"));
    assert!(err(r#"{"selfbox": 2}"#).contains("/selfbox: unsupported format version"));
}

#[test]
fn errors_name_the_json_pointer() {
    let e =
        err(r#"{"selfbox": 1, "mounts": [{"type": "tmpfs", "target": "/tmp"}, {"type": "bind", "source": "usr"}]}"#);
    assert!(e.contains("/mounts/1/source: \"usr\" must be an absolute path"), "{e}");
    let e = err(r#"{"selfbox": 1, "close_fds": "yes"}"#);
    assert!(e.contains("/close_fds: expected true, false or"), "{e}");
    let e = err(r#"{"selfbox": 1, "mounts": [{"type": "bind", "source": "/usr", "readonyl": true}]}"#);
    assert!(e.contains("/mounts/0/readonyl: unknown key") && e.contains("did you mean \"readonly\""), "{e}");
    let e = err(r#"{"selfbox": 1, "namepsaces": []}"#);
    assert!(e.contains("/namepsaces") && e.contains("did you mean \"namespaces\""), "{e}");
    let e = err(r#"{"selfbox": 1, "mounts": [{"type": "bindd", "source": "/usr"}]}"#);
    assert!(e.contains("/mounts/0/type") && e.contains("did you mean \"bind\""), "{e}");
}

#[test]
fn syntax_errors_have_line_and_column() {
    let e = err("{\"selfbox\": 1,\n \"cwd\": \"/\",\n}");
    assert!(e.starts_with("inline policy:3:1: invalid JSON"), "{e}");
    let e = err(r#"{"selfbox": 1, "selfbox": 1}"#);
    assert!(e.contains("duplicate key \"selfbox\""), "{e}");
}

#[test]
fn variables_expand_in_paths_and_env() {
    let p = inline(
        r#"{"selfbox": 1, "cwd": "${HOME}/src", "env": {"set": {"WHO": "${USER}:${UID}", "T": "${TMPDIR}"}},
            "mounts": [{"type": "tmpfs", "target": "${HOME}"}]}"#,
    )
    .unwrap();
    assert_eq!(p.cwd.as_deref(), Some("/home/u/src"));
    assert_eq!(p.env.set, vec![("WHO".into(), "u:1000".into()), ("T".into(), "/tmp".into())]);
    assert_eq!(p.mounts[0].target, "/home/u");
    let e = err(r#"{"selfbox": 1, "cwd": "${NOPE}/x"}"#);
    assert!(e.contains("/cwd: unknown variable ${NOPE}"), "{e}");
}

#[test]
fn bind_sources_resolve_on_the_host() {
    let p = inline(r#"{"selfbox": 1, "mounts": [{"type": "bind", "source": "/proc/self/.."}]}"#);
    assert!(p.unwrap_err().to_string().contains("must not contain \"..\""));
    let d = Dir::new("bind");
    std::fs::create_dir(d.0.join("real")).unwrap();
    std::os::unix::fs::symlink(d.0.join("real"), d.0.join("link")).unwrap();
    let text = format!(r#"{{"selfbox": 1, "mounts": [{{"type": "bind", "source": "{}/link"}}]}}"#, d.0.display());
    let p = inline(&text).unwrap();
    let MountKind::Bind { host: Some(h), .. } = &p.mounts[0].kind else { panic!() };
    assert_eq!(h.path, d.0.join("real").display().to_string());
    assert!(h.is_dir && h.symlink.is_none());
    assert_eq!(p.mounts[0].target, format!("{}/link", d.0.display()), "target defaults to the source as written");
    let text = format!(
        r#"{{"selfbox": 1, "mounts": [{{"type": "bind", "source": "{}/link", "keep_symlink": true}}]}}"#,
        d.0.display()
    );
    let MountKind::Bind { host: Some(h), .. } = &inline(&text).unwrap().mounts[0].kind else { panic!() };
    assert_eq!(h.symlink.as_deref(), Some(d.0.join("real").to_str().unwrap()));
}

#[test]
fn missing_bind_source_fails_unless_optional() {
    let e = err(r#"{"selfbox": 1, "mounts": [{"type": "bind", "source": "/nonexistent/x"}]}"#);
    assert!(e.contains("/mounts/0/source: /nonexistent/x: ENOENT") && e.contains("\"optional\": true"), "{e}");
    let p = inline(r#"{"selfbox": 1, "mounts": [{"type": "bind", "source": "/nonexistent/x", "optional": true}]}"#)
        .unwrap();
    assert!(p.mounts.is_empty());
}

#[test]
fn namespaces_and_network_agree() {
    let p = inline(r#"{"selfbox": 1, "network": "host"}"#).unwrap();
    assert!(!p.has(libc::CLONE_NEWNET));
    let p = inline(r#"{"selfbox": 1, "namespaces": ["user", "mount"]}"#).unwrap();
    assert_eq!(p.network(), Network::Host);
    assert_eq!(p.hostname, None);
    let e = err(r#"{"selfbox": 1, "namespaces": ["user", "net"], "network": "host"}"#);
    assert!(e.contains("/network: contradicts"), "{e}");
    let e = err(r#"{"selfbox": 1, "namespaces": ["user", "user"]}"#);
    assert!(e.contains("/namespaces/1: namespace \"user\" is listed twice"), "{e}");
    let e = err(r#"{"selfbox": 1, "namespaces": ["user"], "hostname": "x"}"#);
    assert!(e.contains("/hostname: setting the hostname needs the \"uts\" namespace"), "{e}");
    let e = err(r#"{"selfbox": 1, "namespaces": ["mount", "pid"]}"#);
    assert!(e.contains("needs the \"user\" namespace"), "{e}");
    let e = err(r#"{"selfbox": 1, "namespaces": ["user", "mount"], "mounts": [{"type": "proc"}]}"#);
    assert!(e.contains("/mounts/0: a proc mount needs the \"pid\" namespace"), "{e}");
    assert!(inline(r#"{"selfbox": 1, "namespaces": ["user"], "uid": 0}"#).is_ok());
    let e = err(r#"{"selfbox": 1, "namespaces": ["mount"], "uid": 0}"#);
    assert!(e.contains("/uid: mapping an id needs the \"user\" namespace"), "{e}");
}

#[test]
fn mount_entries_parse() {
    let p = inline(
        r#"{"selfbox": 1, "mounts": [
            {"type": "tmpfs", "target": "/tmp", "size": "64M", "mode": "1777"},
            {"type": "symlink", "target": "/bin", "link": "usr/bin"},
            {"type": "proc"}, {"type": "dev"},
            {"type": "dir", "target": "/home/user", "mode": "0700"},
            {"type": "file", "target": "/etc/motd", "content": "hello\n", "comment": "greeting"}]}"#,
    )
    .unwrap();
    let kinds: Vec<&MountKind> = p.mounts.iter().map(|m| &m.kind).collect();
    assert_eq!(kinds[0], &MountKind::Tmpfs { size: Some(64 << 20), mode: Some(0o1777) });
    assert_eq!(kinds[1], &MountKind::Symlink { link: "usr/bin".into() });
    assert_eq!((p.mounts[2].target.as_str(), kinds[2]), ("/proc", &MountKind::Proc));
    assert_eq!((p.mounts[3].target.as_str(), kinds[3]), ("/dev", &MountKind::Dev));
    assert_eq!(kinds[4], &MountKind::Dir { mode: 0o700 });
    assert_eq!(kinds[5], &MountKind::File { content: "hello\n".into(), mode: 0o644 });
    let e = err(r#"{"selfbox": 1, "mounts": [{"type": "tmpfs"}]}"#);
    assert!(e.contains("/mounts/0: a tmpfs mount needs \"target\""), "{e}");
    let e = err(r#"{"selfbox": 1, "mounts": [{"type": "tmpfs", "target": "/"}]}"#);
    assert!(e.contains("cannot replace \"/\""), "{e}");
    let e = err(r#"{"selfbox": 1, "mounts": [{"type": "symlink", "target": "/x", "link": "y", "size": "1M"}]}"#);
    assert!(e.contains("/mounts/0/size: unknown key"), "{e}");
}

#[test]
fn env_rlimits_cgroup_seccomp_parse() {
    let p = inline(
        r#"{"selfbox": 1,
            "env": {"clear": true, "keep": ["PATH"], "set": {"A": "1"}, "unset": ["B"]},
            "rlimits": {"nofile": 1024, "as": "4G", "cpu": {"soft": 10, "hard": 20}, "core": "unlimited"},
            "cgroup": {"memory_max": "512M", "pids_max": 256, "cpu_max": 1.5, "io_weight": 100},
            "wall_time": 2.5,
            "seccomp": {"default_action": "allow", "rules": [
                {"action": "errno", "errno": "EPERM", "syscalls": ["@mount", "keyctl"]},
                {"action": "errno", "syscalls": ["ioctl"], "args": [{"index": 1, "op": "masked_eq", "mask": "0xffffffff", "value": "TIOCSTI"}]},
                {"action": "errno", "errno": "ENOSYS", "syscalls": ["clone3"]}]}}"#,
    )
    .unwrap();
    assert!(p.env.clear);
    let lim: Vec<(&str, u64, u64)> = p.rlimits.iter().map(|r| (r.name, r.soft, r.hard)).collect();
    assert!(lim.contains(&("as", 4 << 30, 4 << 30)) && lim.contains(&("cpu", 10, 20)));
    assert!(lim.contains(&("core", libc::RLIM_INFINITY, libc::RLIM_INFINITY)));
    assert_eq!(p.cgroup.memory_max, Some(512 << 20));
    assert_eq!(p.cgroup.cpu_max, Some(1.5));
    assert_eq!(p.wall_time, Some(2.5));
    let s = p.seccomp.unwrap();
    assert!(s.rules.iter().any(|r| r.name == "mount" && r.action == Action::Errno(libc::EPERM)));
    assert!(s.rules.iter().any(|r| r.name == "clone3" && r.action == Action::Errno(libc::ENOSYS)));
    let ioctl = s.rules.iter().find(|r| r.name == "ioctl").unwrap();
    assert_eq!(&*ioctl.args, &[ArgCmp { index: 1, op: CmpOp::MaskedEq(0xffff_ffff), value: 0x5412 }]);
    let e = err(r#"{"selfbox": 1, "rlimits": {"nofile": {"soft": 10, "hard": 5}}}"#);
    assert!(e.contains("/rlimits/nofile: soft limit 10 is above the hard limit 5"), "{e}");
    let e = err(r#"{"selfbox": 1, "rlimits": {"nofiles": 5}}"#);
    assert!(e.contains("did you mean \"nofile\""), "{e}");
    let e = err(r#"{"selfbox": 1, "seccomp": {"rules": [{"action": "errno", "syscalls": ["mkdri"]}]}}"#);
    assert!(e.contains("/seccomp/rules/0/syscalls/0: unknown syscall \"mkdri\"") && e.contains("\"mkdir\""), "{e}");
    let e = err(r#"{"selfbox": 1, "seccomp": {"rules": [{"action": "errno", "syscalls": ["@mounts"]}]}}"#);
    assert!(e.contains("unknown syscall group \"@mounts\"; did you mean \"@mount\""), "{e}");
}

#[test]
fn raising_a_hard_rlimit_needs_root() {
    let e = err(r#"{"selfbox": 1, "rlimits": {"nofile": 99999999}}"#);
    assert!(e.contains("above the current hard limit") && e.contains("only root"), "{e}");
    let mut c = ctx();
    c.real_root = true;
    assert!(load(&Source::Inline(r#"{"selfbox": 1, "rlimits": {"nofile": 99999999}}"#.into()), &c).is_ok());
}

#[test]
fn extends_merges_and_detects_cycles() {
    let d = Dir::new("extends");
    d.write(
        "base.json",
        r#"{"selfbox": 1, "hostname": "base", "mounts": [{"type": "tmpfs", "target": "/tmp"}],
            "env": {"set": {"A": "1", "B": "2"}},
            "seccomp": {"default_action": "allow", "rules": [{"action": "errno", "syscalls": ["ptrace"]}]}}"#,
    );
    let child = d.write(
        "child.json",
        r#"{"selfbox": 1, "extends": "base", "hostname": "child",
            "mounts": [{"type": "dir", "target": "/tmp/x"}],
            "env": {"unset": ["A"]},
            "seccomp": {"rules": [{"action": "allow", "syscalls": ["ptrace"]}]}}"#,
    );
    let p = load(&Source::File(child.clone()), &ctx()).unwrap();
    assert_eq!(p.hostname.as_deref(), Some("child"));
    assert_eq!(p.mounts.iter().map(|m| m.target.as_str()).collect::<Vec<_>>(), ["/tmp", "/tmp/x"]);
    assert_eq!(p.env.set, vec![("B".into(), "2".into())]);
    assert_eq!(p.env.unset, vec!["A".to_string()]);
    let s = p.seccomp.unwrap();
    assert_eq!(s.rules.len(), 1);
    assert_eq!(s.rules[0].action, Action::Allow, "the child's rule replaces the parent's");
    assert_eq!(p.files.len(), 2);

    d.write("a.json", r#"{"selfbox": 1, "extends": "b"}"#);
    let b = d.write("b.json", r#"{"selfbox": 1, "extends": "./a.json"}"#);
    let e = load(&Source::File(b), &ctx()).unwrap_err().to_string();
    assert!(e.contains("extends cycle") && e.contains("a.json") && e.contains("b.json"), "{e}");
    let e = err(r#"{"selfbox": 1, "extends": "no-such-policy"}"#);
    assert!(e.contains("/extends: no policy named \"no-such-policy\""), "{e}");
}

#[test]
fn extends_finds_installed_policies_by_name() {
    let d = Dir::new("search");
    d.write("shipped.json", r#"{"selfbox": 1, "hostname": "shipped"}"#);
    let mut c = ctx();
    c.search_dirs = vec![d.0.clone()];
    let p = load(&Source::Inline(r#"{"selfbox": 1, "extends": "shipped"}"#.into()), &c).unwrap();
    assert_eq!(p.hostname.as_deref(), Some("shipped"));
}

#[test]
fn policy_dir_variable_is_the_files_directory() {
    let d = Dir::new("policydir");
    let f = d.write("p.json", r#"{"selfbox": 1, "mounts": [{"type": "tmpfs", "target": "${POLICY_DIR}/t"}]}"#);
    let p = load(&Source::File(f), &ctx()).unwrap();
    assert_eq!(p.mounts[0].target, format!("{}/t", std::fs::canonicalize(&d.0).unwrap().display()));
    assert!(err(r#"{"selfbox": 1, "cwd": "${POLICY_DIR}"}"#).contains("inline policy"));
}

#[test]
fn run_as_resolves_only_for_real_root() {
    let mut c = ctx();
    c.real_root = true;
    let p = load(&Source::Inline(r#"{"selfbox": 1}"#.into()), &c).unwrap();
    let (uid, gid) = lookup_user("nobody").unwrap();
    assert_eq!(p.run_as, Some(RunAs::Ids { uid, gid }));
    let p = load(&Source::Inline(r#"{"selfbox": 1, "run_as": null}"#.into()), &c).unwrap();
    assert_eq!(p.run_as, None);
    let p = load(&Source::Inline(r#"{"selfbox": 1, "run_as": "1000:100"}"#.into()), &c).unwrap();
    assert_eq!(p.run_as, Some(RunAs::Ids { uid: 1000, gid: 100 }));
    let e = load(&Source::Inline(r#"{"selfbox": 1, "run_as": "no-such-user-x"}"#.into()), &c).unwrap_err();
    assert!(e.to_string().contains("no user \"no-such-user-x\""), "{e}");
}

#[test]
fn seccomp_without_no_new_privs_is_refused() {
    let e = err(
        r#"{"selfbox": 1, "no_new_privs": false, "seccomp": {"rules": [{"action": "errno", "syscalls": ["ptrace"]}]}}"#,
    );
    assert!(e.contains("/no_new_privs: a seccomp filter needs no_new_privs"), "{e}");
}

#[test]
fn shipped_policies_load() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policy");
    let mut c = ctx();
    c.search_dirs = vec![dir.clone()];
    c.vars.exe_dir = "/usr/bin".into();
    // Program policies bind parts of the directory they run in (pdftotext: in/ and out/).
    let job = Dir::new("job");
    for d in ["in", "out"] {
        std::fs::create_dir(job.0.join(d)).unwrap();
    }
    c.vars.cwd = job.0.display().to_string();
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "json") && p.file_name().is_some_and(|n| n != "schema.json") {
            load(&Source::File(p.clone()), &c).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        }
    }
}

#[test]
#[ignore]
fn profile_default_load() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policy");
    let mut c = ctx();
    c.search_dirs = vec![dir.clone()];
    c.vars.exe_dir = "/usr/bin".into();
    let src = Source::File(dir.join("default.json"));
    let text = std::fs::read_to_string(dir.join("default.json")).unwrap();
    let t = std::time::Instant::now();
    for _ in 0..100 {
        json::parse(&text, "x").unwrap();
    }
    eprintln!("json parse: {:?}", t.elapsed() / 100);
    let t = std::time::Instant::now();
    for _ in 0..100 {
        load(&src, &c).unwrap();
    }
    eprintln!("load: {:?}", t.elapsed() / 100);
    let t = std::time::Instant::now();
    for _ in 0..100 {
        for p in ["/usr", "/etc", "/bin", "/sbin", "/lib", "/lib64", "/usr/bin"] {
            std::fs::canonicalize(p).unwrap();
        }
    }
    eprintln!("canonicalize x7: {:?}", t.elapsed() / 100);
    let t = std::time::Instant::now();
    for _ in 0..100 {
        let mut out = Vec::new();
        syscalls::expand_group("@obsolete", &mut out);
        syscalls::expand_group("@mount", &mut out);
    }
    eprintln!("groups: {:?}", t.elapsed() / 100);
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v.as_object_mut().unwrap().remove("seccomp");
    let noseccomp = Source::Inline(v.to_string());
    let t = std::time::Instant::now();
    for _ in 0..100 {
        load(&noseccomp, &c).unwrap();
    }
    eprintln!("load without seccomp: {:?}", t.elapsed() / 100);
    let t = std::time::Instant::now();
    for _ in 0..100 {
        for n in ["quotactl_fd", "mount", "ptrace"] {
            syscalls::resolve(n, &Ptr::root(), true).unwrap();
        }
    }
    eprintln!("resolve 3: {:?}", t.elapsed() / 100);
}

/// `valgrind --tool=callgrind` on this gives a stable instruction count of loading the default.
#[test]
#[ignore]
fn profile_default_load_only() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policy");
    let mut c = ctx();
    c.search_dirs = vec![dir.clone()];
    c.vars.exe_dir = "/usr/bin".into();
    let n: usize = std::env::var("N").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    let name = std::env::var("P").unwrap_or_else(|_| "default".into());
    for _ in 0..n {
        load(&Source::File(dir.join(format!("{name}.json"))), &c).unwrap();
    }
}

#[test]
fn unsafe_argument_comparisons_are_refused() {
    let rule = |sys: &str, arg: &str| {
        format!(
            r#"{{"selfbox": 1, "seccomp": {{"rules": [{{"action": "allow", "syscalls": ["{sys}"], "args": [{arg}]}}]}}}}"#
        )
    };
    // The kernel reads socket's family as an int: a 64-bit "ne" could be passed with garbage above.
    let e = err(&rule("socket", r#"{"index": 0, "op": "ne", "value": "AF_UNIX"}"#));
    assert!(e.contains("/seccomp/rules/0/syscalls/0: socket reads argument 0 as a 32-bit int"), "{e}");
    let e = err(&rule("clone", r#"{"index": 0, "op": "gt", "value": 1}"#));
    assert!(e.contains("clone reads argument 0 as a 32-bit int"), "{e}");
    // Control: eq and masked_eq on it, and "ne" on a 64-bit argument, are fine.
    inline(&rule("socket", r#"{"index": 0, "op": "eq", "value": "AF_UNIX"}"#)).unwrap();
    inline(&rule("socket", r#"{"index": 0, "op": "masked_eq", "mask": "0xff", "value": 1}"#)).unwrap();
    inline(&rule("write", r#"{"index": 0, "op": "ne", "value": 2}"#)).unwrap();
    let e = err(&rule("write", r#"{"index": 0, "op": "masked_eq", "mask": "0xf0", "value": "0x0f"}"#));
    assert!(e.contains("/seccomp/rules/0/args/0/value: value 0xf has bits outside mask 0xf0"), "{e}");
}

#[test]
fn later_exceptions_are_tried_first_and_bounded() {
    let mut rules = vec![r#"{"action": "errno", "syscalls": ["personality"]}"#.to_owned()];
    rules.push(
        r#"{"action": "allow", "syscalls": ["personality"], "args": [{"index": 0, "op": "eq", "value": 0}]}"#.into(),
    );
    rules.push(
        r#"{"action": "kill_thread", "syscalls": ["personality"], "args": [{"index": 0, "op": "masked_eq", "mask": "0xff", "value": 0}]}"#
            .into(),
    );
    let text = |rules: &[String]| format!(r#"{{"selfbox": 1, "seccomp": {{"rules": [{}]}}}}"#, rules.join(","));
    let s = inline(&text(&rules)).unwrap().seccomp.unwrap();
    let [g] = s.exceptions.as_slice() else { panic!("{:?}", s.exceptions) };
    let order: Vec<Action> = g.cases.iter().map(|c| c.1).collect();
    assert_eq!(order, [Action::KillThread, Action::Allow]);
    for v in 1..=31 {
        rules.push(format!(
            r#"{{"action": "allow", "syscalls": ["personality"], "args": [{{"index": 0, "op": "eq", "value": {v}}}]}}"#
        ));
    }
    let e = err(&text(&rules));
    assert!(e.contains("more than 32 exceptions to the unconditional rule for personality"), "{e}");
    rules.pop();
    inline(&text(&rules)).unwrap();
}

#[test]
fn wall_time_and_kill_need_the_pid_namespace() {
    let no_pid = r#""namespaces": ["user", "mount", "net"]"#;
    let e = err(&format!(r#"{{"selfbox": 1, {no_pid}, "wall_time": 5}}"#));
    assert!(e.contains("/wall_time: wall_time needs the \"pid\" namespace"), "{e}");
    let kill = r#""seccomp": {"rules": [{"action": "kill", "syscalls": ["ptrace"]}]}"#;
    let e = err(&format!(r#"{{"selfbox": 1, {no_pid}, {kill}}}"#));
    assert!(e.contains("/seccomp/rules/0: \"kill\" needs the \"pid\" namespace"), "{e}");
    let e = err(&format!(
        r#"{{"selfbox": 1, {no_pid}, "seccomp": {{"default_action": "kill", "rules": [{{"action": "allow", "syscalls": ["read", "write", "close"]}}]}}}}"#
    ));
    assert!(e.contains("/seccomp/default_action: \"kill\" needs"), "{e}");
    // Control: with "pid", or with kill_thread, the same policies load.
    inline(r#"{"selfbox": 1, "wall_time": 5, "seccomp": {"rules": [{"action": "kill", "syscalls": ["ptrace"]}]}}"#)
        .unwrap();
    inline(&format!(
        r#"{{"selfbox": 1, {no_pid}, "seccomp": {{"rules": [{{"action": "kill_thread", "syscalls": ["ptrace"]}}]}}}}"#
    ))
    .unwrap();
}

#[test]
fn the_filter_must_let_selfbox_finish_the_start() {
    let with = |rules: &str, default: &str| {
        format!(r#"{{"selfbox": 1, "seccomp": {{"default_action": "{default}", "rules": [{rules}]}}}}"#)
    };
    let e = err(&with(r#"{"action": "errno", "syscalls": ["write"]}"#, "allow"));
    assert!(e.contains("/seccomp/rules/0: selfbox needs write after loading the filter"), "{e}");
    let e = err(&with(r#"{"action": "allow", "syscalls": ["read"]}"#, "errno"));
    assert!(e.contains("/seccomp: selfbox needs write") && e.contains("the default action"), "{e}");
    // With kill rules the listener's hand-over needs read and close too.
    let kill = r#"{"action": "kill", "syscalls": ["ptrace"]}"#;
    let e = err(&with(&format!(r#"{kill}, {{"action": "kill", "syscalls": ["close"]}}"#), "allow"));
    assert!(e.contains("/seccomp/rules/1: selfbox needs close"), "{e}");
    // Control: refusing close without kill rules, or allowing what is needed, is fine.
    inline(&with(r#"{"action": "errno", "syscalls": ["close"]}"#, "allow")).unwrap();
    inline(&with(&format!(r#"{kill}, {{"action": "allow", "syscalls": ["read", "write", "close"]}}"#), "errno"))
        .unwrap();
}

#[test]
fn cgroup_fields_merge_by_key_and_optional_is_inherited_unless_set() {
    let d = Dir::new("cgroup-merge");
    d.write("base.json", r#"{"selfbox": 1, "cgroup": {"memory_max": "1G", "optional": true}}"#);
    let child = d.write("child.json", r#"{"selfbox": 1, "extends": "base", "cgroup": {"pids_max": 64}}"#);
    let c = load(&Source::File(child), &ctx()).unwrap().cgroup;
    assert_eq!((c.memory_max, c.pids_max, c.optional), (Some(1 << 30), Some(64), true));
    // Control: a child that says optional: false gets it.
    let strict =
        d.write("strict.json", r#"{"selfbox": 1, "extends": "base", "cgroup": {"pids_max": 64, "optional": false}}"#);
    assert!(!load(&Source::File(strict), &ctx()).unwrap().cgroup.optional);
}
