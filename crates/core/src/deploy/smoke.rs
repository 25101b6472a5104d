//! The smoke test: after InService, one small request through the async path
//! (S3 input, `InvokeEndpointAsync`, then the output *or* the failure object), because an
//! endpoint can pass its health check and still fail every request (CUDA out of memory on
//! the first prefill, a chat request on a model without a chat template).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use super::invoke;
use crate::aws_errors::Context;
use crate::cloud::Clients;
use crate::error::Error;

/// How long the smoke test waits for its answer unless told otherwise: a just-started async
/// endpoint answers a short request in seconds; ten minutes covers a cold first prefill.
pub const DEFAULT_DEADLINE_S: u32 = 600;

/// What the smoke test sent and what came back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct SmokeTest {
    /// The answer landed at the output location.
    pub passed: bool,
    /// The request's `s3://` input.
    pub input_location: String,
    pub output_location: Option<String>,
    pub failure_location: Option<String>,
    /// The answer, when it came.
    pub output: Option<String>,
    /// The failure object's body, when the request failed.
    pub failure: Option<String>,
    /// Seconds waited for the answer.
    pub waited_s: u32,
    /// The most it would wait, in seconds.
    pub deadline_s: u32,
    /// Stopped by the user before an answer came.
    pub cancelled: bool,
    /// Why the request could not be sent or its answer not read (S3 or SageMaker said no).
    pub error: Option<String>,
}

/// The request the smoke test sends: a chat-completions body when `/invocations` takes only
/// those (TGI 1.4–2.3 with the Messages API on) or the Messages API is on (so a model without
/// a chat template shows here, not in the user's first job), else a TGI generate body. Both ask
/// for a handful of tokens.
pub fn request_body(chat: bool) -> Value {
    if chat {
        json!({ "messages": [{ "role": "user", "content": "Say hello." }], "max_tokens": 8 })
    } else {
        json!({ "inputs": "Say hello.", "parameters": { "max_new_tokens": 8 } })
    }
}

/// Where the smoke test is, for progress.
pub struct Watch<'a> {
    pub poll: Duration,
    pub deadline: Duration,
    pub cancel: &'a AtomicBool,
    /// Called after each look with the seconds waited so far.
    pub tick: &'a (dyn Fn(u32) + Send + Sync),
}

/// Sends [`request_body`] to `endpoint` and waits for its output or failure, watching both
/// locations, until `watch.deadline` or a cancel. Never an error: an upload, invocation or
/// read that AWS refuses is the test's [`SmokeTest::error`], because the endpoint exists
/// (and bills) either way and the user must hear about both.
pub async fn run(
    clients: &Clients,
    ctx: Context<'_>,
    place: (&str, &str),
    (endpoint, chat): (&str, bool),
    watch: Watch<'_>,
) -> SmokeTest {
    let stamp = format!("smoke-{}", super::spec::stamp_now());
    let mut test = SmokeTest {
        passed: false,
        input_location: String::new(),
        output_location: None,
        failure_location: None,
        output: None,
        failure: None,
        waited_s: 0,
        deadline_s: watch.deadline.as_secs() as u32,
        cancelled: false,
        error: None,
    };
    match invoke::send_body(clients, ctx, place, endpoint, &request_body(chat), &stamp).await {
        Ok(sent) => {
            test.input_location = sent.input_location;
            test.output_location = sent.output_location;
            test.failure_location = sent.failure_location;
        }
        Err(e) => {
            test.error = Some(e.to_string());
            return test;
        }
    }
    if let Err(e) = watch_for_answer(clients, ctx, &mut test, watch).await {
        test.error = Some(e.to_string());
    }
    test
}

/// Looks at the output and failure locations until one holds the answer.
async fn watch_for_answer(
    clients: &Clients,
    ctx: Context<'_>,
    test: &mut SmokeTest,
    watch: Watch<'_>,
) -> Result<(), Error> {
    let started = Instant::now();
    loop {
        test.waited_s = started.elapsed().as_secs() as u32;
        if let Some(out) = invoke::fetch(clients, ctx, test.output_location.as_deref()).await? {
            test.output = Some(out);
            test.passed = true;
            return Ok(());
        }
        if let Some(failure) = invoke::fetch(clients, ctx, test.failure_location.as_deref()).await?
        {
            test.failure = Some(failure);
            return Ok(());
        }
        (watch.tick)(test.waited_s);
        if watch.cancel.load(Ordering::SeqCst) {
            test.cancelled = true;
            return Ok(());
        }
        if started.elapsed() >= watch.deadline {
            return Ok(());
        }
        tokio::time::sleep(watch.poll).await;
    }
}

impl SmokeTest {
    /// One line on how it went.
    pub fn summary(&self) -> String {
        if let Some(error) = &self.error {
            return format!("the test request could not be sent or its answer read: {error}");
        }
        match (&self.output, &self.failure) {
            (Some(_), _) => format!("the test request was answered in {} s", self.waited_s),
            (None, Some(body)) => format!(
                "the test request failed: {}",
                body.chars().take(300).collect::<String>()
            ),
            _ if self.cancelled => "stopped waiting for the test request's answer".into(),
            _ => format!(
                "the test request was not answered within {} s",
                self.deadline_s
            ),
        }
    }
}
