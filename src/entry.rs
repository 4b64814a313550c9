//! The exported hook and the guards: the only file that talks to the loader.
//!
//! `__libc_start_main` is the one symbol this library exports. The program's `_start` calls
//! it; we build the sandbox and then hand over to glibc's, which runs the executable's own
//! constructors and `main` inside the sandbox.

use std::ffi::{CStr, c_char, c_int, c_void};

use crate::env::LibId;
use crate::error::{Error, Result, Step};
use crate::{log, run, sys};

type StartMain = unsafe extern "C" fn(
    main: *const c_void,
    argc: c_int,
    argv: *mut *mut c_char,
    init: *const c_void,
    fini: *const c_void,
    rtld_fini: *const c_void,
    stack_end: *mut c_void,
) -> c_int;

/// The hook (x86_64, aarch64, riscv64 signature). The last four arguments pass through.
///
/// # Safety
/// Called by the program's `_start` exactly as glibc's own would be.
#[cfg(not(test))]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __libc_start_main(
    main: *const c_void,
    argc: c_int,
    argv: *mut *mut c_char,
    init: *const c_void,
    fini: *const c_void,
    rtld_fini: *const c_void,
    stack_end: *mut c_void,
) -> c_int {
    // SAFETY: RTLD_NEXT with a NUL-terminated name; dlsym has no other precondition.
    let next = unsafe { libc::dlsym(libc::RTLD_NEXT, c"__libc_start_main".as_ptr()) };
    if next.is_null() {
        fatal(&Error::refused(
            Step::Guard,
            "dlsym(RTLD_NEXT, __libc_start_main) found nothing",
            "glibc is not loaded after the preload",
        ));
    }
    // A panic must never continue into main, nor end as SIGABRT with a backtrace: one line,
    // exit 125 (the profile aborts on panic, so the hook runs instead of unwinding).
    std::panic::set_hook(Box::new(|info| {
        let msg = format!("selfbox: internal error: {info} (please report this)\n");
        let _ = sys::write_all(2, msg.as_bytes());
        sys::exit(125);
    }));
    match std::panic::catch_unwind(setup) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => fatal(&e),
        Err(_) => sys::exit(125),
    }
    // The program's own panics (if it is Rust) are not ours to report.
    let _ = std::panic::take_hook();
    // SAFETY: `next` is glibc's __libc_start_main, whose type is StartMain on this platform.
    let real: StartMain = unsafe { std::mem::transmute::<*mut c_void, StartMain>(next) };
    // SAFETY: the arguments are exactly those the program's _start passed to us.
    unsafe { real(main, argc, argv, init, fini, rtld_fini, stack_end) }
}

fn fatal(e: &Error) -> ! {
    log::fatal(e);
    sys::exit(125)
}

/// Steps 2 to 11.
fn setup() -> Result<()> {
    log::init(crate::env::caller_var("SELFBOX_LOG").as_deref());
    let stat = guards()?;
    log::debug!("hook", "guards passed");
    run::run(&run::Start { lib: LibId::from_path(&own_path()), env_block: stat.env_block })
}

/// Step 2: situations in which a sandbox cannot be built correctly.
fn guards() -> Result<sys::SelfStat> {
    if sys::secure_exec() {
        return Err(Error::refused(
            Step::Guard,
            "the program runs in secure-execution mode (setuid, setgid or file capabilities)",
            "selfbox cannot sandbox such programs; run them through a policy without privileges",
        ));
    }
    let text = sys::read_proc_file("/proc/self/stat").map_err(|e| {
        Error::call(
            Step::Guard,
            "read(/proc/self/stat)",
            nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        )
        .hint("selfbox needs /proc")
    })?;
    let stat = sys::SelfStat::parse(&text);
    let Some(threads) = stat.threads else {
        return Err(Error::refused(
            Step::Guard,
            "no thread count in /proc/self/stat",
            "selfbox needs a procfs that shows it",
        ));
    };
    if threads > 1 {
        return Err(Error::refused(
            Step::Guard,
            format!("the process already has {threads} threads"),
            "a library constructor started a thread; namespaces cannot be created then",
        ));
    }
    Ok(stat)
}

/// The path this library was loaded from, as the loader knows it.
fn own_path() -> String {
    // SAFETY: Dl_info is plain data; dladdr fills it.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    let addr = own_path as *const c_void;
    // SAFETY: addr is an address inside this library; info is a valid out-pointer.
    let ok = unsafe { libc::dladdr(addr, &mut info) } != 0;
    if !ok || info.dli_fname.is_null() {
        return String::new();
    }
    // SAFETY: dli_fname is a NUL-terminated string owned by the loader for the library's life.
    unsafe { CStr::from_ptr(info.dli_fname) }.to_string_lossy().into_owned()
}

