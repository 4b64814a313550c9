use super::*;

const V1_MOUNTINFO: &str = "\
24 1 254:0 / / rw,relatime - ext4 /dev/vda rw
30 24 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu
32 30 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
33 30 0:29 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
34 30 0:30 / /sys/fs/cgroup/blkio rw - cgroup cgroup rw,blkio
35 30 0:31 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
";
const V1_SELF: &str = "4:memory:/jobs/a\n8:pids:/\n1:cpu:/\n7:blkio:/\n0::/\n";

const V2_MOUNTINFO: &str = "\
24 1 254:0 / / rw,relatime - ext4 /dev/vda rw
30 24 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate
";
const V2_SELF: &str = "0::/user.slice/user-1000.slice/app.scope\n";

fn cg() -> Cgroup {
    Cgroup {
        memory_max: Some(512 << 20),
        memory_swap_max: Some(0),
        pids_max: Some(64),
        cpu_max: Some(1.5),
        io_weight: Some(100),
        optional: false,
    }
}

#[test]
fn v1_maps_each_controller_to_its_hierarchy() {
    let plan = plan_cgroup(&cg(), V1_MOUNTINFO, V1_SELF).unwrap();
    let by = |p: &str| plan.iter().find(|h| h.parent == p).unwrap_or_else(|| panic!("{p}: {plan:?}"));
    let mem = by("/sys/fs/cgroup/memory/jobs/a");
    assert!(!mem.v2);
    assert_eq!(
        mem.files,
        vec![
            ("memory.limit_in_bytes", (512u64 << 20).to_string()),
            ("memory.memsw.limit_in_bytes", (512u64 << 20).to_string()),
        ]
    );
    assert_eq!(by("/sys/fs/cgroup/pids").files, vec![("pids.max", "64".to_string())]);
    assert_eq!(
        by("/sys/fs/cgroup/cpu").files,
        vec![("cpu.cfs_period_us", "100000".to_string()), ("cpu.cfs_quota_us", "150000".to_string()),]
    );
    assert_eq!(by("/sys/fs/cgroup/blkio").files, vec![("blkio.weight", "10".to_string())]);
}

#[test]
fn v2_puts_everything_in_one_child_of_the_callers_cgroup() {
    let plan = plan_cgroup(&cg(), V2_MOUNTINFO, V2_SELF).unwrap();
    assert_eq!(plan.len(), 1);
    let h = &plan[0];
    assert!(h.v2);
    assert_eq!(h.parent, "/sys/fs/cgroup/user.slice/user-1000.slice/app.scope");
    assert_eq!(h.controllers, vec!["memory", "pids", "cpu", "io"]);
    assert_eq!(
        h.files,
        vec![
            ("memory.max", (512u64 << 20).to_string()),
            ("memory.swap.max", "0".to_string()),
            ("pids.max", "64".to_string()),
            ("cpu.max", "150000 100000".to_string()),
            ("io.weight", "default 100".to_string()),
        ]
    );
}

#[test]
fn v2_at_the_root_and_unlimited_values() {
    let c = Cgroup { memory_max: Some(u64::MAX), pids_max: Some(u64::MAX), ..Cgroup::default() };
    let plan = plan_cgroup(&c, V2_MOUNTINFO, "0::/\n").unwrap();
    assert_eq!(plan[0].parent, "/sys/fs/cgroup");
    assert_eq!(plan[0].files, vec![("memory.max", "max".to_string()), ("pids.max", "max".to_string())]);
}

#[test]
fn missing_hierarchies_and_v1_swap_alone_are_errors() {
    let c = Cgroup { pids_max: Some(5), ..Cgroup::default() };
    let e = plan_cgroup(&c, "24 1 254:0 / / rw - ext4 /dev/vda rw\n", "0::/\n").unwrap_err();
    assert!(e.contains("no cgroup hierarchy offers the pids controller"), "{e}");
    let c = Cgroup { memory_swap_max: Some(0), ..Cgroup::default() };
    let e = plan_cgroup(&c, V1_MOUNTINFO, V1_SELF).unwrap_err();
    assert!(e.contains("memory_swap_max needs memory_max"), "{e}");
}

#[test]
fn a_cgroup_namespace_root_is_stripped() {
    let mi = "30 24 0:26 /outer /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
    let c = Cgroup { pids_max: Some(5), ..Cgroup::default() };
    let plan = plan_cgroup(&c, mi, "0::/outer/job\n").unwrap();
    assert_eq!(plan[0].parent, "/sys/fs/cgroup/job");
}
