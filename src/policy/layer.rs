//! One policy file as written (every field optional), the merge along `extends`, and the final
//! validation that turns the merged layers into a [`Policy`].

use super::json::{Json, ObjReader, Ptr, as_arr, as_bool, as_f64, as_str, as_u64, expected, str_list, suggest};
use super::syscalls::{self, SeccompLayer};
use super::vars::{Vars, expand};
use super::*;

/// A value and where it was written, for messages about how fields combine.
#[derive(Clone, Debug)]
pub struct Src<T> {
    pub v: T,
    pub origin: String,
    pub ptr: Ptr,
}

impl<T> Src<T> {
    fn err(&self, msg: String) -> PolicyError {
        PolicyError::At { origin: self.origin.clone(), ptr: self.ptr.clone(), msg }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Layer {
    pub origin: String,
    pub extends: Option<(String, Ptr)>,
    namespaces: Option<Src<i32>>,
    network: Option<Src<Network>>,
    uid: Option<Src<IdMap>>,
    gid: Option<Src<IdMap>>,
    run_as: Option<Src<Option<RunAs>>>,
    hostname: Option<Src<Option<String>>>,
    root: Option<Src<Root>>,
    mounts: Vec<Mount>,
    cwd: Option<String>,
    env_clear: Option<bool>,
    env_keep: Vec<String>,
    env_set: Vec<(String, String)>,
    env_unset: Vec<String>,
    close_fds: Option<CloseFds>,
    new_session: Option<bool>,
    capabilities: Option<Vec<u8>>,
    no_new_privs: Option<Src<bool>>,
    rlimits: Vec<Src<Rlimit>>,
    /// The limits, and `optional` as written (unset inherits the parent's).
    cgroup: Option<(Cgroup, Option<bool>)>,
    wall_time: Option<Option<f64>>,
    seccomp: Option<Src<SeccompLayer>>,
}

const TOP_KEYS: &[&str] = &[
    "$schema",
    "selfbox",
    "description",
    "comment",
    "extends",
    "namespaces",
    "uid",
    "gid",
    "run_as",
    "hostname",
    "root",
    "mounts",
    "cwd",
    "network",
    "env",
    "close_fds",
    "new_session",
    "capabilities",
    "no_new_privs",
    "rlimits",
    "cgroup",
    "wall_time",
    "seccomp",
];

/// Reads an optional field with `f`, keeping where it was written.
fn field<T>(
    o: &mut ObjReader,
    key: &str,
    origin: &str,
    f: impl FnOnce(&Json, &Ptr) -> Result<T, PolicyError>,
) -> Result<Option<Src<T>>, PolicyError> {
    match o.get(key) {
        Some((v, p)) => Ok(Some(Src { v: f(v, &p)?, origin: origin.to_owned(), ptr: p })),
        None => Ok(None),
    }
}

fn opt<T>(
    o: &mut ObjReader,
    key: &str,
    f: impl FnOnce(&Json, &Ptr) -> Result<T, PolicyError>,
) -> Result<Option<T>, PolicyError> {
    match o.get(key) {
        Some((v, p)) => Ok(Some(f(v, &p)?)),
        None => Ok(None),
    }
}

fn one_of<T: Copy>(v: &Json, p: &Ptr, choices: &[(&str, T)]) -> Result<T, PolicyError> {
    let s = as_str(v, p)?;
    if let Some((_, t)) = choices.iter().find(|(n, _)| *n == s) {
        return Ok(*t);
    }
    let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
    let mut msg = format!("\"{s}\" is not one of: {}", names.join(", "));
    if let Some(g) = suggest(s, &names) {
        msg.push_str(&format!("; did you mean \"{g}\"?"));
    }
    Err(PolicyError::at(p, msg))
}

struct Reader<'a> {
    vars: &'a Vars,
    dir: Option<&'a str>,
    origin: &'a str,
}

impl Reader<'_> {
    /// An absolute path after variable expansion, lexically normalised.
    fn path(&self, v: &Json, p: &Ptr) -> Result<String, PolicyError> {
        let s = expand(as_str(v, p)?, p, self.vars, self.dir)?;
        normalize_abs(&s).map_err(|m| PolicyError::at(p, m))
    }
}

