//! The batch object SageMaker async lacks, on top of jobs: where one request is, retry of what
//! failed, result files beside the inputs with an errors file and a manifest, and a price
//! before the run.

use std::path::Path;
use std::sync::Arc;

use super::jobs::no_job;
use super::{Ebb, context};
use crate::deploy::endpoints;
use crate::error::Error;
use crate::jobs::estimate::{self, Estimate, EstimateInputs, Throughput};
use crate::jobs::files::{self, CostFigures, WrittenFiles};
use crate::jobs::format::InputFormat;
use crate::jobs::progress::Watch;
use crate::jobs::retry::{self, RetryWhich};
use crate::jobs::scan::Scan;
use crate::jobs::status::RequestStatus;
use crate::jobs::{self as job, JobState, JobSummary};
use crate::metrics;
use crate::pricing::{PriceBook, PriceSource};

/// The endpoint's instance type, its count now, and the price of one instance an hour.
struct Serving {
    instance_type: Option<String>,
    instances: u32,
    price: Option<(f64, String)>,
}

fn source_name(s: &PriceSource) -> String {
    match s {
        PriceSource::PriceList => "pricelist".into(),
        PriceSource::Estimate => "estimate".into(),
    }
}

impl Ebb {
    /// Every request whose id or `InferenceId` is `id`, in any job, newest job first.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] when no job has such a request; store errors.
    pub async fn request_status(&self, id: &str) -> Result<Vec<RequestStatus>, Error> {
        let found = self.job_store()?.find_requests(id).await?;
        if found.is_empty() {
            return Err(Error::InvalidRequest(format!(
                "no request of any job has the id or inference id {id:?} (ids are a line's custom_id, recordId or --id-field value, else file:line as `ebb results` shows)"
            )));
        }
        Ok(found)
    }

    /// A new job with job `id`'s failed and/or expired lines, sent to `endpoint` (the job's own
    /// when None); their answers become the first job's as they come. Returns the new job's id.
    pub async fn retry_job(
        &self,
        id: &str,
        which: RetryWhich,
        endpoint: Option<&str>,
    ) -> Result<String, Error> {
        if !which.failed && !which.expired {
            return Err(Error::InvalidRequest(
                "say which lines to retry: failed, expired, or both".into(),
            ));
        }
        let store = self.job_store()?;
        let source = store.job(id).await?.ok_or_else(|| no_job(id))?;
        if !source.state.is_final() {
            return Err(Error::InvalidRequest(format!(
                "job {id} is still {}: retry it once it has ended",
                source.state.as_str()
            )));
        }
        let endpoint = endpoint.unwrap_or(&source.endpoint);
        let paths = self.async_output_of(endpoint).await?;
        if endpoint != source.endpoint {
            let has =
                |formats: &[InputFormat]| source.files.iter().any(|f| formats.contains(&f.format));
            let per_file = source.settings.per_file;
            let chat = !per_file && has(&[InputFormat::OpenAi, InputFormat::Chat]);
            let generate = per_file || has(&[InputFormat::Tgi]);
            self.check_bodies(endpoint, (chat, generate)).await?;
        }
        let new_id = job::new_job_id();
        let row = retry::retry_row(new_id.clone(), &source, endpoint, paths);
        let added = store.create_retry(row, id, which).await?;
        if added == 0 {
            store.delete_job(&new_id).await?;
            return Err(Error::InvalidRequest(format!(
                "job {id} has no {} lines to retry",
                match (which.failed, which.expired) {
                    (true, true) => "failed or expired",
                    (true, false) => "failed",
                    _ => "expired",
                }
            )));
        }
        tracing::info!(job = new_id, parent = id, added, "retry job created");
        Ok(new_id)
    }

    /// The folder job `id`'s inputs were scanned from (where result files go beside them):
    /// its first file's path without its name relative to that folder.
    pub async fn job_inputs_folder(&self, id: &str) -> Result<Option<std::path::PathBuf>, Error> {
        let row = self.job_store()?.job(id).await?.ok_or_else(|| no_job(id))?;
        Ok(row.files.first().and_then(|f| {
            let depth = Path::new(&f.rel).components().count();
            f.path.ancestors().nth(depth).map(Path::to_path_buf)
        }))
    }

    /// Writes job `id`'s result files, `errors.jsonl` and `manifest.json` into `dir` (beside
    /// the inputs when it is their folder).
    ///
    /// A retry's answers are its first job's: for a retry, that job's files are written.
    pub async fn write_job_files(&self, id: &str, dir: &Path) -> Result<WrittenFiles, Error> {
        self.write_job_files_watched(id, dir, Watch::none()).await
    }

    /// [`Ebb::write_job_files`], reporting rows written to `watch` (about every 100 ms) and
    /// stopping when its flag is set; a stopped write leaves no file half-written.
    ///
    /// # Errors
    /// [`Error::Stopped`] when the user stopped it; store and write errors.
    pub async fn write_job_files_watched(
        &self,
        id: &str,
        dir: &Path,
        watch: Watch,
    ) -> Result<WrittenFiles, Error> {
        let store = self.job_store()?;
        let asked = store.job(id).await?.ok_or_else(|| no_job(id))?;
        let id = asked.parent.as_deref().unwrap_or(id);
        let row = store.job(id).await?.ok_or_else(|| no_job(id))?;
        let summary = self.job(id).await?;
        let mut cost = self.job_cost(&summary).await;
        cost.estimate = store.estimate(id).await?;
        files::write_all_watched(store, (&row, &summary), (dir, cost), watch).await
    }

