//! Raw calls that libc and nix do not wrap safely. Every `unsafe` block outside `entry.rs` is
//! here, one call per block, each with the invariant that makes it sound.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;

use nix::errno::Errno;

pub type Result<T> = std::result::Result<T, Errno>;

fn check(ret: c_int) -> Result<c_int> {
    if ret < 0 { Err(Errno::last()) } else { Ok(ret) }
}

fn check_long(ret: libc::c_long) -> Result<libc::c_long> {
    if ret < 0 { Err(Errno::last()) } else { Ok(ret) }
}

// ---- process exit and fork ----

/// Leaves without running atexit handlers or flushing stdio (the program's, not ours).
pub fn exit(code: i32) -> ! {
    // SAFETY: _exit has no preconditions and never returns.
    unsafe { libc::_exit(code) }
}

/// fork(2); `None` in the child.
pub fn fork() -> Result<Option<libc::pid_t>> {
    // SAFETY: the process has exactly one thread (checked by the guards before any fork), so
    // the child inherits no lock held by another thread.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(Errno::last()),
        0 => Ok(None),
        p => Ok(Some(p)),
    }
}

pub struct Waited {
    pub pid: libc::pid_t,
    pub status: c_int,
}

/// waitpid(2); `None` for WNOHANG with nothing to reap.
pub fn waitpid(pid: libc::pid_t, flags: c_int) -> Result<Option<Waited>> {
    let mut status = 0;
    loop {
        // SAFETY: the out-pointer points to a live local of the right type.
        let r = unsafe { libc::waitpid(pid, &mut status, flags) };
        match r {
            -1 if Errno::last() == Errno::EINTR => continue,
            -1 => return Err(Errno::last()),
            0 => return Ok(None),
            p => return Ok(Some(Waited { pid: p, status })),
        }
    }
}

// ---- the auxiliary vector and the environment block ----

/// The loader runs this process in secure-execution mode (setuid, setgid, file capabilities).
pub fn secure_exec() -> bool {
    // SAFETY: getauxval only reads the auxiliary vector and returns 0 when the entry is absent.
    unsafe { libc::getauxval(libc::AT_SECURE) != 0 }
}

unsafe extern "C" {
    static mut environ: *mut *mut c_char;
}

/// One `NAME=value` string of the environment as the loader laid it out.
pub struct EnvEntry {
    ptr: *mut c_char,
    len: usize,
}

impl EnvEntry {
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: ptr came from environ and points to `len` initialised bytes that live for
        // the whole process (the initial stack block or a leaked allocation).
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
    }

    /// Overwrites the string in place with `new` and zeroes the rest, so that
    /// `/proc/PID/environ` no longer shows what was removed. `new` must not be longer. Only
    /// strings inside the kernel's environment block (`block`, from [`SelfStat`]) are touched:
    /// others were placed by setenv or putenv (heap memory glibc still indexes, or read-only
    /// literals) and do not show in /proc anyway.
    pub fn rewrite(&self, new: &[u8], block: Option<(usize, usize)>) {
        let start = self.ptr as usize;
        if !block.is_some_and(|(lo, hi)| lo <= start && start + self.len < hi) {
            return;
        }
        let new = &new[..new.len().min(self.len)];
        // SAFETY: the string and its NUL lie inside the initial environment block on the stack,
        // which is writable and lives as long as the process.
        let buf = unsafe { std::slice::from_raw_parts_mut(self.ptr.cast::<u8>(), self.len) };
        buf[..new.len()].copy_from_slice(new);
        buf[new.len()..].fill(0);
    }
}

/// A procfs file, read in one go: its size reads 0, so `fs::read_to_string` would ask for it
/// (statx, lseek) and then grow its buffer from 32 bytes, one read(2) per doubling.
pub fn read_proc_file(path: &str) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(len * 2, 0);
        }
        match f.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(len);
    String::from_utf8(buf).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidData))
}

