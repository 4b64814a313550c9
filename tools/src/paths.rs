//! Where the library and the shipped policies are, relative to this tool: installed as
//! `PREFIX/bin/selfbox` beside `PREFIX/lib/selfbox/libselfbox.so`, or in a build tree as
//! `target/PROFILE/selfbox` beside `target/PROFILE/libselfbox.so`.

use std::path::{Path, PathBuf};

use crate::policy;

pub struct Layout {
    pub lib: PathBuf,
    pub launcher: PathBuf,
}

pub fn discover() -> Layout {
    let launcher = std::env::current_exe().and_then(|p| p.canonicalize()).unwrap_or_else(|_| PathBuf::from("selfbox"));
    let dir = launcher.parent().unwrap_or(Path::new("/")).to_path_buf();
    let lib = match std::env::var_os("SELFBOX_LIB") {
        Some(l) => PathBuf::from(l),
        None => {
            let installed = dir.join("../lib/selfbox/libselfbox.so");
            let built = dir.join("libselfbox.so");
            if installed.exists() { installed.canonicalize().unwrap_or(installed) } else { built }
        }
    };
    Layout { lib, launcher }
}

impl Layout {
    /// The directories `"extends": "name"` searches, exactly as the preload computes them.
    pub fn policy_dirs(&self) -> Vec<PathBuf> {
        policy::installed_dirs(&self.lib)
    }

    /// A policy given on the command line: a path, inline JSON, or the name of a shipped one
    /// (`default`, `strict`, ...).
    pub fn policy_arg(&self, p: &str) -> Result<String, String> {
        if p.trim_start().starts_with('{') {
            return Ok(p.to_owned());
        }
        let path = Path::new(p);
        if path.exists() || p.contains('/') {
            // A missing file is reported by the policy loader, in the preload's own words.
            return Ok(std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()).display().to_string());
        }
        let file = if p.ends_with(".json") { p.to_owned() } else { format!("{p}.json") };
        for d in self.policy_dirs() {
            let c = d.join(&file);
            if c.is_file() {
                return Ok(c.display().to_string());
            }
        }
        Err(format!(
            "no policy file {p} and no shipped policy named {p} (looked in: {})",
            dirs_text(&self.policy_dirs())
        ))
    }
}

fn dirs_text(d: &[PathBuf]) -> String {
    if d.is_empty() {
        return "no policy directory found".into();
    }
    d.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}
