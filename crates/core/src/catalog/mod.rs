//! Facts Ebb ships with: TGI container images and GPU instance types.

pub mod instances;
pub mod tgi;

use serde::Serialize;

use crate::pricing::PriceSource;

/// What the deploy form offers: TGI versions (newest first) and GPU instance types.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct DeployCatalog {
    pub tgi_versions: Vec<String>,
    pub instances: Vec<InstanceOption>,
}

/// One instance type of the picker, in the bundled table's order (grouped by family).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct InstanceOption {
    pub name: String,
    /// e.g. `g5`.
    pub family: String,
    /// Accelerators per instance (GPUs; Inferentia chips on inf2).
    pub gpus: u32,
    pub gpu: String,
    /// Memory of one accelerator, GB.
    pub gpu_memory_gb: u32,
    /// USD per instance-hour: the Price List's for the region when it answered, else the
    /// bundled us-east-1 estimate (`price_source` says which).
    pub usd_per_hour: f64,
    pub price_source: PriceSource,
    /// Why Ebb's TGI image cannot run on this type; `None` where it can.
    pub unsupported: Option<String>,
}

impl From<&instances::InstanceInfo> for InstanceOption {
    fn from(i: &instances::InstanceInfo) -> InstanceOption {
        InstanceOption {
            name: i.name.to_string(),
            family: i.family.to_string(),
            gpus: i.gpus,
            gpu: i.gpu.to_string(),
            gpu_memory_gb: i.gpu_memory_gb,
            usd_per_hour: i.usd_per_hour,
            price_source: PriceSource::Estimate,
            unsupported: i.unsupported.map(str::to_string),
        }
    }
}

/// The bundled catalog, prices as estimates ([`crate::Ebb::instance_picker`] asks the Price
/// List).
pub fn deploy_catalog() -> DeployCatalog {
    DeployCatalog {
        tgi_versions: tgi::VERSIONS
            .iter()
            .rev()
            .map(|v| v.version.to_string())
            .collect(),
        instances: instances::INSTANCES
            .iter()
            .map(InstanceOption::from)
            .collect(),
    }
}
