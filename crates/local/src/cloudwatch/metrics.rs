//! CloudWatch metrics: PutMetricData, GetMetricStatistics, GetMetricData and ListMetrics over an
//! in-memory store of samples, aggregated per period with the usual statistics. The simulated
//! endpoints publish their AWS/SageMaker metrics here directly.
//!
//! Samples are stamped in simulated seconds (see [`Clock`]); clients' epoch timestamps are
//! converted at this boundary, so periods and "the last hour" mean simulated time.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::{Value, json};

use super::{invalid, missing};
use crate::sagemaker::api::{ApiError, ApiResult, optional_str};
use crate::sim::clock::Clock;

/// Samples kept per series (older ones are dropped first).
const MAX_SAMPLES: usize = 200_000;
const STATISTICS: [&str; 5] = ["SampleCount", "Average", "Sum", "Minimum", "Maximum"];

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MetricKey {
    pub namespace: String,
    pub name: String,
    /// Sorted by name: CloudWatch matches the whole set.
    pub dimensions: Vec<(String, String)>,
}

impl MetricKey {
    pub fn new(namespace: &str, name: &str, dimensions: &[(&str, &str)]) -> MetricKey {
        let mut dimensions: Vec<(String, String)> = dimensions
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        dimensions.sort();
        MetricKey {
            namespace: namespace.to_string(),
            name: name.to_string(),
            dimensions,
        }
    }

