//! Removing an endpoint and everything deployed for it: autoscaling first (so nothing tries to
//! scale a vanishing endpoint), then endpoint, config, models and, when asked, its job data.
//! Safe to re-run after a partial failure: what is already gone is reported as such.

use aws_sdk_sagemaker::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::http::Response;
use serde::Serialize;

use super::data::{self, DataPrefix};
use crate::aws_errors::{self, Context};
use crate::cloud::Clients;
use crate::error::Error;
use crate::scaling::alarms;
use crate::scaling::inventory::{self, Inventory};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Removed {
    /// e.g. `endpoint flan-t5-xxl-…`.
    pub resource: String,
    /// `deleted`, `already gone`, or what was kept and why.
    pub outcome: String,
}

/// What a teardown would remove, for the confirmation. The engine keeps each plan it made and
/// carries one out by its `id`, so what runs is what the engine planned, never a plan sent back
/// by a shell.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct TeardownPlan {
    /// Names this plan to [`crate::Ebb::teardown`].
    pub id: String,
    pub endpoint: String,
    pub endpoint_config: Option<String>,
    pub models: Vec<String>,
    pub scaling: Inventory,
    /// Job data under the endpoint's S3 paths; empty unless deleting data was asked for.
    pub data: Vec<DataPrefix>,
    /// Every resource as one line, in removal order, for the confirmation.
    pub lines: Vec<String>,
    /// The S3 paths the data part covers, looked at again when the plan is carried out.
    #[serde(skip)]
    #[cfg_attr(feature = "specta", specta(skip))]
    data_paths: Vec<String>,
}

impl TeardownPlan {
    /// One line per resource, in the order they are removed.
    fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for p in &self.scaling.policies {
            let managed = if p.managed_alarms.is_empty() {
                String::new()
            } else {
                format!(" (and its {} alarms)", p.managed_alarms.len())
            };
            lines.push(format!(
                "scaling policy {} on {}{managed}",
                p.name, p.resource_id
            ));
        }
        for t in &self.scaling.targets {
            lines.push(format!("scalable target {t}"));
        }
        for a in &self.scaling.alarms {
            lines.push(format!("alarm {a}"));
        }
        lines.push(format!("endpoint {}", self.endpoint));
        if let Some(c) = &self.endpoint_config {
            lines.push(format!("endpoint config {c}"));
        }
        for m in &self.models {
            lines.push(format!("model {m}"));
        }
        for d in &self.data {
            lines.push(match &d.kept_because {
                Some(why) => format!("data {} — kept: {why}", d.uri),
                None => format!(
                    "data {} ({} objects, {})",
                    d.uri,
                    d.objects,
                    human_bytes(d.bytes)
                ),
            });
        }
        lines
    }
}

fn human_bytes(b: f64) -> String {
    match b {
        b if b >= 1e9 => format!("{:.1} GB", b / 1e9),
        b if b >= 1e6 => format!("{:.1} MB", b / 1e6),
        b if b >= 1e3 => format!("{:.1} kB", b / 1e3),
        b => format!("{b} bytes"),
    }
}

fn sagemaker_missing(code: Option<&str>, message: Option<&str>) -> bool {
    code == Some("ValidationException") && message.is_some_and(|m| m.contains("Could not find"))
}

fn autoscaling_missing(code: Option<&str>, _: Option<&str>) -> bool {
    code == Some("ObjectNotFoundException")
}

/// What to delete. `data_at` is (bucket, prefix) of Ebb's settings when job data goes too.
/// The endpoint config a deploy of `endpoint` created, when there is no endpoint to name it:
/// the derived name, if that config exists and carries Ebb's tag.
async fn left_by_a_deploy(
    clients: &Clients,
    ctx: Context<'_>,
    endpoint: &str,
) -> Result<Option<String>, Error> {
    let name = super::spec::derived_names(endpoint).endpoint_config_name;
    let found_config = found(
        clients
            .sagemaker
            .describe_endpoint_config()
            .endpoint_config_name(&name)
            .send()
            .await,
        ctx,
        "sagemaker:DescribeEndpointConfig",
    )?;
    match found_config.as_ref().and_then(|c| c.endpoint_config_arn()) {
        Some(arn) if super::update::ebb_made(clients, ctx, arn).await? => Ok(Some(name)),
        _ => Ok(None),
    }
}

