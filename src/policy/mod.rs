//! The policy: read, parse, expand variables, resolve `extends`, validate, resolve host paths.
//!
//! Nothing here changes the process; every user error is found here, before the sandbox is
//! built. This module is self-contained (it uses no other module of the preload) so that the
//! command-line tools can compile the very same code without linking the hook.

pub mod groups;
mod json;
mod layer;
pub mod syscalls;
pub mod values;
mod vars;

use std::fmt;
use std::path::{Path, PathBuf};

pub use json::Ptr;
pub use vars::Vars;

use layer::Layer;

/// Where the policy text comes from.
#[derive(Clone, Debug)]
pub enum Source {
    File(PathBuf),
    Inline(String),
}

/// Facts about the caller the policy needs to be resolved.
#[derive(Clone, Debug, Default)]
pub struct Context {
    pub vars: Vars,
    /// Directories searched for `"extends": "name"` after the policy's own directory.
    pub search_dirs: Vec<PathBuf>,
    /// Started as real root: `run_as` is resolved to ids.
    pub real_root: bool,
}

/// Every namespace selfbox can create, with its policy name.
pub const NAMESPACES: &[(&str, i32)] = &[
    ("user", libc::CLONE_NEWUSER),
    ("mount", libc::CLONE_NEWNS),
    ("pid", libc::CLONE_NEWPID),
    ("net", libc::CLONE_NEWNET),
    ("ipc", libc::CLONE_NEWIPC),
    ("uts", libc::CLONE_NEWUTS),
    ("cgroup", libc::CLONE_NEWCGROUP),
    ("time", CLONE_NEWTIME),
];

pub const CLONE_NEWTIME: i32 = 0x80;

