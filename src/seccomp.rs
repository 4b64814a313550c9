//! The syscall filter: policy rules -> libseccomp -> a BPF program (built while the policy is
//! resolved, so every error comes before anything changes) -> loaded as the very last step.
//!
//! `kill` rules become user notifications: init receives the syscall and its arguments, prints
//! them, and kills the process; the program cannot intercept that (a SIGSYS handler could
//! intercept `trap`), and the syscall never runs.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};

use crate::error::{Context, Error, Result, Step};
use crate::log::debug;
use crate::pidns::InitWatch;
use crate::policy::syscalls::is_32bit_arg;
use crate::policy::{Action, CmpOp, Seccomp};
use crate::sys;

/// A compiled filter, ready to load.
pub struct Filter {
    pub bpf: Vec<u8>,
    /// The exceptions filter (see [`exceptions_bpf`]), loaded before `bpf`.
    pub exceptions: Option<Vec<u8>>,
    /// `kill` rules are reported through a listener that init watches.
    pub notify: bool,
    pub rules: usize,
}

fn scmp_action(a: Action) -> ScmpAction {
    match a {
        Action::Allow => ScmpAction::Allow,
        Action::Errno(e) => ScmpAction::Errno(e),
        Action::Kill => ScmpAction::Notify,
        Action::KillThread => ScmpAction::KillThread,
        Action::Trap => ScmpAction::Trap,
        Action::Log => ScmpAction::Log,
    }
}

fn scmp_cmp(name: &str, c: &crate::policy::ArgCmp) -> ScmpArgCompare {
    let narrow = is_32bit_arg(name, c.index);
    let (op, value) = match c.op {
        CmpOp::Eq if narrow => (ScmpCompareOp::MaskedEqual(0xffff_ffff), c.value & 0xffff_ffff),
        CmpOp::MaskedEq(m) if narrow => (ScmpCompareOp::MaskedEqual(m & 0xffff_ffff), c.value & 0xffff_ffff),
        CmpOp::Eq => (ScmpCompareOp::Equal, c.value),
        CmpOp::Ne => (ScmpCompareOp::NotEqual, c.value),
        CmpOp::Lt => (ScmpCompareOp::Less, c.value),
        CmpOp::Le => (ScmpCompareOp::LessOrEqual, c.value),
        CmpOp::Gt => (ScmpCompareOp::Greater, c.value),
        CmpOp::Ge => (ScmpCompareOp::GreaterEqual, c.value),
        CmpOp::MaskedEq(m) => (ScmpCompareOp::MaskedEqual(m), c.value),
    };
    ScmpArgCompare::new(c.index, op, value)
}

fn lib_err(call: String, e: libseccomp::error::SeccompError) -> Error {
    let errno = e.errno().map_or(nix::errno::Errno::EINVAL, |s| nix::errno::Errno::from_raw(s as i32));
    Error::call(Step::Seccomp, call, errno)
}

/// Builds the BPF program for the native architecture only; any other ABI (i386 `int 0x80`,
/// x32) kills the process.
pub fn compile(s: &Seccomp) -> Result<Filter> {
    let start = std::time::Instant::now();
    let default = scmp_action(s.default_action);
    let mut ctx = ScmpFilterContext::new(default).map_err(|e| lib_err("seccomp_init".into(), e))?;
    // We set no_new_privs ourselves and load the exported program with seccomp(2).
    ctx.set_ctl_nnp(false).map_err(|e| lib_err("seccomp_attr_set(CTL_NNP)".into(), e))?;
    ctx.set_act_badarch(ScmpAction::KillProcess).map_err(|e| lib_err("seccomp_attr_set(ACT_BADARCH)".into(), e))?;
    ctx.set_api_sysrawrc(true).map_err(|e| lib_err("seccomp_attr_set(API_SYSRAWRC)".into(), e))?;
    // A binary tree keeps the cost of argument-checked syscalls low (PITFALLS 36).
    ctx.set_ctl_optimize(2).map_err(|e| lib_err("seccomp_attr_set(CTL_OPTIMIZE, 2)".into(), e))?;
    let mut added = 0;
    // Exception syscalls are decided by the second filter; this one must let them through
    // (of two filters the kernel takes the stricter answer).
    if s.default_action != Action::Allow {
        for e in &s.exceptions {
            ctx.add_rule_exact(ScmpAction::Allow, ScmpSyscall::from(e.nr))
                .map_err(|err| lib_err(format!("seccomp_rule_add({}, allow)", e.name), err))?;
        }
    }
    for r in &s.rules {
        let conditional_exception =
            !r.args.is_empty() && s.rules.iter().any(|o| o.nr == r.nr && o.args.is_empty() && o.action != r.action);
        if r.action == s.default_action && !conditional_exception {
            continue;
        }
        let action = scmp_action(r.action);
        let sys = ScmpSyscall::from(r.nr);
        let res = if r.args.is_empty() {
            ctx.add_rule_exact(action, sys)
        } else {
            let cmps: Vec<ScmpArgCompare> = r.args.iter().map(|c| scmp_cmp(&r.name, c)).collect();
            ctx.add_rule_conditional_exact(action, sys, &cmps)
        };
        res.map_err(|e| {
            lib_err(format!("seccomp_rule_add({}, {})", r.name, r.action.describe()), e)
                .hint(format!("rule from {}", r.at()))
        })?;
        added += 1;
    }
    let bpf = export(&ctx)?;
    let notify = s.default_action == Action::Kill || s.rules.iter().any(|r| r.action == Action::Kill);
    let exceptions = (!s.exceptions.is_empty()).then(|| exceptions_bpf(&s.exceptions));
    debug!(
        "seccomp",
        "built {added} rules into {} instructions (+{} for exceptions) in {} us",
        bpf.len() / 8,
        exceptions.as_ref().map_or(0, |e| e.len() / 8),
        start.elapsed().as_micros()
    );
    Ok(Filter { bpf, exceptions, notify, rules: added })
}

