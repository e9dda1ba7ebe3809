//! How close this process is to its limit of open file descriptors.
//!
//! With the embedded broker a device's connection is in process and holds
//! none; with an external broker every simulated device holds one (its
//! socket), so a large fleet meets the limit long before memory runs out.
//! When it does, what fails
//! is often the broker's `accept`, which rumqttd only logs: the device's
//! connection is made (the kernel queues it) but never answered, and the
//! run would hang until a timeout. So a run first makes room
//! ([`make_room_for`]): it raises the soft limit toward the hard one, or
//! refuses to start with a clear error. If descriptors still run out (a
//! scenario that resets devices leaves connections behind for a while),
//! the runner reports a silent broker, and this module says why.

/// What each device costs and how to get more.
const ADVICE: &str = "each simulated device connected to an external broker holds a file \
                      descriptor (its socket); raise the limit with `ulimit -n`";

/// Descriptors a run needs besides its devices': the broker's listener and
/// runtime, the harness's client, readiness probes, output files, and
/// connections devices left behind when they reset.
const BASE_DESCRIPTORS: u64 = 64;

/// A scenario needs more open files than this process may have.
#[derive(Debug, thiserror::Error)]
#[error(
    "this scenario's {devices} devices need about {needed} open files ({per_device} per device), \
     but this process may open at most {hard_limit} (the hard limit, `ulimit -Hn`); raise it, \
     or run the fleet on the embedded broker, whose connections need none"
)]
pub struct DescriptorShortage {
    /// How many devices the scenario runs.
    pub devices: usize,
    /// Descriptors each device holds.
    pub per_device: u64,
    /// What the run needs in all.
    pub needed: u64,
    /// The most the process may raise its limit to.
    pub hard_limit: u64,
}

/// Makes sure a run of `devices` simulated devices can open its files:
/// raises the soft limit (up to the hard limit) if it is too low, or says
/// why the run cannot start.
pub(crate) fn make_room_for(
    devices: usize,
    embedded_broker: bool,
) -> Result<(), DescriptorShortage> {
    // In process to the embedded broker, a socket each to an external one.
    let per_device = if embedded_broker { 0 } else { 1 };
    let needed = (devices as u64)
        .saturating_mul(per_device)
        .saturating_add(BASE_DESCRIPTORS);
    let Ok((soft, hard)) = rlimit::Resource::NOFILE.get() else {
        // No way to ask (not a Unix): nothing to check.
        return Ok(());
    };
    if soft >= needed {
        return Ok(());
    }
    if hard >= needed && rlimit::Resource::NOFILE.set(needed, hard).is_ok() {
        return Ok(());
    }
    Err(DescriptorShortage {
        devices,
        per_device,
        needed,
        hard_limit: hard,
    })
}

/// For an error opening a device's connection: the advice when the cause
/// was "too many open files", appended to the error's message; else nothing.
pub(crate) fn hint_for(error: &std::io::Error) -> String {
    if error.raw_os_error() == Some(EMFILE) {
        format!("; {ADVICE}")
    } else {
        String::new()
    }
}

/// A sentence for an error report when open descriptors are at or near the
/// soft limit, or `None` when they are not (or Linux's /proc cannot tell).
pub(crate) fn pressure() -> Option<String> {
    let open = match std::fs::read_dir("/proc/self/fd") {
        Ok(entries) => entries.count(),
        // Not even the listing can be opened: every descriptor is taken.
        Err(error) if error.raw_os_error() == Some(EMFILE) => {
            return Some(format!(
                "this process has used up its file descriptors; {ADVICE}"
            ));
        }
        Err(_) => return None,
    };
    let limit = soft_limit()?;
    // "Near": within the few a run opens at once (a connection and its
    // broker side, the harness, a readiness probe).
    (open + 8 >= limit)
        .then(|| format!("this process has {open} of its {limit} file descriptors open; {ADVICE}"))
}

/// "Too many open files" on Linux (and macOS).
const EMFILE: i32 = 24;

/// The soft limit on open files, from /proc/self/limits.
fn soft_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fleet_beyond_the_hard_limit_is_refused_up_front_with_the_numbers() {
        let (_, hard) = rlimit::Resource::NOFILE.get().unwrap();
        let devices = usize::try_from(hard).unwrap_or(usize::MAX / 4);
        let shortage = make_room_for(devices, false).unwrap_err();
        assert_eq!(shortage.needed, hard + BASE_DESCRIPTORS);
        let message = shortage.to_string();
        assert!(message.contains(&format!("{devices} devices")), "{message}");
        assert!(message.contains("ulimit -Hn"), "{message}");
    }

    #[test]
    fn a_fleet_within_the_limit_is_let_through() {
        let (soft, _) = rlimit::Resource::NOFILE.get().unwrap();
        let devices = usize::try_from(soft.saturating_sub(BASE_DESCRIPTORS)).unwrap();
        make_room_for(devices, false).unwrap();
        make_room_for(100_000, true).expect("in process, a device needs no file");
    }

    #[test]
    fn the_soft_limit_is_read_from_proc() {
        let limit = soft_limit().expect("Linux /proc/self/limits");
        let open = std::fs::read_dir("/proc/self/fd").unwrap().count();
        assert!(limit >= open, "{limit} < {open}");
    }
}
