//! Waiting for an endpoint to settle (InService or Failed) after CreateEndpoint or
//! UpdateEndpoint: its status and time in it, the container's newest log lines while it
//! starts, a deadline, and a cancel.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_sagemaker::types::EndpointStatus;

use super::logs::{self, LogLine};
use crate::aws_errors::{self, Context};
use crate::cloud::Clients;
use crate::error::Error;

/// How long a deploy waits for InService unless told otherwise: large models take 10 to 30
/// minutes to download and load (SageMaker allows a start-up health check of up to 3600 s).
pub const DEFAULT_LIMIT_S: u32 = 1800;

/// Log lines kept for the diagnosis (the newest; a failing start logs its error last).
const KEPT_LINES: usize = 5000;

/// How often the endpoint's status is read while waiting, the most to wait, and the cancel.
pub struct Waiting<'a> {
    pub poll: Duration,
    pub cancel: &'a AtomicBool,
    pub limit: Duration,
}

/// How the wait ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// InService; with a `FailureReason` when an update failed and SageMaker rolled back.
    InService {
        failure_reason: Option<String>,
    },
    Failed {
        failure_reason: String,
    },
    Cancelled {
        status: String,
    },
    /// Still in `status` when the limit passed.
    TimedOut {
        status: String,
    },
}

/// What one look at the endpoint found, for progress.
pub struct Look<'a> {
    pub status: &'a str,
    /// Seconds since the status last changed (as seen by this wait).
    pub in_state_s: u32,
    /// Container log lines new since the last look, oldest first.
    pub new_lines: &'a [LogLine],
    /// Set once, when the log cannot be read (the wait goes on without it).
    pub log_problem: Option<&'a str>,
}

/// The end of the wait and the container's log lines since `since_ms`.
pub struct Waited {
    pub settled: Settled,
    pub logs: Vec<LogLine>,
}

/// The container's log, read as it grows; a read error is told once and ends the reading.
struct LogTail {
    since_ms: i64,
    lines: Vec<LogLine>,
    problem: Option<String>,
    stopped: bool,
}

impl LogTail {
    async fn read(&mut self, clients: &Clients, ctx: Context<'_>, endpoint: &str) -> usize {
        if self.stopped {
            return 0;
        }
        match logs::read_lines(clients, ctx, endpoint, self.since_ms).await {
            Ok((new, next)) => {
                self.since_ms = next;
                let n = new.len();
                self.lines.extend(new);
                let excess = self.lines.len().saturating_sub(KEPT_LINES);
                self.lines.drain(..excess);
                n.min(self.lines.len())
            }
            Err(e) => {
                self.problem = Some(format!("cannot read the endpoint's log: {e}"));
                self.stopped = true;
                0
            }
        }
    }
}

/// Reads DescribeEndpoint every `waiting.poll` until the endpoint is InService or Failed, the
/// limit passes or `waiting.cancel` is set, and the container log (from `since_ms`, ms since
/// the epoch) as it grows; `look` is called after each read.
///
/// # Errors
/// DescribeEndpoint's errors.
pub async fn until_settled(
    (clients, ctx): (&Clients, Context<'_>),
    endpoint: &str,
    since_ms: i64,
    waiting: Waiting<'_>,
    look: &(dyn Fn(&Look<'_>) + Send + Sync),
) -> Result<Waited, Error> {
    let started = Instant::now();
    let mut tail = LogTail {
        since_ms,
        lines: Vec::new(),
        problem: None,
        stopped: false,
    };
    let mut state: (String, Instant) = (String::new(), Instant::now());
    loop {
        let d = clients
            .sagemaker
            .describe_endpoint()
            .endpoint_name(endpoint)
            .send()
            .await
            .map_err(|e| aws_errors::failed(&e, ctx, "sagemaker:DescribeEndpoint"))?;
        let status = d.endpoint_status().map_or("unknown", |s| s.as_str());
        if status != state.0 {
            state = (status.to_string(), Instant::now());
        }
        let new = tail.read(clients, ctx, endpoint).await;
        let problem = tail.problem.take();
        look(&Look {
            status,
            in_state_s: state.1.elapsed().as_secs() as u32,
            new_lines: &tail.lines[tail.lines.len() - new..],
            log_problem: problem.as_deref(),
        });
        let reason = d.failure_reason().map(str::to_string);
        let settled = match d.endpoint_status() {
            Some(EndpointStatus::InService) => Some(Settled::InService {
                failure_reason: reason,
            }),
            Some(EndpointStatus::Failed) => Some(Settled::Failed {
                failure_reason: reason.unwrap_or_else(|| "no reason given".into()),
            }),
            _ if waiting.cancel.load(Ordering::SeqCst) => Some(Settled::Cancelled {
                status: status.to_string(),
            }),
            _ if started.elapsed() >= waiting.limit => Some(Settled::TimedOut {
                status: status.to_string(),
            }),
            _ => None,
        };
        if let Some(settled) = settled {
            return Ok(Waited {
                settled,
                logs: tail.lines,
            });
        }
        tokio::time::sleep(waiting.poll).await;
    }
}
