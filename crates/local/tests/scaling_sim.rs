//! The seed's autoscaling, simulated: with the clock sped up, a backlog at zero instances
//! wakes the endpoint through the HasBacklogWithoutCapacity step policy, target tracking
//! scales it out, the backlog drains, target tracking scales it back to zero, and one more
//! request wakes it again. Everything through the SDK clients, as a user would watch it.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_applicationautoscaling::types::{ScalingActivityStatusCode, ServiceNamespace};
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, StateValue};
use aws_sdk_sagemaker::types::DesiredWeightAndCapacity;
use aws_sdk_sagemakerruntime::primitives::Blob;

const NAME: &str = "seed";
const REQUESTS: u64 = 300;

/// What a watcher saw: the instance counts and the alarm's states, each change once.
#[derive(Default)]
struct Seen {
    instances: Vec<i32>,
    alarm: Vec<StateValue>,
}

fn push_change<T: PartialEq>(list: &mut Vec<T>, value: T) {
    if list.last() != Some(&value) {
        list.push(value);
    }
}

async fn invoke(c: &common::Cloud, n: u64) {
    let runtime = c.runtime();
    for i in 0..n {
        runtime
            .invoke_endpoint_async()
            .endpoint_name(NAME)
            .body(Blob::new(format!(
                r#"{{"inputs": "request {i}", "parameters": {{"max_new_tokens": 20}}}}"#
            )))
            .content_type("application/json")
            .send()
            .await
            .unwrap();
    }
}

async fn succeeded(c: &common::Cloud, n: u64, what: &str, limit: Duration) {
    common::eventually(what, limit, || async {
        let s = c.cloud.endpoint_stats(NAME)?;
        assert_eq!(s.failed, 0, "no request may fail");
        (s.succeeded >= n).then_some(())
    })
    .await
}

