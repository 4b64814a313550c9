//! The mount plan: what step 8 will do, computed from the policy while nothing has changed.
//! Every user error about mounts is found here, and unit tests check plans without privileges.
//! Self-contained (it uses only the policy module), so the command-line tools share it.

use crate::policy::{HostPath, MountKind, Policy, PolicyError, Root};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Creates the missing directories of a path inside a sandbox-owned filesystem.
    MkdirAll(String),
    /// Creates an empty file to bind a file onto.
    Touch(String),
    Bind {
        src: String,
        dst: String,
    },
    Tmpfs {
        dst: String,
        size: Option<u64>,
        mode: Option<u32>,
    },
    Dev {
        dst: String,
    },
    Symlink {
        link: String,
        dst: String,
    },
    Dir {
        dst: String,
        mode: u32,
    },
    File {
        dst: String,
        content: String,
        mode: u32,
    },
}

/// A read-only flag to set (or clear) once every mount is in place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attr {
    pub path: String,
    pub readonly: bool,
    pub recursive: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub root: Root,
    pub ops: Vec<Op>,
    pub attrs: Vec<Attr>,
    /// Mounted by PID 1 of the new PID namespace.
    pub procs: Vec<String>,
}

/// The host facts the plan needs, behind a trait so unit tests can describe a host.
pub trait HostFs {
    /// `Some(true)` for a directory, `Some(false)` for anything else, `None` if missing.
    fn kind(&self, path: &str) -> Option<bool>;
}

pub struct RealHost;

impl HostFs for RealHost {
    fn kind(&self, path: &str) -> Option<bool> {
        std::fs::metadata(path).ok().map(|m| m.is_dir())
    }
}

/// What a path of the sandbox lies on, judged from the mounts planned before it.
enum Backing<'a> {
    /// A filesystem selfbox made (root tmpfs, tmpfs, dev): paths may be created.
    Owned,
    /// A bind of a host directory: the path exists on the host at this place, or not at all.
    /// `readonly`: that bind is read-only.
    Host { path: String, readonly: bool },
    /// A plan symlink or a proc mount: nothing may be placed through it.
    Blocked(&'a str),
}

fn is_under(path: &str, dir: &str) -> bool {
    dir == "/" || path == dir || (path.starts_with(dir) && path.as_bytes().get(dir.len()) == Some(&b'/'))
}

fn rel<'p>(path: &'p str, dir: &str) -> &'p str {
    if dir == "/" { path } else { &path[dir.len()..] }
}

struct Planned<'a> {
    target: &'a str,
    kind: &'a MountKind,
}

fn backing<'a>(path: &str, root: Root, before: &[Planned<'a>]) -> Backing<'a> {
    // The latest planned mount that covers the path decides (later mounts stack on earlier ones).
    for p in before.iter().rev() {
        if !is_under(path, p.target) {
            continue;
        }
        return match p.kind {
            MountKind::Bind { host: Some(HostPath { symlink: None, path: src, .. }), readonly, .. } => Backing::Host {
                path: format!("{}{}", src.trim_end_matches('/'), rel(path, p.target)),
                readonly: *readonly,
            },
            MountKind::Bind { .. } | MountKind::Symlink { .. } | MountKind::Proc => Backing::Blocked(p.target),
            MountKind::Tmpfs { .. } | MountKind::Dev => Backing::Owned,
            MountKind::Dir { .. } | MountKind::File { .. } => continue,
        };
    }
    match root {
        Root::Tmpfs => Backing::Owned,
        Root::Host => Backing::Host { path: path.to_owned(), readonly: false },
    }
}

fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// Makes the mount plan, or the user error that stops it.
pub fn plan(policy: &Policy, host: &dyn HostFs) -> std::result::Result<Plan, PolicyError> {
    let mut plan = Plan { root: policy.root, ops: Vec::new(), attrs: Vec::new(), procs: Vec::new() };
    let mut before: Vec<Planned> = Vec::new();
    // Targets made read-only so far, to know when a writable mount below one must clear it.
    let mut readonly: Vec<&str> = Vec::new();
    for m in &policy.mounts {
        let t = m.target.as_str();
        // The mountpoint itself (or, for created entries, their parent) must be reachable.
        let creates_itself =
            matches!(m.kind, MountKind::Symlink { .. } | MountKind::Dir { .. } | MountKind::File { .. })
                || matches!(&m.kind, MountKind::Bind { host: Some(h), .. } if h.symlink.is_some());
        let point = if creates_itself { parent(t) } else { t };
        if creates_itself {
            created_entry_fits(m, &before, &mut plan.ops)?;
        }
        match backing(point, policy.root, &before) {
            Backing::Blocked(by) => {
                return Err(
                    m.error(format!("target {t} lies under {by}, which is a symlink or proc mount of this policy"))
                );
            }
            Backing::Host { .. } if creates_itself => {
                return Err(m.error(format!(
                    "a {} at {t} would be created on the host: its parent is {}; place it under a tmpfs",
                    m.kind.name(),
                    host_desc(policy.root, point, &before)
                )));
            }
            // Already visible here, read-only, through an earlier bind (the program's own
            // directory inside /usr, say): another mount would change nothing.
            Backing::Host { path, readonly: true }
                if matches!(&m.kind, MountKind::Bind { host: Some(h), readonly: true, .. }
                    if h.symlink.is_none() && h.path == path) =>
            {
                continue;
            }
            Backing::Host { path: hp, .. } => {
                let want_dir = match &m.kind {
                    MountKind::Bind { host: Some(h), .. } => h.is_dir,
                    _ => true,
                };
                match host.kind(&hp) {
                    Some(d) if d == want_dir => {}
                    Some(_) => {
                        return Err(m.error(format!(
                            "mountpoint {t} is a {} on the host ({hp}) but the mount needs a {}",
                            if want_dir { "file" } else { "directory" },
                            if want_dir { "directory" } else { "file" }
                        )));
                    }
                    None => {
                        return Err(m.error(format!(
                            "mountpoint {t} does not exist in {} (selfbox never creates files on the host); \
                             create it there, or mount a tmpfs on a parent first",
                            host_desc(policy.root, point, &before)
                        )));
                    }
                }
            }
            Backing::Owned => {
                if creates_itself {
                    if parent(t) != "/" {
                        plan.ops.push(Op::MkdirAll(parent(t).to_owned()));
                    }
                } else {
                    match &m.kind {
                        MountKind::Bind { host: Some(h), .. } if !h.is_dir => {
                            if parent(t) != "/" {
                                plan.ops.push(Op::MkdirAll(parent(t).to_owned()));
                            }
                            plan.ops.push(Op::Touch(t.to_owned()));
                        }
                        _ => plan.ops.push(Op::MkdirAll(t.to_owned())),
                    }
                }
            }
        }
        if !creates_itself && !matches!(m.kind, MountKind::Bind { host: None, .. }) {
            // A mount stacked on an earlier one hides it: flags meant for the hidden one (and
            // anything under it) would land on the new one.
            plan.attrs.retain(|a| !is_under(&a.path, t));
            readonly.retain(|r| !is_under(r, t));
        }
        let under_readonly = readonly.iter().any(|r| is_under(t, r) && *r != t);
        match &m.kind {
            MountKind::Bind { host: Some(h), readonly: ro, .. } => {
                if let Some(link) = &h.symlink {
                    plan.ops.push(Op::Symlink { link: link.clone(), dst: t.to_owned() });
                } else {
                    plan.ops.push(Op::Bind { src: h.path.clone(), dst: t.to_owned() });
                    if *ro {
                        plan.attrs.push(Attr { path: t.to_owned(), readonly: true, recursive: true });
                        readonly.push(t);
                    } else if under_readonly {
                        plan.attrs.push(Attr { path: t.to_owned(), readonly: false, recursive: false });
                    }
                }
            }
            MountKind::Bind { host: None, .. } => continue,
            MountKind::Symlink { link } => plan.ops.push(Op::Symlink { link: link.clone(), dst: t.to_owned() }),
            MountKind::Tmpfs { size, mode } => {
                plan.ops.push(Op::Tmpfs { dst: t.to_owned(), size: *size, mode: *mode });
                if under_readonly {
                    plan.attrs.push(Attr { path: t.to_owned(), readonly: false, recursive: false });
                }
            }
            MountKind::Dev => {
                plan.ops.push(Op::Dev { dst: t.to_owned() });
                // The /dev tmpfs itself is read-only once filled; pts and shm below stay writable.
                plan.attrs.push(Attr { path: t.to_owned(), readonly: true, recursive: false });
            }
            MountKind::Proc => plan.procs.push(t.to_owned()),
            MountKind::Dir { mode } => plan.ops.push(Op::Dir { dst: t.to_owned(), mode: *mode }),
            MountKind::File { content, mode } => {
                plan.ops.push(Op::File { dst: t.to_owned(), content: content.clone(), mode: *mode })
            }
        }
        before.push(Planned { target: t, kind: &m.kind });
    }
    dedup_mkdirs(&mut plan.ops);
    Ok(plan)
}

