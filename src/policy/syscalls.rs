//! The `seccomp` section: actions, syscall names and groups resolved for the native
//! architecture, argument comparisons, and the override rule (a later rule for the same syscall
//! and the same conditions replaces an earlier one).

use std::rc::Rc;

use libseccomp::{ScmpArch, ScmpSyscall};

use super::PolicyError;
use super::groups;
use super::json::{Json, ObjReader, Ptr, as_arr, as_bool, as_str, as_u64, expected, suggest};
use super::values;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Allow,
    Errno(i32),
    /// The whole process.
    Kill,
    KillThread,
    Trap,
    Log,
}

impl Action {
    pub fn describe(&self) -> String {
        match self {
            Action::Allow => "allow".into(),
            Action::Errno(e) => format!("errno {}", values::errno_name(*e)),
            Action::Kill => "kill".into(),
            Action::KillThread => "kill_thread".into(),
            Action::Trap => "trap".into(),
            Action::Log => "log".into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    MaskedEq(u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ArgCmp {
    pub index: u32,
    pub op: CmpOp,
    pub value: u64,
}

/// One syscall with the action for it under some (possibly no) argument conditions. A policy
/// rule naming a group becomes many of these; they share its conditions and origin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeccompRule {
    pub name: &'static str,
    pub nr: i32,
    pub action: Action,
    pub args: Rc<[ArgCmp]>,
    pub src: Rc<RuleSrc>,
}

/// Where a rule was written.
#[derive(Debug, PartialEq, Eq)]
pub struct RuleSrc {
    pub origin: String,
    pub ptr: Ptr,
}

impl SeccompRule {
    pub fn at(&self) -> String {
        format!("{}: {}", self.src.origin, self.src.ptr)
    }
}

/// An unconditional rule for a syscall followed by later rules that compare one argument: the
/// later ones are exceptions, the latest tried first, and the unconditional action applies
/// otherwise.
/// libseccomp lets an unconditional rule decide every call, so these are compiled apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgExceptions {
    pub name: &'static str,
    pub nr: i32,
    pub index: u32,
    pub base: Action,
    pub cases: Vec<(ArgCmp, Action)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seccomp {
    pub default_action: Action,
    /// After overrides: at most one rule per (syscall, conditions), in policy order.
    pub rules: Vec<SeccompRule>,
    pub exceptions: Vec<ArgExceptions>,
}

impl Seccomp {
    /// Nothing is refused, killed, trapped or logged: loading such a filter would only cost.
    pub fn allows_everything(&self) -> bool {
        self.default_action == Action::Allow
            && self.rules.iter().all(|r| r.action == Action::Allow)
            && self.exceptions.iter().all(|e| e.base == Action::Allow && e.cases.iter().all(|c| c.1 == Action::Allow))
    }
}

/// What one file says; merged along the `extends` chain.
#[derive(Clone, Debug, Default)]
pub struct SeccompLayer {
    pub default_action: Option<Action>,
    pub rules: Vec<SeccompRule>,
}

const ACTIONS: &[&str] = &["allow", "errno", "kill", "kill_process", "kill_thread", "trap", "log"];
const OPS: &[&str] = &["eq", "ne", "lt", "le", "gt", "ge", "masked_eq"];

fn action(name: &str, errno: Option<(&Json, Ptr)>, ptr: &Ptr) -> Result<Action, PolicyError> {
    let a = match name {
        "allow" => Action::Allow,
        "errno" => Action::Errno(match &errno {
            Some((v, p)) => values::errno(v, p)?,
            None => libc::EPERM,
        }),
        "kill" | "kill_process" => Action::Kill,
        "kill_thread" => Action::KillThread,
        "trap" => Action::Trap,
        "log" => Action::Log,
        other => {
            let mut msg = format!("unknown action \"{other}\"; one of: {}", ACTIONS.join(", "));
            if let Some(s) = suggest(other, ACTIONS) {
                msg = format!("unknown action \"{other}\"; did you mean \"{s}\"?");
            }
            return Err(PolicyError::at(ptr, msg));
        }
    };
    if let (Some((_, p)), false) = (errno, matches!(a, Action::Errno(_))) {
        return Err(PolicyError::at(&p, "\"errno\" only goes with the action \"errno\"".into()));
    }
    Ok(a)
}

pub fn parse(v: &Json, ptr: &Ptr, origin: &str) -> Result<SeccompLayer, PolicyError> {
    let mut o = ObjReader::new(v, ptr)?;
    let mut layer = SeccompLayer::default();
    if let Some((v, p)) = o.get("comment") {
        expect_str(v, &p)?;
    }
    if let Some((v, p)) = o.get("default_action") {
        let name = as_str(v, &p)?;
        let errno = o.get("default_errno");
        layer.default_action = Some(action(name, errno, &p)?);
    } else if let Some((_, p)) = o.get("default_errno") {
        return Err(PolicyError::at(&p, "\"default_errno\" needs \"default_action\": \"errno\"".into()));
    }
    if let Some((v, p)) = o.get("rules") {
        for (i, item) in as_arr(v, &p)?.iter().enumerate() {
            parse_rule(item, &p.index(i), origin, &mut layer.rules)?;
        }
    }
    o.finish(&["comment", "default_action", "default_errno", "rules"])?;
    Ok(layer)
}

fn parse_rule(v: &Json, ptr: &Ptr, origin: &str, out: &mut Vec<SeccompRule>) -> Result<(), PolicyError> {
    let mut o = ObjReader::new(v, ptr)?;
    if let Some((v, p)) = o.get("comment") {
        expect_str(v, &p)?;
    }
    let (av, ap) = o.get("action").ok_or_else(|| PolicyError::at(ptr, "a rule needs \"action\"".into()))?;
    let errno = o.get("errno");
    let act = action(as_str(av, &ap)?, errno, &ap)?;
    let optional = match o.get("optional") {
        Some((v, p)) => as_bool(v, &p)?,
        None => false,
    };
    let (sv, sp) = o.get("syscalls").ok_or_else(|| PolicyError::at(ptr, "a rule needs \"syscalls\"".into()))?;
    let names = as_arr(sv, &sp)?;
    if names.is_empty() {
        return Err(PolicyError::at(&sp, "\"syscalls\" is empty".into()));
    }
    let mut args = Vec::new();
    if let Some((v, p)) = o.get("args") {
        let list = as_arr(v, &p)?;
        for (i, a) in list.iter().enumerate() {
            args.push(parse_arg(a, &p.index(i))?);
        }
        for (i, a) in args.iter().enumerate() {
            if args[..i].iter().any(|b| b.index == a.index) {
                return Err(PolicyError::at(
                    &p.index(i),
                    format!(
                        "argument {} is compared twice in one rule; libseccomp allows one comparison per argument",
                        a.index
                    ),
                ));
            }
        }
    }
    o.finish(&["comment", "action", "errno", "syscalls", "args", "optional"])?;
    let args: Rc<[ArgCmp]> = args.into();
    let src = Rc::new(RuleSrc { origin: origin.to_owned(), ptr: ptr.clone() });
    for (i, n) in names.iter().enumerate() {
        let np = sp.index(i);
        let name = as_str(n, &np)?;
        for (sys, nr) in resolve(name, &np, optional)? {
            if let Some(c) =
                args.iter().find(|c| is_32bit_arg(sys, c.index) && !matches!(c.op, CmpOp::Eq | CmpOp::MaskedEq(_)))
            {
                return Err(PolicyError::at(
                    &np,
                    format!(
                        "{sys} reads argument {} as a 32-bit int, so only \"eq\" and \"masked_eq\" can compare it \
                         safely (the filter sees all 64 bits; the upper half could be anything)",
                        c.index
                    ),
                ));
            }
            out.push(SeccompRule { name: sys, nr, action: act, args: args.clone(), src: src.clone() });
        }
    }
    Ok(())
}

fn parse_arg(v: &Json, ptr: &Ptr) -> Result<ArgCmp, PolicyError> {
    let mut o = ObjReader::new(v, ptr)?;
    let (iv, ip) =
        o.get("index").ok_or_else(|| PolicyError::at(ptr, "an argument comparison needs \"index\" (0-5)".into()))?;
    let index = as_u64(iv, &ip)?;
    if index > 5 {
        return Err(PolicyError::at(&ip, format!("index {index} is out of range 0-5")));
    }
    let (ov, op) = o.get("op").ok_or_else(|| PolicyError::at(ptr, "an argument comparison needs \"op\"".into()))?;
    let (vv, vp) =
        o.get("value").ok_or_else(|| PolicyError::at(ptr, "an argument comparison needs \"value\"".into()))?;
    let value = values::constant(vv, &vp)?;
    let mask = o.get("mask");
    let op_name = as_str(ov, &op)?;
    let cmp = match op_name {
        "eq" => CmpOp::Eq,
        "ne" => CmpOp::Ne,
        "lt" => CmpOp::Lt,
        "le" => CmpOp::Le,
        "gt" => CmpOp::Gt,
        "ge" => CmpOp::Ge,
        "masked_eq" => match &mask {
            Some((m, mp)) => CmpOp::MaskedEq(values::constant(m, mp)?),
            None => return Err(PolicyError::at(ptr, "\"masked_eq\" needs \"mask\"".into())),
        },
        other => {
            let mut msg = format!("unknown op \"{other}\"; one of: {}", OPS.join(", "));
            if let Some(s) = suggest(other, OPS) {
                msg = format!("unknown op \"{other}\"; did you mean \"{s}\"?");
            }
            return Err(PolicyError::at(&op, msg));
        }
    };
    if let CmpOp::MaskedEq(m) = cmp {
        if value & !m != 0 {
            return Err(PolicyError::at(
                &vp,
                format!("value {value:#x} has bits outside mask {m:#x}; the comparison could never match"),
            ));
        }
    }
    if let (Some((_, mp)), false) = (&mask, matches!(cmp, CmpOp::MaskedEq(_))) {
        return Err(PolicyError::at(mp, "\"mask\" only goes with \"op\": \"masked_eq\"".into()));
    }
    if let Some((v, p)) = o.get("comment") {
        expect_str(v, &p)?;
    }
    o.finish(&["index", "op", "value", "mask", "comment"])?;
    Ok(ArgCmp { index: index as u32, op: cmp, value })
}

fn expect_str(v: &Json, p: &Ptr) -> Result<(), PolicyError> {
    match v {
        Json::Str(_) => Ok(()),
        other => Err(expected(p, "a string", other)),
    }
}

mod table {
    include!(concat!(env!("OUT_DIR"), "/syscall_table.rs"));
}

/// Native syscall number of `name`, if the native architecture has it.
#[allow(dead_code)] // for the tools
pub fn native_nr(name: &str) -> Option<i32> {
    native_entry(name).map(|e| e.1)
}

fn native_entry(name: &str) -> Option<(&'static str, i32)> {
    let b = usize::from(*name.as_bytes().first()?);
    let names = &table::NATIVE[usize::from(table::FIRST[b])..usize::from(table::FIRST[b + 1])];
    names.binary_search_by(|(n, _)| (*n).cmp(name)).ok().map(|i| names[i])
}

/// The name of a native syscall number.
pub fn native_name(nr: i32) -> Option<&'static str> {
    table::NATIVE.iter().find(|(_, n)| *n == nr).map(|(name, _)| *name)
}

/// True when some architecture libseccomp knows has this syscall.
fn known_anywhere(name: &str) -> bool {
    [
        ScmpArch::X8664,
        ScmpArch::Aarch64,
        ScmpArch::X86,
        ScmpArch::Arm,
        ScmpArch::Riscv64,
        ScmpArch::Ppc64,
        ScmpArch::S390X,
        ScmpArch::Mips,
    ]
    .into_iter()
    .any(|a| ScmpSyscall::from_name_by_arch(name, a).is_ok_and(|s| i32::from(s) >= 0))
}

/// Names and `@group`s to native (name, number) pairs. Group members that the native
/// architecture lacks are skipped (groups span architectures); an explicit name is an error
/// unless the rule is `optional`.
pub fn resolve(name: &str, ptr: &Ptr, optional: bool) -> Result<Vec<(&'static str, i32)>, PolicyError> {
    let mut out = Vec::new();
    if name.starts_with('@') {
        let Some(_) = groups::find(name) else {
            let names: Vec<&str> = groups::GROUPS.iter().map(|g| g.name).collect();
            let mut msg = format!("unknown syscall group \"{name}\"");
            if let Some(s) = suggest(name, &names) {
                msg.push_str(&format!("; did you mean \"{s}\"?"));
            }
            return Err(PolicyError::at(ptr, msg));
        };
        expand_group(name, &mut out);
        return Ok(out);
    }
    match native_entry(name) {
        Some(entry) => out.push(entry),
        None if known_anywhere(name) && optional => {}
        None if known_anywhere(name) => {
            return Err(PolicyError::at(
                ptr,
                format!(
                    "syscall \"{name}\" does not exist on {}; mark the rule \"optional\": true to skip it here",
                    arch_name()
                ),
            ));
        }
        None => {
            let mut msg = format!("unknown syscall \"{name}\"");
            if let Some(s) = suggest_syscall(name) {
                msg.push_str(&format!("; did you mean \"{s}\"?"));
            }
            return Err(PolicyError::at(ptr, msg));
        }
    }
    Ok(out)
}

/// Every native syscall of a group, nested groups included, each once.
pub fn expand_group(name: &str, out: &mut Vec<(&'static str, i32)>) {
    // Native numbers are small: a bitmap keeps "each once" linear for big groups.
    let mut have = [0u64; 16];
    let mut mark = |nr: i32| {
        let (w, b) = ((nr as usize / 64) % 16, nr as usize % 64);
        let new = have[w] & (1 << b) == 0;
        have[w] |= 1 << b;
        new
    };
    for (_, nr) in out.iter() {
        mark(*nr);
    }
    let Some(g) = groups::GROUPS.iter().position(|g| g.name == name) else { return };
    let (from, to) = (table::GROUP_AT[g] as usize, table::GROUP_AT[g + 1] as usize);
    for &k in &table::GROUP_SYSCALLS[from..to] {
        let entry = table::NATIVE[usize::from(k)];
        if mark(entry.1) {
            out.push(entry);
        }
    }
}

fn suggest_syscall(name: &str) -> Option<&'static str> {
    let mut all: Vec<&str> = Vec::new();
    for g in groups::GROUPS {
        all.extend(g.members.iter().filter(|m| !m.starts_with('@')));
    }
    suggest(name, &all)
}

pub fn arch_name() -> &'static str {
    match ScmpArch::native() {
        ScmpArch::X8664 => "x86_64",
        ScmpArch::Aarch64 => "aarch64",
        ScmpArch::Riscv64 => "riscv64",
        ScmpArch::Ppc64Le => "ppc64le",
        ScmpArch::S390X => "s390x",
        _ => "this architecture",
    }
}

/// Applies the override rules, in policy order:
/// - an unconditional rule decides every call of its syscall: it replaces every earlier rule
///   for that syscall;
/// - a later rule with the same conditions replaces the earlier one in place;
/// - a rule comparing one argument (`eq` or `masked_eq`) after an unconditional rule for the
///   same syscall is an exception to it (see [`ArgExceptions`]).
pub fn finish(default_action: Action, mut rules: Vec<SeccompRule>) -> Result<Seccomp, PolicyError> {
    // In place, with no map: `alive` marks the rules kept (a rule that replaces an earlier one
    // with the same conditions moves into its place); per syscall number, `head` and `prev`
    // chain the places holding its rules. Building maps and copies here cost more than the
    // rest of reading a long allow list.
    const NONE: usize = usize::MAX;
    let n = rules.len();
    let mut alive = vec![false; n];
    let mut prev = vec![NONE; n];
    let mut head = vec![NONE; rules.iter().map(|r| r.nr.max(0) as usize + 1).max().unwrap_or(0)];
    let mut exceptions: Vec<ArgExceptions> = Vec::new();
    for j in 0..n {
        let nr = rules[j].nr.max(0) as usize;
        let live = |alive: &[bool], f: &dyn Fn(usize) -> bool| {
            let mut i = head[nr];
            while i != NONE {
                if alive[i] && f(i) {
                    return Some(i);
                }
                i = prev[i];
            }
            None
        };
        if rules[j].args.is_empty() {
            let mut i = head[nr];
            while i != NONE {
                alive[i] = false;
                i = prev[i];
            }
            head[nr] = NONE;
            exceptions.retain(|e| e.nr != rules[j].nr);
        } else if let Some(g) = exceptions.iter_mut().find(|e| e.nr == rules[j].nr) {
            add_exception(g, &rules[j])?;
            continue;
        } else if let Some(i) = live(&alive, &|i| rules[i].args.is_empty()) {
            alive[i] = false;
            let r = &rules[j];
            let mut g = ArgExceptions {
                name: r.name,
                nr: r.nr,
                index: r.args[0].index,
                base: rules[i].action,
                cases: Vec::new(),
            };
            add_exception(&mut g, r)?;
            exceptions.push(g);
            continue;
        } else if let Some(i) = live(&alive, &|i| rules[i].args == rules[j].args) {
            rules.swap(i, j);
            continue;
        }
        alive[j] = true;
        prev[j] = head[nr];
        head[nr] = j;
    }
    let mut keep = alive.into_iter();
    rules.retain(|_| keep.next().unwrap_or(false));
    Ok(Seccomp { default_action, rules, exceptions })
}

/// Each case takes at most 7 BPF instructions and a block must fit an 8-bit jump.
const MAX_EXCEPTIONS: usize = 32;

/// The calls selfbox itself makes after loading the filter, before `main`: `write` (the start
/// byte), and with `kill` rules `read` and `close` too (handing the listener to init; a refused
/// `close` would leave the program holding it). A filter that refuses them would break the
/// start, or hang it (a `kill` on them waits for a listener nobody reads yet).
pub fn check_own_calls(s: &Seccomp, origin: &str) -> Result<(), PolicyError> {
    let passes = |a: Action| matches!(a, Action::Allow | Action::Log);
    let notify = s.default_action == Action::Kill || s.rules.iter().any(|r| r.action == Action::Kill);
    let needed: &[&str] = if notify { &["write", "read", "close"] } else { &["write"] };
    for name in needed {
        let Some(nr) = native_nr(name) else { continue };
        let refusing = s.rules.iter().find(|r| r.nr == nr && !passes(r.action));
        let exception = s.exceptions.iter().find(|e| e.nr == nr);
        let unconditional = s.rules.iter().any(|r| r.nr == nr && r.args.is_empty());
        let msg = format!(
            "selfbox needs {name} after loading the filter ({}); this rule refuses it",
            if *name == "write" { "to report the start" } else { "to hand the kill-rule listener to init" }
        );
        if let Some(r) = refusing {
            return Err(PolicyError::At { origin: r.src.origin.clone(), ptr: r.src.ptr.clone(), msg });
        }
        let exception_refuses = exception.is_some_and(|e| !passes(e.base) || e.cases.iter().any(|(_, a)| !passes(*a)));
        let default_refuses = exception.is_none() && !unconditional && !passes(s.default_action);
        if exception_refuses || default_refuses {
            return Err(PolicyError::At {
                origin: origin.to_owned(),
                ptr: Ptr::root().key("seccomp"),
                msg: format!(
                    "selfbox needs {name} after loading the filter; allow it ({} refuses it here)",
                    if exception_refuses { "an argument exception" } else { "the default action" }
                ),
            });
        }
    }
    Ok(())
}

fn add_exception(g: &mut ArgExceptions, r: &SeccompRule) -> Result<(), PolicyError> {
    let err = |msg: String| PolicyError::At { origin: r.src.origin.clone(), ptr: r.src.ptr.clone(), msg };
    let [cmp] = &*r.args else {
        return Err(err(format!(
            "an exception to the unconditional rule for {} may compare one argument only",
            r.name
        )));
    };
    if cmp.index != g.index || !matches!(cmp.op, CmpOp::Eq | CmpOp::MaskedEq(_)) {
        return Err(err(format!(
            "exceptions to the unconditional rule for {} must all be eq or masked_eq on argument {}",
            r.name, g.index
        )));
    }
    if matches!(r.action, Action::Kill) || matches!(g.base, Action::Kill) {
        return Err(err(format!("\"kill\" cannot take part in exceptions ({}); use kill_thread or errno", r.name)));
    }
    // The later rule wins where cases overlap: the latest is tried first.
    g.cases.retain(|(c, _)| c != cmp);
    g.cases.insert(0, (*cmp, r.action));
    if g.cases.len() > MAX_EXCEPTIONS {
        return Err(err(format!(
            "more than {MAX_EXCEPTIONS} exceptions to the unconditional rule for {}; the filter cannot jump that far",
            r.name
        )));
    }
    Ok(())
}

/// Arguments that the kernel reads as 32-bit `int`s: comparisons on them use the low 32 bits
/// only, so that garbage in the upper half cannot slip past an `eq` rule.
pub fn is_32bit_arg(name: &str, index: u32) -> bool {
    matches!(
        (name, index),
        ("ioctl", 1)
            | ("fcntl", 1)
            | ("personality", 0)
            | ("socket", 0..=2)
            | ("socketpair", 0..=2)
            | ("prctl", 0)
            | ("unshare", 0)
            | ("setns", 1)
            | ("kill", 1)
            | ("tgkill", 2)
            | ("mprotect", 2)
            | ("mmap", 2..=4)
            | ("clone", 0)
    )
}

#[cfg(all(test, not(selfbox_tools)))]
mod tests {
    use super::*;

