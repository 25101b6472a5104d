//! The simulated asynchronous endpoint: queue, instances, inference backends, and the clock
//! they all run on.

pub mod backend;
pub mod clock;
pub mod endpoint;
pub mod s3uri;
