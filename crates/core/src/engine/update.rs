//! The engine's in-place endpoint change: read the current settings, change them.

use std::sync::atomic::AtomicBool;

use super::{Ebb, context};
use crate::deploy::run::Waiting;
use crate::deploy::update::{
    self, EndpointSettings, Reporter, UpdateOutcome, UpdateProgress, UpdateRequest,
};
use crate::error::Error;
use crate::scaling::keep;

impl Ebb {
    /// The endpoint's current instance type, count, concurrency, TGI version and environment,
    /// for prefilling the change form. Reads DescribeEndpoint, DescribeEndpointConfig,
    /// DescribeModel and DescribeScalableTargets.
    ///
    /// # Errors
    /// [`Error::EndpointNotFound`], [`Error::EndpointModelGone`], or the AWS error of a call.
    pub async fn endpoint_settings(&self, endpoint: &str) -> Result<EndpointSettings, Error> {
        let (target, _, clients) = self.connected().await?;
        let region = clients.region().unwrap_or_else(|| "us-east-1".into());
        let ctx = context(&target, Some(&region), "");
        let current = update::current(&clients, ctx, endpoint).await?;
        let autoscaled = keep::read(&clients, ctx, &current.resource_id())
            .await?
            .is_some();
        Ok(update::settings_of(&current, &region, autoscaled))
    }

    /// Changes `endpoint` in place (see [`crate::deploy::update`]): a new model and endpoint
    /// config, UpdateEndpoint, a wait for InService with `progress`, then the old config and
    /// model removed (Ebb's only). `cancel` stops the wait, except while autoscaling is taken
    /// away for an instance-type change (it must go back first).
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] when nothing would change or the endpoint is not InService,
    /// [`Error::InvalidDeploy`] when the new settings break a deploy rule, AWS errors
    /// otherwise (after undoing what had been done, or saying what could not be).
    pub async fn update_endpoint(
        &self,
        endpoint: &str,
        request: &UpdateRequest,
        progress: &(dyn Fn(&UpdateProgress) + Send + Sync),
        cancel: &AtomicBool,
    ) -> Result<UpdateOutcome, Error> {
        let (target, _, clients) = self.connected().await?;
        let region = clients.region().unwrap_or_else(|| "us-east-1".into());
        let ctx = context(&target, Some(&region), "");
        let plan = update::plan(&clients, ctx, endpoint, request, &region).await?;
        let report = Reporter::new(progress);
        let started = update::start(&clients, ctx, &plan, &report).await?;
        let waiting = Waiting {
            poll: self.poll,
            cancel,
        };
        let waited = update::wait(&clients, ctx, &plan, &started, waiting, &report).await?;
        update::finish(&clients, ctx, &plan, started, waited, &report).await
    }
}
