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
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    if let Some(why) = untrusted(dir) {
        return Err(why);
    }
    let d = dir.display();
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).map_err(|_| format!("{d}: a NUL in the path"))?;
    // SAFETY: a NUL-terminated path; the result is checked before use.
    let raw =
        unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC) };
    if raw < 0 {
        return Err(format!("{d}: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: `raw` is a descriptor we just opened and own.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let entries = entries(fd.as_raw_fd()).map_err(|e| format!("{d}: {e}"))?;
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
    let stat = |name: &str| -> Result<libc::stat, String> {
        let n = std::ffi::CString::new(name).expect("entry names hold no NUL");
        // SAFETY: stat is plain data, filled by fstatat.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: a valid directory descriptor, a NUL-terminated name and an out-pointer.
        if unsafe { libc::fstatat(fd.as_raw_fd(), n.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) } != 0 {
            return Err(format!("{d}/{name}: {}", std::io::Error::last_os_error()));
        }
        if st.st_uid != 0 {
            return Err(format!("{d}/{name} is owned by uid {}, not root", st.st_uid));
        }
        Ok(st)
    };
    for (name, major, minor) in NODES {
        let st = stat(name)?;
        if st.st_mode & libc::S_IFMT != libc::S_IFCHR
            || st.st_rdev != libc::makedev(*major, *minor)
            || st.st_mode & 0o7777 != 0o666
        {
            return Err(format!("{d}/{name} is not character device {major}:{minor} with mode 0666"));
        }
    }
    // SAFETY: statvfs is plain data; fstatvfs fills it from a valid descriptor.
    let mut vfs: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstatvfs(fd.as_raw_fd(), &mut vfs) } != 0 || vfs.f_flag & libc::ST_NODEV != 0 {
        return Err(format!("{d} is on a nodev filesystem: its nodes cannot be opened"));
    }
    Ok(())
}

/// One of the names a /dev template holds.
pub fn expected(name: &str) -> bool {
    NODES.iter().any(|n| n.0 == name) || LINKS.iter().any(|l| l.0 == name) || DIRS.contains(&name)
}

/// Every name in the directory but `.` and `..`, with its kind (getdents64 on a stack buffer).
/// A filesystem that does not report kinds (`DT_UNKNOWN`) fails the check: rare, and safe.
fn entries(fd: i32) -> std::io::Result<Vec<(String, u8)>> {
    let mut names = Vec::new();
    let mut buf = [0u8; 2048];
    loop {
        // SAFETY: a valid directory descriptor and a writable buffer of the length passed.
        let n = unsafe { libc::syscall(libc::SYS_getdents64, fd, buf.as_mut_ptr(), buf.len()) };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if n == 0 {
            return Ok(names);
        }
        let mut off = 0;
        while off < n as usize {
            // linux_dirent64: d_ino (8), d_off (8), d_reclen (2), d_type (1), d_name (NUL-terminated).
            let reclen = usize::from(u16::from_ne_bytes([buf[off + 16], buf[off + 17]]));
            if reclen < 20 || off + reclen > n as usize {
                return Err(std::io::Error::from(std::io::ErrorKind::InvalidData));
            }
            let name = &buf[off + 19..off + reclen];
            let name = &name[..name.iter().position(|b| *b == 0).unwrap_or(name.len())];
            if name != b"." && name != b".." {
                names.push((String::from_utf8_lossy(name).into_owned(), buf[off + 18]));
            }
            off += reclen;
        }
    }
}
