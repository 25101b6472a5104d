//! Deploying: CreateModel -> CreateEndpointConfig -> CreateEndpoint, then waiting for InService
//! with progress, cancellable; on failure the reason and what was left behind.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_sagemaker::types::{
    AsyncInferenceClientConfig, AsyncInferenceConfig, AsyncInferenceNotificationConfig,
    AsyncInferenceOutputConfig, ContainerDefinition, EndpointStatus, ProductionVariant, Tag,
};
use serde::{Deserialize, Serialize};

use super::spec::DeploySpec;
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
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct DeployProgress {
    pub step: DeployStep,
    pub message: String,
    /// Seconds since the deploy started.
    pub elapsed_s: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct DeployOutcome {
    pub endpoint_name: String,
    /// `InService`, `Failed`, or `Cancelled` (the endpoint keeps starting in AWS).
    pub status: String,
    pub failure_reason: Option<String>,
    /// What exists now, e.g. `model flan-t5-xxl-…`; teardown removes it.
    pub resources: Vec<String>,
}

/// How often the endpoint's status is read while waiting.
pub struct Waiting<'a> {
    pub poll: Duration,
    pub cancel: &'a AtomicBool,
}

fn tag() -> Tag {
    Tag::builder()
        .key(CREATED_BY_KEY)
        .value(CREATED_BY_VALUE)
        .build()
}

fn step_failed(step: &str, explained: aws_errors::Explained, resources: &[String]) -> Error {
    Error::Deploy {
        step: step.to_string(),
        summary: explained.summary,
        advice: explained.advice,
        left_behind: resources.to_vec(),
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

pub async fn deploy(
    clients: &Clients,
    ctx: Context<'_>,
    spec: &DeploySpec,
    (image, role): (&str, &str),
    progress: &(dyn Fn(&DeployProgress) + Send + Sync),
    waiting: Waiting<'_>,
) -> Result<DeployOutcome, Error> {
    let started = Instant::now();
    let report = |step, message: String| {
        progress(&DeployProgress {
            step,
            message,
            elapsed_s: started.elapsed().as_secs() as u32,
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
        .map_err(|e| {
            step_failed(
                "CreateModel",
                aws_errors::explain(
                    &e,
                    Context {
                        action: "sagemaker:CreateModel",
                        ..ctx
                    },
                ),
                &resources,
            )
        })?;
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
        .map_err(|e| {
            step_failed(
                "CreateEndpointConfig",
                aws_errors::explain(
                    &e,
                    Context {
                        action: "sagemaker:CreateEndpointConfig",
                        ..ctx
                    },
                ),
                &resources,
            )
        })?;
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
        .map_err(|e| {
            step_failed(
                "CreateEndpoint",
                aws_errors::explain(
                    &e,
                    Context {
                        action: "sagemaker:CreateEndpoint",
                        ..ctx
                    },
                ),
                &resources,
            )
        })?;
    resources.push(format!("endpoint {}", spec.endpoint_name));

    let outcome =
        |status: &str, failure_reason: Option<String>, resources: Vec<String>| DeployOutcome {
            endpoint_name: spec.endpoint_name.clone(),
            status: status.to_string(),
            failure_reason,
            resources,
        };
    loop {
        if waiting.cancel.load(Ordering::SeqCst) {
            return Ok(outcome("Cancelled", None, resources));
        }
        let d = sm
            .describe_endpoint()
            .endpoint_name(&spec.endpoint_name)
            .send()
            .await
            .map_err(|e| {
                step_failed(
                    "DescribeEndpoint",
                    aws_errors::explain(
                        &e,
                        Context {
                            action: "sagemaker:DescribeEndpoint",
                            ..ctx
                        },
                    ),
                    &resources,
                )
            })?;
        match d.endpoint_status() {
            Some(EndpointStatus::InService) => {
                report(DeployStep::WaitInService, "InService".into());
                return Ok(outcome("InService", None, resources));
            }
            Some(EndpointStatus::Failed) => {
                let reason = d.failure_reason().unwrap_or("no reason given").to_string();
                report(DeployStep::WaitInService, format!("Failed: {reason}"));
                return Ok(outcome("Failed", Some(reason), resources));
            }
            status => {
                let status = status.map_or("unknown".to_string(), |s| s.as_str().to_string());
                report(DeployStep::WaitInService, status);
            }
        }
        tokio::time::sleep(waiting.poll).await;
    }
}