impl Layer {
    pub fn parse(doc: &Json, vars: &Vars, dir: Option<&str>, origin: &str) -> Result<Layer, PolicyError> {
        let r = Reader { vars, dir, origin };
        let root = Ptr::root();
        let mut o = ObjReader::new(doc, &root)?;
        let mut l = Layer { origin: origin.to_owned(), ..Layer::default() };

        match o.get("selfbox") {
            Some((v, p)) => match v {
                Json::Num(n) if n.as_u64() == Some(1) => {}
                _ => {
                    return Err(PolicyError::at(&p, "unsupported format version; this selfbox reads version 1".into()));
                }
            },
            None => {
                return Err(PolicyError::at(&root, "missing \"selfbox\": 1 (the format version)".into()));
            }
        }
        for k in ["$schema", "description", "comment"] {
            if let Some((v, p)) = o.get(k) {
                as_str(v, &p)?;
            }
        }
        if let Some((v, p)) = o.get("extends") {
            let s = expand(as_str(v, &p)?, &p, vars, dir)?;
            l.extends = Some((s, p));
        }
        l.namespaces = field(&mut o, "namespaces", origin, parse_namespaces)?;
        l.network =
            field(&mut o, "network", origin, |v, p| one_of(v, p, &[("none", Network::None), ("host", Network::Host)]))?;
        l.uid = field(&mut o, "uid", origin, id_map)?;
        l.gid = field(&mut o, "gid", origin, id_map)?;
        l.run_as = field(&mut o, "run_as", origin, run_as)?;
        l.hostname = field(&mut o, "hostname", origin, hostname)?;
        l.root = field(&mut o, "root", origin, |v, p| one_of(v, p, &[("tmpfs", Root::Tmpfs), ("host", Root::Host)]))?;
        if let Some((v, p)) = o.get("mounts") {
            for (i, m) in as_arr(v, &p)?.iter().enumerate() {
                if let Some(m) = r.mount(m, &p.index(i))? {
                    l.mounts.push(m);
                }
            }
        }
        l.cwd = opt(&mut o, "cwd", |v, p| r.path(v, p))?;
        if let Some((v, p)) = o.get("env") {
            r.env(v, &p, &mut l)?;
        }
        l.close_fds = opt(&mut o, "close_fds", close_fds)?;
        l.new_session = opt(&mut o, "new_session", as_bool)?;
        l.capabilities = opt(&mut o, "capabilities", |v, p| {
            str_list(v, p)?.iter().map(|(s, p)| values::capability(s, p)).collect()
        })?;
        l.no_new_privs = field(&mut o, "no_new_privs", origin, as_bool)?;
        if let Some((v, p)) = o.get("rlimits") {
            l.rlimits = rlimits(v, &p, origin)?;
        }
        l.cgroup = opt(&mut o, "cgroup", cgroup)?;
        l.wall_time = opt(&mut o, "wall_time", |v, p| match v {
            Json::Null => Ok(None),
            _ => {
                let s = as_f64(v, p)?;
                if s > 0.0 && s < 1e9 {
                    Ok(Some(s))
                } else {
                    Err(PolicyError::at(p, format!("wall_time must be a positive number of seconds, found {s}")))
                }
            }
        })?;
        l.seccomp = field(&mut o, "seccomp", origin, |v, p| syscalls::parse(v, p, origin))?;
        o.finish(TOP_KEYS)?;
        Ok(l)
    }
}

const MOUNT_TYPES: &[&str] = &["bind", "symlink", "tmpfs", "proc", "dev", "dir", "file"];