/// The names in a directory but `.` and `..`, each with its `d_type`: getdents64 into a stack
/// buffer (a `DIR` stream allocates 32 KiB, and this runs at every start that checks the `/dev`
/// template). The tool has its own, with the same signature.
pub fn dir_entries(dir: BorrowedFd) -> std::io::Result<Vec<(String, u8)>> {
    let mut names = Vec::new();
    let mut buf = [0u8; 2048];
    loop {
        // SAFETY: a valid directory descriptor and a writable buffer of the length passed.
        let n = unsafe { libc::syscall(libc::SYS_getdents64, dir.as_raw_fd(), buf.as_mut_ptr(), buf.len()) };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if n == 0 {
            return Ok(names);
        }
        let mut off = 0;
        while off < n as usize {
            // linux_dirent64: d_ino (8), d_off (8), d_reclen (2), d_type (1), d_name (NUL-terminated).
            let reclen = usize::from(u16::from_ne_bytes([buf[off + 16], buf[off + 17]]));
            if reclen < 20 || off + reclen > n as usize {
                return Err(std::io::Error::from(std::io::ErrorKind::InvalidData));
            }
            let name = &buf[off + 19..off + reclen];
            let name = &name[..name.iter().position(|b| *b == 0).unwrap_or(name.len())];
            if name != b"." && name != b".." {
                names.push((String::from_utf8_lossy(name).into_owned(), buf[off + 18]));
            }
            off += reclen;
        }
    }
}

/// What the hook needs from /proc/self/stat (one read: procfs files cost 9-14 us each here).
pub struct SelfStat {
    /// Field 20, `None` if unreadable.
    pub threads: Option<u32>,
    /// The initial environment block `[env_start, env_end)`: fields 50 and 51.
    pub env_block: Option<(usize, usize)>,
}

impl SelfStat {
    pub fn parse(stat: &str) -> SelfStat {
        // Fields after the command name (which may hold spaces and parentheses) start at field 3.
        let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
        let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<usize>().ok());
        let env_block = match (field(50), field(51)) {
            (Some(start), Some(end)) if start < end => Some((start, end)),
            _ => None,
        };
        SelfStat { threads: field(20).and_then(|t| u32::try_from(t).ok()), env_block }
    }
}

/// The current `environ`, in order.
pub fn environ_entries() -> Vec<EnvEntry> {
    let mut out = Vec::new();
    // SAFETY: single-threaded before main; environ is NULL or a NULL-terminated array.
    let mut p = unsafe { environ };
    if p.is_null() {
        return out;
    }
    loop {
        // SAFETY: p points inside the NULL-terminated environ array.
        let s = unsafe { *p };
        if s.is_null() {
            break;
        }
        // SAFETY: every entry is a NUL-terminated string.
        let len = unsafe { CStr::from_ptr(s) }.to_bytes().len();
        out.push(EnvEntry { ptr: s, len });
        // SAFETY: the terminator has not been reached, so the next slot exists.
        p = unsafe { p.add(1) };
    }
    out
}

/// Installs a new environment for `main` (glibc passes `environ` as its third argument).
/// The strings and the array are leaked: they must live as long as the program.
pub fn install_environ(entries: Vec<CString>) {
    let mut arr: Vec<*mut c_char> = entries.into_iter().map(CString::into_raw).collect();
    arr.push(ptr::null_mut());
    let leaked = Box::leak(arr.into_boxed_slice());
    // SAFETY: single-threaded before main; nothing holds a reference into the old array.
    unsafe { environ = leaked.as_mut_ptr() };
}

// ---- signals ----

pub fn sigset_empty() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data and sigemptyset initialises it fully.
    let mut s: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: s is a valid sigset_t.
    unsafe { libc::sigemptyset(&mut s) };
    s
}

pub fn sigset_add(set: &mut libc::sigset_t, sig: c_int) {
    // SAFETY: set is a valid initialised sigset_t; an invalid signal number only yields EINVAL.
    unsafe { libc::sigaddset(set, sig) };
}

pub fn sigset_has(set: &libc::sigset_t, sig: c_int) -> bool {
    // SAFETY: set is a valid initialised sigset_t.
    unsafe { libc::sigismember(set, sig) == 1 }
}

