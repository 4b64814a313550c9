//! What the launcher must know about an executable before it trusts LD_PRELOAD with it
//! (PITFALLS 9-12): is it dynamically linked and by which loader, does its `_start` reach
//! `__libc_start_main`, does anything of it run before that, is it of the library's ELF class
//! and machine, or is it a `#!` script. Everything is read from one open file, the one that is
//! then executed.

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::FileExt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Elf {
    pub class64: bool,
    pub little: bool,
    pub machine: u16,
    /// The first PT_INTERP (the one the kernel uses): the loader that would read LD_PRELOAD.
    /// None: static (or static-pie).
    pub interp: Option<OsString>,
    /// An undefined `__libc_start_main` in .dynsym; None when the section headers are gone.
    pub imports_start_main: Option<bool>,
    /// Has the `.selfbox` section that marks libselfbox.so.
    pub selfbox_marker: bool,
    /// Dynamic entries whose code runs before `__libc_start_main` (DT_PREINIT_ARRAY, DT_AUDIT,
    /// DT_DEPAUDIT), by name.
    pub early_code: Vec<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exe {
    Elf(Elf),
    /// `#!interpreter [arg]`, parsed as the kernel's binfmt_script does.
    Script {
        interp: OsString,
        arg: Option<OsString>,
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
    /// An address-sized field.
    fn word(&self, b: &[u8], at: usize) -> u64 {
        if self.class64 { self.u64(b, at) } else { u64::from(self.u32(b, at)) }
    }
}

const PT_INTERP: u32 = 3;
const PT_DYNAMIC: u32 = 2;
const SHT_DYNSYM: u32 = 11;
const EARLY_TAGS: &[(u64, &str)] = &[(32, "DT_PREINIT_ARRAY"), (0x6fff_fefc, "DT_AUDIT"), (0x6fff_fefb, "DT_DEPAUDIT")];

/// Inspects an open executable.
pub fn inspect(f: &File) -> io::Result<Exe> {
    let mut head = [0u8; 64];
    let n = f.read_at(&mut head, 0)?;
    if n >= 2 && &head[..2] == b"#!" {
        return Ok(script(f));
    }
    if n < 52 || &head[..4] != b"\x7fELF" {
        return Ok(Exe::Other);
    }
    let class64 = head[4] == 2;
    let little = head[5] == 1;
    let r = Reader { f, little, class64 };
    let machine = r.u16(&head, 18);
    let (phoff, shoff, phentsize, phnum, shentsize, shnum, shstrndx) = if class64 {
        (
            r.u64(&head, 32),
            r.u64(&head, 40),
            r.u16(&head, 54),
            r.u16(&head, 56),
            r.u16(&head, 58),
            r.u16(&head, 60),
            r.u16(&head, 62),
        )
    } else {
        (
            u64::from(r.u32(&head, 28)),
            u64::from(r.u32(&head, 32)),
            r.u16(&head, 42),
            r.u16(&head, 44),
            r.u16(&head, 46),
            r.u16(&head, 48),
            r.u16(&head, 50),
        )
    };
    let mut interp = None;
    let mut early_code = Vec::new();
    for i in 0..u64::from(phnum) {
        let ph = r.bytes(phoff + i * u64::from(phentsize), phentsize as usize)?;
        let (off, size) = if class64 {
            (r.u64(&ph, 8), r.u64(&ph, 32))
        } else {
            (u64::from(r.u32(&ph, 4)), u64::from(r.u32(&ph, 16)))
        };
        match r.u32(&ph, 0) {
            // The kernel takes the first one.
            PT_INTERP if interp.is_none() => {
                let raw = r.bytes(off, size.min(4096) as usize)?;
                interp = Some(OsString::from_vec(raw.split(|b| *b == 0).next().unwrap_or(&[]).to_vec()));
            }
            PT_DYNAMIC => {
                let ent = if class64 { 16 } else { 8 };
                let raw = r.bytes(off, size.min(64 << 10) as usize)?;
                for e in raw.chunks_exact(ent) {
                    let tag = r.word(e, 0);
                    if tag == 0 {
                        break;
                    }
                    if let Some((_, name)) = EARLY_TAGS.iter().find(|(t, _)| *t == tag) {
                        early_code.push(*name);
                    }
                }
            }
            _ => {}
        }
    }
    let (imports_start_main, selfbox_marker) = if shoff == 0 || shnum == 0 {
        (None, false)
    } else {
        (
            dynsym_has_undefined(&r, shoff, shentsize, shnum, "__libc_start_main")?,
            has_section(&r, shoff, shentsize, shnum, shstrndx, ".selfbox")?,
        )
    };
    Ok(Exe::Elf(Elf { class64, little, machine, interp, imports_start_main, selfbox_marker, early_code }))
}

fn section_range(r: &Reader, sh: &[u8]) -> (u64, u64) {
    if r.class64 { (r.u64(sh, 24), r.u64(sh, 32)) } else { (u64::from(r.u32(sh, 16)), u64::from(r.u32(sh, 20))) }
}

fn dynsym_has_undefined(r: &Reader, shoff: u64, shentsize: u16, shnum: u16, want: &str) -> io::Result<Option<bool>> {
    let section = |i: u64| r.bytes(shoff + i * u64::from(shentsize), shentsize as usize);
    for i in 0..u64::from(shnum) {
        let sh = section(i)?;
        if r.u32(&sh, 4) != SHT_DYNSYM {
            continue;
        }
        let (off, size) = section_range(r, &sh);
        let (link, entsize) =
            if r.class64 { (r.u32(&sh, 40), r.u64(&sh, 56)) } else { (r.u32(&sh, 24), u64::from(r.u32(&sh, 36))) };
        let (stroff, strsize) = section_range(r, &section(u64::from(link))?);
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
    let (stroff, strsize) = section_range(r, &section(u64::from(shstrndx))?);
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

/// The `#!` line exactly as binfmt_script reads it: at most 256 bytes, spaces and tabs skipped,
/// the interpreter ends at a space, tab, NUL or newline, the rest of the line (without its
/// outer spaces and tabs) is one argument. Bytes, not text.
fn script(f: &File) -> Exe {
    let mut buf = [0u8; 256];
    let n = f.read_at(&mut buf, 0).unwrap_or(0);
    let line = &buf[2..n];
    let line = &line[..line.iter().position(|b| *b == b'\n').unwrap_or(line.len())];
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let rest = &line[line.iter().position(|b| !blank(b)).unwrap_or(line.len())..];
    let end = rest.iter().position(|b| blank(b) || *b == 0).unwrap_or(rest.len());
    let interp = rest[..end].to_vec();
    let after = &rest[end..];
    let after = &after[..after.iter().position(|b| *b == 0).unwrap_or(after.len())];
    let start = after.iter().position(|b| !blank(b)).unwrap_or(after.len());
    let stop = after.iter().rposition(|b| !blank(b)).map_or(start, |i| i + 1);
    let arg = (start < stop).then(|| OsString::from_vec(after[start..stop].to_vec()));
    Exe::Script { interp: OsString::from_vec(interp), arg }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &[u8]) -> Exe {
        let path = std::env::temp_dir().join(format!("selfbox-elf-test-{}", std::process::id()));
        std::fs::write(&path, line).unwrap();
        let e = inspect(&File::open(&path).unwrap()).unwrap();
        std::fs::remove_file(&path).unwrap();
        e
    }

    #[test]
    fn shebang_lines_as_the_kernel_reads_them() {
        let s = |i: &str, a: Option<&str>| Exe::Script { interp: i.into(), arg: a.map(Into::into) };
        assert_eq!(parse(b"#!/bin/sh\n"), s("/bin/sh", None));
        assert_eq!(parse(b"#! /usr/bin/env  python3 -u \nx"), s("/usr/bin/env", Some("python3 -u")));
        assert_eq!(parse(b"#!\x0b/usr/bin/true\n"), s("\x0b/usr/bin/true", None));
        assert_eq!(parse(b"#!./sh\r\n"), s("./sh\r", None));
        assert_eq!(parse(b"#!./\xff\n"), Exe::Script { interp: OsString::from_vec(b"./\xff".to_vec()), arg: None });
    }
}
