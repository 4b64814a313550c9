//! The tool's raw calls: one each, with the invariant that makes it sound.

use std::fs::File;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Whether the open file carries file capabilities (the `security.capability` attribute).
pub fn has_file_caps(file: &File) -> bool {
    // SAFETY: the descriptor is open for the call; the name is NUL-terminated; a null buffer of
    // size 0 only asks for the size.
    let r = unsafe { libc::fgetxattr(file.as_raw_fd(), c"security.capability".as_ptr(), std::ptr::null_mut(), 0) };
    r >= 0
}

/// The names in a directory but `.` and `..`, each with its `d_type` (the preload's has the
/// same signature; the `/dev` template check calls it).
pub fn dir_entries(dir: BorrowedFd) -> std::io::Result<Vec<(String, u8)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd()))? {
        let e = e?;
        let t = e.file_type()?;
        let kind = if t.is_dir() {
            libc::DT_DIR
        } else if t.is_symlink() {
            libc::DT_LNK
        } else if t.is_file() {
            libc::DT_REG
        } else {
            use std::os::unix::fs::FileTypeExt;
            if t.is_char_device() { libc::DT_CHR } else { libc::DT_UNKNOWN }
        };
        out.push((e.file_name().to_string_lossy().into_owned(), kind));
    }
    Ok(out)
}
