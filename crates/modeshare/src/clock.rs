//! The one place the binary reads the wall clock; the core gets time as an argument.

use modeshare_core::vocabulary::EventTimeMs;

/// The wall clock in epoch ms; the only clock the service reads.
pub fn wall_clock() -> EventTimeMs {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    EventTimeMs(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
}
