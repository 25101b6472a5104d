//! Running a job: submit and collect side by side, progress a few times a second, and the
//! job's state written at the end (done, paused with the reason, cancelled, or collecting).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;

use super::collect::Collect;
use super::store::{JobRow, Store};
use super::submit::Submit;
use super::{JobControl, JobProgress, JobState, JobSummary};
use crate::aws_errors::Context;
use crate::bucket_owner;
use crate::cloud::Clients;
use crate::error::Error;

/// Attempts the SDK makes per InvokeEndpointAsync call (standard retry mode) before the request
/// goes back to the job's queue for a later try (see `submit::MAX_ATTEMPTS`).
pub const INVOKE_ATTEMPTS: u32 = 5;

/// How often results are looked for while they arrive, and at most when none do.
const POLL_FAST: Duration = Duration::from_millis(100);
const POLL_SLOW: Duration = Duration::from_secs(5);
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

pub struct Runner<'a> {
    pub clients: &'a Clients,
    pub store: &'a Store,
    pub ctx: Context<'a>,
    /// Where uploaded inputs go: Ebb's bucket and prefix.
    pub bucket: &'a str,
    pub prefix: &'a str,
}

/// Why the run ended, decided in this order.
/// The note of a job stopped by an error: the error, and that resuming carries on.
fn stopped_note(e: &Error) -> String {
    let said = e.to_string();
    let said = said.trim_end_matches('.');
    if said.contains("resume") {
        format!("stopped: {said}.")
    } else {
        format!("stopped: {said}. Fix it, then resume the job.")
    }
}

fn final_state(
    control: &JobControl,
    fatal: Option<&Error>,
    summary: &JobSummary,
) -> (JobState, Option<String>) {
    if let Some(e) = fatal {
        (JobState::Paused, Some(stopped_note(e)))
    } else if control.is_paused() {
        (JobState::Paused, Some("paused".into()))
    } else if summary.pending == 0 && summary.invoked == 0 {
        (JobState::Done, None)
    } else if summary.pending > 0 {
        (
            JobState::Paused,
            Some(format!("{} requests are not sent yet", summary.pending)),
        )
    } else {
        (JobState::Collecting, None)
    }
}

