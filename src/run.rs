//! The orchestrator: one line per pipeline step (see the crate docs), nothing else.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::env::{self, LibId};
use crate::error::{Context as _, Error, Result, Step};
use crate::limits;
use crate::log::debug;
use crate::mount::{self, RealHost};
use crate::net;
use crate::pidns::{self, Supervision};
use crate::policy::{self, Context, Policy, Source, Vars};
use crate::privs::{self, CallerCwd};
use crate::seccomp::{self, KillReporter};
use crate::userns;

/// What the loader told the hook about this library.
pub struct Start {
    pub lib: LibId,
}

/// Who started the program, read before anything changes.
struct Caller {
    real_root: bool,
    cwd: CallerCwd,
    vars: Vars,
}

/// Steps 3 to 11. Returns only in the program, sandboxed, ready for its `main`.
pub fn run(start: &Start) -> Result<()> {
    let caller = Caller::capture();
    let saved = pidns::save_signals()?;
    debug!("hook", "caller: uid {}, cwd {}", caller.vars.uid, caller.cwd.path);
    // 3. policy: nothing in the process changes before this is done.
    let policy = load_policy(start, &caller)?;
    debug!("policy", "loaded {} ({} files)", policy.origin, policy.files.len());
    let plan = mount::plan(&policy, &RealHost)?;
    debug!("policy", "mount plan: {} operations", plan.ops.len());
    let filter = policy.seccomp.as_ref().map(seccomp::build).transpose()?;
    let status = limits::StatusFd::from_env()?;
    debug!("policy", "namespaces {:?}", policy.namespace_names());
    // 4. environment
    env::apply(&policy.env, &start.lib)?;
    // 5. cgroup
    let cgroup = limits::enter_cgroup(&policy)?;
    let hooks = limits::Hooks::new(status, cgroup)?;
    // 6. identity: who builds the sandbox (real root: root itself; the program drops later)
    let id = userns::identity(&policy, caller.real_root)?;
    // 7. unshare
    userns::unshare_all(&policy, &id)?;
    // 8. filesystem
    if policy.has(libc::CLONE_NEWNS) {
        mount::build(&plan)?;
    }
    // 9. fork #1: returns in PID 1; the caller's process supervises.
    let sup = Supervision {
        wall_time: policy.wall_time.map(std::time::Duration::from_secs_f64),
        new_session: policy.new_session,
        linger: policy.has(libc::CLONE_NEWPID) && !hooks.has_cgroup(),
        hooks: Box::new(hooks),
    };
    let pid1 = pidns::fork_supervisor(saved, sup)?;
    if policy.has(libc::CLONE_NEWNS) {
        mount::finish_in_pidns(&plan, id.real_root && id.run_as.is_none())?;
    }
    net::set_hostname(&policy)?;
    net::setup(&policy)?;
    let (init_sock, program_sock) = kill_report_channel(filter.as_ref())?;
    // 10. fork #2: returns in the program; PID 1 becomes init.
    let program = pidns::fork_program(pid1, Box::new(KillReporter::new(init_sock)))?;
    // 11. the program's own setup, seccomp last.
    pidns::restore_signals(&program)?;
    if policy.new_session {
        nix::unistd::setsid().at(Step::Init, || "setsid()".into())?;
    }
    limits::apply_rlimits(&policy)?;
    let mut preserve = program.fds();
    preserve.extend(program_sock.iter().chain(id.proc.iter()).map(|s| s.as_raw_fd()));
    privs::close_fds(&policy, &preserve)?;
    privs::enter_cwd(&policy, &caller.cwd)?;
    privs::drop_privileges(&policy, id)?;
    program.started()?;
    if let Some(f) = &filter {
        if let (Some(listener), Some(sock)) = (seccomp::load(f)?, program_sock) {
            seccomp::hand_over(sock, listener)?;
        }
    }
    Ok(())
}

/// A socket pair for handing the seccomp listener to init, when the filter has `kill` rules.
fn kill_report_channel(filter: Option<&seccomp::Filter>) -> Result<(Option<OwnedFd>, Option<OwnedFd>)> {
    if !filter.is_some_and(|f| f.notify) {
        return Ok((None, None));
    }
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
    let (a, b) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
        .at(Step::Seccomp, || "socketpair(AF_UNIX, SOCK_SEQPACKET)".into())?;
    Ok((Some(a), Some(b)))
}

impl Caller {
    fn capture() -> Caller {
        let uid = nix::unistd::getuid().as_raw();
        let gid = nix::unistd::getgid().as_raw();
        let cwd = CallerCwd::capture();
        // selfbox run names a script here; the process's own executable is its interpreter.
        let exe = env::caller_var("SELFBOX_EXE")
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .filter(|v| v.starts_with('/'))
            .or_else(|| std::fs::read_link("/proc/self/exe").ok().map(|p| p.display().to_string()))
            .unwrap_or_default();
        let exe_dir = Path::new(&exe).parent().map(|p| p.display().to_string()).unwrap_or_else(|| "/".into());
        let var =
            |n: &str| env::caller_var(n).map(|v| String::from_utf8_lossy(&v).into_owned()).filter(|v| !v.is_empty());
        // /etc/passwd only when the environment does not say (it costs a file read per start).
        let (home, user) = (var("HOME"), var("USER"));
        let passwd = if home.is_none() || user.is_none() { policy::passwd_by_uid(uid) } else { None };
        let vars = Vars {
            home: home.or_else(|| passwd.as_ref().map(|p| p.1.clone())).unwrap_or_else(|| "/".into()),
            cwd: cwd.path.clone(),
            exe,
            exe_dir,
            uid,
            gid,
            user: user.or_else(|| passwd.map(|p| p.0)).unwrap_or_else(|| uid.to_string()),
            tmpdir: var("TMPDIR").unwrap_or_else(|| "/tmp".into()),
        };
        Caller { real_root: uid == 0 && initial_userns(), cwd, vars }
    }
}

/// Root of a user namespace other than the initial one is not real root: it has no power over
/// the host, and the rootless path (a nested user namespace) is the one that works there.
fn initial_userns() -> bool {
    std::fs::read_to_string("/proc/self/uid_map")
        .is_ok_and(|m| m.lines().any(|l| l.split_whitespace().eq(["0", "0", "4294967295"])))
}

fn load_policy(start: &Start, caller: &Caller) -> Result<Policy> {
    // An empty value counts as unset.
    let raw = env::caller_var("SELFBOX_POLICY")
        .filter(|v| !v.is_empty())
        .or_else(|| env::caller_var("POLICY").filter(|v| !v.is_empty()))
        .ok_or(Error::Policy(policy::PolicyError::Missing))?;
    let text = String::from_utf8(raw)
        .map_err(|_| Error::refused(Step::Policy, "SELFBOX_POLICY is not UTF-8", "give a path or JSON text"))?;
    let source =
        if text.trim_start().starts_with('{') { Source::Inline(text) } else { Source::File(PathBuf::from(text)) };
    let ctx = Context {
        vars: caller.vars.clone(),
        search_dirs: policy::installed_dirs(Path::new(&start.lib.path)),
        real_root: caller.real_root,
    };
    Ok(policy::load(&source, &ctx)?)
}