async fn metric_max(c: &common::Cloud, metric: &str) -> f64 {
    let now = std::time::SystemTime::now();
    let out = c
        .cloudwatch()
        .get_metric_data()
        .start_time(DateTime::from(now - Duration::from_secs(3 * 3600)))
        .end_time(DateTime::from(now))
        .metric_data_queries(
            MetricDataQuery::builder()
                .id("m")
                .metric_stat(
                    MetricStat::builder()
                        .metric(
                            Metric::builder()
                                .namespace("AWS/SageMaker")
                                .metric_name(metric)
                                .dimensions(
                                    Dimension::builder()
                                        .name("EndpointName")
                                        .value(NAME)
                                        .build(),
                                )
                                .build(),
                        )
                        .period(60)
                        .stat("Maximum")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let result = &out.metric_data_results()[0];
    // Every point is in the past of the client's clock, newest first.
    let stamps: Vec<f64> = result
        .timestamps()
        .iter()
        .map(|t| t.as_secs_f64())
        .collect();
    let now = DateTime::from(now).as_secs_f64();
    assert!(stamps.iter().all(|t| *t <= now), "{stamps:?} after {now}");
    assert!(stamps.windows(2).all(|w| w[0] > w[1]), "{stamps:?}");
    result.values().iter().copied().fold(f64::NAN, f64::max)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_scenario_scales_zero_to_several_to_zero_and_wakes_again() {
    // A minute of simulated time per real second; instances take two simulated minutes to start.
    let c = common::start_with_startup(60.0, Duration::from_secs(120)).await;
    // 20 tokens at 1 s each: every request takes 20 simulated seconds.
    common::deploy(&c, NAME, &[("EBB_LOCAL_TOKEN_LATENCY_MS", "1000")], 1, 10).await;
    let alarm = common::scaling::seed(&c, NAME, 5).await;
    let sm = c.sagemaker();
    sm.update_endpoint_weights_and_capacities()
        .endpoint_name(NAME)
        .desired_weights_and_capacities(
            DesiredWeightAndCapacity::builder()
                .variant_name("AllTraffic")
                .desired_instance_count(0)
                .build(),
        )
        .send()
        .await
        .unwrap();
    common::eventually("the endpoint at zero", Duration::from_secs(20), || async {
        let d = sm
            .describe_endpoint()
            .endpoint_name(NAME)
            .send()
            .await
            .ok()?;
        (d.production_variants()[0].current_instance_count() == Some(0)).then_some(())
    })
    .await;

    let seen = Arc::new(Mutex::new(Seen::default()));
    let watcher = {
        let (seen, sm, cw, alarm) = (seen.clone(), sm.clone(), c.cloudwatch(), alarm.clone());
        tokio::spawn(async move {
            loop {
                let d = sm
                    .describe_endpoint()
                    .endpoint_name(NAME)
                    .send()
                    .await
                    .unwrap();
                let count = d.production_variants()[0].current_instance_count().unwrap();
                let a = cw
                    .describe_alarms()
                    .alarm_names(&alarm)
                    .send()
                    .await
                    .unwrap();
                let state = a.metric_alarms()[0].state_value().unwrap().clone();
                {
                    let mut s = seen.lock().unwrap();
                    push_change(&mut s.instances, count);
                    push_change(&mut s.alarm, state);
                }
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        })
    };

    invoke(&c, REQUESTS).await;
    succeeded(
        &c,
        REQUESTS,
        "every request to complete",
        Duration::from_secs(120),
    )
    .await;
    common::eventually(
        "target tracking to scale in to zero",
        Duration::from_secs(120),
        || async { (seen.lock().unwrap().instances.last() == Some(&0)).then_some(()) },
    )
    .await;
    invoke(&c, 1).await;
    succeeded(
        &c,
        REQUESTS + 1,
        "the late request to wake the endpoint",
        Duration::from_secs(60),
    )
    .await;
    // The watcher's own calls may be throttled (AWS-like mode): give it time to see the wake-up.
    common::eventually(
        "the watcher to see the endpoint awake",
        Duration::from_secs(20),
        || async { (seen.lock().unwrap().instances.last() == Some(&1)).then_some(()) },
    )
    .await;
    watcher.abort();

    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(seen.instances, [0, 1, 5, 0, 1], "instance counts over time");
    // The wake-up alarm went off for each backlog at zero and cleared once capacity came.
    let alarms: Vec<&str> = seen.alarm.iter().map(|s| s.as_str()).collect();
    assert_eq!(
        alarms.iter().filter(|s| **s == "ALARM").count(),
        2,
        "{alarms:?}"
    );
    assert!(alarms.contains(&"OK"), "{alarms:?}");

    // The history says what happened and why, newest first.
    let activities = c
        .autoscaling()
        .describe_scaling_activities()
        .service_namespace(ServiceNamespace::Sagemaker)
        .resource_id(common::scaling::resource(NAME))
        .send()
        .await
        .unwrap();
    let lines: Vec<(String, String)> = activities
        .scaling_activities()
        .iter()
        .map(|a| {
            assert_eq!(
                a.status_code(),
                &ScalingActivityStatusCode::Successful,
                "{a:?}"
            );
            (a.description().to_string(), a.cause().to_string())
        })
        .collect();
    let described: Vec<&str> = lines.iter().map(|l| l.0.as_str()).rev().collect();
    assert_eq!(
        described,
        [
            "Setting desired instance count to 1.",
            "Setting desired instance count to 5.",
            "Setting desired instance count to 0.",
            "Setting desired instance count to 1.",
        ]
    );
    assert!(lines[0].1.contains(&format!("monitor alarm {alarm} in state ALARM triggered policy HasBacklogWithoutCapacity-ScalingPolicy")), "{lines:?}");
    assert!(
        lines[1].1.contains("AlarmLow") && lines[1].1.contains("Invocations-ScalingPolicy"),
        "{lines:?}"
    );
    assert!(lines[2].1.contains("AlarmHigh"), "{lines:?}");

    // The metrics a chart would draw.
    let backlog = metric_max(&c, "ApproximateBacklogSize").await;
    assert!(backlog >= 200.0, "peak backlog {backlog}");
    assert_eq!(metric_max(&c, "HasBacklogWithoutCapacity").await, 1.0);
    assert!(metric_max(&c, "ApproximateAgeOfOldestRequest").await >= 60.0);
    c.cloud.stop().await;
}
