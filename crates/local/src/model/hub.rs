//! A model's files from the Hugging Face cache, in its standard layout
//! (`<cache>/models--<org>--<name>/snapshots/<commit>/<file>`, the commit named by
//! `refs/<revision>`), or downloaded into it with `hf-hub` as a TGI container downloads them.
//! Doc: <https://huggingface.co/docs/huggingface_hub/guides/manage-cache>.

use std::path::{Path, PathBuf};
use std::time::Instant;

use hf_hub::api::tokio::{ApiBuilder, ApiError};
use hf_hub::{Cache, Repo, RepoType};
use serde_json::Value;

use super::Settings;

/// Why a model's files could not be had; each says it in a sentence for the endpoint's
/// FailureReason and log.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HubError {
    #[error(
        "{model} is not in the Hugging Face cache at {cache} and HF_HUB_OFFLINE is set, so nothing was downloaded"
    )]
    Offline { model: String, cache: String },
    #[error(
        "{model} could not be downloaded: the Hugging Face Hub at {endpoint} could not be reached ({detail})"
    )]
    NoNetwork {
        model: String,
        endpoint: String,
        detail: String,
    },
    #[error(
        "{model} is gated or private: the Hub refused the download (HTTP {status}); set HF_TOKEN to a token with access to it"
    )]
    Gated { model: String, status: u16 },
    #[error("{model} does not exist on the Hugging Face Hub (or its revision {revision} does not)")]
    NotFound { model: String, revision: String },
    #[error("{model} has no {file}")]
    MissingFile { model: String, file: String },
    #[error("{model}'s {file} could not be downloaded: {detail}")]
    Other {
        model: String,
        file: String,
        detail: String,
    },
}

impl HubError {
    /// Whether a real deploy would fail the same way (the model itself is the problem), as
    /// opposed to this computer being offline.
    pub fn is_the_models(&self) -> bool {
        matches!(
            self,
            HubError::Gated { .. } | HubError::NotFound { .. } | HubError::MissingFile { .. }
        )
    }
}

/// Where one model's files come from.
pub struct Source<'a> {
    pub settings: &'a Settings,
    pub model: &'a str,
    pub revision: &'a str,
    /// The model environment's token (HF_TOKEN), else the computer's.
    pub token: Option<String>,
}

/// A file fetched: where it is, and whether it had to be downloaded (with how long it took).
pub struct Fetched {
    pub path: PathBuf,
    pub downloaded: Option<std::time::Duration>,
}

impl Source<'_> {
    fn repo(&self) -> Repo {
        Repo::with_revision(
            self.model.to_string(),
            RepoType::Model,
            self.revision.to_string(),
        )
    }

    /// The file from the cache, if it is there.
    pub fn cached(&self, file: &str) -> Option<PathBuf> {
        Cache::new(self.settings.hub_cache.clone())
            .repo(self.repo())
            .get(file)
    }

    /// The file from the cache, else downloaded into it (never with HF_HUB_OFFLINE).
    pub async fn fetch(&self, file: &str) -> Result<Fetched, HubError> {
        if let Some(path) = self.cached(file) {
            return Ok(Fetched {
                path,
                downloaded: None,
            });
        }
        if self.settings.offline {
            return Err(HubError::Offline {
                model: self.model.to_string(),
                cache: self.settings.hub_cache.display().to_string(),
            });
        }
        let api = ApiBuilder::from_cache(Cache::new(self.settings.hub_cache.clone()))
            .with_endpoint(self.settings.endpoint.clone())
            .with_token(self.token.clone())
            .with_progress(false)
            .build()
            .map_err(|e| self.error(file, e))?;
        let started = Instant::now();
        let path = api
            .repo(self.repo())
            .download(file)
            .await
            .map_err(|e| self.error(file, e))?;
        Ok(Fetched {
            path,
            downloaded: Some(started.elapsed()),
        })
    }

    fn error(&self, file: &str, e: ApiError) -> HubError {
        let model = self.model.to_string();
        if let ApiError::RequestError(r) = &e {
            match r.status().map(|s| s.as_u16()) {
                Some(s @ (401 | 403)) => return HubError::Gated { model, status: s },
                Some(404) if file == "config.json" => {
                    return HubError::NotFound {
                        model,
                        revision: self.revision.to_string(),
                    };
                }
                Some(404) => {
                    return HubError::MissingFile {
                        model,
                        file: file.to_string(),
                    };
                }
                None if r.is_connect() || r.is_timeout() || r.is_request() => {
                    return HubError::NoNetwork {
                        model,
                        endpoint: self.settings.endpoint.clone(),
                        detail: root_cause(r),
                    };
                }
                _ => {}
            }
        }
        HubError::Other {
            model,
            file: file.to_string(),
            detail: e.to_string(),
        }
    }
}

/// The innermost error's text ("dns error: failed to lookup address information").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// The weight files a snapshot lists: `model.safetensors`, or the shards its
/// `model.safetensors.index.json` names (in order, each once).
pub fn shard_names(index: &Value) -> Vec<String> {
    let mut names: Vec<String> = index
        .get("weight_map")
        .and_then(Value::as_object)
        .map(|m| {
            m.values()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names.dedup();
    names
}

/// Bytes `files` take on disk (through the snapshot's links to the cache's blobs).
pub fn size_on_disk(files: &[PathBuf]) -> u64 {
    files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum()
}

/// The snapshot folder a cached file is in (`.../snapshots/<commit>`).
pub fn snapshot_of(file: &Path) -> PathBuf {
    file.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// The models in the cache: `(model id, snapshot folder of refs/main)`.
pub fn cached_models(hub_cache: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(hub_cache) else {
        return Vec::new();
    };
    let mut models: Vec<(String, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let id = name.strip_prefix("models--")?.replacen("--", "/", 1);
            let commit = std::fs::read_to_string(e.path().join("refs").join("main")).ok()?;
            let snapshot = e.path().join("snapshots").join(commit.trim());
            snapshot.is_dir().then_some((id, snapshot))
        })
        .collect();
    models.sort();
    models
}
