//! Resource limits: rlimits for the program, the sandbox's cgroup (v2, or the v1 controllers a
//! host still mounts separately), and the run report on `SELFBOX_STATUS_FD`. The wall time is
//! enforced by the supervisor (pidns.rs).

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat};
use nix::sys::resource::setrlimit;
use nix::sys::stat::Mode;
use nix::unistd::{UnlinkatFlags, unlinkat};
use serde_json::json;

use crate::env::caller_text;
use crate::error::{Context, Error, Result, Step};
use crate::log::debug;
use crate::pidns::{Outcome, Reason, SupervisorHooks};
use crate::policy::values::errno_name;
use crate::policy::{Cgroup, Policy};
use crate::sys;

/// Applies the policy's rlimits to the program (after the forks: they must not limit the
/// supervisor or init).
pub fn apply_rlimits(policy: &Policy) -> Result<()> {
    for r in &policy.rlimits {
        setrlimit(r.resource, r.soft, r.hard)
            .at(Step::Limits, || format!("setrlimit({}, {}, {})", r.name, r.soft, r.hard))?;
    }
    if !policy.rlimits.is_empty() {
        debug!("rlimits", "{} set", policy.rlimits.len());
    }
    Ok(())
}

// ---- the cgroup plan (pure) ----

/// One hierarchy to create the sandbox's cgroup in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HierPlan {
    pub v2: bool,
    /// The caller's cgroup in this hierarchy (absolute path); the sandbox's is a child of it.
    pub parent: String,
    pub controllers: Vec<&'static str>,
    /// Files to write in the new cgroup, in order.
    pub files: Vec<(&'static str, String)>,
}

const CPU_PERIOD_US: u64 = 100_000;

fn max_or(v: u64) -> String {
    if v == u64::MAX { "max".into() } else { v.to_string() }
}

