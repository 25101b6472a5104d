//! `Ebb`: the engine handle both shells hold.

mod batch;
mod deploy;
mod jobs;
mod overview;
mod picker;
mod scaling;
mod update;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::Mutex;

use crate::aws_errors::Context;
use crate::cloud::{self, Clients, Overrides, ProvidedCloud, Target};
use crate::deploy::endpoints::{self, EndpointSummary};
use crate::deploy::invoke::{self, InvokeRequest, InvokeResult};
use crate::deploy::logs::{self, EndpointLogs};
use crate::deploy::spec::{self, DeploySpec};
use crate::deploy::teardown::{self, Removed, TeardownPlan};
use crate::doctor::{self, Check, DoctorReport};
use crate::error::Error;
use crate::regions::{self, RegionInfo};
use crate::settings::{SettingKey, Settings};
use crate::{home, profiles};

/// Everything the Settings screen needs in one answer.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct SettingsView {
    pub settings: Settings,
    /// Where the settings live on disk.
    pub file: String,
    pub profiles: Vec<String>,
    pub regions: Vec<RegionInfo>,
    /// The effective target, after flags and environment variables.
    pub target: Target,
}

pub struct Ebb {
    home: PathBuf,
    overrides: Overrides,
    /// The local cloud the shell started or found, for local mode.
    local: std::sync::RwLock<Option<ProvidedCloud>>,
    /// Why the local cloud the shell tried to start is not there.
    local_failure: std::sync::RwLock<Option<String>>,
    poll: std::time::Duration,
    /// Clients are built once per target and reused until the target changes.
    clients: Mutex<Option<(Target, Arc<Clients>)>>,
    /// The job store, opened on first use.
    job_store: std::sync::OnceLock<crate::jobs::store::Store>,
    /// Pause and cancel of the jobs running in this process.
    running_jobs: std::sync::Mutex<std::collections::HashMap<String, Arc<crate::jobs::JobControl>>>,
    /// Teardown plans shown and not yet carried out, by id.
    plans: std::sync::Mutex<std::collections::HashMap<String, KeptPlan>>,
}

/// A teardown plan as the engine keeps it: when and for which account and region it was made.
struct KeptPlan {
    made: std::time::Instant,
    plan: TeardownPlan,
    target: Target,
    region: Option<String>,
}

/// A teardown plan can be carried out this long after it was made.
const PLAN_KEPT_FOR: std::time::Duration = std::time::Duration::from_secs(30 * 60);

impl Ebb {
    /// The engine for the Ebb home (`EBB_HOME` or the OS app-data dir).
    pub fn open(overrides: Overrides) -> Result<Ebb, Error> {
        Ok(Ebb::with_home(home::ebb_home()?, overrides))
    }

