//! One asynchronous endpoint at run time: a queue of requests and N instances, each running
//! up to `max_concurrency` requests at once. With 0 instances requests wait in the queue
//! (backlog without capacity) until capacity appears or their TTL runs out.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::Notify;

use super::backend::{Backend, ModelError};
use super::clock::Clock;
use super::journal::Journal;
use super::s3uri::S3Uri;
use crate::s3::store::{PutOptions, Store};

/// Where a request's input comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    S3(S3Uri),
    Inline(Bytes),
}

#[derive(Debug, Clone)]
pub struct Job {
    pub inference_id: String,
    pub input: Input,
    pub content_type: Option<String>,
    pub accept: Option<String>,
    pub output: S3Uri,
    pub failure: Option<S3Uri>,
    /// Real instant after which a still-queued request expires (RequestTTLSeconds).
    pub expires_at: Instant,
    /// Simulated time a request may run (InvocationTimeoutSeconds).
    pub timeout: Duration,
}

impl Job {
    /// What tells one request from another: its InferenceId with its output location.
    /// SageMaker does not require InferenceIds to be unique (two jobs of one folder may send
    /// the same ids), but a request sent again keeps both.
    pub fn key(&self) -> String {
        request_key(
            &self.inference_id,
            &format!("s3://{}/{}", self.output.bucket, self.output.key),
        )
    }
}

impl Job {
    /// What a request sent again has in common with its first sending: its InferenceId, its
    /// input, and the folder its output goes to (a retried call without a `Filename` gets a
    /// new output name, but another job's request with the same id goes to another folder).
    fn sent_again_key(&self) -> String {
        use sha2::Digest;
        let input = match &self.input {
            Input::S3(u) => format!("s3://{}/{}", u.bucket, u.key),
            Input::Inline(b) => hex::encode(sha2::Sha256::digest(b)),
        };
        let folder = self.output.key.rsplit_once('/').map_or("", |(f, _)| f);
        format!(
            "{}\n{input}\ns3://{}/{folder}",
            self.inference_id, self.output.bucket
        )
    }
}

/// [`Job::key`] from its parts (`output` as an `s3://` URI).
pub fn request_key(inference_id: &str, output: &str) -> String {
    // A line break cannot be in an InferenceId (SageMaker's pattern) or an S3 URI Ebb reads.
    format!("{inference_id}\n{output}")
}

/// What the endpoint is doing now; part 2's CloudWatch metrics read this.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EndpointStats {
    /// Requests waiting for a free slot.
    pub queued: usize,
    /// Requests being processed.
    pub in_flight: u32,
    pub instances: u32,
    pub max_concurrency: u32,
    pub succeeded: u64,
    pub failed: u64,
}

impl EndpointStats {
    /// SageMaker's ApproximateBacklogSize: queued plus in progress.
    pub fn backlog(&self) -> usize {
        self.queued + self.in_flight as usize
    }
}

/// How often the queue is looked through for requests past their RequestTTLSeconds.
const EXPIRY_CHECK: Duration = Duration::from_millis(250);

pub struct EndpointSim {
    name: String,
    /// Waiting requests with the simulated instant they arrived.
    queue: Mutex<VecDeque<(f64, Job)>>,
    instances: AtomicU32,
    max_concurrency: AtomicU32,
    in_flight: AtomicU32,
    succeeded: AtomicU64,
    failed: AtomicU64,
    wake: Notify,
    stopped: AtomicBool,
    /// Replaced when UpdateEndpoint deploys a new model.
    backend: Mutex<Backend>,
    store: Arc<Store>,
    clock: Clock,
    /// The queue on disk (requests survive a restart); locked before `queue`.
    journal: Mutex<Option<Journal>>,
    /// Where a failed invocation is logged (CloudWatch Logs group and stream).
    failure_log: Mutex<Option<FailureLog>>,
    /// How many times each InferenceId was processed (a retried send can repeat one).
    processed: Mutex<HashMap<String, u32>>,
    /// A JSON-lines file that gets one line per repeated processing, for test harnesses.
    duplicates_file: Mutex<Option<PathBuf>>,
}

