//! CloudWatch (`GraniteServiceVersion20100801`), what Ebb's scaling uses: metric alarms
//! (PutMetricAlarm, DescribeAlarms, DeleteAlarms, evaluated every period in `evaluate`) and
//! metrics (`metrics`). The same handler answers Smithy RPC v2 CBOR (`aws-sdk-cloudwatch`) and
//! awsJson1_0 (boto3).

pub mod cbor;
pub mod evaluate;
pub mod metrics;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use http::StatusCode;
use serde_json::{Value, json};

use crate::sagemaker::api::{ApiError, ApiResult, now_epoch, optional_str, page_by, required_str};
use crate::sim::clock::Clock;

const COMPARISONS: &[&str] = &[
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
    "LessThanLowerOrGreaterThanUpperThreshold",
    "LessThanLowerThreshold",
    "GreaterThanUpperThreshold",
];
const STATISTICS: &[&str] = &["SampleCount", "Average", "Sum", "Minimum", "Maximum"];

/// Metric alarms by name, saved to `cloudwatch.json`.
pub struct CloudWatch {
    file: PathBuf,
    alarms: Mutex<BTreeMap<String, Value>>,
    /// Metric samples (in memory: a restart starts the charts afresh).
    pub metrics: metrics::Metrics,
    /// The period (simulated instant / period) each alarm was last evaluated for.
    evaluated: Mutex<HashMap<String, i64>>,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        code: "InvalidParameterValue",
        message: message.into(),
    }
}

fn missing(field: &str) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        code: "MissingParameter",
        message: format!("The parameter {field} is required."),
    }
}

/// The ARNs in one of an alarm's action lists.
pub(crate) fn actions<'a>(alarm: &'a Value, list: &str) -> impl Iterator<Item = &'a str> {
    alarm[list]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

pub fn alarm_arn(name: &str) -> String {
    format!(
        "arn:aws:cloudwatch:{}:{}:alarm:{name}",
        crate::REGION,
        crate::ACCOUNT_ID
    )
}