impl Reader<'_> {
    /// One `mounts` entry; `None` for an optional bind whose source is missing.
    fn mount(&self, v: &Json, p: &Ptr) -> Result<Option<Mount>, PolicyError> {
        let mut o = ObjReader::new(v, p)?;
        let (tv, tp) = o
            .get("type")
            .ok_or_else(|| PolicyError::at(p, format!("a mount needs \"type\": one of {}", MOUNT_TYPES.join(", "))))?;
        let ty = as_str(tv, &tp)?;
        if let Some((v, p)) = o.get("comment") {
            as_str(v, &p)?;
        }
        let target = opt(&mut o, "target", |v, p| self.path(v, p))?;
        let need_target =
            |t: Option<String>| t.ok_or_else(|| PolicyError::at(p, format!("a {ty} mount needs \"target\"")));
        let (target, kind, keys): (String, MountKind, &[&str]) = match ty {
            "bind" => {
                let (sv, sp) =
                    o.get("source").ok_or_else(|| PolicyError::at(p, "a bind mount needs \"source\"".into()))?;
                let source = self.path(sv, &sp)?;
                let readonly = opt(&mut o, "readonly", as_bool)?.unwrap_or(true);
                let optional = opt(&mut o, "optional", as_bool)?.unwrap_or(false);
                let keep_symlink = opt(&mut o, "keep_symlink", as_bool)?.unwrap_or(false);
                let host = host_path(&source, keep_symlink).map_err(|errno| {
                    let hint = match errno {
                        libc::ENOENT => "source does not exist on the host; mark it \"optional\": true to skip it",
                        libc::EACCES => "permission denied while resolving the source",
                        _ => "cannot resolve the source",
                    };
                    PolicyError::at(&sp, format!("{source}: {} ({hint})", values::errno_name(errno)))
                });
                let host = match host {
                    Ok(h) => Some(h),
                    Err(_) if optional => None,
                    Err(e) => return Err(e),
                };
                let target = target.unwrap_or_else(|| source.clone());
                let kind = MountKind::Bind { source, host, readonly, optional, keep_symlink };
                (target, kind, &["type", "comment", "source", "target", "readonly", "optional", "keep_symlink"])
            }
            "symlink" => {
                let (lv, lp) = o
                    .get("link")
                    .ok_or_else(|| PolicyError::at(p, "a symlink needs \"link\" (what it points to)".into()))?;
                let link = expand(as_str(lv, &lp)?, &lp, self.vars, self.dir)?;
                if link.is_empty() {
                    return Err(PolicyError::at(&lp, "\"link\" is empty".into()));
                }
                (need_target(target)?, MountKind::Symlink { link }, &["type", "comment", "target", "link"])
            }
            "tmpfs" => {
                let size = opt(&mut o, "size", values::size)?;
                let mode = opt(&mut o, "mode", values::mode)?;
                (need_target(target)?, MountKind::Tmpfs { size, mode }, &["type", "comment", "target", "size", "mode"])
            }
            "proc" => (target.unwrap_or_else(|| "/proc".into()), MountKind::Proc, &["type", "comment", "target"]),
            "dev" => (target.unwrap_or_else(|| "/dev".into()), MountKind::Dev, &["type", "comment", "target"]),
            "dir" => {
                let mode = opt(&mut o, "mode", values::mode)?.unwrap_or(0o755);
                (need_target(target)?, MountKind::Dir { mode }, &["type", "comment", "target", "mode"])
            }
            "file" => {
                let content = match o.get("content") {
                    Some((v, p)) => as_str(v, &p)?.to_owned(),
                    None => String::new(),
                };
                let mode = opt(&mut o, "mode", values::mode)?.unwrap_or(0o644);
                (
                    need_target(target)?,
                    MountKind::File { content, mode },
                    &["type", "comment", "target", "content", "mode"],
                )
            }
            other => {
                let mut msg = format!("unknown mount type \"{other}\"; one of: {}", MOUNT_TYPES.join(", "));
                if let Some(s) = suggest(other, MOUNT_TYPES) {
                    msg = format!("unknown mount type \"{other}\"; did you mean \"{s}\"?");
                }
                return Err(PolicyError::at(&tp, msg));
            }
        };
        o.finish(keys)?;
        if target == "/" {
            return Err(PolicyError::at(
                p,
                "a mount cannot replace \"/\" (use \"root\": \"host\" to start from the host's tree)".into(),
            ));
        }
        match kind {
            MountKind::Bind { host: None, .. } => Ok(None),
            kind => Ok(Some(Mount { target, kind, origin: self.origin.to_owned(), ptr: p.clone() })),
        }
    }

    fn env(&self, v: &Json, p: &Ptr, l: &mut Layer) -> Result<(), PolicyError> {
        let mut o = ObjReader::new(v, p)?;
        if let Some((v, p)) = o.get("comment") {
            as_str(v, &p)?;
        }
        l.env_clear = opt(&mut o, "clear", as_bool)?;
        if let Some((v, p)) = o.get("keep") {
            for (name, np) in str_list(v, &p)? {
                l.env_keep.push(env_name(&name, &np)?);
            }
        }
        if let Some((v, p)) = o.get("unset") {
            for (name, np) in str_list(v, &p)? {
                l.env_unset.push(env_name(&name, &np)?);
            }
        }
        if let Some((v, sp)) = o.get("set") {
            let Json::Obj(fields) = v else { return Err(expected(&sp, "an object of NAME: value", v)) };
            for (k, val) in fields {
                let kp = sp.key(k);
                let name = env_name(k, &kp)?;
                let value = expand(as_str(val, &kp)?, &kp, self.vars, self.dir)?;
                if value.contains('\0') {
                    return Err(PolicyError::at(&kp, "value contains a NUL byte".into()));
                }
                if l.env_unset.contains(&name) {
                    return Err(PolicyError::at(&kp, format!("{name} is both set and unset")));
                }
                l.env_set.push((name, value));
            }
        }
        o.finish(&["comment", "clear", "keep", "set", "unset"])
    }
}

