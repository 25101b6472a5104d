//! Application Auto Scaling and CloudWatch alarms in the local cloud, through the official SDK
//! clients (CloudWatch's in Smithy RPC v2 CBOR): what the seed's part 3 registers is kept,
//! validated and removed as AWS does it.

mod common;

use aws_sdk_applicationautoscaling::types::{
    PolicyType, ScalableDimension, ServiceNamespace, StepAdjustment, StepScalingPolicyConfiguration,
};
use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Statistic};
use aws_sdk_sagemaker::types::EndpointStatus;
use common::scaling::backlog_alarm;

const RESOURCE: &str = "endpoint/seed/variant/AllTraffic";

fn code<E: aws_sdk_cloudwatch::error::ProvideErrorMetadata>(e: &E) -> String {
    format!(
        "{}: {}",
        e.code().unwrap_or("?"),
        e.message().unwrap_or("?")
    )
}

async fn register(
    aas: &aws_sdk_applicationautoscaling::Client,
    resource: &str,
    min: i32,
    max: i32,
) -> Result<(), String> {
    aas.register_scalable_target()
        .service_namespace(ServiceNamespace::Sagemaker)
        .resource_id(resource)
        .scalable_dimension(ScalableDimension::SageMakerVariantDesiredInstanceCount)
        .min_capacity(min)
        .max_capacity(max)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| code(e.as_service_error().expect("a service error")))
}

#[tokio::test]
async fn the_seed_scaling_setup_is_kept_validated_and_removed() {
    let c = common::start(20.0).await;
    common::create(&c, "seed", &[], 1, Some(10), EndpointStatus::InService).await;
    let aas = c.autoscaling();
    let cw = c.cloudwatch();
    // AWS's checks: the variant must exist, min <= max.
    let err = register(&aas, "endpoint/nope/variant/AllTraffic", 0, 5)
        .await
        .unwrap_err();
    assert!(err.contains("does not exist"), "{err}");
    let err = register(&aas, RESOURCE, 3, 1).await.unwrap_err();
    assert!(err.contains("cannot be greater than maximum"), "{err}");
    register(&aas, RESOURCE, 0, 5).await.unwrap();
    let targets = aas
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Sagemaker)
        .send()
        .await
        .unwrap();
    let t = &targets.scalable_targets()[0];
    assert_eq!(
        (t.resource_id(), t.min_capacity(), t.max_capacity()),
        (RESOURCE, 0, 5)
    );

    // The seed's target tracking policy: AWS makes (and owns) a high and a low alarm.
    let tracking = aas
        .put_scaling_policy()
        .policy_name("Invocations-ScalingPolicy")
        .service_namespace(ServiceNamespace::Sagemaker)
        .resource_id(RESOURCE)
        .scalable_dimension(ScalableDimension::SageMakerVariantDesiredInstanceCount)
        .policy_type(PolicyType::TargetTrackingScaling)
        .target_tracking_scaling_policy_configuration(common::scaling::tracking("seed"))
        .send()
        .await
        .unwrap();
    assert_eq!(tracking.alarms().len(), 2);
    let alarms = cw.describe_alarms().send().await.unwrap();
    let high = alarms
        .metric_alarms()
        .iter()
        .find(|a| a.alarm_name().unwrap().contains("AlarmHigh"))
        .expect("target tracking's high alarm");
    assert_eq!(
        high.metric_name(),
        Some("ApproximateBacklogSizePerInstance")
    );
    assert_eq!(high.threshold(), Some(5.0));
    assert_eq!(high.alarm_actions(), [tracking.policy_arn().to_string()]);
    assert!(high.state_updated_timestamp().is_some());

    // Scale from zero: a step policy and the alarm that fires it.
    let step = aas
        .put_scaling_policy()
        .policy_name("HasBacklogWithoutCapacity-ScalingPolicy")
        .service_namespace(ServiceNamespace::Sagemaker)
        .resource_id(RESOURCE)
        .scalable_dimension(ScalableDimension::SageMakerVariantDesiredInstanceCount)
        .policy_type(PolicyType::StepScaling)
        .step_scaling_policy_configuration(
            StepScalingPolicyConfiguration::builder()
                .adjustment_type("ChangeInCapacity".into())
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
    let put = |name: &str, comparison: &str| {
        backlog_alarm(&c, name, "seed")
            .evaluation_periods(2)
            .threshold(1.0)
            .comparison_operator(comparison.into())
            .alarm_actions(step.policy_arn())
            .send()
    };
    let err = put("bad", "Sideways").await.unwrap_err();
    assert!(code(err.as_service_error().unwrap()).starts_with("InvalidParameterValue"));
    put(
        "seed-HasBacklogWithoutCapacity",
        ComparisonOperator::GreaterThanOrEqualToThreshold.as_str(),
    )
    .await
    .unwrap();
    let policies = aas
        .describe_scaling_policies()
        .service_namespace(ServiceNamespace::Sagemaker)
        .resource_id(RESOURCE)
        .send()
        .await
        .unwrap();
    let step_policy = policies
        .scaling_policies()
        .iter()
        .find(|p| p.policy_type() == &PolicyType::StepScaling)
        .unwrap();
    assert_eq!(
        step_policy.alarms()[0].alarm_name(),
        "seed-HasBacklogWithoutCapacity"
    );

    // DeleteAlarms is all or nothing; a missing alarm is named.
    let err = cw
        .delete_alarms()
        .alarm_names("seed-HasBacklogWithoutCapacity")
        .alarm_names("never-made")
        .send()
        .await
        .unwrap_err();
    let se = err.into_service_error();
    assert!(se.is_resource_not_found(), "{se:?}");
    assert!(code(&se).contains("never-made"));

    // Removing the tracking policy removes its alarms; deregistering removes the rest.
    aas.delete_scaling_policy()
        .policy_name("Invocations-ScalingPolicy")
        .service_namespace(ServiceNamespace::Sagemaker)
        .resource_id(RESOURCE)
        .scalable_dimension(ScalableDimension::SageMakerVariantDesiredInstanceCount)
        .send()
        .await
        .unwrap();
    let names: Vec<String> = cw
        .describe_alarms()
        .send()
        .await
        .unwrap()
        .metric_alarms()
        .iter()
        .filter_map(|a| a.alarm_name().map(str::to_string))
        .collect();
    assert_eq!(names, ["seed-HasBacklogWithoutCapacity"]);
    let deregister = || {
        aas.deregister_scalable_target()
            .service_namespace(ServiceNamespace::Sagemaker)
            .resource_id(RESOURCE)
            .scalable_dimension(ScalableDimension::SageMakerVariantDesiredInstanceCount)
            .send()
    };
    deregister().await.unwrap();
    let err = deregister().await.unwrap_err().into_service_error();
    assert!(err.is_object_not_found_exception(), "{err:?}");
    let left = aas
        .describe_scaling_policies()
        .service_namespace(ServiceNamespace::Sagemaker)
        .send()
        .await
        .unwrap();
    assert!(left.scaling_policies().is_empty());
    c.cloud.stop().await;
}

