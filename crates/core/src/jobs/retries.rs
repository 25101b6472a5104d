//! Counts the calls the SDK made again (after throttling, a server error or a dropped
//! connection) during a run, so the job can say what was retried.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

#[derive(Debug, Default, Clone)]
pub(crate) struct RetryCounter {
    calls: Arc<AtomicU32>,
    attempts: Arc<AtomicU32>,
}

impl RetryCounter {
    /// Attempts beyond the first of each call.
    pub fn retries(&self) -> u32 {
        self.attempts
            .load(Ordering::Relaxed)
            .saturating_sub(self.calls.load(Ordering::Relaxed))
    }
}

impl Intercept for RetryCounter {
    fn name(&self) -> &'static str {
        "EbbRetryCounter"
    }

    fn read_before_execution(
        &self,
        _: &BeforeSerializationInterceptorContextRef<'_>,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}