    /// The endpoint's instance-hours while the job ran and their price, as far as they can
    /// be known now; figures that cannot be had are left out (the manifest still gets written).
    async fn job_cost(&self, job: &JobSummary) -> CostFigures {
        let serving = match self.serving(&job.endpoint).await {
            Ok(s) => s,
            Err(e) => {
                return CostFigures {
                    missing: Some(format!(
                        "endpoint {} could not be described: {e}",
                        job.endpoint
                    )),
                    ..CostFigures::default()
                };
            }
        };
        let end_s = job
            .finished_at
            .unwrap_or_else(|| crate::deploy::now_s() as f64);
        let hours = self
            .instance_hours(&job.endpoint, job.created_at, end_s, serving.instances)
            .await;
        CostFigures {
            missing: hours.is_none().then(|| {
                "the endpoint's scaling activities could not be read: no instance-hours".into()
            }),
            estimated_usd: hours.zip(serving.price.as_ref()).map(|(h, p)| h * p.0),
            instance_type: serving.instance_type,
            instance_hours: hours,
            usd_per_hour: serving.price.as_ref().map(|p| p.0),
            price_source: serving.price.map(|p| p.1),
            estimate: None,
        }
    }

    /// Instance-hours `endpoint` ran over [start_s, end_s]: its scaling activities as steps,
    /// ending at `current` instances now.
    async fn instance_hours(
        &self,
        endpoint: &str,
        start_s: f64,
        end_s: f64,
        current: u32,
    ) -> Option<f64> {
        let (target, _, clients) = self.connected().await.ok()?;
        let region = clients.region();
        let ctx = context(&target, region.as_deref(), "");
        let (start_ms, end_ms) = (start_s * 1000.0, end_s * 1000.0);
        let activities =
            crate::scaling::status::activities_since(&clients, ctx, endpoint, start_ms)
                .await
                .ok()?;
        let steps = metrics::instance_steps(&activities, current, start_ms, end_ms);
        Some(metrics::instance_hours(&steps))
    }

    async fn serving(&self, endpoint: &str) -> Result<Serving, Error> {
        let (target, _, clients) = self.connected().await?;
        let region = clients.region();
        let ctx = context(&target, region.as_deref(), "sagemaker:DescribeEndpoint");
        let summary = endpoints::describe(&clients, ctx, endpoint).await?;
        let price = match (&summary.instance_type, region.as_deref()) {
            (Some(t), Some(r)) if !clients.is_local_cloud => PriceBook::in_home(&self.home)
                .hourly(&clients, r, t)
                .await
                .map(|p| (p.usd_per_hour, source_name(&p.source))),
            (Some(t), _) => crate::catalog::instances::find(t)
                .map(|i| (i.usd_per_hour, source_name(&PriceSource::Estimate))),
            _ => None,
        };
        Ok(Serving {
            instance_type: summary.instance_type,
            instances: summary.current_instances,
            price,
        })
    }

    /// What submitting `scan` to `endpoint` will cost and take, before anything is sent.
    /// `rps_per_instance` overrides the throughput; else the endpoint's newest ended job
    /// gives it, else Ebb assumes [`estimate::ASSUMED_RPS_PER_INSTANCE`] and says so.
    pub async fn estimate_job(
        &self,
        scan: Arc<Scan>,
        endpoint: &str,
        rps_per_instance: Option<f64>,
        upload_all: bool,
    ) -> Result<Estimate, Error> {
        if let Some(r) = rps_per_instance.filter(|r| !(r.is_finite() && *r > 0.0)) {
            return Err(Error::InvalidRequest(format!(
                "--assume-rps must be a number of requests a second above 0, not {r}"
            )));
        }
        self.check_bodies(endpoint, (scan.needs_messages_api(), scan.needs_generate()))
            .await?;
        self.estimate_unchecked(scan, endpoint, rps_per_instance, upload_all)
            .await
    }

    /// [`Ebb::estimate_job`] without its checks (the job was checked as it was created).
    pub(super) async fn estimate_unchecked(
        &self,
        scan: Arc<Scan>,
        endpoint: &str,
        rps_per_instance: Option<f64>,
        upload_all: bool,
    ) -> Result<Estimate, Error> {
        let serving = self.serving(endpoint).await?;
        let rps = match rps_per_instance {
            Some(r) => Some((r, Throughput::Given)),
            None => self.measured_rps(endpoint, serving.instances).await?,
        };
        Ok(estimate::estimate(
            &scan,
            EstimateInputs {
                instance_type: serving.instance_type,
                current_instances: serving.instances,
                usd_per_hour: serving.price,
                rps_per_instance: rps,
                upload_all,
            },
        ))
    }

    /// The throughput of `endpoint`'s newest ended job with enough results, per instance.
    async fn measured_rps(
        &self,
        endpoint: &str,
        instances: u32,
    ) -> Result<Option<(f64, Throughput)>, Error> {
        let jobs = self.jobs().await?;
        let measured = jobs
            .into_iter()
            .filter(|j| j.endpoint == endpoint && j.state == JobState::Done)
            .find_map(|j| {
                let secs = j.last_result_at? - j.created_at;
                let rps = estimate::measured_rps(j.succeeded + j.failed, secs, instances)?;
                Some((rps, Throughput::Measured { job: j.id }))
            });
        Ok(measured)
    }
}
