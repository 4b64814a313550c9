//! Where the preload finds compiled filters (building one with libseccomp costs milliseconds
//! for an allow list, PITFALLS 35; loading a ready one far less). The format and the trust rule
//! are in `cache_file`: only directories the sandboxed program could never write are read.
//!
//! - `<library dir>/filters`: filled by `selfbox cache build` (scripts/install does it for the
//!   shipped policies, packagers for theirs); read by everyone.
//! - `/var/cache/selfbox`: written by real root's sandboxes on a miss (their programs run as
//!   another user), read by root only.
//!
//! `SELFBOX_FILTER_CACHE` names one directory instead of both, or `off`. Any problem with an
//! entry means a miss: the filter is then built as if there were no cache.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::env::caller_var;
use crate::error::{Error, Result, Step};
use crate::log::debug;

use super::cache_file;

const RUNTIME_DIR: &str = "/var/cache/selfbox";
/// More entries than this in the runtime directory and the older half goes.
const MAX_ENTRIES: usize = 256;

pub struct Cache {
    read: Vec<PathBuf>,
    write: Option<PathBuf>,
}

impl Cache {
    /// `lib_dir`: this library's directory, canonical; `program_uid`: the uid the program runs
    /// as, outside any user namespace; `real_root`: whether the caller is real root (who alone
    /// writes entries).
    pub fn locate(lib_dir: Option<&Path>, program_uid: u32, real_root: bool) -> Result<Cache> {
        let none = Cache { read: Vec::new(), write: None };
        let chosen = caller_var("SELFBOX_FILTER_CACHE").filter(|v| !v.is_empty());
        let (read, write) = match chosen.as_deref() {
            Some(b"off") => return Ok(none),
            Some(v) if v.starts_with(b"/") => {
                let d = PathBuf::from(String::from_utf8_lossy(v).into_owned());
                (vec![d.clone()], Some(d))
            }
            Some(v) => {
                return Err(Error::refused(
                    Step::Seccomp,
                    format!(
                        "SELFBOX_FILTER_CACHE={} is neither an absolute directory nor off",
                        String::from_utf8_lossy(v)
                    ),
                    "name a root-owned directory, or off",
                ));
            }
            None => {
                let shipped = lib_dir.map(|d| d.join("filters"));
                (shipped.into_iter().chain([PathBuf::from(RUNTIME_DIR)]).collect(), Some(PathBuf::from(RUNTIME_DIR)))
            }
        };
        if program_uid == 0 {
            debug!("seccomp", "the program runs as root, which could write any cache: not used");
            return Ok(none);
        }
        let write = write.filter(|_| real_root).filter(|d| ensure_dir(d));
        let read = read
            .into_iter()
            .filter(|d| match cache_file::untrusted_dir(d) {
                None => true,
                Some(why) => {
                    debug!("seccomp", "filter cache {} not used: {why}", d.display());
                    false
                }
            })
            .collect();
        Ok(Cache { read, write })
    }

    pub fn lookup(&self, key: &[u8]) -> Option<(cache_file::Entry, &Path)> {
        self.read.iter().find_map(|d| cache_file::read(d, key).map(|e| (e, d.as_path())))
    }

    /// Stores a freshly built filter where real root's sandboxes keep them; a cache that cannot
    /// be written only costs the next start the same build again.
    pub fn store(&self, key: &[u8], e: &cache_file::Entry) {
        let Some(d) = &self.write else {
            debug!("seccomp", "not cached (only real root writes the filter cache)");
            return;
        };
        match cache_file::write(d, key, e, 0o600) {
            Ok(()) => debug!("seccomp", "cached in {}", d.display()),
            Err(e) => debug!("seccomp", "not cached in {}: {e}", d.display()),
        }
        evict(d);
    }
}

/// Creates the runtime directory (root's, 0700) if missing; true if it is then trusted.
fn ensure_dir(d: &Path) -> bool {
    if !d.exists() {
        let _ = std::fs::DirBuilder::new().mode(0o700).create(d);
    }
    cache_file::untrusted_dir(d).is_none()
}

fn evict(d: &Path) {
    let Ok(rd) = std::fs::read_dir(d) else { return };
    let mut entries: Vec<(std::time::SystemTime, PathBuf)> = rd
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".bpf"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    if entries.len() <= MAX_ENTRIES {
        return;
    }
    entries.sort();
    for (_, p) in &entries[..entries.len() / 2] {
        let _ = std::fs::remove_file(p);
    }
}
