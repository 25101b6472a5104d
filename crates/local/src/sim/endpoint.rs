//! One asynchronous endpoint at run time: a queue of requests and N instances, each running
//! up to `max_concurrency` requests at once. With 0 instances requests wait in the queue
//! (backlog without capacity) until capacity appears or their TTL runs out.

use std::collections::VecDeque;
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

pub struct EndpointSim {
    name: String,
    /// Waiting requests with the simulated instant they arrived.
    queue: Mutex<VecDeque<(f64, Job)>>,
    instances: AtomicU32,
    max_concurrency: u32,
    in_flight: AtomicU32,
    succeeded: AtomicU64,
    failed: AtomicU64,
    wake: Notify,
    stopped: AtomicBool,
    backend: Backend,
    store: Arc<Store>,
    clock: Clock,
    /// The queue on disk (requests survive a restart); locked before `queue`.
    journal: Mutex<Option<Journal>>,
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
            max_concurrency: max_concurrency.max(1),
            in_flight: AtomicU32::new(0),
            succeeded: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            wake: Notify::new(),
            stopped: AtomicBool::new(false),
            backend,
            store,
            clock,
            journal: Mutex::new(journal),
        });
        tokio::spawn(sim.clone().dispatch());
        sim
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub fn stats(&self) -> EndpointStats {
        EndpointStats {
            queued: self.queue.lock().map(|q| q.len()).unwrap_or(0),
            in_flight: self.in_flight.load(Ordering::SeqCst),
            instances: self.instances.load(Ordering::SeqCst),
            max_concurrency: self.max_concurrency,
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
        let (expired, kept): (Vec<_>, Vec<_>) = q.drain(..).partition(|(_, j)| j.expires_at <= now);
        q.extend(kept);
        expired.into_iter().map(|(_, j)| j).collect()
    }

    fn next_job(&self) -> Option<Job> {
        let capacity = self.instances() * self.max_concurrency;
        if self.in_flight.load(Ordering::SeqCst) >= capacity {
            return None;
        }
        let (_, job) = self.queue.lock().ok()?.pop_front()?;
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        Some(job)
    }

    async fn dispatch(self: Arc<Self>) {
        while !self.stopped.load(Ordering::SeqCst) {
            for job in self.take_expired() {
                let message = format!(
                    "The request expired: it waited in the queue of endpoint {} longer than its RequestTTLSeconds.",
                    self.name
                );
                self.clone().fail(&job, Bytes::from(message)).await;
                self.finished(&job.inference_id);
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
        let result = match self.read_input(&job).await {
            Err(message) => Err(Bytes::from(message)),
            Ok(body) => {
                let run = self.backend.invoke(
                    &self.clock,
                    body,
                    job.content_type.as_deref(),
                    job.accept.as_deref(),
                );
                match tokio::time::timeout(self.clock.real(job.timeout), run).await {
                    Ok(Ok(answer)) => Ok(answer),
                    Ok(Err(ModelError { body, .. })) => Err(body),
                    Err(_) => Err(Bytes::from(format!(
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
                        self.clone().fail(&job, Bytes::from(message)).await;
                    }
                }
            }
            Err(body) => self.clone().fail(&job, body).await,
        }
        self.finished(&job.inference_id);
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

    async fn fail(self: Arc<Self>, job: &Job, body: Bytes) {
        self.failed.fetch_add(1, Ordering::SeqCst);
        tracing::info!(endpoint = %self.name, id = %job.inference_id, "invocation failed");
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
