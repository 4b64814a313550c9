//! The minimal `/dev`'s contents, and the prepared copy of them: a root-owned directory holding
//! the same nodes, links and mountpoints, made once by `selfbox cache dev` (mknod needs root).
//! Binding it is one mount where building `/dev` takes a tmpfs, six binds and a dozen more
//! calls, about 0.1 ms of every start. The preload checks it before each use and builds `/dev`
//! as before when anything is off. Shared with the tool, which makes it.

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
/// checked: exactly the expected names, each of its kind, the nodes root's with the expected
/// numbers and mode 0666, and not on a `nodev` filesystem. It runs at every start that uses the
/// template (a call costs 1-2 us here), so the kinds come from the directory listing and only the
/// nodes are examined further: a link's text or a mountpoint's mode cannot give the program
/// anything, a node's numbers can.
pub fn check(dir: &Path, untrusted: impl Fn(&Path) -> Option<String>) -> Result<(), String> {
    use nix::fcntl::{AtFlags, OFlag};
    use nix::sys::stat::{Mode, SFlag};
    use std::os::fd::AsFd;
    if let Some(why) = untrusted(dir) {
        return Err(why);
    }
    let d = dir.display();
    // The nodes are looked up relative to the directory, not walked to from / each time.
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = nix::fcntl::open(dir, flags, Mode::empty()).map_err(|e| format!("{d}: {}", e.desc()))?;
    // Each kind from the listing's record (no call); a filesystem that does not give kinds
    // (DT_UNKNOWN) fails the check: rare, and safe.
    let entries = crate::sys::dir_entries(fd.as_fd()).map_err(|e| format!("{d}: {e}"))?;
    if let Some((n, _)) = entries.iter().find(|(n, _)| !expected(n)) {
        return Err(format!("{d} holds \"{n}\", which a minimal /dev does not"));
    }
    if entries.len() != NODES.len() + LINKS.len() + DIRS.len() {
        return Err(format!("{d} lacks entries of a minimal /dev"));
    }
    let kind = |name: &str| entries.iter().find(|(n, _)| n == name).map_or(libc::DT_UNKNOWN, |e| e.1);
    for (name, link) in LINKS {
        if kind(name) != libc::DT_LNK {
            return Err(format!("{d}/{name} is not the link to {link}"));
        }
    }
    for name in DIRS {
        if kind(name) != libc::DT_DIR {
            return Err(format!("{d}/{name} is not a directory"));
        }
    }
    for (name, major, minor) in NODES {
        let st = nix::sys::stat::fstatat(&fd, *name, AtFlags::AT_SYMLINK_NOFOLLOW)
            .map_err(|e| format!("{d}/{name}: {}", e.desc()))?;
        if st.st_uid != 0 {
            return Err(format!("{d}/{name} is owned by uid {}, not root", st.st_uid));
        }
        let chr = st.st_mode & SFlag::S_IFMT.bits() == SFlag::S_IFCHR.bits();
        if !chr || st.st_rdev != libc::makedev(*major, *minor) || st.st_mode & 0o7777 != 0o666 {
            return Err(format!("{d}/{name} is not character device {major}:{minor} with mode 0666"));
        }
    }
    let nodev = nix::sys::statvfs::FsFlags::ST_NODEV;
    if nix::sys::statvfs::fstatvfs(&fd).map_or(true, |s| s.flags().contains(nodev)) {
        return Err(format!("{d} is on a nodev filesystem: its nodes cannot be opened"));
    }
    Ok(())
}

/// One of the names a /dev template holds.
pub fn expected(name: &str) -> bool {
    NODES.iter().any(|n| n.0 == name) || LINKS.iter().any(|l| l.0 == name) || DIRS.contains(&name)
}
