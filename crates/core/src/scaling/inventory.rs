//! What scaling is in place for one endpoint: its scalable targets, their policies, and the
//! alarms on its metrics or acting on those policies.

use aws_sdk_applicationautoscaling::types::{PolicyType, ServiceNamespace};
use aws_sdk_cloudwatch::types::AlarmType;
use serde::{Deserialize, Serialize};

use crate::aws_errors::{self, Context};
use crate::cloud::Clients;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct PolicyRef {
    /// `endpoint/<name>/variant/<variant>`.
    pub resource_id: String,
    pub name: String,
    /// `TargetTrackingScaling` or `StepScaling`.
    pub policy_type: String,
    /// Alarms target tracking made for this policy; they go when the policy goes.
    pub managed_alarms: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Inventory {
    /// Scalable targets (resource ids).
    pub targets: Vec<String>,
    pub policies: Vec<PolicyRef>,
    /// Alarms on the endpoint's metrics or acting on its policies, other than the managed ones.
    pub alarms: Vec<String>,
    /// Of `alarms`, those acting on its policies (removing autoscaling removes these only).
    pub policy_alarms: Vec<String>,
    /// What could not be listed, so the user knows what may be left in place.
    pub warnings: Vec<String>,
}

/// Why a listing failed, in one phrase.
fn refused<E>(
    e: &aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
    ctx: Context<'_>,
    action: &str,
) -> String
where
    E: aws_sdk_cloudwatch::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    aws_errors::explain(e, Context { action, ..ctx }).summary
}

fn is_endpoint_resource(resource_id: &str, endpoint: &str) -> bool {
    resource_id
        .strip_prefix(&format!("endpoint/{endpoint}/variant/"))
        .is_some_and(|variant| !variant.is_empty() && !variant.contains('/'))
}

/// Lists everything; a listing AWS refuses becomes a warning rather than an error, so that a
/// user without (say) CloudWatch permissions can still remove the endpoint itself.
pub async fn of_endpoint(clients: &Clients, ctx: Context<'_>, endpoint: &str) -> Inventory {
    let mut inv = Inventory::default();
    let aas = &clients.autoscaling;
    let mut targets = aas
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Sagemaker)
        .into_paginator()
        .items()
        .send();
    let mut targets_listed = true;
    while let Some(t) = targets.next().await {
        match t {
            Ok(t) if is_endpoint_resource(t.resource_id(), endpoint) => {
                inv.targets.push(t.resource_id().to_string());
            }
            Ok(_) => {}
            Err(e) => {
                let why = refused(&e, ctx, "application-autoscaling:DescribeScalableTargets");
                inv.warnings.push(format!(
                    "Could not list scalable targets ({why}): any autoscaling on this endpoint is left in place."
                ));
                targets_listed = false;
                break;
            }
        }
    }
    let mut policy_arns = Vec::new();
    if targets_listed {
        for target in &inv.targets {
            let mut pages = aas
                .describe_scaling_policies()
                .service_namespace(ServiceNamespace::Sagemaker)
                .resource_id(target)
                .into_paginator()
                .items()
                .send();
            while let Some(p) = pages.next().await {
                match p {
                    Ok(p) => {
                        let tracking = p.policy_type() == &PolicyType::TargetTrackingScaling;
                        policy_arns.push(p.policy_arn().to_string());
                        inv.policies.push(PolicyRef {
                            resource_id: p.resource_id().to_string(),
                            name: p.policy_name().to_string(),
                            policy_type: p.policy_type().as_str().to_string(),
                            managed_alarms: if tracking {
                                p.alarms()
                                    .iter()
                                    .map(|a| a.alarm_name().to_string())
                                    .collect()
                            } else {
                                Vec::new()
                            },
                        });
                    }
                    Err(e) => {
                        let why =
                            refused(&e, ctx, "application-autoscaling:DescribeScalingPolicies");
                        inv.warnings.push(format!(
                            "Could not list the scaling policies of {target} ({why}); deregistering the target removes them."
                        ));
                        break;
                    }
                }
            }
        }
    }
    let managed: Vec<&String> = inv
        .policies
        .iter()
        .flat_map(|p| &p.managed_alarms)
        .collect();
    let mut alarms = clients
        .cloudwatch
        .describe_alarms()
        .alarm_types(AlarmType::MetricAlarm)
        .into_paginator()
        .send();
    'pages: while let Some(page) = alarms.next().await {
        match page {
            Ok(page) => {
                for a in page.metric_alarms() {
                    let name = a.alarm_name().unwrap_or_default();
                    let on_endpoint = a
                        .dimensions()
                        .iter()
                        .any(|d| d.name() == Some("EndpointName") && d.value() == Some(endpoint));
                    let acts_on_policy = a
                        .alarm_actions()
                        .iter()
                        .any(|action| policy_arns.contains(action));
                    if (on_endpoint || acts_on_policy)
                        && !name.is_empty()
                        && !managed.iter().any(|m| m.as_str() == name)
                    {
                        inv.alarms.push(name.to_string());
                        if acts_on_policy {
                            inv.policy_alarms.push(name.to_string());
                        }
                    }
                }
            }
            Err(e) => {
                let why = refused(&e, ctx, "cloudwatch:DescribeAlarms");
                inv.warnings.push(format!(
                    "Could not list CloudWatch alarms ({why}): alarms on this endpoint, if any, are left in place."
                ));
                break 'pages;
            }
        }
    }
    inv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_endpoints_own_variants_belong_to_it() {
        assert!(is_endpoint_resource(
            "endpoint/flan/variant/AllTraffic",
            "flan"
        ));
        assert!(!is_endpoint_resource(
            "endpoint/flan-2/variant/AllTraffic",
            "flan"
        ));
        assert!(!is_endpoint_resource("endpoint/flan/variant/", "flan"));
        assert!(!is_endpoint_resource("table/flan", "flan"));
    }
}
