//! The minimal `/dev`'s contents, and the prepared copy of them: a root-owned directory holding
//! the same nodes, links and mountpoints, made once by `selfbox cache dev` (mknod needs root).
//! Binding it is one mount where building `/dev` takes a tmpfs, six binds and a dozen more
//! calls, about 0.1 ms of every start. The preload checks it before each use and builds `/dev`
//! as before when anything is off. Shared with the tool, which makes it.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// The harmless device nodes: name, major, minor.
pub const NODES: &[(&str, u32, u32)] =
    &[("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)];
/// The usual links.
pub const LINKS: &[(&str, &str)] = &[
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
];
/// Mountpoints: a private devpts and a shm tmpfs.
pub const DIRS: &[&str] = &["pts", "shm"];

/// Why `dir` must not be used as `/dev`, if it must not. `untrusted` judges the directory and
/// its ancestors (root-owned, writable by root alone: see the filter cache). Every entry is
/// checked: exactly the expected names, owned by root, nodes with the expected numbers and
/// mode 0666, link texts of the expected length, and not on a `nodev` filesystem.
pub fn check(dir: &Path, untrusted: impl Fn(&Path) -> Option<String>) -> Result<(), String> {
    if let Some(why) = untrusted(dir) {
        return Err(why);
    }
    let mut names = 0;
    for e in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let e = e.map_err(|e| format!("{}: {e}", dir.display()))?;
        let name = e.file_name();
        let name = name.to_str().unwrap_or("");
        if !NODES.iter().any(|n| n.0 == name) && !LINKS.iter().any(|l| l.0 == name) && !DIRS.contains(&name) {
            return Err(format!("{} holds {:?}, which a minimal /dev does not", dir.display(), e.file_name()));
        }
        names += 1;
    }
    if names != NODES.len() + LINKS.len() + DIRS.len() {
        return Err(format!("{} lacks entries of a minimal /dev", dir.display()));
    }
    let meta = |name: &str| {
        let p = dir.join(name);
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.uid() == 0 => Ok(m),
            Ok(m) => Err(format!("{} is owned by uid {}, not root", p.display(), m.uid())),
            Err(e) => Err(format!("{}: {e}", p.display())),
        }
    };
    for (name, major, minor) in NODES {
        let m = meta(name)?;
        if !m.file_type().is_char_device() || m.rdev() != libc::makedev(*major, *minor) || m.mode() & 0o7777 != 0o666 {
            return Err(format!("{}/{name} is not character device {major}:{minor} with mode 0666", dir.display()));
        }
    }
    for (name, link) in LINKS {
        let m = meta(name)?;
        // The length is the link text's: enough to catch a copy that differs, without a read.
        if !m.file_type().is_symlink() || m.size() != link.len() as u64 {
            return Err(format!("{}/{name} is not the link to {link}", dir.display()));
        }
    }
    for name in DIRS {
        let m = meta(name)?;
        if !m.is_dir() || m.mode() & 0o022 != 0 {
            return Err(format!("{}/{name} is not a directory writable by root alone", dir.display()));
        }
    }
    if nodev(dir) {
        return Err(format!("{} is on a nodev filesystem: its nodes cannot be opened", dir.display()));
    }
    Ok(())
}

fn nodev(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else { return true };
    // SAFETY: statvfs is plain data; `c` is NUL-terminated.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid path and out-pointer.
    let r = unsafe { libc::statvfs(c.as_ptr(), &mut s) };
    r != 0 || s.f_flag & libc::ST_NODEV != 0
}
