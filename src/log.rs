//! `SELFBOX_LOG` lines on stderr, with the microseconds since the hook was entered.

use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;

use crate::error::Error;
use crate::sys;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
#[repr(u8)]
pub enum Level {
    Error = 0,
    Info = 1,
    Debug = 2,
}

static LEVEL: AtomicU8 = AtomicU8::new(0);
static START: OnceLock<Instant> = OnceLock::new();

/// Starts the clock and reads the level (`error`, `info`, `debug`; anything else is `error`).
pub fn init(level: Option<&[u8]>) {
    START.get_or_init(Instant::now);
    let l = match level {
        Some(b"debug") => Level::Debug,
        Some(b"info") => Level::Info,
        _ => Level::Error,
    };
    LEVEL.store(l as u8, Ordering::Relaxed);
}

pub fn enabled(l: Level) -> bool {
    LEVEL.load(Ordering::Relaxed) >= l as u8
}

/// Microseconds since the hook started.
pub fn elapsed_us() -> u128 {
    START.get().map_or(0, |s| s.elapsed().as_micros())
}

pub fn write(l: Level, step: &str, args: fmt::Arguments) {
    if !enabled(l) {
        return;
    }
    let tag = if l == Level::Debug { "debug" } else { "info" };
    let line = format!("selfbox[{}]: {tag} {:>7}us {step}: {args}\n", std::process::id(), elapsed_us());
    // A log line that cannot be written is not a reason to stop.
    let _ = sys::write_all(2, line.as_bytes());
}

/// The one line printed before exit 125.
pub fn fatal(e: &Error) {
    let line = format!("{e}\n");
    let _ = sys::write_all(2, line.as_bytes());
}

macro_rules! debug {
    ($step:expr, $($arg:tt)*) => {
        if $crate::log::enabled($crate::log::Level::Debug) {
            $crate::log::write($crate::log::Level::Debug, $step, format_args!($($arg)*))
        }
    };
}

pub(crate) use debug;
