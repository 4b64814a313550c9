//! Step 11: descriptors, working directory, identity and capabilities, no_new_privs.

use std::os::fd::RawFd;
use std::os::unix::fs::MetadataExt;

use crate::error::{Context, Error, Result, Step};
use crate::log::debug;
use crate::policy::{CloseFds, Policy, values::capability_name};
use crate::sys;
use crate::userns::{Identity, become_user, enter_late};

/// Closes inherited descriptors above 2 (all, or all but a kept list). `preserve` are the
/// preload's own, still needed and closed by their owners before `main`; any other descriptor
/// of the preload was closed when its owner was dropped.
pub fn close_fds(policy: &Policy, preserve: &[RawFd]) -> Result<()> {
    let mut keep: Vec<RawFd> = vec![0, 1, 2];
    keep.extend(preserve);
    match &policy.close_fds {
        CloseFds::All => {}
        CloseFds::Keep(list) => keep.extend(list),
        CloseFds::No => return Ok(()),
    }
    sys::close_all_except(&keep).at(Step::Fds, || format!("close_range(all but {keep:?})"))?;
    debug!("close_fds", "kept {keep:?}");
    Ok(())
}

/// The caller's working directory as found before the sandbox: path, device, inode.
#[derive(Clone, Debug, Default)]
pub struct CallerCwd {
    pub path: String,
    pub id: Option<(u64, u64)>,
}

impl CallerCwd {
    pub fn capture() -> CallerCwd {
        let path = std::fs::read_link("/proc/self/cwd")
            .ok()
            .or_else(|| nix::unistd::getcwd().ok())
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let id = std::fs::metadata(".").ok().map(|m| (m.dev(), m.ino()));
        CallerCwd { path, id }
    }
}

/// The policy's `cwd`, or the caller's directory when it is visible inside as the very same
/// directory (same device and inode: the same path may be another directory in here), else `/`.
pub fn enter_cwd(policy: &Policy, caller: &CallerCwd) -> Result<()> {
    if let Some(dir) = &policy.cwd {
        nix::unistd::chdir(dir.as_str()).map_err(|e| {
            Error::call(Step::Cwd, format!("chdir({dir})"), e).hint("the policy's cwd must exist inside the sandbox")
        })?;
        debug!("cwd", "{dir} (policy)");
        return Ok(());
    }
    let same =
        !caller.path.is_empty() && std::fs::metadata(&caller.path).is_ok_and(|m| Some((m.dev(), m.ino())) == caller.id);
    let dir = if same { caller.path.as_str() } else { "/" };
    nix::unistd::chdir(dir).at(Step::Cwd, || format!("chdir({dir})"))?;
    debug!("cwd", "{dir}{}", if same { " (the caller's)" } else { " (the caller's is not visible)" });
    Ok(())
}

/// capability.h: CAP_SETPCAP.
const CAP_SETPCAP: u64 = 8;

fn cap_mask(caps: &[u8]) -> u64 {
    caps.iter().fold(0u64, |m, c| m | (1u64 << c))
}

/// Empties the bounding set but for `keep`: it limits what any later execve can grant (a uid 0
/// inside the user namespace would otherwise regain every capability on exec). Dropping needs
/// CAP_SETPCAP; a process without it and without permitted capabilities has nothing to lose.
fn drop_bounding(keep: u64) -> Result<()> {
    let (_, permitted, _) = sys::capget().at(Step::Privs, || "capget()".into())?;
    let can_drop = permitted & (1 << CAP_SETPCAP) != 0;
    if can_drop {
        // Dropping a capability already gone succeeds, and one past the kernel's last fails
        // with EINVAL: one call per capability finds the end too.
        for cap in (0..64u8).filter(|c| keep & (1 << c) == 0) {
            match sys::capbset_drop(cap) {
                Ok(()) => {}
                Err(nix::errno::Errno::EINVAL) if cap > 0 => return Ok(()),
                Err(e) => {
                    return Err(Error::call(
                        Step::Privs,
                        format!("prctl(PR_CAPBSET_DROP, {})", capability_name(cap)),
                        e,
                    ));
                }
            }
        }
        return Ok(());
    }
    if permitted == 0 {
        return Ok(());
    }
    for cap in 0..=sys::last_cap() {
        if keep & (1 << cap) != 0 {
            continue;
        }
        if sys::capbset_read(cap).at(Step::Privs, || format!("prctl(PR_CAPBSET_READ, {})", capability_name(cap)))? {
            return Err(Error::refused(
                Step::Privs,
                "cannot empty the capability bounding set without CAP_SETPCAP",
                "add the \"user\" namespace",
            ));
        }
    }
    Ok(())
}

/// Drops identity and every capability not listed, from every set (there is no execve after
/// us to clear them, capabilities(7)), then sets no_new_privs.
///
/// As real root: without a user namespace the bounding set is emptied while still root, then
/// the process becomes `run_as` (keeping listed capabilities through KEEPCAPS); with one, it
/// becomes `run_as` first and then creates its user namespace, whose creation refills every
/// set, so the bounding set is emptied after that.
pub fn drop_privileges(policy: &Policy, id: Identity) -> Result<()> {
    let keep = cap_mask(&policy.capabilities);
    if id.real_root && !id.late_userns {
        drop_bounding(keep)?;
    }
    if let Some((uid, gid)) = id.run_as {
        if keep != 0 && !id.late_userns {
            // Kept capabilities survive the uid change only with KEEPCAPS.
            sys::set_keepcaps(true).at(Step::Privs, || "prctl(PR_SET_KEEPCAPS, 1)".into())?;
        }
        become_user(uid, gid, Step::Privs)?;
        // The uid change made the process non-dumpable, which would leave its /proc files (the
        // id maps among them) owned by root.
        sys::set_dumpable(true).at(Step::Privs, || "prctl(PR_SET_DUMPABLE, 1)".into())?;
        debug!("privileges", "became uid {uid} gid {gid}");
    }
    if id.late_userns {
        enter_late(policy, &id)?;
    }
    if !id.real_root || id.late_userns {
        drop_bounding(keep)?;
    }
    sys::ambient_clear().at(Step::Privs, || "prctl(PR_CAP_AMBIENT_CLEAR_ALL)".into())?;
    sys::capset(keep, keep, keep).at(Step::Privs, || format!("capset({keep:#x})"))?;
    for cap in policy.capabilities.iter().copied() {
        // Ambient, so that the kept capabilities survive the program's own execve.
        sys::ambient_raise(cap).at(Step::Privs, || format!("prctl(PR_CAP_AMBIENT_RAISE, {})", capability_name(cap)))?;
    }
    let (eff, perm, inh) = sys::capget().at(Step::Privs, || "capget()".into())?;
    if eff != keep || perm != keep || inh != keep {
        return Err(Error::refused(
            Step::Privs,
            format!("capabilities are {eff:#x}/{perm:#x}/{inh:#x} after capset({keep:#x})"),
            "the kernel did not drop them",
        ));
    }
    if policy.no_new_privs {
        sys::set_no_new_privs().at(Step::Privs, || "prctl(PR_SET_NO_NEW_PRIVS, 1)".into())?;
    }
    debug!("privileges", "capabilities {keep:#x}, no_new_privs {}", policy.no_new_privs);
    Ok(())
}
