//! The network: with `"network": "none"` the new namespace holds only `lo`, brought up here.

use crate::error::{Context, Result, Step};
use crate::log::debug;
use crate::policy::{Network, Policy};
use crate::sys;

pub fn setup(policy: &Policy) -> Result<()> {
    if policy.network() == Network::None {
        sys::loopback_up().at(Step::Net, || "ioctl(SIOCSIFFLAGS, lo, IFF_UP)".into())?;
        debug!("net", "lo up");
    }
    Ok(())
}

/// The hostname of the new UTS namespace.
pub fn set_hostname(policy: &Policy) -> Result<()> {
    if let Some(h) = &policy.hostname {
        nix::unistd::sethostname(h).at(Step::Net, || format!("sethostname({h})"))?;
        debug!("net", "hostname {h}");
    }
    Ok(())
}
