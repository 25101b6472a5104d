//! The engine's job operations: scan, create, run (submit + collect), list, results, export,
//! pause and cancel.

use std::path::PathBuf;
use std::sync::Arc;

use super::{Ebb, context};
use crate::error::Error;
use crate::jobs::export::{self, ExportFormat};
use crate::jobs::lease::Lease;
use crate::jobs::progress::Watch;
use crate::jobs::run::Runner;
use crate::jobs::scan::{self, Scan, ScanOptions};
use crate::jobs::store::{JobRow, RequestRow, Store};
use crate::jobs::{
    self as job, CancelMode, JobControl, JobProgress, JobSettings, JobState, JobSummary,
    RequestState,
};

/// Which jobs a run takes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resume {
    /// Any unfinished job (run, resume).
    Any,
    /// Only one whose run was interrupted (still sending or collecting): after following a
    /// run of another process, a job that run paused stays paused.
    OnlyInterrupted,
}

pub(super) fn no_job(id: &str) -> Error {
    Error::InvalidRequest(format!("there is no job {id}; `ebb jobs` lists them"))
}

/// Removes a job's control when its run ends, however it ends.
struct Running<'a> {
    ebb: &'a Ebb,
    id: String,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if let Ok(mut jobs) = self.ebb.running_jobs.lock() {
            jobs.remove(&self.id);
        }
    }
}

impl Ebb {
    /// The job store in the Ebb home (`jobs.sqlite`).
    pub fn job_store(&self) -> Result<&Store, Error> {
        if let Some(s) = self.job_store.get() {
            return Ok(s);
        }
        let store = Store::open(&self.home)?;
        Ok(self.job_store.get_or_init(|| store))
    }

    /// Reads and checks every request in `paths`, sending nothing.
    pub async fn scan_jobs(
        &self,
        paths: Vec<PathBuf>,
        options: ScanOptions,
    ) -> Result<Scan, Error> {
        self.scan_jobs_watched(paths, options, Watch::none()).await
    }

    /// [`Ebb::scan_jobs`], reporting the bytes read to `watch` (about every 100 ms) and
    /// stopping when its flag is set.
    ///
    /// # Errors
    /// [`Error::Stopped`] when the user stopped it.
    pub async fn scan_jobs_watched(
        &self,
        paths: Vec<PathBuf>,
        options: ScanOptions,
        watch: Watch,
    ) -> Result<Scan, Error> {
        tokio::task::spawn_blocking(move || scan::scan_watched(&paths, options, watch))
            .await
            .map_err(|e| Error::InvalidRequest(format!("the scan stopped: {e}")))?
    }

