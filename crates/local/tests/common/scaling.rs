//! The seed's part 3 through the SDK clients: the scalable target, the target-tracking policy
//! and the scale-from-zero step policy with its HasBacklogWithoutCapacity alarm.

use aws_sdk_applicationautoscaling::types::{
    CustomizedMetricSpecification, MetricDimension, PolicyType, ScalableDimension,
    ServiceNamespace, StepAdjustment, StepScalingPolicyConfiguration,
    TargetTrackingScalingPolicyConfiguration,
};
use aws_sdk_cloudwatch::operation::put_metric_alarm::builders::PutMetricAlarmFluentBuilder;
use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Statistic};

use super::Cloud;

pub fn resource(endpoint: &str) -> String {
    format!("endpoint/{endpoint}/variant/AllTraffic")
}

/// The seed's target tracking: 5 per instance of ApproximateBacklogSizePerInstance, cooldowns
/// 600 s in / 100 s out.
pub fn tracking(endpoint: &str) -> TargetTrackingScalingPolicyConfiguration {
    TargetTrackingScalingPolicyConfiguration::builder()
        .target_value(5.0)
        .customized_metric_specification(
            CustomizedMetricSpecification::builder()
                .metric_name("ApproximateBacklogSizePerInstance")
                .namespace("AWS/SageMaker")
                .dimensions(
                    MetricDimension::builder()
                        .name("EndpointName")
                        .value(endpoint)
                        .build()
                        .unwrap(),
                )
                .statistic("Average".into())
                .build(),
        )
        .scale_in_cooldown(600)
        .scale_out_cooldown(100)
        .build()
        .unwrap()
}

/// Registers min 0 / max `max`, both policies and the alarm; returns the alarm's name.
pub async fn seed(c: &Cloud, endpoint: &str, max: i32) -> String {
    let aas = c.autoscaling();
    aas.register_scalable_target()
        .service_namespace(ServiceNamespace::Sagemaker)
        .resource_id(resource(endpoint))
        .scalable_dimension(ScalableDimension::SageMakerVariantDesiredInstanceCount)
        .min_capacity(0)
        .max_capacity(max)
        .send()
        .await
        .unwrap();
    let policy = |name: &str, kind: PolicyType| {
        aas.put_scaling_policy()
            .policy_name(name)
            .service_namespace(ServiceNamespace::Sagemaker)
            .resource_id(resource(endpoint))
            .scalable_dimension(ScalableDimension::SageMakerVariantDesiredInstanceCount)
            .policy_type(kind)
    };
    policy(
        "Invocations-ScalingPolicy",
        PolicyType::TargetTrackingScaling,
    )
    .target_tracking_scaling_policy_configuration(tracking(endpoint))
    .send()
    .await
    .unwrap();
    let step = policy(
        "HasBacklogWithoutCapacity-ScalingPolicy",
        PolicyType::StepScaling,
    )
    .step_scaling_policy_configuration(
        StepScalingPolicyConfiguration::builder()
            .adjustment_type("ChangeInCapacity".into())
            .metric_aggregation_type("Average".into())
            .cooldown(300)
            .step_adjustments(
                StepAdjustment::builder()
                    .metric_interval_lower_bound(0.0)
                    .scaling_adjustment(1)
                    .build()
                    .unwrap(),
            )
            .build(),
    )
    .send()
    .await
    .unwrap();
    let alarm = format!("{endpoint}-HasBacklogWithoutCapacity");
    backlog_alarm(c, &alarm, endpoint)
        .evaluation_periods(2)
        .datapoints_to_alarm(2)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .treat_missing_data("missing")
        .alarm_actions(step.policy_arn())
        .send()
        .await
        .unwrap();
    alarm
}

/// A PutMetricAlarm named `name` on `endpoint`'s HasBacklogWithoutCapacity (the average over
/// 60 s periods); the caller adds the periods, threshold, comparison and actions.
pub fn backlog_alarm(c: &Cloud, name: &str, endpoint: &str) -> PutMetricAlarmFluentBuilder {
    c.cloudwatch()
        .put_metric_alarm()
        .alarm_name(name)
        .metric_name("HasBacklogWithoutCapacity")
        .namespace("AWS/SageMaker")
        .statistic(Statistic::Average)
        .dimensions(
            Dimension::builder()
                .name("EndpointName")
                .value(endpoint)
                .build(),
        )
        .period(60)
}
