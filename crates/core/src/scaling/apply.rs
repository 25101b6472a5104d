//! Putting a [`ScalingSpec`] in place: the scalable target, the target-tracking policy on
//! ApproximateBacklogSizePerInstance and, when min is 0, the scale-from-zero step policy with
//! its HasBacklogWithoutCapacity alarm (AWS's recipe for async endpoints). Re-applying edits in
//! place; turning scale from zero off removes its policy and alarm.

use aws_sdk_applicationautoscaling::types::{
    AdjustmentType, CustomizedMetricSpecification, MetricAggregationType, MetricDimension,
    MetricStatistic, PolicyType, ScalableDimension, ServiceNamespace, StepAdjustment,
    StepScalingPolicyConfiguration, TargetTrackingScalingPolicyConfiguration,
};
use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Statistic};
use serde::Serialize;

use super::spec::{
    NAMESPACE, ScalingSpec, TRACKED_METRIC, TRACKING_POLICY, WAKE_METRIC, WAKE_POLICY,
};
use crate::aws_errors::{self, Context};
use crate::cloud::Clients;
use crate::error::Error;

/// What was put in place (or removed), one line each, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Applied {
    pub lines: Vec<String>,
}

const DIMENSION: ScalableDimension = ScalableDimension::SageMakerVariantDesiredInstanceCount;
/// Seconds between wake-ups, as in AWS's async-inference guide: long enough for a new
/// instance to start before the still-waiting backlog could ask for another.
const WAKE_COOLDOWN: i32 = 300;

/// Why the builder refused: only when a required field is missing, which these never are.
fn built<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, Error> {
    r.map_err(|e| Error::InvalidRequest(format!("could not build the request: {e}")))
}

pub async fn apply(
    clients: &Clients,
    ctx: Context<'_>,
    spec: &ScalingSpec,
) -> Result<Applied, Error> {
    let aas = &clients.autoscaling;
    let resource = spec.resource_id();
    let mut lines = Vec::new();
    aas.register_scalable_target()
        .service_namespace(ServiceNamespace::Sagemaker)
        .resource_id(&resource)
        .scalable_dimension(DIMENSION)
        .min_capacity(spec.min)
        .max_capacity(spec.max)
        .send()
        .await
        .map_err(|e| {
            aws_errors::failed(&e, ctx, "application-autoscaling:RegisterScalableTarget")
        })?;
    lines.push(format!(
        "scalable target {resource}: {} to {} instances",
        spec.min, spec.max
    ));
    let tracking = TargetTrackingScalingPolicyConfiguration::builder()
        .target_value(spec.target)
        .customized_metric_specification(
            CustomizedMetricSpecification::builder()
                .metric_name(TRACKED_METRIC)
                .namespace(NAMESPACE)
                .dimensions(built(
                    MetricDimension::builder()
                        .name("EndpointName")
                        .value(&spec.endpoint)
                        .build(),
                )?)
                .statistic(MetricStatistic::Average)
                .build(),
        )
        .scale_in_cooldown(spec.scale_in_cooldown)
        .scale_out_cooldown(spec.scale_out_cooldown)
        .build();
    aas.put_scaling_policy()
        .policy_name(TRACKING_POLICY)
        .service_namespace(ServiceNamespace::Sagemaker)
        .resource_id(&resource)
        .scalable_dimension(DIMENSION)
        .policy_type(PolicyType::TargetTrackingScaling)
        .target_tracking_scaling_policy_configuration(built(tracking)?)
        .send()
        .await
        .map_err(|e| aws_errors::failed(&e, ctx, "application-autoscaling:PutScalingPolicy"))?;
    lines.push(format!(
        "scaling policy {TRACKING_POLICY}: {} per instance of {TRACKED_METRIC}, cooldowns in {} s / out {} s",
        spec.target, spec.scale_in_cooldown, spec.scale_out_cooldown
    ));
    if spec.wakes_from_zero() {
        put_wake_up(clients, ctx, spec, &mut lines).await?;
    } else {
        remove_wake_up(clients, ctx, spec, &mut lines).await?;
    }
    Ok(Applied { lines })
}

