//! The AWS-like mode: the local cloud behaves like a busy real account (control-plane
//! throttling, log pages that come back empty with a token), so clients meet AWS's hard
//! edges in tests rather than in a user's run.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use serde_json::Value;

/// The environment variable that turns the AWS-like mode on (`1`) for every local cloud a
/// process starts, so a whole test run can use it.
pub const ENV: &str = "EBB_LOCAL_AWS_LIKE";

/// Whether [`ENV`] asks for the AWS-like mode (`1`, `true` or `yes`).
pub fn from_env() -> bool {
    std::env::var(ENV).is_ok_and(|v| matches!(v.trim(), "1" | "true" | "yes"))
}

/// A token bucket's refill rate (requests per second) and burst (bucket size).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

/// The rate an operation is held to, or `None` for the data plane (SageMaker Runtime, S3,
/// STS, CloudWatch Logs), which is not throttled here.
///
/// AWS publishes no exact figures for these APIs; a few calls a second with a small burst is
/// what accounts see (SageMaker Describe*/List*, Application Auto Scaling, CloudWatch
/// alarms). See <https://docs.aws.amazon.com/sagemaker/latest/dg/regions-quotas.html>.
pub fn rate_of(service: &str, operation: &str) -> Option<Rate> {
    let read = Rate {
        per_second: 4.0,
        burst: 8.0,
    };
    let write = Rate {
        per_second: 2.0,
        burst: 4.0,
    };
    let reads = |op: &str| op.starts_with("Describe") || op.starts_with("List");
    match service {
        "sagemaker" | "autoscaling" if reads(operation) => Some(read),
        "sagemaker" | "autoscaling" => Some(write),
        "cloudwatch" if operation.contains("Alarm") && reads(operation) => Some(read),
        "cloudwatch" if operation.contains("Alarm") => Some(write),
        _ => None,
    }
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Per-operation token buckets: each call takes a token; an empty bucket means throttled.
#[derive(Default)]
pub struct Throttle {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Throttle {
    /// Takes a token for `service:operation`; `false` when the call must be throttled.
    pub fn admit(&self, service: &str, operation: &str) -> bool {
        let Some(rate) = rate_of(service, operation) else {
            return true;
        };
        let Ok(mut buckets) = self.buckets.lock() else {
            return true;
        };
        let now = Instant::now();
        let bucket = buckets
            .entry(format!("{service}:{operation}"))
            .or_insert(Bucket {
                tokens: rate.burst,
                last: now,
            });
        let refill = now.duration_since(bucket.last).as_secs_f64() * rate.per_second;
        bucket.tokens = (bucket.tokens + refill).min(rate.burst);
        bucket.last = now;
        if bucket.tokens < 1.0 {
            return false;
        }
        bucket.tokens -= 1.0;
        true
    }
}

/// The error code a throttled call gets: CloudWatch says `Throttling`, the JSON services
/// `ThrottlingException`; both with HTTP 400 and "Rate exceeded".
/// See <https://docs.aws.amazon.com/sagemaker/latest/APIReference/CommonErrors.html>.
pub fn throttling_code(service: &str) -> &'static str {
    if service == "cloudwatch" {
        "Throttling"
    } else {
        "ThrottlingException"
    }
}

/// Marks a FilterLogEvents token as "an empty page was answered here; continue from the
/// rest" (the rest may be empty: continue from the start).
const EMPTY_PAGE: &str = "ebb-scan:";

/// What to do with one FilterLogEvents call in the AWS-like mode.
pub enum LogPage {
    /// Answer an empty page carrying this token (CloudWatch Logs does this while it scans).
    Empty(String),
    /// Answer as usual, with this input (its token unwrapped).
    Serve(Value),
}

/// Every other FilterLogEvents page is empty but carries a token, deterministically, so a
/// client that stops at an empty page misses events.
/// See <https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_FilterLogEvents.html>.
pub fn log_page(input: &Value) -> LogPage {
    let token = input.get("nextToken").and_then(Value::as_str);
    match token.and_then(|t| t.strip_prefix(EMPTY_PAGE)) {
        Some(rest) => {
            let mut input = input.clone();
            if let Some(map) = input.as_object_mut() {
                if rest.is_empty() {
                    map.remove("nextToken");
                } else {
                    map.insert("nextToken".into(), Value::String(rest.to_string()));
                }
            }
            LogPage::Serve(input)
        }
        None => LogPage::Empty(format!("{EMPTY_PAGE}{}", token.unwrap_or_default())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_admitted_then_throttled_and_the_data_plane_never() {
        let t = Throttle::default();
        let admitted = (0..20)
            .filter(|_| t.admit("sagemaker", "DescribeEndpoint"))
            .count();
        assert_eq!(admitted, 8);
        assert!(t.admit("sagemaker", "ListEndpoints"));
        assert!((0..100).all(|_| t.admit("runtime", "InvokeEndpointAsync")));
        assert!((0..100).all(|_| t.admit("s3", "GET")));
    }

    #[test]
    fn log_pages_alternate_between_empty_and_served() {
        let first = serde_json::json!({ "logGroupName": "g" });
        let LogPage::Empty(token) = log_page(&first) else {
            panic!("the first page should be empty");
        };
        let LogPage::Serve(input) = log_page(&serde_json::json!({ "nextToken": token })) else {
            panic!("the second page should be served");
        };
        assert!(input.get("nextToken").is_none());
        let LogPage::Serve(input) = log_page(&serde_json::json!({ "nextToken": "ebb-scan:7" }))
        else {
            panic!("a marked token should be served");
        };
        assert_eq!(input["nextToken"], "7");
    }
}
