//! An async endpoint's metrics for the charts and `ebb metrics`: the six AWS/SageMaker series
//! in one GetMetricData call, the instance count (from the scaling activities, since SageMaker
//! publishes no such metric), and the throughput of Ebb's own jobs on the same time axis.

use std::time::Duration;

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
use serde::Serialize;

use crate::aws_errors::{self, Context};
use crate::cloud::Clients;
use crate::error::Error;
use crate::scaling::status::{ActivityView, epoch_ms as ms};

/// The charted series: metric name, statistic, and what the number means.
pub const SERIES: [(&str, &str, &str); 6] = [
    (
        "ApproximateBacklogSize",
        "Average",
        "requests queued or in progress",
    ),
    (
        "ApproximateBacklogSizePerInstance",
        "Average",
        "backlog per instance",
    ),
    (
        "HasBacklogWithoutCapacity",
        "Maximum",
        "1 while requests wait at zero instances",
    ),
    (
        "ApproximateAgeOfOldestRequest",
        "Maximum",
        "seconds the oldest request has waited",
    ),
    ("InvocationsProcessed", "Sum", "requests completed"),
    ("InvocationFailures", "Sum", "requests failed"),
];

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Series {
    pub name: String,
    pub statistic: String,
    pub meaning: String,
    /// Epoch milliseconds, oldest first.
    pub times_ms: Vec<f64>,
    pub values: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct EndpointMetrics {
    pub endpoint: String,
    pub start_ms: f64,
    pub end_ms: f64,
    pub period_s: i32,
    pub series: Vec<Series>,
    /// Instance count as a step line: each point holds until the next.
    pub instances: Series,
    /// Ebb's own jobs on this endpoint: requests completed per period.
    pub jobs_completed: Series,
}

/// A period that keeps a chart under ~200 points, as CloudWatch's own console does.
pub fn period_for(span: Duration) -> i32 {
    match span.as_secs() {
        0..=10_800 => 60,
        10_801..=86_400 => 300,
        _ => 3600,
    }
}

fn series(name: &str, statistic: &str, meaning: &str) -> Series {
    Series {
        name: name.into(),
        statistic: statistic.into(),
        meaning: meaning.into(),
        times_ms: Vec::new(),
        values: Vec::new(),
    }
}

/// The six series over [now - span, now].
pub async fn read(
    clients: &Clients,
    ctx: Context<'_>,
    endpoint: &str,
    span: Duration,
) -> Result<(Vec<Series>, f64, f64, i32), Error> {
    let end = std::time::SystemTime::now();
    let start = end - span;
    let period = period_for(span);
    let queries: Vec<MetricDataQuery> = SERIES
        .iter()
        .enumerate()
        .map(|(i, (name, stat, _))| {
            MetricDataQuery::builder()
                .id(format!("m{i}"))
                .metric_stat(
                    MetricStat::builder()
                        .metric(
                            Metric::builder()
                                .namespace("AWS/SageMaker")
                                .metric_name(*name)
                                .dimensions(
                                    Dimension::builder()
                                        .name("EndpointName")
                                        .value(endpoint)
                                        .build(),
                                )
                                .build(),
                        )
                        .period(period)
                        .stat(*stat)
                        .build(),
                )
                .build()
        })
        .collect();
    let mut out: Vec<Series> = SERIES.iter().map(|(n, s, m)| series(n, s, m)).collect();
    let mut token: Option<String> = None;
    loop {
        let page = clients
            .cloudwatch
            .get_metric_data()
            .set_metric_data_queries(Some(queries.clone()))
            .start_time(DateTime::from(start))
            .end_time(DateTime::from(end))
            .scan_by(ScanBy::TimestampAscending)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| aws_errors::failed(&e, ctx, "cloudwatch:GetMetricData"))?;
        for r in page.metric_data_results() {
            let Some(i) = r
                .id()
                .and_then(|id| id.strip_prefix('m'))
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|i| *i < out.len())
            else {
                continue;
            };
            let s = &mut out[i];
            s.times_ms.extend(r.timestamps().iter().map(ms));
            s.values.extend_from_slice(r.values());
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    // Pages may interleave; every series is shown oldest first.
    for s in &mut out {
        let mut points: Vec<(f64, f64)> = s
            .times_ms
            .iter()
            .copied()
            .zip(s.values.iter().copied())
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        (s.times_ms, s.values) = points.into_iter().unzip();
    }
    let to_ms = |t: std::time::SystemTime| ms(&DateTime::from(t));
    Ok((out, to_ms(start), to_ms(end), period))
}

/// The count each completed activity set ("Setting desired instance count to N.").
fn count_set_by(a: &ActivityView) -> Option<f64> {
    a.description
        .strip_prefix("Setting desired instance count to ")?
        .trim_end_matches('.')
        .parse()
        .ok()
}

/// Instance count over [start, end] as steps: the count set by each successful activity
/// (newest first in `activities`) from when it completed, ending at `current` now.
pub fn instance_steps(
    activities: &[ActivityView],
    current: u32,
    start_ms: f64,
    end_ms: f64,
) -> Series {
    let mut s = series("InstanceCount", "Steps", "instances in service");
    let mut done: Vec<(f64, f64)> = activities
        .iter()
        .filter(|a| a.status == "Successful")
        .filter_map(|a| Some((a.end_ms?, count_set_by(a)?)))
        .collect();
    done.sort_by(|a, b| a.0.total_cmp(&b.0));
    // The count at the start is what the last change before it set, if there was one.
    if let Some((_, before)) = done.iter().rev().find(|(t, _)| *t < start_ms) {
        s.times_ms.push(start_ms);
        s.values.push(*before);
    } else if done.is_empty() {
        s.times_ms.push(start_ms);
        s.values.push(f64::from(current));
    }
    for (t, n) in done
        .into_iter()
        .filter(|(t, _)| *t >= start_ms && *t <= end_ms)
    {
        s.times_ms.push(t);
        s.values.push(n);
    }
    s.times_ms.push(end_ms);
    s.values.push(f64::from(current));
    s
}

/// The area under instance-count steps (times in ms): instance-hours.
pub fn instance_hours(steps: &Series) -> f64 {
    let ms: f64 = steps
        .times_ms
        .windows(2)
        .zip(&steps.values)
        .map(|(t, n)| (t[1] - t[0]).max(0.0) * n)
        .sum();
    ms / 3_600_000.0
}

/// Completed-per-period counts of Ebb's jobs as a series.
pub fn jobs_series(counts: &[(i64, u64, u64)]) -> Series {
    let mut s = series(
        "JobRequestsCompleted",
        "Sum",
        "Ebb job requests completed (succeeded + failed)",
    );
    for (at, ok, failed) in counts {
        s.times_ms.push(*at as f64 * 1000.0);
        s.values.push((ok + failed) as f64);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn activity(end_s: f64, to: u32) -> ActivityView {
        ActivityView {
            start_ms: end_s * 1000.0 - 500.0,
            end_ms: Some(end_s * 1000.0),
            description: format!("Setting desired instance count to {to}."),
            cause: String::new(),
            status: "Successful".into(),
            message: None,
        }
    }

    #[test]
    fn instance_count_steps_follow_the_activities() {
        // Newest first, as DescribeScalingActivities answers.
        let history = [activity(300.0, 0), activity(200.0, 5), activity(50.0, 1)];
        let s = instance_steps(&history, 0, 100_000.0, 400_000.0);
        assert_eq!(s.times_ms, [100_000.0, 200_000.0, 300_000.0, 400_000.0]);
        assert_eq!(s.values, [1.0, 5.0, 0.0, 0.0]);
        let quiet = instance_steps(&[], 2, 0.0, 10.0);
        assert_eq!(quiet.values, [2.0, 2.0]);
    }

    #[test]
    fn periods_keep_charts_readable() {
        assert_eq!(period_for(Duration::from_secs(3600)), 60);
        assert_eq!(period_for(Duration::from_secs(86_400)), 300);
        assert_eq!(period_for(Duration::from_secs(7 * 86_400)), 3600);
    }

    #[test]
    fn instance_hours_are_the_area_under_the_steps() {
        let mut steps = series("InstanceCount", "Steps", "");
        // 2 instances for an hour, then 0 for half an hour, then 1 for half an hour.
        steps.times_ms = vec![0.0, 3_600_000.0, 5_400_000.0, 7_200_000.0];
        steps.values = vec![2.0, 0.0, 1.0, 1.0];
        assert!((instance_hours(&steps) - 2.5).abs() < 1e-9);
    }
}
