//! How close this process is to its limit of open file descriptors.
//!
//! Every simulated device holds three (its socket, a copy for its reader
//! thread, and the embedded broker's side), so a large fleet meets the limit
//! long before memory or threads run out. When it does, what fails is
//! often the broker's `accept`, which rumqttd only logs: the device's
//! connection is made (the kernel queues it) but never answered. The
//! runner then reports a silent broker; this module lets it say why.

/// What each device costs and how to get more.
const ADVICE: &str = "each simulated device holds three file descriptors (its socket, a copy \
                      for its reader thread, and the broker's side); raise the limit with \
                      `ulimit -n`";

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
    fn the_soft_limit_is_read_from_proc() {
        let limit = soft_limit().expect("Linux /proc/self/limits");
        let open = std::fs::read_dir("/proc/self/fd").unwrap().count();
        assert!(limit >= open, "{limit} < {open}");
    }
}
