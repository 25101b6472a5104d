//! Changing a running endpoint in place: a new model and endpoint config built from the
//! current ones, then UpdateEndpoint, which SageMaker carries out blue/green (the new fleet
//! starts, traffic moves, the old fleet goes; a failed update rolls back to the old config,
//! <https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UpdateEndpoint.html>).
//!
//! The running variant's instance count is kept (`RetainAllVariantProperties`), so an
//! autoscaled endpoint at 0 instances is not woken; an instance count the user asks for is
//! applied by excluding `DesiredInstanceCount` from what is retained. An instance-type change
//! on an autoscaled variant takes the scaling away first and puts the same back after
//! ([`crate::scaling::keep`]).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Instant;

use aws_sdk_sagemaker::operation::describe_endpoint::DescribeEndpointOutput;
use aws_sdk_sagemaker::operation::describe_endpoint_config::DescribeEndpointConfigOutput;
use aws_sdk_sagemaker::operation::describe_model::DescribeModelOutput;
use aws_sdk_sagemaker::types::{
    ContainerDefinition, EndpointStatus, ProductionVariant, Tag, VariantProperty,
    VariantPropertyType,
};
use serde::{Deserialize, Serialize};

use super::run::{CREATED_BY_KEY, CREATED_BY_VALUE, Waiting};
use super::spec::{self, DeploySpec, ImageChoice, MESSAGES_API_VAR};
use super::teardown::Removed;
use crate::aws_errors::{self, Context};
use crate::catalog::tgi;
use crate::cloud::Clients;
use crate::error::Error;
use crate::scaling::keep::{self, KeptScaling};

/// What to change; every field left out stays as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct UpdateRequest {
    /// e.g. `ml.g5.24xlarge`.
    pub instance_type: Option<String>,
    /// Instances after the update (1 to 100); left out, the running count is kept.
    pub instance_count: Option<u32>,
    /// Concurrent invocations per instance (1 to 1000), asynchronous endpoints only.
    pub max_concurrency: Option<u32>,
    /// A TGI version SageMaker publishes an image for, e.g. `2.0.1`.
    pub tgi_version: Option<String>,
    /// Container environment variables to set (added or replaced).
    #[serde(default)]
    pub set_env: BTreeMap<String, String>,
    /// Container environment variables to remove.
    #[serde(default)]
    pub unset_env: Vec<String>,
}

impl UpdateOutcome {
    /// Updated, and its smoke test (when one ran) was answered.
    pub fn usable(&self) -> bool {
        self.status == "InService"
            && self.smoke_test.as_ref().is_none_or(|t| t.passed)
            && self.diagnosis.is_none()
    }
}

impl UpdateRequest {
    fn is_empty(&self) -> bool {
        self.instance_type.is_none()
            && self.instance_count.is_none()
            && self.max_concurrency.is_none()
            && self.tgi_version.is_none()
            && self.set_env.is_empty()
            && self.unset_env.is_empty()
    }
}