/// A log stream that failed invocations are written to.
pub struct FailureLog {
    pub logs: Arc<crate::logs::Logs>,
    /// `/aws/sagemaker/Endpoints/<endpoint>`.
    pub group: String,
    /// `<variant>/<instance>/data-log`.
    pub stream: String,
    /// `<variant>/<instance>`, the container's own log, where TGI's router logs its errors.
    pub container: String,
}

/// Why an invocation failed: what goes to the failure object, and one line for the log.
struct Failure {
    body: Bytes,
    reason: String,
    /// The line the container logs about it, if any.
    container_log: Option<String>,
}

impl Failure {
    fn plain(message: String) -> Failure {
        Failure {
            body: Bytes::from(message.clone()),
            reason: message,
            container_log: None,
        }
    }

    /// The container's error answer, described as SageMaker describes a model error.
    fn model(e: ModelError) -> Failure {
        Failure {
            reason: format!(
                "Received client error ({}) from primary with message \"{}\".",
                e.status,
                e.message()
            ),
            body: e.body,
            container_log: e.log,
        }
    }
}

impl EndpointSim {
    /// Starts the endpoint's dispatcher; it runs until [`EndpointSim::stop`]. With a journal
    /// path, requests accepted before a restart are queued again first.
    pub fn start(
        name: &str,
        (instances, max_concurrency): (u32, u32),
        backend: Backend,
        store: Arc<Store>,
        clock: Clock,
        journal: Option<&std::path::Path>,
    ) -> Arc<EndpointSim> {
        let (journal, replayed) = match journal {
            Some(path) => {
                let (j, jobs) = Journal::open(path);
                (Some(j), jobs)
            }
            None => (None, Vec::new()),
        };
        let now = clock.now();
        let sim = Arc::new(EndpointSim {
            name: name.to_string(),
            queue: Mutex::new(replayed.into_iter().map(|j| (now, j)).collect()),
            instances: AtomicU32::new(instances),
            max_concurrency: AtomicU32::new(max_concurrency.max(1)),
            in_flight: AtomicU32::new(0),
            succeeded: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            wake: Notify::new(),
            stopped: AtomicBool::new(false),
            backend: Mutex::new(backend),
            store,
            clock,
            journal: Mutex::new(journal),
            failure_log: Mutex::new(None),
            processed: Mutex::new(HashMap::new()),
            duplicates_file: Mutex::new(None),
        });
        tokio::spawn(sim.clone().dispatch());
        sim
    }

    /// Logs every failed invocation from now on, naming its inference id and the reason.
    pub fn log_failures(&self, log: FailureLog) {
        if let Ok(mut l) = self.failure_log.lock() {
            *l = Some(log);
        }
    }

