//! SageMaker's control plane (awsJson1_1, `X-Amz-Target: SageMaker.<Operation>`): models,
//! endpoint configs and endpoints, whose life cycle drives the simulated endpoints.

pub mod api;
pub mod capacity;
mod start;
mod state;
mod update;

pub use update::ScalableTargets;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Value, json};

use crate::s3::store::Store;
use crate::sim::backend::Backend;
use crate::sim::clock::Clock;
use crate::sim::endpoint::{EndpointSim, EndpointStats};
use crate::sim::s3uri::S3Uri;
use crate::sim::startup::FailureKind;
use api::{ApiError, ApiResult, arn, check_name, now_epoch, optional_str, page, required_str};
use state::{Endpoint, EndpointConfig, Model, State, Variant};

/// SageMaker's default when an async config sets no per-instance concurrency.
const DEFAULT_MAX_CONCURRENCY: u32 = 4;
pub(crate) const IN_SERVICE: &str = "InService";

/// Where an async endpoint writes results.
#[derive(Debug, Clone)]
pub struct AsyncOutput {
    pub output: S3Uri,
    pub failure: Option<S3Uri>,
}

pub struct SageMaker {
    file: PathBuf,
    state: Mutex<State>,
    sims: Mutex<HashMap<String, Arc<EndpointSim>>>,
    store: Arc<Store>,
    clock: Clock,
    /// Simulated time an instance takes to start (endpoint creation, scale-out).
    startup: Duration,
    /// The simulated containers' log lines (CloudWatch Logs).
    logs: Arc<crate::logs::Logs>,
    /// Application Auto Scaling's registered variants (see [`ScalableTargets`]).
    scalable_targets: Mutex<Option<std::sync::Weak<dyn ScalableTargets>>>,
    /// Real models: loaded ones, shared by every endpoint serving them, and their threads.
    models: Arc<crate::model::Runtime>,
}

fn lock<T>(m: &Mutex<T>) -> Result<MutexGuard<'_, T>, ApiError> {
    m.lock()
        .map_err(|_| ApiError::internal("the local SageMaker state lock is poisoned"))
}

/// SageMaker's "not found" (a ValidationException): `Could not find endpoint configuration
/// "arn:..."`, with the resource's ARN.
fn not_found(kind: &str, name: &str) -> ApiError {
    let shown = if kind == "endpoint-config" {
        "endpoint configuration"
    } else {
        kind
    };
    ApiError::validation(format!("Could not find {shown} \"{}\".", arn(kind, name)))
}

/// An async config's MaxConcurrentInvocationsPerInstance, or SageMaker's default.
fn concurrency(async_config: Option<&Value>) -> u32 {
    async_config
        .and_then(|a| a.get("ClientConfig"))
        .and_then(|c| c.get("MaxConcurrentInvocationsPerInstance"))
        .and_then(Value::as_u64)
        .map_or(DEFAULT_MAX_CONCURRENCY, |n| n as u32)
}