/// Which hierarchy serves each needed controller, and what to write there. A controller
/// mounted as its own v1 hierarchy wins (the unified one then does not hold it).
pub fn plan_cgroup(cg: &Cgroup, mountinfo: &str, self_cgroup: &str) -> std::result::Result<Vec<HierPlan>, String> {
    struct Mnt<'a> {
        point: &'a str,
        root: &'a str,
        v2: bool,
        opts: Vec<&'a str>,
    }
    let mounts: Vec<Mnt> = mountinfo
        .lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let pre: Vec<&str> = pre.split(' ').collect();
            let post: Vec<&str> = post.split(' ').collect();
            let fstype = *post.first()?;
            let v2 = match fstype {
                "cgroup2" => true,
                "cgroup" => false,
                _ => return None,
            };
            Some(Mnt { point: pre.get(4)?, root: pre.get(3)?, v2, opts: post.get(2)?.split(',').collect() })
        })
        .collect();
    // /proc/self/cgroup: "ID:controllers:path"; v2 is "0::path".
    let paths: Vec<(Vec<&str>, &str)> = self_cgroup
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
            Some((if ctrls.is_empty() { Vec::new() } else { ctrls.split(',').collect() }, path))
        })
        .collect();
    let locate = |ctrl: &'static str| -> std::result::Result<(bool, String), String> {
        let v1 = mounts.iter().find(|m| !m.v2 && m.opts.contains(&ctrl));
        let (m, path) = match v1 {
            Some(m) => {
                let p = paths
                    .iter()
                    .find(|(c, _)| c.contains(&ctrl))
                    .map(|(_, p)| *p)
                    .ok_or_else(|| format!("/proc/self/cgroup has no {ctrl} line"))?;
                (m, p)
            }
            None => {
                let m = mounts
                    .iter()
                    .find(|m| m.v2)
                    .ok_or_else(|| format!("no cgroup hierarchy offers the {ctrl} controller"))?;
                let p = paths
                    .iter()
                    .find(|(c, _)| c.is_empty())
                    .map(|(_, p)| *p)
                    .ok_or("/proc/self/cgroup has no cgroup v2 line")?;
                (m, p)
            }
        };
        let rel = if m.root == "/" {
            path
        } else {
            path.strip_prefix(m.root)
                .ok_or_else(|| format!("this process's cgroup {path} is outside the mounted part {}", m.root))?
        };
        let parent = format!("{}{}", m.point.trim_end_matches('/'), if rel == "/" { "" } else { rel });
        Ok((m.v2, parent))
    };
    let mut out: Vec<HierPlan> = Vec::new();
    let mut add = |ctrl: &'static str, files: Vec<(&'static str, String)>| -> std::result::Result<(), String> {
        let (v2, parent) = locate(ctrl)?;
        match out.iter_mut().find(|h| h.parent == parent) {
            Some(h) => {
                if !h.controllers.contains(&ctrl) {
                    h.controllers.push(ctrl);
                }
                h.files.extend(files);
            }
            None => out.push(HierPlan { v2, parent, controllers: vec![ctrl], files }),
        }
        Ok(())
    };
    let v2_of = |ctrl: &'static str| locate(ctrl).map(|(v2, _)| v2);
    if cg.memory_max.is_some() || cg.memory_swap_max.is_some() {
        let mut files = Vec::new();
        if v2_of("memory")? {
            if let Some(m) = cg.memory_max {
                files.push(("memory.max", max_or(m)));
            }
            if let Some(s) = cg.memory_swap_max {
                files.push(("memory.swap.max", max_or(s)));
            }
        } else {
            if let Some(m) = cg.memory_max {
                files.push(("memory.limit_in_bytes", if m == u64::MAX { "-1".into() } else { m.to_string() }));
            }
            if let Some(s) = cg.memory_swap_max {
                // v1 limits memory and swap together, never swap alone.
                let Some(m) = cg.memory_max else {
                    return Err("memory_swap_max needs memory_max on cgroup v1 (it limits memory+swap)".into());
                };
                let total = if m == u64::MAX || s == u64::MAX { "-1".into() } else { m.saturating_add(s).to_string() };
                files.push(("memory.memsw.limit_in_bytes", total));
            }
        }
        add("memory", files)?;
    }
    if let Some(p) = cg.pids_max {
        add("pids", vec![("pids.max", max_or(p))])?;
    }
    if let Some(c) = cg.cpu_max {
        let quota = ((c * CPU_PERIOD_US as f64).round() as u64).max(1000);
        let files = if v2_of("cpu")? {
            vec![("cpu.max", format!("{quota} {CPU_PERIOD_US}"))]
        } else {
            vec![("cpu.cfs_period_us", CPU_PERIOD_US.to_string()), ("cpu.cfs_quota_us", quota.to_string())]
        };
        add("cpu", files)?;
    }
    if let Some(w) = cg.io_weight {
        // v2 weights are 1-10000 (default 100); v1 blkio weights are 10-1000 (default 500).
        // v1 calls the controller blkio; a v1 blkio hierarchy wins over the unified one.
        if v2_of("blkio").is_ok_and(|v2| !v2) {
            add("blkio", vec![("blkio.weight", (w / 10).clamp(10, 1000).to_string())])?;
        } else {
            add("io", vec![("io.weight", format!("default {w}"))])?;
        }
    }
    Ok(out)
}

// ---- the cgroup, applied ----

/// The sandbox's cgroup in one hierarchy, with the descriptors that reach it after the pivot.
struct Joined {
    v2: bool,
    path: String,
    name: String,
    parent: OwnedFd,
    parent_procs: OwnedFd,
    dir: OwnedFd,
    /// Controllers this run enabled in the parent's cgroup.subtree_control (v2).
    enabled: Vec<&'static str>,
}

pub struct CgroupRun {
    joined: Vec<Joined>,
}

fn open_in(dir: &OwnedFd, name: &str, flags: OFlag) -> nix::Result<OwnedFd> {
    openat(dir.as_fd(), name, flags | OFlag::O_CLOEXEC, Mode::empty())
}

fn write_in(dir: &OwnedFd, name: &str, value: &str) -> nix::Result<()> {
    let f = open_in(dir, name, OFlag::O_WRONLY)?;
    nix::unistd::write(&f, value.as_bytes()).map(drop)
}