    fn dimensions_json(&self) -> Value {
        json!(
            self.dimensions
                .iter()
                .map(|(n, v)| json!({ "Name": n, "Value": v }))
                .collect::<Vec<_>>()
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Simulated seconds (see [`Clock::now`]).
    pub at: f64,
    pub count: f64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
}

impl Sample {
    pub fn value(at: f64, v: f64) -> Sample {
        Sample {
            at,
            count: 1.0,
            sum: v,
            min: v,
            max: v,
        }
    }

    fn merge(&mut self, o: &Sample) {
        self.count += o.count;
        self.sum += o.sum;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
    }

    pub fn stat(&self, name: &str) -> Option<f64> {
        Some(match name {
            "SampleCount" => self.count,
            "Average" => self.sum / self.count.max(f64::MIN_POSITIVE),
            "Sum" => self.sum,
            "Minimum" => self.min,
            "Maximum" => self.max,
            _ => return None,
        })
    }
}

#[derive(Debug)]
pub struct Metrics {
    series: Mutex<BTreeMap<MetricKey, Vec<Sample>>>,
    clock: Clock,
}

/// `[{Name, Value}]` as pairs; a filter may leave the value out.
fn dimension_pairs(v: &Value) -> Vec<(String, Option<String>)> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| {
                    Some((
                        d["Name"].as_str()?.to_string(),
                        d["Value"].as_str().map(str::to_string),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn dimensions_of(v: &Value) -> Vec<(String, String)> {
    let mut d: Vec<(String, String)> = dimension_pairs(v)
        .into_iter()
        .filter_map(|(n, v)| Some((n, v?)))
        .collect();
    d.sort();
    d
}

fn key_of(namespace: &str, metric: &Value) -> Result<MetricKey, ApiError> {
    Ok(MetricKey {
        namespace: namespace.to_string(),
        name: metric["MetricName"]
            .as_str()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| missing("MetricName"))?
            .to_string(),
        dimensions: dimensions_of(&metric["Dimensions"]),
    })
}

fn time(input: &Value, field: &str) -> Result<f64, ApiError> {
    input
        .get(field)
        .and_then(Value::as_f64)
        .ok_or_else(|| missing(field))
}

fn period(input: &Value) -> Result<f64, ApiError> {
    match input.get("Period").and_then(Value::as_u64) {
        Some(p) if p == 1 || p == 5 || p == 10 || p == 30 || (p >= 60 && p % 60 == 0) => {
            Ok(p as f64)
        }
        Some(p) => Err(invalid(format!(
            "Period {p} must be 1, 5, 10, 30 or a multiple of 60 seconds."
        ))),
        None => Err(missing("Period")),
    }
}

impl Metrics {
    pub fn new(clock: Clock) -> Metrics {
        Metrics {
            series: Mutex::default(),
            clock,
        }
    }

    /// Records one sample (the simulation publishes through this).
    pub fn put(&self, key: MetricKey, sample: Sample) {
        if let Ok(mut series) = self.series.lock() {
            let s = series.entry(key).or_default();
            s.push(sample);
            if s.len() > MAX_SAMPLES {
                let excess = s.len() - MAX_SAMPLES;
                s.drain(..excess);
            }
        }
    }

    /// Samples of `key` taken in the simulated span [start, end), merged into one.
    pub fn window(&self, key: &MetricKey, start: f64, end: f64) -> Option<Sample> {
        let series = self.series.lock().ok()?;
        let mut merged: Option<Sample> = None;
        for s in series
            .get(key)?
            .iter()
            .filter(|s| s.at >= start && s.at < end)
        {
            match &mut merged {
                Some(m) => m.merge(s),
                None => merged = Some(*s),
            }
        }
        merged
    }

    /// Samples of `key` shown in the epoch span [start, end), merged per `period` of the
    /// client's timeline, oldest first; each with its period's epoch start.
    pub fn aggregate(
        &self,
        key: &MetricKey,
        start: f64,
        end: f64,
        period: f64,
    ) -> Vec<(f64, Sample)> {
        // Simulated instant -> the epoch a client sees it at.
        let offset = self.clock.epoch_of(0.0);
        let mut buckets: BTreeMap<i64, Sample> = BTreeMap::new();
        if let Ok(series) = self.series.lock()
            && let Some(samples) = series.get(key)
        {
            for s in samples {
                let at = s.at + offset;
                if at < start || at >= end {
                    continue;
                }
                let b = (at / period).floor() as i64;
                buckets
                    .entry(b)
                    .and_modify(|m| m.merge(s))
                    .or_insert(Sample {
                        at: b as f64 * period,
                        ..*s
                    });
            }
        }
        buckets.into_values().map(|s| (s.at, s)).collect()
    }

    pub fn handle(&self, op: &str, input: &Value) -> Option<ApiResult> {
        Some(match op {
            "PutMetricData" => self.put_metric_data(input),
            "GetMetricStatistics" => self.get_metric_statistics(input),
            "GetMetricData" => self.get_metric_data(input),
            "ListMetrics" => self.list_metrics(input),
            _ => return None,
        })
    }

    fn put_metric_data(&self, input: &Value) -> ApiResult {
        let namespace = optional_str(input, "Namespace")
            .filter(|n| !n.is_empty())
            .ok_or_else(|| missing("Namespace"))?;
        if namespace.starts_with("AWS/") {
            return Err(invalid(
                "The value AWS/ for parameter Namespace is invalid: AWS/ namespaces are reserved for AWS services.",
            ));
        }
        let data = input["MetricData"]
            .as_array()
            .filter(|d| !d.is_empty())
            .ok_or_else(|| missing("MetricData"))?;
        let mut samples = Vec::new();
        for m in data {
            let key = key_of(namespace, m)?;
            let at = m
                .get("Timestamp")
                .and_then(Value::as_f64)
                .map_or_else(|| self.clock.now(), |t| self.clock.sim_of(t));
            if let Some(v) = m.get("Value").and_then(Value::as_f64) {
                samples.push((key, Sample::value(at, v)));
            } else if let Some(values) = m.get("Values").and_then(Value::as_array) {
                let counts = m.get("Counts").and_then(Value::as_array);
                for (i, v) in values.iter().enumerate() {
                    let v = v
                        .as_f64()
                        .ok_or_else(|| invalid("Values must be numbers."))?;
                    let n = counts
                        .and_then(|c| c.get(i))
                        .and_then(Value::as_f64)
                        .unwrap_or(1.0);
                    samples.push((
                        key.clone(),
                        Sample {
                            at,
                            count: n,
                            sum: v * n,
                            min: v,
                            max: v,
                        },
                    ));
                }
            } else if let Some(s) = m.get("StatisticValues") {
                let f = |k: &str| {
                    s.get(k)
                        .and_then(Value::as_f64)
                        .ok_or_else(|| missing(&format!("StatisticValues.{k}")))
                };
                samples.push((
                    key,
                    Sample {
                        at,
                        count: f("SampleCount")?,
                        sum: f("Sum")?,
                        min: f("Minimum")?,
                        max: f("Maximum")?,
                    },
                ));
            } else {
                return Err(missing("Value"));
            }
        }
        for (k, s) in samples {
            self.put(k, s);
        }
        Ok(json!({}))
    }

    fn get_metric_statistics(&self, input: &Value) -> ApiResult {
        let namespace = optional_str(input, "Namespace").ok_or_else(|| missing("Namespace"))?;
        let key = key_of(namespace, input)?;
        let (start, end, period) = (
            time(input, "StartTime")?,
            time(input, "EndTime")?,
            period(input)?,
        );
        let wanted: Vec<&str> = input["Statistics"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if wanted.is_empty() {
            return Err(missing("Statistics"));
        }
        if let Some(bad) = wanted.iter().find(|w| !STATISTICS.contains(w)) {
            return Err(invalid(format!(
                "Statistic {bad} is not one of {}.",
                STATISTICS.join(", ")
            )));
        }
        let points: Vec<Value> = self
            .aggregate(&key, start, end, period)
            .into_iter()
            .map(|(at, s)| {
                let mut p = json!({ "Timestamp": at, "Unit": "None" });
                for w in &wanted {
                    p[*w] = json!(s.stat(w).unwrap_or(0.0));
                }
                p
            })
            .collect();
        Ok(json!({ "Label": key.name, "Datapoints": points }))
    }

    fn get_metric_data(&self, input: &Value) -> ApiResult {
        let queries = input["MetricDataQueries"]
            .as_array()
            .filter(|q| !q.is_empty())
            .ok_or_else(|| missing("MetricDataQueries"))?;
        let (start, end) = (time(input, "StartTime")?, time(input, "EndTime")?);
        let ascending = optional_str(input, "ScanBy") == Some("TimestampAscending");
        let mut results = Vec::new();
        for q in queries {
            let id = q["Id"]
                .as_str()
                .ok_or_else(|| missing("MetricDataQueries.member.Id"))?;
            let Some(stat) = q.get("MetricStat") else {
                return Err(invalid(format!(
                    "Query {id}: the local cloud answers MetricStat queries, not metric math expressions."
                )));
            };
            let metric = &stat["Metric"];
            let key = key_of(
                metric["Namespace"]
                    .as_str()
                    .ok_or_else(|| missing("Metric.Namespace"))?,
                metric,
            )?;
            let name = stat["Stat"]
                .as_str()
                .ok_or_else(|| missing("MetricStat.Stat"))?;
            if !STATISTICS.contains(&name) {
                return Err(invalid(format!(
                    "Query {id}: statistic {name} is not one of {}.",
                    STATISTICS.join(", ")
                )));
            }
            let mut points: Vec<(f64, f64)> = self
                .aggregate(&key, start, end, period(stat)?)
                .into_iter()
                .filter_map(|(at, s)| Some((at, s.stat(name)?)))
                .collect();
            if !ascending {
                points.reverse();
            }
            if q["ReturnData"].as_bool() == Some(false) {
                continue;
            }
            results.push(json!({
                "Id": id,
                "Label": q["Label"].as_str().unwrap_or(&key.name),
                "Timestamps": points.iter().map(|p| p.0).collect::<Vec<_>>(),
                "Values": points.iter().map(|p| p.1).collect::<Vec<_>>(),
                "StatusCode": "Complete",
            }));
        }
        Ok(json!({ "MetricDataResults": results, "Messages": [] }))
    }

    fn list_metrics(&self, input: &Value) -> ApiResult {
        let namespace = optional_str(input, "Namespace");
        let name = optional_str(input, "MetricName");
        let filters = dimension_pairs(&input["Dimensions"]);
        let series = self
            .series
            .lock()
            .map_err(|_| ApiError::internal("the metrics lock is poisoned"))?;
        let metrics: Vec<Value> = series
            .keys()
            .filter(|k| namespace.is_none_or(|n| k.namespace == n))
            .filter(|k| name.is_none_or(|n| k.name == n))
            .filter(|k| {
                filters.iter().all(|(fname, fvalue)| {
                    k.dimensions.iter().any(|(n, v)| n == fname && fvalue.as_ref().is_none_or(|fv| fv == v))
                })
            })
            .map(|k| json!({ "Namespace": k.namespace, "MetricName": k.name, "Dimensions": k.dimensions_json() }))
            .collect();
        let (page, next) = crate::sagemaker::api::page(metrics, input, 500);
        let mut out = json!({ "Metrics": page });
        if let Some(t) = next {
            out["NextToken"] = json!(t);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_merged_per_period_with_every_statistic() {
        let clock = Clock::new(1.0);
        let m = Metrics::new(clock.clone());
        let key = MetricKey::new(
            "AWS/SageMaker",
            "ApproximateBacklogSize",
            &[("EndpointName", "seed")],
        );
        // Two periods of the client's timeline, ten minutes ago.
        let base = (crate::sagemaker::api::now_epoch() / 60.0).floor() * 60.0 - 600.0;
        for (at, v) in [(5.0, 4.0), (35.0, 8.0), (70.0, 1.0)] {
            m.put(key.clone(), Sample::value(clock.sim_of(base + at), v));
        }
        let points = m.aggregate(&key, base, base + 300.0, 60.0);
        assert_eq!(points.len(), 2);
        let (at, first) = points[0];
        assert_eq!(at, base);
        assert_eq!(
            ["SampleCount", "Average", "Sum", "Minimum", "Maximum"].map(|s| first.stat(s).unwrap()),
            [2.0, 6.0, 12.0, 4.0, 8.0]
        );
        assert_eq!(points[1].0, base + 60.0);
        let whole = m.window(&key, clock.sim_of(base), clock.sim_of(base + 120.0));
        assert_eq!(whole.map(|w| w.max), Some(8.0));
    }

    #[test]
    fn get_metric_data_answers_newest_first_and_refuses_what_it_cannot() {
        let m = Metrics::new(Clock::new(1.0));
        let input = json!({ "Namespace": "Ebb/Test", "MetricData": [
            { "MetricName": "Depth", "Dimensions": [{ "Name": "Queue", "Value": "q" }], "Timestamp": 130.0, "Value": 3.0 },
            { "MetricName": "Depth", "Dimensions": [{ "Name": "Queue", "Value": "q" }], "Timestamp": 200.0, "Values": [1.0, 5.0], "Counts": [1.0, 1.0] },
        ]});
        m.put_metric_data(&input).unwrap();
        let q = json!({ "StartTime": 0.0, "EndTime": 600.0, "MetricDataQueries": [{ "Id": "d", "MetricStat": {
            "Metric": { "Namespace": "Ebb/Test", "MetricName": "Depth", "Dimensions": [{ "Name": "Queue", "Value": "q" }] },
            "Period": 60, "Stat": "Maximum" } }] });
        let out = m.get_metric_data(&q).unwrap();
        assert_eq!(
            out["MetricDataResults"][0]["Timestamps"],
            json!([180.0, 120.0])
        );
        assert_eq!(out["MetricDataResults"][0]["Values"], json!([5.0, 3.0]));
        let reserved = m.put_metric_data(&json!({ "Namespace": "AWS/SageMaker", "MetricData": [{ "MetricName": "x", "Value": 1.0 }] }));
        assert!(reserved.unwrap_err().message.contains("reserved"));
        let listed = m
            .list_metrics(&json!({ "Dimensions": [{ "Name": "Queue" }] }))
            .unwrap();
        assert_eq!(listed["Metrics"][0]["MetricName"], "Depth");
    }
}
