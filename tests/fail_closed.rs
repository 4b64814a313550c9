//! Fail closed: a missing, unreadable or wrong policy ends with status 125 and one stderr line
//! naming what is wrong, and the program never runs, checked by a marker file it would create
//! on the host. Policies that could run at all bind the marker's directory writable, so a
//! program that ran, sandboxed or not, would leave the marker; the controls are good policies
//! that do leave it. Every test runs as root and as uid 65534.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;

/// A scratch directory, its marker, and the pieces of policies that bind it writable.
struct Case {
    s: Scratch,
}

impl Case {
    fn new(tag: &str) -> Case {
        Case { s: Scratch::new(tag) }
    }

    fn marker(&self) -> std::path::PathBuf {
        self.s.path("marker")
    }

    /// The program: creates the marker, then says where it runs.
    fn script(&self) -> String {
        format!("touch {} && hostname", self.marker().display())
    }

    /// The mount that makes the marker's directory writable inside.
    fn rw(&self) -> String {
        format!(r#"{{"type": "bind", "source": "{}", "readonly": false}}"#, self.s.0.display())
    }

    /// A policy text extending the default with the writable bind, then `extra_mounts` and
    /// `extra` top-level fields.
    fn text(&self, extra_mounts: &str, extra: &str) -> String {
        let mounts = if extra_mounts.is_empty() { self.rw() } else { format!("{}, {extra_mounts}", self.rw()) };
        format!(r#"{{"selfbox": 1, "extends": "{}", "mounts": [{mounts}]{extra}}}"#, default_policy())
    }

    fn file(&self, name: &str, text: &str) -> String {
        self.s.file(name, text).display().to_string()
    }

    /// A good policy file: the control.
    fn good(&self) -> String {
        self.file("good.json", &self.text("", ""))
    }

    /// Runs `run` and checks the refusal: 125, one stderr line starting with "selfbox: " that
    /// holds every `expect`, no marker.
    fn refused(&self, who: Who, what: &str, run: Run, expect: &[&str]) {
        let out = run.sh(&self.script());
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(out.status(), 125, "{what} as {who:?}: {out:?}");
        assert_eq!(lines.len(), 1, "{what} as {who:?}: one stderr line: {out:?}");
        assert!(lines[0].starts_with("selfbox: "), "{what} as {who:?}: {out:?}");
        for e in expect {
            assert!(lines[0].contains(e), "{what} as {who:?}: {e:?} not in {:?}", lines[0]);
        }
        assert!(out.stdout.is_empty(), "{what} as {who:?}: {out:?}");
        assert!(!self.marker().exists(), "{what} as {who:?}: the program ran");
    }

    /// Runs `run` and checks that the program ran sandboxed and left the marker (then removes it).
    fn ran(&self, who: Who, what: &str, run: Run) {
        let out = run.sh(&self.script());
        assert_eq!(out.status(), 0, "{what} as {who:?}: {out:?}");
        assert_eq!(out.stdout.trim(), "sandbox", "{what} as {who:?}: {out:?}");
        assert!(self.marker().exists(), "{what} as {who:?}: no marker");
        std::fs::remove_file(self.marker()).unwrap();
    }
}

/// The preload without SELFBOX_POLICY or POLICY.
fn no_policy(who: Who) -> Run {
    bare(who).env("LD_PRELOAD", &lib().display().to_string())
}

#[test]
fn no_policy_at_all() {
    for who in identities() {
        let c = Case::new("nopolicy");
        c.refused(who, "no policy", no_policy(who), &["no policy", "SELFBOX_POLICY", "POLICY"]);
        // An empty value is no policy either.
        c.refused(who, "empty SELFBOX_POLICY", sandboxed(who, ""), &["policy"]);
        c.refused(who, "empty POLICY", no_policy(who).env("POLICY", ""), &["policy"]);
        c.ran(who, "control", sandboxed(who, &c.good()));
    }
}

#[test]
fn unreadable_policy_files() {
    for who in identities() {
        let c = Case::new("unreadable");
        let gone = c.s.path("nonexistent.json").display().to_string();
        c.refused(who, "nonexistent", sandboxed(who, &gone), &[&gone, "ENOENT"]);
        let dir = c.s.dir("a-directory").display().to_string();
        c.refused(who, "directory", sandboxed(who, &dir), &[&dir, "EISDIR"]);
        // Root's file with mode 0600: unreadable for uid 65534; root reads it (the control).
        let private = c.file("private.json", &c.text("", ""));
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600)).unwrap();
        if who == Who::Root {
            c.ran(who, "root's 0600 file as root", sandboxed(who, &private));
        } else if is_root() {
            c.refused(who, "root's 0600 file", sandboxed(who, &private), &[&private, "EACCES"]);
        }
        c.ran(who, "control", sandboxed(who, &c.good()));
    }
}