    /// Records a job for `endpoint` with the requests of `scan` (all pending). Refuses input
    /// with errors unless `valid_only`, so nothing is half-submitted without the user's say.
    pub async fn create_job(
        &self,
        scan: Arc<Scan>,
        endpoint: &str,
        settings: JobSettings,
        valid_only: bool,
    ) -> Result<String, Error> {
        // How the requests were cut is the scan's to say, not the caller's.
        let settings = JobSettings {
            per_file: scan.per_file,
            ..settings
        };
        settings.check().map_err(Error::InvalidRequest)?;
        if scan.errors > 0 && !valid_only {
            return Err(Error::InvalidRequest(format!(
                "{} problem{} in the input (first: {}); fix the files, or submit the {} valid requests only",
                scan.errors,
                if scan.errors == 1 { "" } else { "s" },
                scan.problems
                    .iter()
                    .find(|p| p.severity == scan::Severity::Error)
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                scan.requests.len()
            )));
        }
        if scan.requests.is_empty() {
            return Err(Error::InvalidRequest(
                "there is nothing to submit: no valid request was found".into(),
            ));
        }
        let (output_path, failure_path) = self.async_output_of(endpoint).await?;
        self.check_bodies(endpoint, (scan.needs_messages_api(), scan.needs_generate()))
            .await?;
        let id = job::new_job_id();
        // Made one by one as the rows are written: held all at once, a million names took
        // more memory than the scan itself.
        let filenames = {
            let (scan, per_file) = (scan.clone(), settings.per_file);
            (0..scan.requests.len()).map(move |seq| {
                let r = &scan.requests[seq];
                let rel = scan
                    .files
                    .get(r.file as usize)
                    .map_or("input", |f| f.rel.as_str());
                match &r.id {
                    Some(id) => job::id_filename(seq, id),
                    None => job::result_filename(seq, rel, r.line, per_file),
                }
            })
        };
        let row = JobRow {
            id: id.clone(),
            endpoint: endpoint.to_string(),
            settings,
            output_path,
            failure_path,
            state: JobState::Paused,
            files: Vec::new(),
            parent: None,
        };
        let upload_all = row.settings.upload_all;
        self.job_store()?
            .create(row, scan.clone(), filenames)
            .await?;
        tracing::info!(job = id, endpoint, "job created");
        // Kept for the manifest, to set against what the job took; a job runs without one.
        match self
            .estimate_unchecked(scan, endpoint, None, upload_all)
            .await
        {
            Ok(estimate) => self.job_store()?.save_estimate(&id, &estimate).await?,
            Err(e) => tracing::info!(job = id, "no estimate for the manifest: {e}"),
        }
        Ok(id)
    }

    /// Where async endpoint `endpoint` writes outputs and failures (S3OutputPath,
    /// S3FailurePath), once it is known to exist, not to have failed, and to be asynchronous.
    pub(super) async fn async_output_of(
        &self,
        endpoint: &str,
    ) -> Result<(String, Option<String>), Error> {
        let (target, _, clients) = self.connected().await?;
        let region = clients.region();
        let ctx = context(&target, region.as_deref(), "sagemaker:DescribeEndpoint");
        let described = match clients
            .sagemaker
            .describe_endpoint()
            .endpoint_name(endpoint)
            .send()
            .await
        {
            Ok(d) => d,
            Err(e) if crate::aws_errors::is_not_found(&e) => {
                return Err(Error::EndpointNotFound(endpoint.to_string()));
            }
            Err(e) => {
                return Err(crate::aws_errors::failed(
                    &e,
                    ctx,
                    "sagemaker:DescribeEndpoint",
                ));
            }
        };
        // A Failed endpoint never serves: refuse before a job is made.
        if described.endpoint_status() == Some(&aws_sdk_sagemaker::types::EndpointStatus::Failed) {
            return Err(Error::InvalidRequest(format!(
                "endpoint {endpoint} failed to start ({}): tear it down and deploy again",
                described.failure_reason().unwrap_or("no reason given")
            )));
        }
        // The endpoint's description carries its async config; some servers (moto) only keep
        // it on the endpoint config, so look there too.
        let mut async_config = described.async_inference_config().cloned();
        if async_config.is_none()
            && let Some(config) = described.endpoint_config_name()
        {
            async_config = clients
                .sagemaker
                .describe_endpoint_config()
                .endpoint_config_name(config)
                .send()
                .await
                .map_err(|e| {
                    crate::aws_errors::failed(&e, ctx, "sagemaker:DescribeEndpointConfig")
                })?
                .async_inference_config()
                .cloned();
        }
        let output = async_config
            .as_ref()
            .and_then(|a| a.output_config())
            .ok_or_else(|| {
                Error::InvalidRequest(format!(
                    "endpoint {endpoint} is not asynchronous: jobs need an async endpoint (deploy one on the Endpoints screen or with `ebb deploy`)"
                ))
            })?;
        Ok((
            output.s3_output_path().unwrap_or_default().to_string(),
            output.s3_failure_path().map(str::to_string),
        ))
    }