// ---- the constructor: refuse executables whose _start never calls __libc_start_main ----

/// Runs when the library is loaded, before any program code. An executable with its own entry
/// point would never reach the hook and run unsandboxed: refuse it here.
#[cfg_attr(test, allow(dead_code))]
extern "C" fn check_entry() {
    if !main_imports_start_main() {
        log::init(None);
        let exe = std::fs::read_link("/proc/self/exe").map(|p| p.display().to_string()).unwrap_or_default();
        fatal(&Error::refused(
            Step::Guard,
            format!("{exe} does not call __libc_start_main (its own entry point)"),
            "the sandbox would never be built; selfbox cannot run it",
        ));
    }
}

#[cfg(not(test))]
#[used]
#[unsafe(link_section = ".init_array")]
static CHECK_ENTRY: extern "C" fn() = check_entry;

/// `Elf64_Dyn` (elf.h).
#[repr(C)]
struct Elf64Dyn {
    d_tag: i64,
    d_val: u64,
}

/// Whether the main executable has a relocation against `__libc_start_main` (how its `_start`
/// reaches glibc), read from the in-memory dynamic section, not from the file.
fn main_imports_start_main() -> bool {
    let mut found: c_int = -1;
    // SAFETY: the callback only reads the loader's program headers for the duration of the call
    // and writes to `found` through the data pointer we pass.
    unsafe { libc::dl_iterate_phdr(Some(first_object), (&mut found as *mut c_int).cast()) };
    // Undecidable (e.g. no dynamic section found): do not refuse on a guess.
    found != 0
}

/// dl_iterate_phdr callback: inspects only the first object, the main executable.
unsafe extern "C" fn first_object(info: *mut libc::dl_phdr_info, _size: usize, data: *mut c_void) -> c_int {
    // SAFETY: the loader passes a valid dl_phdr_info for the duration of the callback.
    let info = unsafe { &*info };
    // SAFETY: data is the &mut c_int passed by main_imports_start_main.
    let out = unsafe { &mut *data.cast::<c_int>() };
    // SAFETY: dlpi_phdr points to dlpi_phnum program headers.
    let phdrs = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
    let bias = info.dlpi_addr as usize;
    let Some(dynamic) = phdrs.iter().find(|p| p.p_type == libc::PT_DYNAMIC) else { return 1 };
    let mut dyn_ptr = (bias + dynamic.p_vaddr as usize) as *const Elf64Dyn;
    let (mut symtab, mut strtab, mut rela, mut relasz, mut jmprel, mut pltrelsz) = (0, 0, 0, 0, 0, 0);
    loop {
        // SAFETY: the dynamic section is an array terminated by DT_NULL, mapped by the loader.
        let d = unsafe { &*dyn_ptr };
        let v = d.d_val as usize;
        match d.d_tag {
            0 => break, // DT_NULL
            6 => symtab = v,
            5 => strtab = v,
            7 => rela = v,
            8 => relasz = v,
            23 => jmprel = v,
            2 => pltrelsz = v,
            _ => {}
        }
        // SAFETY: DT_NULL has not been reached, so the next entry exists.
        dyn_ptr = unsafe { dyn_ptr.add(1) };
    }
    // glibc relocates these entries in place on most architectures; others leave them relative.
    let abs = |a: usize| if a != 0 && a < bias { a + bias } else { a };
    let (symtab, strtab) = (abs(symtab), abs(strtab));
    if symtab == 0 || strtab == 0 {
        return 1;
    }
    let mut hit = false;
    for (table, size) in [(abs(rela), relasz), (abs(jmprel), pltrelsz)] {
        if table == 0 {
            continue;
        }
        let count = size / std::mem::size_of::<libc::Elf64_Rela>();
        // SAFETY: DT_RELA/DT_JMPREL point to `size` bytes of Elf64_Rela entries.
        let relas = unsafe { std::slice::from_raw_parts(table as *const libc::Elf64_Rela, count) };
        for r in relas {
            let sym = (r.r_info >> 32) as usize;
            if sym == 0 {
                continue;
            }
            // SAFETY: the relocation's symbol index is inside the dynamic symbol table.
            let s = unsafe { &*(symtab as *const libc::Elf64_Sym).add(sym) };
            // SAFETY: st_name is an offset of a NUL-terminated name in the string table.
            let name = unsafe { CStr::from_ptr((strtab + s.st_name as usize) as *const c_char) };
            if name.to_bytes() == b"__libc_start_main" {
                hit = true;
                break;
            }
        }
    }
    *out = hit as c_int;
    1
}
