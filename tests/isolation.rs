//! What the program can see and do under the default policy, each with a control run that
//! shows the check would notice the opposite. Every test runs as root and as uid 65534.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;

#[test]
fn host_files_outside_the_binds_are_invisible() {
    let s = Scratch::new("invisible");
    let f = s.file("secret", "x");
    let check = format!("test -e {} && echo seen || echo unseen", f.display());
    for who in identities() {
        assert_eq!(bare(who).sh(&check).stdout.trim(), "seen", "control as {who:?}");
        let out = sandboxed(who, &default_policy()).sh(&check);
        assert_eq!(out.ok().stdout.trim(), "unseen", "as {who:?}: {out:?}");
        // The caller's home is not there either.
        let home = sandboxed(who, &default_policy()).sh("ls -A /root /home 2>&1 | head -3");
        assert!(home.stdout.contains("No such file"), "as {who:?}: {home:?}");
    }
}

#[test]
fn usr_is_read_only() {
    for who in identities() {
        let out = sandboxed(who, &default_policy()).sh("mkdir /usr/selfbox-probe 2>&1; echo rc=$?");
        assert!(out.stdout.contains("Read-only file system"), "as {who:?}: {out:?}");
        let out = sandboxed(who, &default_policy()).sh("grep ' /usr ' /proc/self/mountinfo");
        assert!(out.stdout.split_whitespace().nth(5).is_some_and(|o| o.split(',').any(|f| f == "ro")), "{out:?}");
    }
}

/// A read-only bind is read-only in its submounts too; the control binds it writable and writes.
#[test]
fn read_only_binds_cover_submounts() {
    for who in identities() {
        let s = Scratch::new("submount");
        let dir = s.dir("data");
        let sub = s.dir("data/sub");
        // A private mount namespace around the run holds a tmpfs submount under the source.
        let setup = format!("mount -t tmpfs -o mode=0777 sub {} && exec \"$@\"", sub.display());
        let unshare: &[&str] =
            if who == Who::Root { &["unshare", "-m", "--propagation", "private"] } else { &["unshare", "-Urm"] };
        let mut wrap: Vec<&str> = unshare.to_vec();
        wrap.extend(["/bin/sh", "-c", &setup, "sh"]);
        let policy = |ro: bool| {
            format!(
                r#"{{"selfbox": 1, "extends": "{}", "mounts": [{{"type": "bind", "source": "{}", "target": "/data", "readonly": {ro}}}]}}"#,
                default_policy(),
                dir.display()
            )
        };
        let write = "touch /data/sub/f 2>&1 && echo wrote";
        let ro = sandboxed(who, &policy(true)).wrap(&wrap).sh(write);
        assert!(ro.stdout.contains("Read-only file system"), "as {who:?}: {ro:?}");
        let rw = sandboxed(who, &policy(false)).wrap(&wrap).sh(write);
        assert!(rw.stdout.contains("wrote"), "control as {who:?}: {rw:?}");
    }
}

#[test]
fn tmp_is_private() {
    let s = Scratch::new("tmp");
    let marker = format!("selfbox-tmp-marker-{}", std::process::id());
    for who in identities() {
        let out =
            sandboxed(who, &default_policy()).sh(&format!("ls -A /tmp | wc -l; touch /tmp/{marker} && echo made"));
        let lines: Vec<&str> = out.ok().stdout.lines().collect();
        assert_eq!(lines, ["0", "made"], "as {who:?}: {out:?}");
        assert!(!std::path::Path::new("/tmp").join(&marker).exists(), "the sandbox wrote the host's /tmp");
        // Control: the host's /tmp is not empty (this test's scratch directory lives there).
        assert!(s.0.starts_with("/tmp"));
        assert_ne!(bare(who).sh("ls -A /tmp | wc -l").stdout.trim(), "0");
    }
}

