//! Deploying through the engine: validate, create, wait, smoke-test, diagnose.

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use super::{Ebb, context};
use crate::deploy::run::{self, DeployOutcome, DeployProgress, DeployStep, Waiting};
use crate::deploy::smoke;
use crate::deploy::spec::DeploySpec;
use crate::deploy::verify::{self, Check, SmokePlan};
use crate::error::Error;

impl Ebb {
    /// Validates `spec`, creates model, endpoint config and endpoint, waits for InService (or
    /// Failed, or `spec.wait_limit_s`), then, with `spec.smoke_test`, sends one request
    /// through the async path and waits for its output or failure; a failure at any point is
    /// diagnosed (see [`crate::deploy::diagnose`]). `cancel` stops the waiting.
    ///
    /// # Errors
    /// [`Error::InvalidDeploy`] before anything is created; [`Error::Deploy`] when a create
    /// step fails (the smoke test's own troubles are in the outcome: the endpoint exists).
    pub async fn deploy(
        &self,
        spec: &DeploySpec,
        progress: &(dyn Fn(&DeployProgress) + Send + Sync),
        cancel: &AtomicBool,
    ) -> Result<DeployOutcome, Error> {
        let (target, _, clients) = self.connected().await?;
        let region = clients.region().unwrap_or_else(|| "us-east-1".into());
        let problems = spec.problems(&region, target.role_arn.as_deref());
        let (Ok(image), Some(role), true) = (
            spec.image_uri(&region),
            target.role_arn.as_deref(),
            problems.is_empty(),
        ) else {
            return Err(Error::InvalidDeploy(problems));
        };
        // The smoke test's input goes where test requests go: resolved before anything is
        // created, so a missing bucket setting fails first.
        let place = match spec.smoke_test {
            true => Some(self.bucket_and_prefix().await?),
            false => None,
        };
        let ctx = context(&target, Some(&region), "");
        let since_ms = crate::deploy::now_s().saturating_sub(5) * 1000;
        let waiting = Waiting {
            poll: self.poll,
            cancel,
            limit: Duration::from_secs(spec.wait_limit_s.into()),
        };
        let deployed = run::create_and_wait(
            (&clients, ctx),
            spec,
            (&image, role, &region),
            progress,
            (waiting, since_ms),
        )
        .await?;
        let started = Instant::now();
        let tick = |waited_s: u32| {
            progress(&DeployProgress {
                step: DeployStep::SmokeTest,
                message: format!(
                    "waiting for the test request's answer ({waited_s} s of {} s)",
                    smoke::DEFAULT_DEADLINE_S
                ),
                elapsed_s: started.elapsed().as_secs() as u32,
                in_state_s: 0,
                log_lines: Vec::new(),
                log_problem: None,
            })
        };
        let smoke = place.as_ref().map(|(bucket, prefix)| SmokePlan {
            place: (bucket, prefix),
            chat: spec.messages_api_on(),
            deadline: Duration::from_secs(smoke::DEFAULT_DEADLINE_S.into()),
            tick: &tick,
        });
        let check = Check {
            endpoint: &spec.endpoint_name,
            since_ms,
            facts: run::facts(spec, &image, &region),
            smoke,
            poll: self.poll,
            cancel,
        };
        let checked = verify::check((&clients, ctx), &deployed.waited, check).await;
        Ok(run::outcome(spec, deployed, checked))
    }
}