/// An endpoint's current settings, for prefilling the change form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct EndpointSettings {
    pub endpoint: String,
    pub status: String,
    pub endpoint_config: String,
    pub model: String,
    pub variant: String,
    pub instance_type: String,
    /// The variant's desired instance count now (autoscaling may have changed it).
    pub instance_count: u32,
    /// Asynchronous endpoints only.
    pub max_concurrency: Option<u32>,
    /// The TGI version of the image, when it is one of SageMaker's TGI images.
    pub tgi_version: Option<String>,
    pub image: String,
    /// The container environment, HF_MODEL_ID included.
    pub environment: BTreeMap<String, String>,
    /// Whether the variant is registered with Application Auto Scaling.
    pub autoscaled: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum UpdateStep {
    CreateModel,
    CreateEndpointConfig,
    PauseScaling,
    UpdateEndpoint,
    WaitInService,
    /// One request through the async path to the new fleet.
    SmokeTest,
    /// Back to the old config after the new fleet failed its test request.
    Revert,
    RestoreScaling,
    RemoveOld,
    RemoveNew,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct UpdateProgress {
    pub step: UpdateStep,
    pub message: String,
    /// Seconds since the update started.
    pub elapsed_s: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct UpdateOutcome {
    pub endpoint: String,
    /// `InService` (updated) or `Failed` (SageMaker rolled back to the old config).
    pub status: String,
    pub failure_reason: Option<String>,
    /// What was asked and differs from before, one line each.
    pub changes: Vec<String>,
    pub old_endpoint_config: String,
    pub old_model: String,
    pub new_endpoint_config: String,
    pub new_model: String,
    /// The variant's desired instance count after the update.
    pub instance_count: Option<u32>,
    /// Whether the autoscaling was taken away for an instance-type change.
    pub scaling_paused: bool,
    /// Whether it was put back (always, unless `scaling_paused` is false).
    pub scaling_restored: bool,
    /// The scaling put back, one line each.
    pub scaling: Vec<String>,
    /// Old resources after success, new ones after a rollback.
    pub removed: Vec<Removed>,
    /// Old resources left in place, with why (not made by Ebb).
    pub kept: Vec<String>,
    /// The request sent once the new fleet was InService (none when the endpoint runs 0
    /// instances: a request would wake it).
    #[serde(default)]
    pub smoke_test: Option<crate::deploy::smoke::SmokeTest>,
    /// The known failure the update or its smoke test met, with its fix.
    #[serde(default)]
    pub diagnosis: Option<crate::deploy::diagnose::Diagnosis>,
}

/// The endpoint as it runs now: its description, config, the variant's model.
pub struct Current {
    pub endpoint: DescribeEndpointOutput,
    pub config: DescribeEndpointConfigOutput,
    pub model: DescribeModelOutput,
    pub variant: ProductionVariant,
}

impl Current {
    fn container(&self) -> Option<&ContainerDefinition> {
        self.model
            .primary_container()
            .or_else(|| self.model.containers().first())
    }

    fn image(&self) -> String {
        self.container()
            .and_then(|c| c.image())
            .unwrap_or_default()
            .to_string()
    }

    fn environment(&self) -> BTreeMap<String, String> {
        self.container()
            .and_then(|c| c.environment())
            .map(|e| e.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    fn variant_name(&self) -> &str {
        self.variant.variant_name().unwrap_or("AllTraffic")
    }

    fn instance_type(&self) -> String {
        self.variant
            .instance_type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default()
    }

    pub fn desired_instances(&self) -> Option<u32> {
        self.endpoint
            .production_variants()
            .iter()
            .find(|v| v.variant_name() == Some(self.variant_name()))
            .and_then(|v| v.desired_instance_count())
            .and_then(|n| u32::try_from(n).ok())
    }

    fn max_concurrency(&self) -> Option<u32> {
        self.config
            .async_inference_config()
            .and_then(|a| a.client_config())
            .and_then(|c| c.max_concurrent_invocations_per_instance())
            .and_then(|n| u32::try_from(n).ok())
    }

    /// The TGI version whose image for `region` is the model's image.
    fn tgi_version(&self, region: &str) -> Option<String> {
        let image = self.image();
        tgi::VERSIONS
            .iter()
            .find(|v| tgi::image_uri(v.version, region).is_ok_and(|u| u == image))
            .map(|v| v.version.to_string())
    }

    /// The resource id Application Auto Scaling knows the variant by.
    pub fn resource_id(&self) -> String {
        crate::scaling::resource_id(
            self.endpoint.endpoint_name().unwrap_or_default(),
            self.variant_name(),
        )
    }
}

/// Reads endpoint -> endpoint config -> the first variant's model. [`Error::EndpointNotFound`]
/// when there is no such endpoint, [`Error::EndpointModelGone`] when its config or model was
/// deleted.
pub async fn current(
    clients: &Clients,
    ctx: Context<'_>,
    endpoint: &str,
) -> Result<Current, Error> {
    let sm = &clients.sagemaker;
    let gone = |missing: String| Error::EndpointModelGone {
        endpoint: endpoint.to_string(),
        missing,
    };
    let described = match sm.describe_endpoint().endpoint_name(endpoint).send().await {
        Ok(d) => d,
        Err(e) if aws_errors::is_not_found(&e) => {
            return Err(Error::EndpointNotFound(endpoint.to_string()));
        }
        Err(e) => return Err(aws_errors::failed(&e, ctx, "sagemaker:DescribeEndpoint")),
    };
    let config_name = described
        .endpoint_config_name()
        .unwrap_or_default()
        .to_string();
    let config = match sm
        .describe_endpoint_config()
        .endpoint_config_name(&config_name)
        .send()
        .await
    {
        Ok(c) => c,
        Err(e) if aws_errors::is_not_found(&e) => {
            return Err(gone(format!("endpoint config {config_name}")));
        }
        Err(e) => {
            return Err(aws_errors::failed(
                &e,
                ctx,
                "sagemaker:DescribeEndpointConfig",
            ));
        }
    };
    let variant = config
        .production_variants()
        .first()
        .cloned()
        .ok_or_else(|| gone(format!("a production variant in {config_name}")))?;
    let model_name = variant.model_name().unwrap_or_default().to_string();
    let model = match sm.describe_model().model_name(&model_name).send().await {
        Ok(m) => m,
        Err(e) if aws_errors::is_not_found(&e) => return Err(gone(format!("model {model_name}"))),
        Err(e) => return Err(aws_errors::failed(&e, ctx, "sagemaker:DescribeModel")),
    };
    Ok(Current {
        endpoint: described,
        config,
        model,
        variant,
    })
}

/// The form's values for `current`; `autoscaled` says whether a scalable target is registered.
pub fn settings_of(current: &Current, region: &str, autoscaled: bool) -> EndpointSettings {
    EndpointSettings {
        endpoint: current
            .endpoint
            .endpoint_name()
            .unwrap_or_default()
            .to_string(),
        status: current
            .endpoint
            .endpoint_status()
            .map_or("unknown", |s| s.as_str())
            .to_string(),
        endpoint_config: current
            .config
            .endpoint_config_name()
            .unwrap_or_default()
            .to_string(),
        model: current.model.model_name().unwrap_or_default().to_string(),
        variant: current.variant_name().to_string(),
        instance_type: current.instance_type(),
        instance_count: current.desired_instances().unwrap_or(0),
        max_concurrency: current.max_concurrency(),
        tgi_version: current.tgi_version(region),
        image: current.image(),
        environment: current.environment(),
        autoscaled,
    }
}

/// Everything decided before any change is made.
pub struct Plan {
    pub current: Current,
    /// The new model's and config's names, image and environment, checked.
    pub spec: DeploySpec,
    pub image: String,
    pub role: String,
    pub changes: Vec<String>,
    pub instance_type_changes: bool,
    pub count_asked: bool,
}

/// The fields of [`DeploySpec::problems`] an update can make wrong; the others come from the
/// running endpoint as they are.
const CHECKED_FIELDS: &[&str] = &[
    "model_id",
    "image",
    "instance_type",
    "instance_count",
    "max_concurrency",
    "environment",
    "messages_api",
    "model_name",
    "endpoint_config_name",
];

/// Whether a problem with `field` is the update's to report: the image and the model id only
/// when the request changes them (a running model whose image or `HF_MODEL_ID` a new deploy
/// would refuse, such as an S3 path, still takes other changes).
fn checked(field: &str, request: &UpdateRequest) -> bool {
    match field {
        "image" => request.tgi_version.is_some(),
        "model_id" => request.set_env.contains_key("HF_MODEL_ID"),
        other => CHECKED_FIELDS.contains(&other),
    }
}

/// A model name unique to this update: `<endpoint>-<stamp>` cut to fit (as a deploy names a
/// new endpoint), and the config named after it as a deploy does ([`spec::derived_names`]).
pub fn new_names(endpoint: &str, stamp: &str) -> spec::DerivedNames {
    spec::derived_names(&spec::generated_name(endpoint, stamp))
}

/// The running model as a [`DeploySpec`] (so that a deploy's checks apply to the update).
fn spec_of(current: &Current, region: &str, stamp: &str) -> Result<DeploySpec, Error> {
    let endpoint = current.endpoint.endpoint_name().unwrap_or_default();
    let mut environment = current.environment();
    let model_id = environment.remove("HF_MODEL_ID").ok_or_else(|| {
        Error::InvalidRequest(format!(
            "the model of {endpoint} has no HF_MODEL_ID: Ebb changes Hugging Face TGI endpoints only"
        ))
    })?;
    let messages_api = environment
        .get(MESSAGES_API_VAR)
        .is_some_and(|v| v == "true");
    if messages_api {
        environment.remove(MESSAGES_API_VAR);
    }
    let image = match current.tgi_version(region) {
        Some(version) => ImageChoice::Tgi { version },
        None => ImageChoice::Custom {
            uri: current.image(),
        },
    };
    let output = current
        .config
        .async_inference_config()
        .and_then(|a| a.output_config());
    let names = new_names(endpoint, stamp);
    Ok(DeploySpec {
        smoke_test: true,
        wait_limit_s: crate::deploy::wait::DEFAULT_LIMIT_S,
        model_id,
        image,
        environment,
        instance_type: current.instance_type(),
        instance_count: current
            .variant
            .initial_instance_count()
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(1),
        health_check_timeout_s: current
            .variant
            .container_startup_health_check_timeout_in_seconds()
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(300),
        output_path: output
            .and_then(|o| o.s3_output_path())
            .unwrap_or_default()
            .to_string(),
        failure_path: output.and_then(|o| o.s3_failure_path()).map(str::to_string),
        max_concurrency: current.max_concurrency().unwrap_or(1),
        success_topic: None,
        error_topic: None,
        kms_key_id: None,
        model_name: names.model_name,
        endpoint_config_name: names.endpoint_config_name,
        endpoint_name: endpoint.to_string(),
        messages_api,
    })
}

/// Applies `request` to `spec`: the instance type first, so that an `SM_NUM_GPUS` that followed
/// the old instance follows the new one ([`DeploySpec::set_instance_type`]) unless the request
/// sets it.
fn apply(request: &UpdateRequest, spec: &mut DeploySpec) {
    if let Some(t) = &request.instance_type {
        spec.set_instance_type(t);
    }
    if let Some(n) = request.instance_count {
        spec.instance_count = n;
    }
    if let Some(n) = request.max_concurrency {
        spec.max_concurrency = n;
    }
    if let Some(version) = &request.tgi_version {
        spec.image = ImageChoice::Tgi {
            version: version.clone(),
        };
    }
    for key in &request.unset_env {
        match key.as_str() {
            MESSAGES_API_VAR => spec.messages_api = false,
            _ => {
                spec.environment.remove(key);
            }
        }
    }
    for (key, value) in &request.set_env {
        match key.as_str() {
            "HF_MODEL_ID" => spec.model_id = value.clone(),
            MESSAGES_API_VAR if value == "true" => spec.messages_api = true,
            MESSAGES_API_VAR => {
                spec.messages_api = false;
                spec.environment.insert(key.clone(), value.clone());
            }
            _ => {
                spec.environment.insert(key.clone(), value.clone());
            }
        }
    }
}

/// What differs between the running endpoint and `spec`, one line each.
fn changes(current: &Current, spec: &DeploySpec, image: &str, count: Option<u32>) -> Vec<String> {
    let mut out = Vec::new();
    let old_type = current.instance_type();
    if old_type != spec.instance_type {
        out.push(format!(
            "instance type {old_type} -> {}",
            spec.instance_type
        ));
    }
    if let Some(n) = count
        && current.desired_instances() != Some(n)
    {
        let old = current
            .desired_instances()
            .map_or("?".into(), |o| o.to_string());
        out.push(format!("instance count {old} -> {n}"));
    }
    if let Some(old) = current.max_concurrency()
        && old != spec.max_concurrency
    {
        out.push(format!(
            "concurrency per instance {old} -> {}",
            spec.max_concurrency
        ));
    }
    let old_image = current.image();
    if old_image != image {
        out.push(format!("image {old_image} -> {image}"));
    }
    let old_env = current.environment();
    let new_env = spec.container_environment();
    for (k, v) in &new_env {
        let (shown_old, shown_new) = (|o: &str| shown(k, o), shown(k, v));
        match old_env.get(k) {
            None => out.push(format!("environment {k}={shown_new} (new)")),
            Some(o) if o != v => {
                out.push(format!("environment {k}: {} -> {shown_new}", shown_old(o)))
            }
            Some(_) => {}
        }
    }
    for k in old_env.keys().filter(|k| !new_env.contains_key(*k)) {
        out.push(format!("environment {k} removed"));
    }
    out
}

/// A variable's value as the change list shows it: tokens, keys, secrets and passwords are
/// masked (the list is printed and kept in JSON; the value is in the model either way).
fn shown(key: &str, value: &str) -> String {
    let upper = key.to_ascii_uppercase();
    let secret = upper.ends_with("TOKEN")
        || upper.ends_with("_KEY")
        || upper.contains("SECRET")
        || upper.contains("PASSWORD");
    if secret {
        format!(
            "…{} ({} characters)",
            value
                .chars()
                .rev()
                .take(3)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<String>(),
            value.chars().count()
        )
    } else {
        value.to_string()
    }
}

/// Reads the endpoint and checks the change, before anything is created.
pub async fn plan(
    clients: &Clients,
    ctx: Context<'_>,
    endpoint: &str,
    request: &UpdateRequest,
    region: &str,
) -> Result<Plan, Error> {
    if request.is_empty() {
        return Err(Error::InvalidRequest(
            "nothing to change: give an instance type, instance count, concurrency, TGI version or environment".into(),
        ));
    }
    let current = current(clients, ctx, endpoint).await?;
    if current.endpoint.endpoint_status() != Some(&EndpointStatus::InService) {
        let status = current
            .endpoint
            .endpoint_status()
            .map_or("unknown", |s| s.as_str());
        return Err(Error::InvalidRequest(format!(
            "{endpoint} is {status}: SageMaker updates an endpoint only when it is InService"
        )));
    }
    if request.max_concurrency.is_some() && current.config.async_inference_config().is_none() {
        return Err(Error::InvalidRequest(format!(
            "{endpoint} is a real-time endpoint: concurrency per instance applies to asynchronous endpoints only"
        )));
    }
    let mut spec = spec_of(&current, region, &spec::stamp_now())?;
    apply(request, &mut spec);
    let role = current
        .model
        .execution_role_arn()
        .unwrap_or_default()
        .to_string();
    let problems: Vec<_> = spec
        .problems(region, Some(&role))
        .into_iter()
        .filter(|p| checked(&p.field, request))
        .collect();
    let image = match spec.image_uri(region) {
        Ok(image) if problems.is_empty() => image,
        _ => return Err(Error::InvalidDeploy(problems)),
    };
    let changes = changes(&current, &spec, &image, request.instance_count);
    if changes.is_empty() {
        return Err(Error::InvalidRequest(format!(
            "nothing to change: {endpoint} already runs with these settings"
        )));
    }
    Ok(Plan {
        instance_type_changes: current.instance_type() != spec.instance_type,
        count_asked: request.instance_count.is_some(),
        current,
        spec,
        image,
        role,
        changes,
    })
}

/// Reports progress with the time since the update started.
pub struct Reporter<'a> {
    started: Instant,
    progress: &'a (dyn Fn(&UpdateProgress) + Send + Sync),
}

impl<'a> Reporter<'a> {
    pub fn new(progress: &'a (dyn Fn(&UpdateProgress) + Send + Sync)) -> Reporter<'a> {
        Reporter {
            started: Instant::now(),
            progress,
        }
    }

    pub fn say(&self, step: UpdateStep, message: impl Into<String>) {
        (self.progress)(&UpdateProgress {
            step,
            message: message.into(),
            elapsed_s: self.started.elapsed().as_secs() as u32,
        });
    }
}

fn tag() -> Tag {
    Tag::builder()
        .key(CREATED_BY_KEY)
        .value(CREATED_BY_VALUE)
        .build()
}

/// CreateModel: the old model's container and settings with the new image and environment.
async fn create_model(clients: &Clients, ctx: Context<'_>, plan: &Plan) -> Result<(), Error> {
    let mut container = plan
        .current
        .container()
        .cloned()
        .unwrap_or_else(|| ContainerDefinition::builder().build());
    container.image = Some(plan.image.clone());
    container.environment = Some(plan.spec.container_environment().into_iter().collect());
    let m = &plan.current.model;
    clients
        .sagemaker
        .create_model()
        .model_name(&plan.spec.model_name)
        .execution_role_arn(&plan.role)
        .primary_container(container)
        .set_vpc_config(m.vpc_config().cloned())
        .set_enable_network_isolation(m.enable_network_isolation())
        .tags(tag())
        .send()
        .await
        .map_err(|e| aws_errors::failed(&e, ctx, "sagemaker:CreateModel"))?;
    Ok(())
}

/// CreateEndpointConfig: everything of the old config, with the first variant on the new
/// model, instance type and count, and the new concurrency.
async fn create_config(clients: &Clients, ctx: Context<'_>, plan: &Plan) -> Result<(), Error> {
    let old = &plan.current.config;
    let spec = &plan.spec;
    let mut variants = old.production_variants().to_vec();
    if let Some(v) = variants.first_mut() {
        v.model_name = Some(spec.model_name.clone());
        v.instance_type = Some(spec.instance_type.as_str().into());
        v.initial_instance_count = Some(spec.instance_count as i32);
    }
    let mut async_config = old.async_inference_config().cloned();
    if let Some(client) = async_config.as_mut().and_then(|a| a.client_config.as_mut()) {
        client.max_concurrent_invocations_per_instance = Some(spec.max_concurrency as i32);
    }
    clients
        .sagemaker
        .create_endpoint_config()
        .endpoint_config_name(&spec.endpoint_config_name)
        .set_production_variants(Some(variants))
        .set_async_inference_config(async_config)
        .set_data_capture_config(old.data_capture_config().cloned())
        .set_kms_key_id(old.kms_key_id().map(str::to_string))
        .set_explainer_config(old.explainer_config().cloned())
        .set_shadow_production_variants(old.shadow_production_variants.clone())
        .set_execution_role_arn(old.execution_role_arn().map(str::to_string))
        .set_vpc_config(old.vpc_config().cloned())
        .set_enable_network_isolation(old.enable_network_isolation())
        .set_metrics_config(old.metrics_config().cloned())
        .tags(tag())
        .send()
        .await
        .map_err(|e| aws_errors::failed(&e, ctx, "sagemaker:CreateEndpointConfig"))?;
    Ok(())
}

/// What [`start`] did, for [`wait`] and [`finish`].
pub struct Started {
    /// The scaling taken away, to be put back.
    pub paused: Option<KeptScaling>,
}

/// Creates the new model and config, takes the scaling away when the instance type changes on
/// an autoscaled variant, and calls UpdateEndpoint. On an error, whatever it had done is undone
/// (new model and config removed, scaling put back) before the error is returned.
pub async fn start(
    clients: &Clients,
    ctx: Context<'_>,
    plan: &Plan,
    report: &Reporter<'_>,
) -> Result<Started, Error> {
    report.say(
        UpdateStep::CreateModel,
        format!("creating model {}", plan.spec.model_name),
    );
    create_model(clients, ctx, plan).await?;
    report.say(
        UpdateStep::CreateEndpointConfig,
        format!(
            "creating endpoint config {}",
            plan.spec.endpoint_config_name
        ),
    );
    if let Err(e) = create_config(clients, ctx, plan).await {
        return Err(undo(clients, ctx, plan, (None, false), e, report).await);
    }
    let mut paused = None;
    if plan.instance_type_changes {
        match pause_scaling(clients, ctx, plan, report).await {
            Ok(kept) => paused = kept,
            Err((kept, e)) => {
                return Err(undo(clients, ctx, plan, (kept.as_ref(), true), e, report).await);
            }
        }
    }
    report.say(
        UpdateStep::UpdateEndpoint,
        format!("updating endpoint {}", endpoint_of(plan)),
    );
    if let Err(e) = update_call(clients, ctx, plan).await {
        return Err(undo(clients, ctx, plan, (paused.as_ref(), true), e, report).await);
    }
    Ok(Started { paused })
}

fn endpoint_of(plan: &Plan) -> &str {
    &plan.spec.endpoint_name
}

/// Reads and takes away the variant's scaling; on a failure part-way, what was read comes back
/// with the error so that it can be put back.
async fn pause_scaling(
    clients: &Clients,
    ctx: Context<'_>,
    plan: &Plan,
    report: &Reporter<'_>,
) -> Result<Option<KeptScaling>, (Option<KeptScaling>, Error)> {
    let Some(kept) = keep::read(clients, ctx, &plan.current.resource_id())
        .await
        .map_err(|e| (None, e))?
    else {
        return Ok(None);
    };
    report.say(
        UpdateStep::PauseScaling,
        format!(
            "taking autoscaling away for the instance-type change ({}); it goes back once the endpoint is InService",
            kept.describe()
        ),
    );
    match keep::take_away(clients, ctx, &kept).await {
        Ok(_) => Ok(Some(kept)),
        Err(e) => Err((Some(kept), e)),
    }
}

/// UpdateEndpoint, keeping the running variant's properties (its instance count above all)
/// unless the user asked for a count.
async fn update_call(clients: &Clients, ctx: Context<'_>, plan: &Plan) -> Result<(), Error> {
    let exclude = plan.count_asked.then(|| {
        vec![
            VariantProperty::builder()
                .variant_property_type(VariantPropertyType::DesiredInstanceCount)
                .build(),
        ]
    });
    clients
        .sagemaker
        .update_endpoint()
        .endpoint_name(endpoint_of(plan))
        .endpoint_config_name(&plan.spec.endpoint_config_name)
        .retain_all_variant_properties(true)
        .set_exclude_retained_variant_properties(exclude)
        .send()
        .await
        .map_err(|e| aws_errors::failed(&e, ctx, "sagemaker:UpdateEndpoint"))?;
    Ok(())
}

/// Undoes a start that failed: scaling back first (the endpoint is unchanged, so it takes it),
/// then the new config and model. The error returned says what could not be undone.
async fn undo(
    clients: &Clients,
    ctx: Context<'_>,
    plan: &Plan,
    (paused, config_made): (Option<&KeptScaling>, bool),
    error: Error,
    report: &Reporter<'_>,
) -> Error {
    let mut notes = Vec::new();
    if let Some(kept) = paused {
        report.say(UpdateStep::RestoreScaling, "putting the autoscaling back");
        if let Err(e) = keep::restore(clients, ctx, kept).await {
            notes.push(scaling_lost(endpoint_of(plan), kept, &e));
        }
    }
    if let Err(e) = remove_new(clients, ctx, plan, !config_made, report).await {
        notes.push(format!(
            "the new resources could not be removed ({e}): remove them by hand"
        ));
    }
    if notes.is_empty() {
        return error;
    }
    Error::InvalidRequest(format!("{error}. Also: {}", notes.join("; ")))
}

/// The sentence for scaling that could not be put back.
fn scaling_lost(endpoint: &str, kept: &KeptScaling, e: &Error) -> String {
    format!(
        "the autoscaling of {endpoint} could not be put back ({e}), so {endpoint} does not scale now; it was {}: set it again with `ebb autoscale {endpoint}`",
        kept.describe()
    )
}

/// How the wait ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waited {
    /// InService with the new config.
    Updated,
    /// SageMaker rolled back (InService on the old config) or the endpoint Failed.
    Failed(String),
    /// The user stopped waiting; the update goes on in SageMaker.
    Cancelled,
}

/// Waits for Updating -> InService, reporting each status read. An update SageMaker rolled
/// back shows as InService on the old config with a FailureReason. While scaling is taken
/// away, a cancel is not honoured: the scaling has to go back once the update ends.
pub async fn wait(
    clients: &Clients,
    ctx: Context<'_>,
    plan: &Plan,
    started: &Started,
    waiting: Waiting<'_>,
    report: &Reporter<'_>,
) -> Result<Waited, Error> {
    let mut seen_updating = false;
    let mut told = false;
    let t0 = Instant::now();
    loop {
        // The wait's limit ends it as a cancel does (and, as a cancel, not while the scaling
        // is away).
        let out_of_time = t0.elapsed() >= waiting.limit;
        if waiting.cancel.load(Ordering::SeqCst) || out_of_time {
            if started.paused.is_none() {
                return Ok(Waited::Cancelled);
            }
            if !told {
                report.say(
                    UpdateStep::WaitInService,
                    "still waiting: the autoscaling goes back once the update ends",
                );
                told = true;
            }
        }
        let d = clients
            .sagemaker
            .describe_endpoint()
            .endpoint_name(endpoint_of(plan))
            .send()
            .await
            .map_err(|e| aws_errors::failed(&e, ctx, "sagemaker:DescribeEndpoint"))?;
        let on_new = d.endpoint_config_name() == Some(plan.spec.endpoint_config_name.as_str());
        let reason = d.failure_reason().map(str::to_string);
        match d.endpoint_status() {
            Some(EndpointStatus::InService) if on_new => {
                report.say(UpdateStep::WaitInService, "InService with the new config");
                return Ok(Waited::Updated);
            }
            Some(EndpointStatus::InService) if seen_updating || reason.is_some() => {
                let reason = reason.unwrap_or_else(|| "no reason given".into());
                report.say(UpdateStep::WaitInService, format!("rolled back: {reason}"));
                return Ok(Waited::Failed(reason));
            }
            Some(EndpointStatus::Failed) => {
                let reason = reason.unwrap_or_else(|| "no reason given".into());
                report.say(UpdateStep::WaitInService, format!("Failed: {reason}"));
                return Ok(Waited::Failed(reason));
            }
            status => {
                seen_updating |= status == Some(&EndpointStatus::Updating);
                let status = status.map_or("unknown".to_string(), |s| s.as_str().to_string());
                report.say(UpdateStep::WaitInService, status);
            }
        }
        tokio::time::sleep(waiting.poll).await;
    }
}

/// Puts the endpoint back on the config it ran before the update (the new fleet failed its
/// test request): UpdateEndpoint with the old config, keeping the running count, then a wait
/// until it is InService on it again.
///
/// # Errors
/// UpdateEndpoint's and DescribeEndpoint's errors, and a wait that passes `waiting.limit`.
pub async fn revert(
    (clients, ctx): (&Clients, Context<'_>),
    plan: &Plan,
    waiting: Waiting<'_>,
    report: &Reporter<'_>,
) -> Result<(), Error> {
    let old = plan
        .current
        .config
        .endpoint_config_name()
        .unwrap_or_default();
    report.say(UpdateStep::Revert, format!("going back to {old}"));
    clients
        .sagemaker
        .update_endpoint()
        .endpoint_name(endpoint_of(plan))
        .endpoint_config_name(old)
        .retain_all_variant_properties(true)
        .send()
        .await
        .map_err(|e| aws_errors::failed(&e, ctx, "sagemaker:UpdateEndpoint"))?;
    let started = Instant::now();
    loop {
        let d = clients
            .sagemaker
            .describe_endpoint()
            .endpoint_name(endpoint_of(plan))
            .send()
            .await
            .map_err(|e| aws_errors::failed(&e, ctx, "sagemaker:DescribeEndpoint"))?;
        let back = d.endpoint_config_name() == Some(old);
        match d.endpoint_status() {
            Some(EndpointStatus::InService) if back => return Ok(()),
            Some(EndpointStatus::Failed) => {
                return Err(Error::InvalidRequest(format!(
                    "going back to {old} failed: {}",
                    d.failure_reason().unwrap_or("no reason given")
                )));
            }
            _ if started.elapsed() >= waiting.limit => {
                return Err(Error::Timeout(format!(
                    "{} is still going back to {old} after {} s; follow it with `ebb endpoints`",
                    endpoint_of(plan),
                    waiting.limit.as_secs()
                )));
            }
            status => {
                let status = status.map_or("unknown", |s| s.as_str());
                report.say(
                    UpdateStep::Revert,
                    format!("{status} (going back to {old})"),
                );
            }
        }
        tokio::time::sleep(waiting.poll).await;
    }
}

/// After the wait: the scaling back, then the old resources removed (updated) or the new ones
/// (rolled back). An error here comes after the update ended; it says what is left to do.
pub async fn finish(
    clients: &Clients,
    ctx: Context<'_>,
    plan: &Plan,
    started: Started,
    waited: Waited,
    report: &Reporter<'_>,
) -> Result<UpdateOutcome, Error> {
    let mut outcome = outcome_of(plan, &started);
    let mut lost = None;
    if let Some(kept) = &started.paused {
        report.say(
            UpdateStep::RestoreScaling,
            format!("putting the autoscaling back ({})", kept.describe()),
        );
        match keep::restore(clients, ctx, kept).await {
            Ok(lines) => {
                outcome.scaling = lines;
                outcome.scaling_restored = true;
            }
            Err(e) => lost = Some(scaling_lost(endpoint_of(plan), kept, &e)),
        }
    }
    let removal = match waited {
        Waited::Updated => {
            outcome.status = "InService".into();
            remove_old(clients, ctx, plan, &mut outcome, report).await
        }
        Waited::Failed(reason) => {
            outcome.status = "Failed".into();
            outcome.failure_reason = Some(reason);
            remove_new(clients, ctx, plan, false, report)
                .await
                .map(|removed| outcome.removed = removed)
        }
        Waited::Cancelled => {
            outcome.status = "Cancelled".into();
            Ok(())
        }
    };
    // Scaling that could not go back outweighs the rest: it is what the user must act on.
    if let Some(lost) = lost {
        let also = removal
            .err()
            .map(|e| format!("; also: {e}"))
            .unwrap_or_default();
        return Err(Error::InvalidRequest(format!(
            "the update ended ({}{}), but {lost}{also}",
            outcome.status,
            outcome
                .failure_reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        )));
    }
    removal?;
    outcome.instance_count = current(clients, ctx, endpoint_of(plan))
        .await
        .ok()
        .and_then(|c| c.desired_instances());
    Ok(outcome)
}

fn outcome_of(plan: &Plan, started: &Started) -> UpdateOutcome {
    UpdateOutcome {
        endpoint: endpoint_of(plan).to_string(),
        status: String::new(),
        failure_reason: None,
        changes: plan.changes.clone(),
        old_endpoint_config: plan
            .current
            .config
            .endpoint_config_name()
            .unwrap_or_default()
            .to_string(),
        old_model: plan
            .current
            .model
            .model_name()
            .unwrap_or_default()
            .to_string(),
        new_endpoint_config: plan.spec.endpoint_config_name.clone(),
        new_model: plan.spec.model_name.clone(),
        instance_count: None,
        scaling_paused: started.paused.is_some(),
        scaling_restored: false,
        scaling: Vec::new(),
        smoke_test: None,
        diagnosis: None,
        removed: Vec::new(),
        kept: Vec::new(),
    }
}

/// Whether a SageMaker resource carries Ebb's tag, every page of ListTags read. A refusal is
/// an error, never "not Ebb's".
pub(crate) async fn ebb_made(
    clients: &Clients,
    ctx: Context<'_>,
    arn: &str,
) -> Result<bool, Error> {
    let mut pages = clients
        .sagemaker
        .list_tags()
        .resource_arn(arn)
        .into_paginator()
        .items()
        .send();
    while let Some(tag) = pages.next().await {
        let tag = tag.map_err(|e| aws_errors::failed(&e, ctx, "sagemaker:ListTags"))?;
        if tag.key() == Some(CREATED_BY_KEY) && tag.value() == Some(CREATED_BY_VALUE) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Deletes the old config and model when Ebb made them; keeps them, saying why, otherwise.
async fn remove_old(
    clients: &Clients,
    ctx: Context<'_>,
    plan: &Plan,
    outcome: &mut UpdateOutcome,
    report: &Reporter<'_>,
) -> Result<(), Error> {
    let old = &plan.current;
    let sm = &clients.sagemaker;
    let config = old.config.endpoint_config_name().unwrap_or_default();
    let model = old.model.model_name().unwrap_or_default();
    let config_arn = old.config.endpoint_config_arn().unwrap_or_default();
    let model_arn = old.model.model_arn().unwrap_or_default();
    if ebb_made(clients, ctx, config_arn).await? {
        report.say(
            UpdateStep::RemoveOld,
            format!("deleting endpoint config {config}"),
        );
        let r = sm
            .delete_endpoint_config()
            .endpoint_config_name(config)
            .send()
            .await;
        outcome.removed.push(removed(
            r,
            ctx,
            "sagemaker:DeleteEndpointConfig",
            format!("endpoint config {config}"),
        )?);
    } else {
        outcome
            .kept
            .push(format!("endpoint config {config}: not made by Ebb"));
    }
    if ebb_made(clients, ctx, model_arn).await? {
        report.say(UpdateStep::RemoveOld, format!("deleting model {model}"));
        let r = sm.delete_model().model_name(model).send().await;
        outcome.removed.push(removed(
            r,
            ctx,
            "sagemaker:DeleteModel",
            format!("model {model}"),
        )?);
    } else {
        outcome.kept.push(format!("model {model}: not made by Ebb"));
    }
    Ok(())
}

/// Deletes what this update created: its config (unless `only_model`) and its model.
async fn remove_new(
    clients: &Clients,
    ctx: Context<'_>,
    plan: &Plan,
    only_model: bool,
    report: &Reporter<'_>,
) -> Result<Vec<Removed>, Error> {
    let sm = &clients.sagemaker;
    let spec = &plan.spec;
    let mut out = Vec::new();
    if !only_model {
        report.say(
            UpdateStep::RemoveNew,
            format!("deleting endpoint config {}", spec.endpoint_config_name),
        );
        let r = sm
            .delete_endpoint_config()
            .endpoint_config_name(&spec.endpoint_config_name)
            .send()
            .await;
        out.push(removed(
            r,
            ctx,
            "sagemaker:DeleteEndpointConfig",
            format!("endpoint config {}", spec.endpoint_config_name),
        )?);
    }
    report.say(
        UpdateStep::RemoveNew,
        format!("deleting model {}", spec.model_name),
    );
    let r = sm.delete_model().model_name(&spec.model_name).send().await;
    out.push(removed(
        r,
        ctx,
        "sagemaker:DeleteModel",
        format!("model {}", spec.model_name),
    )?);
    Ok(out)
}

fn removed<T, E>(
    result: Result<
        T,
        aws_sdk_sagemaker::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
    >,
    ctx: Context<'_>,
    action: &str,
    resource: String,
) -> Result<Removed, Error>
where
    E: aws_sdk_sagemaker::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(Removed {
            resource,
            outcome: "deleted".into(),
        }),
        Err(e) if aws_errors::is_not_found(&e) => Ok(Removed {
            resource,
            outcome: "already gone".into(),
        }),
        Err(e) => Err(aws_errors::failed(&e, ctx, action)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> DeploySpec {
        DeploySpec::seed("b-1", "p", "20261125-101500")
    }

    #[test]
    fn secrets_are_masked_in_the_change_list() {
        assert_eq!(
            shown("HF_TOKEN", "hf_supersecret123"),
            "…123 (17 characters)"
        );
        assert_eq!(shown("MAX_TOTAL_TOKENS", "2048"), "2048");
        assert_eq!(shown("MAX_INPUT_LENGTH", "1024"), "1024");
        assert_eq!(shown("OPENAI_API_KEY", "sk-abcdef"), "…def (9 characters)");
    }

    #[test]
    fn gpus_follow_the_new_instance_unless_the_request_sets_them() {
        let mut s = seed();
        let request = UpdateRequest {
            instance_type: Some("ml.g5.2xlarge".into()),
            ..UpdateRequest::default()
        };
        apply(&request, &mut s);
        assert_eq!(s.container_environment()[spec::GPUS_VAR], "1");
        let mut s = seed();
        let request = UpdateRequest {
            instance_type: Some("ml.g5.48xlarge".into()),
            set_env: BTreeMap::from([(spec::GPUS_VAR.to_string(), "4".to_string())]),
            ..UpdateRequest::default()
        };
        apply(&request, &mut s);
        assert_eq!(s.container_environment()[spec::GPUS_VAR], "4");
    }

    #[test]
    fn the_messages_api_switch_and_the_model_id_are_spec_fields() {
        let mut s = seed();
        let request = UpdateRequest {
            tgi_version: Some("2.0.1".into()),
            set_env: BTreeMap::from([(MESSAGES_API_VAR.to_string(), "true".to_string())]),
            ..UpdateRequest::default()
        };
        apply(&request, &mut s);
        assert!(s.messages_api);
        assert!(!s.environment.contains_key(MESSAGES_API_VAR));
        // TGI 1.1.0 had no Messages API: the deploy's rule refuses it.
        s.image = ImageChoice::Tgi {
            version: "1.1.0".into(),
        };
        let role = Some("arn:aws:iam::111122223333:role/Sm");
        assert!(
            s.problems("us-east-1", role)
                .iter()
                .any(|p| p.field == "messages_api")
        );
        apply(
            &UpdateRequest {
                unset_env: vec![MESSAGES_API_VAR.into()],
                ..UpdateRequest::default()
            },
            &mut s,
        );
        assert!(!s.messages_api);
    }

    #[test]
    fn the_running_image_and_model_id_are_rechecked_only_when_changed() {
        let none = UpdateRequest::default();
        assert!(!checked("image", &none) && !checked("model_id", &none));
        assert!(checked("instance_type", &none) && checked("environment", &none));
        // The role and the S3 paths are the running endpoint's, not the update's.
        assert!(!checked("role_arn", &none) && !checked("output_path", &none));
        let tgi = UpdateRequest {
            tgi_version: Some("2.0.1".into()),
            ..UpdateRequest::default()
        };
        assert!(checked("image", &tgi));
    }

    #[test]
    fn new_names_are_unique_per_update_and_fit_sagemaker() {
        let a = new_names("flan", "20261130-020000");
        let b = new_names("flan", "20261130-020001");
        assert_eq!(a.model_name, "flan-20261130-020000");
        assert_eq!(a.endpoint_config_name, "flan-20261130-020000-cfg");
        assert_ne!(a, b);
        let long = new_names(&"e".repeat(63), "20261130-020000");
        assert!(long.model_name.len() <= spec::MAX_NAME_LEN);
        assert!(long.endpoint_config_name.len() <= spec::MAX_NAME_LEN);
    }
}
