//! `selfbox run`: refuse what LD_PRELOAD would silently leave unsandboxed, then exec the
//! program with the preload and the policy.

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::elf::{self, Exe, machine_name};
use crate::{Refusal, parse_args, paths};

const HELP: &str = "\
Usage: selfbox run [-p POLICY] [--log LEVEL] [--argv0 NAME] [--] PROGRAM [ARGS...]

Runs PROGRAM under POLICY (default: the shipped `default` policy) by putting libselfbox.so in
LD_PRELOAD. Before that it refuses, with exit 125 and one line, every program the preload could
not protect: static and static-pie executables (no loader reads LD_PRELOAD), setuid and setgid
executables and those with file capabilities (the loader ignores LD_PRELOAD for them),
executables whose program interpreter is not this system's loader, executables that run code
before __libc_start_main (DT_PREINIT_ARRAY, DT_AUDIT) or never import it, and executables of
another ELF class or machine than the library. A #! script is judged by its interpreter. An ELF
program is executed through the very descriptor that was checked.

  -p, --policy POLICY   a policy file (a path with a slash: ./app.json), inline JSON
                        (starting with {), or else the name of a shipped policy (default,
                        strict, network, ...), even if a file of that name is in the current
                        directory (write ./NAME for the file)
  --log LEVEL           SELFBOX_LOG for this run: error, info or debug
  --argv0 NAME          the program's argv[0] (default: PROGRAM as given)

For a #! script, ${EXE} and ${EXE_DIR} of the policy name the script (SELFBOX_EXE).
Environment: SELFBOX_LIB overrides the library path; SELFBOX_STATUS_FD is passed through.";

pub fn main(args: &[String]) -> Result<(), Refusal> {
    let a = parse_args(args, &["-p", "--policy", "--log", "--argv0"], true)?;
    if a.help {
        crate::print_out(HELP);
        return Ok(());
    }
    let Some((program, rest)) = a.positional.split_first() else {
        return Err(Refusal::usage("run needs a PROGRAM; see selfbox run --help".into()));
    };
    if let Some(level) = a.get(&["--log"]).filter(|l| !matches!(*l, "error" | "info" | "debug")) {
        return Err(Refusal::usage(format!("--log {level}: one of error, info, debug")));
    }
    let layout = paths::discover();
    let (lib_path, lib) = library("run", &layout.lib)?;
    let policy = layout
        .policy_arg(a.get(&["-p", "--policy"]).unwrap_or("default"))
        .map_err(|m| Refusal::new(format!("selfbox: run: {m}")))?;
    let path = find_program("run", program)?;
    let file = File::open(&path).map_err(|e| Refusal::new(format!("selfbox: run: {}: {e}", path.display())))?;
    let script = judge("run", &path, &file, &lib, 0)?;
    let mut preload = lib_path.into_os_string();
    if let Some(old) = std::env::var_os("LD_PRELOAD").filter(|o| !o.is_empty()) {
        preload.push(" ");
        preload.push(old);
    }
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(k, _)| !matches!(k.to_str(), Some("LD_PRELOAD" | "SELFBOX_POLICY" | "POLICY" | "SELFBOX_EXE")))
        .collect();
    env.push(("LD_PRELOAD".into(), preload));
    env.push(("SELFBOX_POLICY".into(), policy.into()));
    if let Some(level) = a.get(&["--log"]) {
        env.retain(|(k, _)| k != "SELFBOX_LOG");
        env.push(("SELFBOX_LOG".into(), level.into()));
    }
    if script.is_some() {
        // The process's executable is the interpreter; ${EXE} and ${EXE_DIR} should name the
        // script, so that the default policy makes its directory visible.
        env.push(("SELFBOX_EXE".into(), path.canonicalize().unwrap_or_else(|_| path.clone()).into()));
    }
    let argv0 = a.get(&["--argv0"]).unwrap_or(program);
    let argv = cstrings(std::iter::once(OsStr::new(argv0)).chain(rest.iter().map(OsStr::new)));
    let envp = cstrings(env.iter().map(|(k, v)| {
        let mut kv = k.clone();
        kv.push("=");
        kv.push(v);
        kv
    }));
    let err = match script {
        // A script is executed by its path: the interpreter needs a name to open.
        Some(_) => {
            let p = cstrings([path.as_os_str()]).remove(0);
            nix::unistd::execve(&p, &argv, &envp).unwrap_err()
        }
        // Exactly the file that was checked, whatever happened to its path since.
        None => nix::unistd::execveat(&file, c"", &argv, &envp, nix::fcntl::AtFlags::AT_EMPTY_PATH).unwrap_err(),
    };
    Err(Refusal::new(format!("selfbox: run: execve({}): {}", path.display(), std::io::Error::from(err))))
}

fn cstrings<S: AsRef<OsStr>>(items: impl IntoIterator<Item = S>) -> Vec<CString> {
    // A NUL cannot reach here from argv or the environment.
    items.into_iter().map(|s| CString::new(s.as_ref().as_bytes()).unwrap_or_default()).collect()
}

