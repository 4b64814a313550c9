//! What the launcher must know about an executable before it trusts LD_PRELOAD with it
//! (PITFALLS 9-12): is it dynamically linked, does its `_start` reach `__libc_start_main`, is it
//! of the library's ELF class and machine, or is it a `#!` script.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Elf {
    pub class64: bool,
    pub little: bool,
    pub machine: u16,
    /// PT_INTERP: the dynamic loader that would load the preload. None: static (or static-pie).
    pub interp: Option<String>,
    /// An undefined `__libc_start_main` in .dynsym; None when the section headers are gone.
    pub imports_start_main: Option<bool>,
    /// Has the `.selfbox` section that marks libselfbox.so.
    pub selfbox_marker: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exe {
    Elf(Elf),
    /// `#!interpreter [arg]`
    Script {
        interp: String,
        arg: Option<String>,
    },
    Other,
}

struct Reader<'a> {
    f: &'a File,
    little: bool,
    class64: bool,
}

impl Reader<'_> {
    fn bytes(&self, off: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut b = vec![0u8; len];
        self.f.read_exact_at(&mut b, off)?;
        Ok(b)
    }
    fn u16(&self, b: &[u8], at: usize) -> u16 {
        let a = [b[at], b[at + 1]];
        if self.little { u16::from_le_bytes(a) } else { u16::from_be_bytes(a) }
    }
    fn u32(&self, b: &[u8], at: usize) -> u32 {
        let a = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if self.little { u32::from_le_bytes(a) } else { u32::from_be_bytes(a) }
    }
    fn u64(&self, b: &[u8], at: usize) -> u64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[at..at + 8]);
        if self.little { u64::from_le_bytes(a) } else { u64::from_be_bytes(a) }
    }
}

const PT_INTERP: u32 = 3;
const SHT_DYNSYM: u32 = 11;

pub fn inspect(path: &Path) -> io::Result<Exe> {
    let f = File::open(path)?;
    let mut head = [0u8; 64];
    let n = f.read_at(&mut head, 0)?;
    if n >= 2 && &head[..2] == b"#!" {
        return Ok(script(&f));
    }
    if n < 52 || &head[..4] != b"\x7fELF" {
        return Ok(Exe::Other);
    }
    let class64 = head[4] == 2;
    let little = head[5] == 1;
    let r = Reader { f: &f, little, class64 };
    let machine = r.u16(&head, 18);
    let (phoff, shoff, phentsize, phnum, shentsize, shnum) = if class64 {
        (r.u64(&head, 32), r.u64(&head, 40), r.u16(&head, 54), r.u16(&head, 56), r.u16(&head, 58), r.u16(&head, 60))
    } else {
        (
            u64::from(r.u32(&head, 28)),
            u64::from(r.u32(&head, 32)),
            r.u16(&head, 42),
            r.u16(&head, 44),
            r.u16(&head, 46),
            r.u16(&head, 48),
        )
    };
    let mut interp = None;
    for i in 0..u64::from(phnum) {
        let ph = r.bytes(phoff + i * u64::from(phentsize), phentsize as usize)?;
        if r.u32(&ph, 0) == PT_INTERP {
            let (off, size) = if class64 {
                (r.u64(&ph, 8), r.u64(&ph, 32))
            } else {
                (u64::from(r.u32(&ph, 4)), u64::from(r.u32(&ph, 16)))
            };
            let raw = r.bytes(off, size.min(4096) as usize)?;
            interp = Some(String::from_utf8_lossy(raw.split(|b| *b == 0).next().unwrap_or(&[])).into_owned());
        }
    }
    let (imports_start_main, selfbox_marker) = if shoff == 0 || shnum == 0 {
        (None, false)
    } else {
        let shstrndx = if class64 { r.u16(&head, 62) } else { r.u16(&head, 50) };
        (
            dynsym_has_undefined(&r, shoff, shentsize, shnum, "__libc_start_main")?,
            has_section(&r, shoff, shentsize, shnum, shstrndx, ".selfbox")?,
        )
    };
    Ok(Exe::Elf(Elf { class64, little, machine, interp, imports_start_main, selfbox_marker }))
}