/// sigprocmask(2); returns the previous mask.
pub fn sigmask(how: c_int, set: &libc::sigset_t) -> Result<libc::sigset_t> {
    let mut old = sigset_empty();
    // SAFETY: both pointers refer to valid sigset_t values.
    check(unsafe { libc::sigprocmask(how, set, &mut old) })?;
    Ok(old)
}

/// The disposition of `sig`, so it can be restored for the program.
#[derive(Clone, Copy)]
pub struct SavedAction(libc::sigaction);

pub fn sigaction_get(sig: c_int) -> Result<SavedAction> {
    // SAFETY: sigaction is plain data; the kernel fills it.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only reads the current one into `old`.
    check(unsafe { libc::sigaction(sig, ptr::null(), &mut old) })?;
    Ok(SavedAction(old))
}

pub fn sigaction_restore(sig: c_int, saved: &SavedAction) -> Result<()> {
    // SAFETY: `saved` was read from the kernel for this process, so its handler (if any) is
    // valid code of this process image.
    check(unsafe { libc::sigaction(sig, &saved.0, ptr::null_mut()) }).map(drop)
}

/// Sets `sig` to its default action.
pub fn sigaction_default(sig: c_int) -> Result<()> {
    // SAFETY: zeroed sigaction with SIG_DFL (0) and an empty mask is a valid action.
    let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
    act.sa_sigaction = libc::SIG_DFL;
    // SAFETY: act is initialised; the old action is not wanted.
    check(unsafe { libc::sigaction(sig, &act, ptr::null_mut()) }).map(drop)
}

pub struct SigInfo {
    pub signo: c_int,
    pub code: c_int,
    pub pid: libc::pid_t,
    /// The value a `sigqueue` sender attached.
    pub value: u64,
}

/// sigqueue(3): sends `sig` with `value` attached (si_code SI_QUEUE).
pub fn sigqueue(pid: libc::pid_t, sig: c_int, value: u64) -> Result<()> {
    let v = libc::sigval { sival_ptr: value as usize as *mut c_void };
    // SAFETY: sigqueue has no memory preconditions; the value is carried, not dereferenced.
    check(unsafe { libc::sigqueue(pid, sig, v) }).map(drop)
}

pub fn kill(pid: libc::pid_t, sig: c_int) -> Result<()> {
    // SAFETY: kill has no memory preconditions.
    check(unsafe { libc::kill(pid, sig) }).map(drop)
}

pub fn raise(sig: c_int) -> Result<()> {
    // SAFETY: raise has no memory preconditions.
    check(unsafe { libc::raise(sig) }).map(drop)
}

// ---- prctl, capabilities, ids ----

fn prctl(op: c_int, a: libc::c_ulong, b: libc::c_ulong) -> Result<c_int> {
    // SAFETY: every caller passes an integer-only prctl operation.
    check(unsafe { libc::prctl(op, a, b, 0 as libc::c_ulong, 0 as libc::c_ulong) })
}

pub fn set_pdeathsig(sig: c_int) -> Result<()> {
    prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0).map(drop)
}

pub fn set_dumpable(on: bool) -> Result<()> {
    prctl(libc::PR_SET_DUMPABLE, on as libc::c_ulong, 0).map(drop)
}

pub fn set_keepcaps(on: bool) -> Result<()> {
    prctl(libc::PR_SET_KEEPCAPS, on as libc::c_ulong, 0).map(drop)
}

pub fn set_no_new_privs() -> Result<()> {
    prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0).map(drop)
}

pub fn capbset_read(cap: u8) -> Result<bool> {
    prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0).map(|v| v == 1)
}

pub fn capbset_drop(cap: u8) -> Result<()> {
    prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0).map(drop)
}

pub fn ambient_clear() -> Result<()> {
    prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0).map(drop)
}

pub fn ambient_raise(cap: u8) -> Result<()> {
    prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong, cap as libc::c_ulong).map(drop)
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAP_V3: u32 = 0x2008_0522;

