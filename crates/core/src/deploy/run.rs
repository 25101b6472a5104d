//! Deploying: CreateModel -> CreateEndpointConfig -> CreateEndpoint, then waiting for InService
//! with progress, cancellable; on failure the reason, its diagnosis and what was left behind.

use std::time::Instant;

use aws_sdk_sagemaker::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sagemaker::types::{
    AsyncInferenceClientConfig, AsyncInferenceConfig, AsyncInferenceNotificationConfig,
    AsyncInferenceOutputConfig, ContainerDefinition, ProductionVariant, Tag,
};
use serde::{Deserialize, Serialize};

use super::diagnose::{self, Diagnosis, Evidence, Facts};
use super::smoke::SmokeTest;
use super::spec::DeploySpec;
use super::verify::{Checked, Verdict};
pub use super::wait::Waiting;
use super::wait::{self, Look, Settled, Waited};
use crate::aws_errors::{self, Context};
use crate::bucket_owner;
use crate::cloud::Clients;
use crate::error::Error;

/// The tag that marks what Ebb created (and what teardown may remove).
pub const CREATED_BY_KEY: &str = "ebb:created-by";
pub const CREATED_BY_VALUE: &str = "ebb";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum DeployStep {
    CreateModel,
    CreateEndpointConfig,
    CreateEndpoint,
    WaitInService,
    /// One request through the async path after InService.
    SmokeTest,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct DeployProgress {
    pub step: DeployStep,
    pub message: String,
    /// Seconds since the deploy started.
    pub elapsed_s: u32,
    /// Seconds in the endpoint's current status (while waiting; else 0).
    pub in_state_s: u32,
    /// The container's log lines new since the last progress, oldest first.
    pub log_lines: Vec<String>,
    /// Why the container's log cannot be shown (told once; the deploy goes on).
    pub log_problem: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct DeployOutcome {
    pub endpoint_name: String,
    /// SageMaker's status when the deploy stopped: `InService`, `Failed`, or the status it
    /// was still in when cancelled or out of time (`Creating`).
    pub status: String,
    /// Where it ended for the user: ready, in service but failing, failed, …
    pub verdict: Verdict,
    pub failure_reason: Option<String>,
    /// The known failure it met, with its fix.
    pub diagnosis: Option<Diagnosis>,
    /// The request sent after InService, unless skipped.
    pub smoke_test: Option<SmokeTest>,
    /// What exists now, e.g. `model flan-t5-xxl-…`; teardown removes it.
    pub resources: Vec<String>,
}

/// The endpoint created and the wait for it settled.
pub struct Deployed {
    pub waited: Waited,
    pub resources: Vec<String>,
}

fn tag() -> Tag {
    Tag::builder()
        .key(CREATED_BY_KEY)
        .value(CREATED_BY_VALUE)
        .build()
}

/// A create step's AWS error: the known failure's sentence and fix where it is one (a quota,
/// a missing image), else the generic explanation; with what was created so far.
fn step_failed<E>(
    step: &str,
    e: &SdkError<E, aws_smithy_runtime_api::http::Response>,
    ctx: Context<'_>,
    (resources, facts): (&[String], Facts<'_>),
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let said = e
        .as_service_error()
        .and_then(|s| Some((s.code()?, s.message().unwrap_or_default())));
    let diagnosed = said.and_then(|api_error| {
        diagnose::diagnose(&Evidence {
            api_error: Some(api_error),
            facts,
            ..Default::default()
        })
    });
    let (summary, advice) = match diagnosed {
        Some(d) => (d.sentence, Some(d.fix)),
        None => {
            let action = format!("sagemaker:{step}");
            let x = aws_errors::explain(
                e,
                Context {
                    action: &action,
                    ..ctx
                },
            );
            (x.summary, x.advice)
        }
    };
    Error::Deploy {
        step: step.to_string(),
        summary,
        advice,
        left_behind: resources.to_vec(),
    }
}

/// The sentences' facts for `spec` deployed with `image` in `region`.
pub fn facts<'a>(spec: &'a DeploySpec, image: &'a str, region: &'a str) -> Facts<'a> {
    Facts {
        model_id: &spec.model_id,
        instance_type: &spec.instance_type,
        region,
        image,
        health_check_timeout_s: spec.health_check_timeout_s,
    }
}

/// Why an InService endpoint is failing: its test request, or what its container logged.
pub fn failing_reason(checked: &Checked) -> Option<String> {
    if checked.verdict != Verdict::InServiceFailing {
        return None;
    }
    match (&checked.smoke_test, &checked.diagnosis) {
        (Some(t), Some(d)) if t.passed => Some(format!(
            "the test request was answered, but the container logged: {}",
            d.evidence
        )),
        (Some(t), _) => Some(t.summary()),
        (None, d) => d.as_ref().map(|d| d.evidence.clone()),
    }
}

/// The outcome of a deploy from its wait and check.
pub fn outcome(spec: &DeploySpec, deployed: Deployed, checked: Checked) -> DeployOutcome {
    let (status, failure_reason) = match deployed.waited.settled {
        Settled::InService { failure_reason } => ("InService".to_string(), failure_reason),
        Settled::Failed { failure_reason } => ("Failed".into(), Some(failure_reason)),
        Settled::Cancelled { status } | Settled::TimedOut { status } => (status, None),
    };
    let failure_reason = failure_reason.or_else(|| failing_reason(&checked));
    DeployOutcome {
        endpoint_name: spec.endpoint_name.clone(),
        status,
        verdict: checked.verdict,
        failure_reason,
        diagnosis: checked.diagnosis,
        smoke_test: checked.smoke_test,
        resources: deployed.resources,
    }
}

/// The endpoint will write results and failures to these buckets: refuses them, before
/// anything is created, when another account owns one (see [`bucket_owner`]).
async fn owned_buckets(
    clients: &Clients,
    ctx: Context<'_>,
    spec: &DeploySpec,
) -> Result<(), Error> {
    let account = bucket_owner::account(clients, ctx).await?;
    let mut buckets: Vec<&str> = [
        Some(spec.output_path.as_str()),
        spec.failure_path.as_deref(),
    ]
    .into_iter()
    .flatten()
    .filter_map(bucket_owner::bucket_of)
    .collect();
    buckets.dedup();
    for bucket in buckets {
        bucket_owner::ensure_owned(&clients.s3, bucket, &account).await?;
    }
    Ok(())
}

/// Creates the model, endpoint config and endpoint of `spec`, then waits for the endpoint to
/// settle (see [`wait::until_settled`]), reading its log from `since_ms`.
///
/// # Errors
/// [`Error::Deploy`] naming the step that failed, its diagnosis where known, and what was left
/// behind; bucket ownership errors before anything is created.
pub async fn create_and_wait(
    (clients, ctx): (&Clients, Context<'_>),
    spec: &DeploySpec,
    (image, role, region): (&str, &str, &str),
    progress: &(dyn Fn(&DeployProgress) + Send + Sync),
    (waiting, since_ms): (Waiting<'_>, i64),
) -> Result<Deployed, Error> {
    let started = Instant::now();
    let facts = facts(spec, image, region);
    let report = |step, message: String| {
        progress(&DeployProgress {
            step,
            message,
            elapsed_s: started.elapsed().as_secs() as u32,
            in_state_s: 0,
            log_lines: Vec::new(),
            log_problem: None,
        })
    };
    let sm = &clients.sagemaker;
    owned_buckets(clients, ctx, spec).await?;
    let mut resources = Vec::new();

    report(
        DeployStep::CreateModel,
        format!("creating model {}", spec.model_name),
    );
    let container = ContainerDefinition::builder()
        .image(image)
        .set_environment(Some(spec.container_environment().into_iter().collect()))
        .build();
    sm.create_model()
        .model_name(&spec.model_name)
        .execution_role_arn(role)
        .primary_container(container)
        .tags(tag())
        .send()
        .await
        .map_err(|e| step_failed("CreateModel", &e, ctx, (&resources, facts)))?;
    resources.push(format!("model {}", spec.model_name));

    report(
        DeployStep::CreateEndpointConfig,
        format!("creating endpoint config {}", spec.endpoint_config_name),
    );
    let notification = (spec.success_topic.is_some() || spec.error_topic.is_some()).then(|| {
        AsyncInferenceNotificationConfig::builder()
            .set_success_topic(spec.success_topic.clone())
            .set_error_topic(spec.error_topic.clone())
            .build()
    });
    let async_config = AsyncInferenceConfig::builder()
        .client_config(
            AsyncInferenceClientConfig::builder()
                .max_concurrent_invocations_per_instance(spec.max_concurrency as i32)
                .build(),
        )
        .output_config(
            AsyncInferenceOutputConfig::builder()
                .s3_output_path(&spec.output_path)
                .set_s3_failure_path(spec.failure_path.clone())
                .set_notification_config(notification)
                .set_kms_key_id(spec.kms_key_id.clone())
                .build(),
        )
        .build();
    sm.create_endpoint_config()
        .endpoint_config_name(&spec.endpoint_config_name)
        .production_variants(
            ProductionVariant::builder()
                .variant_name("AllTraffic")
                .model_name(&spec.model_name)
                .instance_type(spec.instance_type.as_str().into())
                .initial_instance_count(spec.instance_count as i32)
                .container_startup_health_check_timeout_in_seconds(
                    spec.health_check_timeout_s as i32,
                )
                .build(),
        )
        .async_inference_config(async_config)
        .tags(tag())
        .send()
        .await
        .map_err(|e| step_failed("CreateEndpointConfig", &e, ctx, (&resources, facts)))?;
    resources.push(format!("endpoint config {}", spec.endpoint_config_name));

    report(
        DeployStep::CreateEndpoint,
        format!("creating endpoint {}", spec.endpoint_name),
    );
    sm.create_endpoint()
        .endpoint_name(&spec.endpoint_name)
        .endpoint_config_name(&spec.endpoint_config_name)
        .tags(tag())
        .send()
        .await
        .map_err(|e| step_failed("CreateEndpoint", &e, ctx, (&resources, facts)))?;
    resources.push(format!("endpoint {}", spec.endpoint_name));

    let look = |l: &Look<'_>| {
        progress(&DeployProgress {
            step: DeployStep::WaitInService,
            message: l.status.to_string(),
            elapsed_s: started.elapsed().as_secs() as u32,
            in_state_s: l.in_state_s,
            log_lines: l.new_lines.iter().map(|x| x.message.clone()).collect(),
            log_problem: l.log_problem.map(str::to_string),
        })
    };
    let waited = wait::until_settled(
        (clients, ctx),
        &spec.endpoint_name,
        since_ms,
        waiting,
        &look,
    )
    .await
    .map_err(|e| with_left_behind(e, &resources))?;
    Ok(Deployed { waited, resources })
}

/// A wait error, with what the deploy created so far.
fn with_left_behind(e: Error, resources: &[String]) -> Error {
    match e {
        Error::Aws {
            summary, advice, ..
        } => Error::Deploy {
            step: "DescribeEndpoint".into(),
            summary,
            advice,
            left_behind: resources.to_vec(),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::diagnose::DiagnosisKind;

    fn answered(passed: bool) -> SmokeTest {
        SmokeTest {
            passed,
            input_location: "s3://b/in.json".into(),
            output_location: Some("s3://b/out".into()),
            failure_location: Some("s3://b/fail".into()),
            output: passed.then(|| "[]".into()),
            failure: (!passed).then(|| "CUDA out of memory".into()),
            waited_s: 3,
            deadline_s: 600,
            cancelled: false,
            error: None,
        }
    }

    fn import_error() -> Diagnosis {
        Diagnosis {
            kind: DiagnosisKind::ImportError,
            sentence: "The TGI shard died at start".into(),
            fix: "another TGI version".into(),
            evidence: "ModuleNotFoundError: No module named 'flash_attn_2_cuda'".into(),
        }
    }

    #[test]
    fn a_failing_endpoint_says_whether_the_request_or_the_log_told() {
        let checked = |verdict, passed, diagnosis| Checked {
            verdict,
            smoke_test: Some(answered(passed)),
            diagnosis,
        };
        assert_eq!(
            failing_reason(&checked(Verdict::InServiceFailing, true, Some(import_error()))),
            Some("the test request was answered, but the container logged: ModuleNotFoundError: No module named 'flash_attn_2_cuda'".into())
        );
        assert_eq!(
            failing_reason(&checked(Verdict::InServiceFailing, false, None)),
            Some("the test request failed: CUDA out of memory".into())
        );
        assert_eq!(failing_reason(&checked(Verdict::Ready, true, None)), None);
    }
}
