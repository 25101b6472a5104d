//! An endpoint's container start, shared by CreateEndpoint and UpdateEndpoint: TGI's start-up
//! lines spread over the start-up delay on the local clock (see [`crate::sim::startup`]), the
//! failure the model plays if any, then the model's own health check.

use std::time::Duration;

use super::SageMaker;
use crate::model::Prepared;
use crate::model::serve::RealModel;
use crate::sim::backend::Backend;
use crate::sim::startup::{self, FailureKind, Outcome, StartPlan};

impl SageMaker {
    /// Plays the start of endpoint `name`'s (first variant's) container, writing its lines to
    /// `/aws/sagemaker/Endpoints/<name>`. Returns the backend that serves once the container is
    /// healthy, or the endpoint's FailureReason; `None` when the endpoint is gone meanwhile.
    pub(super) async fn start_container(
        &self,
        name: &str,
        delay: Duration,
    ) -> Option<Result<Backend, String>> {
        let (plan, image) = self.start_plan(name, delay)?;
        let backend = image.and_then(|image| {
            Backend::for_model(&plan.env, Some(&image))
                .map_err(|e| format!("The model container could not be configured: {e}"))
        });
        let kind = FailureKind::of(&plan.env);
        // Without an instance no container starts, so nothing is logged.
        if kind != Some(FailureKind::NoCapacity) {
            self.log_start(name);
        }
        let backend = match backend {
            Ok(backend) => backend,
            Err(reason) => {
                self.clock.sleep(delay).await;
                self.log(name, &plan.variant, format!("Error: {reason}"));
                return Some(Err(reason));
            }
        };
        if let Some(started) = self.real_model(name, &plan, kind, &backend).await {
            return Some(match started {
                Ok(real) => self.health_check(name, &plan.variant, real).await,
                Err(reason) => Err(reason),
            });
        }
        let script = startup::script(&plan, kind);
        for (wait, line) in script.steps {
            self.clock.sleep(wait).await;
            if !self.exists(name) {
                return None;
            }
            self.log(name, &plan.variant, line);
        }
        self.clock.sleep(script.tail).await;
        match script.outcome {
            Outcome::Fail(reason) => Some(Err(reason)),
            Outcome::Serve => Some(self.health_check(name, &plan.variant, backend).await),
        }
    }

    /// The model running for real when it can (see [`crate::model::Runtime::prepare`]):
    /// `None` to go on with the simulated start (its reasons logged), else the backend that
    /// serves or the endpoint's FailureReason. Loading must end within the variant's
    /// start-up health check timeout, in real time.
    async fn real_model(
        &self,
        name: &str,
        plan: &StartPlan,
        kind: Option<FailureKind>,
        backend: &Backend,
    ) -> Option<Result<Backend, String>> {
        // A failure being played (or a start told to fail), or a proxy, is not a real
        // model's start.
        let plain = matches!(
            backend,
            Backend::Builtin {
                fail_startup: None,
                ..
            }
        );
        if kind.is_some() || !plain {
            return None;
        }
        let log = |line: String| self.log(name, &plan.variant, line);
        let prepare = self.models.prepare(&plan.env, &log);
        let ping = startup::ping_failure(&plan.variant);
        let prepared = tokio::time::timeout(plan.health_check_timeout, prepare).await;
        if !matches!(prepared, Ok(Prepared::Simulated(_))) {
            // The instance's own start (provisioning), as a simulated start takes it.
            self.clock.sleep(plan.startup).await;
        }
        match prepared {
            Err(_) => {
                let why = format!(
                    "Local mode: the model did not load within ContainerStartupHealthCheckTimeoutInSeconds={}",
                    plan.health_check_timeout.as_secs()
                );
                log(format!("Error: {why}"));
                Some(Err(format!("{ping} {why}.")))
            }
            Ok(Prepared::Failed(why)) => {
                log(format!("Error: {why}"));
                Some(Err(format!("{ping} Local mode: {why}.")))
            }
            Ok(Prepared::Simulated(lines)) => {
                lines.into_iter().for_each(log);
                None
            }
            Ok(Prepared::Real(loaded)) => {
                let runtime = self.models.clone();
                Some(Ok(backend
                    .clone()
                    .with_model(RealModel { runtime, loaded })))
            }
        }
    }

    /// The model's own health check (a proxy's server answers, `EBB_LOCAL_FAIL_STARTUP`),
    /// logged as TGI logs a warm-up and its router's start.
    async fn health_check(
        &self,
        name: &str,
        variant: &str,
        backend: Backend,
    ) -> Result<Backend, String> {
        match backend.start().await {
            Ok(()) => {
                self.log(name, variant, "Warming up model");
                self.log(name, variant, "Connected");
                self.log(
                    name,
                    variant,
                    "Invocations and health checks are served on :8080",
                );
                Ok(backend)
            }
            Err(e) => {
                let reason = format!(
                    "The primary container for production variant did not pass the ping health check: {e}"
                );
                self.log(name, variant, format!("Error: {reason}"));
                Err(reason)
            }
        }
    }

    /// The endpoint's first variant and its model's environment, with the model's image, or
    /// why the model cannot start (it was deleted). `None` when the endpoint does not exist.
    fn start_plan(
        &self,
        name: &str,
        delay: Duration,
    ) -> Option<(StartPlan, Result<String, String>)> {
        let state = self.state.lock().ok()?;
        let variant = state.endpoints.get(name)?.variants.first()?;
        let model = state.models.get(&variant.model_name);
        let plan = StartPlan {
            endpoint: name.to_string(),
            variant: variant.name.clone(),
            env: model.map(|m| m.environment.clone()).unwrap_or_default(),
            health_check_timeout: Duration::from_secs(variant.health_check_timeout_s),
            startup: delay,
        };
        let image = match model {
            Some(_) => Ok(variant.image.clone()),
            None => Err(format!(
                "The model {} no longer exists.",
                variant.model_name
            )),
        };
        Some((plan, image))
    }

    fn exists(&self, name: &str) -> bool {
        self.state
            .lock()
            .is_ok_and(|s| s.endpoints.contains_key(name))
    }
}