fn read_in(dir: &OwnedFd, name: &str) -> Option<String> {
    use std::io::Read;
    let f = open_in(dir, name, OFlag::O_RDONLY).ok()?;
    let mut text = String::new();
    std::fs::File::from(f).read_to_string(&mut text).ok()?;
    Some(text)
}

const DELEGATE_HINT: &str = "no writable cgroup here; run under a delegated one, e.g. `systemd-run --user --scope -p Delegate=yes ...`, or mark \"cgroup\" \"optional\": true";

/// Step 5: creates the sandbox's cgroup as a child of the caller's in each hierarchy it needs,
/// writes the limits, and moves this process in (before the namespaces: the host's cgroupfs is
/// not reachable afterwards, only through the descriptors kept here).
pub fn enter_cgroup(policy: &Policy) -> Result<Option<CgroupRun>> {
    let cg = &policy.cgroup;
    if cg.is_empty() {
        return Ok(None);
    }
    let mountinfo =
        std::fs::read_to_string("/proc/self/mountinfo").at(Step::Cgroup, || "read(/proc/self/mountinfo)".into())?;
    let selfcg = std::fs::read_to_string("/proc/self/cgroup").at(Step::Cgroup, || "read(/proc/self/cgroup)".into())?;
    let plan = match plan_cgroup(cg, &mountinfo, &selfcg) {
        Ok(p) => p,
        Err(msg) if cg.optional => {
            debug!("cgroup", "skipped (optional): {msg}");
            return Ok(None);
        }
        Err(msg) => return Err(Error::refused(Step::Cgroup, msg, DELEGATE_HINT)),
    };
    let mut run = CgroupRun { joined: Vec::new() };
    for h in &plan {
        match join(h) {
            Ok(j) => run.joined.push(j),
            Err(e) => {
                run.leave();
                if cg.optional {
                    debug!("cgroup", "skipped (optional): {e}");
                    return Ok(None);
                }
                return Err(match e.errno() {
                    Some(Errno::EACCES | Errno::EPERM | Errno::EROFS) => e.hint(DELEGATE_HINT),
                    Some(Errno::EBUSY) => e.hint("the caller's cgroup holds other processes; start selfbox in a cgroup of its own, e.g. `systemd-run --user --scope -p Delegate=yes ...`"),
                    _ => e,
                });
            }
        }
    }
    for j in &run.joined {
        debug!("cgroup", "joined {} ({})", j.path, if j.v2 { "v2" } else { "v1" });
    }
    Ok(Some(run))
}

fn join(h: &HierPlan) -> Result<Joined> {
    let name = format!("selfbox-{}", std::process::id());
    let path = format!("{}/{name}", h.parent);
    let dir_flags = OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let parent = nix::fcntl::open(h.parent.as_str(), dir_flags | OFlag::O_RDONLY, Mode::empty())
        .at(Step::Cgroup, || format!("open({})", h.parent))?;
    let parent_procs = open_in(&parent, "cgroup.procs", OFlag::O_WRONLY)
        .at(Step::Cgroup, || format!("open({}/cgroup.procs)", h.parent))?;
    nix::sys::stat::mkdirat(parent.as_fd(), name.as_str(), Mode::from_bits_truncate(0o755))
        .at(Step::Cgroup, || format!("mkdir({path})"))?;
    let dir = match open_in(&parent, &name, dir_flags | OFlag::O_RDONLY) {
        Ok(d) => d,
        Err(e) => {
            let _ = unlinkat(parent.as_fd(), name.as_str(), UnlinkatFlags::RemoveDir);
            return Err(Error::call(Step::Cgroup, format!("open({path})"), e));
        }
    };
    let mut j = Joined { v2: h.v2, path, name, parent, parent_procs, dir, enabled: Vec::new() };
    let res = (|| {
        if h.v2 {
            // The no-internal-processes rule: the parent may hand controllers to children only
            // once it holds no process, so this process moves into its child first.
            write_in(&j.dir, "cgroup.procs", "0").at(Step::Cgroup, || format!("write({}/cgroup.procs, 0)", j.path))?;
            let active = read_in(&j.parent, "cgroup.subtree_control").unwrap_or_default();
            for c in &h.controllers {
                if active.split_whitespace().any(|a| a == *c) {
                    continue;
                }
                write_in(&j.parent, "cgroup.subtree_control", &format!("+{c}"))
                    .at(Step::Cgroup, || format!("write({}/cgroup.subtree_control, +{c})", h.parent))?;
                j.enabled.push(c);
            }
            write_files(&j, h)
        } else {
            write_files(&j, h)?;
            write_in(&j.dir, "cgroup.procs", "0").at(Step::Cgroup, || format!("write({}/cgroup.procs, 0)", j.path))
        }
    })();
    match res {
        Ok(()) => Ok(j),
        Err(e) => {
            j.leave();
            Err(e)
        }
    }
}

