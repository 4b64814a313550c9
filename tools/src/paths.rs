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
    /// The directories `"extends": "name"` searches, exactly as the preload computes them; only
    /// those that exist.
    pub fn policy_dirs(&self) -> Vec<PathBuf> {
        policy::installed_dirs(&self.lib).into_iter().filter(|d| d.is_dir()).collect()
    }

    /// A policy given on the command line: inline JSON (starting with `{`), a file path (it holds
    /// a `/`: `./app.json`, `/etc/app.json`), or else the name of a shipped policy (`default`,
    /// `strict`, `default.json`, ...), even when a file of that name is in the current directory.
    pub fn policy_arg(&self, p: &str) -> Result<String, String> {
        if p.trim_start().starts_with('{') {
            return Ok(p.to_owned());
        }
        if p.contains('/') {
            // A missing file is reported by the policy loader, in the preload's own words.
            let path = Path::new(p);
            return Ok(std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()).display().to_string());
        }
        if p.is_empty() {
            return Err("an empty POLICY names no policy".into());
        }
        let file = if p.ends_with(".json") { p.to_owned() } else { format!("{p}.json") };
        let dirs = self.policy_dirs();
        for d in &dirs {
            let c = d.join(&file);
            if c.is_file() {
                return Ok(c.display().to_string());
            }
        }
        Err(format!(
            "no shipped policy named {p} (looked in: {}) (for a file in this directory, write ./{p})",
            dirs_text(&dirs)
        ))
    }
}

fn dirs_text(d: &[PathBuf]) -> String {
    if d.is_empty() {
        return "no policy directory found".into();
    }
    d.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}
