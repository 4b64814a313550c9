//! Shared harness of the integration tests: builds the library (cargo test does not build a
//! cdylib), compiles probe programs, and runs real programs under the preload as root and as
//! an unprivileged user (`setpriv --reuid=65534 --regid=65534 --clear-groups`).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const NOBODY: u32 = 65534;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// target/<profile>, from this test binary's own path (target/<profile>/deps/name-hash).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent().and_then(Path::parent).expect("target/<profile>/deps").to_path_buf()
}

/// The library under test, built once per test binary with the same profile.
pub fn lib() -> &'static Path {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        let dir = profile_dir();
        let release = dir.file_name().is_some_and(|n| n == "release");
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        // The library and the selfbox tool, which tests of the tool run.
        cmd.args(["build", "-p", "selfbox", "-p", "selfbox-tools", "--quiet"]).current_dir(repo());
        if release {
            cmd.arg("--release");
        }
        let st = cmd.status().expect("run cargo build");
        assert!(st.success(), "cargo build failed");
        let lib = dir.join("libselfbox.so");
        assert!(lib.exists(), "{} missing after the build", lib.display());
        lib
    })
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Who starts the sandboxed program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    /// Real root (only when the tests run as root).
    Root,
    /// uid/gid 65534 through setpriv (when the tests run as root), or the current user.
    User,
}

/// The `selfbox` command built with the library.
pub fn tool() -> PathBuf {
    lib().parent().expect("target/<profile>").join("selfbox")
}

/// Every identity a test must pass as: root and an unprivileged user when run as root.
pub fn identities() -> Vec<Who> {
    if is_root() { vec![Who::Root, Who::User] } else { vec![Who::User] }
}

impl Who {
    /// The uid the caller has outside.
    pub fn uid(self) -> u32 {
        match self {
            Who::Root => 0,
            Who::User if is_root() => NOBODY,
            // SAFETY: getuid has no preconditions.
            Who::User => unsafe { libc::getuid() },
        }
    }
}

/// A scratch directory every identity can use, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("selfbox-test-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("scratch dir");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777)).unwrap();
        Scratch(p)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes a file readable (and writable) by everyone.
    pub fn file(&self, name: &str, content: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, content).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
        p
    }

    /// Closes the directory to others (0755; root's when the tests run as root), as an
    /// installation's directories are: the preload trusts what lies in such a one.
    pub fn close(&self) {
        std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    pub fn dir(&self, name: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::create_dir_all(&p).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777)).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How a run ended.
#[derive(Debug)]
pub struct Out {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Out {
    /// The shell's view: the exit code, or 128 + signal.
    pub fn status(&self) -> i32 {
        self.code.unwrap_or_else(|| 128 + self.signal.unwrap_or(0))
    }

    pub fn ok(&self) -> &Self {
        assert_eq!(self.status(), 0, "expected success: {self:#?}");
        self
    }
}

/// A program run, with or without the preload.
pub struct Run {
    who: Who,
    preload: bool,
    policy: Option<String>,
    env: Vec<(String, String)>,
    env_remove: Vec<String>,
    cwd: Option<PathBuf>,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
    wrap: Vec<String>,
}

/// A run under the preload as `who` with `policy` (a path or inline JSON).
pub fn sandboxed(who: Who, policy: &str) -> Run {
    Run {
        who,
        preload: true,
        policy: Some(policy.to_owned()),
        env: Vec::new(),
        env_remove: Vec::new(),
        cwd: None,
        stdin: None,
        timeout: Duration::from_secs(30),
        wrap: Vec::new(),
    }
}

/// The same run without the preload: the control.
pub fn bare(who: Who) -> Run {
    Run { preload: false, policy: None, ..sandboxed(who, "") }
}

/// The shipped default policy.
pub fn default_policy() -> String {
    repo().join("policy/default.json").display().to_string()
}

impl Run {
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn env_remove(mut self, k: &str) -> Self {
        self.env_remove.push(k.into());
        self
    }