fn env_name(name: &str, p: &Ptr) -> Result<String, PolicyError> {
    if name.is_empty() || name.contains('=') || name.contains('\0') {
        return Err(PolicyError::at(p, format!("\"{name}\" is not a valid environment variable name")));
    }
    Ok(name.to_owned())
}

/// Resolves a bind source (normalised, absolute) on the host; the errno on failure. Every
/// start pays for these calls, so the common shapes take one each.
fn host_path(source: &str, keep_symlink: bool) -> Result<HostPath, i32> {
    let errno = |e: std::io::Error| e.raw_os_error().unwrap_or(libc::EINVAL);
    if keep_symlink {
        match std::fs::read_link(source) {
            Ok(link) => {
                return Ok(HostPath {
                    path: source.to_owned(),
                    is_dir: false,
                    symlink: Some(link.display().to_string()),
                });
            }
            // EINVAL: there, and not a symlink.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
            Err(e) => return Err(errno(e)),
        }
    }
    // A single component that is no symlink is its own canonical form.
    if source.len() > 1 && source.rfind('/') == Some(0) {
        let meta = std::fs::symlink_metadata(source).map_err(errno)?;
        if !meta.file_type().is_symlink() {
            return Ok(HostPath { path: source.to_owned(), is_dir: meta.is_dir(), symlink: None });
        }
    }
    let canon = std::fs::canonicalize(source).map_err(errno)?;
    let meta = std::fs::metadata(&canon).map_err(errno)?;
    Ok(HostPath { path: canon.display().to_string(), is_dir: meta.is_dir(), symlink: None })
}

fn parse_namespaces(v: &Json, p: &Ptr) -> Result<i32, PolicyError> {
    let names: Vec<&str> = NAMESPACES.iter().map(|(n, _)| *n).collect();
    let mut flags = 0;
    for (name, np) in str_list(v, p)? {
        let Some((_, f)) = NAMESPACES.iter().find(|(n, _)| *n == name) else {
            let mut msg = format!("unknown namespace \"{name}\"; one of: {}", names.join(", "));
            if let Some(s) = suggest(&name, &names) {
                msg = format!("unknown namespace \"{name}\"; did you mean \"{s}\"?");
            }
            return Err(PolicyError::at(&np, msg));
        };
        if flags & f != 0 {
            return Err(PolicyError::at(&np, format!("namespace \"{name}\" is listed twice")));
        }
        flags |= f;
    }
    Ok(flags)
}

fn id_map(v: &Json, p: &Ptr) -> Result<IdMap, PolicyError> {
    match v {
        Json::Str(s) if s == "same" => Ok(IdMap::Same),
        Json::Num(_) => {
            let n = as_u64(v, p)?;
            u32::try_from(n)
                .ok()
                .filter(|n| *n != u32::MAX)
                .map(IdMap::Id)
                .ok_or_else(|| PolicyError::at(p, format!("id {n} is out of range")))
        }
        other => Err(expected(p, "\"same\" or a number", other)),
    }
}

fn run_as(v: &Json, p: &Ptr) -> Result<Option<RunAs>, PolicyError> {
    let id = |n: u64| {
        u32::try_from(n)
            .ok()
            .filter(|n| *n != u32::MAX)
            .ok_or_else(|| PolicyError::at(p, format!("id {n} is out of range")))
    };
    match v {
        Json::Null => Ok(None),
        Json::Num(_) => {
            let uid = id(as_u64(v, p)?)?;
            Ok(Some(RunAs::Ids { uid, gid: uid }))
        }
        Json::Str(s) if s.is_empty() => Err(PolicyError::at(p, "run_as is empty".into())),
        Json::Str(s) => match s.split_once(':') {
            Some((u, g)) => match (u.parse::<u64>(), g.parse::<u64>()) {
                (Ok(u), Ok(g)) => Ok(Some(RunAs::Ids { uid: id(u)?, gid: id(g)? })),
                _ => Err(PolicyError::at(p, format!("\"{s}\" is not \"uid:gid\""))),
            },
            None => match s.parse::<u64>() {
                Ok(n) => Ok(Some(RunAs::Ids { uid: id(n)?, gid: id(n)? })),
                Err(_) => Ok(Some(RunAs::Name(s.to_string()))),
            },
        },
        other => Err(expected(p, "a user name, a uid, \"uid:gid\" or null", other)),
    }
}

