//! UpdateEndpoint: deploys a new endpoint config to a running endpoint, as the SageMaker API
//! reference (UpdateEndpoint) describes it: the endpoint is Updating while the new fleet starts,
//! then InService with the new config; a failed update rolls back to the old one.

use std::sync::{Arc, Weak};

use serde_json::{Value, json};

use super::api::{ApiError, ApiResult, check_name, now_epoch, required_str};
use super::state::{Endpoint, State, Variant};
use super::{IN_SERVICE, SageMaker, lock, not_found};

/// Whether a variant is registered with Application Auto Scaling (which SageMaker consults
/// before changing a variant's instance type).
pub trait ScalableTargets: Send + Sync {
    fn is_registered(&self, endpoint: &str, variant: &str) -> bool;
}

/// What UpdateEndpoint keeps from the running variants (`RetainAllVariantProperties`, less
/// the properties named in `ExcludeRetainedVariantProperties`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Retain {
    instance_count: bool,
    weight: bool,
}

const VARIANT_PROPERTIES: [&str; 3] =
    ["DesiredInstanceCount", "DesiredWeight", "DataCaptureConfig"];

/// Reads `RetainAllVariantProperties` and `ExcludeRetainedVariantProperties` (at most 3
/// entries, each a VariantPropertyType).
fn retain(input: &Value) -> Result<Retain, ApiError> {
    let excluded: Vec<&str> = match input.get("ExcludeRetainedVariantProperties") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|p| required_str(p, "VariantPropertyType"))
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(ApiError::validation(
                "1 validation error detected: 'excludeRetainedVariantProperties' must be a list",
            ));
        }
    };
    if excluded.len() > 3 {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{excluded:?}' at 'excludeRetainedVariantProperties' failed to satisfy constraint: Member must have length less than or equal to 3"
        )));
    }
    if let Some(bad) = excluded.iter().find(|p| !VARIANT_PROPERTIES.contains(p)) {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{bad}' at 'excludeRetainedVariantProperties.1.member.variantPropertyType' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
            VARIANT_PROPERTIES.join(", ")
        )));
    }
    let all = input["RetainAllVariantProperties"]
        .as_bool()
        .unwrap_or(false);
    Ok(Retain {
        instance_count: all && !excluded.contains(&"DesiredInstanceCount"),
        weight: all && !excluded.contains(&"DesiredWeight"),
    })
}

/// The endpoint's variants under the new config: its initial counts and weights, or the
/// running ones where they are retained (same-named variants only).
fn new_variants(
    state: &State,
    config_variants: &[Value],
    old: &[Variant],
    keep: Retain,
) -> Result<Vec<Variant>, ApiError> {
    let mut variants = Vec::new();
    for v in config_variants {
        let mut variant = super::variant_from_config(state, v)?;
        if let Some(running) = old.iter().find(|o| o.name == variant.name) {
            if keep.instance_count {
                variant.desired_instances = running.desired_instances;
            }
            if keep.weight {
                variant.weight = running.weight;
            }
            variant.current_instances = running.current_instances;
        }
        variants.push(variant);
    }
    Ok(variants)
}

/// Refuses an update that changes the instance type of an autoscaled variant (SageMaker
/// developer guide, "Update endpoints that use auto scaling").
fn check_autoscaled(
    targets: Option<&dyn ScalableTargets>,
    endpoint: &Endpoint,
    variants: &[Variant],
) -> Result<(), ApiError> {
    let Some(targets) = targets else {
        return Ok(());
    };
    let changed: Vec<&str> = variants
        .iter()
        .filter(|v| {
            endpoint.variants.iter().any(|o| {
                o.name == v.name
                    && o.instance_type != v.instance_type
                    && targets.is_registered(&endpoint.name, &o.name)
            })
        })
        .map(|v| v.name.as_str())
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    Err(ApiError::validation(format!(
        "The instance type of variant(s) [{}] of endpoint \"{}\" cannot be changed while they are registered as scalable targets with Application Auto Scaling. Delete their scaling policies and deregister them (DeregisterScalableTarget), update the endpoint, then register them again.",
        changed.join(", "),
        endpoint.arn
    )))
}

/// Why an endpoint in `status` cannot be updated now, as SageMaker words it.
fn check_updatable(e: &Endpoint) -> Result<(), ApiError> {
    match e.status.as_str() {
        IN_SERVICE => Ok(()),
        "Failed" => Err(ApiError::validation(format!(
            "Cannot update failed endpoint \"{}\".",
            e.arn
        ))),
        _ => Err(ApiError::validation(format!(
            "Cannot update in-progress endpoint \"{}\".",
            e.arn
        ))),
    }
}