    pub fn with_home(home: PathBuf, overrides: Overrides) -> Ebb {
        Ebb {
            home,
            overrides,
            local: std::sync::RwLock::new(None),
            local_failure: std::sync::RwLock::new(None),
            poll: std::time::Duration::from_secs(2),
            clients: Mutex::new(None),
            job_store: std::sync::OnceLock::new(),
            running_jobs: std::sync::Mutex::new(std::collections::HashMap::new()),
            plans: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    pub fn settings_path(&self) -> PathBuf {
        Settings::path_in(&self.home)
    }

    pub fn settings(&self) -> Result<Settings, Error> {
        Settings::load(&self.home)
    }

    pub fn target(&self, settings: &Settings) -> Target {
        let local = self.local_cloud();
        cloud::resolve(
            &self.overrides,
            settings,
            local.as_ref(),
            &cloud::process_env,
        )
    }

    /// Tells the engine why the local cloud the shell tried to start is not there, so that
    /// every operation says so instead of "not running".
    pub fn set_local_cloud_failure(&self, why: impl Into<String>) {
        if let Ok(mut failure) = self.local_failure.write() {
            *failure = Some(why.into());
        }
    }

    /// Tells the engine where the local cloud is (the shells start or discover it).
    pub fn set_local_cloud(&self, cloud: Option<ProvidedCloud>) {
        if let Ok(mut local) = self.local.write() {
            *local = cloud;
        }
    }

    pub fn local_cloud(&self) -> Option<ProvidedCloud> {
        self.local.read().ok().and_then(|l| l.clone())
    }

    pub fn settings_view(&self) -> Result<SettingsView, Error> {
        let settings = self.settings()?;
        Ok(self.view(settings))
    }

    fn view(&self, settings: Settings) -> SettingsView {
        SettingsView {
            target: self.target(&settings),
            file: self.settings_path().display().to_string(),
            profiles: profiles::list(),
            regions: regions::all(),
            settings,
        }
    }

    /// Validates and saves the whole settings object; nothing is written when invalid.
    pub fn save_settings(&self, settings: Settings) -> Result<SettingsView, Error> {
        settings.save(&self.home)?;
        tracing::info!(file = %self.settings_path().display(), "settings saved");
        Ok(self.view(settings))
    }

    /// `ebb settings set KEY VALUE`.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<Settings, Error> {
        let mut settings = self.settings()?;
        settings.set(SettingKey::parse(key)?, value)?;
        settings.save(&self.home)?;
        Ok(settings)
    }

    async fn clients_for(&self, target: &Target) -> Arc<Clients> {
        let mut cached = self.clients.lock().await;
        if let Some((t, clients)) = cached.as_ref()
            && t == target
        {
            return clients.clone();
        }
        // Keys come from the local cloud only when the target is the local cloud's endpoint.
        let provided = self.local_cloud().filter(|c| {
            target.endpoint_source == cloud::Source::LocalCloud
                && target.endpoint_url.as_deref() == Some(c.endpoint_url.as_str())
        });
        let clients = Arc::new(Clients::connect(target, provided.as_ref()).await);
        *cached = Some((target.clone(), clients.clone()));
        clients
    }

    /// The connection check; `progress` sees each check as it finishes.
    pub async fn doctor(
        &self,
        progress: &(dyn Fn(&Check) + Send + Sync),
    ) -> Result<DoctorReport, Error> {
        let settings = self.settings()?;
        let target = self.target(&settings);
        let clients = if doctor::needs_local_cloud(&target) {
            None
        } else {
            Some(self.clients_for(&target).await)
        };
        Ok(doctor::run(&target, &settings, clients.as_deref(), progress).await)
    }

    /// Clients for the effective target, or why there are none.
    async fn connected(&self) -> Result<(Target, Settings, Arc<Clients>), Error> {
        let settings = self.settings()?;
        let target = self.target(&settings);
        if doctor::needs_local_cloud(&target) {
            let failure = self.local_failure.read().ok().and_then(|f| f.clone());
            return Err(failure.map_or(Error::NoLocalCloud, Error::LocalCloudFailed));
        }
        let clients = self.clients_for(&target).await;
        Ok((target, settings, clients))
    }

    /// The bucket and prefix jobs use: the settings' bucket, else SageMaker's default name.
    pub async fn bucket_and_prefix(&self) -> Result<(String, String), Error> {
        let (target, settings, clients) = self.connected().await?;
        let bucket = match settings.bucket {
            Some(b) => b,
            None => {
                let region = clients.region();
                let ctx = context(&target, region.as_deref(), "sts:GetCallerIdentity");
                let account = clients
                    .account()
                    .await
                    .map_err(|e| crate::aws_errors::failed(&e, ctx, "sts:GetCallerIdentity"))?;
                doctor::default_bucket(region.as_deref().unwrap_or("us-east-1"), &account)
            }
        };
        Ok((bucket, settings.prefix))
    }

    /// The seed article's deployment for this account's bucket and prefix.
    pub async fn seed_preset(&self) -> Result<DeploySpec, Error> {
        let (bucket, prefix) = self.bucket_and_prefix().await?;
        Ok(DeploySpec::seed(&bucket, &prefix, &spec::stamp_now()))
    }

    pub async fn endpoints(&self) -> Result<Vec<EndpointSummary>, Error> {
        let (target, _, clients) = self.connected().await?;
        let region = clients.region();
        let listed = endpoints::list(&clients, context(&target, region.as_deref(), "")).await?;
        let mut priced = Vec::with_capacity(listed.len());
        for e in listed {
            priced.push(self.priced(&clients, e).await);
        }
        Ok(priced)
    }

    /// The endpoint's hourly cost from the AWS Price List when it answers (cached a week),
    /// else the bundled estimate it already carries.
    pub(crate) async fn priced(
        &self,
        clients: &Clients,
        mut e: EndpointSummary,
    ) -> EndpointSummary {
        let (Some(region), Some(instance_type)) = (clients.region(), e.instance_type.clone())
        else {
            return e;
        };
        // The local cloud bills nothing and serves no Price List: its endpoints show what the
        // instance would cost on AWS, from the bundled table.
        if clients.is_local_cloud {
            return e;
        }
        let book = crate::pricing::PriceBook::in_home(&self.home);
        if let Some(price) = book.hourly(clients, &region, &instance_type).await {
            e.usd_per_hour = Some(price.usd_per_hour * f64::from(e.current_instances));
            e.price_source = Some(price.source);
        }
        e
    }

    /// Submits one test request; with `wait`, also waits up to that long for its result.
    pub async fn invoke(
        &self,
        request: &InvokeRequest,
        wait: Option<std::time::Duration>,
    ) -> Result<InvokeResult, Error> {
        let (bucket, prefix) = self.bucket_and_prefix().await?;
        let (target, _, clients) = self.connected().await?;
        let region = clients.region();
        let ctx = context(&target, region.as_deref(), "");
        let submitted = invoke::submit(
            &clients,
            ctx,
            (&bucket, &prefix),
            request,
            &spec::stamp_now(),
        )
        .await?;
        match wait {
            None => Ok(submitted),
            Some(limit) => invoke::wait(&clients, ctx, submitted, limit, self.poll).await,
        }
    }

    /// What tearing `endpoint` down removes (with its job data when `delete_data`), kept by the
    /// engine under the plan's `id` for [`Ebb::teardown`].
    pub async fn teardown_plan(
        &self,
        endpoint: &str,
        delete_data: bool,
    ) -> Result<TeardownPlan, Error> {
        let (target, _, clients) = self.connected().await?;
        let region = clients.region();
        let ctx = context(&target, region.as_deref(), "");
        let data_at = if delete_data {
            Some(self.bucket_and_prefix().await?)
        } else {
            None
        };
        let data_at = data_at.as_ref().map(|(b, p)| (b.as_str(), p.as_str()));
        let mut plan = teardown::plan(&clients, ctx, endpoint, data_at).await?;
        let mut plans = self
            .plans
            .lock()
            .map_err(|_| Error::Store("the teardown plans lock is poisoned".into()))?;
        plans.retain(|_, kept| kept.made.elapsed() < PLAN_KEPT_FOR);
        static NEXT_PLAN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let n = NEXT_PLAN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        plan.id = format!("{endpoint}#{n}");
        let kept = KeptPlan {
            made: std::time::Instant::now(),
            plan: plan.clone(),
            target: target.clone(),
            region,
        };
        plans.insert(plan.id.clone(), kept);
        Ok(plan)
    }

    /// Carries out the plan [`Ebb::teardown_plan`] made under `plan_id` (once). Its job data is
    /// looked at again first: data another endpoint has started to use since is kept.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] for an unknown, used or expired plan; AWS errors.
    pub async fn teardown(&self, plan_id: &str) -> Result<Vec<Removed>, Error> {
        let planned = self
            .plans
            .lock()
            .map_err(|_| Error::Store("the teardown plans lock is poisoned".into()))?
            .remove(plan_id)
            .filter(|kept| kept.made.elapsed() < PLAN_KEPT_FOR);
        let Some(KeptPlan {
            plan: mut planned,
            target: planned_for,
            region: planned_region,
            ..
        }) = planned
        else {
            return Err(Error::InvalidRequest(format!(
                "there is no teardown plan {plan_id} (each is carried out once, within {} minutes): show the plan again",
                PLAN_KEPT_FOR.as_secs() / 60
            )));
        };
        let (target, _, clients) = self.connected().await?;
        let region = clients.region();
        // Names mean other resources in another account or region: never carry a plan there.
        if target != planned_for || region != planned_region {
            return Err(Error::InvalidRequest(format!(
                "the connection changed since the teardown plan for {} was made (mode, profile, region or endpoint): show the plan again",
                planned.endpoint
            )));
        }
        let plan = &mut planned;
        let ctx = context(&target, region.as_deref(), "");
        teardown::refresh_data(&clients, ctx, plan).await?;
        teardown::run(&clients, ctx, plan).await
    }

    /// Whether `endpoint`'s current model takes OpenAI chat-completions bodies (TGI's Messages
    /// API); see [`crate::deploy::messages_api::messages_api_enabled`] for the rule and errors.
    pub async fn messages_api_enabled(&self, endpoint: &str) -> Result<bool, Error> {
        let (target, _, clients) = self.connected().await?;
        let region = clients.region();
        let ctx = context(&target, region.as_deref(), "");
        crate::deploy::messages_api::messages_api_enabled(&clients, ctx, endpoint).await
    }

    /// The endpoint's status, time in it, and container log lines newer than `since_ms`.
    pub async fn endpoint_logs(
        &self,
        endpoint: &str,
        since_ms: i64,
    ) -> Result<EndpointLogs, Error> {
        let (target, _, clients) = self.connected().await?;
        let region = clients.region();
        logs::fetch(
            &clients,
            context(&target, region.as_deref(), ""),
            endpoint,
            since_ms,
        )
        .await
    }

    /// How often long operations re-read state (endpoint status, results).
    pub fn set_poll_interval(&mut self, poll: std::time::Duration) {
        self.poll = poll;
    }
}

fn context<'a>(target: &'a Target, region: Option<&'a str>, action: &'a str) -> Context<'a> {
    Context {
        action,
        profile: target.profile.as_deref(),
        region,
        endpoint: target.endpoint_url.as_deref(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In local mode with no local cloud, every operation says why: "not running", or the
    /// reason the shell's start of it failed (a corrupt state file, a held data folder).
    #[tokio::test]
    async fn a_local_cloud_that_could_not_start_is_named_with_its_reason() {
        let dir = tempfile::tempdir().unwrap();
        let ebb = Ebb::with_home(dir.path().to_path_buf(), Overrides::default());
        let said = |r: Result<Vec<EndpointSummary>, Error>| r.err().map(|e| e.to_string());
        let not_running = said(ebb.endpoints().await).unwrap_or_default();
        assert!(not_running.contains("is not running"), "{not_running}");
        ebb.set_local_cloud_failure("/x/sagemaker.json cannot be read");
        assert_eq!(
            said(ebb.endpoints().await).as_deref(),
            Some(
                "local mode, but Ebb's local cloud could not start: /x/sagemaker.json cannot be read"
            )
        );
    }
}
