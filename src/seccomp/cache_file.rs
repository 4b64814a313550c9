//! The compiled-filter cache's file format and trust rule, shared by the preload (which reads
//! entries) and `selfbox cache build` (which writes them). Only the policy module is used, so
//! the tools compile this file by path.
//!
//! Trust: a cached program replaces the filter the policy asks for, so an entry is used only if
//! the sandboxed program could never have written it. Entries, their directory and every
//! directory above it must be owned by root and writable by nobody else (a sticky directory
//! such as /tmp may be above), and the cache is not used at all when the program itself runs
//! as root. The integrity checks (magic, exact key, checksum) only catch accidents.

use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use crate::policy::{Action, ArgCmp, CmpOp, Seccomp};

const MAGIC: &[u8] = b"selfbox-bpf-3\n";
const MAX_INSNS: usize = 4096;
const MAX_FILE: u64 = 1 << 20;

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

/// An exact encoding of everything the BPF is made from: the resolved rules, the architecture,
/// and the versions of selfbox, its filter code and libseccomp.
pub fn key(s: &Seccomp, audit_arch: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(64 + s.rules.len() * 16);
    let mut put = |v: u64| k.extend_from_slice(&v.to_le_bytes());
    let lib = libseccomp::ScmpVersion::current().map(|v| (v.major, v.minor, v.micro)).unwrap_or((0, 0, 0));
    for b in env!("CARGO_PKG_VERSION").bytes().chain(env!("FILTER_CODE_HASH").bytes()) {
        put(u64::from(b));
    }
    put(u64::from(lib.0) << 32 | u64::from(lib.1) << 16 | u64::from(lib.2));
    put(u64::from(audit_arch));
    put(u64::from(action_code(s.default_action)));
    let cmp = |put: &mut dyn FnMut(u64), c: &ArgCmp| {
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

/// FNV-1a: it only has to catch accidents (trust comes from ownership), and a documented
/// function lets other tools read and write entries.
fn checksum(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// The entry's file name in a cache directory.
pub fn file_name(key: &[u8]) -> String {
    format!("{:016x}.bpf", checksum(key))
}

/// What an entry holds besides its key.
pub struct Entry {
    pub rules: usize,
    pub prefix_insns: usize,
    pub bpf: Vec<u8>,
}

/// The file: `MAGIC`, then the key and the BPF program (each a u32 length and the bytes), the
/// rule count and the prefix's instruction count (u32 each), and the FNV-1a checksum of all that
/// (u64); little-endian throughout.
pub fn encode(key: &[u8], e: &Entry) -> Vec<u8> {
    let mut data = Vec::with_capacity(key.len() + e.bpf.len() + 64);
    data.extend_from_slice(MAGIC);
    for part in [key, &e.bpf] {
        data.extend_from_slice(&(part.len() as u32).to_le_bytes());
        data.extend_from_slice(part);
    }
    data.extend_from_slice(&(e.rules as u32).to_le_bytes());
    data.extend_from_slice(&(e.prefix_insns as u32).to_le_bytes());
    let sum = checksum(&data);
    data.extend_from_slice(&sum.to_le_bytes());
    data
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

/// The entry in `data` if it is intact and made for exactly `key`.
pub fn decode(data: &[u8], key: &[u8]) -> Option<Entry> {
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
    let n = take_u32(&mut b)?;
    if n == 0 || n % 8 != 0 || n / 8 > MAX_INSNS {
        return None;
    }
    let bpf = take(&mut b, n)?.to_vec();
    let rules = take_u32(&mut b)?;
    let prefix_insns = take_u32(&mut b)?;
    (b.is_empty() && prefix_insns < n / 8).then_some(Entry { rules, prefix_insns, bpf })
}

/// Why the sandboxed program might have written `dir` (an absolute, canonical path), or `None`
/// when it could not: `dir` and every directory above it are owned by root and writable by
/// nobody else, except that a directory above may be sticky (its root-owned entries cannot be
/// replaced by others).
pub fn untrusted_dir(dir: &Path) -> Option<String> {
    if !dir.is_absolute() {
        return Some(format!("{} is not an absolute path", dir.display()));
    }
    // Directories already found trusted as ancestors in this process (the filter cache and the
    // /dev template share LIBDIR's): the walk stops at the first.
    static TRUSTED: std::sync::Mutex<Vec<std::path::PathBuf>> = std::sync::Mutex::new(Vec::new());
    let trusted = |d: &Path| TRUSTED.lock().is_ok_and(|t| t.iter().any(|p| p == d));
    let mut walked = Vec::new();
    for (depth, d) in dir.ancestors().enumerate() {
        if depth > 0 && trusted(d) {
            break;
        }
        let m = match std::fs::symlink_metadata(d) {
            Ok(m) => m,
            Err(e) => return Some(format!("{}: {e}", d.display())),
        };
        if !m.is_dir() {
            return Some(format!("{} is not a directory", d.display()));
        }
        if m.uid() != 0 {
            return Some(format!("{} is owned by uid {}, not root", d.display(), m.uid()));
        }
        let sticky_above = depth > 0 && m.mode() & 0o1000 != 0;
        if m.mode() & 0o022 != 0 && !sticky_above {
            return Some(format!("{} is writable by group or others (mode {:o})", d.display(), m.mode() & 0o7777));
        }
        walked.push(d.to_path_buf());
    }
    if let Ok(mut t) = TRUSTED.lock() {
        t.extend(walked);
    }
    None
}

/// Reads the entry for `key` from a trusted directory: the file itself must also be a regular
/// file owned by root and writable by root only.
pub fn read(dir: &Path, key: &[u8]) -> Option<Entry> {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(dir.join(file_name(key)))
        .ok()?;
    let m = f.metadata().ok()?;
    if !m.is_file() || m.uid() != 0 || m.mode() & 0o022 != 0 || m.len() > MAX_FILE {
        return None;
    }
    // Exactly the size just read (read_to_end would ask for it again).
    let mut data = vec![0u8; m.len() as usize];
    f.read_exact(&mut data).ok()?;
    decode(&data, key)
}

/// Writes an entry: to a private temporary file, then renamed into place, so that a reader
/// sees the old entry, the new one or none, never part of one.
pub fn write(dir: &Path, key: &[u8], e: &Entry, mode: u32) -> std::io::Result<()> {
    let name = file_name(key);
    let tmp = dir.join(format!(".{name}.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&tmp)?;
    let r = out.write_all(&encode(key, e)).and_then(|_| std::fs::rename(&tmp, dir.join(&name)));
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

#[cfg(all(test, not(selfbox_tools)))]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_reject_damage() {
        let key = b"some key".to_vec();
        let e = Entry { rules: 7, prefix_insns: 2, bpf: vec![1; 8 * 5] };
        let data = encode(&key, &e);
        let back = decode(&data, &key).unwrap();
        assert_eq!((back.rules, back.prefix_insns, back.bpf), (7, 2, vec![1; 40]));
        assert!(decode(&data, b"other key").is_none());
        for i in [0, MAGIC.len() + 2, data.len() / 2, data.len() - 1] {
            let mut bad = data.clone();
            bad[i] ^= 1;
            assert!(decode(&bad, &key).is_none(), "flipped byte {i}");
        }
        assert!(decode(&data[..data.len() - 1], &key).is_none());
        let empty = encode(&key, &Entry { rules: 0, prefix_insns: 0, bpf: Vec::new() });
        assert!(decode(&empty, &key).is_none());
    }

    #[test]
    fn only_root_owned_unshared_directories_are_trusted() {
        use std::os::unix::fs::PermissionsExt;
        assert!(untrusted_dir(Path::new("relative")).is_some());
        assert!(untrusted_dir(Path::new("/nonexistent-selfbox-dir")).is_some());
        // /tmp itself is world-writable (sticky only helps the directories below it).
        assert!(untrusted_dir(Path::new("/tmp")).is_some());
        let d = std::env::temp_dir().join(format!("selfbox-trust-{}", std::process::id()));
        std::fs::create_dir(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        let root = nix::unistd::geteuid().is_root();
        // Control: a root-owned 0755 directory below sticky /tmp is trusted.
        assert_eq!(untrusted_dir(&d).is_none(), root, "{:?}", untrusted_dir(&d));
        if root {
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o775)).unwrap();
            assert!(untrusted_dir(&d).unwrap().contains("writable by group"));
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
            std::os::unix::fs::chown(&d, Some(65534), None).unwrap();
            assert!(untrusted_dir(&d).unwrap().contains("owned by uid 65534"));
        }
        std::fs::remove_dir(&d).unwrap();
    }
}
