//! Deploy, list, invoke and tear down async LLM endpoints.

pub mod endpoints;
pub mod invoke;
pub mod logs;
pub mod run;
pub mod spec;
pub mod teardown;