/// The step policy (+1 instance) and the alarm that fires it while requests wait at zero.
async fn put_wake_up(
    clients: &Clients,
    ctx: Context<'_>,
    spec: &ScalingSpec,
    lines: &mut Vec<String>,
) -> Result<(), Error> {
    let step = StepScalingPolicyConfiguration::builder()
        .adjustment_type(AdjustmentType::ChangeInCapacity)
        .metric_aggregation_type(MetricAggregationType::Average)
        .cooldown(WAKE_COOLDOWN)
        .step_adjustments(built(
            StepAdjustment::builder()
                .metric_interval_lower_bound(0.0)
                .scaling_adjustment(1)
                .build(),
        )?)
        .build();
    let policy = clients
        .autoscaling
        .put_scaling_policy()
        .policy_name(WAKE_POLICY)
        .service_namespace(ServiceNamespace::Sagemaker)
        .resource_id(spec.resource_id())
        .scalable_dimension(DIMENSION)
        .policy_type(PolicyType::StepScaling)
        .step_scaling_policy_configuration(step)
        .send()
        .await
        .map_err(|e| aws_errors::failed(&e, ctx, "application-autoscaling:PutScalingPolicy"))?;
    lines.push(format!(
        "scaling policy {WAKE_POLICY}: +1 instance while requests wait at zero"
    ));
    let alarm = spec.wake_alarm();
    clients
        .cloudwatch
        .put_metric_alarm()
        .alarm_name(&alarm)
        .alarm_description(format!(
            "Wakes {} from zero instances when requests are waiting (made by Ebb).",
            spec.endpoint
        ))
        .metric_name(WAKE_METRIC)
        .namespace(NAMESPACE)
        .statistic(Statistic::Average)
        .dimensions(
            Dimension::builder()
                .name("EndpointName")
                .value(&spec.endpoint)
                .build(),
        )
        .period(60)
        .evaluation_periods(2)
        .datapoints_to_alarm(2)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .treat_missing_data("missing")
        .alarm_actions(policy.policy_arn())
        .send()
        .await
        .map_err(|e| aws_errors::failed(&e, ctx, "cloudwatch:PutMetricAlarm"))?;
    lines.push(format!(
        "alarm {alarm}: {WAKE_METRIC} >= 1 for 2 minutes starts {WAKE_POLICY}"
    ));
    Ok(())
}

/// Scale from zero turned off (or min above 0): its policy and alarm go, if they exist.
async fn remove_wake_up(
    clients: &Clients,
    ctx: Context<'_>,
    spec: &ScalingSpec,
    lines: &mut Vec<String>,
) -> Result<(), Error> {
    let existing = clients
        .autoscaling
        .describe_scaling_policies()
        .service_namespace(ServiceNamespace::Sagemaker)
        .resource_id(spec.resource_id())
        .policy_names(WAKE_POLICY)
        .send()
        .await
        .map_err(|e| {
            aws_errors::failed(&e, ctx, "application-autoscaling:DescribeScalingPolicies")
        })?;
    // Matched by name here too: not every implementation filters by PolicyNames.
    if existing
        .scaling_policies()
        .iter()
        .any(|p| p.policy_name() == WAKE_POLICY)
    {
        clients
            .autoscaling
            .delete_scaling_policy()
            .policy_name(WAKE_POLICY)
            .service_namespace(ServiceNamespace::Sagemaker)
            .resource_id(spec.resource_id())
            .scalable_dimension(DIMENSION)
            .send()
            .await
            .map_err(|e| {
                aws_errors::failed(&e, ctx, "application-autoscaling:DeleteScalingPolicy")
            })?;
        lines.push(format!("scaling policy {WAKE_POLICY}: removed"));
    }
    let alarm = spec.wake_alarm();
    let found = super::alarms::named(clients, ctx, std::slice::from_ref(&alarm)).await?;
    if !found.is_empty() {
        clients
            .cloudwatch
            .delete_alarms()
            .alarm_names(&alarm)
            .send()
            .await
            .map_err(|e| aws_errors::failed(&e, ctx, "cloudwatch:DeleteAlarms"))?;
        lines.push(format!("alarm {alarm}: removed"));
    }
    Ok(())
}
