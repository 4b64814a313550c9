//! selfbox: `libselfbox.so`, a preload library that makes an unmodified, dynamically linked
//! program sandbox itself before its constructors and `main` run.
//!
//! ```text
//! LD_PRELOAD=/usr/lib/selfbox/libselfbox.so SELFBOX_POLICY=app.json ./app
//! ```
//!
//! The pipeline, in the order `run.rs` calls it:
//!
//! 1. **hook** (`entry`): `__libc_start_main` is entered; the real one comes from
//!    `dlsym(RTLD_NEXT)`.
//! 2. **guards** (`entry`): refuse secure-execution, a second thread, an executable that never
//!    calls `__libc_start_main` (checked from a constructor, from the in-memory link map).
//! 3. **policy** (`policy`, `mount::plan`, `seccomp::compile`): read, parse, expand, extend,
//!    validate, resolve host paths and syscalls, plan the mounts, build the filter. Nothing has
//!    changed yet; every user error ends here.
//! 4. **environment** (`env`): the program's `environ`, without the preload's variables.
//! 5. **cgroup** (`limits`): a child of the caller's cgroup, entered now.
//! 6. **identity** (`userns`): real root becomes `run_as` before any namespace exists.
//! 7. **unshare** (`userns`): one `unshare()`, `setgroups deny`, `uid_map`, `gid_map`.
//! 8. **filesystem** (`mount`): private `/`, a tmpfs root, `pivot_root`, the mounts, read-only.
//! 9. **fork #1** (`pidns`): the caller stays outside as the supervisor; the child is PID 1
//!    and mounts `/proc`, sets the hostname, brings `lo` up (`net`).
//! 10. **fork #2** (`pidns`): PID 1 becomes init; its child is the program. Init detaches the
//!     old root meanwhile (`mount::detach_old_root`); the program waits for it before its filter.
//! 11. **program** (`pidns`, `limits`, `privs`, `seccomp`): signals restored, session,
//!     rlimits, descriptors, cwd, identity, capabilities, no_new_privs, seccomp last.
//! 12. **main**: the real `__libc_start_main` runs the program's constructors and `main`.
//!
//! Any error before step 12 prints one line and exits 125; `main` never runs.

#![deny(unsafe_op_in_unsafe_fn)]
// Unit-test builds leave out the exported hook (a test binary must not hook its own start-up),
// and with it the callers of much of the pipeline.
#![cfg_attr(test, allow(dead_code))]

/// Marks this object as libselfbox.so for the launcher, which refuses to preload anything else
/// (the loader would skip a wrong object with one warning and run the program unsandboxed).
#[used]
#[unsafe(link_section = ".selfbox")]
static SELFBOX_MARKER: [u8; 16] = *b"selfbox-preload\0";

mod caller;
mod entry;
mod env;
mod error;
mod limits;
mod log;
mod mount;
mod net;
mod pidns;
mod policy;
mod privs;
mod run;
mod seccomp;
mod sys;
mod userns;