/// The model a deploy of `endpoint` created when neither endpoint nor config is left to name
/// it (CreateEndpointConfig refused): the derived name, if it exists and is Ebb's.
async fn left_model(
    clients: &Clients,
    ctx: Context<'_>,
    endpoint: &str,
) -> Result<Vec<String>, Error> {
    let name = super::spec::derived_names(endpoint).model_name;
    let model = found(
        clients
            .sagemaker
            .describe_model()
            .model_name(&name)
            .send()
            .await,
        ctx,
        "sagemaker:DescribeModel",
    )?;
    match model.as_ref().and_then(|m| m.model_arn()) {
        Some(arn) if super::update::ebb_made(clients, ctx, arn).await? => Ok(vec![name]),
        _ => Ok(Vec::new()),
    }
}

pub async fn plan(
    clients: &Clients,
    ctx: Context<'_>,
    endpoint: &str,
    data_at: Option<(&str, &str)>,
) -> Result<TeardownPlan, Error> {
    let sm = &clients.sagemaker;
    let described = found(
        sm.describe_endpoint().endpoint_name(endpoint).send().await,
        ctx,
        "sagemaker:DescribeEndpoint",
    )?;
    // A deploy refused at CreateEndpoint (a quota, say) leaves its model and config with no
    // endpoint to name them: they are found by the names the deploy gives them, if Ebb's.
    let config = match described.as_ref() {
        Some(d) => d.endpoint_config_name().map(str::to_string),
        None => left_by_a_deploy(clients, ctx, endpoint).await?,
    };
    let config_described = match &config {
        Some(c) => found(
            sm.describe_endpoint_config()
                .endpoint_config_name(c)
                .send()
                .await,
            ctx,
            "sagemaker:DescribeEndpointConfig",
        )?,
        None => None,
    };
    let models: Vec<String> = config_described
        .as_ref()
        .map(|c| {
            c.production_variants()
                .iter()
                .filter_map(|v| v.model_name().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let models = match (models.is_empty(), described.is_none()) {
        (true, true) => left_model(clients, ctx, endpoint).await?,
        _ => models,
    };
    let scaling = inventory::of_endpoint(clients, ctx, endpoint).await;
    let data_paths = match data_at {
        None => Vec::new(),
        Some((bucket, prefix)) => {
            let output = described
                .as_ref()
                .and_then(|d| d.async_inference_config())
                .or_else(|| {
                    config_described
                        .as_ref()
                        .and_then(|c| c.async_inference_config())
                })
                .and_then(|a| a.output_config());
            let mut paths: Vec<String> = [
                output.and_then(|o| o.s3_output_path()),
                output.and_then(|o| o.s3_failure_path()),
            ]
            .into_iter()
            .flatten()
            .map(str::to_string)
            .collect();
            let base = format!("s3://{bucket}/{}", prefix.trim_matches('/'));
            paths.extend(
                [data::test_inputs, data::loadtest_inputs]
                    .map(|folder| format!("{base}/{}", folder(endpoint))),
            );
            paths
        }
    };
    let mut plan = TeardownPlan {
        id: String::new(),
        endpoint: endpoint.to_string(),
        endpoint_config: config,
        models,
        scaling,
        data: Vec::new(),
        lines: Vec::new(),
        data_paths,
    };
    refresh_data(clients, ctx, &mut plan).await?;
    Ok(plan)
}

/// Counts the plan's job data again and decides again what is kept (another endpoint may have
/// started writing there since the plan was shown).
pub async fn refresh_data(
    clients: &Clients,
    ctx: Context<'_>,
    plan: &mut TeardownPlan,
) -> Result<(), Error> {
    if !plan.data_paths.is_empty() {
        plan.data = data::plan(clients, ctx, &plan.endpoint, &plan.data_paths).await?;
    }
    plan.lines = plan.describe();
    Ok(())
}

/// What a Describe found: `None` only when SageMaker says there is no such resource. Any other
/// refusal (throttling, access denied) is an error: read as "nothing there", the teardown would
/// report success and leave the resources, and their bill, in place.
fn found<T, E>(
    result: Result<T, SdkError<E, Response>>,
    ctx: Context<'_>,
    action: &str,
) -> Result<Option<T>, Error>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(t) => Ok(Some(t)),
        Err(e) => match e.as_service_error() {
            Some(se) if sagemaker_missing(se.code(), se.message()) => Ok(None),
            _ => Err(aws_errors::failed(&e, ctx, action)),
        },
    }
}

/// Deleted, or already gone (a re-run after a partial teardown); anything else is an error.
fn settle<T, E>(
    result: Result<T, SdkError<E, Response>>,
    ctx: Context<'_>,
    action: &str,
    missing: fn(Option<&str>, Option<&str>) -> bool,
) -> Result<String, Error>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok("deleted".into()),
        Err(e) => match e.as_service_error() {
            Some(se) if missing(se.code(), se.message()) => Ok("already gone".into()),
            _ => Err(aws_errors::failed(&e, ctx, action)),
        },
    }
}