/// A variant as an endpoint config's ProductionVariant entry starts it (not yet running).
fn variant_from_config(state: &State, v: &Value) -> Result<Variant, ApiError> {
    let model_name = required_str(v, "ModelName")?;
    let model = state
        .models
        .get(model_name)
        .ok_or_else(|| not_found("model", model_name))?;
    Ok(Variant {
        name: required_str(v, "VariantName")?.to_string(),
        model_name: model_name.to_string(),
        image: optional_str(&model.container, "Image")
            .unwrap_or_default()
            .to_string(),
        instance_type: optional_str(v, "InstanceType")
            .unwrap_or_default()
            .to_string(),
        weight: v
            .get("InitialVariantWeight")
            .and_then(Value::as_f64)
            .unwrap_or(1.0),
        current_instances: 0,
        desired_instances: v
            .get("InitialInstanceCount")
            .and_then(Value::as_u64)
            .unwrap_or(1) as u32,
        health_check_timeout_s: v
            .get("ContainerStartupHealthCheckTimeoutInSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(crate::sim::startup::DEFAULT_HEALTH_CHECK_TIMEOUT_S),
    })
}

/// CreateEndpoint's (and UpdateEndpoint's) refusal when a variant's model plays `quota`: the
/// account's limit for the instance type is 0, and the request asks for every instance the
/// config's variants start with.
fn check_quota(state: &State, variants: &[Variant]) -> Result<(), ApiError> {
    let quota_type = variants.iter().find_map(|v| {
        let model = state.models.get(&v.model_name)?;
        (FailureKind::of(&model.environment) == Some(FailureKind::Quota))
            .then_some(v.instance_type.as_str())
    });
    let Some(instance_type) = quota_type else {
        return Ok(());
    };
    let delta: u32 = variants.iter().map(|v| v.desired_instances).sum();
    Err(ApiError::limit(format!(
        "The account-level service limit '{instance_type} for endpoint usage' is 0 Instances, with current utilization of 0 Instances and a request delta of {delta} Instances. Please use AWS Service Quotas to request an increase for this quota. If AWS Service Quotas is not available, contact AWS support to request an increase for this quota."
    )))
}

fn environment(container: &Value) -> BTreeMap<String, String> {
    container
        .get("Environment")
        .and_then(Value::as_object)
        .map(|env| {
            env.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

impl SageMaker {
    /// The resources saved in `sagemaker.json` in the data folder; call [`SageMaker::resume`]
    /// to start their endpoints. Errors: [`crate::Error::State`] when that file exists but
    /// cannot be read.
    pub fn open(
        data_dir: &std::path::Path,
        store: Arc<Store>,
        clock: Clock,
        startup: Duration,
        models: Arc<crate::model::Runtime>,
    ) -> Result<Arc<SageMaker>, crate::Error> {
        let file = data_dir.join("sagemaker.json");
        let state = State::load(&file)?;
        Ok(Arc::new(SageMaker {
            file,
            state: Mutex::new(state),
            sims: Mutex::new(HashMap::new()),
            store,
            clock,
            startup,
            logs: Arc::new(crate::logs::Logs::open(data_dir.join("logs.jsonl"))),
            scalable_targets: Mutex::new(None),
            models,
        }))
    }

    /// Brings the saved endpoints back as they were (the simulated instances restart at once),
    /// so a one-off `ebb --local` command finds its earlier deploys still in service. Called
    /// once every state file has loaded, so that a start refused for an unreadable file runs
    /// nothing over the data folder.
    pub fn resume(self: &Arc<Self>) {
        let restart: Vec<String> = match self.state.lock() {
            Ok(state) => state
                .endpoints
                .values()
                .filter(|e| e.status != "Failed")
                .map(|e| e.name.clone())
                .collect(),
            Err(_) => return,
        };
        for name in restart {
            tokio::spawn(self.clone().bring_up(name, Duration::ZERO));
        }
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Where an endpoint's queue is kept on disk.
    /// `duplicate-invocations.jsonl` in the data folder: one line per InferenceId an
    /// endpoint processed again (see [`EndpointSim::record_duplicates`]).
    pub fn duplicates_file(&self) -> PathBuf {
        self.file
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join("duplicate-invocations.jsonl")
    }

    fn queue_file(&self, endpoint: &str) -> PathBuf {
        self.file
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join("queues")
            .join(format!("{endpoint}.jsonl"))
    }

    pub fn logs(&self) -> &crate::logs::Logs {
        &self.logs
    }

    /// One line of the endpoint's (first) container log, as TGI would print it.
    fn log(&self, endpoint: &str, variant: &str, message: impl Into<String>) {
        let group = crate::logs::endpoint_group(endpoint);
        self.logs
            .put(&group, &format!("{variant}/i-0ebb0000000000001"), message);
    }

    fn save(&self, state: &State) -> Result<(), ApiError> {
        state
            .save(&self.file)
            .map_err(|e| ApiError::internal(format!("could not save {}: {e}", self.file.display())))
    }

    /// Runs one operation; `op` is the part of `X-Amz-Target` after `SageMaker.`.
    pub fn handle(self: &Arc<Self>, op: &str, input: &Value) -> ApiResult {
        match op {
            "CreateModel" => self.create_model(input),
            "DescribeModel" => self.describe_model(input),
            "DeleteModel" => self.delete_model(input),
            "ListModels" => self.list_models(input),
            "CreateEndpointConfig" => self.create_endpoint_config(input),
            "DescribeEndpointConfig" => self.describe_endpoint_config(input),
            "DeleteEndpointConfig" => self.delete_endpoint_config(input),
            "ListEndpointConfigs" => self.list_endpoint_configs(input),
            "CreateEndpoint" => self.create_endpoint(input),
            "DescribeEndpoint" => self.describe_endpoint(input),
            "DeleteEndpoint" => self.delete_endpoint(input),
            "ListEndpoints" => self.list_endpoints(input),
            "UpdateEndpoint" => self.update_endpoint(input),
            "UpdateEndpointWeightsAndCapacities" => self.update_capacities(input),
            "AddTags" => self.add_tags(input),
            "ListTags" => self.list_tags(input),
            "DeleteTags" => self.delete_tags(input),
            other => Err(ApiError {
                status: http::StatusCode::BAD_REQUEST,
                code: "UnknownOperationException",
                message: format!("the local cloud does not implement SageMaker.{other}"),
            }),
        }
    }

    fn record_tags(state: &mut State, resource_arn: &str, input: &Value) {
        if let Some(tags) = input.get("Tags").and_then(Value::as_array)
            && !tags.is_empty()
        {
            state.tags.insert(resource_arn.to_string(), tags.clone());
        }
    }

    fn create_model(&self, input: &Value) -> ApiResult {
        let name = required_str(input, "ModelName")?;
        check_name("ModelName", name)?;
        let role = required_str(input, "ExecutionRoleArn")?;
        if !role.starts_with("arn:aws:iam::") || !role.contains(":role/") {
            return Err(ApiError::validation(format!(
                "Could not assume role {role}: it is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)."
            )));
        }
        let container = input
            .get("PrimaryContainer")
            .or_else(|| input.get("Containers").and_then(|c| c.get(0)))
            .cloned()
            .ok_or_else(|| {
                ApiError::validation("Either PrimaryContainer or Containers must be given.")
            })?;
        let image = required_str(&container, "Image")?;
        let env = environment(&container);
        if FailureKind::of(&env) == Some(FailureKind::ImageNotFound) {
            // What CreateModel answers for an image the region's ECR does not have.
            return Err(ApiError::validation(format!(
                "Requested image {image} not found."
            )));
        }
        let mut state = lock(&self.state)?;
        let model_arn = arn("model", name);
        if state.models.contains_key(name) {
            return Err(ApiError::validation(format!(
                "Cannot create already existing model \"{model_arn}\"."
            )));
        }
        state.models.insert(
            name.to_string(),
            Model {
                name: name.to_string(),
                arn: model_arn.clone(),
                created: now_epoch(),
                environment: env,
                container,
                execution_role_arn: role.to_string(),
            },
        );
        Self::record_tags(&mut state, &model_arn, input);
        self.save(&state)?;
        Ok(json!({ "ModelArn": model_arn }))
    }

    fn describe_model(&self, input: &Value) -> ApiResult {
        let name = required_str(input, "ModelName")?;
        let state = lock(&self.state)?;
        let m = state
            .models
            .get(name)
            .ok_or_else(|| not_found("model", name))?;
        Ok(json!({
            "ModelName": m.name,
            "ModelArn": m.arn,
            "PrimaryContainer": m.container,
            "ExecutionRoleArn": m.execution_role_arn,
            "CreationTime": m.created,
        }))
    }

    fn delete_model(&self, input: &Value) -> ApiResult {
        self.delete(input, "ModelName", "model", |s| &mut s.models, |m| &m.arn)
    }

    /// Deletes a model or endpoint config (SageMaker allows it even while in use).
    fn delete<T>(
        &self,
        input: &Value,
        field: &str,
        kind: &str,
        table: fn(&mut State) -> &mut BTreeMap<String, T>,
        arn_of: fn(&T) -> &String,
    ) -> ApiResult {
        let name = required_str(input, field)?;
        let mut state = lock(&self.state)?;
        let removed = table(&mut state)
            .remove(name)
            .ok_or_else(|| not_found(kind, name))?;
        state.tags.remove(arn_of(&removed));
        self.save(&state)?;
        Ok(json!({}))
    }

    fn list_models(&self, input: &Value) -> ApiResult {
        let state = lock(&self.state)?;
        Ok(list_answer(
            "Models",
            state.models.values().map(|m| {
                (
                    m.name.as_str(),
                    m.created,
                    json!({
                        "ModelName": m.name, "ModelArn": m.arn, "CreationTime": m.created,
                    }),
                )
            }),
            input,
        ))
    }

    fn create_endpoint_config(&self, input: &Value) -> ApiResult {
        let name = required_str(input, "EndpointConfigName")?;
        check_name("EndpointConfigName", name)?;
        let variants = input
            .get("ProductionVariants")
            .and_then(Value::as_array)
            .filter(|v| !v.is_empty())
            .cloned()
            .ok_or_else(|| {
                ApiError::validation("ProductionVariants must list at least one variant.")
            })?;
        let mut state = lock(&self.state)?;
        for v in &variants {
            required_str(v, "VariantName")?;
            let model = required_str(v, "ModelName")?;
            if !state.models.contains_key(model) {
                return Err(not_found("model", model));
            }
            required_str(v, "InstanceType")?;
            match v.get("InitialInstanceCount").and_then(Value::as_u64) {
                Some(n) if n >= 1 => {}
                _ => {
                    return Err(ApiError::validation(
                        "InitialInstanceCount must be an integer of at least 1.",
                    ));
                }
            }
        }
        let async_config = input
            .get("AsyncInferenceConfig")
            .cloned()
            .filter(|v| !v.is_null());
        if let Some(cfg) = &async_config {
            let output = cfg.get("OutputConfig").unwrap_or(&Value::Null);
            let path = required_str(output, "S3OutputPath")?;
            if S3Uri::parse(path).is_none() {
                return Err(ApiError::validation(format!(
                    "S3OutputPath `{path}` must be an s3://bucket/prefix URI."
                )));
            }
            if let Some(failure) = optional_str(output, "S3FailurePath")
                && S3Uri::parse(failure).is_none()
            {
                return Err(ApiError::validation(format!(
                    "S3FailurePath `{failure}` must be an s3://bucket/prefix URI."
                )));
            }
            if let Some(n) = cfg
                .get("ClientConfig")
                .and_then(|c| c.get("MaxConcurrentInvocationsPerInstance"))
                && !n.as_u64().is_some_and(|n| (1..=1000).contains(&n))
            {
                return Err(ApiError::validation(
                    "MaxConcurrentInvocationsPerInstance must be between 1 and 1000.",
                ));
            }
        }
        let config_arn = arn("endpoint-config", name);
        if state.configs.contains_key(name) {
            return Err(ApiError::validation(format!(
                "Cannot create already existing endpoint configuration \"{config_arn}\"."
            )));
        }
        state.configs.insert(
            name.to_string(),
            EndpointConfig {
                name: name.to_string(),
                arn: config_arn.clone(),
                created: now_epoch(),
                variants,
                async_config,
                kms_key_id: optional_str(input, "KmsKeyId").map(str::to_string),
            },
        );
        Self::record_tags(&mut state, &config_arn, input);
        self.save(&state)?;
        Ok(json!({ "EndpointConfigArn": config_arn }))
    }

    fn describe_endpoint_config(&self, input: &Value) -> ApiResult {
        let name = required_str(input, "EndpointConfigName")?;
        let state = lock(&self.state)?;
        let c = state
            .configs
            .get(name)
            .ok_or_else(|| not_found("endpoint-config", name))?;
        let mut out = json!({
            "EndpointConfigName": c.name,
            "EndpointConfigArn": c.arn,
            "ProductionVariants": c.variants,
            "CreationTime": c.created,
        });
        if let Some(a) = &c.async_config {
            out["AsyncInferenceConfig"] = a.clone();
        }
        if let Some(k) = &c.kms_key_id {
            out["KmsKeyId"] = json!(k);
        }
        Ok(out)
    }

    fn delete_endpoint_config(&self, input: &Value) -> ApiResult {
        self.delete(
            input,
            "EndpointConfigName",
            "endpoint-config",
            |s| &mut s.configs,
            |c| &c.arn,
        )
    }

    fn list_endpoint_configs(&self, input: &Value) -> ApiResult {
        let state = lock(&self.state)?;
        Ok(list_answer(
            "EndpointConfigs",
            state.configs.values().map(|c| (c.name.as_str(), c.created, json!({
                "EndpointConfigName": c.name, "EndpointConfigArn": c.arn, "CreationTime": c.created,
            }))),
            input,
        ))
    }

    fn create_endpoint(self: &Arc<Self>, input: &Value) -> ApiResult {
        let name = required_str(input, "EndpointName")?;
        check_name("EndpointName", name)?;
        let config_name = required_str(input, "EndpointConfigName")?;
        let mut state = lock(&self.state)?;
        let endpoint_arn = arn("endpoint", name);
        if state.endpoints.contains_key(name) {
            return Err(ApiError::validation(format!(
                "Cannot create already existing endpoint \"{endpoint_arn}\"."
            )));
        }
        let config = state
            .configs
            .get(config_name)
            .ok_or_else(|| not_found("endpoint-config", config_name))?
            .clone();
        let variants = config
            .variants
            .iter()
            .map(|v| variant_from_config(&state, v))
            .collect::<Result<Vec<_>, _>>()?;
        check_quota(&state, &variants)?;
        let now = now_epoch();
        state.endpoints.insert(
            name.to_string(),
            Endpoint {
                name: name.to_string(),
                arn: endpoint_arn.clone(),
                config_name: config_name.to_string(),
                status: "Creating".into(),
                failure_reason: None,
                created: now,
                modified: now,
                variants,
                async_config: config.async_config.clone(),
            },
        );
        Self::record_tags(&mut state, &endpoint_arn, input);
        self.save(&state)?;
        drop(state);
        tokio::spawn(self.clone().bring_up(name.to_string(), self.startup));
        Ok(json!({ "EndpointArn": endpoint_arn }))
    }

    /// Creating -> InService (or Failed): the container's start (see
    /// [`SageMaker::start_container`]), then the endpoint serves or fails with its reason.
    async fn bring_up(self: Arc<Self>, name: String, delay: Duration) {
        let Some(started) = self.start_container(&name, delay).await else {
            return;
        };
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let Some(endpoint) = state.endpoints.get_mut(&name) else {
            return;
        };
        endpoint.modified = now_epoch();
        match started {
            Ok(backend) => {
                endpoint.status = IN_SERVICE.into();
                for v in &mut endpoint.variants {
                    v.current_instances = v.desired_instances;
                }
                let concurrency = concurrency(endpoint.async_config.as_ref());
                let instances: u32 = endpoint.variants.iter().map(|v| v.desired_instances).sum();
                let variant = endpoint
                    .variants
                    .first()
                    .map(|v| v.name.clone())
                    .unwrap_or_default();
                self.serve(&name, &variant, backend, (instances, concurrency));
                tracing::info!(endpoint = %name, "endpoint in service");
            }
            Err(reason) => {
                tracing::info!(endpoint = %name, %reason, "endpoint failed");
                endpoint.status = "Failed".into();
                endpoint.failure_reason = Some(reason);
            }
        }
        if let Err(e) = self.save(&state) {
            tracing::warn!("{}", e.message);
        }
    }

    /// Starts the simulation that answers endpoint `name`'s invocations, its failed
    /// invocations logged under `variant`'s first instance.
    fn serve(
        &self,
        name: &str,
        variant: &str,
        backend: Backend,
        (instances, concurrency): (u32, u32),
    ) {
        let journal = self.queue_file(name);
        let sim = EndpointSim::start(
            name,
            (instances, concurrency),
            backend,
            self.store.clone(),
            self.clock.clone(),
            Some(&journal),
        );
        let container = format!("{variant}/i-0ebb0000000000001");
        sim.log_failures(crate::sim::endpoint::FailureLog {
            logs: self.logs.clone(),
            group: crate::logs::endpoint_group(name),
            stream: format!("{container}/data-log"),
            container,
        });
        sim.record_duplicates(self.duplicates_file());
        if let Ok(mut sims) = self.sims.lock()
            && let Some(old) = sims.insert(name.to_string(), sim)
        {
            old.stop();
        }
    }

    /// The container's first lines: image, model, GPUs, as TGI logs them at start-up.
    fn log_start(&self, name: &str) {
        let Ok(state) = self.state.lock() else { return };
        let Some(e) = state.endpoints.get(name) else {
            return;
        };
        for v in &e.variants {
            let env = state
                .models
                .get(&v.model_name)
                .map(|m| m.environment.clone())
                .unwrap_or_default();
            let get = |k: &str| env.get(k).cloned().unwrap_or_else(|| "-".into());
            self.log(
                name,
                &v.name,
                format!("Starting container {} on {}", v.image, v.instance_type),
            );
            self.log(
                name,
                &v.name,
                format!(
                    "Args {{ model_id: \"{}\", num_shard: {}, max_input_length: {}, max_total_tokens: {} }}",
                    get("HF_MODEL_ID"),
                    get("SM_NUM_GPUS"),
                    get("MAX_INPUT_LENGTH"),
                    get("MAX_TOTAL_TOKENS")
                ),
            );
            self.log(name, &v.name, "Starting download process.");
        }
    }

    fn describe_endpoint(&self, input: &Value) -> ApiResult {
        let name = required_str(input, "EndpointName")?;
        let state = lock(&self.state)?;
        let e = state
            .endpoints
            .get(name)
            .ok_or_else(|| not_found("endpoint", name))?;
        let variants: Vec<Value> = e
            .variants
            .iter()
            .map(|v| {
                json!({
                    "VariantName": v.name,
                    "DeployedImages": [{ "SpecifiedImage": v.image, "ResolvedImage": v.image, "ResolutionTime": e.created }],
                    "CurrentWeight": v.weight,
                    "DesiredWeight": v.weight,
                    "CurrentInstanceCount": v.current_instances,
                    "DesiredInstanceCount": v.desired_instances,
                })
            })
            .collect();
        let mut out = json!({
            "EndpointName": e.name,
            "EndpointArn": e.arn,
            "EndpointConfigName": e.config_name,
            "ProductionVariants": variants,
            "EndpointStatus": e.status,
            "CreationTime": e.created,
            "LastModifiedTime": e.modified,
        });
        if let Some(reason) = &e.failure_reason {
            out["FailureReason"] = json!(reason);
        }
        if let Some(a) = &e.async_config {
            out["AsyncInferenceConfig"] = a.clone();
        }
        Ok(out)
    }

    fn delete_endpoint(&self, input: &Value) -> ApiResult {
        let name = required_str(input, "EndpointName")?;
        let mut state = lock(&self.state)?;
        let e = state
            .endpoints
            .remove(name)
            .ok_or_else(|| not_found("endpoint", name))?;
        state.tags.remove(&e.arn);
        match lock(&self.sims)?.remove(name) {
            // Queued requests go with the endpoint, as in SageMaker.
            Some(sim) => sim.discard(),
            None => {
                let _ = std::fs::remove_file(self.queue_file(name));
            }
        }
        self.save(&state)?;
        Ok(json!({}))
    }

    fn list_endpoints(&self, input: &Value) -> ApiResult {
        let state = lock(&self.state)?;
        let status = optional_str(input, "StatusEquals");
        Ok(list_answer(
            "Endpoints",
            state
                .endpoints
                .values()
                .filter(|e| status.is_none_or(|s| s == e.status))
                .map(|e| {
                    (
                        e.name.as_str(),
                        e.created,
                        json!({
                            "EndpointName": e.name, "EndpointArn": e.arn, "CreationTime": e.created,
                            "LastModifiedTime": e.modified, "EndpointStatus": e.status,
                        }),
                    )
                }),
            input,
        ))
    }

    fn find_arn(state: &State, resource_arn: &str) -> bool {
        state.models.values().any(|m| m.arn == resource_arn)
            || state.configs.values().any(|c| c.arn == resource_arn)
            || state.endpoints.values().any(|e| e.arn == resource_arn)
    }

    fn add_tags(&self, input: &Value) -> ApiResult {
        let resource = required_str(input, "ResourceArn")?;
        let mut state = lock(&self.state)?;
        if !Self::find_arn(&state, resource) {
            return Err(ApiError::validation(format!(
                "Resource {resource} does not exist."
            )));
        }
        let new = input
            .get("Tags")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let tags = state.tags.entry(resource.to_string()).or_default();
        for tag in &new {
            tags.retain(|t| t.get("Key") != tag.get("Key"));
            tags.push(tag.clone());
        }
        let all = tags.clone();
        self.save(&state)?;
        Ok(json!({ "Tags": all }))
    }

    fn list_tags(&self, input: &Value) -> ApiResult {
        let resource = required_str(input, "ResourceArn")?;
        let state = lock(&self.state)?;
        if !Self::find_arn(&state, resource) {
            return Err(ApiError::validation(format!(
                "Resource {resource} does not exist."
            )));
        }
        Ok(json!({ "Tags": state.tags.get(resource).cloned().unwrap_or_default() }))
    }

    fn delete_tags(&self, input: &Value) -> ApiResult {
        let resource = required_str(input, "ResourceArn")?;
        let keys: Vec<Value> = input
            .get("TagKeys")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut state = lock(&self.state)?;
        if let Some(tags) = state.tags.get_mut(resource) {
            tags.retain(|t| t.get("Key").is_none_or(|k| !keys.contains(k)));
        }
        self.save(&state)?;
        Ok(json!({}))
    }

    /// The running simulation and output paths of an async endpoint, for InvokeEndpointAsync.
    pub fn async_target(&self, name: &str) -> Result<(Arc<EndpointSim>, AsyncOutput), ApiError> {
        let state = lock(&self.state)?;
        let e = state.endpoints.get(name).ok_or_else(|| {
            ApiError::validation(format!(
                "Endpoint {name} of account {} not found.",
                crate::ACCOUNT_ID
            ))
        })?;
        let Some(cfg) = &e.async_config else {
            return Err(ApiError::validation(format!(
                "Endpoint {name} is not an asynchronous endpoint; use InvokeEndpoint."
            )));
        };
        let sim = self.running(e)?;
        let output = cfg.get("OutputConfig").unwrap_or(&Value::Null);
        let parse = |field: &str| optional_str(output, field).and_then(S3Uri::parse);
        let out = parse("S3OutputPath")
            .ok_or_else(|| ApiError::internal("the endpoint's S3OutputPath is unreadable"))?;
        Ok((
            sim,
            AsyncOutput {
                output: out,
                failure: parse("S3FailurePath"),
            },
        ))
    }

    /// The running simulation of a real-time endpoint and the variant that answers, for
    /// InvokeEndpoint.
    pub fn realtime_target(&self, name: &str) -> Result<(Arc<EndpointSim>, String), ApiError> {
        let state = lock(&self.state)?;
        let e = state.endpoints.get(name).ok_or_else(|| {
            ApiError::validation(format!(
                "Endpoint {name} of account {} not found.",
                crate::ACCOUNT_ID
            ))
        })?;
        if e.async_config.is_some() {
            return Err(ApiError::validation(format!(
                "Endpoint {name} is an asynchronous endpoint; use InvokeEndpointAsync."
            )));
        }
        let variant = e
            .variants
            .first()
            .map(|v| v.name.clone())
            .unwrap_or_default();
        Ok((self.running(e)?, variant))
    }

    fn running(&self, e: &Endpoint) -> Result<Arc<EndpointSim>, ApiError> {
        if e.status != IN_SERVICE && e.status != "Updating" {
            return Err(ApiError::validation(format!(
                "Endpoint {} is not in service (status {}).",
                e.name, e.status
            )));
        }
        lock(&self.sims)?.get(&e.name).cloned().ok_or_else(|| {
            ApiError::internal(format!("endpoint {} has no running simulation", e.name))
        })
    }

    /// Whether `endpoint` exists and has a variant named `variant` (Application Auto Scaling).
    pub fn has_variant(&self, endpoint: &str, variant: &str) -> bool {
        self.state.lock().is_ok_and(|s| {
            s.endpoints
                .get(endpoint)
                .is_some_and(|e| e.variants.iter().any(|v| v.name == variant))
        })
    }

    /// The InferenceIds a running endpoint processed more than once, with how many times.
    pub fn duplicates(&self, name: &str) -> Option<std::collections::BTreeMap<String, u32>> {
        self.sims.lock().ok()?.get(name).map(|s| s.duplicates())
    }

    /// Queue and instance figures of a running endpoint (tests, part 2's metrics).
    pub fn stats(&self, name: &str) -> Option<EndpointStats> {
        self.sims.lock().ok()?.get(name).map(|s| s.stats())
    }
}

/// Sorts a List* answer like SageMaker: `SortBy` Name or CreationTime (default), `SortOrder`
/// Descending by default; `NameContains` filters.
fn sorted<'a>(items: impl Iterator<Item = (&'a str, f64, Value)>, input: &Value) -> Vec<Value> {
    let contains = optional_str(input, "NameContains").map(str::to_ascii_lowercase);
    let mut items: Vec<_> = items
        .filter(|(name, _, _)| {
            contains
                .as_ref()
                .is_none_or(|c| name.to_ascii_lowercase().contains(c))
        })
        .collect();
    if optional_str(input, "SortBy") == Some("Name") {
        items.sort_by(|a, b| a.0.cmp(b.0));
    } else {
        items.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(b.0)));
    }
    if optional_str(input, "SortOrder") != Some("Ascending") {
        items.reverse();
    }
    items.into_iter().map(|(_, _, v)| v).collect()
}

/// A List* answer: `{ key: [sorted page], NextToken? }`.
fn list_answer<'a>(
    key: &str,
    items: impl Iterator<Item = (&'a str, f64, Value)>,
    input: &Value,
) -> Value {
    let (items, next) = page(sorted(items, input), input, 10);
    let mut out = json!({ key: items });
    if let Some(token) = next {
        out["NextToken"] = json!(token);
    }
    out
}
