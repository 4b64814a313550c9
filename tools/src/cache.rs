//! `selfbox cache build`: compiles policies' seccomp filters into the directory the preload
//! reads them from (see the README's *Cache*), so that sandboxes start without libseccomp's
//! build. Run by scripts/install for the shipped policies, by packagers for theirs.
//! `selfbox cache dev`: makes the prepared `/dev` the preload binds instead of building one.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::cache_file::{self, Entry};
use crate::policy::{self, Context, Source};
use crate::{Args, Refusal, compile, devtpl, parse_args, paths, print_out, real_root, vars_for};

const HELP: &str = "\
Usage: selfbox cache build [--dir DIR] [POLICY...]
       selfbox cache dev [--dir DIR]

build:

Compiles the seccomp filter of each POLICY (default: every shipped policy) and stores it where
the preload finds it, so that a sandbox loads it instead of building it with libseccomp. A
POLICY is a file when it holds a slash (./app.json), otherwise the name of a shipped policy.
DIR defaults to the `filters` directory beside libselfbox.so.

The preload reads an entry only if the program could never have written it: DIR, every
directory above it and the entry must be owned by root and writable by root alone. Run this as
root, or in a package build whose files are installed as root.

dev:
Makes DIR (default: the `dev` directory beside libselfbox.so) hold what a policy's `dev` mount
puts in /dev: the nodes null, zero, full, random, urandom and tty, the links fd, stdin, stdout,
stderr and ptmx, and the mountpoints pts and shm. A sandbox then binds that one directory instead
of building /dev from a tmpfs and six binds (about 0.1 ms of every start). Creating device nodes
needs root. The preload checks the directory before every use (owned by root and writable by
root alone, up to /; exactly these entries, each of its kind; the nodes root's, with their
numbers and mode 0666; not on a nodev filesystem) and builds /dev as before if anything
differs, or when the program's terminal is to be offered as /dev/console. An existing DIR is
replaced only if it holds nothing but those names.

Exit 0 when the policies were stored (build) or DIR is ready and usable (dev), 125 otherwise.";

pub fn main(args: &[String]) -> Result<(), Refusal> {
    let a = parse_args(args, &["--dir"], false)?;
    if a.help || a.positional.is_empty() {
        if a.help {
            print_out(HELP);
            return Ok(());
        }
        return Err(Refusal::usage("cache takes a command: build or dev; see selfbox cache --help".into()));
    }
    match a.positional[0].as_str() {
        "build" => build(&a, &a.positional[1..]),
        "dev" if a.positional.len() == 1 => dev(&a),
        "dev" => Err(Refusal::usage("cache dev takes no arguments but --dir; see selfbox cache --help".into())),
        other => Err(Refusal::usage(format!("unknown cache command \"{other}\"; see selfbox cache --help"))),
    }
}

fn build(a: &Args, named: &[String]) -> Result<(), Refusal> {
    let layout = paths::discover();
    let dir = match a.get(&["--dir"]) {
        Some(d) => std::path::absolute(d).map_err(|e| Refusal::usage(format!("--dir {d}: {e}")))?,
        None => layout.lib.parent().unwrap_or(Path::new("/")).join("filters"),
    };
    let policies: Vec<String> = if named.is_empty() { shipped(&layout) } else { named.to_vec() };
    if policies.is_empty() {
        return Err(Refusal::new("selfbox: cache: no shipped policies found; name the policies to build".into()));
    }
    if !dir.is_dir() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&dir)
            .map_err(|e| Refusal::new(format!("selfbox: cache: mkdir {}: {e}", dir.display())))?;
    }
    let mut failed = 0;
    for p in &policies {
        let label = if named.is_empty() {
            Path::new(p).file_stem().map_or(p.clone(), |s| s.to_string_lossy().into())
        } else {
            p.clone()
        };
        match build_one(&layout, p, &dir) {
            Ok(line) => print_out(&format!("{label}: {line}")),
            // A shipped policy may need files this host lacks (bind sources); not an error here.
            Err(msg) if named.is_empty() => print_out(&format!("{label}: skipped: {msg}")),
            Err(msg) => {
                eprintln!("selfbox: cache: {label}: {msg}");
                failed += 1;
            }
        }
    }
    if let Some(why) = cache_file::untrusted_dir(&dir.canonicalize().unwrap_or(dir.clone())) {
        eprintln!("selfbox: cache: note: the preload will not read {} as it is: {why}", dir.display());
    }
    if failed > 0 && !named.is_empty() {
        return Err(Refusal::new(format!("selfbox: cache: {failed} of {} policies not stored", policies.len())));
    }
    Ok(())
}

/// Every policy in the shipped directories (the first directory holding a name wins).
fn shipped(layout: &paths::Layout) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for d in layout.policy_dirs() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        let mut files: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        files.sort();
        for f in files {
            let Some(name) = f.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            if name != "schema" && !names.iter().any(|n| n == name) {
                names.push(name.to_owned());
                out.push(f.display().to_string());
            }
        }
    }
    out
}

