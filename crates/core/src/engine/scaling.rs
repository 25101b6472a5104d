//! The engine's autoscaling operations: check a spec, apply it, read what is in place,
//! remove it.

use super::{Ebb, context};
use crate::deploy::endpoints;
use crate::deploy::teardown::{self, Removed};
use crate::error::Error;
use crate::scaling::apply::{self, Applied};
use crate::scaling::inventory;
use crate::scaling::spec::{self, Finding, ScalingSpec, Severity};
use crate::scaling::status::{self, ScalingStatus};

impl Ebb {
    /// Problems with `spec` for its endpoint as it is now (errors first, then warnings).
    pub async fn check_scaling(&self, spec: &ScalingSpec) -> Result<Vec<Finding>, Error> {
        let (target, _, clients) = self.connected().await?;
        let region = clients.region();
        let ctx = context(&target, region.as_deref(), "");
        let endpoint = endpoints::describe(&clients, ctx, &spec.endpoint).await?;
        Ok(spec::check(spec, &endpoint))
    }

    /// Puts `spec` in place, unless a check finds an error; warnings do not stop it.
    pub async fn autoscale(&self, spec: &ScalingSpec) -> Result<Applied, Error> {
        // Values that cannot work are refused before any call.
        let wrong = spec::check_values(spec);
        if !wrong.is_empty() {
            return Err(Error::InvalidScaling(wrong));
        }
        let findings = self.check_scaling(spec).await?;
        let errors: Vec<Finding> = findings
            .into_iter()
            .filter(|f| f.severity == Severity::Error)
            .collect();
        if !errors.is_empty() {
            return Err(Error::InvalidScaling(errors));
        }
        let (target, _, clients) = self.connected().await?;
        let region = clients.region();
        apply::apply(&clients, context(&target, region.as_deref(), ""), spec).await
    }

    /// The endpoint with its target, policies, alarms, activities and findings.
    pub async fn scaling_status(&self, endpoint: &str) -> Result<ScalingStatus, Error> {
        let (target, _, clients) = self.connected().await?;
        let region = clients.region();
        let ctx = context(&target, region.as_deref(), "");
        let summary = endpoints::describe(&clients, ctx, endpoint).await?;
        let summary = self.priced(&clients, summary).await;
        status::read(&clients, ctx, summary).await
    }

    /// Removes the endpoint's scaling policies, its scalable target and the alarms acting on
    /// those policies; alarms of the user's on the endpoint's metrics stay. The endpoint keeps
    /// its current instance count.
    pub async fn remove_autoscaling(&self, endpoint: &str) -> Result<Vec<Removed>, Error> {
        let (target, _, clients) = self.connected().await?;
        let region = clients.region();
        let ctx = context(&target, region.as_deref(), "");
        let mut found = inventory::of_endpoint(&clients, ctx, endpoint).await;
        if let Some(w) = found.warnings.first() {
            return Err(Error::InvalidRequest(w.clone()));
        }
        found.alarms = std::mem::take(&mut found.policy_alarms);
        let mut removed = Vec::new();
        teardown::remove_scaling(&clients, ctx, &found, &mut removed).await?;
        Ok(removed)
    }
}

impl Ebb {
    /// The endpoint's charts over the last `span`: its six metrics in one GetMetricData call,
    /// its instance count, and Ebb's job throughput on it.
    pub async fn endpoint_metrics(
        &self,
        endpoint: &str,
        span: std::time::Duration,
    ) -> Result<crate::metrics::EndpointMetrics, Error> {
        use crate::metrics;
        let (target, _, clients) = self.connected().await?;
        let region = clients.region();
        let ctx = context(&target, region.as_deref(), "");
        let summary = endpoints::describe(&clients, ctx, endpoint).await?;
        let (series, start_ms, end_ms, period_s) =
            metrics::read(&clients, ctx, endpoint, span).await?;
        let activities = status::activities_since(&clients, ctx, endpoint, start_ms).await?;
        let jobs = self
            .job_store()?
            .completions(endpoint, (start_ms / 1000.0) as i64, i64::from(period_s))
            .await?;
        Ok(metrics::EndpointMetrics {
            endpoint: endpoint.to_string(),
            start_ms,
            end_ms,
            period_s,
            series,
            instances: metrics::instance_steps(
                &activities,
                summary.current_instances,
                start_ms,
                end_ms,
            ),
            jobs_completed: metrics::jobs_series(&jobs),
        })
    }
}

impl Ebb {
    /// Sends `spec.rate` requests a second to the endpoint for `spec.duration_s`, reporting
    /// about twice a second; `cancel` stops it.
    pub async fn load_test(
        &self,
        spec: &crate::loadtest::LoadTestSpec,
        progress: &(dyn Fn(&crate::loadtest::LoadTestProgress) + Send + Sync),
        cancel: &std::sync::atomic::AtomicBool,
    ) -> Result<crate::loadtest::LoadTestProgress, Error> {
        let problems = spec.problems();
        if !problems.is_empty() {
            return Err(Error::InvalidRequest(format!(
                "load test: {}",
                problems.join("; ")
            )));
        }
        let (bucket, prefix) = self.bucket_and_prefix().await?;
        let (target, _, clients) = self.connected().await?;
        let region = clients.region();
        crate::loadtest::run(
            &clients,
            context(&target, region.as_deref(), ""),
            (&bucket, &prefix),
            spec,
            &crate::deploy::spec::stamp_now(),
            progress,
            cancel,
        )
        .await
    }
}

impl Ebb {
    /// Async endpoints with instances and no request for their scale-in cooldown (10 minutes
    /// without autoscaling) that nothing will take to zero.
    pub async fn idle_endpoints(&self) -> Result<Vec<crate::scaling::guard::IdleEndpoint>, Error> {
        use crate::scaling::guard;
        let endpoints = self.endpoints().await?;
        let (target, _, clients) = self.connected().await?;
        let region = clients.region();
        let ctx = context(&target, region.as_deref(), "");
        let mut idle = Vec::new();
        for e in endpoints
            .into_iter()
            .filter(|e| e.is_async && e.current_instances > 0 && e.status == "InService")
        {
            // A listing AWS refuses is no reason to hide the other endpoints' warnings.
            let Ok(status) = status::read(&clients, ctx, e.clone()).await else {
                continue;
            };
            let window = status
                .spec
                .as_ref()
                .map_or(guard::DEFAULT_IDLE_S, |s| s.scale_in_cooldown.max(60));
            let span = std::time::Duration::from_secs(u64::try_from(window).unwrap_or(600) + 300);
            let Ok((series, _, end_ms, _)) =
                crate::metrics::read(&clients, ctx, &e.name, span).await
            else {
                continue;
            };
            let quiet = series
                .iter()
                .find(|s| s.name == "ApproximateBacklogSize")
                .is_some_and(|b| guard::idle_since(b, end_ms, window));
            if quiet && let Some(w) = guard::warn(&e, status.bounds, window) {
                idle.push(w);
            }
        }
        Ok(idle)
    }
}