/// The (effective, permitted, inheritable) sets of this thread.
pub fn capget() -> Result<(u64, u64, u64)> {
    let mut hdr = CapHeader { version: CAP_V3, pid: 0 };
    let mut data = [CapData::default(); 2];
    // SAFETY: version 3 takes a header and an array of two data structs, as given.
    check_long(unsafe { libc::syscall(libc::SYS_capget, &mut hdr, data.as_mut_ptr()) })?;
    let join = |f: fn(&CapData) -> u32| u64::from(f(&data[0])) | (u64::from(f(&data[1])) << 32);
    Ok((join(|d| d.effective), join(|d| d.permitted), join(|d| d.inheritable)))
}

pub fn capset(effective: u64, permitted: u64, inheritable: u64) -> Result<()> {
    let mut hdr = CapHeader { version: CAP_V3, pid: 0 };
    let split = |v: u64| [v as u32, (v >> 32) as u32];
    let (e, p, i) = (split(effective), split(permitted), split(inheritable));
    let data = [
        CapData { effective: e[0], permitted: p[0], inheritable: i[0] },
        CapData { effective: e[1], permitted: p[1], inheritable: i[1] },
    ];
    // SAFETY: version 3 takes a header and an array of two data structs, as given.
    check_long(unsafe { libc::syscall(libc::SYS_capset, &mut hdr, data.as_ptr()) }).map(drop)
}

/// The highest capability number this kernel knows, probed with PR_CAPBSET_READ (EINVAL past
/// the last): no /proc needed, which the sandbox may not have. At most 63 (a u64 mask).
pub fn last_cap() -> u8 {
    let mut last = 0;
    while last < 63 && capbset_read(last + 1).is_ok() {
        last += 1;
    }
    last
}

// ---- mounts and file descriptors ----

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
const AT_RECURSIVE: u32 = 0x8000;

/// mount_setattr(2) (Linux 5.12): changes flags on a mount, and with `recursive` on every mount
/// below it, keeping each mount's locked flags.
pub fn mount_setattr(path: &CStr, recursive: bool, set: u64, clear: u64) -> Result<()> {
    let attr = MountAttr { attr_set: set, attr_clr: clear, propagation: 0, userns_fd: 0 };
    let flags = if recursive { AT_RECURSIVE } else { 0 } | libc::AT_SYMLINK_NOFOLLOW as u32;
    // SAFETY: path is NUL-terminated and attr is a valid mount_attr of the size passed.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })
    .map(drop)
}

/// openat2(2) (Linux 5.6) from the current directory with `O_PATH | O_CLOEXEC` and
/// RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS: `path` must reach its file without any symlink.
pub fn open_path_no_symlinks(path: &CStr) -> Result<OwnedFd> {
    // SAFETY: open_how is plain data.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_PATH | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: path is NUL-terminated and how is a valid open_how of the size passed.
    let fd = check_long(unsafe {
        libc::syscall(
            libc::SYS_openat2,
            libc::AT_FDCWD,
            path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    })?;
    // SAFETY: openat2 returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// The current /proc as an `O_PATH` descriptor, to reach the host's after the pivot.
pub fn open_proc() -> Result<OwnedFd> {
    nix::fcntl::open(
        "/proc",
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
}

/// close_range(2) over [first, last].
pub fn close_range(first: u32, last: u32) -> Result<()> {
    // SAFETY: closing descriptors has no memory preconditions; the caller owns every
    // descriptor in the range (the program has not started).
    check_long(unsafe { libc::syscall(libc::SYS_close_range, first, last, 0u32) }).map(drop)
}

/// Borrows a descriptor the process holds open for the duration of the call.
pub fn borrow_fd(fd: RawFd) -> BorrowedFd<'static> {
    // SAFETY: used only for 0, 1, 2 and descriptors checked open with fcntl; none is
    // closed while the borrow is used.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

pub fn fd_is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD on any integer is harmless; EBADF means it is not open.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

/// Takes ownership of a descriptor number inherited from the caller (the status fd).
pub fn own_fd(fd: RawFd) -> Option<OwnedFd> {
    if fd < 0 || !fd_is_open(fd) {
        return None;
    }
    // SAFETY: the descriptor is open and nothing else in this process will close it: the
    // program's copy is closed before it starts.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn write_all(fd: RawFd, mut buf: &[u8]) -> Result<()> {
    while !buf.is_empty() {
        // SAFETY: buf is a valid slice for its length.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast::<c_void>(), buf.len()) };
        match n {
            -1 if Errno::last() == Errno::EINTR => continue,
            -1 => return Err(Errno::last()),
            n => buf = &buf[n as usize..],
        }
    }
    Ok(())
}

// ---- network ----

/// Brings the loopback interface up (SIOCGIFFLAGS, then SIOCSIFFLAGS with IFF_UP).
pub fn loopback_up() -> Result<()> {
    let sock = nix_socket()?;
    // SAFETY: ifreq is plain data; zero is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
        *d = *s as c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the name and fills ifru_flags of a valid ifreq.
    check(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut ifr) })?;
    // SAFETY: ifru_flags was just filled by the kernel.
    unsafe { ifr.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short };
    // SAFETY: SIOCSIFFLAGS reads the name and the flags of a valid ifreq.
    check(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &ifr) }).map(drop)
}

