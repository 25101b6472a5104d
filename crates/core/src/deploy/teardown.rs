//! Removing an endpoint and everything deployed for it; safe to re-run after a partial failure.

use aws_sdk_sagemaker::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::http::Response;
use serde::Serialize;

use crate::aws_errors::{self, Context};
use crate::cloud::Clients;
use crate::error::Error;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct Removed {
    /// e.g. `endpoint flan-t5-xxl-…`.
    pub resource: String,
    /// `deleted` or `already gone`.
    pub outcome: String,
}

/// What a teardown would remove, for the confirmation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, specta::Type)]
pub struct TeardownPlan {
    pub endpoint: String,
    pub endpoint_config: Option<String>,
    pub models: Vec<String>,
}

fn is_missing<E: ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("ValidationException")
        && e.message().is_some_and(|m| m.contains("Could not find"))
}

pub async fn plan(clients: &Clients, endpoint: &str) -> TeardownPlan {
    let sm = &clients.sagemaker;
    let config = sm
        .describe_endpoint()
        .endpoint_name(endpoint)
        .send()
        .await
        .ok()
        .and_then(|d| d.endpoint_config_name().map(str::to_string));
    let models = match &config {
        Some(c) => sm
            .describe_endpoint_config()
            .endpoint_config_name(c)
            .send()
            .await
            .map(|c| {
                c.production_variants()
                    .iter()
                    .filter_map(|v| v.model_name().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        None => Vec::new(),
    };
    TeardownPlan {
        endpoint: endpoint.to_string(),
        endpoint_config: config,
        models,
    }
}

/// Deleted, or already gone (a re-run after a partial teardown); anything else is an error.
fn settle<T, E>(
    result: Result<T, SdkError<E, Response>>,
    ctx: Context<'_>,
    action: &str,
) -> Result<String, Error>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok("deleted".into()),
        Err(e) => match e.as_service_error() {
            Some(se) if is_missing(se) => Ok("already gone".into()),
            _ => Err(aws_errors::failed(&e, ctx, action)),
        },
    }
}

/// Deletes endpoint, endpoint config and models of `plan`, in that order.
pub async fn run(
    clients: &Clients,
    ctx: Context<'_>,
    plan: &TeardownPlan,
) -> Result<Vec<Removed>, Error> {
    let sm = &clients.sagemaker;
    let mut removed = vec![Removed {
        resource: format!("endpoint {}", plan.endpoint),
        outcome: settle(
            sm.delete_endpoint()
                .endpoint_name(&plan.endpoint)
                .send()
                .await,
            ctx,
            "sagemaker:DeleteEndpoint",
        )?,
    }];
    if let Some(config) = &plan.endpoint_config {
        removed.push(Removed {
            resource: format!("endpoint config {config}"),
            outcome: settle(
                sm.delete_endpoint_config()
                    .endpoint_config_name(config)
                    .send()
                    .await,
                ctx,
                "sagemaker:DeleteEndpointConfig",
            )?,
        });
    }
    for model in &plan.models {
        removed.push(Removed {
            resource: format!("model {model}"),
            outcome: settle(
                sm.delete_model().model_name(model).send().await,
                ctx,
                "sagemaker:DeleteModel",
            )?,
        });
    }
    Ok(removed)
}
