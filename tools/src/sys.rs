//! The tool's raw calls: one each, with the invariant that makes it sound.

use std::fs::File;
use std::os::fd::AsRawFd;

/// Whether the open file carries file capabilities (the `security.capability` attribute).
pub fn has_file_caps(file: &File) -> bool {
    // SAFETY: the descriptor is open for the call; the name is NUL-terminated; a null buffer of
    // size 0 only asks for the size.
    let r = unsafe { libc::fgetxattr(file.as_raw_fd(), c"security.capability".as_ptr(), std::ptr::null_mut(), 0) };
    r >= 0
}
