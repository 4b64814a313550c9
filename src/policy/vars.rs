//! `${NAME}` expansion in paths and `env.set` values.

use super::PolicyError;
use super::json::{Ptr, suggest};

/// What the variables stand for in this start of the program.
#[derive(Clone, Debug, Default)]
pub struct Vars {
    /// `HOME` from the environment; else from `/etc/passwd` (see `home`).
    pub home: Option<String>,
    pub cwd: String,
    pub exe: String,
    pub exe_dir: String,
    pub uid: u32,
    pub gid: u32,
    /// `USER` from the environment; else from `/etc/passwd` (see `user`).
    pub user: Option<String>,
    pub tmpdir: String,
    /// The uid's `/etc/passwd` entry (name, home), read on first use: only a policy that names
    /// `${HOME}` or `${USER}` while the environment lacks them pays for the file.
    pub(crate) passwd: std::cell::OnceCell<Option<(String, String)>>,
}

impl Vars {
    /// The variables for a start by `uid`/`gid` in `cwd`. `var` reads the caller's environment
    /// (unset when empty): `SELFBOX_EXE` (when absolute) names the program instead of `exe`,
    /// `HOME` and `USER` come from it before `/etc/passwd` (a file read per start), `TMPDIR`
    /// defaults to `/tmp`. One function for the preload and the tools, so both see the same.
    pub fn gather(
        uid: u32,
        gid: u32,
        cwd: String,
        exe: impl FnOnce() -> String,
        var: impl Fn(&str) -> Option<String>,
    ) -> Vars {
        let exe = var("SELFBOX_EXE").filter(|v| v.starts_with('/')).unwrap_or_else(exe);
        let exe_dir = std::path::Path::new(&exe).parent().map_or_else(|| "/".into(), |p| p.display().to_string());
        Vars {
            home: var("HOME"),
            cwd,
            exe,
            exe_dir,
            uid,
            gid,
            user: var("USER"),
            tmpdir: var("TMPDIR").unwrap_or_else(|| "/tmp".into()),
            passwd: std::cell::OnceCell::new(),
        }
    }

    fn passwd(&self) -> Option<&(String, String)> {
        self.passwd.get_or_init(|| super::passwd_by_uid(self.uid)).as_ref()
    }

    /// `${HOME}`: the environment's, the uid's home in `/etc/passwd`, or `/`.
    pub fn home(&self) -> String {
        self.home.clone().or_else(|| self.passwd().map(|p| p.1.clone())).unwrap_or_else(|| "/".into())
    }

    /// `${USER}`: the environment's, the uid's name in `/etc/passwd`, or the uid.
    pub fn user(&self) -> String {
        self.user.clone().or_else(|| self.passwd().map(|p| p.0.clone())).unwrap_or_else(|| self.uid.to_string())
    }
}

pub const NAMES: &[&str] = &["HOME", "CWD", "EXE", "EXE_DIR", "UID", "GID", "USER", "POLICY_DIR", "TMPDIR"];

/// Expands every `${NAME}`; `$${` is a literal `${`. `policy_dir` is `None` for inline JSON.
pub fn expand(s: &str, ptr: &Ptr, vars: &Vars, policy_dir: Option<&str>) -> Result<String, PolicyError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix("${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('{') {
            let end = tail.find('}').ok_or_else(|| PolicyError::at(ptr, format!("unterminated \"${{\" in \"{s}\"")))?;
            let name = &tail[..end];
            out.push_str(&value(name, ptr, vars, policy_dir)?);
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn value(name: &str, ptr: &Ptr, v: &Vars, policy_dir: Option<&str>) -> Result<String, PolicyError> {
    Ok(match name {
        "HOME" => v.home(),
        "CWD" => v.cwd.clone(),
        "EXE" => v.exe.clone(),
        "EXE_DIR" => v.exe_dir.clone(),
        "UID" => v.uid.to_string(),
        "GID" => v.gid.to_string(),
        "USER" => v.user(),
        "TMPDIR" => v.tmpdir.clone(),
        "POLICY_DIR" => policy_dir
            .ok_or_else(|| PolicyError::at(ptr, "${POLICY_DIR} has no value in an inline policy".to_owned()))?
            .to_owned(),
        _ => {
            let mut msg = format!("unknown variable ${{{name}}}");
            match suggest(name, NAMES) {
                Some(s) => msg.push_str(&format!("; did you mean ${{{s}}}?")),
                None => msg.push_str(&format!("; known: {}", NAMES.join(", "))),
            }
            return Err(PolicyError::at(ptr, msg));
        }
    })
}

#[cfg(all(test, not(selfbox_tools)))]
mod tests {
    use super::*;

    fn vars() -> Vars {
        Vars {
            home: Some("/home/u".into()),
            cwd: "/src".into(),
            exe: "/opt/app/bin/app".into(),
            exe_dir: "/opt/app/bin".into(),
            uid: 1000,
            gid: 100,
            user: Some("u".into()),
            tmpdir: "/tmp".into(),
            ..Vars::default()
        }
    }

    #[test]
    fn expands_known_variables() {
        let p = Ptr::root();
        let v = vars();
        assert_eq!(expand("${HOME}/x", &p, &v, None).unwrap(), "/home/u/x");
        assert_eq!(expand("${EXE_DIR}:${UID}:${GID}", &p, &v, None).unwrap(), "/opt/app/bin:1000:100");
        assert_eq!(expand("${POLICY_DIR}/a", &p, &v, Some("/etc/p")).unwrap(), "/etc/p/a");
        assert_eq!(expand("cost $5 $${HOME}", &p, &v, None).unwrap(), "cost $5 ${HOME}");
    }

    #[test]
    fn home_and_user_read_passwd_only_when_named_and_missing() {
        let env = |home: bool| move |k: &str| (home && k == "HOME").then(|| "/h".to_owned());
        let v = Vars::gather(0, 0, "/".into(), || "/bin/x".into(), env(true));
        assert_eq!(v.home(), "/h");
        assert!(v.passwd.get().is_none(), "HOME was set: no need for /etc/passwd");
        assert_eq!(v.user(), "root");
        assert!(v.passwd.get().is_some());
        let v = Vars::gather(4242424, 0, "/".into(), || "/bin/x".into(), env(false));
        assert!(v.passwd.get().is_none(), "nothing read before a variable is used");
        assert_eq!((v.home(), v.user()), ("/".to_owned(), "4242424".to_owned()));
        let p = Ptr::root();
        assert_eq!(expand("${HOME}:${USER}", &p, &v, None).unwrap(), "/:4242424");
    }

    #[test]
    fn refuses_unknown_and_unterminated() {
        let p = Ptr::root().key("cwd");
        let v = vars();
        let e = expand("${HOEM}", &p, &v, None).unwrap_err().to_string();
        assert!(e.contains("/cwd") && e.contains("did you mean ${HOME}"), "{e}");
        assert!(expand("${HOME", &p, &v, None).is_err());
        assert!(expand("${POLICY_DIR}", &p, &v, None).is_err());
    }
}