#[test]
fn bad_json() {
    for who in identities() {
        let c = Case::new("badjson");
        let good = c.text("", "");
        // A trailing comma: serde reports the position of the "}" after it.
        let trailing =
            c.file("trailing.json", &good.replacen(r#""selfbox": 1,"#, "\"selfbox\": 1,\n", 1).replace("]}", "],\n}"));
        c.refused(who, "trailing comma", sandboxed(who, &trailing), &[&format!("{trailing}:3:1:"), "trailing comma"]);
        let cut = &good[..good.len() / 2];
        let truncated = c.file("truncated.json", cut);
        let col = format!("{truncated}:1:{}:", cut.chars().count());
        c.refused(who, "truncated", sandboxed(who, &truncated), &[&col, "EOF"]);
        // Inline JSON: the position is in the inline text.
        c.refused(who, "truncated inline", sandboxed(who, cut), &["inline policy:1:", "EOF"]);
        let dup = c.file("dup.json", &c.text("", r#", "hostname": "a", "hostname": "b""#));
        c.refused(who, "duplicate key", sandboxed(who, &dup), &[&format!("{dup}:1:"), "duplicate key \"hostname\""]);
        c.ran(who, "control", sandboxed(who, &c.file("good.json", &good)));
        c.ran(who, "control inline", sandboxed(who, &good));
    }
}

#[test]
fn unknown_keys_name_the_pointer_and_a_suggestion() {
    for who in identities() {
        let c = Case::new("unknownkey");
        let top = c.file("top.json", &c.text("", r#", "close_fd": true"#));
        c.refused(
            who,
            "top-level key",
            sandboxed(who, &top),
            &[&top, "/close_fd:", "unknown key", "did you mean \"close_fds\""],
        );
        let typo = c.rw().replace(r#""readonly""#, r#""readonyl""#);
        let nested = c.file(
            "nested.json",
            &format!(r#"{{"selfbox": 1, "extends": "{}", "mounts": [{typo}]}}"#, default_policy()),
        );
        c.refused(who, "nested key", sandboxed(who, &nested), &["/mounts/0/readonyl:", "did you mean \"readonly\""]);
        c.ran(who, "control", sandboxed(who, &c.file("ok.json", &c.text("", r#", "close_fds": true"#))));
    }
}

#[test]
fn wrong_values() {
    for who in identities() {
        let c = Case::new("values");
        let ty = c.file("type.json", &c.text("", r#", "close_fds": "yes""#));
        c.refused(who, "wrong type", sandboxed(who, &ty), &["/close_fds:", "found a string"]);
        let rel = c.file("rel.json", &c.text(r#"{"type": "bind", "source": "usr"}"#, ""));
        c.refused(who, "relative path", sandboxed(who, &rel), &["/mounts/1/source:", "absolute"]);
        let var = c.file("var.json", &c.text(r#"{"type": "bind", "source": "${NOPE}/x"}"#, ""));
        c.refused(who, "unknown variable", sandboxed(who, &var), &["/mounts/1/source:", "unknown variable ${NOPE}"]);
        let v2 = c.file("v2.json", &c.text("", "").replacen(r#""selfbox": 1"#, r#""selfbox": 2"#, 1));
        c.refused(who, "version 2", sandboxed(who, &v2), &["/selfbox:", "version"]);
        // Controls: the same fields with good values.
        let ok = c.text(r#"{"type": "bind", "source": "${EXE_DIR}", "target": "/exe-dir"}"#, r#", "close_fds": false"#);
        c.ran(who, "control", sandboxed(who, &c.file("ok.json", &ok)));
    }
}

#[test]
fn extends_cycle() {
    for who in identities() {
        let c = Case::new("cycle");
        let a = c.file("a.json", &format!(r#"{{"selfbox": 1, "extends": "b.json", "mounts": [{}]}}"#, c.rw()));
        c.file("b.json", r#"{"selfbox": 1, "extends": "a.json"}"#);
        c.refused(who, "a extends b extends a", sandboxed(who, &a), &["extends cycle", "a.json", "b.json"]);
        // Control: b extends the default instead.
        c.file("b.json", &format!(r#"{{"selfbox": 1, "extends": "{}"}}"#, default_policy()));
        c.ran(who, "control", sandboxed(who, &a));
    }
}

#[test]
fn missing_bind_source_unless_optional() {
    for who in identities() {
        let c = Case::new("missing");
        let gone = c.s.path("not-there").display().to_string();
        let bind = |optional: bool| format!(r#"{{"type": "bind", "source": "{gone}", "optional": {optional}}}"#);
        let p = c.file("missing.json", &c.text(&bind(false), ""));
        c.refused(who, "missing source", sandboxed(who, &p), &["/mounts/1/source:", &gone, "ENOENT", "optional"]);
        let p = c.file("optional.json", &c.text(&bind(true), ""));
        c.ran(who, "optional missing source", sandboxed(who, &p));
    }
}

/// A `file` entry at the target of a writable bind of a host file would truncate the host's
/// file: refused, and the host file keeps its content. Control: the same entry elsewhere runs.
#[test]
fn created_entries_never_write_through_a_bind() {
    for who in identities() {
        let c = Case::new("through");
        let host = c.file("host.txt", "host content\n");
        let bind = format!(r#"{{"type": "bind", "source": "{host}", "target": "/opt/app.conf", "readonly": false}}"#);
        let file = |t: &str| format!(r#"{{"type": "file", "target": "{t}", "content": "planted"}}"#);
        let p = c.file("over.json", &c.text(&format!("{bind}, {}", file("/opt/app.conf")), ""));
        c.refused(who, "file over a bind", sandboxed(who, &p), &["/mounts/2", "would be written into the bind"]);
        assert_eq!(std::fs::read_to_string(&host).unwrap(), "host content\n");
        let p = c.file("beside.json", &c.text(&format!("{bind}, {}", file("/opt/other.conf")), ""));
        c.ran(who, "file beside a bind", sandboxed(who, &p));
        assert_eq!(std::fs::read_to_string(&host).unwrap(), "host content\n");
    }
}

/// Root without CAP_SYS_ADMIN (its bounding set lacks it, as in many containers) is refused:
/// selfbox cannot mount as that root, and will not leave the program root outside. Control:
/// the same policy as full root runs.
#[test]
fn root_without_cap_sys_admin_is_refused() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let c = Case::new("noadmin");
    let p = c.good();
    let weak = sandboxed(Who::Root, &p).wrap(&["setpriv", "--bounding-set=-sys_admin", "--inh-caps=-sys_admin"]);
    c.refused(Who::Root, "root without CAP_SYS_ADMIN", weak, &["identity", "uid 0 without CAP_SYS_ADMIN"]);
    c.ran(Who::Root, "full root", sandboxed(Who::Root, &p));
}

/// POLICY is the short alias; SELFBOX_POLICY wins when both are set.
#[test]
fn policy_alias_and_precedence() {
    for who in identities() {
        let c = Case::new("alias");
        let good = c.good();
        let gone = c.s.path("nonexistent.json").display().to_string();
        c.ran(who, "POLICY alone", no_policy(who).env("POLICY", &good));
        c.ran(who, "SELFBOX_POLICY wins over a bad POLICY", sandboxed(who, &good).env("POLICY", &gone));
        // Control: a bad SELFBOX_POLICY is not rescued by a good POLICY.
        c.refused(
            who,
            "bad SELFBOX_POLICY, good POLICY",
            sandboxed(who, &gone).env("POLICY", &good),
            &[&gone, "ENOENT"],
        );
        c.refused(who, "bad POLICY alone", no_policy(who).env("POLICY", &gone), &[&gone, "ENOENT"]);
    }
}
