//! `selfbox wrap`: a POSIX sh wrapper for packagers (`/usr/bin/foo` becomes the wrapper, the
//! real program moves to `/usr/lib/foo/`).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::{Refusal, launch, load, parse_args_with_switches, paths};

const HELP: &str = "\
Usage: selfbox wrap [--no-check] --policy POLICY --output WRAPPER PROGRAM

Writes WRAPPER, a POSIX sh script that runs PROGRAM (an absolute path) sandboxed under POLICY
through this selfbox's launcher, as `selfbox run --argv0 \"$0\"`: the program gets the
wrapper's name as argv[0] and every argument passed on.

Before writing, PROGRAM is judged as `selfbox run` judges it before every exec (static and
static-pie, setuid, setgid and file-capability executables, another program interpreter than
this system's loader, code before __libc_start_main such as DT_PREINIT_ARRAY or DT_AUDIT, no
__libc_start_main, another ELF class or machine than the library: refused with exit 125), and
POLICY is checked for it. The launcher judges the program again at every start, so a program
later replaced by a static or setuid one is refused rather than run unsandboxed.

  -p, --policy POLICY   a policy file (a path with a slash) or the name of a shipped policy
                        (default, strict, ...); not inline JSON
  -o, --output WRAPPER  the wrapper to write: written to a temporary file beside it, then
                        renamed over it (an existing WRAPPER is replaced, never half-written);
                        it must not be PROGRAM itself
  --no-check            write the wrapper without judging PROGRAM or checking POLICY for it,
                        for staged installs where they are not in place yet; the launcher
                        still checks both at every start

Environment: SELFBOX_LAUNCHER, when set, is the launcher path written into the wrapper instead
of this selfbox's own (e.g. /usr/bin/selfbox when wrapping from a build tree or a staging
directory). SELFBOX_LIB names the library the program is judged against, as for run.

Packaging example:
  mv /usr/bin/foo /usr/lib/foo/foo
  selfbox wrap --policy /usr/share/selfbox/policy/foo.json --output /usr/bin/foo /usr/lib/foo/foo";

/// Quotes for sh: single quotes, with embedded ones closed, escaped and reopened.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A path for a comment line: control characters (a newline would end the comment) shown as `?`.
fn printable(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

/// Whether `output` names the program itself: the same path once resolved, or the same file
/// (device and inode) under another name.
fn same_file(output: &Path, program: &Path) -> bool {
    if let (Ok(o), Ok(p)) = (output.canonicalize(), program.canonicalize()) {
        if o == p {
            return true;
        }
    }
    match (std::fs::metadata(output), std::fs::metadata(program)) {
        (Ok(o), Ok(p)) => (o.dev(), o.ino()) == (p.dev(), p.ino()),
        _ => false,
    }
}

pub fn main(args: &[String]) -> Result<(), Refusal> {
    let a = parse_args_with_switches(args, &["--policy", "-p", "--output", "-o"], &["--no-check"], false)?;
    if a.help {
        crate::print_out(HELP);
        return Ok(());
    }
    let (Some(policy), Some(output), [program]) =
        (a.get(&["--policy", "-p"]), a.get(&["--output", "-o"]), a.positional.as_slice())
    else {
        return Err(Refusal::usage("wrap needs --policy, --output and one PROGRAM; see selfbox wrap --help".into()));
    };
    let program = Path::new(program);
    if !program.is_absolute() {
        return Err(Refusal::usage(format!(
            "wrap: PROGRAM {} must be an absolute path (the wrapper runs from anywhere)",
            program.display()
        )));
    }
    let out = Path::new(output);
    if same_file(out, program) {
        return Err(Refusal::new(format!(
            "selfbox: wrap: the output {} is the program {} itself: the wrapper would replace it (move the program first, see selfbox wrap --help)",
            out.display(),
            program.display()
        )));
    }
    let layout = paths::discover();
    let policy_path = layout.policy_arg(policy).map_err(|m| Refusal::new(format!("selfbox: wrap: {m}")))?;
    if policy_path.trim_start().starts_with('{') {
        return Err(Refusal::new("selfbox: wrap: give the policy as a file, not inline JSON".into()));
    }
    if !a.has("--no-check") {
        // What `selfbox run` refuses at every start, refused now, while a packager is watching.
        let (_, lib) = launch::library("wrap", &layout.lib)?;
        let file = File::open(program).map_err(|e| {
            Refusal::new(format!(
                "selfbox: wrap: {}: {e} (for a staged install where it is not in place yet, add --no-check)",
                program.display()
            ))
        })?;
        launch::judge("wrap", program, &file, &lib, 0)?;
        load(&policy_path, program)?;
    }
    let launcher: PathBuf =
        std::env::var_os("SELFBOX_LAUNCHER").filter(|l| !l.is_empty()).map(PathBuf::from).unwrap_or(layout.launcher);
    let script = format!(
        "#!/bin/sh\n\
         # Runs {prog} sandboxed by selfbox under {pol}.\n\
         # Generated by `selfbox wrap`; change the policy, not this file.\n\
         exec {launcher} run --argv0 \"$0\" -p {qpol} -- {qprog} \"$@\"\n",
        prog = printable(&program.display().to_string()),
        pol = printable(&policy_path),
        launcher = sh_quote(&launcher.display().to_string()),
        qpol = sh_quote(&policy_path),
        qprog = sh_quote(&program.display().to_string()),
    );
    write_atomically(out, &script).map_err(|m| Refusal::new(format!("selfbox: wrap: {m}")))
}

/// Writes `text` to a new file (mode 0755) beside `out`, then renames it over `out`: a reader
/// sees the old file or the new one, never a partial one. The temporary file is removed on
/// failure.
fn write_atomically(out: &Path, text: &str) -> Result<(), String> {
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if out.file_name().is_none() {
        return Err(format!("{}: names no file", out.display()));
    }
    let mut n = 0u32;
    let (tmp, mut file) = loop {
        let tmp = dir.join(format!(".selfbox-wrap-{}-{n}", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).mode(0o755).open(&tmp) {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 100 => n += 1,
            Err(e) => return Err(format!("create {}: {e}", tmp.display())),
        }
    };
    let result = file
        .write_all(text.as_bytes())
        .map_err(|e| format!("write {}: {e}", tmp.display()))
        // The umask may have narrowed the mode asked for.
        .and_then(|()| {
            file.set_permissions(std::fs::Permissions::from_mode(0o755))
                .map_err(|e| format!("chmod {}: {e}", tmp.display()))
        })
        .and_then(|()| file.sync_all().map_err(|e| format!("fsync {}: {e}", tmp.display())))
        .and_then(|()| {
            std::fs::rename(&tmp, out).map_err(|e| format!("rename {} to {}: {e}", tmp.display(), out.display()))
        });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    #[test]
    fn quoting() {
        assert_eq!(super::sh_quote("/a b/c'd"), "'/a b/c'\\''d'");
    }
}
