//! The engine's in-place endpoint change: read the current settings, change them.

use std::sync::atomic::AtomicBool;

use std::time::Duration;

use super::{Ebb, context};
use crate::aws_errors::Context;
use crate::cloud::Clients;
use crate::deploy::run::{self, Waiting};
use crate::deploy::smoke;
use crate::deploy::update::{
    self, EndpointSettings, Reporter, UpdateOutcome, UpdateProgress, UpdateRequest, UpdateStep,
};
use crate::deploy::verify::{self, Check, SmokePlan, Verdict};
use crate::deploy::wait::{Settled, Waited};
use crate::error::Error;
use crate::scaling::keep;

/// How the new fleet's check ended: the wait's end to finish with, the check, and why the
/// endpoint is stuck on a failing new version (going back failed).
type NewFleet = (update::Waited, Option<verify::Checked>, Option<String>);

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
        let (waited, checked, stuck) = self
            .check_new_fleet((&clients, ctx), (&plan, since_ms), waited, cancel, &report)
            .await?;
        let mut outcome = update::finish(&clients, ctx, &plan, started, waited, &report).await?;
        if let Some(checked) = checked {
            outcome.smoke_test = checked.smoke_test;
            outcome.diagnosis = checked.diagnosis;
        }
        if let Some(note) = stuck {
            outcome.status = "InService".into();
            outcome.failure_reason = Some(note);
        }
        Ok(outcome)
    }

    /// As for a deploy: once the new fleet is InService, one request through the async path
    /// (unless the endpoint runs no instances: a request would wake it); a new fleet that fails
    /// it is replaced by the old config again before anything old is removed. A rollback or a
    /// failing request is diagnosed from SageMaker's reason, the log and the failure body.
    async fn check_new_fleet(
        &self,
        (clients, ctx): (&Clients, Context<'_>),
        (plan, since_ms): (&update::Plan, i64),
        waited: update::Waited,
        cancel: &AtomicBool,
        report: &update::Reporter<'_>,
    ) -> Result<NewFleet, Error> {
        let settled = match &waited {
            update::Waited::Updated => {
                let now = update::current(clients, ctx, &plan.spec.endpoint_name).await?;
                if now.desired_instances() == Some(0) {
                    return Ok((waited, None, None));
                }
                Settled::InService {
                    failure_reason: None,
                }
            }
            update::Waited::Failed(reason) => Settled::Failed {
                failure_reason: reason.clone(),
            },
            update::Waited::Cancelled => return Ok((waited, None, None)),
        };
        let (bucket, prefix) = self.bucket_and_prefix().await?;
        let region = clients.region().unwrap_or_else(|| "us-east-1".into());
        let image = plan.spec.image_uri(&region).unwrap_or_default();
        let tick = |waited_s: u32| {
            report.say(
                UpdateStep::SmokeTest,
                format!(
                    "waiting for the test request's answer ({waited_s} s of {} s)",
                    smoke::DEFAULT_DEADLINE_S
                ),
            )
        };
        let check = Check {
            endpoint: &plan.spec.endpoint_name,
            since_ms,
            facts: run::facts(&plan.spec, &image, &region),
            smoke: Some(SmokePlan {
                place: (&bucket, &prefix),
                chat: plan.spec.messages_api_on(),
                deadline: Duration::from_secs(smoke::DEFAULT_DEADLINE_S.into()),
                tick: &tick,
            }),
            poll: self.poll,
            cancel,
        };
        let checked = verify::check(
            (clients, ctx),
            &Waited {
                settled,
                logs: Vec::new(),
            },
            check,
        )
        .await;
        if checked.verdict != Verdict::InServiceFailing {
            return Ok((waited, Some(checked), None));
        }
        let why = run::failing_reason(&checked).unwrap_or_default();
        let waiting = Waiting {
            poll: self.poll,
            cancel: &AtomicBool::new(false),
            limit: Duration::from_secs(plan.spec.wait_limit_s.into()),
        };
        let old = plan
            .current
            .config
            .endpoint_config_name()
            .unwrap_or_default();
        match update::revert((clients, ctx), plan, waiting, report).await {
            Ok(()) => {
                let reason = format!(
                    "the new version is in service but failing ({why}); it went back to {old}"
                );
                Ok((update::Waited::Failed(reason), Some(checked), None))
            }
            // Nothing is removed then: the old config and model stay for going back by hand.
            Err(e) => {
                let note = format!(
                    "the new version is in service but failing ({why}), and going back to {old} failed: {e}; the old config and model are kept"
                );
                Ok((update::Waited::Cancelled, Some(checked), Some(note)))
            }
        }
    }
}