pub(crate) async fn remove_scaling(
    clients: &Clients,
    ctx: Context<'_>,
    scaling: &Inventory,
    removed: &mut Vec<Removed>,
) -> Result<(), Error> {
    use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};
    let aas = &clients.autoscaling;
    for p in &scaling.policies {
        let outcome = settle(
            aas.delete_scaling_policy()
                .service_namespace(ServiceNamespace::Sagemaker)
                .scalable_dimension(ScalableDimension::SageMakerVariantDesiredInstanceCount)
                .resource_id(&p.resource_id)
                .policy_name(&p.name)
                .send()
                .await,
            ctx,
            "application-autoscaling:DeleteScalingPolicy",
            autoscaling_missing,
        )?;
        removed.push(Removed {
            resource: format!("scaling policy {} on {}", p.name, p.resource_id),
            outcome,
        });
    }
    for t in &scaling.targets {
        let outcome = settle(
            aas.deregister_scalable_target()
                .service_namespace(ServiceNamespace::Sagemaker)
                .scalable_dimension(ScalableDimension::SageMakerVariantDesiredInstanceCount)
                .resource_id(t)
                .send()
                .await,
            ctx,
            "application-autoscaling:DeregisterScalableTarget",
            autoscaling_missing,
        )?;
        removed.push(Removed {
            resource: format!("scalable target {t}"),
            outcome,
        });
    }
    // DeleteAlarms is all-or-nothing, so delete only the alarms that are still there.
    for names in scaling.alarms.chunks(100) {
        let present: Vec<String> = alarms::named(clients, ctx, names)
            .await?
            .iter()
            .filter_map(|a| a.alarm_name().map(str::to_string))
            .collect();
        if !present.is_empty() {
            clients
                .cloudwatch
                .delete_alarms()
                .set_alarm_names(Some(present.clone()))
                .send()
                .await
                .map_err(|e| aws_errors::failed(&e, ctx, "cloudwatch:DeleteAlarms"))?;
        }
        for n in names {
            removed.push(Removed {
                resource: format!("alarm {n}"),
                outcome: if present.contains(n) {
                    "deleted"
                } else {
                    "already gone"
                }
                .into(),
            });
        }
    }
    Ok(())
}

/// Removes everything in `plan`, in the order of its `lines`.
pub async fn run(
    clients: &Clients,
    ctx: Context<'_>,
    plan: &TeardownPlan,
) -> Result<Vec<Removed>, Error> {
    let sm = &clients.sagemaker;
    let mut removed = Vec::new();
    remove_scaling(clients, ctx, &plan.scaling, &mut removed).await?;
    removed.push(Removed {
        resource: format!("endpoint {}", plan.endpoint),
        outcome: settle(
            sm.delete_endpoint()
                .endpoint_name(&plan.endpoint)
                .send()
                .await,
            ctx,
            "sagemaker:DeleteEndpoint",
            sagemaker_missing,
        )?,
    });
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
                sagemaker_missing,
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
                sagemaker_missing,
            )?,
        });
    }
    for d in &plan.data {
        let outcome = match &d.kept_because {
            Some(why) => format!("kept: {why}"),
            None => format!("{} objects deleted", data::delete(clients, ctx, d).await?),
        };
        removed.push(Removed {
            resource: format!("data {}", d.uri),
            outcome,
        });
    }
    Ok(removed)
}
