//! Names and units the policy accepts: capabilities, sizes, modes, errnos, rlimits, constants.

use super::json::{Json, Ptr, expected, suggest};
use nix::sys::resource::Resource;

use super::PolicyError;

/// Capability names in kernel order (`include/uapi/linux/capability.h`).
pub const CAPABILITIES: &[&str] = &[
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "linux_immutable",
    "net_bind_service",
    "net_broadcast",
    "net_admin",
    "net_raw",
    "ipc_lock",
    "ipc_owner",
    "sys_module",
    "sys_rawio",
    "sys_chroot",
    "sys_ptrace",
    "sys_pacct",
    "sys_admin",
    "sys_boot",
    "sys_nice",
    "sys_resource",
    "sys_time",
    "sys_tty_config",
    "mknod",
    "lease",
    "audit_write",
    "audit_control",
    "setfcap",
    "mac_override",
    "mac_admin",
    "syslog",
    "wake_alarm",
    "block_suspend",
    "audit_read",
    "perfmon",
    "bpf",
    "checkpoint_restore",
];

/// `CAP_NET_BIND_SERVICE`, `cap_net_bind_service` and `net_bind_service` are the same.
pub fn capability(name: &str, ptr: &Ptr) -> Result<u8, PolicyError> {
    let lower = name.to_ascii_lowercase();
    let short = lower.strip_prefix("cap_").unwrap_or(&lower);
    match CAPABILITIES.iter().position(|c| *c == short) {
        Some(i) => Ok(i as u8),
        None => {
            let mut msg = format!("unknown capability \"{name}\"");
            if let Some(s) = suggest(short, CAPABILITIES) {
                msg.push_str(&format!("; did you mean \"CAP_{}\"?", s.to_ascii_uppercase()));
            }
            Err(PolicyError::at(ptr, msg))
        }
    }
}

pub fn capability_name(cap: u8) -> String {
    format!("CAP_{}", CAPABILITIES[cap as usize].to_ascii_uppercase())
}

/// A byte size: a number, or a string with an optional K, M, G or T suffix (powers of 1024).
pub fn size(v: &Json, ptr: &Ptr) -> Result<u64, PolicyError> {
    match v {
        Json::Num(n) => n.as_u64().ok_or_else(|| PolicyError::at(ptr, format!("expected a size in bytes, found {n}"))),
        Json::Str(s) => parse_size(s).ok_or_else(|| {
            PolicyError::at(
                ptr,
                format!("\"{s}\" is not a size; write bytes or a number with K, M, G or T, e.g. \"64M\""),
            )
        }),
        other => Err(expected(ptr, "a size such as \"64M\"", other)),
    }
}

pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (digits, shift) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 10),
        b'm' | b'M' => (&s[..s.len() - 1], 20),
        b'g' | b'G' => (&s[..s.len() - 1], 30),
        b't' | b'T' => (&s[..s.len() - 1], 40),
        _ => (s, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(1u64 << shift)
}

/// A file mode written as an octal string ("0755"); JSON numbers are refused because 755
/// decimal is not what anyone means.
pub fn mode(v: &Json, ptr: &Ptr) -> Result<u32, PolicyError> {
    match v {
        Json::Str(s) if !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| (b'0'..=b'7').contains(&b)) => {
            let m = u32::from_str_radix(s, 8).unwrap_or(u32::MAX);
            if m > 0o7777 { Err(PolicyError::at(ptr, format!("mode \"{s}\" is larger than 07777"))) } else { Ok(m) }
        }
        Json::Str(s) => Err(PolicyError::at(ptr, format!("\"{s}\" is not an octal mode such as \"0755\""))),
        Json::Num(n) => {
            Err(PolicyError::at(ptr, format!("write the mode as an octal string, e.g. \"0{n}\", not a JSON number")))
        }
        other => Err(expected(ptr, "an octal mode string such as \"0755\"", other)),
    }
}