#[tokio::test]
async fn scaling_state_survives_a_restart() {
    let c = common::start(20.0).await;
    common::create(&c, "seed", &[], 1, Some(10), EndpointStatus::InService).await;
    register(&c.autoscaling(), RESOURCE, 0, 5).await.unwrap();
    let credentials = c.credentials();
    let data = c.stop().await;
    let c = common::restart(20.0, data, credentials).await;
    let targets = c
        .autoscaling()
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Sagemaker)
        .send()
        .await
        .unwrap();
    assert_eq!(targets.scalable_targets().len(), 1);
    c.cloud.stop().await;
}

#[tokio::test]
async fn metrics_go_in_and_come_back_through_the_sdk() {
    use aws_sdk_cloudwatch::primitives::DateTime;
    use aws_sdk_cloudwatch::types::{Metric, MetricDataQuery, MetricDatum, MetricStat};
    let c = common::start(1.0).await;
    let cw = c.cloudwatch();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let minute = now - now % 60 - 600;
    let dim = Dimension::builder().name("Queue").value("q").build();
    for (offset, v) in [(0, 2.0), (10, 6.0), (60, 1.0)] {
        cw.put_metric_data()
            .namespace("Ebb/Test")
            .metric_data(
                MetricDatum::builder()
                    .metric_name("Depth")
                    .dimensions(dim.clone())
                    .timestamp(DateTime::from_secs(minute + offset))
                    .value(v)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    let stat = MetricStat::builder()
        .metric(
            Metric::builder()
                .namespace("Ebb/Test")
                .metric_name("Depth")
                .dimensions(dim.clone())
                .build(),
        )
        .period(60)
        .stat("Average")
        .build();
    let out = cw
        .get_metric_data()
        .metric_data_queries(
            MetricDataQuery::builder()
                .id("depth")
                .metric_stat(stat)
                .build(),
        )
        .start_time(DateTime::from_secs(minute - 60))
        .end_time(DateTime::from_secs(now))
        .send()
        .await
        .unwrap();
    let r = &out.metric_data_results()[0];
    assert_eq!(r.id(), Some("depth"));
    assert_eq!(r.values(), [1.0, 4.0], "newest first");
    assert_eq!(
        r.timestamps().iter().map(|t| t.secs()).collect::<Vec<_>>(),
        [minute + 60, minute]
    );
    let stats = cw
        .get_metric_statistics()
        .namespace("Ebb/Test")
        .metric_name("Depth")
        .dimensions(dim)
        .start_time(DateTime::from_secs(minute - 60))
        .end_time(DateTime::from_secs(now))
        .period(60)
        .statistics(Statistic::Maximum)
        .send()
        .await
        .unwrap();
    assert_eq!(stats.datapoints().len(), 2);
    let listed = cw
        .list_metrics()
        .namespace("Ebb/Test")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.metrics()[0].metric_name(), Some("Depth"));
    // AWS/ namespaces belong to AWS.
    let err = cw
        .put_metric_data()
        .namespace("AWS/SageMaker")
        .metric_data(MetricDatum::builder().metric_name("X").value(1.0).build())
        .send()
        .await
        .unwrap_err();
    assert!(code(err.as_service_error().unwrap()).contains("reserved"));
    c.cloud.stop().await;
}