impl Runner<'_> {
    /// Leaves the job paused with `e` as its note (resuming carries on) and gives `e` back, or
    /// the store's error if the note could not be written.
    async fn stopped_by(&self, job: &str, e: Error) -> Error {
        let note = stopped_note(&e);
        match self
            .store
            .set_state(job, JobState::Paused, Some(note))
            .await
        {
            Ok(()) => e,
            Err(store) => store,
        }
    }

    /// The caller's account, once the job bucket and the endpoint's output and failure buckets
    /// are known not to belong to another account: before anything is uploaded or invoked.
    async fn owned_buckets(&self, job: &JobRow) -> Result<String, Error> {
        let action = "sts:GetCallerIdentity";
        let account = self
            .clients
            .account()
            .await
            .map_err(|e| crate::aws_errors::failed(&e, self.ctx, action))?;
        let mut buckets = vec![self.bucket];
        buckets.extend(bucket_owner::bucket_of(&job.output_path));
        buckets.extend(
            job.failure_path
                .as_deref()
                .and_then(bucket_owner::bucket_of),
        );
        buckets.dedup();
        for bucket in buckets {
            bucket_owner::ensure_owned(&self.clients.s3, bucket, &account).await?;
        }
        Ok(account)
    }

    /// Sends what is left of `job` and collects results; with `wait`, until every request has
    /// its output or failure, else until everything is sent.
    pub async fn run(
        &self,
        job: &JobRow,
        control: &JobControl,
        progress: &(dyn Fn(&JobProgress) + Send + Sync),
        wait: bool,
    ) -> Result<JobSummary, Error> {
        let account = match self.owned_buckets(job).await {
            Ok(account) => account,
            Err(e) => return Err(self.stopped_by(&job.id, e).await),
        };
        if !self.store.begin_run(&job.id).await? {
            return self
                .store
                .summary(&job.id)
                .await?
                .ok_or_else(|| Error::Store(format!("job {} vanished from the store", job.id)));
        }
        let requeued = self.store.requeue_in_flight(&job.id).await?;
        // A cancelled job's run only collects: what was in flight when a run stopped is not
        // sent again either.
        if let Some(mode) = self.store.cancel_mode(&job.id).await? {
            control.cancel(mode);
            self.store.settle_cancel(&job.id, None).await?;
        }
        if requeued > 0 {
            tracing::info!(
                job = job.id,
                requeued,
                "sending again requests that were in flight when the last run stopped"
            );
        }
        // Standard retries back each throttled call off on its own, so the bounded pipeline
        // slows down while throttling lasts and recovers at once. (The adaptive mode's shared
        // rate limiter kept the whole job near 10 requests/s long after a few throttles.)
        let retries = super::retries::RetryCounter::default();
        let runtime_config = self
            .clients
            .runtime
            .config()
            .to_builder()
            .retry_config(RetryConfig::standard().with_max_attempts(INVOKE_ATTEMPTS))
            .interceptor(retries.clone())
            .build();
        let s3 = aws_sdk_s3::Client::from_conf(
            self.clients
                .s3
                .config()
                .to_builder()
                .interceptor(retries.clone())
                .build(),
        );
        let submit = Submit::new(
            aws_sdk_sagemakerruntime::Client::from_conf(runtime_config),
            s3.clone(),
            self.store,
            job,
            (
                self.bucket.to_string(),
                format!("{}/{}/input", self.prefix.trim_matches('/'), job.id),
            ),
            (self.ctx, &account),
        );
        let collect = Collect::new(s3, self.store, job, (self.ctx, &account));
        let sent_all = AtomicBool::new(false);
        let finished = AtomicBool::new(false);
        let started = Instant::now();

        let submitting = async {
            let r = submit.run(control).await;
            sent_all.store(true, Ordering::SeqCst);
            r
        };
        let collecting = async {
            let mut pause = POLL_FAST;
            loop {
                // Read before the pass: once sending is over every invoked request is in the
                // store, so a pass that then finds nothing waiting has truly seen the end.
                let over = sent_all.load(Ordering::SeqCst);
                // `ebb cancel` from another process marks the job in the store.
                if let Some(mode) = self.store.cancel_mode(&job.id).await? {
                    control.cancel(mode);
                }
                let (found, waiting) = collect.pass().await?;
                if control.is_cancelled()
                    || (over && (waiting == 0 || !wait || control.is_paused()))
                {
                    return Ok::<_, Error>(collect.s3_calls.load(Ordering::Relaxed));
                }
                pause = if found > 0 {
                    POLL_FAST
                } else {
                    (pause * 2).min(POLL_SLOW)
                };
                let until = Instant::now() + pause;
                // Look again at once when sending ends, to finish promptly.
                while Instant::now() < until && sent_all.load(Ordering::SeqCst) == over {
                    tokio::time::sleep(POLL_FAST.min(until - Instant::now())).await;
                }
            }
        };
        let reporting = async {
            let step = Duration::from_millis(25);
            let mut summaries = Summaries::default();
            while !finished.load(Ordering::SeqCst) {
                let counted = Instant::now();
                if let Some(summary) = summaries.next(self.store, &job.id).await {
                    progress(&progress_of(
                        summary,
                        started,
                        (&submit, &collect),
                        &retries,
                    ));
                }
                // On a large job even counting takes a while: report less often, so that it
                // stays a tenth of the work at most.
                let every = PROGRESS_EVERY.max(counted.elapsed() * 10);
                // Short naps, so that a finished run is not kept waiting for the next report.
                let next = Instant::now() + every;
                while Instant::now() < next && !finished.load(Ordering::SeqCst) {
                    tokio::time::sleep(step).await;
                }
            }
        };
        let work = async {
            let r = tokio::try_join!(submitting, collecting);
            finished.store(true, Ordering::SeqCst);
            r
        };
        let (worked, ()) = tokio::join!(work, reporting);
        // An error that ends the run (say, credentials that ran out while collecting) leaves
        // the job paused with the reason, ready to resume.
        let (fatal, s3_calls) = match worked {
            Ok(w) => w,
            Err(e) => return Err(self.stopped_by(&job.id, e).await),
        };
        let summary = self
            .store
            .summary(&job.id)
            .await?
            .ok_or_else(|| Error::Store(format!("job {} vanished from the store", job.id)))?;
        let (state, note) = final_state(control, fatal.as_ref(), &summary);
        let cancelled = control.is_sending_stopped() || summary.cancel.is_some();
        if control.lost_lease() {
            // Another process runs the job now; its state is that run's to write.
            tracing::warn!(
                job = job.id,
                "this run stopped: another process took the job over"
            );
        } else if cancelled {
            // Requests this run claimed and put back are cancelled too; the job ends once
            // nothing sent is left to collect.
            self.store.settle_cancel(&job.id, None).await?;
        } else {
            self.store.set_state(&job.id, state, note).await?;
        }
        let collected = collect.collected.load(Ordering::Relaxed);
        tracing::info!(
            job = job.id,
            collected,
            s3_calls,
            retried_calls = retries.retries(),
            "run ended: {}",
            state.as_str()
        );
        let summary = self.store.summary(&job.id).await?.unwrap_or(summary);
        progress(&progress_of(
            summary.clone(),
            started,
            (&submit, &collect),
            &retries,
        ));
        Ok(summary)
    }
}

/// A running job's summaries for its progress: the whole summary (which reads every request)
/// now and then, and in between only its counts, from the state index.
#[derive(Default)]
struct Summaries {
    last: Option<JobSummary>,
    whole_due: Option<Instant>,
}

/// How often at most a run reads its job's whole summary (retries, first and last result).
const WHOLE_SUMMARY_EVERY: Duration = Duration::from_secs(10);

impl Summaries {
    async fn next(&mut self, store: &Store, job: &str) -> Option<JobSummary> {
        let due = self.whole_due.is_none_or(|d| Instant::now() >= d);
        let summary = match self.last.take() {
            Some(last) if !due => store.recount(last).await.ok(),
            _ => {
                let read = Instant::now();
                let whole = store.summary(job).await.ok().flatten();
                self.whole_due =
                    Some(Instant::now() + WHOLE_SUMMARY_EVERY.max(read.elapsed() * 10));
                whole
            }
        };
        self.last = summary.clone();
        summary
    }
}

fn progress_of(
    job: JobSummary,
    started: Instant,
    (submit, collect): (&Submit<'_>, &Collect<'_>),
    retries: &super::retries::RetryCounter,
) -> JobProgress {
    let secs = started.elapsed().as_secs_f64().max(0.001);
    let invoke_rate = f64::from(submit.invoked.load(Ordering::Relaxed)) / secs;
    let result_rate = f64::from(collect.collected.load(Ordering::Relaxed)) / secs;
    let remaining = f64::from(job.pending + job.invoked);
    let eta_s = (result_rate > 0.0).then(|| remaining / result_rate);
    JobProgress {
        job,
        invoke_rate,
        result_rate,
        uploaded: submit.uploaded.load(Ordering::Relaxed),
        result_s3_calls: collect.s3_calls.load(Ordering::Relaxed),
        retried_calls: retries.retries(),
        eta_s,
        run_elsewhere: None,
    }
}
