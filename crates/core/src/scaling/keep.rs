//! Taking an endpoint variant's autoscaling away for a while and putting the same back: what an
//! instance-type change needs, since SageMaker refuses to change the instance type of a variant
//! registered as a scalable target ("Update endpoints that use auto scaling",
//! <https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-update.html>).
//!
//! Kept: the scalable target (min, max, suspended state), every scaling policy with its whole
//! configuration, and the CloudWatch alarms acting on its step policies (re-pointed at the
//! policies' new ARNs). Target tracking's own alarms are Application Auto Scaling's: they go
//! with their policy and come back with it.

use aws_sdk_applicationautoscaling::types::{
    PolicyType, ScalableDimension, ScalableTarget, ScalingPolicy, ServiceNamespace,
};
use aws_sdk_cloudwatch::types::MetricAlarm;

use super::inventory::{Inventory, PolicyRef};
use crate::aws_errors::{self, Context};
use crate::cloud::Clients;
use crate::deploy::teardown::{self, Removed};
use crate::error::Error;

const DIMENSION: ScalableDimension = ScalableDimension::SageMakerVariantDesiredInstanceCount;

/// A variant's autoscaling as read before it was taken away.
#[derive(Debug, Clone)]
pub struct KeptScaling {
    pub target: ScalableTarget,
    pub policies: Vec<ScalingPolicy>,
    /// Alarms acting on the step policies, as they were.
    pub alarms: Vec<MetricAlarm>,
}

impl KeptScaling {
    /// One line for the user: bounds and policy names.
    pub fn describe(&self) -> String {
        let names: Vec<&str> = self.policies.iter().map(|p| p.policy_name()).collect();
        format!(
            "{} to {} instances, policies: {}",
            self.target.min_capacity(),
            self.target.max_capacity(),
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        )
    }
}

/// The variant's scalable target with its policies and step alarms, or `None` when it has no
/// scalable target. Every list is read to its last page; a refused call is an error.
pub async fn read(
    clients: &Clients,
    ctx: Context<'_>,
    resource_id: &str,
) -> Result<Option<KeptScaling>, Error> {
    let aas = &clients.autoscaling;
    let targets: Vec<ScalableTarget> = aas
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Sagemaker)
        .resource_ids(resource_id)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| {
            aws_errors::failed(&e, ctx, "application-autoscaling:DescribeScalableTargets")
        })?;
    // Matched by id here too: not every implementation filters by ResourceIds.
    let Some(target) = targets
        .into_iter()
        .find(|t| t.resource_id() == resource_id && t.scalable_dimension() == &DIMENSION)
    else {
        return Ok(None);
    };
    let policies: Vec<ScalingPolicy> = super::policies_of(clients, ctx, resource_id).await?;
    let step_alarms: Vec<String> = policies
        .iter()
        .filter(|p| p.policy_type() == &PolicyType::StepScaling)
        .flat_map(|p| p.alarms())
        .map(|a| a.alarm_name().to_string())
        .collect();
    let alarms = super::alarms::named(clients, ctx, &step_alarms).await?;
    Ok(Some(KeptScaling {
        target,
        policies,
        alarms,
    }))
}

/// Deletes the policies, then deregisters the target. The step alarms stay (they are the
/// user's, or Ebb's wake-up alarm) and are re-pointed by [`restore`].
pub async fn take_away(
    clients: &Clients,
    ctx: Context<'_>,
    kept: &KeptScaling,
) -> Result<Vec<Removed>, Error> {
    let inventory = Inventory {
        targets: vec![kept.target.resource_id().to_string()],
        policies: kept
            .policies
            .iter()
            .map(|p| PolicyRef {
                resource_id: p.resource_id().to_string(),
                name: p.policy_name().to_string(),
                policy_type: p.policy_type().as_str().to_string(),
                managed_alarms: Vec::new(),
            })
            .collect(),
        ..Inventory::default()
    };
    let mut removed = Vec::new();
    teardown::remove_scaling(clients, ctx, &inventory, &mut removed).await?;
    Ok(removed)
}

