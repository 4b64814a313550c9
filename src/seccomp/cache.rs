//! A per-user cache of compiled filters. Building a filter with libseccomp costs milliseconds
//! for an allow list (PITFALLS 35); loading a ready program costs far less. The entry is keyed
//! by an exact encoding of the resolved rules, the architecture and the versions of selfbox and
//! libseccomp, stored in a directory only this user can write, and verified before use. Any
//! problem means a miss: the filter is then built as if there were no cache.

use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::env::caller_var;
use crate::policy::{Action, CmpOp, Seccomp};

use super::compile::Filter;

const MAGIC: &[u8] = b"selfbox-bpf-2\n";
const MAX_INSNS: usize = 4096;

fn action_code(a: Action) -> u32 {
    match a {
        Action::Allow => 1,
        Action::Errno(e) => 0x100 | e as u32,
        Action::Kill => 2,
        Action::KillThread => 3,
        Action::Trap => 4,
        Action::Log => 5,
    }
}

/// An exact encoding of everything the BPF is made from.
pub fn key(s: &Seccomp) -> Vec<u8> {
    let mut k = Vec::with_capacity(64 + s.rules.len() * 16);
    let mut put = |v: u64| k.extend_from_slice(&v.to_le_bytes());
    let lib = libseccomp::ScmpVersion::current().map(|v| (v.major, v.minor, v.micro)).unwrap_or((0, 0, 0));
    for b in env!("CARGO_PKG_VERSION").bytes().chain(env!("FILTER_CODE_HASH").bytes()) {
        put(u64::from(b));
    }
    put(u64::from(lib.0) << 32 | u64::from(lib.1) << 16 | u64::from(lib.2));
    put(u64::from(super::compile::audit_arch()));
    put(u64::from(action_code(s.default_action)));
    let cmp = |put: &mut dyn FnMut(u64), c: &crate::policy::ArgCmp| {
        let (op, mask) = match c.op {
            CmpOp::Eq => (1, 0),
            CmpOp::Ne => (2, 0),
            CmpOp::Lt => (3, 0),
            CmpOp::Le => (4, 0),
            CmpOp::Gt => (5, 0),
            CmpOp::Ge => (6, 0),
            CmpOp::MaskedEq(m) => (7, m),
        };
        put(u64::from(c.index) << 8 | op);
        put(mask);
        put(c.value);
    };
    put(s.rules.len() as u64);
    for r in &s.rules {
        put(r.nr as u64);
        put(u64::from(action_code(r.action)));
        put(r.args.len() as u64);
        for c in r.args.iter() {
            cmp(&mut put, c);
        }
    }
    put(s.exceptions.len() as u64);
    for e in &s.exceptions {
        put(e.nr as u64);
        put(u64::from(action_code(e.base)));
        put(u64::from(e.index));
        put(e.cases.len() as u64);
        for (c, a) in &e.cases {
            cmp(&mut put, c);
            put(u64::from(action_code(*a)));
        }
    }
    k
}

fn checksum(data: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    data.hash(&mut h);
    h.finish()
}

