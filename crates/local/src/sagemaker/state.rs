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
    pub fn load(path: &Path) -> State {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(file = %path.display(), "ignoring unreadable SageMaker state: {e}");
                State::default()
            }),
            Err(_) => State::default(),
        }
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("json.tmp");
        std::fs::write(
            &tmp,
            serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?,
        )?;
        std::fs::rename(tmp, path)
    }
}
