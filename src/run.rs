//! The orchestrator: one line per pipeline step (see the crate docs), nothing else.

use std::os::fd::AsRawFd;

use crate::caller;
use crate::env::{self, LibId};
use crate::error::Result;
use crate::limits;
use crate::log::debug;
use crate::mount::{self, RealHost};
use crate::net;
use crate::pidns::{self, Supervision};
use crate::privs;
use crate::seccomp::{self, KillReporter};
use crate::userns;

/// What the loader told the hook about this library.
pub struct Start {
    pub lib: LibId,
    /// The kernel's initial environment block (removed variables are wiped there).
    pub env_block: Option<(usize, usize)>,
}

/// Steps 3 to 11. Returns only in the program, sandboxed, ready for its `main`.
pub fn run(start: &Start) -> Result<()> {
    let caller = caller::Caller::capture();
    let saved = pidns::save_signals()?;
    debug!("hook", "caller: uid {}, cwd {}", caller.vars.uid, caller.cwd.path);
    // 3. policy: nothing in the process changes before this is done.
    let policy = caller::load_policy(&start.lib, &caller)?;
    debug!("policy", "loaded {} ({} files)", policy.origin, policy.files.len());
    let plan = mount::plan(&policy, &RealHost)?;
    debug!("policy", "mount plan: {} operations", plan.ops.len());
    let lib_dir = start.lib.dir();
    let dev_template = mount::dev_template(&plan, lib_dir.as_deref())?;
    let filter = seccomp::prepare(&policy, lib_dir.as_deref(), caller.real_root)?;
    let status = limits::StatusFd::from_env()?;
    debug!("policy", "namespaces {:?}", policy.namespace_names());
    // 4. environment
    env::apply(&policy.env, &start.lib, start.env_block)?;
    // 5. cgroup
    let cgroup = limits::enter_cgroup(&policy)?;
    let hooks = limits::Hooks::new(status, cgroup)?;
    // 6. identity: who builds the sandbox (real root: root itself; the program drops later)
    let id = userns::identity(&policy, caller.real_root)?;
    // 7. unshare
    userns::unshare_all(&policy, &id)?;
    // 8. filesystem
    if policy.has(libc::CLONE_NEWNS) {
        mount::build(&plan, dev_template.as_deref())?;
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
    let (init_sock, program_sock) = seccomp::report_channel(filter.as_ref())?;
    // 10. fork #2: returns in the program; PID 1 becomes init.
    let detach = policy.has(libc::CLONE_NEWNS).then(|| mount::detach_old_root(&plan)).flatten();
    let mut program = pidns::fork_program(pid1, Box::new(KillReporter::new(init_sock)), detach)?;
    // 11. the program's own setup, seccomp last.
    pidns::restore_signals(&program)?;
    pidns::new_session(&policy)?;
    limits::apply_rlimits(&policy)?;
    let mut preserve = program.fds();
    preserve.extend(program_sock.iter().chain(id.proc.iter()).map(|s| s.as_raw_fd()));
    privs::close_fds(&policy, &preserve)?;
    privs::enter_cwd(&policy, &caller.cwd)?;
    privs::drop_privileges(&policy, id)?;
    program.die_with_init(&policy)?;
    program.wait_for_init()?;
    let starting = program.seal()?;
    if let Some(f) = &filter {
        if let (Some(listener), Some(sock)) = (seccomp::load(f)?, program_sock) {
            seccomp::hand_over(sock, listener)?;
        }
    }
    let started = starting.announce();
    // The program's heap pages are still shared with the supervisor, copy-on-write: freeing
    // what the sandbox was built from would copy a dozen of them before `main`, for memory
    // the program can do without.
    std::mem::forget((policy, plan, caller, filter, lib_dir, dev_template));
    started
}