/// Errno by name (`EPERM`) or number.
pub fn errno(v: &Json, ptr: &Ptr) -> Result<i32, PolicyError> {
    match v {
        Json::Num(n) => match n.as_u64() {
            Some(e) if (1..4096).contains(&e) => Ok(e as i32),
            _ => Err(PolicyError::at(ptr, format!("errno {n} is out of range 1..4095"))),
        },
        Json::Str(s) => errno_by_name(s)
            .ok_or_else(|| PolicyError::at(ptr, format!("unknown errno name \"{s}\" (e.g. \"EPERM\", \"ENOSYS\")"))),
        other => Err(expected(ptr, "an errno name such as \"EPERM\" or a number", other)),
    }
}

/// Every errno name of the generic Linux ABI (asm-generic/errno*.h) with this target's number.
const ERRNOS: &[(&str, i32)] = &[
    ("EPERM", libc::EPERM),
    ("ENOENT", libc::ENOENT),
    ("ESRCH", libc::ESRCH),
    ("EINTR", libc::EINTR),
    ("EIO", libc::EIO),
    ("ENXIO", libc::ENXIO),
    ("E2BIG", libc::E2BIG),
    ("ENOEXEC", libc::ENOEXEC),
    ("EBADF", libc::EBADF),
    ("ECHILD", libc::ECHILD),
    ("EAGAIN", libc::EAGAIN),
    ("ENOMEM", libc::ENOMEM),
    ("EACCES", libc::EACCES),
    ("EFAULT", libc::EFAULT),
    ("ENOTBLK", libc::ENOTBLK),
    ("EBUSY", libc::EBUSY),
    ("EEXIST", libc::EEXIST),
    ("EXDEV", libc::EXDEV),
    ("ENODEV", libc::ENODEV),
    ("ENOTDIR", libc::ENOTDIR),
    ("EISDIR", libc::EISDIR),
    ("EINVAL", libc::EINVAL),
    ("ENFILE", libc::ENFILE),
    ("EMFILE", libc::EMFILE),
    ("ENOTTY", libc::ENOTTY),
    ("ETXTBSY", libc::ETXTBSY),
    ("EFBIG", libc::EFBIG),
    ("ENOSPC", libc::ENOSPC),
    ("ESPIPE", libc::ESPIPE),
    ("EROFS", libc::EROFS),
    ("EMLINK", libc::EMLINK),
    ("EPIPE", libc::EPIPE),
    ("EDOM", libc::EDOM),
    ("ERANGE", libc::ERANGE),
    ("EDEADLK", libc::EDEADLK),
    ("ENAMETOOLONG", libc::ENAMETOOLONG),
    ("ENOLCK", libc::ENOLCK),
    ("ENOSYS", libc::ENOSYS),
    ("ENOTEMPTY", libc::ENOTEMPTY),
    ("ELOOP", libc::ELOOP),
    ("ENOMSG", libc::ENOMSG),
    ("EIDRM", libc::EIDRM),
    ("ECHRNG", libc::ECHRNG),
    ("EL2NSYNC", libc::EL2NSYNC),
    ("EL3HLT", libc::EL3HLT),
    ("EL3RST", libc::EL3RST),
    ("ELNRNG", libc::ELNRNG),
    ("EUNATCH", libc::EUNATCH),
    ("ENOCSI", libc::ENOCSI),
    ("EL2HLT", libc::EL2HLT),
    ("EBADE", libc::EBADE),
    ("EBADR", libc::EBADR),
    ("EXFULL", libc::EXFULL),
    ("ENOANO", libc::ENOANO),
    ("EBADRQC", libc::EBADRQC),
    ("EBADSLT", libc::EBADSLT),
    ("EBFONT", libc::EBFONT),
    ("ENOSTR", libc::ENOSTR),
    ("ENODATA", libc::ENODATA),
    ("ETIME", libc::ETIME),
    ("ENOSR", libc::ENOSR),
    ("ENONET", libc::ENONET),
    ("ENOPKG", libc::ENOPKG),
    ("EREMOTE", libc::EREMOTE),
    ("ENOLINK", libc::ENOLINK),
    ("EADV", libc::EADV),
    ("ESRMNT", libc::ESRMNT),
    ("ECOMM", libc::ECOMM),
    ("EPROTO", libc::EPROTO),
    ("EMULTIHOP", libc::EMULTIHOP),
    ("EDOTDOT", libc::EDOTDOT),
    ("EBADMSG", libc::EBADMSG),
    ("EOVERFLOW", libc::EOVERFLOW),
    ("ENOTUNIQ", libc::ENOTUNIQ),
    ("EBADFD", libc::EBADFD),
    ("EREMCHG", libc::EREMCHG),
    ("ELIBACC", libc::ELIBACC),
    ("ELIBBAD", libc::ELIBBAD),
    ("ELIBSCN", libc::ELIBSCN),
    ("ELIBMAX", libc::ELIBMAX),
    ("ELIBEXEC", libc::ELIBEXEC),
    ("EILSEQ", libc::EILSEQ),
    ("ERESTART", libc::ERESTART),
    ("ESTRPIPE", libc::ESTRPIPE),
    ("EUSERS", libc::EUSERS),
    ("ENOTSOCK", libc::ENOTSOCK),
    ("EDESTADDRREQ", libc::EDESTADDRREQ),
    ("EMSGSIZE", libc::EMSGSIZE),
    ("EPROTOTYPE", libc::EPROTOTYPE),
    ("ENOPROTOOPT", libc::ENOPROTOOPT),
    ("EPROTONOSUPPORT", libc::EPROTONOSUPPORT),
    ("ESOCKTNOSUPPORT", libc::ESOCKTNOSUPPORT),
    ("EOPNOTSUPP", libc::EOPNOTSUPP),
    ("EPFNOSUPPORT", libc::EPFNOSUPPORT),
    ("EAFNOSUPPORT", libc::EAFNOSUPPORT),
    ("EADDRINUSE", libc::EADDRINUSE),
    ("EADDRNOTAVAIL", libc::EADDRNOTAVAIL),
    ("ENETDOWN", libc::ENETDOWN),
    ("ENETUNREACH", libc::ENETUNREACH),
    ("ENETRESET", libc::ENETRESET),
    ("ECONNABORTED", libc::ECONNABORTED),
    ("ECONNRESET", libc::ECONNRESET),
    ("ENOBUFS", libc::ENOBUFS),
    ("EISCONN", libc::EISCONN),
    ("ENOTCONN", libc::ENOTCONN),
    ("ESHUTDOWN", libc::ESHUTDOWN),
    ("ETOOMANYREFS", libc::ETOOMANYREFS),
    ("ETIMEDOUT", libc::ETIMEDOUT),
    ("ECONNREFUSED", libc::ECONNREFUSED),
    ("EHOSTDOWN", libc::EHOSTDOWN),
    ("EHOSTUNREACH", libc::EHOSTUNREACH),
    ("EALREADY", libc::EALREADY),
    ("EINPROGRESS", libc::EINPROGRESS),
    ("ESTALE", libc::ESTALE),
    ("EUCLEAN", libc::EUCLEAN),
    ("ENOTNAM", libc::ENOTNAM),
    ("ENAVAIL", libc::ENAVAIL),
    ("EISNAM", libc::EISNAM),
    ("EREMOTEIO", libc::EREMOTEIO),
    ("EDQUOT", libc::EDQUOT),
    ("ENOMEDIUM", libc::ENOMEDIUM),
    ("EMEDIUMTYPE", libc::EMEDIUMTYPE),
    ("ECANCELED", libc::ECANCELED),
    ("ENOKEY", libc::ENOKEY),
    ("EKEYEXPIRED", libc::EKEYEXPIRED),
    ("EKEYREVOKED", libc::EKEYREVOKED),
    ("EKEYREJECTED", libc::EKEYREJECTED),
    ("EOWNERDEAD", libc::EOWNERDEAD),
    ("ENOTRECOVERABLE", libc::ENOTRECOVERABLE),
    ("ERFKILL", libc::ERFKILL),
    ("EHWPOISON", libc::EHWPOISON),
];

