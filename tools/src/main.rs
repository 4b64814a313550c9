//! `selfbox`: run a program sandboxed (checking first what LD_PRELOAD cannot protect), check and
//! explain policies, and write wrappers for packagers.
//!
//! The policy parser, the mount plan and the filter compiler are the preload's own source files,
//! compiled into this binary by path, so `check` says exactly what the preload would say. The
//! preload library itself is never linked: its exported `__libc_start_main` would hook this tool.

#[path = "../../src/policy/mod.rs"]
#[allow(dead_code)]
mod policy;

#[path = "../../src/mount/plan.rs"]
#[allow(dead_code)]
mod plan;

#[path = "../../src/seccomp/compile.rs"]
#[allow(dead_code)]
mod compile;

#[path = "../../src/seccomp/cache_file.rs"]
#[allow(dead_code)]
mod cache_file;

#[path = "../../src/mount/devtpl.rs"]
mod devtpl;

mod cache;
mod elf;
mod explain;
mod launch;
mod paths;
mod resolved;
mod sys;
mod wrap;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use policy::{Context, Policy, Source, Vars};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Exit code of every refusal, as the preload's.
pub const REFUSED: u8 = 125;

const HELP: &str = "\
selfbox - run unmodified programs in a sandbox they build themselves

Usage:
  selfbox run [-p POLICY] [--log LEVEL] [--] PROGRAM [ARGS...]
  selfbox check [--program PROGRAM] POLICY
  selfbox explain [--program PROGRAM] POLICY
  selfbox wrap --policy POLICY --output WRAPPER PROGRAM
  selfbox cache build [--dir DIR] [POLICY...]
  selfbox cache dev [--dir DIR]
  selfbox --help | --version

POLICY is a file when it holds a slash (./app.json, /etc/app.json), inline JSON when it starts
with {, and otherwise the name of a shipped policy (default, strict, network, ...), even if a file
of that name is in the current directory: write ./NAME for that file.
`selfbox COMMAND --help` describes each command. Exit code 125: selfbox refused.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        eprintln!("{HELP}");
        return ExitCode::from(2);
    };
    let rest = &args[1..];
    let result = match cmd.as_str() {
        "run" => launch::main(rest),
        "check" => check(rest),
        "explain" => explain::main(rest),
        "wrap" => wrap::main(rest),
        "cache" => cache::main(rest),
        "-h" | "--help" | "help" => {
            print_out(HELP);
            Ok(())
        }
        "-V" | "--version" | "version" => {
            print_out(&format!("selfbox {VERSION}"));
            Ok(())
        }
        other => Err(Refusal::usage(format!("unknown command \"{other}\"; try selfbox --help"))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(r) => {
            eprintln!("{}", r.line);
            ExitCode::from(r.code)
        }
    }
}

/// One line on stderr and an exit code.
pub struct Refusal {
    pub line: String,
    pub code: u8,
}

impl Refusal {
    pub fn new(line: String) -> Refusal {
        Refusal { line, code: REFUSED }
    }
    pub fn usage(msg: String) -> Refusal {
        Refusal { line: format!("selfbox: {msg}"), code: 2 }
    }
}

/// Options shared by the commands: `--flag value`, `--switch`, `-h`, and the positional rest.
pub struct Args {
    pub flags: Vec<(String, String)>,
    pub switches: Vec<String>,
    pub positional: Vec<String>,
    pub help: bool,
}

/// Parses `args` given the flags that take a value; everything after `--` (or the first
/// positional argument when `stop_at_positional`) is positional.
pub fn parse_args(args: &[String], with_value: &[&str], stop_at_positional: bool) -> Result<Args, Refusal> {
    parse_args_with_switches(args, with_value, &[], stop_at_positional)
}

/// As [`parse_args`], also accepting the `switches` (options without a value).
pub fn parse_args_with_switches(
    args: &[String],
    with_value: &[&str],
    switches: &[&str],
    stop_at_positional: bool,
) -> Result<Args, Refusal> {
    let mut out = Args { flags: Vec::new(), switches: Vec::new(), positional: Vec::new(), help: false };
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            out.positional.extend(args[i + 1..].iter().cloned());
            break;
        }
        if a == "-h" || a == "--help" {
            out.help = true;
        } else if switches.contains(&a.as_str()) {
            out.switches.push(a.clone());
        } else if let Some((k, v)) = a.split_once('=').filter(|(k, _)| k.starts_with("--")) {
            if !with_value.contains(&k) {
                return Err(Refusal::usage(format!("unknown option {k}")));
            }
            out.flags.push((k.to_owned(), v.to_owned()));
        } else if with_value.contains(&a.as_str()) {
            let v = args.get(i + 1).ok_or_else(|| Refusal::usage(format!("{a} needs a value")))?;
            out.flags.push((a.clone(), v.clone()));
            i += 1;
        } else if a.starts_with('-') && a.len() > 1 {
            return Err(Refusal::usage(format!("unknown option {a}")));
        } else if stop_at_positional {
            out.positional.extend(args[i..].iter().cloned());
            break;
        } else {
            out.positional.push(a.clone());
        }
        i += 1;
    }
    Ok(out)
}

impl Args {
    pub fn has(&self, switch: &str) -> bool {
        self.switches.iter().any(|s| s == switch)
    }

