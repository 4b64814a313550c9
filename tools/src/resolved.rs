//! The resolved policy as JSON, in the policy format's own terms (what `selfbox check` prints).

use serde_json::{Map, Value, json};

use crate::Loaded;
use crate::policy::{Action, CloseFds, CmpOp, IdMap, MountKind, Root, RunAs, values};

fn action(a: &Action) -> Value {
    match a {
        Action::Errno(e) => json!({"action": "errno", "errno": values::errno_name(*e)}),
        other => json!({"action": other.describe()}),
    }
}

fn id(m: IdMap) -> Value {
    match m {
        IdMap::Same => json!("same"),
        IdMap::Id(i) => json!(i),
    }
}

fn cmp(c: &crate::policy::ArgCmp) -> Value {
    let (op, mask) = match c.op {
        CmpOp::Eq => ("eq", None),
        CmpOp::Ne => ("ne", None),
        CmpOp::Lt => ("lt", None),
        CmpOp::Le => ("le", None),
        CmpOp::Gt => ("gt", None),
        CmpOp::Ge => ("ge", None),
        CmpOp::MaskedEq(m) => ("masked_eq", Some(m)),
    };
    let mut v = json!({"index": c.index, "op": op, "value": format!("{:#x}", c.value)});
    if let Some(m) = mask {
        v["mask"] = json!(format!("{m:#x}"));
    }
    v
}

/// Fields in the policy format's order (a JSON map would sort them).
pub fn to_json(l: &Loaded) -> Vec<(String, Value)> {
    let p = &l.policy;
    let mut o = Fields::default();
    o.insert("selfbox".into(), json!(1));
    o.insert("files".into(), json!(p.files));
    o.insert("namespaces".into(), json!(p.namespace_names()));
    o.insert("uid".into(), id(p.uid));
    o.insert("gid".into(), id(p.gid));
    o.insert(
        "run_as".into(),
        match &p.run_as {
            None => Value::Null,
            Some(RunAs::Name(n)) => json!(n),
            Some(RunAs::Ids { uid, gid }) => json!(format!("{uid}:{gid}")),
        },
    );
    o.insert("hostname".into(), json!(p.hostname));
    o.insert("root".into(), json!(if p.root == Root::Tmpfs { "tmpfs" } else { "host" }));
    let mounts: Vec<Value> = p
        .mounts
        .iter()
        .map(|m| {
            let mut v = json!({"type": m.kind.name(), "target": m.target});
            match &m.kind {
                MountKind::Bind { source, host, readonly, .. } => {
                    v["source"] = json!(source);
                    if let Some(h) = host {
                        match &h.symlink {
                            Some(link) => v["symlink"] = json!(link),
                            None => v["host"] = json!(h.path),
                        }
                    }
                    v["readonly"] = json!(readonly);
                }
                MountKind::Symlink { link } => v["link"] = json!(link),
                MountKind::Tmpfs { size, mode } => {
                    v["size"] = json!(size);
                    v["mode"] = json!(mode.map(|m| format!("{m:04o}")));
                }
                MountKind::Dir { mode } => v["mode"] = json!(format!("{mode:04o}")),
                MountKind::File { content, mode } => {
                    v["content"] = json!(content);
                    v["mode"] = json!(format!("{mode:04o}"));
                }
                MountKind::Proc | MountKind::Dev => {}
            }
            v
        })
        .collect();
    o.insert("mounts".into(), json!(mounts));
    o.insert("cwd".into(), json!(p.cwd));
    o.insert("network".into(), json!(if p.network() == crate::policy::Network::None { "none" } else { "host" }));
    let set: Map<String, Value> = p.env.set.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    o.insert("env".into(), json!({"clear": p.env.clear, "keep": p.env.keep, "set": set, "unset": p.env.unset}));
    o.insert(
        "close_fds".into(),
        match &p.close_fds {
            CloseFds::All => json!(true),
            CloseFds::No => json!(false),
            CloseFds::Keep(k) => json!({"keep": k}),
        },
    );
    o.insert("new_session".into(), json!(p.new_session));
    o.insert(
        "capabilities".into(),
        json!(p.capabilities.iter().map(|c| values::capability_name(*c)).collect::<Vec<_>>()),
    );
    o.insert("no_new_privs".into(), json!(p.no_new_privs));
    let rl: Map<String, Value> = p
        .rlimits
        .iter()
        .map(|r| {
            let f = |v: u64| if v == libc::RLIM_INFINITY { json!("unlimited") } else { json!(v) };
            (r.name.to_string(), json!({"soft": f(r.soft), "hard": f(r.hard)}))
        })
        .collect();
    o.insert("rlimits".into(), Value::Object(rl));
    let c = &p.cgroup;
    o.insert(
        "cgroup".into(),
        json!({"memory_max": c.memory_max, "memory_swap_max": c.memory_swap_max, "pids_max": c.pids_max,
               "cpu_max": c.cpu_max, "io_weight": c.io_weight, "optional": c.optional}),
    );
    o.insert("wall_time".into(), json!(p.wall_time));
    if let Some(s) = &p.seccomp {
        let mut sv = action(&s.default_action);
        let obj = sv.as_object_mut().expect("an object");
        let def = obj.remove("action").unwrap_or_default();
        let mut out = Map::new();
        out.insert("default_action".into(), def);
        if let Some(e) = obj.remove("errno") {
            out.insert("default_errno".into(), e);
        }
        let mut rules: Vec<Value> = s
            .rules
            .iter()
            .map(|r| {
                let mut v = action(&r.action);
                v["syscall"] = json!(r.name);
                if !r.args.is_empty() {
                    v["args"] = json!(r.args.iter().map(cmp).collect::<Vec<_>>());
                }
                v
            })
            .collect();
        for e in &s.exceptions {
            let mut v = action(&e.base);
            v["syscall"] = json!(e.name);
            v["except"] = json!(
                e.cases
                    .iter()
                    .map(|(c, a)| {
                        let mut x = action(a);
                        x["args"] = json!([cmp(c)]);
                        x
                    })
                    .collect::<Vec<_>>()
            );
            rules.push(v);
        }
        out.insert("rules".into(), json!(rules));
        if let Some(f) = &l.filter {
            out.insert("bpf_instructions".into(), json!(f.bpf.len() / 8));
        }
        o.insert("seccomp".into(), Value::Object(out));
    }
    o.0
}

#[derive(Default)]
struct Fields(Vec<(String, Value)>);

impl Fields {
    fn insert(&mut self, k: String, v: Value) {
        self.0.push((k, v));
    }
}

/// Pretty JSON of ordered top-level fields (nested objects print sorted).
pub fn pretty(fields: &[(String, Value)]) -> String {
    let mut out = String::from("{\n");
    for (i, (k, v)) in fields.iter().enumerate() {
        let body = serde_json::to_string_pretty(v).unwrap_or_default().replace('\n', "\n  ");
        out.push_str(&format!("  {}: {body}{}\n", json!(k), if i + 1 < fields.len() { "," } else { "" }));
    }
    out.push('}');
    out
}
