//! The article's test — send requests in a loop and watch the endpoint scale — bounded in rate,
//! duration and count, cancellable, and through the async path: the payload is uploaded once
//! and InvokeEndpointAsync is called at a steady rate with it as InputLocation.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use crate::aws_errors::{self, Context};
use crate::cloud::Clients;
use crate::error::Error;

/// At most this many requests a second…
pub const MAX_RATE: f64 = 50.0;
/// …for at most this long…
pub const MAX_DURATION_S: u32 = 3600;
/// …and never more than this many in all.
pub const MAX_REQUESTS: u64 = 20_000;
/// Calls in flight at once, so a slow call does not lower the rate.
const IN_FLIGHT: usize = 16;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct LoadTestSpec {
    pub endpoint: String,
    /// Requests per second.
    pub rate: f64,
    pub duration_s: u32,
    /// The request body (a JSON object); `None` is the seed's request.
    pub payload: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct LoadTestProgress {
    pub planned: u32,
    pub sent: u32,
    pub refused: u32,
    pub elapsed_s: f64,
    /// The latest refusal, explained.
    pub last_error: Option<String>,
    pub input_location: String,
    /// Set on the last report.
    pub finished: bool,
    pub cancelled: bool,
}

/// The seed's request (WORKFLOW.md part 2).
pub fn seed_payload() -> String {
    serde_json::json!({
        "inputs": "What is the capital of the United States?",
        "parameters": crate::deploy::invoke::seed_parameters(),
    })
    .to_string()
}

impl LoadTestSpec {
    /// The bounds, and a payload that is a JSON object.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !(self.rate.is_finite() && self.rate > 0.0 && self.rate <= MAX_RATE) {
            out.push(format!(
                "rate must be more than 0 and at most {MAX_RATE} requests a second, not {}",
                self.rate
            ));
        }
        if !(1..=MAX_DURATION_S).contains(&self.duration_s) {
            out.push(format!(
                "duration must be between 1 and {MAX_DURATION_S} seconds, not {}",
                self.duration_s
            ));
        }
        if out.is_empty() && self.planned() > MAX_REQUESTS {
            out.push(format!(
                "{} requests a second for {} s is {} requests; the limit is {MAX_REQUESTS}",
                self.rate,
                self.duration_s,
                self.planned()
            ));
        }
        if let Some(p) = &self.payload {
            match serde_json::from_str::<serde_json::Value>(p) {
                Ok(v) if v.is_object() => {}
                Ok(_) => out.push("the payload must be a JSON object".into()),
                Err(e) => out.push(format!("the payload is not valid JSON: {e}")),
            }
        }
        out
    }

    pub fn planned(&self) -> u64 {
        (self.rate * f64::from(self.duration_s)).round() as u64
    }
}

/// Runs the load test, reporting about twice a second; `cancel` stops sending at once.
pub async fn run(
    clients: &Clients,
    ctx: Context<'_>,
    (bucket, prefix): (&str, &str),
    spec: &LoadTestSpec,
    stamp: &str,
    progress: &(dyn Fn(&LoadTestProgress) + Send + Sync),
    cancel: &AtomicBool,
) -> Result<LoadTestProgress, Error> {
    let problems = spec.problems();
    if !problems.is_empty() {
        return Err(Error::InvalidRequest(format!(
            "load test: {}",
            problems.join("; ")
        )));
    }
    let body = spec.payload.clone().unwrap_or_else(seed_payload);
    let key = format!(
        "{}/{}{stamp}.json",
        prefix.trim_matches('/'),
        crate::deploy::data::loadtest_inputs(&spec.endpoint)
    );
    let location = crate::deploy::invoke::put_input(clients, ctx, bucket, &key, body).await?;
    let planned = spec.planned();
    let started = Instant::now();
    let mut state = LoadTestProgress {
        planned: planned as u32,
        input_location: location.clone(),
        ..LoadTestProgress::default()
    };
    // Counts one finished call.
    let settle = |state: &mut LoadTestProgress,
                  joined: Option<Result<Sent, tokio::task::JoinError>>| {
        match joined {
            Some(Ok(Ok(_))) => state.sent += 1,
            Some(Ok(Err(e))) => {
                state.refused += 1;
                state.last_error = Some(
                    aws_errors::explain(
                        &e,
                        Context {
                            action: "sagemaker:InvokeEndpointAsync",
                            ..ctx
                        },
                    )
                    .summary,
                );
            }
            Some(Err(e)) => {
                state.refused += 1;
                state.last_error = Some(format!("the call's task failed: {e}"));
            }
            None => {}
        }
    };
    let gap = Duration::from_secs_f64(1.0 / spec.rate);
    let mut calls: JoinSet<Sent> = JoinSet::new();
    let mut last_report = Instant::now();
    let mut issued = 0u64;
    while issued < planned && !cancel.load(Ordering::SeqCst) {
        // Request n goes out at n × gap, whatever the latency of earlier calls.
        let due = started + gap.mul_f64(issued as f64);
        tokio::time::sleep_until(due.into()).await;
        while calls.len() >= IN_FLIGHT {
            let joined = calls.join_next().await;
            settle(&mut state, joined);
        }
        while let Some(joined) = calls.try_join_next() {
            settle(&mut state, Some(joined));
        }
        issued += 1;
        let call = clients
            .runtime
            .invoke_endpoint_async()
            .endpoint_name(&spec.endpoint)
            .input_location(&location)
            .content_type("application/json")
            .accept("application/json");
        calls.spawn(async move { call.send().await });
        if last_report.elapsed() >= Duration::from_millis(500) {
            state.elapsed_s = started.elapsed().as_secs_f64();
            progress(&state);
            last_report = Instant::now();
        }
    }
    while let Some(joined) = calls.join_next().await {
        settle(&mut state, Some(joined));
    }
    state.elapsed_s = started.elapsed().as_secs_f64();
    state.finished = true;
    state.cancelled = cancel.load(Ordering::SeqCst);
    progress(&state);
    Ok(state)
}

type Sent = Result<
    aws_sdk_sagemakerruntime::operation::invoke_endpoint_async::InvokeEndpointAsyncOutput,
    aws_sdk_sagemakerruntime::error::SdkError<
        aws_sdk_sagemakerruntime::operation::invoke_endpoint_async::InvokeEndpointAsyncError,
        aws_smithy_runtime_api::http::Response,
    >,
>;

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(rate: f64, duration_s: u32, payload: Option<&str>) -> LoadTestSpec {
        LoadTestSpec {
            endpoint: "flan".into(),
            rate,
            duration_s,
            payload: payload.map(str::to_string),
        }
    }

    #[test]
    fn load_tests_are_bounded_and_payloads_checked() {
        assert!(spec(5.0, 60, None).problems().is_empty());
        assert_eq!(spec(5.0, 60, None).planned(), 300);
        assert!(spec(0.0, 60, None).problems()[0].contains("rate"));
        assert!(spec(500.0, 60, None).problems()[0].contains("at most 50"));
        assert!(spec(5.0, 0, None).problems()[0].contains("duration"));
        assert!(spec(50.0, 3600, None).problems()[0].contains("limit is 20000"));
        assert!(spec(1.0, 1, Some("[1]")).problems()[0].contains("JSON object"));
        assert!(spec(1.0, 1, Some("{")).problems()[0].contains("not valid JSON"));
        let seed: serde_json::Value = serde_json::from_str(&seed_payload()).unwrap();
        assert_eq!(seed["parameters"]["max_new_tokens"], 50);
    }
}