    /// The model that answers now (a copy: an update may replace it meanwhile).
    pub fn backend(&self) -> Backend {
        self.backend
            .lock()
            .map(|b| b.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    /// Serves with a new model and per-instance concurrency from now on (UpdateEndpoint);
    /// requests already running finish on the old one, queued ones run on the new one.
    pub fn redeploy(&self, backend: Backend, max_concurrency: u32) {
        if let Ok(mut b) = self.backend.lock() {
            *b = backend;
        }
        self.max_concurrency
            .store(max_concurrency.max(1), Ordering::SeqCst);
        self.wake.notify_one();
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub fn stats(&self) -> EndpointStats {
        EndpointStats {
            queued: self.queue.lock().map(|q| q.len()).unwrap_or(0),
            in_flight: self.in_flight.load(Ordering::SeqCst),
            instances: self.instances.load(Ordering::SeqCst),
            max_concurrency: self.max_concurrency.load(Ordering::SeqCst),
            succeeded: self.succeeded.load(Ordering::SeqCst),
            failed: self.failed.load(Ordering::SeqCst),
        }
    }

    /// Simulated seconds the oldest queued request has waited (ApproximateAgeOfOldestRequest).
    pub fn oldest_wait(&self) -> Option<f64> {
        let since = self.queue.lock().ok()?.front().map(|(at, _)| *at)?;
        Some((self.clock.now() - since).max(0.0))
    }

    pub fn instances(&self) -> u32 {
        self.instances.load(Ordering::SeqCst)
    }

    pub fn set_instances(&self, n: u32) {
        self.instances.store(n, Ordering::SeqCst);
        self.wake.notify_one();
    }

    pub fn enqueue(&self, job: Job) {
        let now = self.clock.now();
        // On disk before it is queued (and before the caller is answered).
        let mut journal = self.journal.lock().ok();
        if let Some(j) = journal.as_mut().and_then(|j| j.as_mut()) {
            j.added(&job);
        }
        if let Ok(mut q) = self.queue.lock() {
            q.push_back((now, job));
        }
        drop(journal);
        self.wake.notify_one();
    }

    /// Appends a line `{"endpoint", "inference_id", "times"}` to `path` for each InferenceId
    /// processed more than once from now on.
    pub fn record_duplicates(&self, path: PathBuf) {
        if let Ok(mut f) = self.duplicates_file.lock() {
            *f = Some(path);
        }
    }

    /// The InferenceIds of requests this endpoint processed more than once, with how many
    /// times.
    pub fn duplicates(&self) -> BTreeMap<String, u32> {
        self.processed
            .lock()
            .map(|p| {
                p.iter()
                    .filter(|(_, n)| **n > 1)
                    .map(|(key, n)| {
                        let id = key.split_once('\n').map_or(key.as_str(), |k| k.0);
                        (id.to_string(), *n)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Counts one processing of `job`; a repeat of the same request is logged and recorded.
    fn count(&self, job: &Job) {
        let id = job.inference_id.as_str();
        let times = match self.processed.lock() {
            Ok(mut p) => {
                let n = p.entry(job.sent_again_key()).or_insert(0);
                *n += 1;
                *n
            }
            Err(_) => return,
        };
        if times < 2 {
            return;
        }
        tracing::warn!(endpoint = %self.name, id, times, "duplicate invocation");
        let line = serde_json::json!({ "endpoint": self.name, "inference_id": id, "times": times });
        let Ok(path) = self.duplicates_file.lock() else {
            return;
        };
        if let Some(path) = path.as_ref() {
            let appended = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| writeln!(f, "{line}"));
            if let Err(e) = appended {
                tracing::warn!("could not record a duplicate in {}: {e}", path.display());
            }
        }
    }

    /// Marks a request done on disk.
    fn finished(&self, id: &str) {
        if let Ok(mut j) = self.journal.lock()
            && let Some(j) = j.as_mut()
        {
            j.done(id);
        }
    }

    /// Empties the journal when nothing is queued or in progress.
    fn settle_journal(&self) {
        let Ok(mut journal) = self.journal.lock() else {
            return;
        };
        let idle = self.queue.lock().is_ok_and(|q| q.is_empty())
            && self.in_flight.load(Ordering::SeqCst) == 0;
        if idle && let Some(j) = journal.as_mut() {
            j.clear();
        }
    }

    /// Stops, and forgets the queue on disk (the endpoint is deleted).
    pub fn discard(&self) {
        self.stop();
        if let Ok(mut j) = self.journal.lock()
            && let Some(j) = j.as_mut()
        {
            j.remove();
        }
    }

    /// Stops taking work; requests still queued are dropped with the endpoint, as in SageMaker.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    fn take_expired(&self) -> Vec<Job> {
        let now = Instant::now();
        let Ok(mut q) = self.queue.lock() else {
            return Vec::new();
        };
        // Read-only first: the dispatcher asks before every job, and a backlog of a million
        // must not be moved each time (TTLs differ per request, so the queue is not in
        // expiry order).
        if !q.iter().any(|(_, j)| j.expires_at <= now) {
            return Vec::new();
        }
        let (expired, kept): (Vec<_>, Vec<_>) = q.drain(..).partition(|(_, j)| j.expires_at <= now);
        q.extend(kept);
        expired.into_iter().map(|(_, j)| j).collect()
    }

    fn next_job(&self) -> Option<Job> {
        let capacity = self.instances() * self.max_concurrency.load(Ordering::SeqCst);
        if self.in_flight.load(Ordering::SeqCst) >= capacity {
            return None;
        }
        let (_, job) = self.queue.lock().ok()?.pop_front()?;
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        Some(job)
    }

    async fn dispatch(self: Arc<Self>) {
        let mut expiry_due = Instant::now();
        while !self.stopped.load(Ordering::SeqCst) {
            // Expiries are looked for a few times a second, not before every job: the
            // shortest TTL is 60 s, and the look is as long as the backlog.
            let expired = if Instant::now() >= expiry_due {
                expiry_due = Instant::now() + EXPIRY_CHECK;
                self.take_expired()
            } else {
                Vec::new()
            };
            for job in expired {
                let message = format!(
                    "The request expired: it waited in the queue of endpoint {} longer than its RequestTTLSeconds.",
                    self.name
                );
                self.clone().fail(&job, Failure::plain(message)).await;
                self.finished(&job.key());
            }
            if let Some(job) = self.next_job() {
                tokio::spawn(self.clone().process(job));
                continue;
            }
            self.settle_journal();
            // Woken by new work, freed capacity or a scale change; the timer catches expiries.
            let _ = tokio::time::timeout(Duration::from_millis(100), self.wake.notified()).await;
        }
    }

    async fn process(self: Arc<Self>, job: Job) {
        self.count(&job);
        let result = match self.read_input(&job).await {
            Err(message) => Err(Failure::plain(message)),
            Ok(body) => {
                let backend = self.backend();
                let run = backend.invoke(
                    &self.clock,
                    body,
                    job.content_type.as_deref(),
                    job.accept.as_deref(),
                );
                match tokio::time::timeout(self.clock.real(job.timeout), run).await {
                    Ok(Ok(answer)) => Ok(answer),
                    Ok(Err(e)) => Err(Failure::model(e)),
                    Err(_) => Err(Failure::plain(format!(
                        "The invocation timed out: the model did not answer within InvocationTimeoutSeconds={}.",
                        job.timeout.as_secs()
                    ))),
                }
            }
        };
        match result {
            Ok(answer) => {
                let written = self
                    .store
                    .put(
                        &job.output.bucket,
                        &job.output.key,
                        answer.body,
                        PutOptions {
                            content_type: Some(answer.content_type),
                            ..PutOptions::default()
                        },
                    )
                    .await;
                match written {
                    Ok(_) => {
                        self.succeeded.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => {
                        let message = format!("Could not write the output to {}: {e}", job.output);
                        self.clone().fail(&job, Failure::plain(message)).await;
                    }
                }
            }
            Err(failure) => self.clone().fail(&job, failure).await,
        }
        self.finished(&job.key());
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.wake.notify_one();
    }

    async fn read_input(&self, job: &Job) -> Result<Bytes, String> {
        match &job.input {
            Input::Inline(bytes) => Ok(bytes.clone()),
            Input::S3(uri) => self
                .store
                .read(&uri.bucket, &uri.key)
                .await
                .map(|(_, data)| data)
                .map_err(|e| format!("Could not read the input {uri}: {e}")),
        }
    }

    async fn fail(self: Arc<Self>, job: &Job, failure: Failure) {
        self.failed.fetch_add(1, Ordering::SeqCst);
        tracing::info!(endpoint = %self.name, id = %job.inference_id, "invocation failed");
        if let Ok(log) = self.failure_log.lock()
            && let Some(log) = log.as_ref()
        {
            if let Some(line) = &failure.container_log {
                log.logs.put(&log.group, &log.container, line.clone());
            }
            log.logs.put(
                &log.group,
                &log.stream,
                format!(
                    "Inference request failed. InferenceId: {}. Reason: {}",
                    job.inference_id, failure.reason
                ),
            );
        }
        let body = failure.body;
        let Some(failure) = &job.failure else {
            return;
        };
        let written = self
            .store
            .put(
                &failure.bucket,
                &failure.key,
                body,
                PutOptions {
                    content_type: Some("application/json".into()),
                    ..PutOptions::default()
                },
            )
            .await;
        if let Err(e) = written {
            tracing::warn!(endpoint = %self.name, "could not write the failure to {failure}: {e}");
        }
    }
}

impl Drop for EndpointSim {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
    }
}
