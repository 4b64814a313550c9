//! Real programs under the shipped default policy: python3 (threads, subprocess, hashlib, json),
//! bash pipelines and process substitution, coreutils. Each output is compared with a bare run
//! of the same program (the control: the comparison fails if the sandbox breaks or changes the
//! program), and each sandboxed run also shows that it really ran inside (pid 2, hostname).
//! Every test runs as root and as uid 65534. Also: what the preload itself asks of the loader.

mod common;

use std::time::Duration;

use common::*;

const T: Duration = Duration::from_secs(60);

/// python3 by its real path: `python3` on PATH may be a shim under /root, invisible inside.
const PY: &str = r#"
import hashlib, json, os, socket, subprocess, sys, threading

results = {}
lock = threading.Lock()

def work(i):
    h = hashlib.sha256()
    for j in range(2000):
        h.update(f"{i}:{j}".encode())
    with lock:
        results[i] = h.hexdigest()

threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()

sub = subprocess.run(["/bin/sh", "-c", "echo from-child; exit 3"], capture_output=True, text=True)
piped = subprocess.run(["/usr/bin/sort"], input="b\na\nc\n", capture_output=True, text=True).stdout
doc = {
    "threads": [results[i] for i in range(8)],
    "sub": [sub.stdout.strip(), sub.returncode],
    "piped": piped.split(),
    "md5": hashlib.md5(b"selfbox").hexdigest(),
    "blake2b": hashlib.blake2b(b"selfbox").hexdigest(),
    "roundtrip": json.loads(json.dumps({"a": [1, 2.5, None, True], "b": "\u00e9"})),
}
print(json.dumps(doc, sort_keys=True))
print(os.getpid(), socket.gethostname(), file=sys.stderr)
"#;

