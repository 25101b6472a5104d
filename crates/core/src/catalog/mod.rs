//! Facts Ebb ships with: TGI container images and GPU instance types.

pub mod instances;
pub mod tgi;

use serde::Serialize;

/// What the deploy form offers: TGI versions (newest first) and GPU instance types.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct DeployCatalog {
    pub tgi_versions: Vec<String>,
    pub instances: Vec<InstanceOption>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct InstanceOption {
    pub name: String,
    pub gpus: u32,
    pub gpu: String,
    /// Estimated USD per instance-hour (us-east-1, on demand).
    pub usd_per_hour: f64,
}

pub fn deploy_catalog() -> DeployCatalog {
    DeployCatalog {
        tgi_versions: tgi::VERSIONS
            .iter()
            .rev()
            .map(|v| v.version.to_string())
            .collect(),
        instances: instances::INSTANCES
            .iter()
            .map(|i| InstanceOption {
                name: i.name.to_string(),
                gpus: i.gpus,
                gpu: i.gpu.to_string(),
                usd_per_hour: i.usd_per_hour,
            })
            .collect(),
    }
}