/// The library, checked as ld.so will take it: an absolute path without the characters that
/// split LD_PRELOAD, on a filesystem that allows executing it, marked as libselfbox.so. The
/// loader ignores, with one warning, an object it cannot preload and runs the program
/// unsandboxed (PITFALLS 12). `cmd` names the command in messages.
pub fn library(cmd: &str, lib: &Path) -> Result<(PathBuf, elf::Elf), Refusal> {
    let refuse = |why: String| {
        Refusal::new(format!(
            "selfbox: {cmd}: the library {}: {why} (build it with `cargo build --release`, install it, or set SELFBOX_LIB)",
            lib.display()
        ))
    };
    let canon = lib.canonicalize().map_err(|e| refuse(e.to_string()))?;
    let text = canon.as_os_str().as_bytes();
    if text.iter().any(|b| matches!(b, b' ' | b'\t' | b':' | b'$' | b'\n')) {
        return Err(refuse(format!(
            "its path {} holds a space, colon or $, which LD_PRELOAD cannot carry; install it elsewhere",
            canon.display()
        )));
    }
    let vfs = nix::sys::statvfs::statvfs(&canon).map_err(|e| refuse(std::io::Error::from(e).to_string()))?;
    if vfs.flags().contains(nix::sys::statvfs::FsFlags::ST_NOEXEC) {
        return Err(refuse("lies on a noexec filesystem, from which the loader cannot map it".into()));
    }
    let file = File::open(&canon).map_err(|e| refuse(e.to_string()))?;
    match elf::inspect(&file) {
        Ok(Exe::Elf(e)) if e.interp.is_none() && e.selfbox_marker => Ok((canon, e)),
        Ok(Exe::Elf(_)) => Err(refuse("is not libselfbox.so (no selfbox marker)".into())),
        Ok(_) => Err(refuse("not an ELF file".into())),
        Err(e) => Err(refuse(e.to_string())),
    }
}

/// The program as execvp(3) would find it: a name with a slash as is, else the first
/// executable match in PATH (default /bin:/usr/bin; an empty element is the current directory).
/// `cmd` names the command in messages.
pub fn find_program(cmd: &str, p: &str) -> Result<PathBuf, Refusal> {
    if p.is_empty() {
        return Err(Refusal::usage(format!("{cmd}: the PROGRAM is an empty string")));
    }
    if p.contains('/') {
        return Ok(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/bin:/usr/bin".into());
    for dir in std::env::split_paths(&path) {
        let dir = if dir.as_os_str().is_empty() { PathBuf::from(".") } else { dir };
        let c = dir.join(p);
        let executable = nix::unistd::access(&c, nix::unistd::AccessFlags::X_OK).is_ok();
        if executable && c.metadata().is_ok_and(|m| m.is_file()) {
            return Ok(c);
        }
    }
    Err(Refusal::new(format!("selfbox: {cmd}: {p}: not found in PATH")))
}

/// This system's program interpreter: the one this tool itself was loaded by.
fn system_loader() -> Option<PathBuf> {
    let me = File::open("/proc/self/exe").ok()?;
    match elf::inspect(&me).ok()? {
        Exe::Elf(e) => e.interp.map(PathBuf::from).and_then(|p| p.canonicalize().ok()),
        _ => None,
    }
}

/// Refuses what LD_PRELOAD cannot protect (PITFALLS 9-12), judging the open `file`. For a `#!`
/// script, returns its interpreter. `cmd` names the command in messages.
pub fn judge(cmd: &str, path: &Path, file: &File, lib: &elf::Elf, depth: u32) -> Result<Option<PathBuf>, Refusal> {
    let name = path.display();
    let refuse = |what: String, hint: &str| Refusal::new(format!("selfbox: {cmd}: {name} {what} ({hint})"));
    let io = |e: std::io::Error| Refusal::new(format!("selfbox: {cmd}: {name}: {e}"));
    let meta = file.metadata().map_err(io)?;
    let secure_exec = "the loader ignores LD_PRELOAD in secure-execution mode; it would run unsandboxed";
    if meta.permissions().mode() & 0o4000 != 0 && meta.is_file() {
        return Err(refuse("is setuid".into(), secure_exec));
    }
    if meta.permissions().mode() & 0o2010 == 0o2010 {
        return Err(refuse("is setgid".into(), secure_exec));
    }
    match elf::inspect(file).map_err(io)? {
        Exe::Script { interp, .. } => {
            if depth >= 4 {
                return Err(refuse("nests #! interpreters too deeply".into(), "the kernel stops at 4"));
            }
            if interp.is_empty() {
                return Err(refuse("has an empty #! line".into(), "nothing to run"));
            }
            let ipath = PathBuf::from(&interp);
            let ifile = File::open(&ipath).map_err(|e| {
                Refusal::new(format!("selfbox: {cmd}: {}: {e} (interpreter of {name})", ipath.display()))
            })?;
            judge(cmd, &ipath, &ifile, lib, depth + 1)
                .map_err(|r| Refusal { line: format!("{} (interpreter of {name})", r.line), code: r.code })?;
            Ok(Some(ipath))
        }
        Exe::Other => {
            Err(refuse("is not an ELF executable or a #! script".into(), "nothing for the loader to preload into"))
        }
        Exe::Elf(e) => {
            if crate::sys::has_file_caps(file) {
                return Err(refuse("has file capabilities".into(), secure_exec));
            }
            if (e.class64, e.machine, e.little) != (lib.class64, lib.machine, lib.little) {
                let desc =
                    |x: &elf::Elf| format!("{} {}", if x.class64 { "ELF64" } else { "ELF32" }, machine_name(x.machine));
                return Err(refuse(
                    format!("is {} but the library is {}", desc(&e), desc(lib)),
                    "the loader would skip the library and run the program unsandboxed",
                ));
            }
            let Some(interp) = &e.interp else {
                return Err(refuse(
                    "is statically linked (no program interpreter)".into(),
                    "no loader reads LD_PRELOAD for it; selfbox cannot sandbox static programs",
                ));
            };
            let interp = Path::new(interp);
            if interp.canonicalize().ok() != system_loader() {
                return Err(refuse(
                    format!("asks for the program interpreter {}, not this system's loader", interp.display()),
                    "only the system's loader is known to honour LD_PRELOAD",
                ));
            }
            if let Some(what) = e.early_code.first() {
                return Err(refuse(
                    format!("runs code before __libc_start_main ({what})"),
                    "that code would run outside the sandbox",
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