/// Registers the same target again, puts the same policies back and points the step alarms at
/// the policies' new ARNs. Returns one line per thing put back.
pub async fn restore(
    clients: &Clients,
    ctx: Context<'_>,
    kept: &KeptScaling,
) -> Result<Vec<String>, Error> {
    let t = &kept.target;
    clients
        .autoscaling
        .register_scalable_target()
        .service_namespace(ServiceNamespace::Sagemaker)
        .resource_id(t.resource_id())
        .scalable_dimension(DIMENSION)
        .min_capacity(t.min_capacity())
        .max_capacity(t.max_capacity())
        .set_suspended_state(t.suspended_state().cloned())
        .send()
        .await
        .map_err(|e| {
            aws_errors::failed(&e, ctx, "application-autoscaling:RegisterScalableTarget")
        })?;
    let mut lines = vec![format!(
        "scalable target {}: {} to {} instances",
        t.resource_id(),
        t.min_capacity(),
        t.max_capacity()
    )];
    let mut new_arns = Vec::new();
    for p in &kept.policies {
        let arn = put_policy(clients, ctx, p).await?;
        new_arns.push((p.policy_arn().to_string(), arn));
        lines.push(format!("scaling policy {}", p.policy_name()));
    }
    for alarm in &kept.alarms {
        repoint_alarm(clients, ctx, alarm, &new_arns).await?;
        lines.push(format!(
            "alarm {}: acts on the new policy",
            alarm.alarm_name().unwrap_or_default()
        ));
    }
    Ok(lines)
}

/// PutScalingPolicy with the policy's own configuration; its new ARN.
async fn put_policy(
    clients: &Clients,
    ctx: Context<'_>,
    p: &ScalingPolicy,
) -> Result<String, Error> {
    let put = clients
        .autoscaling
        .put_scaling_policy()
        .policy_name(p.policy_name())
        .service_namespace(ServiceNamespace::Sagemaker)
        .resource_id(p.resource_id())
        .scalable_dimension(DIMENSION)
        .policy_type(p.policy_type().clone())
        .set_target_tracking_scaling_policy_configuration(
            p.target_tracking_scaling_policy_configuration().cloned(),
        )
        .set_step_scaling_policy_configuration(p.step_scaling_policy_configuration().cloned())
        .set_predictive_scaling_policy_configuration(
            p.predictive_scaling_policy_configuration().cloned(),
        )
        .send()
        .await
        .map_err(|e| aws_errors::failed(&e, ctx, "application-autoscaling:PutScalingPolicy"))?;
    Ok(put.policy_arn().to_string())
}

/// `actions` with each old policy ARN replaced by its new one.
fn repointed(actions: &[String], new_arns: &[(String, String)]) -> Vec<String> {
    actions
        .iter()
        .map(|a| {
            new_arns
                .iter()
                .find(|(old, _)| old == a)
                .map_or_else(|| a.clone(), |(_, new)| new.clone())
        })
        .collect()
}

/// PutMetricAlarm with the alarm's own settings and its actions re-pointed (an existing
/// alarm's tags stay: PutMetricAlarm ignores tags on an update).
async fn repoint_alarm(
    clients: &Clients,
    ctx: Context<'_>,
    a: &MetricAlarm,
    new_arns: &[(String, String)],
) -> Result<(), Error> {
    clients
        .cloudwatch
        .put_metric_alarm()
        .set_alarm_name(a.alarm_name.clone())
        .set_alarm_description(a.alarm_description.clone())
        .set_actions_enabled(a.actions_enabled)
        .set_ok_actions(Some(repointed(a.ok_actions(), new_arns)))
        .set_alarm_actions(Some(repointed(a.alarm_actions(), new_arns)))
        .set_insufficient_data_actions(Some(repointed(a.insufficient_data_actions(), new_arns)))
        .set_metric_name(a.metric_name.clone())
        .set_namespace(a.namespace.clone())
        .set_statistic(a.statistic.clone())
        .set_extended_statistic(a.extended_statistic.clone())
        .set_dimensions(a.dimensions.clone())
        .set_period(a.period)
        .set_unit(a.unit.clone())
        .set_evaluation_periods(a.evaluation_periods)
        .set_datapoints_to_alarm(a.datapoints_to_alarm)
        .set_threshold(a.threshold)
        .set_comparison_operator(a.comparison_operator.clone())
        .set_treat_missing_data(a.treat_missing_data.clone())
        .set_evaluate_low_sample_count_percentile(a.evaluate_low_sample_count_percentile.clone())
        .set_metrics(a.metrics.clone())
        .set_threshold_metric_id(a.threshold_metric_id.clone())
        .send()
        .await
        .map_err(|e| aws_errors::failed(&e, ctx, "cloudwatch:PutMetricAlarm"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_old_policy_arns_are_replaced() {
        let arns = vec![("arn:old".to_string(), "arn:new".to_string())];
        let actions = vec!["arn:old".to_string(), "arn:sns:topic".to_string()];
        assert_eq!(repointed(&actions, &arns), ["arn:new", "arn:sns:topic"]);
    }
}
