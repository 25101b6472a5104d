//! Deploy, list, invoke and tear down async LLM endpoints.

pub mod data;
pub mod diagnose;
pub mod endpoints;
pub mod fit;
pub mod hub;
pub mod invoke;
pub mod logs;
pub mod messages_api;
pub mod run;
pub mod smoke;
pub mod spec;
pub mod teardown;
pub mod update;
pub mod verify;
pub mod wait;

/// Seconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
