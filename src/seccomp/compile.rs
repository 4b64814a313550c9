//! Policy rules -> libseccomp -> BPF, for the native architecture only. Self-contained (it
//! uses only the policy module), so the command-line tools build the very same filter.

use libseccomp::{ScmpAction, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};

use crate::policy::syscalls::is_32bit_arg;
use crate::policy::{Action, CmpOp, Seccomp};

/// A compiled filter, ready to load.
pub struct Filter {
    pub bpf: Vec<u8>,
    /// Instructions of the exceptions prefix at the start of `bpf` (see [`exceptions_prefix`]).
    pub prefix_insns: usize,
    /// `kill` rules are reported through a listener that init watches.
    pub notify: bool,
    pub rules: usize,
    /// Microseconds libseccomp took.
    pub build_us: u128,
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

/// A libseccomp call that failed while building the filter.
#[derive(Debug)]
pub struct CompileError {
    pub call: String,
    pub errno: i32,
    pub hint: Option<String>,
}

fn lib_err(call: String, e: libseccomp::error::SeccompError) -> CompileError {
    CompileError { call, errno: e.errno().map_or(libc::EINVAL, |s| s as i32), hint: None }
}

/// Builds the BPF program for the native architecture only; any other ABI (i386 `int 0x80`,
/// x32) kills the process.
pub fn compile(s: &Seccomp) -> Result<Filter, CompileError> {
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
    // Exception syscalls never reach this program: the prefix returns for each of them.
    for r in &s.rules {
        if r.action == s.default_action {
            continue;
        }
        let action = scmp_action(r.action);
        let sys = ScmpSyscall::from(r.nr);
        let res = if r.args.is_empty() {
            ctx.add_rule_exact(action, sys)
        } else {
            let cmps: Vec<ScmpArgCompare> = r.args.iter().map(|c| scmp_cmp(r.name, c)).collect();
            ctx.add_rule_conditional_exact(action, sys, &cmps)
        };
        res.map_err(|e| CompileError {
            hint: Some(format!("rule from {}", r.at())),
            ..lib_err(format!("seccomp_rule_add({}, {})", r.name, r.action.describe()), e)
        })?;
        added += 1;
    }
    let bpf = export(&ctx)?;
    let notify = needs_notify(s);
    let mut prefix = exceptions_prefix(&s.exceptions);
    let prefix_insns = prefix.len() / 8;
    prefix.extend_from_slice(&bpf);
    if prefix.len() / 8 > 4096 {
        return Err(CompileError {
            call: "seccomp filter".into(),
            errno: libc::E2BIG,
            hint: Some("more than 4096 BPF instructions".into()),
        });
    }
    Ok(Filter { bpf: prefix, prefix_insns, notify, rules: added, build_us: start.elapsed().as_micros() })
}

/// `kill` rules need a listener (exceptions cannot use `kill`: the policy refuses it).
pub fn needs_notify(s: &Seccomp) -> bool {
    s.default_action == Action::Kill || s.rules.iter().any(|r| r.action == Action::Kill)
}

// Classic BPF, as seccomp(2) runs it.
const LD_ABS_W: u16 = 0x20;
const JEQ_K: u16 = 0x15;
const AND_K: u16 = 0x54;
const RET_K: u16 = 0x06;
const JA: u16 = 0x05;
const RET_ALLOW: u32 = 0x7fff_0000;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;
#[cfg(target_arch = "riscv64")]
const AUDIT_ARCH: u32 = 0xC000_00F3;

/// The native architecture's AUDIT_ARCH value (what `seccomp_data.arch` holds).
pub fn audit_arch() -> u32 {
    AUDIT_ARCH
}

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

/// The exceptions, as instructions placed before libseccomp's program: for each syscall with
/// exceptions, its cases in order (first match wins), else its unconditional action; every other
/// call falls through to libseccomp's program, which starts from scratch (one filter, compiled
/// once by the kernel, instead of two).
pub fn exceptions_prefix(groups: &[crate::policy::syscalls::ArgExceptions]) -> Vec<u8> {
    if groups.is_empty() {
        return Vec::new();
    }
    let mut prog = vec![
        Insn(LD_ABS_W, 0, 0, 4),
        Insn(JEQ_K, 1, 0, AUDIT_ARCH),
        // Another ABI: on to libseccomp's program, which kills it (the offset is set below).
        Insn(JA, 0, 0, 0),
        Insn(LD_ABS_W, 0, 0, 0),
    ];
    for g in groups {
        let mut block: Vec<Insn> = Vec::new();
        let wide = !is_32bit_arg(g.name, g.index);
        let (lo, hi) = arg_offsets(g.index);
        for (cmp, action) in &g.cases {
            let (mask, value) = match cmp.op {
                CmpOp::MaskedEq(m) => (m, cmp.value & m),
                _ => (u64::MAX, cmp.value),
            };
            // A mask with nothing in the upper half needs no look at it (clone flags, say).
            let wide = wide && mask >> 32 != 0;
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
    // The last syscall test's miss lands just past the prefix: the start of libseccomp's program.
    prog[2].3 = (prog.len() - 3) as u32;
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
fn export(ctx: &ScmpFilterContext) -> Result<Vec<u8>, CompileError> {
    use std::io::{Read, Seek};
    let io = |call: &str, e: std::io::Error| CompileError {
        call: call.into(),
        errno: e.raw_os_error().unwrap_or(libc::EIO),
        hint: None,
    };
    let fd = nix::sys::memfd::memfd_create(c"selfbox-bpf", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
        .map_err(|e| CompileError { call: "memfd_create()".into(), errno: e as i32, hint: None })?;
    ctx.export_bpf(&fd).map_err(|e| lib_err("seccomp_export_bpf".into(), e))?;
    let mut f = std::fs::File::from(fd);
    let mut bpf = Vec::new();
    f.rewind().and_then(|_| f.read_to_end(&mut bpf)).map_err(|e| io("read(memfd)", e))?;
    Ok(bpf)
}