pub fn errno_by_name(name: &str) -> Option<i32> {
    // Linux aliases.
    let name = match name {
        "ENOTSUP" => "EOPNOTSUPP",
        "EWOULDBLOCK" => "EAGAIN",
        "EDEADLOCK" => "EDEADLK",
        other => other,
    };
    ERRNOS.iter().find(|(n, _)| *n == name).map(|(_, e)| *e)
}

/// `ENOENT` for 2; the number itself when the name is unknown.
pub fn errno_name(e: i32) -> String {
    match ERRNOS.iter().find(|(_, n)| *n == e) {
        Some((name, _)) => (*name).to_owned(),
        None => format!("errno {e}"),
    }
}

/// Resource names as `prlimit(1)` spells them, with whether their values are byte sizes.
pub const RLIMITS: &[(&str, Resource, Unit)] = &[
    ("as", Resource::RLIMIT_AS, Unit::Bytes),
    ("core", Resource::RLIMIT_CORE, Unit::Bytes),
    ("cpu", Resource::RLIMIT_CPU, Unit::Seconds),
    ("data", Resource::RLIMIT_DATA, Unit::Bytes),
    ("fsize", Resource::RLIMIT_FSIZE, Unit::Bytes),
    ("locks", Resource::RLIMIT_LOCKS, Unit::Count),
    ("memlock", Resource::RLIMIT_MEMLOCK, Unit::Bytes),
    ("msgqueue", Resource::RLIMIT_MSGQUEUE, Unit::Bytes),
    ("nice", Resource::RLIMIT_NICE, Unit::Count),
    ("nofile", Resource::RLIMIT_NOFILE, Unit::Count),
    ("nproc", Resource::RLIMIT_NPROC, Unit::Count),
    ("rss", Resource::RLIMIT_RSS, Unit::Bytes),
    ("rtprio", Resource::RLIMIT_RTPRIO, Unit::Count),
    ("rttime", Resource::RLIMIT_RTTIME, Unit::Count),
    ("sigpending", Resource::RLIMIT_SIGPENDING, Unit::Count),
    ("stack", Resource::RLIMIT_STACK, Unit::Bytes),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Bytes,
    Seconds,
    Count,
}