fn write_files(j: &Joined, h: &HierPlan) -> Result<()> {
    for (file, value) in &h.files {
        let r = write_in(&j.dir, file, value);
        let r = match (r, *file) {
            // Kernels with BFQ name the v1 weight differently.
            (Err(Errno::ENOENT), "blkio.weight") => write_in(&j.dir, "blkio.bfq.weight", value),
            (r, _) => r,
        };
        r.map_err(|e| {
            let err = Error::call(Step::Cgroup, format!("write({}/{file}, {value})", j.path), e);
            match (e, *file) {
                (Errno::ENOENT, "memory.memsw.limit_in_bytes" | "memory.swap.max") => {
                    err.hint("swap accounting is off on this kernel (swapaccount=1)")
                }
                (Errno::ENOENT, _) => err.hint("the controller is not enabled for this cgroup"),
                _ => err,
            }
        })?;
    }
    Ok(())
}

impl Joined {
    /// Moves this process back to the parent and removes the cgroup (best effort: this runs
    /// after the program has ended, or while failing anyway; what cannot be done is said).
    fn leave(&mut self) {
        // v2 lets no process into a cgroup that hands controllers to children, so the ones this
        // run enabled go off first, but only while no other cgroup below the parent holds
        // processes: a concurrent run's limits would silently vanish with them.
        if !self.enabled.is_empty() && !self.others_populated() {
            for c in self.enabled.drain(..).rev() {
                let _ = write_in(&self.parent, "cgroup.subtree_control", &format!("-{c}"));
            }
        }
        if let Err(e) = nix::unistd::write(&self.parent_procs, b"0") {
            let why = if e == Errno::EBUSY { " (another run still uses the parent's controllers)" } else { "" };
            self.left_behind(&format!("cannot move back to the parent: {}{why}", errno_name(e as i32)));
            return;
        }
        // Processes outside a PID namespace can outlive init: end them (cgroup.kill, Linux 5.14).
        let killed = self.v2 && write_in(&self.dir, "cgroup.kill", "1").is_ok();
        for attempt in 0..50 {
            match unlinkat(self.parent.as_fd(), self.name.as_str(), UnlinkatFlags::RemoveDir) {
                Ok(()) | Err(Errno::ENOENT) => return,
                Err(Errno::EBUSY) => {
                    if !killed {
                        let procs = read_in(&self.dir, "cgroup.procs").unwrap_or_default();
                        for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                            let _ = sys::kill(pid, libc::SIGKILL);
                        }
                    }
                    std::thread::sleep(std::time::Duration::from_millis(if attempt < 10 { 1 } else { 10 }));
                }
                Err(e) => return self.left_behind(&format!("rmdir: {}", errno_name(e as i32))),
            }
        }
        self.left_behind("rmdir: still busy after 0.4 s");
    }

    fn left_behind(&self, why: &str) {
        let line = format!("selfbox: cgroup: {} left behind: {why}\n", self.path);
        let _ = sys::write_all(2, line.as_bytes());
    }

    /// Whether a cgroup beside this one holds processes.
    fn others_populated(&self) -> bool {
        let Ok(dup) = nix::unistd::dup(&self.parent) else { return true };
        let Ok(mut dir) = nix::dir::Dir::from_fd(dup) else { return true };
        dir.iter().flatten().any(|e| {
            let name = e.file_name().to_string_lossy();
            if name == "."
                || name == ".."
                || name == self.name.as_str()
                || e.file_type() != Some(nix::dir::Type::Directory)
            {
                return false;
            }
            let events = open_in(&self.parent, &format!("{name}/cgroup.events"), OFlag::O_RDONLY).ok().and_then(|f| {
                use std::io::Read;
                let mut t = String::new();
                std::fs::File::from(f).read_to_string(&mut t).ok().map(|_| t)
            });
            // Unreadable: assume it is in use.
            events.is_none_or(|t| t.lines().any(|l| l == "populated 1"))
        })
    }

    /// Kills by the OOM killer so far, and the peak memory in KiB.
    fn memory_stats(&self) -> (Option<u64>, Option<u64>) {
        let field = |text: Option<String>, key: &str| {
            text.and_then(|t| t.lines().find_map(|l| l.strip_prefix(key).and_then(|v| v.trim().parse().ok())))
        };
        if self.v2 {
            let kills = field(read_in(&self.dir, "memory.events"), "oom_kill ");
            let peak = read_in(&self.dir, "memory.peak").and_then(|s| s.trim().parse::<u64>().ok());
            (kills, peak.map(|b| b / 1024))
        } else {
            let kills = field(read_in(&self.dir, "memory.oom_control"), "oom_kill ");
            let peak = read_in(&self.dir, "memory.max_usage_in_bytes").and_then(|s| s.trim().parse::<u64>().ok());
            (kills, peak.map(|b| b / 1024))
        }
    }

    fn has_memory(&self) -> bool {
        read_in(&self.dir, if self.v2 { "memory.events" } else { "memory.oom_control" }).is_some()
    }
}

