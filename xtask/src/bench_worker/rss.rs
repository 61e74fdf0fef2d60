//! Resident memory of this process, from `/proc/self/status` (Linux; `None` elsewhere).

fn status_field(name: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(name))?;
    let kib: u64 = line
        .trim_start_matches(name)
        .trim_start_matches(':')
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// The peak resident set size so far (`VmHWM`), in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    status_field("VmHWM")
}

/// The current resident set size (`VmRSS`), in bytes.
pub fn current_rss_bytes() -> Option<u64> {
    status_field("VmRSS")
}