    pub fn cwd(mut self, dir: &Path) -> Self {
        self.cwd = Some(dir.to_path_buf());
        self
    }

    pub fn stdin(mut self, data: &[u8]) -> Self {
        self.stdin = Some(data.to_vec());
        self
    }

    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// Runs the command under another one first (e.g. `unshare -m ...` as root).
    pub fn wrap(mut self, argv: &[&str]) -> Self {
        self.wrap = argv.iter().map(|s| s.to_string()).collect();
        self
    }

    /// The command line: [setpriv ...] [wrap ...] env LD_PRELOAD=lib PROGRAM ARGS. The preload
    /// is set by `env` right before the program, so setpriv and wrappers are not sandboxed.
    pub fn command(&self, argv: &[&str]) -> Command {
        let mut full: Vec<String> = Vec::new();
        if self.who == Who::User && is_root() {
            full.extend(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"].map(String::from));
        }
        full.extend(self.wrap.iter().cloned());
        full.push("/usr/bin/env".into());
        for k in &self.env_remove {
            full.push(format!("--unset={k}"));
        }
        if self.preload {
            full.push(format!("LD_PRELOAD={}", lib().display()));
            if let Some(p) = &self.policy {
                full.push(format!("SELFBOX_POLICY={p}"));
            }
        }
        for (k, v) in &self.env {
            full.push(format!("{k}={v}"));
        }
        full.extend(argv.iter().map(|s| s.to_string()));
        let mut cmd = Command::new(&full[0]);
        cmd.args(&full[1..]);
        cmd.env_remove("LD_PRELOAD").env_remove("SELFBOX_POLICY").env_remove("POLICY").env_remove("SELFBOX_LOG");
        if let Some(d) = &self.cwd {
            cmd.current_dir(d);
        } else {
            cmd.current_dir("/");
        }
        cmd
    }

    pub fn run(&self, argv: &[&str]) -> Out {
        let raw = run_command(self.command(argv), self.stdin.as_deref(), self.timeout);
        Out {
            code: raw.code,
            signal: raw.signal,
            stdout: String::from_utf8_lossy(&raw.stdout).into_owned(),
            stderr: raw.stderr,
            elapsed: raw.elapsed,
        }
    }

    /// Starts the program and returns at once; stdout arrives line by line.
    pub fn spawn(&self, argv: &[&str]) -> Running {
        let mut cmd = self.command(argv);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {argv:?}: {e}"));
        let so = child.stdout.take().unwrap();
        let mut se = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(so).lines() {
                let Ok(l) = line else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let err = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = se.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        });
        Running { child, lines: rx, seen: Vec::new(), err: Some(err), start: Instant::now(), timeout: self.timeout }
    }

    /// `sh -c script` under this run.
    pub fn sh(&self, script: &str) -> Out {
        self.run(&["/bin/sh", "-c", script])
    }
}

/// Compiles a C probe from tests/probes/NAME.c once per test binary, into a directory every
/// identity can read; returns the executable's path.
pub fn probe(name: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let dir = DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("selfbox-probes-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        d
    });
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let out = dir.join(name);
    if !out.exists() {
        let src = repo().join(format!("tests/probes/{name}.c"));
        // A first line "// cflags: ..." gives extra compiler flags (-shared, -static, ...).
        let text = std::fs::read_to_string(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
        let flags: Vec<String> = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("// cflags:"))
            .map(|f| f.split_whitespace().map(String::from).collect())
            .unwrap_or_default();
        let st = Command::new("gcc")
            .args(["-O1", "-Wall", "-o"])
            .arg(&out)
            .arg(&src)
            .args(&flags)
            .arg("-pthread")
            .status()
            .expect("gcc (install build-essential)");
        assert!(st.success(), "gcc {}", src.display());
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    out
}

/// Pids of processes whose command line contains `needle` (for "nothing left behind" checks).
pub fn pids_with(needle: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        if let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            if String::from_utf8_lossy(&cmd).replace('\0', " ").contains(needle) {
                out.push(pid);
            }
        }
    }
    out
}

