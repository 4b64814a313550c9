use super::*;
use crate::policy::{Cgroup, CloseFds, DEFAULT_NAMESPACES, EnvPolicy, IdMap, Mount, Ptr};

/// A described host: directories and files that exist.
struct Host(Vec<(&'static str, bool)>);

impl HostFs for Host {
    fn kind(&self, path: &str) -> Option<bool> {
        self.0.iter().find(|(p, _)| *p == path).map(|(_, d)| *d)
    }
}

fn bind(src: &str, target: &str, readonly: bool) -> Mount {
    mnt(
        target,
        MountKind::Bind {
            source: src.into(),
            host: Some(HostPath { path: src.into(), is_dir: !src.ends_with(".conf"), symlink: None }),
            readonly,
            optional: false,
            keep_symlink: false,
        },
    )
}

fn mnt(target: &str, kind: MountKind) -> Mount {
    Mount { target: target.into(), kind, origin: "p.json".into(), ptr: Ptr::root().key("mounts") }
}

fn policy(root: Root, mounts: Vec<Mount>) -> Policy {
    Policy {
        origin: "p.json".into(),
        files: vec![],
        namespaces: DEFAULT_NAMESPACES,
        uid: IdMap::Same,
        gid: IdMap::Same,
        run_as: None,
        hostname: None,
        root,
        mounts,
        cwd: None,
        env: EnvPolicy::default(),
        close_fds: CloseFds::All,
        new_session: false,
        capabilities: vec![],
        no_new_privs: true,
        rlimits: vec![],
        cgroup: Cgroup::default(),
        wall_time: None,
        seccomp: None,
    }
}

#[test]
fn tmpfs_root_creates_mountpoints_and_sets_read_only_last() {
    let p = policy(
        Root::Tmpfs,
        vec![
            bind("/usr", "/usr", true),
            bind("/etc/resolv.conf", "/etc/resolv.conf", true),
            mnt("/bin", MountKind::Symlink { link: "usr/bin".into() }),
            mnt("/proc", MountKind::Proc),
            mnt("/dev", MountKind::Dev),
            mnt("/tmp", MountKind::Tmpfs { size: None, mode: None }),
            bind("/home/u/src", "/work", false),
        ],
    );
    let plan = plan(&p, &Host(vec![])).unwrap();
    assert_eq!(
        plan.ops,
        vec![
            Op::MkdirAll("/usr".into()),
            Op::Bind { src: "/usr".into(), dst: "/usr".into() },
            Op::MkdirAll("/etc".into()),
            Op::Touch("/etc/resolv.conf".into()),
            Op::Bind { src: "/etc/resolv.conf".into(), dst: "/etc/resolv.conf".into() },
            Op::Symlink { link: "usr/bin".into(), dst: "/bin".into() },
            Op::MkdirAll("/proc".into()),
            Op::MkdirAll("/dev".into()),
            Op::Dev { dst: "/dev".into() },
            Op::MkdirAll("/tmp".into()),
            Op::Tmpfs { dst: "/tmp".into(), size: None, mode: None },
            Op::MkdirAll("/work".into()),
            Op::Bind { src: "/home/u/src".into(), dst: "/work".into() },
        ]
    );
    assert_eq!(plan.procs, vec!["/proc".to_string()]);
    assert_eq!(
        plan.attrs,
        vec![
            Attr { path: "/usr".into(), readonly: true, recursive: true },
            Attr { path: "/etc/resolv.conf".into(), readonly: true, recursive: true },
            Attr { path: "/dev".into(), readonly: true, recursive: false },
        ]
    );
}

#[test]
fn nothing_is_created_on_the_host() {
    // A mountpoint inside a bind must already exist in the bind's source.
    let p = policy(Root::Tmpfs, vec![bind("/home/u/src", "/work", false), bind("/usr/share", "/work/share", true)]);
    let e = plan(&p, &Host(vec![])).unwrap_err().to_string();
    assert!(e.contains("/work/share does not exist in the bind mount /work (from /home/u/src)"), "{e}");
    let ok = plan(&p, &Host(vec![("/home/u/src/share", true)])).unwrap();
    assert!(!ok.ops.contains(&Op::MkdirAll("/work/share".into())), "{:?}", ok.ops);
    // dir, file and symlink entries would write into the source.
    for kind in [
        MountKind::Dir { mode: 0o755 },
        MountKind::File { content: String::new(), mode: 0o644 },
        MountKind::Symlink { link: "x".into() },
    ] {
        let p = policy(Root::Tmpfs, vec![bind("/home/u/src", "/work", false), mnt("/work/new", kind)]);
        let e = plan(&p, &Host(vec![])).unwrap_err().to_string();
        assert!(e.contains("would be created on the host"), "{e}");
    }
    // With the host's tree as root, mountpoints must exist, and nothing is created.
    let p = policy(Root::Host, vec![mnt("/home/u", MountKind::Tmpfs { size: None, mode: None })]);
    assert!(plan(&p, &Host(vec![])).unwrap_err().to_string().contains("does not exist in the host's tree"));
    let plan_ok = plan(&p, &Host(vec![("/home/u", true)])).unwrap();
    assert_eq!(plan_ok.ops, vec![Op::Tmpfs { dst: "/home/u".into(), size: None, mode: None }]);
}

#[test]
fn a_tmpfs_makes_its_subtree_creatable() {
    let p = policy(
        Root::Host,
        vec![
            mnt("/home", MountKind::Tmpfs { size: None, mode: None }),
            mnt("/home/user", MountKind::Dir { mode: 0o700 }),
            bind("/srv/data", "/home/user/data", true),
        ],
    );
    let plan = plan(&p, &Host(vec![("/home", true)])).unwrap();
    assert!(plan.ops.contains(&Op::Dir { dst: "/home/user".into(), mode: 0o700 }));
    assert!(plan.ops.contains(&Op::MkdirAll("/home/user/data".into())));
}

#[test]
fn kinds_must_match_and_symlinks_are_not_crossed() {
    let p = policy(Root::Tmpfs, vec![bind("/src", "/work", false), bind("/etc/app.conf", "/work/app", true)]);
    let e = plan(&p, &Host(vec![("/src/app", true)])).unwrap_err().to_string();
    assert!(e.contains("is a directory on the host") && e.contains("needs a file"), "{e}");
    let p = policy(
        Root::Tmpfs,
        vec![mnt("/bin", MountKind::Symlink { link: "usr/bin".into() }), bind("/opt", "/bin/opt", true)],
    );
    assert!(plan(&p, &Host(vec![])).unwrap_err().to_string().contains("lies under /bin"));
    let p = policy(Root::Tmpfs, vec![mnt("/proc", MountKind::Proc), bind("/opt", "/proc/x", true)]);
    assert!(plan(&p, &Host(vec![])).unwrap_err().to_string().contains("lies under /proc"));
}

#[test]
fn writable_mounts_under_read_only_ones_are_cleared() {
    let p = policy(
        Root::Tmpfs,
        vec![
            bind("/usr", "/usr", true),
            mnt("/usr/local", MountKind::Tmpfs { size: None, mode: None }),
            bind("/srv", "/usr/src", false),
            bind("/srv/ro", "/usr/src/ro", true),
        ],
    );
    let host = Host(vec![("/usr/local", true), ("/usr/src", true), ("/srv/ro", true)]);
    let plan = plan(&p, &host).unwrap();
    assert_eq!(
        plan.attrs,
        vec![
            Attr { path: "/usr".into(), readonly: true, recursive: true },
            Attr { path: "/usr/local".into(), readonly: false, recursive: false },
            Attr { path: "/usr/src".into(), readonly: false, recursive: false },
            Attr { path: "/usr/src/ro".into(), readonly: true, recursive: true },
        ]
    );
}

#[test]
fn kept_symlinks_become_symlinks() {
    let keep = mnt(
        "/bin",
        MountKind::Bind {
            source: "/bin".into(),
            host: Some(HostPath { path: "/bin".into(), is_dir: false, symlink: Some("usr/bin".into()) }),
            readonly: true,
            optional: false,
            keep_symlink: true,
        },
    );
    let plan = plan(&policy(Root::Tmpfs, vec![keep]), &Host(vec![])).unwrap();
    assert_eq!(plan.ops, vec![Op::Symlink { link: "usr/bin".into(), dst: "/bin".into() }]);
    assert!(plan.attrs.is_empty());
}

#[test]
fn mkdirs_are_not_repeated() {
    let p = policy(
        Root::Tmpfs,
        vec![mnt("/a/b/c", MountKind::Tmpfs { size: None, mode: None }), mnt("/a/b", MountKind::Dir { mode: 0o755 })],
    );
    let plan = plan(&p, &Host(vec![])).unwrap();
    let mkdirs = plan.ops.iter().filter(|o| matches!(o, Op::MkdirAll(_))).count();
    assert_eq!(mkdirs, 1, "{:?}", plan.ops);
}

#[test]
fn a_read_only_bind_already_visible_through_another_is_skipped() {
    let p = policy(Root::Tmpfs, vec![bind("/usr", "/usr", true), bind("/usr/bin", "/usr/bin", true)]);
    let pl = plan(&p, &Host(vec![("/usr/bin", true)])).unwrap();
    assert_eq!(pl.ops.iter().filter(|o| matches!(o, Op::Bind { .. })).count(), 1, "{:?}", pl.ops);
    // Not when it would change something: writable, or elsewhere, or under a writable bind.
    for extra in [bind("/usr/bin", "/usr/bin", false), bind("/usr/bin", "/usr/sbin", true)] {
        let p = policy(Root::Tmpfs, vec![bind("/usr", "/usr", true), extra]);
        let pl = plan(&p, &Host(vec![("/usr/bin", true), ("/usr/sbin", true)])).unwrap();
        assert_eq!(pl.ops.iter().filter(|o| matches!(o, Op::Bind { .. })).count(), 2, "{:?}", pl.ops);
    }
    let p = policy(Root::Tmpfs, vec![bind("/usr", "/usr", false), bind("/usr/bin", "/usr/bin", true)]);
    let pl = plan(&p, &Host(vec![("/usr/bin", true)])).unwrap();
    assert_eq!(pl.ops.iter().filter(|o| matches!(o, Op::Bind { .. })).count(), 2, "{:?}", pl.ops);
}

#[test]
fn created_entries_never_write_into_a_mount() {
    let file = || MountKind::File { content: "x".into(), mode: 0o644 };
    // A file over a bound host file would truncate the host's; a dir would chmod the host's.
    for (earlier, kind) in [
        (bind("/etc/app.conf", "/etc/app.conf", false), file()),
        (bind("/srv", "/data", false), MountKind::Dir { mode: 0o700 }),
        (mnt("/data", MountKind::Tmpfs { size: None, mode: None }), MountKind::Symlink { link: "x".into() }),
    ] {
        let p = policy(Root::Tmpfs, vec![earlier.clone(), mnt(&earlier.target, kind)]);
        let e = plan(&p, &Host(vec![])).unwrap_err().to_string();
        assert!(e.contains("would be written into the"), "{e}");
    }
    // Control: the same entries elsewhere are planned.
    let p = policy(Root::Tmpfs, vec![bind("/etc/app.conf", "/etc/app.conf", false), mnt("/etc/other", file())]);
    assert!(plan(&p, &Host(vec![])).unwrap().ops.iter().any(|o| matches!(o, Op::File { .. })));
    // A later entry of the same kind replaces the earlier one; another kind is an error.
    let later = MountKind::File { content: "y".into(), mode: 0o600 };
    let p = policy(Root::Tmpfs, vec![mnt("/etc/x", file()), mnt("/etc/x", later)]);
    let ops = plan(&p, &Host(vec![])).unwrap().ops;
    let files: Vec<&Op> = ops.iter().filter(|o| matches!(o, Op::File { .. })).collect();
    assert_eq!(files, [&Op::File { dst: "/etc/x".into(), content: "y".into(), mode: 0o600 }]);
    let p = policy(Root::Tmpfs, vec![mnt("/etc/x", MountKind::Dir { mode: 0o755 }), mnt("/etc/x", file())]);
    assert!(plan(&p, &Host(vec![])).unwrap_err().to_string().contains("already made /etc/x a dir"));
    // Nothing replaces a directory that holds an earlier mount.
    let p = policy(Root::Tmpfs, vec![bind("/srv", "/a/b", true), mnt("/a", file())]);
    assert!(plan(&p, &Host(vec![])).unwrap_err().to_string().contains("would replace the directory that holds /a/b"));
}

#[test]
fn a_stacked_mount_drops_the_flags_of_the_one_it_hides() {
    let p = policy(Root::Tmpfs, vec![bind("/srv", "/data", true), bind("/srv", "/data", false)]);
    let pl = plan(&p, &Host(vec![("/srv", true)])).unwrap();
    assert!(pl.attrs.is_empty(), "{:?}", pl.attrs);
    // Control: the other order keeps the read-only flag for the top mount.
    let p = policy(Root::Tmpfs, vec![bind("/srv", "/data", false), bind("/srv", "/data", true)]);
    let pl = plan(&p, &Host(vec![("/srv", true)])).unwrap();
    assert_eq!(pl.attrs, vec![Attr { path: "/data".into(), readonly: true, recursive: true }]);
    // A redundant read-only bind (skipped) does not drop the flag it relies on.
    let p = policy(Root::Tmpfs, vec![bind("/usr", "/usr", true), bind("/usr", "/usr", true)]);
    let pl = plan(&p, &Host(vec![("/usr", true)])).unwrap();
    assert_eq!(pl.attrs, vec![Attr { path: "/usr".into(), readonly: true, recursive: true }]);
}