/// The namespaces created when a policy does not list them: all but time.
pub const DEFAULT_NAMESPACES: i32 = libc::CLONE_NEWUSER
    | libc::CLONE_NEWNS
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWCGROUP;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdMap {
    Same,
    Id(u32),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunAs {
    /// As written; resolved only when started as real root.
    Name(String),
    Ids {
        uid: u32,
        gid: u32,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Root {
    Tmpfs,
    Host,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Network {
    None,
    Host,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    pub target: String,
    pub kind: MountKind,
    /// Where it was written, for messages after parsing.
    pub origin: String,
    pub ptr: Ptr,
}

impl Mount {
    /// A user error about this entry.
    pub fn error(&self, msg: String) -> PolicyError {
        PolicyError::At { origin: self.origin.clone(), ptr: self.ptr.clone(), msg }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MountKind {
    Bind {
        source: String,
        /// `None` when the source is missing and the mount is optional.
        host: Option<HostPath>,
        readonly: bool,
        optional: bool,
        keep_symlink: bool,
    },
    Symlink {
        link: String,
    },
    Tmpfs {
        size: Option<u64>,
        mode: Option<u32>,
    },
    Proc,
    Dev,
    Dir {
        mode: u32,
    },
    File {
        content: String,
        mode: u32,
    },
}

/// A bind source as found on the host while the policy was resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPath {
    /// Canonical path, every symlink resolved.
    pub path: String,
    pub is_dir: bool,
    /// With `keep_symlink`, the link text when the source itself is a symlink.
    pub symlink: Option<String>,
}

impl MountKind {
    pub fn name(&self) -> &'static str {
        match self {
            MountKind::Bind { .. } => "bind",
            MountKind::Symlink { .. } => "symlink",
            MountKind::Tmpfs { .. } => "tmpfs",
            MountKind::Proc => "proc",
            MountKind::Dev => "dev",
            MountKind::Dir { .. } => "dir",
            MountKind::File { .. } => "file",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnvPolicy {
    pub clear: bool,
    pub keep: Vec<String>,
    pub set: Vec<(String, String)>,
    pub unset: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloseFds {
    No,
    All,
    Keep(Vec<i32>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rlimit {
    pub name: &'static str,
    pub resource: nix::sys::resource::Resource,
    pub soft: u64,
    pub hard: u64,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cgroup {
    pub memory_max: Option<u64>,
    pub memory_swap_max: Option<u64>,
    pub pids_max: Option<u64>,
    pub cpu_max: Option<f64>,
    pub io_weight: Option<u64>,
    pub optional: bool,
}

impl Cgroup {
    pub fn is_empty(&self) -> bool {
        self.memory_max.is_none()
            && self.memory_swap_max.is_none()
            && self.pids_max.is_none()
            && self.cpu_max.is_none()
            && self.io_weight.is_none()
    }
}

pub use syscalls::{Action, ArgCmp, CmpOp, Seccomp};

/// A policy resolved and validated: every field has its final value.
#[derive(Clone, Debug)]
pub struct Policy {
    /// The file (or "inline policy") the chain started from.
    pub origin: String,
    /// Every file of the `extends` chain, base first.
    pub files: Vec<String>,
    /// `CLONE_NEW*` flags.
    pub namespaces: i32,
    pub uid: IdMap,
    pub gid: IdMap,
    /// `None`: explicitly keep root (`"run_as": null`).
    pub run_as: Option<RunAs>,
    pub hostname: Option<String>,
    pub root: Root,
    pub mounts: Vec<Mount>,
    pub cwd: Option<String>,
    pub env: EnvPolicy,
    pub close_fds: CloseFds,
    pub new_session: bool,
    pub capabilities: Vec<u8>,
    pub no_new_privs: bool,
    pub rlimits: Vec<Rlimit>,
    pub cgroup: Cgroup,
    pub wall_time: Option<f64>,
    pub seccomp: Option<Seccomp>,
}

impl Policy {
    pub fn has(&self, ns: i32) -> bool {
        self.namespaces & ns != 0
    }

    pub fn network(&self) -> Network {
        if self.has(libc::CLONE_NEWNET) { Network::None } else { Network::Host }
    }

    pub fn namespace_names(&self) -> Vec<&'static str> {
        NAMESPACES.iter().filter(|(_, f)| self.has(*f)).map(|(n, _)| *n).collect()
    }
}

/// A user error in the policy; the program does not run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyError {
    /// Neither `SELFBOX_POLICY` nor `POLICY` is set.
    Missing,
    Read {
        path: String,
        errno: i32,
    },
    Syntax {
        origin: String,
        line: usize,
        column: usize,
        msg: String,
    },
    /// A value at a JSON pointer is wrong; `origin` is filled in by the loader.
    At {
        origin: String,
        ptr: Ptr,
        msg: String,
    },
}

impl PolicyError {
    pub fn at(ptr: &Ptr, msg: String) -> PolicyError {
        PolicyError::At { origin: String::new(), ptr: ptr.clone(), msg }
    }

    fn in_origin(self, file: &str) -> PolicyError {
        match self {
            PolicyError::At { origin, ptr, msg } if origin.is_empty() => {
                PolicyError::At { origin: file.to_owned(), ptr, msg }
            }
            other => other,
        }
    }

    pub fn hint(&self) -> Option<&'static str> {
        match self {
            PolicyError::Missing => {
                Some("set SELFBOX_POLICY (or POLICY) to a policy file or inline JSON, e.g. policy/default.json")
            }
            PolicyError::Read { errno, .. } if *errno == libc::ENOENT => Some("no such file"),
            PolicyError::Read { errno, .. } if *errno == libc::EACCES => {
                Some("the policy file is not readable by this user")
            }
            _ => None,
        }
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            PolicyError::Missing => write!(f, "no policy: neither SELFBOX_POLICY nor POLICY is set"),
            PolicyError::Read { path, errno } => {
                write!(f, "read({path}): {}", values::errno_name(*errno))
            }
            PolicyError::Syntax { origin, line, column, msg } => {
                write!(f, "{origin}:{line}:{column}: invalid JSON: {msg}")
            }
            PolicyError::At { origin, ptr, msg } if origin.is_empty() => write!(f, "{ptr}: {msg}"),
            PolicyError::At { origin, ptr, msg } => write!(f, "{origin}: {ptr}: {msg}"),
        }
    }
}

const MAX_EXTENDS_DEPTH: usize = 16;

/// Loads a policy and everything it extends, then validates the result.
pub fn load(source: &Source, ctx: &Context) -> Result<Policy, PolicyError> {
    let mut chain: Vec<Layer> = Vec::new();
    let mut seen: Vec<PathBuf> = Vec::new();
    let (mut text, mut origin, mut dir) = match source {
        Source::Inline(t) => (t.clone(), "inline policy".to_owned(), None),
        Source::File(p) => {
            let canon = canonical(p, None)?;
            seen.push(canon.clone());
            (read(&canon)?, canon.display().to_string(), canon.parent().map(Path::to_path_buf))
        }
    };
    loop {
        let doc = json::parse(&text, &origin)?;
        let dir_str = dir.as_ref().map(|d| d.display().to_string());
        let layer = Layer::parse(&doc, &ctx.vars, dir_str.as_deref(), &origin).map_err(|e| e.in_origin(&origin))?;
        let next = layer.extends.clone();
        chain.push(layer);
        let Some((name, ptr)) = next else { break };
        if chain.len() > MAX_EXTENDS_DEPTH {
            return Err(
                PolicyError::at(&ptr, format!("extends chain deeper than {MAX_EXTENDS_DEPTH}")).in_origin(&origin)
            );
        }
        let path = find_extends(&name, dir.as_deref(), &ctx.search_dirs, &ctx.vars.cwd)
            .map_err(|msg| PolicyError::at(&ptr, msg).in_origin(&origin))?;
        if seen.contains(&path) {
            let cycle: Vec<String> = seen.iter().chain([&path]).map(|p| p.display().to_string()).collect();
            return Err(PolicyError::at(&ptr, format!("extends cycle: {}", cycle.join(" -> "))).in_origin(&origin));
        }
        seen.push(path.clone());
        text = read(&path)?;
        origin = path.display().to_string();
        dir = path.parent().map(Path::to_path_buf);
    }
    let files: Vec<String> = chain.iter().rev().map(|l| l.origin.clone()).collect();
    let top = chain.first().map(|l| l.origin.clone()).unwrap_or_default();
    let merged = chain.into_iter().rev().reduce(Layer::merge).expect("a chain holds at least the policy itself");
    let mut policy = merged.finish(ctx, top)?;
    policy.files = files;
    Ok(policy)
}

fn read(path: &Path) -> Result<String, PolicyError> {
    std::fs::read_to_string(path).map_err(|e| PolicyError::Read {
        path: path.display().to_string(),
        errno: e.raw_os_error().unwrap_or(libc::EINVAL),
    })
}

fn canonical(path: &Path, base: Option<&Path>) -> Result<PathBuf, PolicyError> {
    let full = match base {
        Some(b) if path.is_relative() => b.join(path),
        _ => path.to_path_buf(),
    };
    std::fs::canonicalize(&full).map_err(|e| PolicyError::Read {
        path: full.display().to_string(),
        errno: e.raw_os_error().unwrap_or(libc::EINVAL),
    })
}

/// `"default"` is looked up beside the file, then in the installed directories; anything with a
/// slash is a path, relative to the file (or to the current directory for inline JSON).
fn find_extends(name: &str, dir: Option<&Path>, search: &[PathBuf], cwd: &str) -> Result<PathBuf, String> {
    if name.is_empty() {
        return Err("extends is empty".to_owned());
    }
    if name.contains('/') {
        let base = dir.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(cwd));
        return canonical(Path::new(name), Some(&base)).map_err(|e| e.to_string());
    }
    let file = if name.ends_with(".json") { name.to_owned() } else { format!("{name}.json") };
    let mut tried = Vec::new();
    for d in dir.into_iter().chain(search.iter().map(PathBuf::as_path)) {
        let candidate = d.join(&file);
        if candidate.is_file() {
            return canonical(&candidate, None).map_err(|e| e.to_string());
        }
        if d.is_dir() {
            tried.push(d.display().to_string());
        }
    }
    Err(format!("no policy named \"{name}\" (looked for {file} in: {})", tried.join(", ")))
}

/// Where installed policies are, for a library at `lib`: `PREFIX/share/selfbox/policy` for
/// `PREFIX/lib/selfbox/libselfbox.so`, `policy/` of a build tree (`target/*/libselfbox.so`),
/// then the system-wide directories. Whether they exist is left to the lookup: most policies
/// extend nothing by name, and every start would pay for the checks.
pub fn installed_dirs(lib: &Path) -> Vec<PathBuf> {
    let dir = lib.parent().unwrap_or(Path::new("/"));
    let up2 = dir.parent().and_then(Path::parent).unwrap_or(Path::new("/"));
    [
        up2.join("share/selfbox/policy"),
        up2.join("policy"),
        PathBuf::from("/usr/local/share/selfbox/policy"),
        PathBuf::from("/usr/share/selfbox/policy"),
    ]
    .into()
}

/// The first `/etc/passwd` entry (its fields) for which `f` says something; read without NSS
/// (no module loading before `main`).
fn passwd_find<T>(f: impl Fn(&[&str]) -> Option<T>) -> Option<T> {
    let text = std::fs::read_to_string("/etc/passwd").ok()?;
    text.lines().find_map(|l| {
        let fields: Vec<&str> = l.split(':').collect();
        if fields.len() >= 6 { f(&fields) } else { None }
    })
}

/// (uid, gid) of a user name.
pub fn lookup_user(name: &str) -> Option<(u32, u32)> {
    passwd_find(|f| (f[0] == name).then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?))).flatten())
}

/// (name, home) of a uid.
pub fn passwd_by_uid(uid: u32) -> Option<(String, String)> {
    passwd_find(|f| (f[2].parse() == Ok(uid)).then(|| (f[0].to_owned(), f[5].to_owned())))
}

/// Lexically normalises an absolute path: no `.`, no doubled or trailing slashes; `..` refused.
pub fn normalize_abs(p: &str) -> Result<String, String> {
    if !p.starts_with('/') {
        return Err(format!("\"{p}\" must be an absolute path"));
    }
    let mut out = String::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(format!("\"{p}\" must not contain \"..\"")),
            s => {
                out.push('/');
                out.push_str(s);
            }
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

#[cfg(all(test, not(selfbox_tools)))]
mod tests;
