//! `selfbox run`: refuse what LD_PRELOAD would silently leave unsandboxed, then exec the
//! program with the preload and the policy.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use crate::elf::{self, Exe, machine_name};
use crate::{Refusal, parse_args, paths};

const HELP: &str = "\
Usage: selfbox run [-p POLICY] [--log LEVEL] [--] PROGRAM [ARGS...]

Runs PROGRAM under POLICY (default: the shipped `default` policy) by putting libselfbox.so in
LD_PRELOAD. Before that it refuses, with exit 125 and one line, every program the preload could
not protect: static and static-pie executables (no loader reads LD_PRELOAD), setuid and setgid
executables and those with file capabilities (the loader ignores LD_PRELOAD for them),
executables whose entry point never calls __libc_start_main, and executables of another ELF
class or machine than the library. A #! script is judged by its interpreter.

  -p, --policy POLICY   a policy file, inline JSON, or a shipped policy's name
  --log LEVEL           SELFBOX_LOG for this run: error, info or debug

For a #! script, ${EXE} and ${EXE_DIR} of the policy name the script (SELFBOX_EXE).
Environment: SELFBOX_LIB overrides the library path; SELFBOX_STATUS_FD is passed through.";

pub fn main(args: &[String]) -> Result<(), Refusal> {
    let a = parse_args(args, &["-p", "--policy", "--log"], true)?;
    if a.help {
        crate::print_out(HELP);
        return Ok(());
    }
    let Some((program, rest)) = a.positional.split_first() else {
        return Err(Refusal::usage("run needs a PROGRAM; see selfbox run --help".into()));
    };
    let layout = paths::discover();
    let lib = library(&layout.lib)?;
    let policy = layout
        .policy_arg(a.get(&["-p", "--policy"]).unwrap_or("default"))
        .map_err(|m| Refusal::new(format!("selfbox: run: {m}")))?;
    let path = find_program(program)?;
    let script = judge(&path, &lib, 0)?;
    let mut preload = layout.lib.display().to_string();
    if let Some(old) = std::env::var_os("LD_PRELOAD").filter(|o| !o.is_empty()) {
        preload.push(' ');
        preload.push_str(&old.to_string_lossy());
    }
    let mut cmd = std::process::Command::new(&path);
    cmd.arg0(program).args(rest).env("LD_PRELOAD", preload).env("SELFBOX_POLICY", policy).env_remove("POLICY");
    if let Some(level) = a.get(&["--log"]) {
        cmd.env("SELFBOX_LOG", level);
    }
    // For a script the process's executable is the interpreter; ${EXE} and ${EXE_DIR} should
    // name the script, so that the default policy makes its directory visible.
    match script {
        Some(_) => cmd.env("SELFBOX_EXE", path.canonicalize().unwrap_or_else(|_| path.clone())),
        None => cmd.env_remove("SELFBOX_EXE"),
    };
    let err = cmd.exec();
    Err(Refusal::new(format!("selfbox: run: execve({}): {err}", path.display())))
}

/// The library's own ELF header, which every program must match.
fn library(lib: &Path) -> Result<elf::Elf, Refusal> {
    let refuse = |why: String| {
        Refusal::new(format!(
            "selfbox: run: the library {}: {why} (build it with `cargo build --release`, install it, or set SELFBOX_LIB)",
            lib.display()
        ))
    };
    match elf::inspect(lib) {
        // The loader ignores, with one warning, an object it cannot preload and runs the program
        // unsandboxed (PITFALLS 12): only the real library, recognised by its marker, will do.
        Ok(Exe::Elf(e)) if e.interp.is_none() && e.selfbox_marker => Ok(e),
        Ok(Exe::Elf(_)) => Err(refuse("is not libselfbox.so (no selfbox marker)".into())),
        Ok(_) => Err(refuse("not an ELF file".into())),
        Err(e) => Err(refuse(e.to_string())),
    }
}

fn find_program(p: &str) -> Result<PathBuf, Refusal> {
    if p.contains('/') {
        return Ok(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    for dir in std::env::split_paths(&path) {
        let c = dir.join(p);
        if c.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0) {
            return Ok(c);
        }
    }
    Err(Refusal::new(format!("selfbox: run: {p}: not found in PATH")))
}

/// Refuses what LD_PRELOAD cannot protect (PITFALLS 9-12). For a `#!` script, returns its
/// interpreter.
fn judge(path: &Path, lib: &elf::Elf, depth: u32) -> Result<Option<PathBuf>, Refusal> {
    let name = path.display();
    let refuse = |what: String, hint: &str| Refusal::new(format!("selfbox: run: {name} {what} ({hint})"));
    let meta = std::fs::metadata(path).map_err(|e| Refusal::new(format!("selfbox: run: {name}: {e}")))?;
    let exe = elf::inspect(path).map_err(|e| Refusal::new(format!("selfbox: run: {name}: {e}")))?;
    match exe {
        Exe::Script { interp, .. } => {
            if depth >= 4 {
                return Err(refuse("nests #! interpreters too deeply".into(), "the kernel stops at 4"));
            }
            if interp.is_empty() {
                return Err(refuse("has an empty #! line".into(), "nothing to run"));
            }
            judge(Path::new(&interp), lib, depth + 1)
                .map_err(|r| Refusal { line: format!("{} (interpreter of {name})", r.line), code: r.code })?;
            Ok(Some(PathBuf::from(interp)))
        }
        Exe::Other => {
            Err(refuse("is not an ELF executable or a #! script".into(), "nothing for the loader to preload into"))
        }
        Exe::Elf(e) => {
            if meta.permissions().mode() & 0o4000 != 0 {
                return Err(refuse(
                    "is setuid".into(),
                    "the loader ignores LD_PRELOAD in secure-execution mode; it would run unsandboxed",
                ));
            }
            if meta.permissions().mode() & 0o2000 != 0 {
                return Err(refuse(
                    "is setgid".into(),
                    "the loader ignores LD_PRELOAD in secure-execution mode; it would run unsandboxed",
                ));
            }
            if crate::sys::has_file_caps(path) {
                return Err(refuse(
                    "has file capabilities".into(),
                    "the loader ignores LD_PRELOAD in secure-execution mode; it would run unsandboxed",
                ));
            }
            if (e.class64, e.machine, e.little) != (lib.class64, lib.machine, lib.little) {
                let desc =
                    |x: &elf::Elf| format!("{} {}", if x.class64 { "ELF64" } else { "ELF32" }, machine_name(x.machine));
                return Err(refuse(
                    format!("is {} but the library is {}", desc(&e), desc(lib)),
                    "the loader would skip the library and run the program unsandboxed",
                ));
            }
            if e.interp.is_none() {
                return Err(refuse(
                    "is statically linked (no program interpreter)".into(),
                    "no loader reads LD_PRELOAD for it; selfbox cannot sandbox static programs",
                ));
            }
            if e.imports_start_main == Some(false) {
                return Err(refuse(
                    "does not call __libc_start_main (its own entry point)".into(),
                    "the sandbox would never be built",
                ));
            }
            Ok(None)
        }
    }
}
