//! The one error type of the preload: which step failed, which call with which arguments,
//! the errno, and a hint. Printed as one line; the program never runs after it.

use std::fmt;

use nix::errno::Errno;

use crate::policy::{PolicyError, values::errno_name};

/// The pipeline steps of `run.rs`, named as they appear in messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Guard,
    Policy,
    Env,
    Cgroup,
    Identity,
    Unshare,
    Mount,
    Fork,
    Proc,
    Net,
    Init,
    Limits,
    Fds,
    Cwd,
    Privs,
    Seccomp,
}

impl Step {
    pub fn name(self) -> &'static str {
        match self {
            Step::Guard => "guard",
            Step::Policy => "policy",
            Step::Env => "env",
            Step::Cgroup => "cgroup",
            Step::Identity => "identity",
            Step::Unshare => "unshare",
            Step::Mount => "mount",
            Step::Fork => "fork",
            Step::Proc => "proc",
            Step::Net => "net",
            Step::Init => "init",
            Step::Limits => "rlimits",
            Step::Fds => "close_fds",
            Step::Cwd => "cwd",
            Step::Privs => "privileges",
            Step::Seccomp => "seccomp",
        }
    }
}

#[derive(Debug)]
pub enum Error {
    Policy(PolicyError),
    /// Refused before anything changed (not a failed call).
    Refused {
        step: Step,
        what: String,
        hint: String,
    },
    /// A call failed.
    Call {
        step: Step,
        call: String,
        errno: Errno,
        hint: Option<String>,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn call(step: Step, call: impl Into<String>, errno: Errno) -> Error {
        Error::Call { step, call: call.into(), errno, hint: None }
    }

    pub fn refused(step: Step, what: impl Into<String>, hint: impl Into<String>) -> Error {
        Error::Refused { step, what: what.into(), hint: hint.into() }
    }

    /// Adds a hint to a failed call (kept if one is already there).
    pub fn hint(self, h: impl Into<String>) -> Error {
        match self {
            Error::Call { step, call, errno, hint: None } => Error::Call { step, call, errno, hint: Some(h.into()) },
            other => other,
        }
    }

    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Call { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

impl From<PolicyError> for Error {
    fn from(e: PolicyError) -> Error {
        Error::Policy(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Error::Policy(e) => {
                write!(f, "selfbox: policy: {e}")?;
                if let Some(h) = e.hint() {
                    write!(f, " ({h})")?;
                }
                Ok(())
            }
            Error::Refused { step, what, hint } => write!(f, "selfbox: {}: {what} ({hint})", step.name()),
            Error::Call { step, call, errno, hint } => {
                write!(f, "selfbox: {}: {call}: {}", step.name(), errno_name(*errno as i32))?;
                if let Some(h) = hint {
                    write!(f, " ({h})")?;
                }
                Ok(())
            }
        }
    }
}

/// `?` on a nix or sys result inside a step: `.at(Step::Mount, || format!("..."))`.
pub trait Context<T> {
    fn at(self, step: Step, call: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, Errno> {
    fn at(self, step: Step, call: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::call(step, call(), e))
    }
}

impl<T> Context<T> for std::io::Result<T> {
    fn at(self, step: Step, call: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| {
            let errno = e.raw_os_error().map_or(Errno::EIO, Errno::from_raw);
            Error::call(step, call(), errno)
        })
    }
}