    /// Refuses a job whose lines the endpoint's model does not take, naming the fix: chat
    /// lines (OpenAI batch or chat) on a model without TGI's Messages API, TGI generate lines
    /// on a TGI 1.4-2.3 model with it on (whose `/invocations` then takes chat only).
    pub(super) async fn check_bodies(
        &self,
        endpoint: &str,
        (chat, generate): (bool, bool),
    ) -> Result<(), Error> {
        if !chat && !generate {
            return Ok(());
        }
        let (target, _, clients) = self.connected().await?;
        let region = clients.region();
        let ctx = context(&target, region.as_deref(), "");
        let taken = crate::deploy::messages_api::bodies_taken(&clients, ctx, endpoint).await?;
        if chat && !taken.chat {
            return Err(Error::InvalidRequest(format!(
                "these lines are OpenAI chat-completions bodies, and endpoint {endpoint}'s model does not take them: deploy one with TGI's Messages API (`ebb deploy --messages-api` with TGI 1.4.0 to 2.3, or TGI 2.4.0 or later, which takes them without it; the Deploy form's Messages API switch)"
            )));
        }
        if generate && !taken.generate {
            return Err(Error::InvalidRequest(format!(
                "these lines are TGI requests ({{\"inputs\"}}), and endpoint {endpoint}'s model takes chat-completions bodies only (TGI 1.4 to 2.3 with the Messages API on): send chat lines, or deploy without --messages-api or with TGI 2.4.0 or later, which takes both"
            )));
        }
        Ok(())
    }

    /// Sends what is left of job `id` and collects its results (with `wait`, until every
    /// request has its output or failure). Safe to call again after a crash: that is resume.
    ///
    /// # Errors
    /// [`Error::JobRunningElsewhere`] while another process runs it; store and AWS errors.
    pub async fn run_job(
        &self,
        id: &str,
        progress: &(dyn Fn(&JobProgress) + Send + Sync),
        wait: bool,
    ) -> Result<JobSummary, Error> {
        self.run_job_as(id, progress, wait, Resume::Any).await
    }

    /// [`Ebb::run_job`], except that while another process runs the job it follows it: the
    /// job's progress from the store every 2 s, naming who runs it. When that run ends (done,
    /// paused, stopped by an error) the job is left as it left it; when its process died (the
    /// job is still sending or collecting and the lease lapsed) it is resumed here. For the app,
    /// which resumes every unfinished job when it opens.
    pub async fn follow_or_run_job(
        &self,
        id: &str,
        progress: &(dyn Fn(&JobProgress) + Send + Sync),
        wait: bool,
    ) -> Result<JobSummary, Error> {
        let mut resume = Resume::Any;
        loop {
            match self.run_job_as(id, progress, wait, resume).await {
                Err(Error::JobRunningElsewhere { holder, .. }) => {
                    resume = Resume::OnlyInterrupted;
                    progress(&JobProgress::run_elsewhere(self.job(id).await?, holder));
                    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                }
                ended => return ended,
            }
        }
    }

    async fn run_job_as(
        &self,
        id: &str,
        progress: &(dyn Fn(&JobProgress) + Send + Sync),
        wait: bool,
        resume: Resume,
    ) -> Result<JobSummary, Error> {
        let store = self.job_store()?;
        let control = Arc::new(JobControl::default());
        {
            let mut jobs = self
                .running_jobs
                .lock()
                .map_err(|_| Error::Store("the running-jobs lock is poisoned".into()))?;
            if jobs.contains_key(id) {
                return Err(Error::InvalidRequest(format!(
                    "job {id} is already running"
                )));
            }
            jobs.insert(id.to_string(), control.clone());
        }
        let _running = Running {
            ebb: self,
            id: id.to_string(),
        };
        // The lease first, then the job as it is now: a run that ended meanwhile is seen ended.
        let lease = Lease::take(store, id).await?;
        let row = store.job(id).await?.ok_or_else(|| no_job(id))?;
        let interrupted = matches!(row.state, JobState::Submitting | JobState::Collecting);
        if row.state.is_final() || (resume == Resume::OnlyInterrupted && !interrupted) {
            return store
                .summary(id)
                .await?
                .ok_or_else(|| Error::Store(format!("job {id} has no summary")));
        }
        let (bucket, prefix) = self.bucket_and_prefix().await?;
        let (target, _, clients) = self.connected().await?;
        let region = clients.region();
        let runner = Runner {
            clients: &clients,
            store,
            ctx: context(&target, region.as_deref(), ""),
            bucket: &bucket,
            prefix: &prefix,
        };
        let run = runner.run(&row, &control, progress, wait);
        tokio::pin!(run);
        tokio::select! {
            ended = &mut run => ended,
            // Only when another process took the job over: the run was paused; let it wind down.
            () = lease.keep(&control) => run.await,
        }
    }