/// A policy that is the default plus `extra` top-level fields (JSON object text without braces),
/// written to a file beside an `extends` of the shipped default.
pub fn policy_extending_default(dir: &Scratch, name: &str, extra: &str) -> String {
    let body = format!(
        "{{\"selfbox\": 1, \"extends\": \"{}\"{}{}}}",
        default_policy(),
        if extra.trim().is_empty() { "" } else { ", " },
        extra
    );
    dir.file(name, &body).display().to_string()
}

/// How a command ended, its output as bytes.
pub struct RawOut {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub elapsed: Duration,
}

/// Runs `cmd` with `stdin` fed in, collecting both outputs; killed (by its pid) and a panic
/// after `timeout`.
pub fn run_command(mut cmd: Command, stdin: Option<&[u8]>, timeout: Duration) -> RawOut {
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    if let Some(data) = stdin {
        let mut si = child.stdin.take().unwrap();
        let data = data.to_vec();
        std::thread::spawn(move || {
            let _ = si.write_all(&data);
        });
    }
    let reader = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    };
    let t_out = reader(Box::new(child.stdout.take().unwrap()));
    let t_err = reader(Box::new(child.stderr.take().unwrap()));
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let st = child.wait().expect("wait");
            panic!("{cmd:?} timed out after {timeout:?} ({st:?})");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let elapsed = start.elapsed();
    RawOut {
        code: status.code(),
        signal: status.signal(),
        stdout: t_out.join().unwrap(),
        stderr: String::from_utf8_lossy(&t_err.join().unwrap()).into_owned(),
        elapsed,
    }
}

/// A marker unique to this test process and `tag`, usable as the fraction of a `sleep` argument.
pub fn marker(tag: u32) -> String {
    format!("{}{:02}", std::process::id(), tag)
}

/// Polls `cond` every 20 ms until it holds or `within` passes; returns whether it held.
pub fn eventually(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Live processes (not zombies) whose command line contains `needle`.
pub fn live_with(needle: &str) -> Vec<i32> {
    pids_with(needle)
        .into_iter()
        .filter(|p| {
            // /proc/PID/stat: "pid (comm) S ..."; comm may hold spaces, the state follows the last ')'.
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| s.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])))
                .is_some_and(|dead| !dead)
        })
        .collect()
}

/// A program started with [`Run::spawn`].
pub struct Running {
    pub child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    /// Every stdout line received so far.
    pub seen: Vec<String>,
    err: Option<std::thread::JoinHandle<String>>,
    start: Instant,
    timeout: Duration,
}

impl Running {
    /// The supervisor's pid (setpriv and env exec, so it is the spawned process).
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Waits for a stdout line containing `needle` (panics after `within`).
    pub fn expect_line(&mut self, needle: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.contains(needle) {
                        return l;
                    }
                }
                Err(_) => panic!("no line with {needle:?} within {within:?}; saw {:?}", self.seen),
            }
        }
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill has no memory preconditions; the pid is our own child.
        let r = unsafe { libc::kill(self.pid(), sig) };
        assert_eq!(r, 0, "kill({}, {sig})", self.pid());
    }

    /// Waits for the end (bounded by the run's timeout) and collects the rest of the output.
    pub fn wait(mut self) -> Out {
        let status = loop {
            if let Some(st) = self.child.try_wait().expect("wait") {
                break st;
            }
            if self.start.elapsed() > self.timeout {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("timed out after {:?}; saw {:?}", self.timeout, self.seen);
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let elapsed = self.start.elapsed();
        while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(200)) {
            self.seen.push(l);
        }
        Out {
            code: status.code(),
            signal: status.signal(),
            stdout: self.seen.join("\n"),
            stderr: self.err.take().map(|h| h.join().unwrap()).unwrap_or_default(),
            elapsed,
        }
    }
}
