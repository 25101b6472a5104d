//! Sending a job's requests: a bounded pipeline that claims pending requests from the store,
//! sends small ones inline and larger ones through S3, and writes what happened in batches.

use std::collections::VecDeque;
use std::fs::File;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_sagemakerruntime::error::ProvideErrorMetadata;
use aws_sdk_sagemakerruntime::primitives::Blob;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use futures::StreamExt;
use futures::stream::FuturesUnordered;

use super::format::InputFormat;
use super::store::{Claimed, JobRow, Outcome, Store};
use super::{INLINE_LIMIT, JobControl};
use crate::aws_errors::{self, Context};
use crate::bucket_owner;
use crate::error::Error;

/// Tries per request before it is recorded as failed (each try already has the SDK's retries).
pub const MAX_ATTEMPTS: u32 = 8;
const CLAIM_BATCH: usize = 256;
const FLUSH_EVERY: Duration = Duration::from_millis(200);

/// A store call running while requests are in flight.
type StoreCall<'s, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, Error>> + Send + 's>>;

/// The result of `call` once it is done; never, while there is none.
async fn until_done<T>(call: &mut Option<StoreCall<'_, T>>) -> Result<T, Error> {
    match call.as_mut() {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

pub struct Submit<'a> {
    pub runtime: aws_sdk_sagemakerruntime::Client,
    pub s3: aws_sdk_s3::Client,
    pub store: &'a Store,
    pub job: &'a JobRow,
    /// Where inputs go when uploaded: bucket and key prefix (`<prefix>/<job>/input`).
    pub inputs_at: (String, String),
    pub ctx: Context<'a>,
    /// The caller's account: the expected owner of the job bucket.
    account: &'a str,
    files: Vec<Result<File, String>>,
    pub uploaded: AtomicU32,
    pub invoked: AtomicU32,
}

enum Sent {
    Done(Outcome),
    /// A refusal no retry fixes (no such endpoint, not allowed, ...): the job stops.
    Fatal {
        seq: i64,
        error: Error,
    },
}

impl<'a> Submit<'a> {
    pub fn new(
        runtime: aws_sdk_sagemakerruntime::Client,
        s3: aws_sdk_s3::Client,
        store: &'a Store,
        job: &'a JobRow,
        inputs_at: (String, String),
        (ctx, account): (Context<'a>, &'a str),
    ) -> Submit<'a> {
        let files = job
            .files
            .iter()
            .map(|f| {
                File::open(&f.path)
                    .map_err(|e| format!("the input file {} cannot be opened: {e}", f.rel))
            })
            .collect();
        Submit {
            runtime,
            s3,
            store,
            job,
            inputs_at,
            ctx,
            account,
            files,
            uploaded: AtomicU32::new(0),
            invoked: AtomicU32::new(0),
        }
    }

    /// The body to send: the request's line as scanned (OpenAI's `body` or Bedrock's
    /// `modelInput` for those formats); a file that changed since is a failure of that request.
    fn read(&self, c: &Claimed) -> Result<Vec<u8>, String> {
        let input = self.job.files.get(c.file_idx as usize);
        let rel = input.map_or("?", |f| f.rel.as_str());
        let file = self
            .files
            .get(c.file_idx as usize)
            .ok_or_else(|| format!("input file #{} is not part of the job", c.file_idx))?
            .as_ref()
            .map_err(Clone::clone)?;
        let body = super::scan::read_span(file, c.offset, c.len).map_err(|e| {
            format!(
                "{rel}:{}: the file changed since it was scanned ({e})",
                c.line
            )
        })?;
        if self.job.settings.per_file {
            return Ok(body);
        }
        if let Err((column, what)) = super::scan::check_json(&body) {
            return Err(format!(
                "{rel}:{}:{column}: the file changed since it was scanned: {what}",
                c.line
            ));
        }
        let format = input.map_or(InputFormat::Tgi, |f| f.format);
        super::format::request_body(format, &body).map_err(|what| {
            format!(
                "{rel}:{}: the file changed since it was scanned: {what}",
                c.line
            )
        })
    }

    async fn send(&self, c: Claimed) -> Sent {
        let seq = c.seq;
        let body = match self.read(&c) {
            Ok(b) => b,
            Err(error) => return Sent::Done(Outcome::Failed { seq, error }),
        };
        let settings = &self.job.settings;
        let mut request = self
            .runtime
            .invoke_endpoint_async()
            .endpoint_name(&self.job.endpoint)
            .content_type("application/json")
            .accept("application/json")
            .inference_id(
                c.inference_id
                    .clone()
                    .unwrap_or_else(|| format!("{}-{seq}", self.job.id)),
            )
            .s3_output_path_extension(&self.job.id)
            .filename(&c.filename)
            .invocation_timeout_seconds(settings.invocation_timeout_s as i32)
            .set_request_ttl_seconds(settings.request_ttl_s.map(|t| t as i32));
        let mut input_location = None;
        if settings.upload_all || body.len() as u64 > INLINE_LIMIT {
            let (bucket, prefix) = &self.inputs_at;
            let key = format!(
                "{prefix}/{}",
                c.filename.trim_end_matches(".out").to_string() + ".json"
            );
            let timeout = aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(crate::cloud::attempt_timeout_for(body.len() as u64))
                .build();
            let put = self
                .s3
                .put_object()
                .bucket(bucket)
                .set_expected_bucket_owner(bucket_owner::expected(self.account))
                .key(&key)
                .content_type("application/json")
                .body(body.into())
                .customize()
                .config_override(aws_sdk_s3::config::Builder::default().timeout_config(timeout))
                .send()
                .await;
            if let Err(e) = put {
                if bucket_owner::is_forbidden(&e)
                    && bucket_owner::another_account(&self.s3, bucket, self.account).await
                {
                    let error = bucket_owner::not_yours(bucket, self.account);
                    return Sent::Fatal { seq, error };
                }
                return self.refused(&c, &e, "s3:PutObject").await;
            }
            self.uploaded.fetch_add(1, Ordering::Relaxed);
            let location = format!("s3://{bucket}/{key}");
            request = request.input_location(&location);
            input_location = Some(location);
        } else {
            request = request.body(Blob::new(body));
        }
        match request.send().await {
            Ok(out) => {
                self.invoked.fetch_add(1, Ordering::Relaxed);
                Sent::Done(Outcome::Invoked {
                    seq,
                    input_location,
                    output_location: out.output_location().unwrap_or_default().to_string(),
                    failure_location: out.failure_location().map(str::to_string),
                })
            }
            Err(e) => self.refused(&c, &e, "sagemaker:InvokeEndpointAsync").await,
        }
    }

    /// Throttling and server errors: back to pending after a pause (failed after too many tries);
    /// anything else stops the job with the reason.
    async fn refused<E>(&self, c: &Claimed, e: &SdkError<E, Response>, action: &str) -> Sent
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let attempts = c.attempts + 1;
        let summary = match e {
            SdkError::ServiceError(se) => format!(
                "{}: {}",
                se.err().code().unwrap_or("error"),
                se.err().message().unwrap_or("no message")
            ),
            other => aws_smithy_types::error::display::DisplayErrorContext(other).to_string(),
        };
        if aws_errors::is_credentials_failure(e) {
            return Sent::Fatal {
                seq: c.seq,
                error: aws_errors::session_ended(e, self.ctx),
            };
        }
        if aws_errors::is_transient(e) {
            if attempts >= MAX_ATTEMPTS {
                return Sent::Done(Outcome::Failed {
                    seq: c.seq,
                    error: format!("not accepted after {attempts} tries: {summary}"),
                });
            }
            tracing::debug!(seq = c.seq, attempts, "retrying later: {summary}");
            let pause = Duration::from_millis(200u64 << attempts.min(6));
            tokio::time::sleep(pause).await;
            return Sent::Done(Outcome::Retry {
                seq: c.seq,
                error: summary,
            });
        }
        Sent::Fatal {
            seq: c.seq,
            error: aws_errors::failed(e, self.ctx, action),
        }
    }

    /// Records what is done so far (so retries are pending again), then claims what is pending.
    async fn reclaim(&self, outcomes: &mut Vec<Outcome>) -> Result<Vec<Claimed>, Error> {
        self.store
            .record(&self.job.id, std::mem::take(outcomes))
            .await?;
        self.store.claim(&self.job.id, CLAIM_BATCH).await
    }

    /// Sends every pending request, `concurrency` at a time, until none is left or `control`
    /// stops it. Returns the error that stopped it, if one did.
    ///
    /// The store's claims and writes run while the requests in flight go on: awaited in turn,
    /// each stalled every request (the store is shared with the collector, and a write could
    /// wait for its batch of results), which held a million-request job to a third of its pace.
    pub async fn run(&self, control: &JobControl) -> Result<Option<Error>, Error> {
        let concurrency = self.job.settings.concurrency.max(1) as usize;
        let mut in_flight = FuturesUnordered::new();
        let mut queue: VecDeque<Claimed> = VecDeque::new();
        let mut outcomes = Vec::new();
        let mut exhausted = false;
        let mut fatal = None;
        let mut flushed = Instant::now();
        let mut claiming: Option<StoreCall<'_, Vec<Claimed>>> = None;
        let mut recording: Option<StoreCall<'_, ()>> = None;
        loop {
            let stopping = control.stopping() || fatal.is_some();
            if !stopping {
                if queue.len() < concurrency && !exhausted && claiming.is_none() {
                    claiming = Some(Box::pin(self.store.claim(&self.job.id, CLAIM_BATCH)));
                }
                while in_flight.len() < concurrency
                    && let Some(c) = queue.pop_front()
                {
                    in_flight.push(self.send(c));
                }
            }
            if recording.is_none()
                && !outcomes.is_empty()
                && (outcomes.len() >= CLAIM_BATCH || flushed.elapsed() >= FLUSH_EVERY)
            {
                recording = Some(Box::pin(
                    self.store
                        .record(&self.job.id, std::mem::take(&mut outcomes)),
                ));
                flushed = Instant::now();
            }
            let idle = in_flight.is_empty() && claiming.is_none() && recording.is_none();
            if idle {
                if stopping {
                    break;
                }
                if exhausted {
                    // Requests put back for another try are claimable once recorded: the run
                    // ends only when nothing at all is left to send.
                    let more = self.reclaim(&mut outcomes).await?;
                    flushed = Instant::now();
                    if more.is_empty() {
                        break;
                    }
                    exhausted = false;
                    queue.extend(more);
                }
                continue;
            }
            tokio::select! {
                Some(sent) = in_flight.next() => match sent {
                    Sent::Done(o) => outcomes.push(o),
                    Sent::Fatal { seq, error } => {
                        outcomes.push(Outcome::Release { seq });
                        fatal.get_or_insert(error);
                    }
                },
                more = until_done(&mut claiming) => {
                    claiming = None;
                    let more = more?;
                    exhausted = more.is_empty();
                    if stopping {
                        // Taken while stopping: back to pending, never sent.
                        outcomes.extend(more.into_iter().map(|c| Outcome::Release { seq: c.seq }));
                    } else {
                        queue.extend(more);
                    }
                }
                written = until_done(&mut recording) => {
                    recording = None;
                    written?;
                }
            }
        }
        // Claimed but never sent: back to pending as if never taken.
        outcomes.extend(queue.into_iter().map(|c| Outcome::Release { seq: c.seq }));
        self.store.record(&self.job.id, outcomes).await?;
        Ok(fatal)
    }
}
