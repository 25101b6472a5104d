//! The endpoint's container logs from CloudWatch Logs (`/aws/sagemaker/Endpoints/<name>`), with
//! its status and how long it has been in it: a deploy that hangs or crashes explains itself.

use aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata;
use serde::Serialize;

use crate::aws_errors::{self, Context};
use crate::cloud::Clients;
use crate::error::Error;

/// Lines read in one fetch at most; the next fetch starts where this one stopped.
const MAX_LINES: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct LogLine {
    /// Milliseconds since the epoch, as a string (JavaScript numbers cannot hold every i64).
    pub timestamp_ms: String,
    pub stream: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct EndpointLogs {
    pub status: String,
    /// Seconds since the endpoint last changed state.
    pub in_state_s: u32,
    pub lines: Vec<LogLine>,
    /// Pass back as `since_ms` to get only newer lines.
    pub next_since_ms: String,
}

pub async fn fetch(
    clients: &Clients,
    ctx: Context<'_>,
    endpoint: &str,
    since_ms: i64,
) -> Result<EndpointLogs, Error> {
    let d = clients
        .sagemaker
        .describe_endpoint()
        .endpoint_name(endpoint)
        .send()
        .await
        .map_err(|e| aws_errors::failed(&e, ctx, "sagemaker:DescribeEndpoint"))?;
    let now = super::now_s();
    let changed = d
        .last_modified_time()
        .or(d.creation_time())
        .map_or(now, |t| t.secs());
    let (lines, next) = read_lines(clients, ctx, endpoint, since_ms).await?;
    Ok(EndpointLogs {
        status: d
            .endpoint_status()
            .map_or("unknown".into(), |s| s.as_str().to_string()),
        in_state_s: u32::try_from(now - changed).unwrap_or(0),
        lines,
        next_since_ms: next.to_string(),
    })
}

/// The container log lines of `endpoint` from `since_ms` (milliseconds since the epoch) on,
/// oldest first, at most [`MAX_LINES`], and the `since_ms` that reads only newer ones.
/// A log group that does not exist yet (no container has logged) gives no lines.
///
/// # Errors
/// `logs:FilterLogEvents` errors other than `ResourceNotFoundException`.
pub async fn read_lines(
    clients: &Clients,
    ctx: Context<'_>,
    endpoint: &str,
    since_ms: i64,
) -> Result<(Vec<LogLine>, i64), Error> {
    let mut lines = Vec::new();
    let mut next = since_ms;
    let mut token: Option<String> = None;
    loop {
        let page = clients
            .logs
            .filter_log_events()
            .log_group_name(format!("/aws/sagemaker/Endpoints/{endpoint}"))
            .start_time(since_ms)
            .set_next_token(token.take())
            .send()
            .await;
        let page = match page {
            Ok(p) => p,
            // No container has logged yet: nothing to show, not an error.
            Err(e)
                if e.as_service_error().and_then(|s| s.code())
                    == Some("ResourceNotFoundException") =>
            {
                break;
            }
            Err(e) => {
                return Err(aws_errors::failed(&e, ctx, "logs:FilterLogEvents"));
            }
        };
        for ev in page.events() {
            let ts = ev.timestamp().unwrap_or(0);
            next = next.max(ts + 1);
            lines.push(LogLine {
                timestamp_ms: ts.to_string(),
                stream: ev.log_stream_name().unwrap_or_default().to_string(),
                message: ev.message().unwrap_or_default().trim_end().to_string(),
            });
        }
        // CloudWatch Logs may answer an empty page that still carries a token while it scans
        // streams and time: only the absence of a token ends the listing.
        // (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_FilterLogEvents.html)
        match page.next_token() {
            Some(t) if lines.len() < MAX_LINES => token = Some(t.to_string()),
            _ => break,
        }
    }
    // FilterLogEvents interleaves streams; a reader wants them in time order.
    lines.sort_by_key(|l| l.timestamp_ms.parse::<i64>().unwrap_or(0));
    Ok((lines, next))
}
