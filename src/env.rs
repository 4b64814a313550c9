//! Step 4: the program's environment. Built from the policy's `env`, minus the preload's own
//! variables and its own `LD_PRELOAD` entry; removed strings are zeroed in place so that
//! `/proc/PID/environ` does not show them either.

use std::ffi::CString;

use crate::error::{Error, Result, Step};
use crate::log::debug;
use crate::policy::EnvPolicy;
use crate::sys;

/// Variables the preload reads; the program never sees them.
pub const OWN_VARS: &[&str] =
    &["SELFBOX_POLICY", "POLICY", "SELFBOX_LOG", "SELFBOX_STATUS_FD", "SELFBOX_EXE", "SELFBOX_FILTER_CACHE"];

/// How to recognise this library in `LD_PRELOAD`.
#[derive(Clone, Debug, Default)]
pub struct LibId {
    /// The path the loader reports for this object.
    pub path: String,
    /// Device and inode of that file.
    pub file: Option<(u64, u64)>,
}

impl LibId {
    pub fn from_path(path: &str) -> LibId {
        use std::os::unix::fs::MetadataExt;
        let file = std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()));
        LibId { path: path.to_owned(), file }
    }

    /// The directory holding this library, every symlink resolved (where the filter cache and
    /// the `/dev` template are looked for); `None` if the loader's path does not lead to it.
    pub fn dir(&self) -> Option<std::path::PathBuf> {
        let lib = std::fs::canonicalize(&self.path).ok()?;
        lib.parent().map(std::path::Path::to_path_buf)
    }

    fn matches(&self, entry: &[u8]) -> bool {
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::MetadataExt;
        if entry == self.path.as_bytes() {
            return true;
        }
        // A bare name is looked up by the loader; `$LIB`, `$PLATFORM` and `$ORIGIN` are expanded
        // by it: both are recognised by the file name alone.
        if !entry.contains(&b'/') || entry.contains(&b'$') {
            let name = entry.rsplit(|b| *b == b'/').next().unwrap_or(entry);
            return self.path.rsplit('/').next().map(str::as_bytes) == Some(name);
        }
        match (std::fs::metadata(std::ffi::OsStr::from_bytes(entry)), self.file) {
            (Ok(m), Some((dev, ino))) => m.dev() == dev && m.ino() == ino,
            _ => false,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    Keep,
    Drop,
    /// Keep with a shorter value (LD_PRELOAD without this library).
    Rewrite(Vec<u8>),
}

fn split(entry: &[u8]) -> (&[u8], &[u8]) {
    match entry.iter().position(|&b| b == b'=') {
        Some(i) => (&entry[..i], &entry[i + 1..]),
        None => (entry, b""),
    }
}

/// Decides each existing entry, and lists the entries to add (`env.set`).
pub fn plan(entries: &[&[u8]], policy: &EnvPolicy, lib: &LibId) -> (Vec<Decision>, Vec<Vec<u8>>) {
    let listed = |list: &[String], name: &[u8]| list.iter().any(|k| k.as_bytes() == name);
    let decisions = entries
        .iter()
        .map(|e| {
            let (name, value) = split(e);
            let dropped = (policy.clear && !listed(&policy.keep, name))
                || listed(&policy.unset, name)
                || policy.set.iter().any(|(k, _)| k.as_bytes() == name)
                || OWN_VARS.iter().any(|v| v.as_bytes() == name);
            if dropped {
                return Decision::Drop;
            }
            if name == b"LD_PRELOAD" {
                // Bytes, not text: a path need not be UTF-8, and the result must never be longer.
                let rest: Vec<&[u8]> =
                    value.split(|b| *b == b':' || *b == b' ').filter(|s| !s.is_empty() && !lib.matches(s)).collect();
                return if rest.is_empty() {
                    Decision::Drop
                } else {
                    Decision::Rewrite([b"LD_PRELOAD=".as_slice(), &rest.join(&b':')].concat())
                };
            }
            Decision::Keep
        })
        .collect();
    let added = policy.set.iter().map(|(k, v)| format!("{k}={v}").into_bytes()).collect();
    (decisions, added)
}

/// Rewrites `environ` for `main` and wipes what was removed from the original `block`.
pub fn apply(policy: &EnvPolicy, lib: &LibId, block: Option<(usize, usize)>) -> Result<()> {
    let entries = sys::environ_entries();
    let bytes: Vec<&[u8]> = entries.iter().map(|e| e.bytes()).collect();
    let (decisions, added) = plan(&bytes, policy, lib);
    let mut out: Vec<CString> = Vec::with_capacity(entries.len() + added.len());
    let mut removed = 0;
    let to_c = |b: Vec<u8>| {
        CString::new(b)
            .map_err(|_| Error::refused(Step::Env, "an environment value contains a NUL byte", "fix env.set"))
    };
    for (entry, d) in entries.iter().zip(decisions) {
        match d {
            Decision::Keep => out.push(to_c(entry.bytes().to_vec())?),
            Decision::Rewrite(new) => {
                entry.rewrite(&new, block);
                out.push(to_c(new)?);
            }
            Decision::Drop => {
                entry.rewrite(b"", block);
                removed += 1;
            }
        }
    }
    for a in added {
        out.push(to_c(a)?);
    }
    debug!("env", "{} variables for the program, {} removed, {} set", out.len(), removed, policy.set.len());
    sys::install_environ(out);
    Ok(())
}

/// A variable of the caller's environment as text (invalid UTF-8 replaced), unset when empty.
pub fn caller_text(name: &str) -> Option<String> {
    caller_var(name).filter(|v| !v.is_empty()).map(|v| String::from_utf8_lossy(&v).into_owned())
}

/// A variable of the caller's environment, read without `getenv` (the program may
/// interpose it and not be ready yet).
pub fn caller_var(name: &str) -> Option<Vec<u8>> {
    sys::environ_entries().iter().find_map(|e| {
        let (n, v) = split(e.bytes());
        (n == name.as_bytes()).then(|| v.to_vec())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lib() -> LibId {
        LibId { path: "/opt/selfbox/libselfbox.so".into(), file: None }
    }

    #[test]
    fn removes_own_variables_and_own_preload_entry() {
        let env: Vec<&[u8]> = vec![
            b"PATH=/usr/bin",
            b"SELFBOX_POLICY=/p.json",
            b"POLICY=/p.json",
            b"SELFBOX_LOG=debug",
            b"LD_PRELOAD=/opt/selfbox/libselfbox.so /usr/lib/libother.so",
        ];
        let (d, added) = plan(&env, &EnvPolicy::default(), &lib());
        assert_eq!(d[0], Decision::Keep);
        assert_eq!(d[1], Decision::Drop);
        assert_eq!(d[2], Decision::Drop);
        assert_eq!(d[3], Decision::Drop);
        assert_eq!(d[4], Decision::Rewrite(b"LD_PRELOAD=/usr/lib/libother.so".to_vec()));
        assert!(added.is_empty());
        let (d, _) = plan(&[b"LD_PRELOAD=libselfbox.so"], &EnvPolicy::default(), &lib());
        assert_eq!(d[0], Decision::Drop);
        // Not UTF-8, and never longer than the original.
        let (d, _) = plan(&[b"LD_PRELOAD=/opt/selfbox/libselfbox.so:/x/\xff\xfe.so"], &EnvPolicy::default(), &lib());
        assert_eq!(d[0], Decision::Rewrite(b"LD_PRELOAD=/x/\xff\xfe.so".to_vec()));
        // Loader tokens: recognised by the file name; another library with them stays.
        let (d, _) =
            plan(&[b"LD_PRELOAD=/opt/$LIB/libselfbox.so:/usr/$LIB/libother.so"], &EnvPolicy::default(), &lib());
        assert_eq!(d[0], Decision::Rewrite(b"LD_PRELOAD=/usr/$LIB/libother.so".to_vec()));
    }

    #[test]
    fn clear_keep_set_unset() {
        let policy = EnvPolicy {
            clear: true,
            keep: vec!["PATH".into(), "TERM".into()],
            set: vec![("HOME".into(), "/home/user".into())],
            unset: vec!["TERM".into()],
        };
        let env: Vec<&[u8]> = vec![b"PATH=/bin", b"TERM=xterm", b"HOME=/root", b"SECRET=x"];
        let (d, added) = plan(&env, &policy, &lib());
        assert_eq!(d, vec![Decision::Keep, Decision::Drop, Decision::Drop, Decision::Drop]);
        assert_eq!(added, vec![b"HOME=/home/user".to_vec()]);
    }
}
