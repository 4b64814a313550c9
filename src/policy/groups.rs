//! Syscall groups with systemd's names and membership (`systemd-analyze syscall-filter`).
//!
//! Transcribed from a recent systemd `src/shared/seccomp-util.c` (one with `@sandbox`,
//! `file_getattr` and `open_tree_attr`). Members written `@name` refer to other groups.
//! Some names exist only on 32-bit or other architectures, and a few are unknown to older
//! libseccomp releases, so users of this table must skip names that do not resolve.
//! `@known` is not generated from the kernel here: it references every other group and
//! adds the remaining syscalls (from libseccomp's tables) that no group covers.

// The table is shared with build.rs, which expands every group to native numbers once.
include!("groups_table.rs");

/// The group called `name` (with its `@`).
pub fn find(name: &str) -> Option<&'static Group> {
    GROUPS.iter().find(|g| g.name == name)
}

#[cfg(all(test, not(selfbox_tools)))]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Every syscall name in `group`, with group references expanded.
    fn expand(group: &Group, out: &mut BTreeSet<&'static str>) {
        for &m in group.members {
            if m.starts_with('@') {
                expand(find(m).expect("unknown group"), out);
            } else {
                out.insert(m);
            }
        }
    }

    #[test]
    fn groups_sorted_and_unique() {
        for pair in GROUPS.windows(2) {
            assert!(pair[0].name < pair[1].name, "{} before {}", pair[0].name, pair[1].name);
        }
        for g in GROUPS {
            let set: BTreeSet<_> = g.members.iter().collect();
            assert_eq!(set.len(), g.members.len(), "duplicate member in {}", g.name);
        }
    }

    /// build.rs expands every group once; the result must be exactly the group's native
    /// members (each once), whatever the nesting.
    #[test]
    fn build_time_expansion_matches_the_table() {
        for g in GROUPS {
            let mut names = BTreeSet::new();
            expand(g, &mut names);
            let want: BTreeSet<i32> = names.iter().filter_map(|n| super::super::syscalls::native_nr(n)).collect();
            let mut got = Vec::new();
            super::super::syscalls::expand_group(g.name, &mut got);
            let got_set: BTreeSet<i32> = got.iter().map(|(_, nr)| *nr).collect();
            assert_eq!(got.len(), got_set.len(), "{}: a syscall twice", g.name);
            assert_eq!(got_set, want, "{}", g.name);
            for (name, nr) in &got {
                assert_eq!(super::super::syscalls::native_nr(name), Some(*nr), "{}: {name}", g.name);
            }
        }
        // Control: a group that nests others has more than its direct members.
        let mut direct = Vec::new();
        super::super::syscalls::expand_group("@system-service", &mut direct);
        assert!(direct.len() > find("@system-service").unwrap().members.len(), "{}", direct.len());
    }

    #[test]
    fn references_exist_and_are_acyclic() {
        // 0 = unvisited, 1 = on the current path, 2 = done.
        fn visit(i: usize, state: &mut [u8], path: &mut Vec<&'static str>) {
            match state[i] {
                2 => return,
                1 => panic!("reference cycle: {} -> {}", path.join(" -> "), GROUPS[i].name),
                _ => {}
            }
            state[i] = 1;
            path.push(GROUPS[i].name);
            for &m in GROUPS[i].members.iter().filter(|m| m.starts_with('@')) {
                let j = GROUPS
                    .iter()
                    .position(|g| g.name == m)
                    .unwrap_or_else(|| panic!("{} references unknown group {m}", GROUPS[i].name));
                visit(j, state, path);
            }
            path.pop();
            state[i] = 2;
        }
        let mut state = vec![0u8; GROUPS.len()];
        for i in 0..GROUPS.len() {
            visit(i, &mut state, &mut Vec::new());
        }
    }

    /// Names systemd lists that libseccomp 2.5.4 does not know: syscalls newer than
    /// its tables, or kernel names it spells differently (`llseek`, `newfstat`, `fstatat`).
    const UNKNOWN_TO_LIBSECCOMP: &[&str] = &[
        "file_getattr",
        "file_setattr",
        "fstatat",
        "getxattrat",
        "listmount",
        "listxattrat",
        "llseek",
        "lsm_get_self_attr",
        "lsm_list_modules",
        "lsm_set_self_attr",
        "mseal",
        "newfstat",
        "open_tree_attr",
        "removexattrat",
        "riscv_hwprobe",
        "setxattrat",
        "statmount",
        "uretprobe",
    ];

    #[test]
    fn members_are_real_syscalls() {
        use ScmpArch::*;
        use libseccomp::{ScmpArch, ScmpSyscall};
        const ARCHES: &[ScmpArch] = &[
            X8664,
            Aarch64,
            X86,
            X32,
            Arm,
            Mips,
            Mips64,
            Mips64N32,
            Mipsel,
            Mipsel64,
            Mipsel64N32,
            Ppc,
            Ppc64,
            Ppc64Le,
            S390,
            S390X,
            Parisc,
            Parisc64,
            Riscv64,
            Loongarch64,
            M68k,
            Sh,
            Sheb,
        ];
        let resolves = |name: &str| {
            ARCHES.iter().any(|&arch| ScmpSyscall::from_name_by_arch(name, arch).is_ok_and(|s| s.as_raw_syscall() >= 0))
        };
        let mut failures = Vec::new();
        let mut seen = BTreeSet::new();
        for g in GROUPS {
            for &m in g.members.iter().filter(|m| !m.starts_with('@')) {
                seen.insert(m);
                if !resolves(m) && !UNKNOWN_TO_LIBSECCOMP.contains(&m) {
                    failures.push(format!("{} in {}", m, g.name));
                }
            }
        }
        for &m in UNKNOWN_TO_LIBSECCOMP {
            if !seen.contains(m) {
                failures.push(format!("{m} is excused but is in no group"));
            }
        }
        assert!(failures.is_empty(), "unresolvable members: {}", failures.join(", "));
    }

    #[test]
    fn system_service_contents() {
        let mut all = BTreeSet::new();
        expand(find("@system-service").unwrap(), &mut all);
        for s in ["read", "write", "openat", "clone", "execve", "mmap", "futex", "socket"] {
            assert!(all.contains(s), "@system-service lacks {s}");
        }
        for s in ["mount", "reboot", "init_module", "kexec_load", "swapon"] {
            assert!(!all.contains(s), "@system-service has {s}");
        }
    }
}