/// One rlimit value: bytes accept size suffixes; everything accepts "unlimited".
pub fn limit_value(v: &Json, ptr: &Ptr, unit: Unit) -> Result<u64, PolicyError> {
    match v {
        Json::Str(s) if s == "unlimited" => Ok(libc::RLIM_INFINITY),
        Json::Str(_) if unit == Unit::Bytes => size(v, ptr),
        Json::Num(n) => {
            n.as_u64().ok_or_else(|| PolicyError::at(ptr, format!("expected a non-negative integer, found {n}")))
        }
        Json::Str(s) => Err(PolicyError::at(ptr, format!("\"{s}\" is not a number or \"unlimited\""))),
        other => Err(expected(ptr, "a number or \"unlimited\"", other)),
    }
}

/// Named constants usable as seccomp argument values.
pub const CONSTANTS: &[(&str, u64)] = &[
    // ioctl requests
    ("TIOCSTI", 0x5412),
    ("TIOCLINUX", 0x541C),
    ("TIOCSCTTY", 0x540E),
    ("TIOCSETD", 0x5423),
    ("FIONREAD", 0x541B),
    ("FIONBIO", 0x5421),
    ("FIOCLEX", 0x5451),
    ("FIONCLEX", 0x5450),
    ("TCGETS", 0x5401),
    ("TIOCGWINSZ", 0x5413),
    ("TIOCSWINSZ", 0x5414),
    // clone and unshare flags
    ("CLONE_NEWNS", libc::CLONE_NEWNS as u64),
    ("CLONE_NEWCGROUP", libc::CLONE_NEWCGROUP as u64),
    ("CLONE_NEWUTS", libc::CLONE_NEWUTS as u64),
    ("CLONE_NEWIPC", libc::CLONE_NEWIPC as u64),
    ("CLONE_NEWUSER", libc::CLONE_NEWUSER as u64),
    ("CLONE_NEWPID", libc::CLONE_NEWPID as u64),
    ("CLONE_NEWNET", libc::CLONE_NEWNET as u64),
    ("CLONE_NEWTIME", 0x80),
    // Every CLONE_NEW* flag together, for one masked rule.
    ("CLONE_NEW_ANY", 0x7E02_0080),
    ("CLONE_THREAD", libc::CLONE_THREAD as u64),
    ("CLONE_VM", libc::CLONE_VM as u64),
    // address families
    ("AF_UNSPEC", libc::AF_UNSPEC as u64),
    ("AF_UNIX", libc::AF_UNIX as u64),
    ("AF_LOCAL", libc::AF_UNIX as u64),
    ("AF_INET", libc::AF_INET as u64),
    ("AF_INET6", libc::AF_INET6 as u64),
    ("AF_NETLINK", libc::AF_NETLINK as u64),
    ("AF_PACKET", libc::AF_PACKET as u64),
    ("AF_VSOCK", libc::AF_VSOCK as u64),
    ("AF_BLUETOOTH", libc::AF_BLUETOOTH as u64),
    ("AF_ALG", libc::AF_ALG as u64),
    ("AF_KEY", libc::AF_KEY as u64),
    ("SOCK_STREAM", libc::SOCK_STREAM as u64),
    ("SOCK_DGRAM", libc::SOCK_DGRAM as u64),
    ("SOCK_RAW", libc::SOCK_RAW as u64),
    // prctl options
    ("PR_SET_NAME", libc::PR_SET_NAME as u64),
    ("PR_GET_NAME", libc::PR_GET_NAME as u64),
    ("PR_SET_PDEATHSIG", libc::PR_SET_PDEATHSIG as u64),
    ("PR_SET_DUMPABLE", libc::PR_SET_DUMPABLE as u64),
    ("PR_SET_NO_NEW_PRIVS", libc::PR_SET_NO_NEW_PRIVS as u64),
    ("PR_SET_SECCOMP", libc::PR_SET_SECCOMP as u64),
    ("PR_CAPBSET_DROP", libc::PR_CAPBSET_DROP as u64),
    ("PR_SET_SECUREBITS", libc::PR_SET_SECUREBITS as u64),
    ("PR_SET_MM", libc::PR_SET_MM as u64),
    ("PR_SET_PTRACER", libc::PR_SET_PTRACER as u64),
    // personality values
    ("PER_LINUX", 0x0000),
    ("PER_LINUX32", 0x0008),
    ("UNAME26", 0x0002_0000),
    ("PER_QUERY", 0xffff_ffff),
    ("ADDR_NO_RANDOMIZE", 0x0004_0000),
    ("READ_IMPLIES_EXEC", 0x0040_0000),
    // mmap and mprotect
    ("PROT_EXEC", libc::PROT_EXEC as u64),
    ("PROT_WRITE", libc::PROT_WRITE as u64),
];