impl SageMaker {
    /// Registers who answers [`ScalableTargets`] (Application Auto Scaling); held weakly, as
    /// Application Auto Scaling holds this service.
    pub fn set_scalable_targets(&self, targets: Weak<dyn ScalableTargets>) {
        if let Ok(mut t) = self.scalable_targets.lock() {
            *t = Some(targets);
        }
    }

    fn scalable_targets(&self) -> Option<Arc<dyn ScalableTargets>> {
        self.scalable_targets
            .lock()
            .ok()
            .and_then(|t| t.as_ref().and_then(Weak::upgrade))
    }

    /// UpdateEndpoint: `{EndpointName, EndpointConfigName, RetainAllVariantProperties?,
    /// ExcludeRetainedVariantProperties?, DeploymentConfig?, RetainDeploymentConfig?}` ->
    /// `{EndpointArn}`. ValidationException when the endpoint or config does not exist, the
    /// endpoint is not InService, or an autoscaled variant's instance type would change.
    pub(super) fn update_endpoint(self: &Arc<Self>, input: &Value) -> ApiResult {
        let name = required_str(input, "EndpointName")?;
        check_name("EndpointName", name)?;
        let config_name = required_str(input, "EndpointConfigName")?;
        check_name("EndpointConfigName", config_name)?;
        let keep = retain(input)?;
        let targets = self.scalable_targets();
        let mut state = lock(&self.state)?;
        let endpoint = state
            .endpoints
            .get(name)
            .ok_or_else(|| not_found("endpoint", name))?
            .clone();
        check_updatable(&endpoint)?;
        let config = state
            .configs
            .get(config_name)
            .ok_or_else(|| not_found("endpoint-config", config_name))?
            .clone();
        let variants = new_variants(&state, &config.variants, &endpoint.variants, keep)?;
        check_autoscaled(targets.as_deref(), &endpoint, &variants)?;
        super::check_quota(&state, &variants)?;
        let e = state
            .endpoints
            .get_mut(name)
            .ok_or_else(|| not_found("endpoint", name))?;
        e.status = "Updating".into();
        e.modified = now_epoch();
        e.failure_reason = None;
        e.config_name = config_name.to_string();
        e.variants = variants;
        e.async_config = config.async_config.clone();
        self.save(&state)?;
        drop(state);
        let endpoint_arn = endpoint.arn.clone();
        tokio::spawn(self.clone().deploy_update(name.to_string(), endpoint));
        Ok(json!({ "EndpointArn": endpoint_arn }))
    }

    /// Starts the new fleet (see [`SageMaker::start_container`]), then serves with it
    /// (InService); if it cannot start, the endpoint goes back to `previous` with a
    /// FailureReason, as SageMaker rolls back.
    async fn deploy_update(self: Arc<Self>, name: String, previous: Endpoint) {
        let Some(started) = self.start_container(&name, self.startup).await else {
            return;
        };
        let Some((concurrency, instances)) = self.fleet_plan(&name) else {
            return;
        };
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let Some(e) = state.endpoints.get_mut(&name) else {
            return;
        };
        match started {
            Ok(backend) => {
                if let Some(sim) = self.sims.lock().ok().and_then(|s| s.get(&name).cloned()) {
                    sim.redeploy(backend, concurrency);
                    sim.set_instances(instances);
                }
                for v in &mut e.variants {
                    v.current_instances = v.desired_instances;
                }
                e.status = IN_SERVICE.into();
            }
            Err(reason) => {
                *e = previous;
                e.status = IN_SERVICE.into();
                e.failure_reason = Some(format!("The endpoint update failed: {reason}"));
            }
        }
        e.modified = now_epoch();
        if let Err(err) = self.save(&state) {
            tracing::warn!("{}", err.message);
        }
    }

    /// The new fleet's per-instance concurrency and instance count.
    fn fleet_plan(&self, name: &str) -> Option<(u32, u32)> {
        let state = self.state.lock().ok()?;
        let endpoint = state.endpoints.get(name)?;
        let concurrency = super::concurrency(endpoint.async_config.as_ref());
        let instances = endpoint.variants.iter().map(|v| v.desired_instances).sum();
        Some((concurrency, instances))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_follows_the_flags() {
        assert_eq!(retain(&json!({})).unwrap(), Retain::default());
        assert_eq!(
            retain(&json!({ "RetainAllVariantProperties": true })).unwrap(),
            Retain {
                instance_count: true,
                weight: true
            }
        );
        let some = json!({ "RetainAllVariantProperties": true,
            "ExcludeRetainedVariantProperties": [{ "VariantPropertyType": "DesiredInstanceCount" }] });
        assert_eq!(
            retain(&some).unwrap(),
            Retain {
                instance_count: false,
                weight: true
            }
        );
        let bad =
            json!({ "ExcludeRetainedVariantProperties": [{ "VariantPropertyType": "Color" }] });
        assert!(retain(&bad).unwrap_err().message.contains("enum value set"));
    }
}