impl CgroupRun {
    fn leave(&mut self) {
        for j in self.joined.iter_mut().rev() {
            j.leave();
        }
    }

    fn fds(&self) -> Vec<RawFd> {
        self.joined.iter().flat_map(|j| [j.parent.as_raw_fd(), j.parent_procs.as_raw_fd(), j.dir.as_raw_fd()]).collect()
    }
}

// ---- the run report ----

/// `SELFBOX_STATUS_FD`: JSON lines for whoever started the program.
pub struct StatusFd(OwnedFd);

impl StatusFd {
    pub fn from_env() -> Result<Option<StatusFd>> {
        let Some(text) = caller_text("SELFBOX_STATUS_FD") else { return Ok(None) };
        let fd: RawFd = text.trim().parse().map_err(|_| {
            Error::refused(
                Step::Policy,
                format!("SELFBOX_STATUS_FD={text} is not a descriptor number"),
                "give an open descriptor, e.g. 3",
            )
        })?;
        if fd <= 2 {
            return Err(Error::refused(
                Step::Policy,
                format!("SELFBOX_STATUS_FD={fd}"),
                "use a descriptor above 2; 0-2 are the program's",
            ));
        }
        match sys::own_fd(fd) {
            Some(f) => {
                // Never inherited by anything the program executes.
                nix::fcntl::fcntl(&f, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC))
                    .at(Step::Policy, || format!("fcntl({fd}, F_SETFD, FD_CLOEXEC)"))?;
                Ok(Some(StatusFd(f)))
            }
            None => Err(Error::refused(
                Step::Policy,
                format!("SELFBOX_STATUS_FD={fd} is not open"),
                "open it in the caller, e.g. `3>status.jsonl`",
            )),
        }
    }

    fn line(&self, v: serde_json::Value) {
        let mut s = v.to_string();
        s.push('\n');
        // The report is for the caller; a reader that went away does not change the outcome.
        let _ = sys::write_all(self.0.as_raw_fd(), s.as_bytes());
    }
}

/// The supervisor's hooks: the run report and the cgroup's end.
pub struct Hooks {
    status: Option<StatusFd>,
    cgroup: Option<CgroupRun>,
    /// The host's /proc, to name the program's host pid and namespaces in the report.
    proc: Option<OwnedFd>,
    /// The program's host pid and namespaces, taken while it waits before its filter.
    seen: Option<(Option<i64>, serde_json::Map<String, serde_json::Value>)>,
}

impl Hooks {
    pub fn new(status: Option<StatusFd>, cgroup: Option<CgroupRun>) -> Result<Hooks> {
        let proc = match status {
            Some(_) => Some(sys::open_proc().at(Step::Policy, || "open(/proc)".into())?),
            None => None,
        };
        Ok(Hooks { status, cgroup, proc, seen: None })
    }