fn hostname(v: &Json, p: &Ptr) -> Result<Option<String>, PolicyError> {
    match v {
        Json::Null => Ok(None),
        _ => {
            let s = as_str(v, p)?;
            let ok = !s.is_empty()
                && s.len() <= 64
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                && !s.starts_with(['-', '.']);
            if ok {
                Ok(Some(s.to_owned()))
            } else {
                Err(PolicyError::at(
                    p,
                    format!("\"{s}\" is not a valid hostname (letters, digits, '-' and '.', at most 64)"),
                ))
            }
        }
    }
}

fn close_fds(v: &Json, p: &Ptr) -> Result<CloseFds, PolicyError> {
    match v {
        Json::Bool(true) => Ok(CloseFds::All),
        Json::Bool(false) => Ok(CloseFds::No),
        Json::Obj(_) => {
            let mut o = ObjReader::new(v, p)?;
            let mut keep = Vec::new();
            if let Some((v, kp)) = o.get("keep") {
                for (i, item) in as_arr(v, &kp)?.iter().enumerate() {
                    let ip = kp.index(i);
                    let fd = as_u64(item, &ip)?;
                    if !(3..=1 << 20).contains(&fd) {
                        return Err(PolicyError::at(&ip, format!("{fd} is not a descriptor above 2")));
                    }
                    keep.push(fd as i32);
                }
            }
            o.finish(&["keep"])?;
            keep.sort_unstable();
            keep.dedup();
            Ok(CloseFds::Keep(keep))
        }
        other => Err(expected(p, "true, false or {\"keep\": [fds]}", other)),
    }
}

fn rlimits(v: &Json, p: &Ptr, origin: &str) -> Result<Vec<Src<Rlimit>>, PolicyError> {
    let Json::Obj(fields) = v else { return Err(expected(p, "an object of limits", v)) };
    let names: Vec<&str> = values::RLIMITS.iter().map(|(n, _, _)| *n).collect();
    let mut out = Vec::new();
    for (k, val) in fields {
        let kp = p.key(k);
        let Some(&(name, resource, unit)) = values::RLIMITS.iter().find(|(n, _, _)| n == k) else {
            let mut msg = format!("unknown rlimit \"{k}\"; one of: {}", names.join(", "));
            if let Some(s) = suggest(k, &names) {
                msg = format!("unknown rlimit \"{k}\"; did you mean \"{s}\"?");
            }
            return Err(PolicyError::at(&kp, msg));
        };
        let (soft, hard) = match val {
            Json::Obj(_) => {
                let mut o = ObjReader::new(val, &kp)?;
                let soft = opt(&mut o, "soft", |v, p| values::limit_value(v, p, unit))?;
                let hard = opt(&mut o, "hard", |v, p| values::limit_value(v, p, unit))?;
                o.finish(&["soft", "hard"])?;
                match (soft, hard) {
                    (Some(s), Some(h)) => (s, h),
                    (Some(s), None) => (s, s),
                    (None, Some(h)) => (h, h),
                    (None, None) => return Err(PolicyError::at(&kp, "give \"soft\", \"hard\" or both".into())),
                }
            }
            _ => {
                let n = values::limit_value(val, &kp, unit)?;
                (n, n)
            }
        };
        if soft > hard {
            return Err(PolicyError::at(&kp, format!("soft limit {soft} is above the hard limit {hard}")));
        }
        out.push(Src { v: Rlimit { name, resource, soft, hard }, origin: origin.to_owned(), ptr: kp });
    }
    Ok(out)
}

fn cgroup(v: &Json, p: &Ptr) -> Result<(Cgroup, Option<bool>), PolicyError> {
    let mut o = ObjReader::new(v, p)?;
    if let Some((v, p)) = o.get("comment") {
        as_str(v, &p)?;
    }
    let max_or = |v: &Json, p: &Ptr, f: fn(&Json, &Ptr) -> Result<u64, PolicyError>| match v {
        Json::Str(s) if s == "max" => Ok(u64::MAX),
        _ => f(v, p),
    };
    let c = Cgroup {
        memory_max: opt(&mut o, "memory_max", |v, p| max_or(v, p, values::size))?,
        memory_swap_max: opt(&mut o, "memory_swap_max", |v, p| max_or(v, p, values::size))?,
        pids_max: opt(&mut o, "pids_max", |v, p| max_or(v, p, as_u64))?,
        cpu_max: opt(&mut o, "cpu_max", |v, p| {
            let c = as_f64(v, p)?;
            if (0.01..=4096.0).contains(&c) {
                Ok(c)
            } else {
                Err(PolicyError::at(p, format!("cpu_max is in CPUs (e.g. 1.5); {c} is out of range 0.01-4096")))
            }
        })?,
        io_weight: opt(&mut o, "io_weight", |v, p| {
            let w = as_u64(v, p)?;
            if (1..=10000).contains(&w) {
                Ok(w)
            } else {
                Err(PolicyError::at(p, format!("io_weight {w} is out of range 1-10000")))
            }
        })?,
        optional: false,
    };
    let optional = opt(&mut o, "optional", as_bool)?;
    o.finish(&["comment", "memory_max", "memory_swap_max", "pids_max", "cpu_max", "io_weight", "optional"])?;
    Ok((c, optional))
}

