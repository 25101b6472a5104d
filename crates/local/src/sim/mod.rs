//! The simulated asynchronous endpoint: queue, instances, inference backends, the clock they
//! all run on, and the heartbeat that publishes their metrics and drives alarms and scaling.

pub mod answer;
pub mod backend;
pub mod chat;
pub mod clock;
pub mod endpoint;
pub mod heartbeat;
pub mod journal;
pub mod s3uri;
pub mod startup;
pub mod tgi;