#[test]
fn python_threads_subprocess_hashlib_json() {
    for who in identities() {
        let out = sandboxed(who, &default_policy()).timeout(T).run(&["/usr/bin/python3", "-c", PY]);
        out.ok();
        assert_eq!(out.stderr.trim(), "2 sandbox", "as {who:?}: {out:?}");
        let doc = out.stdout.trim();
        assert!(doc.contains(r#""sub": ["from-child", 3]"#), "as {who:?}: {doc}");
        assert!(doc.contains(r#""piped": ["a", "b", "c"]"#), "as {who:?}: {doc}");
        let ctl = bare(who).timeout(T).run(&["/usr/bin/python3", "-c", PY]);
        assert_eq!(ctl.ok().stdout.trim(), doc, "control as {who:?}");
        assert_ne!(ctl.stderr.trim(), "2 sandbox", "control as {who:?}: {ctl:?}");
    }
}

/// bash: a pipeline under pipefail, arrays, arithmetic, command and process substitution
/// (`<(...)` needs /dev/fd inside).
const BASH: &str = r#"set -o pipefail
printf '%s\n' pear apple fig | sort | tr a-z A-Z | paste -sd, -
a=(3 1 2); echo "${#a[@]} $(( a[0] * 7 ))"
diff <(seq 1 5) <(printf '%s\n' 1 2 3 4 5) && echo same
false | cat; echo "pipefail=$?"
while read -r x; do s=$((s + x)); done < <(seq 1 100); echo "sum=$s"
"#;

#[test]
fn bash_pipelines() {
    let want = "APPLE,FIG,PEAR\n3 21\nsame\npipefail=1\nsum=5050\n";
    for who in identities() {
        let out = sandboxed(who, &default_policy()).timeout(T).run(&[
            "/bin/bash",
            "-c",
            &format!("{BASH}echo $$ $(hostname)"),
        ]);
        assert_eq!(out.ok().stdout, format!("{want}2 sandbox\n"), "as {who:?}: {out:?}");
        assert!(out.stderr.is_empty(), "as {who:?}: {out:?}");
        let ctl = bare(who).timeout(T).run(&["/bin/bash", "-c", BASH]);
        assert_eq!(ctl.ok().stdout, want, "control as {who:?}: {ctl:?}");
    }
}

#[test]
fn coreutils() {
    let script = "ls /usr/bin | wc -l; printf '%s\\n' 10 9 100 1 | sort -n | tr '\\n' ' '; echo; \
                  sha256sum /etc/os-release; wc -c < /etc/os-release; \
                  cat /etc/os-release | base64 | base64 -d | md5sum; \
                  t=$(mktemp) && cp /etc/os-release $t && cmp /etc/os-release $t && rm $t && echo copied; \
                  date -u -d @0 +%F; stat -c %s /etc/os-release";
    for who in identities() {
        let out = sandboxed(who, &default_policy()).timeout(T).sh(&format!("{script}; echo $$ $(hostname)"));
        let got: Vec<&str> = out.ok().stdout.lines().collect();
        assert_eq!(got.last(), Some(&"2 sandbox"), "as {who:?}: {out:?}");
        let n: u32 = got[0].trim().parse().unwrap_or(0);
        assert!(n > 100, "as {who:?}: ls /usr/bin | wc -l = {}", got[0]);
        assert_eq!(got[1].trim(), "1 9 10 100", "as {who:?}");
        assert!(got[2].ends_with("  /etc/os-release"), "as {who:?}: {}", got[2]);
        assert_eq!(got[5], "copied", "as {who:?}: {out:?}");
        assert_eq!(got[6], "1970-01-01", "as {who:?}");
        // Control: the bare run gives the same (same /usr and /etc, read-only inside).
        let ctl = bare(who).timeout(T).sh(script);
        let ctl_lines: Vec<&str> = ctl.stdout.lines().collect();
        assert_eq!(ctl_lines, got[..got.len() - 1], "control as {who:?}: {ctl:?}");
    }
}

#[test]
fn long_pipeline() {
    let script = "seq 1 10000 | sort -rn | head -3";
    for who in identities() {
        let out = sandboxed(who, &default_policy()).timeout(T).sh(&format!("{script}; echo $$"));
        assert_eq!(out.ok().stdout, "10000\n9999\n9998\n2\n", "as {who:?}: {out:?}");
        let ctl = bare(who).timeout(T).sh(script);
        assert_eq!(ctl.ok().stdout, "10000\n9999\n9998\n", "control as {who:?}");
        // A longer one: every stage a separate program, data through several pipes.
        let long =
            "seq 1 20000 | awk '{print $1 * 3}' | grep -v 5 | sort -n | uniq | tail -n 2 | tac | paste -sd+ | bc";
        let out = sandboxed(who, &default_policy()).timeout(T).sh(long);
        let ctl = bare(who).timeout(T).sh(long);
        assert!(!ctl.ok().stdout.trim().is_empty(), "control as {who:?}: {ctl:?}");
        assert_eq!(out.ok().stdout, ctl.stdout, "as {who:?}: {out:?}");
    }
}

/// multiprocessing: a pool and a queue (POSIX semaphores in /dev/shm, pipes, fork).
const PY_MP: &str = r#"
import multiprocessing as mp, os, socket, sys
with mp.Pool(2) as pool:
    print(sum(pool.map(abs, range(-100, 100))))
q = mp.Queue()
p = mp.Process(target=q.put, args=("from-process",))
p.start()
print(q.get(timeout=20))
p.join()
print(p.exitcode)
print(os.getpid(), socket.gethostname(), file=sys.stderr)
"#;

#[test]
fn python_multiprocessing() {
    for who in identities() {
        let out = sandboxed(who, &default_policy()).timeout(T).run(&["/usr/bin/python3", "-c", PY_MP]);
        assert_eq!(out.ok().stdout, "10000\nfrom-process\n0\n", "as {who:?}: {out:?}");
        assert_eq!(out.stderr.trim(), "2 sandbox", "as {who:?}: {out:?}");
        let ctl = bare(who).timeout(T).run(&["/usr/bin/python3", "-c", PY_MP]);
        assert_eq!(ctl.ok().stdout, out.stdout, "control as {who:?}: {ctl:?}");
        assert_ne!(ctl.stderr.trim(), "2 sandbox", "control as {who:?}");
    }
}

/// The shared objects an ELF file names as NEEDED (`readelf -d`).
fn needed(path: &std::path::Path) -> Vec<String> {
    let out = std::process::Command::new("readelf").arg("-d").arg(path).output().expect("readelf (binutils)");
    assert!(out.status.success(), "readelf -d {}: {out:?}", path.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| Some(l.split_once('[')?.1.trim_end_matches(']').to_owned()))
        .collect()
}

/// Every start of a sandboxed program pays for each shared object the preload brings: libseccomp
/// and the unwinder are linked in, so the loader maps only libc (and itself).
#[test]
fn the_preload_needs_only_libc() {
    let libs = needed(lib());
    assert!(libs.iter().all(|l| l.starts_with("libc.so") || l.starts_with("ld-linux")), "{libs:?}");
    assert!(libs.iter().any(|l| l.starts_with("libc.so")), "{libs:?}");
    // Control: the same reading finds the libraries of a program that has several.
    let ctl = needed(std::path::Path::new("/usr/bin/python3"));
    assert!(ctl.iter().any(|l| !l.starts_with("libc.so") && !l.starts_with("ld-linux")), "control: {ctl:?}");
}