    pub fn get(&self, names: &[&str]) -> Option<&str> {
        self.flags.iter().rev().find(|(k, _)| names.contains(&k.as_str())).map(|(_, v)| v.as_str())
    }
}

/// Prints to stdout; a reader that went away (`| head`) is not an error.
pub fn print_out(text: &str) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(text.as_bytes()).and_then(|_| if text.ends_with('\n') { Ok(()) } else { o.write_all(b"\n") });
}

/// The variables as the preload would see them for `program` started from here: computed as
/// `Caller::capture` (src/caller.rs) computes them. HOME and USER come from the environment
/// (when set and not empty), /etc/passwd only when it does not say; TMPDIR defaults to /tmp;
/// an absolute SELFBOX_EXE names the executable, else the program's resolved path does (the
/// preload reads /proc/self/exe, which is the resolved path).
pub fn vars_for(program: &Path) -> Vars {
    let uid = nix::unistd::getuid().as_raw();
    let gid = nix::unistd::getgid().as_raw();
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(|v| v.to_string_lossy().into_owned());
    let exe = || {
        let resolved = program.canonicalize().or_else(|_| std::path::absolute(program));
        resolved.unwrap_or_else(|_| program.to_path_buf()).display().to_string()
    };
    let cwd = std::fs::read_link("/proc/self/cwd")
        .or_else(|_| std::env::current_dir())
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    Vars::gather(uid, gid, cwd, exe, var)
}

/// The program named by `--program` of check and explain, found as `selfbox run` finds it
/// (a name without a slash is looked up in PATH); /usr/bin/true when none is given.
pub fn program_arg(cmd: &str, a: &Args) -> Result<PathBuf, Refusal> {
    match a.get(&["--program"]) {
        Some(p) => launch::find_program(cmd, p),
        None => Ok(PathBuf::from("/usr/bin/true")),
    }
}

/// Real root: uid 0 in the initial user namespace (root inside a user namespace is not).
pub fn real_root() -> bool {
    nix::unistd::getuid().is_root()
        && std::fs::read_to_string("/proc/self/uid_map")
            .is_ok_and(|m| m.lines().any(|l| l.split_whitespace().eq(["0", "0", "4294967295"])))
}

/// A policy resolved exactly as the preload resolves it (step 3): parsed, extended, validated,
/// its mounts planned and its filter built.
pub struct Loaded {
    pub policy: Policy,
    /// Whether the caller (this process) is real root: it decides run_as.
    pub real_root: bool,
    pub plan: plan::Plan,
    pub filter: Option<compile::Filter>,
}

pub fn load(policy_arg: &str, program: &Path) -> Result<Loaded, Refusal> {
    let layout = paths::discover();
    let text = layout.policy_arg(policy_arg).map_err(|m| Refusal::new(format!("selfbox: policy: {m}")))?;
    let source =
        if text.trim_start().starts_with('{') { Source::Inline(text) } else { Source::File(PathBuf::from(text)) };
    let real_root = real_root();
    let ctx = Context { vars: vars_for(program), search_dirs: layout.policy_dirs(), real_root };
    let policy_line = |e: policy::PolicyError| {
        let mut line = format!("selfbox: policy: {e}");
        if let Some(h) = e.hint() {
            line.push_str(&format!(" ({h})"));
        }
        Refusal::new(line)
    };
    let policy = policy::load(&source, &ctx).map_err(policy_line)?;
    let plan = plan::plan(&policy, &plan::RealHost).map_err(policy_line)?;
    let filter = match &policy.seccomp {
        Some(s) => Some(compile::compile(s).map_err(|e| {
            let mut line = format!("selfbox: seccomp: {}: {}", e.call, policy::values::errno_name(e.errno));
            if let Some(h) = e.hint {
                line.push_str(&format!(" ({h})"));
            }
            Refusal::new(line)
        })?),
        None => None,
    };
    Ok(Loaded { policy, real_root, plan, filter })
}

const CHECK_HELP: &str = "\
Usage: selfbox check [--program PROGRAM] POLICY

Validates POLICY with the preload's own code (same parser, same messages, errors naming the JSON
path of the bad value), then prints the resolved policy: after `extends`, with every variable
expanded, defaults filled in, bind sources resolved on this host and syscall groups expanded.
Variables such as ${EXE_DIR} are resolved for PROGRAM (default: /usr/bin/true), found as
`selfbox run` finds it (a name without a slash is looked up in PATH), and from this environment
as the preload reads it (HOME, USER, TMPDIR, SELFBOX_EXE). POLICY is a file when it holds a
slash (./app.json), inline JSON when it starts with {, and otherwise the name of a shipped
policy (default, strict, ...), even if a file of that name is in the current directory.
Exit 0 when the policy is valid, 125 when it is not.";

fn check(args: &[String]) -> Result<(), Refusal> {
    let a = parse_args(args, &["--program"], false)?;
    if a.help {
        print_out(CHECK_HELP);
        return Ok(());
    }
    let [policy_arg] = a.positional.as_slice() else {
        return Err(Refusal::usage("check takes one POLICY; see selfbox check --help".into()));
    };
    let program = program_arg("check", &a)?;
    let loaded = load(policy_arg, &program)?;
    print_out(&resolved::pretty(&resolved::to_json(&loaded)));
    Ok(())
}
