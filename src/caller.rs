//! Who started the program, and the policy they asked for: read from the process before
//! anything changes (step 3's inputs).

use std::path::{Path, PathBuf};

use crate::env::{self, LibId};
use crate::error::{Error, Result, Step};
use crate::policy::{self, Context, Policy, Source, Vars};
use crate::privs::CallerCwd;

/// Who started the program, read before anything changes.
pub struct Caller {
    pub real_root: bool,
    pub cwd: CallerCwd,
    pub vars: Vars,
}

impl Caller {
    pub fn capture() -> Caller {
        let uid = nix::unistd::getuid().as_raw();
        let gid = nix::unistd::getgid().as_raw();
        let cwd = CallerCwd::capture();
        // SELFBOX_EXE: selfbox run names a script there (the executable is its interpreter).
        let own_exe = || std::fs::read_link("/proc/self/exe").map(|p| p.display().to_string()).unwrap_or_default();
        let vars = Vars::gather(uid, gid, cwd.path.clone(), own_exe, env::caller_text);
        Caller { real_root: uid == 0 && initial_userns(), cwd, vars }
    }
}

/// Root of a user namespace other than the initial one is not real root: it has no power over
/// the host, and the rootless path (a nested user namespace) is the one that works there.
fn initial_userns() -> bool {
    crate::sys::read_proc_file("/proc/self/uid_map")
        .is_ok_and(|m| m.lines().any(|l| l.split_whitespace().eq(["0", "0", "4294967295"])))
}

/// The policy named by `SELFBOX_POLICY` (or `POLICY`), loaded for this caller.
pub fn load_policy(lib: &LibId, caller: &Caller) -> Result<Policy> {
    // An empty value counts as unset.
    let raw = env::caller_var("SELFBOX_POLICY")
        .filter(|v| !v.is_empty())
        .or_else(|| env::caller_var("POLICY").filter(|v| !v.is_empty()))
        .ok_or(Error::Policy(policy::PolicyError::Missing))?;
    let text = String::from_utf8(raw)
        .map_err(|_| Error::refused(Step::Policy, "SELFBOX_POLICY is not UTF-8", "give a path or JSON text"))?;
    let source =
        if text.trim_start().starts_with('{') { Source::Inline(text) } else { Source::File(PathBuf::from(text)) };
    let ctx = Context {
        vars: caller.vars.clone(),
        search_dirs: policy::installed_dirs(Path::new(&lib.path)),
        real_root: caller.real_root,
    };
    Ok(policy::load(&source, &ctx)?)
}