/// The cache directory, created if needed, and only if this user owns it and nobody else can
/// write it: `$XDG_CACHE_HOME/selfbox`, `$HOME/.cache/selfbox`, else `/var/tmp/selfbox-UID`.
pub fn dir() -> Option<PathBuf> {
    let euid = nix::unistd::geteuid().as_raw();
    let var = |n: &str| caller_var(n).map(|v| String::from_utf8_lossy(&v).into_owned()).filter(|v| v.starts_with('/'));
    let candidates = [
        var("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("selfbox")),
        var("HOME").map(|h| PathBuf::from(h).join(".cache/selfbox")),
        Some(PathBuf::from(format!("/var/tmp/selfbox-{euid}"))),
    ];
    candidates.into_iter().flatten().find(|d| usable(d, euid))
}

/// Owned by `euid`, a real directory (not a symlink), writable by nobody else; and every
/// parent up to one owned by root or `euid` is not writable by others either.
fn usable(d: &Path, euid: u32) -> bool {
    if std::fs::symlink_metadata(d).is_err() {
        let parent_ok = d.parent().and_then(|p| std::fs::metadata(p).ok()).is_some_and(|m| m.is_dir());
        if !parent_ok || std::fs::DirBuilder::new().mode(0o700).create(d).is_err() {
            return false;
        }
    }
    let private = |m: &std::fs::Metadata| m.uid() == euid && m.mode() & 0o022 == 0;
    match std::fs::symlink_metadata(d) {
        Ok(m) if m.is_dir() && private(&m) => {}
        _ => return false,
    }
    // A parent another user can write could swap the directory under us (sticky /var/tmp is fine).
    d.parent()
        .and_then(|p| std::fs::metadata(p).ok())
        .is_some_and(|m| m.mode() & 0o002 == 0 || m.mode() & 0o1000 != 0 || m.uid() == euid)
}

fn file_name(key: &[u8]) -> String {
    format!("{:016x}.bpf", checksum(key))
}

fn take<'a>(buf: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if buf.len() < n {
        return None;
    }
    let (a, b) = buf.split_at(n);
    *buf = b;
    Some(a)
}

fn take_u32(buf: &mut &[u8]) -> Option<usize> {
    take(buf, 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
}

fn take_prog(buf: &mut &[u8]) -> Option<Vec<u8>> {
    let n = take_u32(buf)?;
    if n % 8 != 0 || n / 8 > MAX_INSNS {
        return None;
    }
    take(buf, n).map(<[u8]>::to_vec)
}

/// The cached filter for `key`, if present and intact.
pub fn lookup(dir: &Path, key: &[u8], s: &Seccomp) -> Option<Filter> {
    let path = dir.join(file_name(key));
    let mut f = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(&path).ok()?;
    let m = f.metadata().ok()?;
    if m.uid() != nix::unistd::geteuid().as_raw() || m.mode() & 0o022 != 0 || m.len() > 1 << 20 {
        return None;
    }
    let mut data = Vec::with_capacity(m.len() as usize);
    f.read_to_end(&mut data).ok()?;
    let (body, sum) = data.split_at(data.len().checked_sub(8)?);
    if checksum(body) != u64::from_le_bytes(sum.try_into().ok()?) {
        return None;
    }
    let mut b = body;
    if take(&mut b, MAGIC.len())? != MAGIC {
        return None;
    }
    let klen = take_u32(&mut b)?;
    if take(&mut b, klen)? != key {
        return None;
    }
    let rules = take_u32(&mut b)?;
    let prefix_insns = take_u32(&mut b)?;
    let bpf = take_prog(&mut b)?;
    if !b.is_empty() || bpf.is_empty() {
        return None;
    }
    let notify = s.default_action == Action::Kill || s.rules.iter().any(|r| r.action == Action::Kill);
    Some(Filter { bpf, prefix_insns, notify, rules, build_us: 0 })
}

/// Stores a freshly built filter (write to a private temporary file, then rename).
pub fn store(dir: &Path, key: &[u8], f: &Filter) -> std::io::Result<()> {
    let mut data = Vec::with_capacity(key.len() + f.bpf.len() + 64);
    data.extend_from_slice(MAGIC);
    data.extend_from_slice(&(key.len() as u32).to_le_bytes());
    data.extend_from_slice(key);
    data.extend_from_slice(&(f.rules as u32).to_le_bytes());
    data.extend_from_slice(&(f.prefix_insns as u32).to_le_bytes());
    data.extend_from_slice(&(f.bpf.len() as u32).to_le_bytes());
    data.extend_from_slice(&f.bpf);
    let sum = checksum(&data);
    data.extend_from_slice(&sum.to_le_bytes());
    let name = file_name(key);
    let tmp = dir.join(format!(".{name}.{}", std::process::id()));
    let mut out = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
    let r = out.write_all(&data).and_then(|_| std::fs::rename(&tmp, dir.join(&name)));
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}