fn dynsym_has_undefined(r: &Reader, shoff: u64, shentsize: u16, shnum: u16, want: &str) -> io::Result<Option<bool>> {
    let section = |i: u64| r.bytes(shoff + i * u64::from(shentsize), shentsize as usize);
    for i in 0..u64::from(shnum) {
        let sh = section(i)?;
        if r.u32(&sh, 4) != SHT_DYNSYM {
            continue;
        }
        let (off, size, link, entsize) = if r.class64 {
            (r.u64(&sh, 24), r.u64(&sh, 32), r.u32(&sh, 40), r.u64(&sh, 56))
        } else {
            (u64::from(r.u32(&sh, 16)), u64::from(r.u32(&sh, 20)), r.u32(&sh, 24), u64::from(r.u32(&sh, 36)))
        };
        let strsh = section(u64::from(link))?;
        let (stroff, strsize) = if r.class64 {
            (r.u64(&strsh, 24), r.u64(&strsh, 32))
        } else {
            (u64::from(r.u32(&strsh, 16)), u64::from(r.u32(&strsh, 20)))
        };
        if entsize == 0 || size > 64 << 20 || strsize > 64 << 20 {
            return Ok(None);
        }
        let syms = r.bytes(off, size as usize)?;
        let strs = r.bytes(stroff, strsize as usize)?;
        for s in syms.chunks_exact(entsize as usize) {
            let name = r.u32(s, 0) as usize;
            let shndx = if r.class64 { r.u16(s, 6) } else { r.u16(s, 14) };
            if shndx != 0 || name >= strs.len() {
                continue;
            }
            if strs[name..].split(|b| *b == 0).next() == Some(want.as_bytes()) {
                return Ok(Some(true));
            }
        }
        return Ok(Some(false));
    }
    Ok(None)
}

fn has_section(r: &Reader, shoff: u64, shentsize: u16, shnum: u16, shstrndx: u16, want: &str) -> io::Result<bool> {
    let section = |i: u64| r.bytes(shoff + i * u64::from(shentsize), shentsize as usize);
    if shstrndx >= shnum {
        return Ok(false);
    }
    let strsh = section(u64::from(shstrndx))?;
    let (stroff, strsize) = if r.class64 {
        (r.u64(&strsh, 24), r.u64(&strsh, 32))
    } else {
        (u64::from(r.u32(&strsh, 16)), u64::from(r.u32(&strsh, 20)))
    };
    if strsize > 1 << 20 {
        return Ok(false);
    }
    let names = r.bytes(stroff, strsize as usize)?;
    for i in 0..u64::from(shnum) {
        let name = r.u32(&section(i)?, 0) as usize;
        if name < names.len() && names[name..].split(|b| *b == 0).next() == Some(want.as_bytes()) {
            return Ok(true);
        }
    }
    Ok(false)
}

fn script(f: &File) -> Exe {
    let mut line = [0u8; 256];
    let n = f.read_at(&mut line, 0).unwrap_or(0);
    let text = String::from_utf8_lossy(&line[2..n]);
    let first = text.lines().next().unwrap_or("").trim();
    // Linux passes everything after the interpreter as one argument.
    let (interp, arg) = match first.split_once([' ', '\t']) {
        Some((i, a)) => (i.to_owned(), Some(a.trim().to_owned()).filter(|a| !a.is_empty())),
        None => (first.to_owned(), None),
    };
    Exe::Script { interp, arg }
}

/// `EM_*` names for messages.
pub fn machine_name(m: u16) -> String {
    match m {
        3 => "i386".into(),
        62 => "x86_64".into(),
        40 => "arm".into(),
        183 => "aarch64".into(),
        243 => "riscv".into(),
        21 => "ppc64".into(),
        22 => "s390".into(),
        other => format!("machine {other}"),
    }
}