    /// Asks a running job to stop sending (it can be resumed); false when it is not running here.
    pub fn pause_job(&self, id: &str) -> bool {
        self.control(id).map(|c| c.pause()).is_some()
    }

    /// Stops a job for good: nothing more is sent. With [`CancelMode::Keep`] what was already
    /// sent is still collected (its GPU time is paid for); with `Discard` it is not.
    pub async fn cancel_job(&self, id: &str, mode: CancelMode) -> Result<JobSummary, Error> {
        let job = self.job(id).await?;
        if job.state.is_final() {
            return Err(Error::InvalidRequest(format!(
                "job {id} is already {}",
                job.state.as_str()
            )));
        }
        if let Some(c) = self.control(id) {
            c.cancel(mode);
        }
        // Marked in the store too: a run in another process (or one starting here) sees the
        // mark and stops sending (and collecting, with Discard).
        self.job_store()?.settle_cancel(id, Some(mode)).await?;
        self.job(id).await
    }

    fn control(&self, id: &str) -> Option<Arc<JobControl>> {
        self.running_jobs.lock().ok()?.get(id).cloned()
    }

    pub async fn jobs(&self) -> Result<Vec<JobSummary>, Error> {
        self.job_store()?.jobs().await
    }

    pub async fn job(&self, id: &str) -> Result<JobSummary, Error> {
        self.job_store()?
            .summary(id)
            .await?
            .ok_or_else(|| no_job(id))
    }

    /// A page of results in input order, filtered by state and text.
    pub async fn job_results(
        &self,
        id: &str,
        state: Option<RequestState>,
        search: Option<String>,
        page: (u32, u32),
    ) -> Result<Vec<RequestRow>, Error> {
        self.job_store()?.results(id, state, search, page).await
    }

    /// How many results match a filter.
    pub async fn job_result_count(
        &self,
        id: &str,
        state: Option<RequestState>,
        search: Option<String>,
    ) -> Result<u32, Error> {
        self.job_store()?.count(id, state, search).await
    }