/// A seccomp comparison value: a number, a hex or decimal string, or a named constant;
/// constants may be joined with `|`.
pub fn constant(v: &Json, ptr: &Ptr) -> Result<u64, PolicyError> {
    match v {
        Json::Num(n) => n
            .as_u64()
            .or_else(|| n.as_i64().map(|i| i as u64))
            .ok_or_else(|| PolicyError::at(ptr, format!("expected an integer, found {n}"))),
        Json::Str(s) => {
            let mut acc = 0u64;
            for part in s.split('|') {
                acc |= constant_term(part.trim()).ok_or_else(|| {
                    let names: Vec<&str> = CONSTANTS.iter().map(|(n, _)| *n).collect();
                    let mut msg = format!("\"{}\" is not a number or a known constant", part.trim());
                    if let Some(s) = suggest(part.trim(), &names) {
                        msg.push_str(&format!("; did you mean \"{s}\"?"));
                    }
                    PolicyError::at(ptr, msg)
                })?;
            }
            Ok(acc)
        }
        other => Err(expected(ptr, "a number, a hex string or a constant name", other)),
    }
}

fn constant_term(s: &str) -> Option<u64> {
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16).ok();
    }
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    CONSTANTS.iter().find(|(n, _)| *n == s).map(|(_, v)| *v)
}

