//! `selfbox cache build`: compiles policies' seccomp filters into the directory the preload
//! reads them from (see the README's *Cache*), so that sandboxes start without libseccomp's
//! build. Run by scripts/install for the shipped policies, by packagers for theirs.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::cache_file::{self, Entry};
use crate::policy::{self, Context, Source};
use crate::{Args, Refusal, compile, parse_args, paths, print_out, real_root, vars_for};

const HELP: &str = "\
Usage: selfbox cache build [--dir DIR] [POLICY...]

Compiles the seccomp filter of each POLICY (default: every shipped policy) and stores it where
the preload finds it, so that a sandbox loads it instead of building it with libseccomp. A
POLICY is a file when it holds a slash (./app.json), otherwise the name of a shipped policy.
DIR defaults to the `filters` directory beside libselfbox.so.

The preload reads an entry only if the program could never have written it: DIR, every
directory above it and the entry must be owned by root and writable by root alone. Run this as
root, or in a package build whose files are installed as root.
Exit 0 when every policy named was stored, 125 otherwise.";

pub fn main(args: &[String]) -> Result<(), Refusal> {
    let a = parse_args(args, &["--dir"], false)?;
    if a.help || a.positional.is_empty() {
        if a.help {
            print_out(HELP);
            return Ok(());
        }
        return Err(Refusal::usage("cache takes a command: build; see selfbox cache --help".into()));
    }
    match a.positional[0].as_str() {
        "build" => build(&a, &a.positional[1..]),
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
