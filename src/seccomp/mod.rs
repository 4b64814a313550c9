//! The syscall filter: policy rules -> libseccomp -> a BPF program (built while the policy is
//! resolved, so every error comes before anything changes) -> loaded as the very last step.
//!
//! `kill` rules become user notifications: init receives the syscall and its arguments, prints
//! them, and kills the process; the program cannot intercept that (a SIGSYS handler could
//! intercept `trap`), and the syscall never runs.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use crate::error::{Context, Error, Result, Step};
use crate::log::debug;
use crate::pidns::InitWatch;
use crate::policy::syscalls::native_name;
use crate::policy::{Policy, Seccomp};
use crate::sys;

mod cache;
mod cache_file;
mod compile;
use cache::Cache;
pub use cache_file::untrusted_dir;
pub use compile::Filter;

/// Step 3: the filter the policy asks for, if it refuses anything: from a cache the program
/// could not have written (`lib_dir`: this library's directory, canonical; `real_root`: the
/// caller's), else built.
pub fn prepare(policy: &Policy, lib_dir: Option<&Path>, real_root: bool) -> Result<Option<Filter>> {
    match &policy.seccomp {
        Some(s) if !s.allows_everything() => {
            let uid = crate::userns::program_uid(policy, real_root);
            build(s, &Cache::locate(lib_dir, uid, real_root)?).map(Some)
        }
        _ => Ok(None),
    }
}

/// Builds the filter (every error is the policy's, found before anything changes), or takes it
/// from `cache`.
fn build(s: &Seccomp, cache: &Cache) -> Result<Filter> {
    let start = std::time::Instant::now();
    let key = cache_file::key(s, compile::audit_arch());
    let notify = compile::needs_notify(s);
    if let Some((e, dir)) = cache.lookup(&key) {
        debug!("seccomp", "{} rules from {} in {} us", e.rules, dir.display(), start.elapsed().as_micros());
        return Ok(Filter { bpf: e.bpf, prefix_insns: e.prefix_insns, notify, rules: e.rules, build_us: 0 });
    }
    let f = compile::compile(s).map_err(|e| {
        let err = Error::call(Step::Seccomp, e.call, nix::errno::Errno::from_raw(e.errno));
        match e.hint {
            Some(h) => err.hint(h),
            None => err,
        }
    })?;
    debug!(
        "seccomp",
        "built {} rules into {} instructions ({} for exceptions) in {} us",
        f.rules,
        f.bpf.len() / 8,
        f.prefix_insns,
        f.build_us
    );
    cache.store(&key, &cache_file::Entry { rules: f.rules, prefix_insns: f.prefix_insns, bpf: f.bpf.clone() });
    Ok(f)
}

/// A socket pair for handing the seccomp listener to init, when the filter has `kill` rules.
pub fn report_channel(filter: Option<&Filter>) -> Result<(Option<OwnedFd>, Option<OwnedFd>)> {
    if !filter.is_some_and(|f| f.notify) {
        return Ok((None, None));
    }
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
    let (a, b) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
        .at(Step::Seccomp, || "socketpair(AF_UNIX, SOCK_SEQPACKET)".into())?;
    Ok((Some(a), Some(b)))
}

/// Loads the filter: the last step before `main` (minijail: "seccomp has to come last", since
/// every earlier step makes syscalls the filter may deny). Returns the listener for `kill`
/// rules, if any.
pub fn load(f: &Filter) -> Result<Option<OwnedFd>> {
    let start = std::time::Instant::now();
    let listener = sys::seccomp_load(&f.bpf, f.notify).map_err(|e| {
        let err = Error::call(Step::Seccomp, format!("seccomp(SET_MODE_FILTER, {} instructions)", f.bpf.len() / 8), e);
        match e {
            nix::errno::Errno::EACCES => err.hint("needs no_new_privs or CAP_SYS_ADMIN"),
            nix::errno::Errno::EBUSY => err.hint("another filter of this process already has a listener"),
            _ => err,
        }
    })?;
    debug!(
        "seccomp",
        "loaded {} rules, {} instructions in {} us",
        f.rules,
        f.bpf.len() / 8,
        start.elapsed().as_micros()
    );
    Ok(listener)
}

