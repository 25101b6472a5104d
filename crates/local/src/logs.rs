//! CloudWatch Logs (awsJson1_1, `Logs_20140328.*`), the subset Ebb reads: the simulated
//! containers' log lines under `/aws/sagemaker/Endpoints/<name>`, stream `AllTraffic/<instance>`.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::sagemaker::api::{ApiError, ApiResult, optional_str, required_str};

#[derive(Debug, Clone)]
struct Event {
    timestamp_ms: i64,
    message: String,
    id: u64,
}

type Groups = BTreeMap<String, BTreeMap<String, Vec<Event>>>;

/// Log groups -> streams -> events, kept in memory and appended to `logs.jsonl` in the data
/// folder, so a failed deploy still explains itself after a restart.
#[derive(Debug, Default)]
pub struct Logs {
    groups: Mutex<Groups>,
    next_id: std::sync::atomic::AtomicU64,
    file: Option<std::path::PathBuf>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    group: String,
    stream: String,
    timestamp_ms: i64,
    message: String,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Where SageMaker writes an endpoint's container logs.
pub fn endpoint_group(endpoint: &str) -> String {
    format!("/aws/sagemaker/Endpoints/{endpoint}")
}

fn not_found(message: &str) -> ApiError {
    ApiError {
        status: http::StatusCode::BAD_REQUEST,
        code: "ResourceNotFoundException",
        message: message.to_string(),
    }
}

impl Logs {
    /// Loads earlier lines from `file` (unreadable lines are skipped) and appends new ones to it.
    pub fn open(file: std::path::PathBuf) -> Logs {
        let logs = Logs::default();
        if let Ok(text) = std::fs::read_to_string(&file) {
            for line in text.lines() {
                if let Ok(s) = serde_json::from_str::<Stored>(line) {
                    logs.insert(&s.group, &s.stream, s.timestamp_ms, s.message);
                }
            }
        }
        Logs {
            file: Some(file),
            ..logs
        }
    }

    fn insert(&self, group: &str, stream: &str, timestamp_ms: i64, message: String) {
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if let Ok(mut groups) = self.groups.lock() {
            groups
                .entry(group.to_string())
                .or_default()
                .entry(stream.to_string())
                .or_default()
                .push(Event {
                    timestamp_ms,
                    message,
                    id,
                });
        }
    }

    pub fn put(&self, group: &str, stream: &str, message: impl Into<String>) {
        let message = message.into();
        let timestamp_ms = now_ms();
        if let Some(file) = &self.file {
            let stored = Stored {
                group: group.to_string(),
                stream: stream.to_string(),
                timestamp_ms,
                message: message.clone(),
            };
            let appended = serde_json::to_string(&stored).map(|line| {
                use std::io::Write;
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(file)
                    .and_then(|mut f| writeln!(f, "{line}"))
            });
            if let Ok(Err(e)) | Err(e) = appended.map_err(std::io::Error::other) {
                tracing::warn!("could not keep a log line in {}: {e}", file.display());
            }
        }
        self.insert(group, stream, timestamp_ms, message);
    }

    pub fn handle(&self, op: &str, input: &Value) -> ApiResult {
        let groups = self
            .groups
            .lock()
            .map_err(|_| ApiError::internal("the local log store lock is poisoned"))?;
        let group_name = required_str(input, "logGroupName")?;
        let group = groups
            .get(group_name)
            .ok_or_else(|| not_found("The specified log group does not exist."))?;
        match op {
            "DescribeLogStreams" => {
                let prefix = optional_str(input, "logStreamNamePrefix").unwrap_or_default();
                let streams: Vec<Value> = group
                    .iter()
                    .filter(|(name, _)| name.starts_with(prefix))
                    .map(|(name, events)| {
                        json!({
                            "logStreamName": name,
                            "firstEventTimestamp": events.first().map(|e| e.timestamp_ms),
                            "lastEventTimestamp": events.last().map(|e| e.timestamp_ms),
                        })
                    })
                    .collect();
                Ok(json!({ "logStreams": streams }))
            }
            "GetLogEvents" => {
                let stream = required_str(input, "logStreamName")?;
                let events = group
                    .get(stream)
                    .ok_or_else(|| not_found("The specified log stream does not exist."))?;
                let start = input.get("startTime").and_then(Value::as_i64).unwrap_or(0);
                let out: Vec<Value> = events
                    .iter()
                    .filter(|e| e.timestamp_ms >= start)
                    .map(|e| json!({ "timestamp": e.timestamp_ms, "message": e.message, "ingestionTime": e.timestamp_ms }))
                    .collect();
                Ok(
                    json!({ "events": out, "nextForwardToken": "f/end", "nextBackwardToken": "b/start" }),
                )
            }
            "FilterLogEvents" => {
                let start = input.get("startTime").and_then(Value::as_i64).unwrap_or(0);
                let end = input
                    .get("endTime")
                    .and_then(Value::as_i64)
                    .unwrap_or(i64::MAX);
                let names: Option<Vec<&str>> = input
                    .get("logStreamNames")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect());
                let pattern = optional_str(input, "filterPattern").unwrap_or_default();
                let mut out: Vec<(i64, u64, Value)> = group
                    .iter()
                    .filter(|(name, _)| names.as_ref().is_none_or(|n| n.contains(&name.as_str())))
                    .flat_map(|(name, events)| {
                        events
                            .iter()
                            .filter(|e| e.timestamp_ms >= start && e.timestamp_ms <= end)
                            .filter(|e| {
                                pattern.is_empty() || e.message.contains(pattern.trim_matches('"'))
                            })
                            .map(move |e| {
                                (
                                    e.timestamp_ms,
                                    e.id,
                                    json!({
                                        "logStreamName": name,
                                        "timestamp": e.timestamp_ms,
                                        "message": e.message,
                                        "ingestionTime": e.timestamp_ms,
                                        "eventId": e.id.to_string(),
                                    }),
                                )
                            })
                    })
                    .collect();
                out.sort_by_key(|(t, id, _)| (*t, *id));
                let events: Vec<Value> = out.into_iter().map(|(_, _, v)| v).collect();
                Ok(json!({ "events": events, "searchedLogStreams": [] }))
            }
            other => Err(ApiError {
                status: http::StatusCode::BAD_REQUEST,
                code: "UnknownOperationException",
                message: format!("the local cloud does not implement Logs.{other}"),
            }),
        }
    }
}