fn nix_socket() -> Result<OwnedFd> {
    // SAFETY: socket has no memory preconditions.
    let fd = check(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: fd was just returned by socket and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

// ---- memory shared between the supervisor and init ----

/// One anonymous shared page holding a `T`, written by init and read by the supervisor after
/// init has exited (the wait orders the accesses).
pub struct SharedPage<T: Copy> {
    ptr: *mut T,
}

impl<T: Copy> SharedPage<T> {
    pub fn new(init: T) -> Result<Self> {
        assert!(std::mem::size_of::<T>() <= 4096);
        // SAFETY: an anonymous mapping with no address hint has no preconditions.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(Errno::last());
        }
        let page = SharedPage { ptr: p.cast::<T>() };
        page.set(init);
        Ok(page)
    }

    pub fn get(&self) -> T {
        // SAFETY: ptr is a live, aligned mapping holding a T (written in `new`).
        unsafe { ptr::read_volatile(self.ptr) }
    }

    pub fn set(&self, v: T) {
        // SAFETY: ptr is a live, aligned, writable mapping large enough for T.
        unsafe { ptr::write_volatile(self.ptr, v) }
    }

    /// Removes the mapping from this process (the program must not see it).
    pub fn unmap(self) {
        // SAFETY: the mapping was created by `new` with this length and is not used after.
        unsafe { libc::munmap(self.ptr.cast::<c_void>(), 4096) };
    }
}

// ---- seccomp ----

/// Loads a ready BPF program (an array of `sock_filter`, 8 bytes each) with seccomp(2).
/// Returns the listener descriptor when `listener` asks for one.
pub fn seccomp_load(bpf: &[u8], listener: bool) -> Result<Option<OwnedFd>> {
    const SECCOMP_SET_MODE_FILTER: u32 = 1;
    const SECCOMP_FILTER_FLAG_NEW_LISTENER: u32 = 1 << 3;
    if bpf.len() % 8 != 0 || bpf.len() / 8 > u16::MAX as usize {
        return Err(Errno::EINVAL);
    }
    let prog = libc::sock_fprog { len: (bpf.len() / 8) as u16, filter: bpf.as_ptr() as *mut libc::sock_filter };
    let flags = if listener { SECCOMP_FILTER_FLAG_NEW_LISTENER } else { 0 };
    // SAFETY: prog points to `len` sock_filter entries in `bpf`, which outlives the call.
    let r = check_long(unsafe { libc::syscall(libc::SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog) })?;
    if listener {
        // SAFETY: with NEW_LISTENER the return value is a fresh descriptor we own.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(r as RawFd) }))
    } else {
        Ok(None)
    }
}

/// The kernel's `struct seccomp_notif` (only what the report needs).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SeccompNotif {
    pub id: u64,
    pub pid: u32,
    pub flags: u32,
    pub nr: c_int,
    pub arch: u32,
    pub instruction_pointer: u64,
    pub args: [u64; 6],
}