impl Layer {
    /// `child` over `self`: scalars replace, lists append, maps merge by key.
    pub fn merge(self, child: Layer) -> Layer {
        let mut out = self;
        out.origin = child.origin;
        out.extends = child.extends;
        if let Some(ns) = child.namespaces {
            // A child listing namespaces without a `network` also decides the network.
            if child.network.is_none() {
                out.network = None;
            }
            out.namespaces = Some(ns);
        }
        out.network = child.network.or(out.network);
        out.uid = child.uid.or(out.uid);
        out.gid = child.gid.or(out.gid);
        out.run_as = child.run_as.or(out.run_as);
        out.hostname = child.hostname.or(out.hostname);
        out.root = child.root.or(out.root);
        out.mounts.extend(child.mounts);
        out.cwd = child.cwd.or(out.cwd);
        out.env_clear = child.env_clear.or(out.env_clear);
        for k in child.env_keep {
            if !out.env_keep.contains(&k) {
                out.env_keep.push(k);
            }
        }
        for k in child.env_unset {
            out.env_set.retain(|(n, _)| *n != k);
            if !out.env_unset.contains(&k) {
                out.env_unset.push(k);
            }
        }
        for (k, v) in child.env_set {
            out.env_unset.retain(|n| *n != k);
            out.env_set.retain(|(n, _)| *n != k);
            out.env_set.push((k, v));
        }
        out.close_fds = child.close_fds.or(out.close_fds);
        out.new_session = child.new_session.or(out.new_session);
        out.capabilities = child.capabilities.or(out.capabilities);
        out.no_new_privs = child.no_new_privs.or(out.no_new_privs);
        for r in child.rlimits {
            out.rlimits.retain(|o| o.v.resource != r.v.resource);
            out.rlimits.push(r);
        }
        out.cgroup = match (out.cgroup, child.cgroup) {
            (Some((p, po)), Some((c, co))) => Some((
                Cgroup {
                    memory_max: c.memory_max.or(p.memory_max),
                    memory_swap_max: c.memory_swap_max.or(p.memory_swap_max),
                    pids_max: c.pids_max.or(p.pids_max),
                    cpu_max: c.cpu_max.or(p.cpu_max),
                    io_weight: c.io_weight.or(p.io_weight),
                    optional: false,
                },
                co.or(po),
            )),
            (p, c) => c.or(p),
        };
        out.wall_time = child.wall_time.or(out.wall_time);
        out.seccomp = match (out.seccomp, child.seccomp) {
            (Some(mut p), Some(c)) => {
                p.v.default_action = c.v.default_action.or(p.v.default_action);
                p.v.rules.extend(c.v.rules);
                p.origin = c.origin;
                p.ptr = c.ptr;
                Some(p)
            }
            (p, c) => c.or(p),
        };
        out
    }