#[test]
fn the_program_is_pid_2_and_host_processes_are_invisible() {
    let me = std::process::id();
    let script = format!("echo $$; test -e /proc/{me} && echo host-visible; ls /proc | grep -c '^[0-9]'");
    for who in identities() {
        let out = sandboxed(who, &default_policy()).sh(&script);
        let lines: Vec<&str> = out.ok().stdout.lines().collect();
        assert_eq!(lines[0], "2", "as {who:?}: {out:?}");
        assert!(!out.stdout.contains("host-visible"), "as {who:?}: {out:?}");
        // init, sh, ls, grep at most.
        assert!(lines.last().unwrap().parse::<u32>().unwrap() <= 4, "as {who:?}: {out:?}");
        let ctl = bare(who).sh(&script);
        assert_ne!(ctl.stdout.lines().next(), Some("2"));
        assert!(ctl.stdout.contains("host-visible"), "control: {ctl:?}");
    }
}

#[test]
fn only_loopback_exists_and_it_is_up() {
    let script = "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; cat /sys/class/net/lo/operstate 2>/dev/null; \
                  ip -o link 2>/dev/null | grep -c LOOPBACK,UP";
    for who in identities() {
        let out = sandboxed(who, &default_policy()).sh("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '");
        assert_eq!(out.ok().stdout.trim(), "lo", "as {who:?}: {out:?}");
        let ctl = bare(who).sh(script);
        assert!(ctl.stdout.lines().any(|l| l != "lo" && !l.is_empty()), "control has only lo? {ctl:?}");
    }
    // lo is up: a TCP connection to 127.0.0.1 works inside.
    let py = "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(); \
              c=socket.create_connection(s.getsockname()); print('connected')";
    for who in identities() {
        let out = sandboxed(who, &default_policy()).run(&["/usr/bin/python3", "-c", py]);
        assert_eq!(out.ok().stdout.trim(), "connected", "as {who:?}: {out:?}");
    }
}