fn strings(input: &Value, field: &str) -> Vec<String> {
    input
        .get(field)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Config members PutMetricAlarm takes and DescribeAlarms returns as they were sent.
const ECHOED: &[&str] = &[
    "AlarmDescription",
    "OKActions",
    "AlarmActions",
    "InsufficientDataActions",
    "MetricName",
    "Namespace",
    "Statistic",
    "ExtendedStatistic",
    "Dimensions",
    "Period",
    "Unit",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "EvaluateLowSampleCountPercentile",
    "Metrics",
    "ThresholdMetricId",
];

impl CloudWatch {
    /// The alarms saved in `cloudwatch.json` in the data folder.
    /// Errors: [`crate::Error::State`] when that file exists but cannot be read.
    pub fn open(data_dir: &std::path::Path, clock: Clock) -> Result<CloudWatch, crate::Error> {
        let file = data_dir.join("cloudwatch.json");
        Ok(CloudWatch {
            alarms: Mutex::new(crate::persist::load(&file, "CloudWatch alarms")?),
            file,
            metrics: metrics::Metrics::new(clock),
            evaluated: Mutex::default(),
        })
    }

    fn lock(&self) -> Result<MutexGuard<'_, BTreeMap<String, Value>>, ApiError> {
        self.alarms
            .lock()
            .map_err(|_| ApiError::internal("the local CloudWatch state lock is poisoned"))
    }

    fn save(&self, alarms: &BTreeMap<String, Value>) -> Result<(), ApiError> {
        crate::persist::save(&self.file, alarms)
            .map_err(|e| ApiError::internal(format!("could not save {}: {e}", self.file.display())))
    }

    /// Runs one operation; `op` is the last part of the target or path.
    pub fn handle(&self, op: &str, input: &Value) -> ApiResult {
        match op {
            "PutMetricAlarm" => self.put_metric_alarm(input).map(|()| json!({})),
            "DescribeAlarms" => self.describe_alarms(input),
            "DeleteAlarms" => self.delete_alarms(input),
            other => self.metrics.handle(other, input).unwrap_or_else(|| {
                Err(ApiError {
                    status: StatusCode::BAD_REQUEST,
                    code: "InvalidAction",
                    message: format!("the local cloud does not implement CloudWatch {other} yet"),
                })
            }),
        }
    }

    /// Creates or replaces a metric alarm; a new alarm starts in INSUFFICIENT_DATA.
    pub fn put_metric_alarm(&self, input: &Value) -> Result<(), ApiError> {
        let name = optional_str(input, "AlarmName")
            .filter(|n| !n.is_empty())
            .ok_or_else(|| missing("AlarmName"))?;
        if name.len() > 255 {
            return Err(invalid("AlarmName must be at most 255 characters."));
        }
        let comparison = optional_str(input, "ComparisonOperator")
            .ok_or_else(|| missing("ComparisonOperator"))?;
        if !COMPARISONS.contains(&comparison) {
            return Err(invalid(format!(
                "ComparisonOperator `{comparison}` is not one of {}.",
                COMPARISONS.join(", ")
            )));
        }
        match input.get("EvaluationPeriods").and_then(Value::as_u64) {
            Some(n) if n >= 1 => {}
            _ => {
                return Err(invalid(
                    "EvaluationPeriods must be a whole number of at least 1.",
                ));
            }
        }
        let metrics = input.get("Metrics").is_some_and(|m| !m.is_null());
        if !metrics {
            required_str(input, "MetricName").map_err(|_| missing("MetricName"))?;
            required_str(input, "Namespace").map_err(|_| missing("Namespace"))?;
            let period = input
                .get("Period")
                .and_then(Value::as_u64)
                .ok_or_else(|| missing("Period"))?;
            if !(period == 10 || period == 30 || (period >= 60 && period % 60 == 0)) {
                return Err(invalid(
                    "Period must be 10, 30 or a multiple of 60 seconds.",
                ));
            }
            match (
                optional_str(input, "Statistic"),
                optional_str(input, "ExtendedStatistic"),
            ) {
                (Some(s), None) if STATISTICS.contains(&s) => {}
                (None, Some(_)) => {}
                (Some(s), None) => {
                    return Err(invalid(format!(
                        "Statistic `{s}` is not one of {}.",
                        STATISTICS.join(", ")
                    )));
                }
                _ => {
                    return Err(invalid(
                        "Exactly one of Statistic and ExtendedStatistic must be given.",
                    ));
                }
            }
        }
        if input.get("Threshold").and_then(Value::as_f64).is_none()
            && optional_str(input, "ThresholdMetricId").is_none()
        {
            return Err(missing("Threshold"));
        }
        let now = now_epoch();
        let mut alarm = json!({
            "AlarmName": name,
            "AlarmArn": alarm_arn(name),
            "ActionsEnabled": input.get("ActionsEnabled").and_then(Value::as_bool).unwrap_or(true),
            "AlarmConfigurationUpdatedTimestamp": now,
            "OKActions": [], "AlarmActions": [], "InsufficientDataActions": [],
            "Dimensions": [],
        });
        for field in ECHOED {
            if let Some(v) = input.get(*field).filter(|v| !v.is_null()) {
                alarm[*field] = v.clone();
            }
        }
        if let Some(t) = alarm.get("Threshold").and_then(Value::as_f64) {
            alarm["Threshold"] = json!(t);
        }
        let mut alarms = self.lock()?;
        // A replaced alarm keeps its state, as CloudWatch does.
        let previous = alarms.get(name);
        for field in [
            "StateValue",
            "StateReason",
            "StateUpdatedTimestamp",
            "StateTransitionedTimestamp",
        ] {
            alarm[field] = previous
                .and_then(|p| p.get(field))
                .cloned()
                .unwrap_or_else(|| match field {
                    "StateValue" => json!("INSUFFICIENT_DATA"),
                    "StateReason" => json!("Unchecked: Initial alarm creation"),
                    _ => json!(now),
                });
        }
        alarms.insert(name.to_string(), alarm);
        self.save(&alarms)
    }

    fn describe_alarms(&self, input: &Value) -> ApiResult {
        let names = strings(input, "AlarmNames");
        let prefix = optional_str(input, "AlarmNamePrefix");
        if !names.is_empty() && prefix.is_some() {
            return Err(invalid(
                "AlarmNames and AlarmNamePrefix cannot be used together.",
            ));
        }
        let state = optional_str(input, "StateValue");
        let action_prefix = optional_str(input, "ActionPrefix");
        let types = strings(input, "AlarmTypes");
        let metric_alarms_wanted = types.is_empty() || types.iter().any(|t| t == "MetricAlarm");
        let alarms = self.lock()?;
        let matching: Vec<Value> = alarms
            .values()
            .filter(|_| metric_alarms_wanted)
            .filter(|a| names.is_empty() || names.iter().any(|n| a["AlarmName"] == n.as_str()))
            .filter(|a| {
                prefix.is_none_or(|p| a["AlarmName"].as_str().is_some_and(|n| n.starts_with(p)))
            })
            .filter(|a| state.is_none_or(|s| a["StateValue"] == s))
            .filter(|a| {
                action_prefix.is_none_or(|p| {
                    ["OKActions", "AlarmActions", "InsufficientDataActions"]
                        .iter()
                        .any(|f| actions(a, f).any(|x| x.starts_with(p)))
                })
            })
            .cloned()
            .collect();
        let (page, next) = page_by(matching, input, "MaxRecords", 50);
        let mut out = json!({ "MetricAlarms": page, "CompositeAlarms": [] });
        if let Some(token) = next {
            out["NextToken"] = json!(token);
        }
        Ok(out)
    }

    fn delete_alarms(&self, input: &Value) -> ApiResult {
        let names = strings(input, "AlarmNames");
        if names.is_empty() {
            return Err(missing("AlarmNames"));
        }
        if names.len() > 100 {
            return Err(invalid("At most 100 alarms can be deleted at once."));
        }
        let mut alarms = self.lock()?;
        // All or nothing, as CloudWatch does.
        if let Some(absent) = names.iter().find(|n| !alarms.contains_key(*n)) {
            return Err(ApiError {
                status: StatusCode::NOT_FOUND,
                code: "ResourceNotFound",
                message: format!("Alarm {absent} does not exist."),
            });
        }
        for n in &names {
            alarms.remove(n);
        }
        self.save(&alarms)?;
        Ok(json!({}))
    }

    /// Removes alarms owned by another service (target tracking's), ignoring absent ones.
    pub fn remove_owned(&self, names: &[String]) -> Result<(), ApiError> {
        let mut alarms = self.lock()?;
        for n in names {
            alarms.remove(n);
        }
        self.save(&alarms)
    }

    /// Names of alarms whose actions include `action` (a scaling policy's ARN).
    pub fn alarms_acting_on(&self, action: &str) -> Vec<String> {
        self.alarms
            .lock()
            .map(|alarms| {
                alarms
                    .values()
                    .filter(|a| actions(a, "AlarmActions").any(|x| x == action))
                    .filter_map(|a| a["AlarmName"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}
