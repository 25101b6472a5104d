//! InService is not success: after the wait, the smoke test, then the diagnosis of whatever
//! failed, from SageMaker's reason, the container's log and the failed request.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use serde::Serialize;

use super::diagnose::{self, Diagnosis, Evidence, Facts};
use super::logs::{self, LogLine};
use super::smoke::{self, SmokeTest};
use super::wait::{Settled, Waited};
use crate::aws_errors::Context;
use crate::cloud::Clients;

/// Where a deploy or an update ended, for the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// InService and the smoke test's request was answered.
    Ready,
    /// InService; the smoke test was not asked for.
    InServiceUntested,
    /// InService, but the smoke test's request failed or was not answered in time.
    InServiceFailing,
    /// The endpoint failed (or an update failed and SageMaker rolled it back).
    Failed,
    /// The user stopped waiting; the endpoint keeps starting in AWS.
    Cancelled,
    /// Still starting when the wait's limit passed; it keeps starting in AWS.
    StillStarting,
}

impl Verdict {
    /// Whether the endpoint may be sent work.
    pub fn usable(self) -> bool {
        matches!(self, Verdict::Ready | Verdict::InServiceUntested)
    }
}

/// What the check found.
pub struct Checked {
    pub verdict: Verdict,
    pub smoke_test: Option<SmokeTest>,
    pub diagnosis: Option<Diagnosis>,
}

/// How to run the smoke test: where its input goes (`bucket`, `prefix`), whether it sends a
/// chat body, its deadline; `None` skips it.
pub struct SmokePlan<'a> {
    pub place: (&'a str, &'a str),
    pub chat: bool,
    pub deadline: Duration,
    pub tick: &'a (dyn Fn(u32) + Send + Sync),
}

/// What the check needs besides the wait's result.
pub struct Check<'a> {
    pub endpoint: &'a str,
    /// Where the endpoint's log is read from (ms since the epoch).
    pub since_ms: i64,
    pub facts: Facts<'a>,
    pub smoke: Option<SmokePlan<'a>>,
    pub poll: Duration,
    pub cancel: &'a AtomicBool,
}

/// Runs the smoke test on an InService endpoint and diagnoses any failure.
pub async fn check(
    (clients, ctx): (&Clients, Context<'_>),
    waited: &Waited,
    c: Check<'_>,
) -> Checked {
    let (mut verdict, smoke_test) = match (&waited.settled, c.smoke) {
        (
            Settled::InService {
                failure_reason: None,
            },
            Some(plan),
        ) => {
            let watch = smoke::Watch {
                poll: c.poll,
                deadline: plan.deadline,
                cancel: c.cancel,
                tick: plan.tick,
            };
            let test = smoke::run(clients, ctx, plan.place, (c.endpoint, plan.chat), watch).await;
            let verdict = match (test.passed, test.cancelled) {
                (true, _) => Verdict::Ready,
                (false, true) => Verdict::Cancelled,
                (false, false) => Verdict::InServiceFailing,
            };
            (verdict, Some(test))
        }
        (
            Settled::InService {
                failure_reason: None,
            },
            None,
        ) => (Verdict::InServiceUntested, None),
        (Settled::InService { .. } | Settled::Failed { .. }, _) => (Verdict::Failed, None),
        (Settled::Cancelled { .. }, _) => (Verdict::Cancelled, None),
        (Settled::TimedOut { .. }, _) => (Verdict::StillStarting, None),
    };
    // Ready only once the log since creation shows none of the known failures either (a
    // request answered by one shard says nothing of another that crashed).
    let diagnosis = match verdict {
        Verdict::Failed | Verdict::InServiceFailing | Verdict::Ready => {
            let logs = fresh_logs(
                (clients, ctx),
                (c.endpoint, c.since_ms, c.poll),
                &waited.logs,
            )
            .await;
            diagnose::diagnose(&Evidence {
                failure_reason: failure_reason(&waited.settled),
                logs: &logs,
                request_failure: smoke_test.as_ref().and_then(|t| t.failure.as_deref()),
                in_service: matches!(verdict, Verdict::Ready | Verdict::InServiceFailing),
                facts: c.facts,
                ..Default::default()
            })
        }
        _ => None,
    };
    if verdict == Verdict::Ready && diagnosis.is_some() {
        verdict = Verdict::InServiceFailing;
    }
    Checked {
        verdict,
        smoke_test,
        diagnosis,
    }
}

fn failure_reason(settled: &Settled) -> Option<&str> {
    match settled {
        Settled::InService { failure_reason } => failure_reason.as_deref(),
        Settled::Failed { failure_reason } => Some(failure_reason),
        _ => None,
    }
}

/// The whole log since the start, read again: CloudWatch Logs takes a few seconds to show
/// what a container wrote just before it died. Falls back to what the wait read.
async fn fresh_logs(
    (clients, ctx): (&Clients, Context<'_>),
    (endpoint, since_ms, poll): (&str, i64, Duration),
    seen: &[LogLine],
) -> Vec<LogLine> {
    tokio::time::sleep(poll.min(Duration::from_secs(10))).await;
    match logs::read_lines(clients, ctx, endpoint, since_ms).await {
        Ok((lines, _)) if lines.len() >= seen.len() => lines,
        _ => seen.to_vec(),
    }
}