#[cfg(all(test, not(selfbox_tools)))]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64M"), Some(64 << 20));
        assert_eq!(parse_size("4G"), Some(4 << 30));
        assert_eq!(parse_size("64K"), Some(65536));
        assert_eq!(parse_size("123"), Some(123));
        assert_eq!(parse_size("1.5G"), None);
        assert_eq!(parse_size("M"), None);
        assert_eq!(parse_size("-1"), None);
        assert_eq!(parse_size("99999999999T"), None);
    }

    #[test]
    fn modes() {
        let p = Ptr::root();
        assert_eq!(mode(&Json::Str("0700".into()), &p).unwrap(), 0o700);
        assert_eq!(mode(&Json::Str("1777".into()), &p).unwrap(), 0o1777);
        assert!(mode(&Json::Str("0800".into()), &p).is_err());
        assert!(mode(&Json::Num(755.into()), &p).unwrap_err().to_string().contains("\"0755\""));
    }

    #[test]
    fn errnos() {
        assert_eq!(errno_by_name("EPERM"), Some(1));
        assert_eq!(errno_by_name("ENOSYS"), Some(libc::ENOSYS));
        assert_eq!(errno_name(libc::ENOENT), "ENOENT");
        assert_eq!(errno_by_name("EWHAT"), None);
        assert_eq!(errno_by_name("ENOTSUP"), Some(libc::ENOTSUP));
        assert_eq!(errno_by_name("EWOULDBLOCK"), Some(libc::EWOULDBLOCK));
    }

    #[test]
    fn capabilities() {
        let p = Ptr::root();
        assert_eq!(capability("CAP_NET_BIND_SERVICE", &p).unwrap(), 10);
        assert_eq!(capability("sys_admin", &p).unwrap(), 21);
        assert_eq!(capability_name(40), "CAP_CHECKPOINT_RESTORE");
        let e = capability("CAP_NET_BIND_SERVCE", &p).unwrap_err().to_string();
        assert!(e.contains("did you mean \"CAP_NET_BIND_SERVICE\""), "{e}");
    }

    #[test]
    fn constants() {
        let p = Ptr::root();
        assert_eq!(constant(&Json::Str("TIOCSTI".into()), &p).unwrap(), 0x5412);
        assert_eq!(constant(&Json::Str("0xffffffff".into()), &p).unwrap(), 0xffff_ffff);
        assert_eq!(
            constant(&Json::Str("CLONE_NEWUSER|CLONE_NEWNS".into()), &p).unwrap(),
            (libc::CLONE_NEWUSER | libc::CLONE_NEWNS) as u64
        );
        let all = libc::CLONE_NEWNS
            | libc::CLONE_NEWCGROUP
            | libc::CLONE_NEWUTS
            | libc::CLONE_NEWIPC
            | libc::CLONE_NEWUSER
            | libc::CLONE_NEWPID
            | libc::CLONE_NEWNET
            | 0x80;
        assert_eq!(constant(&Json::Str("CLONE_NEW_ANY".into()), &p).unwrap(), all as u64);
        assert!(constant(&Json::Str("TIOCST".into()), &p).unwrap_err().to_string().contains("TIOCSTI"));
    }
}