fn build_one(layout: &paths::Layout, p: &str, dir: &Path) -> Result<String, String> {
    let text = layout.policy_arg(p)?;
    let source =
        if text.trim_start().starts_with('{') { Source::Inline(text) } else { Source::File(PathBuf::from(text)) };
    let program = PathBuf::from("/usr/bin/true");
    let ctx = Context { vars: vars_for(&program), search_dirs: layout.policy_dirs(), real_root: real_root() };
    let policy = policy::load(&source, &ctx).map_err(|e| format!("policy: {e}"))?;
    let Some(s) = policy.seccomp.as_ref().filter(|s| !s.allows_everything()) else {
        return Ok("no seccomp filter; nothing to store".into());
    };
    let f = compile::compile(s).map_err(|e| format!("{}: {}", e.call, policy::values::errno_name(e.errno)))?;
    let key = cache_file::key(s, compile::audit_arch());
    let entry = Entry { rules: f.rules, prefix_insns: f.prefix_insns, bpf: f.bpf };
    cache_file::write(dir, &key, &entry, 0o644).map_err(|e| format!("write into {}: {e}", dir.display()))?;
    let file = dir.join(cache_file::file_name(&key));
    // The mode asked for is masked by the umask; readers need 0644.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644))
        .map_err(|e| format!("chmod {}: {e}", file.display()))?;
    Ok(format!("{} rules, {} instructions -> {}", entry.rules, entry.bpf.len() / 8, file.display()))
}

/// `cache dev`: the prepared /dev, made beside DIR and renamed into place.
fn dev(a: &Args) -> Result<(), Refusal> {
    let fail = |msg: String| Refusal::new(format!("selfbox: cache dev: {msg}"));
    let dir = match a.get(&["--dir"]) {
        Some(d) => std::path::absolute(d).map_err(|e| Refusal::usage(format!("--dir {d}: {e}")))?,
        None => paths::discover().lib.parent().unwrap_or(Path::new("/")).join("dev"),
    };
    if !nix::unistd::geteuid().is_root() {
        return Err(fail("making device nodes needs root; run it as root (scripts/install does)".into()));
    }
    let parent = dir.parent().ok_or_else(|| fail(format!("{} has no parent directory", dir.display())))?;
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if !dir.as_os_str().is_empty() && std::fs::symlink_metadata(&dir).is_ok() && !replaceable(&dir) {
        return Err(fail(format!("{} exists and holds more than a /dev template; not replaced", dir.display())));
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(parent)
        .map_err(|e| fail(format!("mkdir {}: {e}", parent.display())))?;
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    fill(&tmp).map_err(|e| {
        let _ = std::fs::remove_dir_all(&tmp);
        fail(e)
    })?;
    if std::fs::symlink_metadata(&dir).is_ok() {
        std::fs::remove_dir_all(&dir).map_err(|e| fail(format!("remove {}: {e}", dir.display())))?;
    }
    std::fs::rename(&tmp, &dir).map_err(|e| fail(format!("rename {} -> {}: {e}", tmp.display(), dir.display())))?;
    let canonical = dir.canonicalize().unwrap_or(dir.clone());
    match devtpl::check(&canonical, cache_file::untrusted_dir) {
        Ok(()) => {
            print_out(&format!("{}: /dev template ready", dir.display()));
            Ok(())
        }
        Err(why) => Err(fail(format!("{} made, but the preload will not use it: {why}", dir.display()))),
    }
}

/// Holds nothing but the names of a /dev template (a wrong --dir is never emptied).
fn replaceable(dir: &Path) -> bool {
    let Ok(rd) = std::fs::read_dir(dir) else { return false };
    rd.flatten().all(|e| e.file_name().to_str().is_some_and(devtpl::expected))
}

fn fill(tmp: &Path) -> Result<(), String> {
    use nix::sys::stat::{Mode, SFlag, makedev, mknod};
    let mkdir = |p: &Path| {
        std::fs::DirBuilder::new().mode(0o755).create(p).map_err(|e| format!("mkdir {}: {e}", p.display()))?;
        // The umask may have taken bits the check requires.
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("chmod {}: {e}", p.display()))
    };
    mkdir(tmp)?;
    for (n, major, minor) in devtpl::NODES {
        let p = tmp.join(n);
        mknod(&p, SFlag::S_IFCHR, Mode::from_bits_truncate(0o666), makedev((*major).into(), (*minor).into()))
            .map_err(|e| format!("mknod {}: {e}", p.display()))?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666))
            .map_err(|e| format!("chmod {}: {e}", p.display()))?;
    }
    for (n, link) in devtpl::LINKS {
        let p = tmp.join(n);
        std::os::unix::fs::symlink(link, &p).map_err(|e| format!("symlink {}: {e}", p.display()))?;
    }
    for n in devtpl::DIRS {
        mkdir(&tmp.join(n))?;
    }
    Ok(())
}
