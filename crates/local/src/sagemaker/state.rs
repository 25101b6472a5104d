//! SageMaker resources as the local cloud keeps them, saved to `sagemaker.json`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Model {
    pub name: String,
    pub arn: String,
    pub created: f64,
    /// The request's container definition, echoed back by DescribeModel.
    pub container: Value,
    pub execution_role_arn: String,
    pub environment: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EndpointConfig {
    pub name: String,
    pub arn: String,
    pub created: f64,
    pub variants: Vec<Value>,
    pub async_config: Option<Value>,
    pub kms_key_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Variant {
    pub name: String,
    pub model_name: String,
    pub image: String,
    pub instance_type: String,
    pub weight: f64,
    pub current_instances: u32,
    pub desired_instances: u32,
    /// The config's ContainerStartupHealthCheckTimeoutInSeconds, or SageMaker's default.
    #[serde(default = "default_health_check_timeout")]
    pub health_check_timeout_s: u64,
}

fn default_health_check_timeout() -> u64 {
    crate::sim::startup::DEFAULT_HEALTH_CHECK_TIMEOUT_S
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Endpoint {
    pub name: String,
    pub arn: String,
    pub config_name: String,
    pub status: String,
    pub failure_reason: Option<String>,
    pub created: f64,
    pub modified: f64,
    pub variants: Vec<Variant>,
    /// Copied from the config at creation, as SageMaker does.
    pub async_config: Option<Value>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct State {
    pub models: BTreeMap<String, Model>,
    pub configs: BTreeMap<String, EndpointConfig>,
    pub endpoints: BTreeMap<String, Endpoint>,
    /// Tags by resource ARN.
    #[serde(default)]
    pub tags: BTreeMap<String, Vec<Value>>,
}

impl State {
    /// The saved resources; none when the file does not exist yet.
    /// Errors: [`crate::Error::State`] when it exists but cannot be read.
    pub fn load(path: &Path) -> Result<State, crate::Error> {
        crate::persist::load(path, "SageMaker models, endpoint configs and endpoints")
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        crate::persist::save(path, self)
    }
}