    /// Defaults and the checks that span fields.
    pub fn finish(self, ctx: &Context, origin: String) -> Result<Policy, PolicyError> {
        let mut namespaces = self.namespaces.as_ref().map_or(DEFAULT_NAMESPACES, |s| s.v);
        match self.network.as_ref().map(|n| n.v) {
            Some(Network::None) => namespaces |= libc::CLONE_NEWNET,
            Some(Network::Host) => namespaces &= !libc::CLONE_NEWNET,
            None => {}
        }
        if let (Some(n), Some(ns)) = (&self.network, &self.namespaces)
            && n.origin == ns.origin
            && (n.v == Network::Host) == (ns.v & libc::CLONE_NEWNET != 0)
        {
            return Err(
                n.err("contradicts \"namespaces\" of the same file: \"net\" means \"network\": \"none\"".into())
            );
        }
        let has = |f: i32| namespaces & f != 0;
        let userns = has(libc::CLONE_NEWUSER);
        for id in [&self.uid, &self.gid].into_iter().flatten() {
            if let (IdMap::Id(_), false) = (id.v, userns) {
                return Err(id.err("mapping an id needs the \"user\" namespace".into()));
            }
        }
        if !userns && !ctx.real_root && namespaces != 0 {
            let at = self.namespaces.as_ref().map(|n| n.ptr.clone()).unwrap_or_else(Ptr::root);
            return Err(PolicyError::At {
                origin: origin.clone(),
                ptr: at,
                msg: "without root, creating namespaces needs the \"user\" namespace; add \"user\"".into(),
            });
        }
        let hostname = match &self.hostname {
            Some(h) if h.v.is_some() && !has(libc::CLONE_NEWUTS) => {
                return Err(h.err("setting the hostname needs the \"uts\" namespace".into()));
            }
            Some(h) => h.v.clone(),
            None if has(libc::CLONE_NEWUTS) => Some("sandbox".into()),
            None => None,
        };
        let root = self.root.as_ref().map_or(Root::Tmpfs, |r| r.v);
        if !has(libc::CLONE_NEWNS) {
            if let Some(r) = self.root.as_ref().filter(|r| r.v == Root::Tmpfs) {
                return Err(r.err(
                    "a tmpfs root needs the \"mount\" namespace; add \"mount\" or use \"root\": \"host\"".into(),
                ));
            }
            if !self.mounts.is_empty() {
                return Err(PolicyError::At {
                    origin: origin.clone(),
                    ptr: Ptr::root().key("mounts"),
                    msg: "mounts need the \"mount\" namespace".into(),
                });
            }
        }
        let root = if has(libc::CLONE_NEWNS) { root } else { Root::Host };
        if let Some(m) = self.mounts.iter().find(|m| m.kind == MountKind::Proc) {
            if !has(libc::CLONE_NEWPID) {
                return Err(PolicyError::At {
                    origin: m.origin.clone(),
                    ptr: m.ptr.clone(),
                    msg: "a proc mount needs the \"pid\" namespace (it would show the host's processes)".into(),
                });
            }
        }
        let capabilities = self.capabilities.unwrap_or_default();
        let no_new_privs = self.no_new_privs.as_ref().is_none_or(|n| n.v);
        let seccomp = match self.seccomp {
            Some(s) => {
                let default_action = s.v.default_action.unwrap_or(Action::Allow);
                Some(syscalls::finish(default_action, s.v.rules)?)
            }
            None => None,
        };
        if let (Some(n), Some(sc)) = (&self.no_new_privs, &seccomp)
            && !n.v
            && !(sc.rules.is_empty() && sc.exceptions.is_empty() && sc.default_action == Action::Allow)
            && !capabilities.contains(&21)
        {
            return Err(n.err(
                "a seccomp filter needs no_new_privs once capabilities are dropped (or keep CAP_SYS_ADMIN)".into(),
            ));
        }
        if let Some(sc) = &seccomp {
            syscalls::check_own_calls(sc, &origin)?;
        }
        if !has(libc::CLONE_NEWPID) {
            // Without one, init is not PID 1: killing it leaves the program and its children
            // running, and once it has gone a kill rule's notification fails with ENOSYS
            // instead of killing.
            if self.wall_time.flatten().is_some() {
                return Err(PolicyError::At {
                    origin: origin.clone(),
                    ptr: Ptr::root().key("wall_time"),
                    msg: "wall_time needs the \"pid\" namespace (only then does killing init end every process)".into(),
                });
            }
            if let Some(sc) = &seccomp {
                let kill = sc.rules.iter().find(|r| r.action == Action::Kill);
                if sc.default_action == Action::Kill || kill.is_some() {
                    let (o, ptr) = match kill {
                        Some(r) => (r.src.origin.clone(), r.src.ptr.clone()),
                        None => (origin.clone(), Ptr::root().key("seccomp").key("default_action")),
                    };
                    return Err(PolicyError::At {
                        origin: o,
                        ptr,
                        msg: "\"kill\" needs the \"pid\" namespace (processes outliving init would get ENOSYS \
                              instead); add \"pid\" or use kill_thread"
                            .into(),
                    });
                }
            }
        }
        let run_as = match self.run_as.map(|r| r.v) {
            None => Some(RunAs::Name("nobody".into())),
            Some(r) => r,
        };
        let run_as = match run_as {
            Some(RunAs::Name(name)) if ctx.real_root => match lookup_user(&name) {
                Some((uid, gid)) => Some(RunAs::Ids { uid, gid }),
                None => {
                    return Err(PolicyError::At {
                        origin: origin.clone(),
                        ptr: Ptr::root().key("run_as"),
                        msg: format!("no user \"{name}\" in /etc/passwd"),
                    });
                }
            },
            other => other,
        };
        let mut rlimits = Vec::new();
        for r in self.rlimits {
            check_rlimit_raise(&r, ctx.real_root)?;
            rlimits.push(r.v);
        }
        let cgroup =
            self.cgroup.map(|(c, optional)| Cgroup { optional: optional.unwrap_or(false), ..c }).unwrap_or_default();
        Ok(Policy {
            origin,
            files: Vec::new(),
            namespaces,
            uid: self.uid.map_or(IdMap::Same, |s| s.v),
            gid: self.gid.map_or(IdMap::Same, |s| s.v),
            run_as,
            hostname,
            root,
            mounts: self.mounts,
            cwd: self.cwd,
            env: EnvPolicy {
                clear: self.env_clear.unwrap_or(false),
                keep: self.env_keep,
                set: self.env_set,
                unset: self.env_unset,
            },
            close_fds: self.close_fds.unwrap_or(CloseFds::All),
            new_session: self.new_session.unwrap_or(false),
            capabilities,
            no_new_privs,
            rlimits,
            cgroup,
            wall_time: self.wall_time.flatten(),
            seccomp,
        })
    }
}