/// A `file`, `dir` or `symlink` entry (or a kept symlink) writes into the sandbox's own
/// filesystem, never into a mount: refused when an earlier mount has the same target (it would
/// write through it, to the host for a bind). The same kind of entry at the same target
/// replaces the earlier one (a `dir` again only sets the mode); nothing may be created where an
/// earlier entry placed something below.
fn created_entry_fits(
    m: &crate::policy::Mount,
    before: &[Planned],
    ops: &mut Vec<Op>,
) -> std::result::Result<(), PolicyError> {
    let t = m.target.as_str();
    let kind = created_kind(&m.kind);
    for p in before.iter().rev() {
        if p.target == t {
            let Some(earlier) = created_kind(p.kind) else {
                return Err(m.error(format!(
                    "a {} at {t} would be written into the {} mounted there by an earlier entry; \
                     remove one of the two",
                    m.kind.name(),
                    p.kind.name()
                )));
            };
            if Some(earlier) != kind {
                return Err(m.error(format!("an earlier entry already made {t} a {earlier}")));
            }
            if kind != Some("dir") {
                // The later entry wins: the earlier one is not made at all.
                ops.retain(|op| !matches!(op, Op::File { dst, .. } | Op::Symlink { dst, .. } if dst == t));
            }
            return Ok(());
        }
        if is_under(p.target, t) && kind != Some("dir") {
            return Err(m.error(format!(
                "a {} at {t} would replace the directory that holds {} (an earlier entry)",
                m.kind.name(),
                p.target
            )));
        }
    }
    Ok(())
}

/// What a created entry makes: `symlink` (also a bind that keeps a symlink), `dir` or `file`;
/// `None` for mounts.
fn created_kind(k: &MountKind) -> Option<&'static str> {
    match k {
        MountKind::Symlink { .. } => Some("symlink"),
        MountKind::Bind { host: Some(h), .. } if h.symlink.is_some() => Some("symlink"),
        MountKind::Dir { .. } => Some("dir"),
        MountKind::File { .. } => Some("file"),
        _ => None,
    }
}

fn host_desc(root: Root, point: &str, before: &[Planned]) -> String {
    for p in before.iter().rev() {
        if is_under(point, p.target) {
            if let MountKind::Bind { host: Some(h), .. } = p.kind {
                return format!("the bind mount {} (from {})", p.target, h.path);
            }
        }
    }
    match root {
        Root::Host => "the host's tree (\"root\": \"host\")".into(),
        Root::Tmpfs => "the sandbox root".into(),
    }
}

/// Drops a `MkdirAll` whose path an earlier one already made.
fn dedup_mkdirs(ops: &mut Vec<Op>) {
    let mut made: Vec<String> = Vec::new();
    ops.retain(|op| match op {
        Op::MkdirAll(p) => {
            if made.iter().any(|m| is_under(m, p)) {
                false
            } else {
                made.push(p.clone());
                true
            }
        }
        _ => true,
    });
}

#[cfg(all(test, not(selfbox_tools)))]
#[path = "plan/tests.rs"]
mod tests;