// Classic BPF, as seccomp(2) runs it.
const LD_ABS_W: u16 = 0x20;
const JEQ_K: u16 = 0x15;
const AND_K: u16 = 0x54;
const RET_K: u16 = 0x06;
const RET_ALLOW: u32 = 0x7fff_0000;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;
#[cfg(target_arch = "riscv64")]
const AUDIT_ARCH: u32 = 0xC000_00F3;

/// Offsets in `struct seccomp_data` of an argument's low and high 32-bit halves.
fn arg_offsets(index: u32) -> (u32, u32) {
    let base = 16 + 8 * index;
    if cfg!(target_endian = "little") { (base, base + 4) } else { (base + 4, base) }
}

fn ret_value(a: Action) -> u32 {
    match a {
        Action::Allow => RET_ALLOW,
        Action::Errno(e) => 0x0005_0000 | (e as u32 & 0xffff),
        Action::KillThread => 0,
        Action::Trap => 0x0003_0000,
        Action::Log => 0x7ffc_0000,
        // Refused by the policy for exceptions (only init can report a kill).
        Action::Kill => 0x8000_0000,
    }
}

struct Insn(u16, u8, u8, u32);

/// The second filter: for each syscall with exceptions, its cases in order (first match wins),
/// else its unconditional action; every other syscall is allowed here and decided by the
/// libseccomp filter.
pub fn exceptions_bpf(groups: &[crate::policy::syscalls::ArgExceptions]) -> Vec<u8> {
    let mut prog = vec![
        Insn(LD_ABS_W, 0, 0, 4),
        Insn(JEQ_K, 1, 0, AUDIT_ARCH),
        // Another ABI: the main filter kills it.
        Insn(RET_K, 0, 0, RET_ALLOW),
        Insn(LD_ABS_W, 0, 0, 0),
    ];
    for g in groups {
        let mut block: Vec<Insn> = Vec::new();
        let wide = !is_32bit_arg(&g.name, g.index);
        let (lo, hi) = arg_offsets(g.index);
        for (cmp, action) in &g.cases {
            let (mask, value) = match cmp.op {
                CmpOp::MaskedEq(m) => (m, cmp.value & m),
                _ => (u64::MAX, cmp.value),
            };
            let (mask, value) = if wide { (mask, value) } else { (mask & 0xffff_ffff, value & 0xffff_ffff) };
            let half = |off: u32, m: u32, v: u32, miss: u8| -> Vec<Insn> {
                let mut v_ = vec![Insn(LD_ABS_W, 0, 0, off)];
                if m != u32::MAX {
                    v_.push(Insn(AND_K, 0, 0, m));
                }
                v_.push(Insn(JEQ_K, 0, miss, v));
                v_
            };
            let low = half(lo, mask as u32, value as u32, 1);
            let mut case: Vec<Insn> = Vec::new();
            if wide {
                // On a miss of the high half, jump past the low half and the return.
                let skip = (low.len() + 1) as u8;
                case.extend(half(hi, (mask >> 32) as u32, (value >> 32) as u32, skip));
            }
            case.extend(low);
            case.push(Insn(RET_K, 0, 0, ret_value(*action)));
            block.extend(case);
        }
        block.push(Insn(RET_K, 0, 0, ret_value(g.base)));
        assert!(block.len() < 255, "exception block too long for a BPF jump");
        prog.push(Insn(JEQ_K, 0, block.len() as u8, g.nr as u32));
        prog.extend(block);
    }
    prog.push(Insn(RET_K, 0, 0, RET_ALLOW));
    let mut out = Vec::with_capacity(prog.len() * 8);
    for Insn(code, jt, jf, k) in prog {
        out.extend_from_slice(&code.to_ne_bytes());
        out.push(jt);
        out.push(jf);
        out.extend_from_slice(&k.to_ne_bytes());
    }
    out
}

