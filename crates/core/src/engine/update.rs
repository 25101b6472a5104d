//! The engine's in-place endpoint change: read the current settings, change them.

use std::sync::atomic::AtomicBool;

use std::time::Duration;

use super::{Ebb, context};
use crate::aws_errors::Context;
use crate::cloud::Clients;
use crate::deploy::run::{self, Waiting};
use crate::deploy::smoke;
use crate::deploy::spec::MESSAGES_API_VAR;
use crate::deploy::update::{
    self, EndpointSettings, Reporter, UpdateOutcome, UpdateProgress, UpdateRequest,
};
use crate::deploy::verify::{self, Check, SmokePlan, Verdict};
use crate::deploy::wait::{Settled, Waited};
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
        let since_ms = crate::deploy::now_s().saturating_sub(5) * 1000;
        let waiting = Waiting {
            poll: self.poll,
            cancel,
            limit: Duration::from_secs(plan.spec.wait_limit_s.into()),
        };
        let waited = update::wait(&clients, ctx, &plan, &started, waiting, &report).await?;
        let mut outcome = update::finish(&clients, ctx, &plan, started, waited, &report).await?;
        self.check_update(&clients, ctx, (&plan, since_ms), &mut outcome, cancel)
            .await?;
        Ok(outcome)
    }

    /// As for a deploy: once the new fleet is InService, one request through the async path
    /// (unless the endpoint runs no instances: a request would wake it); a rollback or a
    /// failing request is diagnosed from SageMaker's reason, the log and the failure body.
    async fn check_update(
        &self,
        clients: &Clients,
        ctx: Context<'_>,
        (plan, since_ms): (&update::Plan, i64),
        outcome: &mut UpdateOutcome,
        cancel: &AtomicBool,
    ) -> Result<(), Error> {
        let settled = match outcome.status.as_str() {
            "InService" if outcome.instance_count != Some(0) => Settled::InService {
                failure_reason: None,
            },
            "InService" | "Cancelled" => return Ok(()),
            _ => Settled::Failed {
                failure_reason: outcome.failure_reason.clone().unwrap_or_default(),
            },
        };
        let (bucket, prefix) = self.bucket_and_prefix().await?;
        let image = plan
            .spec
            .image_uri(clients.region().as_deref().unwrap_or("us-east-1"));
        let image = image.unwrap_or_default();
        let region = clients.region().unwrap_or_default();
        let tick = |_: u32| {};
        let check = Check {
            endpoint: &outcome.endpoint,
            since_ms,
            facts: run::facts(&plan.spec, &image, &region),
            smoke: Some(SmokePlan {
                place: (&bucket, &prefix),
                chat: plan.spec.container_environment().get(MESSAGES_API_VAR)
                    == Some(&"true".to_string()),
                deadline: Duration::from_secs(smoke::DEFAULT_DEADLINE_S.into()),
                tick: &tick,
            }),
            poll: self.poll,
            cancel,
        };
        let waited = Waited {
            settled,
            logs: Vec::new(),
        };
        let checked = verify::check((clients, ctx), &waited, check).await;
        if checked.verdict == Verdict::InServiceFailing {
            outcome.failure_reason = run::failing_reason(&checked);
        }
        outcome.smoke_test = checked.smoke_test;
        outcome.diagnosis = checked.diagnosis;
        Ok(())
    }
}