    /// Members of a group that the given architecture has.
    fn members_on(group: &str, arch: ScmpArch) -> Vec<String> {
        let mut stack = vec![group.to_owned()];
        let mut seen = Vec::new();
        let mut out = Vec::new();
        while let Some(g) = stack.pop() {
            if seen.contains(&g) {
                continue;
            }
            let grp = groups::find(&g).expect("a known group");
            seen.push(g);
            for m in grp.members {
                if m.starts_with('@') {
                    stack.push((*m).to_owned());
                } else if ScmpSyscall::from_name_by_arch(m, arch).is_ok_and(|s| i32::from(s) >= 0) {
                    out.push((*m).to_owned());
                }
            }
        }
        out
    }

    /// Every group resolves to syscalls on x86_64 and on aarch64 (by libseccomp's tables), but
    /// those that only exist elsewhere (@cpu-emulation, @raw-io, @obsolete: x86 and 32-bit calls).
    #[test]
    fn every_group_resolves_on_x86_64_and_aarch64() {
        for g in groups::GROUPS {
            let x86 = members_on(g.name, ScmpArch::X8664);
            assert!(!x86.is_empty(), "{} is empty on x86_64", g.name);
            let arm = members_on(g.name, ScmpArch::Aarch64);
            if !matches!(g.name, "@cpu-emulation" | "@raw-io" | "@obsolete") {
                assert!(!arm.is_empty(), "{} is empty on aarch64", g.name);
            }
            assert!(!arm.iter().any(|n| n == "open" || n == "fork"), "aarch64 has no open/fork: {}", g.name);
        }
        assert!(members_on("@system-service", ScmpArch::Aarch64).contains(&"openat".to_owned()));
    }

    #[test]
    fn native_table_agrees_with_libseccomp() {
        for name in ["read", "openat", "clone", "ioctl", "personality", "io_uring_setup"] {
            let lib = i32::from(ScmpSyscall::from_name(name).unwrap());
            assert_eq!(native_nr(name), Some(lib), "{name}");
        }
        assert_eq!(native_nr("no_such_call"), None);
    }
}