    /// Request `seq`'s input as it is in its file now (None when the file is gone or changed).
    pub async fn job_input(&self, id: &str, seq: u32) -> Result<Option<String>, Error> {
        let Some((path, offset, len)) = self.job_store()?.input_span(id, seq).await? else {
            return Ok(None);
        };
        tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(path).ok()?;
            let buf = scan::read_span(&file, offset, len.min(1 << 20)).ok()?;
            Some(String::from_utf8_lossy(&buf).into_owned())
        })
        .await
        .map_err(|e| Error::Store(format!("reading an input failed: {e}")))
    }

    /// Jobs a previous run left sending or collecting (the app resumes them at start).
    pub async fn unfinished_jobs(&self) -> Result<Vec<String>, Error> {
        Ok(self
            .jobs()
            .await?
            .into_iter()
            .filter(|j| matches!(j.state, JobState::Submitting | JobState::Collecting))
            .map(|j| j.id)
            .collect())
    }

    /// Where the app writes exports: `exports/` in the Ebb home.
    pub fn exports_dir(&self) -> PathBuf {
        self.home.join("exports")
    }

    /// Writes every result of job `id` to `out`, aligned with the input; returns the count.
    pub async fn export_job(
        &self,
        id: &str,
        out: &std::path::Path,
        format: ExportFormat,
    ) -> Result<u32, Error> {
        let store = self.job_store()?;
        let row = store.job(id).await?.ok_or_else(|| no_job(id))?;
        export::export(store, &row, out, format).await
    }

    /// [`Ebb::export_job`], reporting rows written to `watch` and stopping when its flag is
    /// set; a stopped export leaves no file, under `out`'s name or the temporary one.
    ///
    /// # Errors
    /// [`Error::Stopped`] when the user stopped it; as [`Ebb::export_job`].
    pub async fn export_job_watched(
        &self,
        id: &str,
        out: &std::path::Path,
        format: ExportFormat,
        watch: Watch,
    ) -> Result<u32, Error> {
        let store = self.job_store()?;
        let row = store.job(id).await?.ok_or_else(|| no_job(id))?;
        export::export_watched(store, &row, (out, format), watch).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::lease::Holder;

    /// A job of one request in `home`'s store, in `state`.
    async fn one_request_job(ebb: &Ebb, dir: &std::path::Path, state: JobState) -> String {
        let file = dir.join("a.jsonl");
        std::fs::write(&file, "{\"inputs\": \"hi\"}\n").unwrap();
        let scan = scan::scan(&[file], scan::ScanOptions::default());
        let row = JobRow {
            id: "job-followed".into(),
            endpoint: "seed".into(),
            settings: JobSettings::default(),
            output_path: "s3://b/out".into(),
            failure_path: None,
            state,
            files: Vec::new(),
            parent: None,
        };
        let store = ebb.job_store().unwrap();
        store
            .create(row, Arc::new(scan), vec!["1.out".to_string()])
            .await
            .unwrap();
        store.set_state("job-followed", state, None).await.unwrap();
        "job-followed".into()
    }

    /// The app follows a job another process runs. When that run ends paused (Ctrl-C in the
    /// terminal), the app leaves it paused: it resumes only a run that was interrupted.
    #[tokio::test]
    async fn a_followed_job_that_its_runner_paused_stays_paused() {
        let dir = tempfile::tempdir().unwrap();
        let ebb = Ebb::with_home(dir.path().join("home"), crate::Overrides::default());
        let id = one_request_job(&ebb, dir.path(), JobState::Submitting).await;
        let store = ebb.job_store().unwrap().clone();
        let now = crate::deploy::now_s();
        // A process on another computer runs it, with a fresh heartbeat.
        let other = Holder {
            pid: 4242,
            host: "another-computer".into(),
            since: now as f64,
            heartbeat: now as f64,
        };
        assert!(
            store
                .take_lease(&id, "other", other, now)
                .await
                .unwrap()
                .is_none()
        );
        let seen = std::sync::Mutex::new(Vec::new());
        let progress = |p: &JobProgress| seen.lock().unwrap().push(p.run_elsewhere.clone());
        let follow = ebb.follow_or_run_job(&id, &progress, true);
        let end_run = async {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            // The other run pauses and lets go.
            store
                .set_state(&id, JobState::Paused, Some("paused".into()))
                .await
                .unwrap();
            store.release_lease(&id, "other").unwrap();
        };
        let (ended, ()) = tokio::join!(follow, end_run);
        let ended = ended.unwrap();
        assert_eq!(ended.state, JobState::Paused);
        assert_eq!(ended.pending, 1, "nothing was sent");
        let seen = seen.lock().unwrap();
        assert!(
            seen.first().is_some_and(|h| h
                .as_deref()
                .is_some_and(|h| h.starts_with("process 4242 on another-computer"))),
            "{seen:?}"
        );
    }
}