/// Raising a hard limit above the current one needs CAP_SYS_RESOURCE in the initial user
/// namespace, which a rootless sandbox never has: refuse it here, with the current value.
fn check_rlimit_raise(r: &Src<Rlimit>, real_root: bool) -> Result<(), PolicyError> {
    if real_root {
        return Ok(());
    }
    match nix::sys::resource::getrlimit(r.v.resource) {
        Ok((_, max)) if r.v.hard > max => Err(r.err(format!(
            "hard limit {} is above the current hard limit {} and only root can raise it",
            fmt_limit(r.v.hard),
            fmt_limit(max)
        ))),
        _ => Ok(()),
    }
}

fn fmt_limit(v: u64) -> String {
    if v == libc::RLIM_INFINITY { "unlimited".into() } else { v.to_string() }
}

#[cfg(all(test, not(selfbox_tools)))]
mod tests {
    use super::*;

    /// What `host_path` answers, by the long way (realpath, stat; lstat, readlink).
    fn reference(source: &str, keep_symlink: bool) -> Result<HostPath, i32> {
        let errno = |e: std::io::Error| e.raw_os_error().unwrap_or(libc::EINVAL);
        if keep_symlink {
            let meta = std::fs::symlink_metadata(source).map_err(errno)?;
            if meta.file_type().is_symlink() {
                let link = std::fs::read_link(source).map_err(errno)?;
                return Ok(HostPath {
                    path: source.to_owned(),
                    is_dir: false,
                    symlink: Some(link.display().to_string()),
                });
            }
        }
        let canon = std::fs::canonicalize(source).map_err(errno)?;
        let meta = std::fs::metadata(&canon).map_err(errno)?;
        Ok(HostPath { path: canon.display().to_string(), is_dir: meta.is_dir(), symlink: None })
    }

    #[test]
    fn host_paths_match_the_long_way() {
        let d = std::env::temp_dir().join(format!("selfbox-hostpath-{}", std::process::id()));
        std::fs::create_dir_all(d.join("dir")).unwrap();
        std::os::unix::fs::symlink("dir", d.join("link")).unwrap();
        std::fs::write(d.join("file"), "x").unwrap();
        let own = |n: &str| d.join(n).display().to_string();
        // Single components (the short way) and longer ones, directories, files, symlinks
        // (merged-/usr hosts have /bin -> usr/bin), missing paths.
        let mut paths =
            vec!["/", "/usr", "/etc", "/bin", "/lib", "/lib64", "/tmp", "/proc", "/usr/bin", "/nonexistent"]
                .into_iter()
                .map(str::to_owned)
                .collect::<Vec<_>>();
        paths.extend(["dir", "link", "file", "missing"].map(own));
        for p in &paths {
            for keep in [false, true] {
                assert_eq!(host_path(p, keep), reference(p, keep), "{p}, keep_symlink {keep}");
            }
        }
        // Control: the cases the comparison covers are not all alike.
        assert!(host_path(&own("link"), true).unwrap().symlink.is_some());
        assert!(host_path(&own("link"), false).unwrap().path.ends_with("/dir"));
        assert!(!host_path(&own("file"), false).unwrap().is_dir);
        assert_eq!(host_path("/nonexistent", false), Err(libc::ENOENT));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
