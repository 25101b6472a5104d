//! `Ebb`: the engine handle both shells hold.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::Mutex;

use crate::cloud::{self, Clients, Overrides, Target};
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
        cloud::resolve(&self.overrides, settings, &cloud::process_env)
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
        let clients = Arc::new(Clients::connect(target).await);
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