/// The BPF program, through a memfd (libseccomp 2.5 exports only to a descriptor).
fn export(ctx: &ScmpFilterContext) -> Result<Vec<u8>> {
    use std::io::{Read, Seek};
    let fd = nix::sys::memfd::memfd_create(c"selfbox-bpf", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
        .at(Step::Seccomp, || "memfd_create()".into())?;
    ctx.export_bpf(&fd).map_err(|e| lib_err("seccomp_export_bpf".into(), e))?;
    let mut f = std::fs::File::from(fd);
    let mut bpf = Vec::new();
    f.rewind().and_then(|_| f.read_to_end(&mut bpf)).at(Step::Seccomp, || "read(memfd)".into())?;
    Ok(bpf)
}

/// Loads the filter: the last step before `main` (minijail: "seccomp has to come last", since
/// every earlier step makes syscalls the filter may deny). Returns the listener for `kill`
/// rules, if any.
pub fn load(f: &Filter) -> Result<Option<OwnedFd>> {
    if let Some(e) = &f.exceptions {
        sys::seccomp_load(e, false).map_err(|err| {
            Error::call(
                Step::Seccomp,
                format!("seccomp(SET_MODE_FILTER, exceptions, {} instructions)", e.len() / 8),
                err,
            )
        })?;
    }
    let listener = sys::seccomp_load(&f.bpf, f.notify).map_err(|e| {
        let err = Error::call(Step::Seccomp, format!("seccomp(SET_MODE_FILTER, {} instructions)", f.bpf.len() / 8), e);
        match e {
            nix::errno::Errno::EACCES => err.hint("needs no_new_privs or CAP_SYS_ADMIN"),
            nix::errno::Errno::EBUSY => err.hint("another filter of this process already has a listener"),
            _ => err,
        }
    })?;
    debug!("seccomp", "loaded {} rules, {} instructions", f.rules, f.bpf.len() / 8);
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
    /// Processes already sent SIGSYS: if one comes back (it caught or blocked the signal in
    /// between), it gets SIGKILL.
    signaled: Vec<u32>,
}

impl KillReporter {
    pub fn new(sock: Option<OwnedFd>) -> KillReporter {
        KillReporter { sock, listener: None, signaled: Vec::new() }
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
        let name = ScmpSyscall::from(n.nr)
            .get_name_by_arch(ScmpArch::native())
            .unwrap_or_else(|_| format!("syscall {}", n.nr));
        let args: Vec<String> = n.args.iter().map(|a| format!("{a:#x}")).collect();
        let who =
            if n.pid as libc::pid_t == program { String::new() } else { format!(" (pid {} in the sandbox)", n.pid) };
        let line = format!("selfbox: program killed by seccomp policy: {name}({}){who}\n", args.join(", "));
        let _ = sys::write_all(2, line.as_bytes());
        // Die of SIGSYS, as a seccomp kill would, when the signal would do that; otherwise (or
        // the second time) of SIGKILL, which init then reports as SIGSYS for the program.
        let sig =
            if !self.signaled.contains(&n.pid) && sigsys_is_default(n.pid) { libc::SIGSYS } else { libc::SIGKILL };
        self.signaled.push(n.pid);
        let _ = sys::kill(n.pid as libc::pid_t, sig);
        n.pid as libc::pid_t == program
    }
}

/// Whether SIGSYS would terminate thread `tid` now: not blocked, ignored or caught (read from
/// the sandbox's /proc; without one, assume not).
fn sigsys_is_default(tid: u32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{tid}/status")) else { return false };
    let bit = 1u64 << (libc::SIGSYS - 1);
    ["SigBlk:", "SigIgn:", "SigCgt:"].iter().all(|key| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .is_some_and(|mask| mask & bit == 0)
    })
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