    /// The sandbox has a cgroup to remove at the end.
    pub fn has_cgroup(&self) -> bool {
        self.cgroup.is_some()
    }

    fn program_pid(&self, init: libc::pid_t) -> Option<i64> {
        let proc = self.proc.as_ref()?;
        let f = open_in(proc, &format!("{init}/task/{init}/children"), OFlag::O_RDONLY).ok()?;
        let mut buf = [0u8; 64];
        let n = nix::unistd::read(f.as_fd(), &mut buf).ok()?;
        std::str::from_utf8(&buf[..n]).ok()?.split_whitespace().next()?.parse().ok()
    }

    /// The program's host pid and namespaces.
    fn look(&self, init: libc::pid_t) -> (Option<i64>, serde_json::Map<String, serde_json::Value>) {
        let pid = self.program_pid(init);
        (pid, pid.map(|p| self.namespaces(p)).unwrap_or_default())
    }

    fn namespaces(&self, pid: i64) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        let Some(proc) = &self.proc else { return m };
        for ns in ["pid", "mnt", "net", "ipc", "uts", "user", "cgroup", "time"] {
            let link = nix::fcntl::readlinkat(proc.as_fd(), format!("{pid}/ns/{ns}").as_str());
            let inode = link.ok().and_then(|l| {
                let s = l.to_string_lossy().into_owned();
                s.split_once('[')?.1.trim_end_matches(']').parse::<u64>().ok()
            });
            if let Some(i) = inode {
                m.insert(ns.into(), json!(i));
            }
        }
        m
    }
}

impl SupervisorHooks for Hooks {
    fn fds(&self) -> Vec<RawFd> {
        let mut v: Vec<RawFd> = self.status.iter().map(|s| s.0.as_raw_fd()).collect();
        v.extend(self.proc.iter().map(|p| p.as_raw_fd()));
        if let Some(c) = &self.cgroup {
            v.extend(c.fds());
        }
        v
    }

    fn wants_program(&self) -> bool {
        self.status.is_some()
    }

    fn present(&mut self, init: libc::pid_t) {
        self.seen = Some(self.look(init));
    }

    fn started(&mut self, init: libc::pid_t) {
        // Taken during the hold; looked up now only if that never happened.
        let seen = self.seen.take();
        let Some(s) = &self.status else { return };
        let (pid, ns) = seen.unwrap_or_else(|| self.look(init));
        s.line(json!({"event": "started", "pid": pid, "namespaces": ns}));
    }

    fn exited(&mut self, o: &mut Outcome) {
        let mut peak = None;
        if let Some(cg) = &mut self.cgroup {
            for j in cg.joined.iter().filter(|j| j.has_memory()) {
                let (kills, p) = j.memory_stats();
                peak = p;
                let killed = libc::WIFSIGNALED(o.status) && libc::WTERMSIG(o.status) == libc::SIGKILL;
                if kills.unwrap_or(0) > 0 && killed && o.reason == Reason::Signaled {
                    o.reason = Reason::Oom;
                }
            }
            cg.leave();
        }
        let Some(s) = &self.status else { return };
        let (code, signal) = if o.reason == Reason::WallTime {
            (json!(124), json!(null))
        } else if libc::WIFEXITED(o.status) {
            (json!(libc::WEXITSTATUS(o.status)), json!(null))
        } else {
            (json!(null), json!(libc::WTERMSIG(o.status)))
        };
        let mut v = json!({
            "event": "exited",
            "exit_code": code,
            "signal": signal,
            "reason": o.reason.name(),
            "wall_ms": o.wall.as_millis() as u64,
        });
        if let Some(u) = &o.usage {
            v["user_ms"] = json!(u.user_ms);
            v["sys_ms"] = json!(u.sys_ms);
            v["max_rss_kib"] = json!(u.max_rss_kib);
        }
        if let Some(p) = peak {
            v["memory_peak_kib"] = json!(p);
        }
        s.line(v);
    }
}

#[cfg(test)]
mod tests;
