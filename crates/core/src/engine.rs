//! `Ebb`: the engine handle both shells hold.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::Mutex;

use crate::cloud::{self, Clients, Overrides, ProvidedCloud, Target};
use crate::doctor::{self, Check, DoctorReport};
use crate::error::Error;
use crate::regions::{self, RegionInfo};
use crate::settings::{SettingKey, Settings};
use crate::{home, profiles};

/// Everything the Settings screen needs in one answer.
#[derive(Debug, Clone, Serialize, specta::Type)]
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
    /// Clients are built once per target and reused until the target changes.
    clients: Mutex<Option<(Target, Arc<Clients>)>>,
}

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
            clients: Mutex::new(None),
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
}