/// SECCOMP_IOCTL_NOTIF_RECV: the next pending notification.
pub fn seccomp_notif_recv(fd: BorrowedFd) -> Result<SeccompNotif> {
    const SECCOMP_IOCTL_NOTIF_RECV: libc::c_ulong = 0xc050_2100;
    // SAFETY: the kernel expects a zeroed struct seccomp_notif; all-zero is valid for it.
    let mut n: SeccompNotif = unsafe { std::mem::zeroed() };
    // SAFETY: n is a correctly sized, writable seccomp_notif.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), SECCOMP_IOCTL_NOTIF_RECV, &mut n) })?;
    Ok(n)
}

// ---- pidfd ----

/// pidfd_open(2) for a child of this process.
pub fn pidfd_open(pid: libc::pid_t) -> Result<OwnedFd> {
    // SAFETY: pidfd_open has no memory preconditions.
    let fd = check_long(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0u32) })?;
    // SAFETY: the return value is a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// pidfd_getfd(2): a duplicate of descriptor `target` of the process behind `pidfd`.
pub fn pidfd_getfd(pidfd: BorrowedFd, target: RawFd) -> Result<OwnedFd> {
    // SAFETY: pidfd_getfd has no memory preconditions.
    let fd = check_long(unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), target, 0u32) })?;
    // SAFETY: the return value is a fresh descriptor we own (close-on-exec is set by the kernel).
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

// ---- signalfd ----

/// signalfd(2) for a set that is already blocked.
pub fn signalfd(set: &libc::sigset_t) -> Result<OwnedFd> {
    // SAFETY: set is a valid sigset_t; -1 asks for a new descriptor.
    let fd = check(unsafe { libc::signalfd(-1, set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) })?;
    // SAFETY: fd was just created and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The next signal queued on a signalfd, or `None` when none is pending.
pub fn signalfd_read(fd: BorrowedFd) -> Result<Option<SigInfo>> {
    // SAFETY: signalfd_siginfo is plain data; the kernel fills it.
    let mut si: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::signalfd_siginfo>();
    // SAFETY: si is a writable buffer of exactly `size` bytes.
    let n = unsafe { libc::read(fd.as_raw_fd(), (&mut si as *mut libc::signalfd_siginfo).cast(), size) };
    if n < 0 {
        return match Errno::last() {
            Errno::EAGAIN | Errno::EINTR => Ok(None),
            e => Err(e),
        };
    }
    if n as usize != size {
        return Err(Errno::EIO);
    }
    Ok(Some(SigInfo {
        signo: si.ssi_signo as c_int,
        code: si.ssi_code,
        pid: si.ssi_pid as libc::pid_t,
        value: si.ssi_ptr,
    }))
}

/// Closes every descriptor except those in `keep` (any order).
pub fn close_all_except(keep: &[RawFd]) -> Result<()> {
    let mut keep: Vec<u32> = keep.iter().filter(|&&f| f >= 0).map(|&f| f as u32).collect();
    keep.sort_unstable();
    keep.dedup();
    let mut next = 0u32;
    for k in keep {
        if k > next {
            close_range(next, k - 1)?;
        }
        next = k + 1;
    }
    close_range(next, u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::SelfStat;

    #[test]
    fn self_stat_fields() {
        // A command name with spaces and parentheses, as a program may name itself.
        let line = "6186 (a) b (c) R 6182 6182 14995 0 -1 4194304 125 0 0 0 0 0 0 0 20 0 3 0 1688001 3133440 354 \
                    18446744073709551615 94030757081088 94030757100969 140734600843184 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 \
                    94030757116976 94030757118592 94030967828480 140734600846040 140734600846060 140734600846060 \
                    140734600847339 0\n";
        let s = SelfStat::parse(line);
        assert_eq!(s.threads, Some(3));
        assert_eq!(s.env_block, Some((140734600846060, 140734600847339)));
        let none = SelfStat::parse("1 (x) R 0");
        assert_eq!((none.threads, none.env_block), (None, None));
        // The real one: this test runs single-threaded or not, but always has a count.
        let real = SelfStat::parse(&super::read_proc_file("/proc/self/stat").unwrap());
        assert!(real.threads.is_some_and(|t| t >= 1) && real.env_block.is_some());
    }
}
