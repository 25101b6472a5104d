//! Instance counts: UpdateEndpointWeightsAndCapacities (what Application Auto Scaling calls),
//! and the views the scaling simulation reads (capacities, live endpoints).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::api::{ApiError, ApiResult, now_epoch, required_str};
use super::{IN_SERVICE, SageMaker, lock, not_found};
use crate::sim::endpoint::EndpointSim;

/// A variant's instance counts, as Application Auto Scaling sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    pub desired: u32,
    pub current: u32,
    /// Whether the endpoint takes changes now (not Creating or Updating).
    pub in_service: bool,
}

/// A running endpoint, for the metrics publisher.
pub struct LiveEndpoint {
    pub name: String,
    pub is_async: bool,
    pub sim: Arc<EndpointSim>,
}

impl SageMaker {
    /// Changes instance counts: Updating, then InService once new instances have started.
    pub(super) fn update_capacities(self: &Arc<Self>, input: &Value) -> ApiResult {
        let name = required_str(input, "EndpointName")?;
        let desired = input
            .get("DesiredWeightsAndCapacities")
            .and_then(Value::as_array)
            .filter(|d| !d.is_empty())
            .ok_or_else(|| {
                ApiError::validation("DesiredWeightsAndCapacities must not be empty.")
            })?;
        let mut state = lock(&self.state)?;
        let e = state
            .endpoints
            .get_mut(name)
            .ok_or_else(|| not_found("endpoint", name))?;
        if e.status != IN_SERVICE {
            return Err(ApiError::validation(format!(
                "Cannot update in-progress endpoint \"{}\" (status {}).",
                e.arn, e.status
            )));
        }
        let is_async = e.async_config.is_some();
        for d in desired {
            let variant_name = required_str(d, "VariantName")?;
            let v = e
                .variants
                .iter_mut()
                .find(|v| v.name == variant_name)
                .ok_or_else(|| {
                    ApiError::validation(format!(
                        "The variant {variant_name} does not exist in endpoint {name}."
                    ))
                })?;
            if let Some(n) = d.get("DesiredInstanceCount") {
                let n = n.as_u64().ok_or_else(|| {
                    ApiError::validation("DesiredInstanceCount must be a whole number.")
                })? as u32;
                if n == 0 && !is_async {
                    return Err(ApiError::validation(
                        "DesiredInstanceCount can be 0 only for asynchronous endpoints.",
                    ));
                }
                v.desired_instances = n;
            }
            if let Some(w) = d.get("DesiredWeight").and_then(Value::as_f64) {
                v.weight = w;
            }
        }
        e.status = "Updating".into();
        e.modified = now_epoch();
        let endpoint_arn = e.arn.clone();
        self.save(&state)?;
        drop(state);
        tokio::spawn(self.clone().apply_capacity(name.to_string()));
        Ok(json!({ "EndpointArn": endpoint_arn }))
    }

    async fn apply_capacity(self: Arc<Self>, name: String) {
        let sim = self.sims.lock().ok().and_then(|s| s.get(&name).cloned());
        let desired: u32 = self
            .state
            .lock()
            .ok()
            .and_then(|s| {
                s.endpoints
                    .get(&name)
                    .map(|e| e.variants.iter().map(|v| v.desired_instances).sum())
            })
            .unwrap_or(0);
        let current = sim.as_ref().map_or(0, |s| s.instances());
        // New instances must start; removing instances is quick.
        let wait = if desired > current {
            self.startup
        } else {
            Duration::from_secs(1)
        };
        self.clock.sleep(wait).await;
        if let Some(sim) = &sim {
            sim.set_instances(desired);
        }
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if let Some(e) = state.endpoints.get_mut(&name) {
            for v in &mut e.variants {
                v.current_instances = v.desired_instances;
            }
            e.status = IN_SERVICE.into();
            e.modified = now_epoch();
        }
        if let Err(e) = self.save(&state) {
            tracing::warn!("{}", e.message);
        }
    }

    /// A variant's desired and current instance counts.
    pub fn capacity(&self, endpoint: &str, variant: &str) -> Option<Capacity> {
        let state = self.state.lock().ok()?;
        let e = state.endpoints.get(endpoint)?;
        let v = e.variants.iter().find(|v| v.name == variant)?;
        Some(Capacity {
            desired: v.desired_instances,
            current: v.current_instances,
            in_service: e.status == IN_SERVICE,
        })
    }

    /// Endpoints whose simulation is running.
    pub fn live_endpoints(&self) -> Vec<LiveEndpoint> {
        let Ok(state) = self.state.lock() else {
            return Vec::new();
        };
        let Ok(sims) = self.sims.lock() else {
            return Vec::new();
        };
        state
            .endpoints
            .values()
            .filter_map(|e| {
                Some(LiveEndpoint {
                    name: e.name.clone(),
                    is_async: e.async_config.is_some(),
                    sim: sims.get(&e.name)?.clone(),
                })
            })
            .collect()
    }
}