#[test]
fn hostname_is_the_policys_and_the_hosts_is_unchanged() {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_ne!(host.trim(), "sandbox");
    for who in identities() {
        let out = sandboxed(who, &default_policy()).run(&["/usr/bin/hostname"]);
        assert_eq!(out.ok().stdout.trim(), "sandbox", "as {who:?}");
        let custom = format!(r#"{{"selfbox": 1, "extends": "{}", "hostname": "box-7"}}"#, default_policy());
        assert_eq!(sandboxed(who, &custom).run(&["/usr/bin/hostname"]).ok().stdout.trim(), "box-7");
        assert_eq!(bare(who).run(&["/usr/bin/hostname"]).stdout.trim(), host.trim());
    }
    assert_eq!(std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(), host);
}

#[test]
fn host_sysv_ipc_is_invisible() {
    for who in identities() {
        let made = bare(who).sh("ipcmk -M 4096 | grep -o '[0-9]*$'");
        let id = made.ok().stdout.trim().to_owned();
        assert!(!id.is_empty(), "{made:?}");
        let list = "ipcs -m | awk '{print $2}'";
        let ctl = bare(who).sh(list);
        let inside = sandboxed(who, &default_policy()).sh(list);
        bare(who).run(&["ipcrm", "-m", &id]).ok();
        assert!(ctl.stdout.lines().any(|l| l == id), "control: {ctl:?}");
        assert!(!inside.stdout.lines().any(|l| l == id), "as {who:?}: {inside:?}");
    }
}

#[test]
fn ids_are_what_the_policy_says() {
    for who in identities() {
        // Default: the caller's own ids, or nobody for real root (run_as).
        let out = sandboxed(who, &default_policy()).run(&["/usr/bin/id", "-u"]);
        assert_eq!(out.ok().stdout.trim(), "65534", "as {who:?}");
        let mapped = format!(r#"{{"selfbox": 1, "extends": "{}", "uid": 0, "gid": 0}}"#, default_policy());
        let out = sandboxed(who, &mapped).sh("id -u; id -g; grep -E '^(Uid|Gid)' /proc/self/status");
        let lines: Vec<&str> = out.ok().stdout.lines().collect();
        assert_eq!(&lines[..2], ["0", "0"], "as {who:?}: {out:?}");
        let ctl = bare(who).run(&["/usr/bin/id", "-u"]);
        assert_eq!(ctl.stdout.trim(), who.uid().to_string());
    }
}

/// Root inside is never root outside: the program's host uid, read from the host's /proc.
#[test]
fn root_inside_is_not_root_outside() {
    let mapped = format!(r#"{{"selfbox": 1, "extends": "{}", "uid": 0, "gid": 0}}"#, default_policy());
    for who in identities() {
        let mut r = sandboxed(who, &mapped).spawn(&["/bin/sh", "-c", "id -u; exec sleep 7.3141"]);
        assert_eq!(r.expect_line("", std::time::Duration::from_secs(10)).trim(), "0");
        std::thread::sleep(std::time::Duration::from_millis(100));
        // The program itself (the supervisor and init show the same command line).
        let uids: Vec<String> = pids_with("sleep 7.3141")
            .iter()
            .filter(|p| std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "sleep"))
            .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/status")).ok())
            .filter_map(|s| s.lines().find(|l| l.starts_with("Uid:")).map(String::from))
            .collect();
        r.signal(libc::SIGKILL);
        r.wait();
        let expected = if who == Who::Root { NOBODY } else { who.uid() }.to_string();
        assert!(!uids.is_empty(), "as {who:?}: the program was not found");
        for u in uids {
            assert!(u.split_whitespace().skip(1).all(|id| id == expected), "as {who:?}: {u}");
        }
    }
}

#[test]
fn no_capabilities_and_no_new_privs() {
    let script = "grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs)' /proc/self/status";
    for who in identities() {
        let out = sandboxed(who, &default_policy()).sh(script);
        for line in out.ok().stdout.lines() {
            let (k, v) = line.split_once(':').unwrap();
            let want = if k == "NoNewPrivs" { "1" } else { "0000000000000000" };
            assert_eq!(v.trim(), want, "as {who:?}: {line}");
        }
    }
    if is_root() {
        let ctl = bare(Who::Root).sh(script);
        assert!(ctl.stdout.contains("NoNewPrivs:\t0"), "{ctl:?}");
        assert!(!ctl.stdout.contains("CapEff:\t0000000000000000"), "{ctl:?}");
    }
}

#[test]
fn inherited_descriptors_are_closed() {
    let s = Scratch::new("fds");
    let f = s.file("fd3", "x");
    let open3 = format!("exec 3<{} && exec \"$@\"", f.display());
    let wrap = ["/bin/sh", "-c", open3.as_str(), "sh"];
    let check = "test -e /proc/$$/fd/3 && echo open || echo closed";
    let keep = format!(r#"{{"selfbox": 1, "extends": "{}", "close_fds": {{"keep": [3]}}}}"#, default_policy());
    for who in identities() {
        assert_eq!(sandboxed(who, &default_policy()).wrap(&wrap).sh(check).ok().stdout.trim(), "closed", "as {who:?}");
        assert_eq!(sandboxed(who, &keep).wrap(&wrap).sh(check).ok().stdout.trim(), "open", "control as {who:?}");
        assert_eq!(bare(who).wrap(&wrap).sh(check).stdout.trim(), "open", "control as {who:?}");
    }
}

/// The caller's directory is kept only when it is the same directory inside (device and inode);
/// the same path naming another directory (the sandbox's own /tmp) is not.
#[test]
fn cwd_is_kept_only_when_it_is_the_same_directory() {
    let s = Scratch::new("cwd");
    let work = s.dir("work");
    let bound = format!(
        r#"{{"selfbox": 1, "extends": "{}", "mounts": [{{"type": "bind", "source": "{}"}}]}}"#,
        default_policy(),
        work.display()
    );
    for who in identities() {
        let out = sandboxed(who, &bound).cwd(&work).run(&["/bin/pwd"]);
        assert_eq!(out.ok().stdout.trim(), work.display().to_string(), "as {who:?}");
        let out = sandboxed(who, &default_policy()).cwd(&work).run(&["/bin/pwd"]);
        assert_eq!(out.ok().stdout.trim(), "/", "as {who:?}: not bound");
        let out = sandboxed(who, &default_policy()).cwd(std::path::Path::new("/tmp")).run(&["/bin/pwd"]);
        assert_eq!(out.ok().stdout.trim(), "/", "as {who:?}: /tmp inside is another directory");
        let policy_cwd = format!(r#"{{"selfbox": 1, "extends": "{}", "cwd": "/usr"}}"#, default_policy());
        assert_eq!(sandboxed(who, &policy_cwd).run(&["/bin/pwd"]).ok().stdout.trim(), "/usr");
    }
}

/// A stale directory descriptor cannot reach the host through "..": the old root is detached.
#[test]
fn dot_dot_does_not_leave_the_root() {
    for who in identities() {
        let out = sandboxed(who, &default_policy()).sh("cd /../../..; ls -A | sort | tr '\\n' ' '");
        // The default binds these library directories only where the host has them.
        let mut want = vec!["bin", "dev", "etc", "lib", "proc", "sbin", "tmp", "usr"];
        want.extend(["lib32", "lib64", "libx32"].into_iter().filter(|d| std::path::Path::new("/").join(d).exists()));
        want.sort();
        assert_eq!(out.ok().stdout.trim(), want.join(" "), "as {who:?}");
    }
}

/// At `main` the host's tree is gone and `/` is read-only: init detaches the old root while the
/// program sets itself up, and the program waits for that. Controls: the same greps see `/proc`,
/// and `/tmp` is writable.
#[test]
fn the_old_root_is_detached_before_main() {
    let check = "grep -c ' /.oldroot' /proc/self/mountinfo; grep -c ' /proc ' /proc/self/mountinfo; \
                 ls -a / | grep -c oldroot; touch /x 2>&1 | grep -c Read-only; touch /tmp/x && echo tmp-ok";
    for who in identities() {
        for i in 0..10 {
            let out = sandboxed(who, &default_policy()).sh(check);
            assert_eq!(out.ok().stdout, "0\n1\n0\n1\ntmp-ok\n", "as {who:?}, run {i}");
        }
    }
}

#[test]
fn proc_sys_is_read_only() {
    for who in identities() {
        let out = sandboxed(who, &default_policy()).sh("grep -E ' /proc/sys ' /proc/self/mountinfo | cut -d' ' -f6");
        assert!(out.ok().stdout.trim().split(',').any(|f| f == "ro"), "as {who:?}: {out:?}");
        let w = sandboxed(who, &default_policy()).sh("echo 1 > /proc/sys/kernel/hostname 2>&1; echo rc=$?");
        assert!(!w.stdout.contains("rc=0"), "as {who:?}: {w:?}");
    }
}

#[test]
fn minimal_dev() {
    let script =
        "ls /dev | sort | tr '\\n' ' '; echo; head -c 4 /dev/urandom | wc -c; echo x > /dev/null && echo null-ok";
    // Under a new root the nodes are bound from the old one; over the host's root they must be
    // held before the tmpfs hides them.
    let over_host = r#"{"selfbox": 1, "root": "host", "mounts": [{"type": "dev", "target": "/dev"}]}"#;
    for (who, policy) in identities().into_iter().flat_map(|w| [(w, default_policy()), (w, over_host.to_owned())]) {
        let out = sandboxed(who, &policy).sh(script);
        let lines: Vec<&str> = out.ok().stdout.lines().collect();
        for n in [
            "full", "null", "pts", "ptmx", "random", "shm", "stderr", "stdin", "stdout", "tty", "urandom", "zero", "fd",
        ] {
            assert!(lines[0].split(' ').any(|e| e == n), "as {who:?}: /dev lacks {n}: {}", lines[0]);
        }
        assert!(!lines[0].contains("sda") && !lines[0].contains("vda") && !lines[0].contains("mem "), "{}", lines[0]);
        assert_eq!(lines[1], "4");
        assert_eq!(lines[2], "null-ok");
    }
}

/// What a program sees of /dev: each entry's type, device numbers and mode (not its owner: the
/// template is root's, the built /dev the sandbox user's), the mount's flags, and use.
const DEV_VIEW: &str = "stat -c '%n %F %t:%T %a' /dev /dev/*; \
    grep ' /dev ' /proc/self/mountinfo | cut -d' ' -f6 | tr , '\\n' | grep -xE 'ro|nosuid|noexec|nodev' | sort | tr '\\n' ' '; echo; \
    echo x > /dev/null && head -c 4 /dev/zero | wc -c; touch /dev/shm/f && echo shm-ok; ls /dev/pts; \
    mkdir /dev/x 2>&1 | grep -o 'Read-only'";

/// The prepared /dev (`selfbox cache dev`) is bound instead of built, and the program sees the
/// same; one that differs from what `cache dev` makes, or that others could write, is not used.
#[test]
fn prepared_dev_template() {
    if !is_root() {
        eprintln!("skipped: prepared /dev: making device nodes needs root");
        return;
    }
    let s = Scratch::new("devtpl");
    s.close();
    let make = |name: &str| {
        let d = s.path(name);
        let out =
            bare(Who::Root).run(&[&tool().display().to_string(), "cache", "dev", "--dir", &d.display().to_string()]);
        assert_eq!(out.status(), 0, "{out:#?}");
        d
    };
    let good = make("good");
    let run = |who: Who, tpl: &Path| {
        sandboxed(who, &default_policy())
            .env("SELFBOX_LOG", "debug")
            .env("SELFBOX_DEV_TEMPLATE", &tpl.display().to_string())
            .sh(DEV_VIEW)
    };
    let used = "/dev: the prepared template";
    for who in identities() {
        let built = sandboxed(who, &default_policy()).env("SELFBOX_DEV_TEMPLATE", "off").sh(DEV_VIEW);
        let t = run(who, &good);
        assert!(t.ok().stderr.contains(used), "as {who:?}: {t:#?}");
        assert_eq!(t.stdout, built.ok().stdout, "as {who:?}: the template's /dev differs from the built one");
        assert!(t.stdout.contains("/dev/null character special file 1:3 666"), "{}", t.stdout);
        assert!(t.stdout.contains("noexec nosuid ro \n4\nshm-ok\nptmx\nRead-only"), "{}", t.stdout);
    }
    // Each of these is refused, and /dev is built as before (the program still runs).
    let extra = make("extra");
    std::fs::remove_file(extra.join("null")).unwrap();
    let mknod = |p: &Path, maj: &str, min: &str| {
        let out = bare(Who::Root).run(&["/usr/bin/mknod", "-m", "666", &p.display().to_string(), "c", maj, min]);
        assert_eq!(out.status(), 0, "{out:#?}");
    };
    mknod(&extra.join("null"), "1", "1");
    let more = make("more");
    mknod(&more.join("mem"), "1", "1");
    let kind = make("kind");
    std::fs::remove_file(kind.join("fd")).unwrap();
    std::fs::create_dir(kind.join("fd")).unwrap();
    let open = make("open");
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let cases = [
        (&extra, "is not character device 1:3"),
        (&more, "holds \"mem\""),
        (&kind, "fd is not the link"),
        (&open, "writable by group or others"),
    ];
    for who in identities() {
        for (dir, why) in &cases {
            let out = run(who, dir);
            assert!(!out.ok().stderr.contains(used), "{} as {who:?}: {out:#?}", dir.display());
            assert!(out.stderr.contains("/dev template not used") && out.stderr.contains(why), "{out:#?}");
            assert!(out.stdout.contains("/dev/null character special file 1:3 666"), "{}", out.stdout);
            assert!(!out.stdout.contains("/dev/mem"), "{}", out.stdout);
        }
    }
    // With a terminal to offer as /dev/console (which the template has no place for), /dev is
    // built; the control is the same run without a terminal, above.
    if Path::new("/usr/bin/script").exists() {
        for who in identities() {
            let inner = format!(
                "env LD_PRELOAD={} SELFBOX_POLICY={} SELFBOX_LOG=debug SELFBOX_DEV_TEMPLATE={} sh -c 'tty; test -c /dev/null && echo null-ok'",
                lib().display(),
                default_policy(),
                good.display()
            );
            let out = bare(who).run(&["/usr/bin/script", "-qec", &inner, "/dev/null"]);
            assert!(out.ok().stdout.contains("/dev/console") && out.stdout.contains("null-ok"), "as {who:?}: {out:#?}");
            assert!(out.stdout.contains("/dev: built, to offer the terminal as console"), "{out:#?}");
        }
    } else {
        eprintln!("skipped: prepared /dev with a terminal: script(1) is missing");
    }
    // A relative name is a mistake, refused like every bad setting.
    let out = sandboxed(Who::Root, &default_policy()).env("SELFBOX_DEV_TEMPLATE", "dev").sh("echo ran");
    assert_eq!(out.status(), 125, "{out:#?}");
    assert!(out.stderr.starts_with("selfbox: mount: SELFBOX_DEV_TEMPLATE=dev is neither"), "{out:#?}");
    assert_eq!(out.stdout, "");
}