/// Init's side of `kill` rules. The program loads the filter (only it can), writes the
/// listener's descriptor number on a socket and waits; init copies the listener out of it with
/// pidfd_getfd and answers; the program then closes its copy, so that it can neither read nor
/// answer notifications. After that init reports and kills every process that makes a killed
/// syscall; the syscall never runs.
pub struct KillReporter {
    sock: Option<OwnedFd>,
    listener: Option<OwnedFd>,
}

impl KillReporter {
    pub fn new(sock: Option<OwnedFd>) -> KillReporter {
        KillReporter { sock, listener: None }
    }

    fn take_listener(&mut self, program: libc::pid_t) {
        let Some(sock) = self.sock.take() else { return };
        let mut num = [0u8; 4];
        // EOF: the program ended (or failed) before loading the filter.
        if !matches!(nix::unistd::read(sock.as_fd(), &mut num), Ok(4)) {
            return;
        }
        let fd = i32::from_ne_bytes(num);
        let got = sys::pidfd_open(program).and_then(|p| sys::pidfd_getfd(p.as_fd(), fd));
        match got {
            Ok(l) => {
                self.listener = Some(l);
                let _ = nix::unistd::write(&sock, b"k");
            }
            Err(e) => {
                let line = format!(
                    "selfbox: seccomp: pidfd_getfd(program, {fd}): {} (kill rules need it; is ptrace forbidden by kernel.yama.ptrace_scope=3?)\n",
                    crate::policy::values::errno_name(e as i32)
                );
                let _ = sys::write_all(2, line.as_bytes());
                let _ = sys::kill(program, libc::SIGKILL);
            }
        }
    }
}

impl InitWatch for KillReporter {
    fn fds(&self) -> Vec<BorrowedFd<'_>> {
        self.sock.iter().chain(self.listener.iter()).map(|f| f.as_fd()).collect()
    }

    fn ready(&mut self, fd: i32, program: libc::pid_t) -> bool {
        if self.sock.as_ref().is_some_and(|s| s.as_raw_fd() == fd) {
            self.take_listener(program);
            return false;
        }
        let Some(l) = &self.listener else { return false };
        let Ok(n) = sys::seccomp_notif_recv(l.as_fd()) else {
            return false;
        };
        let name = native_name(n.nr).map_or_else(|| format!("syscall {}", n.nr), str::to_owned);
        let args: Vec<String> = n.args.iter().map(|a| format!("{a:#x}")).collect();
        let who =
            if n.pid as libc::pid_t == program { String::new() } else { format!(" (pid {} in the sandbox)", n.pid) };
        let line = format!("selfbox: program killed by seccomp policy: {name}({}){who}\n", args.join(", "));
        let _ = sys::write_all(2, line.as_bytes());
        // SIGKILL: it cannot be caught, blocked or ignored, and on any thread it ends the whole
        // process. Init reports the program's end as SIGSYS, as a seccomp kill would read.
        let _ = sys::kill(n.pid as libc::pid_t, libc::SIGKILL);
        // Any notification counts: a thread of the program has its own id, and the program's
        // processes are the only ones under the filter.
        true
    }
}

/// The program's side of the hand-over: the only syscalls it makes under the filter before
/// `main` are this write, read and close.
pub fn hand_over(sock: OwnedFd, listener: OwnedFd) -> Result<()> {
    let num = listener.as_raw_fd().to_ne_bytes();
    nix::unistd::write(&sock, &num).at(Step::Seccomp, || "write(listener number)".into())?;
    let mut ack = [0u8; 1];
    match nix::unistd::read(sock.as_fd(), &mut ack) {
        Ok(1) => {}
        Ok(_) => {
            return Err(Error::refused(Step::Seccomp, "init did not take the seccomp listener", "see the line above"));
        }
        Err(e) => return Err(Error::call(Step::Seccomp, "read(ack)", e)),
    }
    drop(listener);
    Ok(())
}
