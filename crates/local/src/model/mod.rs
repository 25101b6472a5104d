//! Real models in local mode: an endpoint whose model is of a family the local cloud runs
//! (see [`family`]) answers with that model, loaded with candle on this computer's CPU from
//! the Hugging Face cache (downloaded into it when missing), as a TGI container loads it.
//! Which answers, and why, is chosen when the endpoint's container starts ([`Runtime::prepare`]).

pub mod family;
pub mod generate;
pub mod hub;
pub mod load;
pub mod serve;
pub mod template;
pub mod tiny;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Instant;

use serde_json::Value;

use family::{Family, human_bytes, human_parameters};
use load::{Files, Loaded};

/// The model variable that picks the answers: `builtin` (simulated), `model` (real, or the
/// endpoint fails), `proxy`; unset, a model of a supported family runs for real when its
/// weights can be had and it fits in memory, else answers are simulated.
pub const ENV_BACKEND: &str = crate::sim::backend::ENV_BACKEND;
/// Threads a model generates with (default: half this computer's cores, at least one).
pub const ENV_THREADS: &str = "EBB_LOCAL_MODEL_THREADS";
/// Memory a model may take, in MB (default: what the system reports available).
pub const ENV_MEMORY_MB: &str = "EBB_LOCAL_MODEL_MEMORY_MB";

/// Where models come from and what they may use. Read from the environment as the Hugging
/// Face libraries read it (`HF_HOME`, `HF_HUB_CACHE`, `HF_HUB_OFFLINE`, `HF_TOKEN`,
/// `HF_ENDPOINT`; <https://huggingface.co/docs/huggingface_hub/package_reference/environment_variables>).
#[derive(Clone)]
pub struct Settings {
    /// The Hub cache: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`.
    pub hub_cache: PathBuf,
    /// `HF_HUB_OFFLINE`: never ask the network.
    pub offline: bool,
    /// `HF_TOKEN`, else the token file `huggingface-cli login` writes (`$HF_HOME/token`).
    pub token: Option<String>,
    /// `HF_ENDPOINT`, else `https://huggingface.co`.
    pub endpoint: String,
    /// Threads one generation uses.
    pub threads: usize,
    /// Bytes a model may take; `None`: what the system reports available when it loads.
    pub memory: Option<u64>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("hub_cache", &self.hub_cache)
            .field("offline", &self.offline)
            .field("token", &self.token.as_ref().map(|_| crate::REDACTED))
            .field("endpoint", &self.endpoint)
            .field("threads", &self.threads)
            .field("memory", &self.memory)
            .finish()
    }
}

fn is_on(v: Option<String>) -> bool {
    v.is_some_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

impl Settings {
    pub fn from_env() -> Settings {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let hf_home = var("HF_HOME").map(PathBuf::from).unwrap_or_else(|| {
            let home = var("HOME").map(PathBuf::from).unwrap_or_default();
            home.join(".cache").join("huggingface")
        });
        let token = var("HF_TOKEN")
            .or_else(|| var("HUGGING_FACE_HUB_TOKEN"))
            .or_else(|| std::fs::read_to_string(hf_home.join("token")).ok())
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Settings {
            hub_cache: var("HF_HUB_CACHE")
                .map(PathBuf::from)
                .unwrap_or_else(|| hf_home.join("hub")),
            offline: is_on(var("HF_HUB_OFFLINE")),
            token,
            endpoint: var("HF_ENDPOINT").unwrap_or_else(|| "https://huggingface.co".into()),
            threads: var(ENV_THREADS)
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(cores / 2)
                .max(1),
            memory: var(ENV_MEMORY_MB)
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|mb| mb << 20),
        }
    }

    /// Settings that take models only from `hub_cache` and never ask the network: one
    /// thread, 2 GB of memory, no token (tests and tools).
    pub fn offline_in(hub_cache: &std::path::Path) -> Settings {
        Settings {
            hub_cache: hub_cache.to_path_buf(),
            offline: true,
            token: None,
            endpoint: "http://127.0.0.1:9".into(),
            threads: 1,
            memory: Some(2_000_000_000),
        }
    }

    /// Bytes a model may take now: the setting, else `MemAvailable` in `/proc/meminfo`.
    pub fn memory_budget(&self) -> u64 {
        self.memory.unwrap_or_else(available_memory)
    }
}

/// `MemAvailable` (bytes), or 4 GB where the system does not say.
fn available_memory() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(4_000_000_000, |kb| kb * 1024)
}

/// Gives candle the model thread count through the environment it reads
/// (`RAYON_NUM_THREADS`, `CANDLE_NUM_THREADS`), unless the user set them. Without them candle
/// works the count out again, reading `/proc/cpuinfo`, on every matrix product, and sizes its
/// own thread pool to every core.
///
/// # Safety
/// It changes the process environment: call it first thing in `main`, before any other
/// thread starts.
pub unsafe fn set_thread_env() {
    let threads = Settings::from_env().threads.to_string();
    for var in ["RAYON_NUM_THREADS", "CANDLE_NUM_THREADS"] {
        if std::env::var_os(var).is_none() {
            // SAFETY: the caller guarantees no other thread runs yet.
            unsafe { std::env::set_var(var, &threads) };
        }
    }
}

/// How a model's answers come, as its container starts.
#[derive(Debug)]
pub enum Prepared {
    /// The model runs for real.
    Real(Arc<Loaded>),
    /// Answers are simulated; the lines say why (none when the environment asked for it).
    Simulated(Vec<String>),
    /// The container cannot start: why, in a sentence.
    Failed(String),
}

/// What the model environment asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Wanted {
    Simulated,
    Auto,
    Real,
}

fn wanted(env: &BTreeMap<String, String>) -> Wanted {
    match env
        .get(ENV_BACKEND)
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        Some("model") => Wanted::Real,
        None | Some("") | Some("auto") => Wanted::Auto,
        Some(_) => Wanted::Simulated,
    }
}

/// Why a model does not run for real.
enum NotReal {
    /// A real deploy would fail the same way (gated, not found, unreadable files).
    Fail(String),
    /// This computer cannot run it (too large, another architecture, offline): simulated
    /// answers, unless the environment asked for the real model.
    Here(String),
}

impl From<hub::HubError> for NotReal {
    fn from(e: hub::HubError) -> NotReal {
        if e.is_the_models() {
            NotReal::Fail(e.to_string())
        } else {
            NotReal::Here(e.to_string())
        }
    }
}

/// Simulated answers for `model`, the log saying `why` and what runs instead.
fn simulated(model: &str, why: &str) -> Prepared {
    Prepared::Simulated(vec![
        format!("Local mode: {why}."),
        format!(
            "Local mode: answers from {model} are simulated (set {ENV_BACKEND}=model to make this an error instead)."
        ),
        "Local mode: `ebb local models` (or the Deploy form) lists the models that run for real on this computer.".to_string(),
        "Local mode: the start-up lines below are the simulated container's (times as on a GPU instance).".to_string(),
    ])
}

/// Runs models: where they come from, the loaded ones (shared by every endpoint and instance
/// serving the same snapshot), and the CPU they may use (one generation at a time, on a pool
/// of [`Settings::threads`] threads, so the rest of the computer stays responsive).
pub struct Runtime {
    pub settings: Settings,
    loaded: Mutex<HashMap<PathBuf, Weak<Loaded>>>,
    pool: OnceLock<Option<Arc<rayon::ThreadPool>>>,
    gate: tokio::sync::Semaphore,
    /// Held while a model loads (see [`Runtime::load_shared`]).
    loading: tokio::sync::Mutex<()>,
}

impl Runtime {
    pub fn new(settings: Settings) -> Arc<Runtime> {
        Arc::new(Runtime {
            settings,
            loaded: Mutex::new(HashMap::new()),
            pool: OnceLock::new(),
            gate: tokio::sync::Semaphore::new(1),
            loading: tokio::sync::Mutex::new(()),
        })
    }

    fn pool(&self) -> Option<Arc<rayon::ThreadPool>> {
        self.pool
            .get_or_init(|| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(self.settings.threads)
                    .thread_name(|i| format!("ebb-model-{i}"))
                    .build()
                    .map(Arc::new)
                    .ok()
            })
            .clone()
    }

    /// Runs `work` on the model threads once it is this request's turn. Dropping the returned
    /// future (the invocation timed out) sets the flag `work` is given, to stop it.
    pub async fn run<T, F>(&self, work: F) -> Result<T, String>
    where
        F: FnOnce(&AtomicBool) -> T + Send + 'static,
        T: Send + 'static,
    {
        struct StopOnDrop(Arc<AtomicBool>);
        impl Drop for StopOnDrop {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let _turn = self.gate.acquire().await.map_err(|e| e.to_string())?;
        let stop = Arc::new(AtomicBool::new(false));
        let _stop_on_drop = StopOnDrop(stop.clone());
        let pool = self.pool();
        tokio::task::spawn_blocking(move || match pool {
            Some(pool) => pool.install(|| work(&stop)),
            None => work(&stop),
        })
        .await
        .map_err(|e| format!("the model's thread failed: {e}"))
    }

    /// Decides, as an endpoint's container starts, how its model answers; loads it (downloading
    /// what is missing) when it runs for real. `log` gets the container's lines.
    pub async fn prepare(
        &self,
        env: &BTreeMap<String, String>,
        log: &(dyn Fn(String) + Sync),
    ) -> Prepared {
        let explicit = match wanted(env) {
            Wanted::Simulated => return Prepared::Simulated(Vec::new()),
            Wanted::Auto => false,
            Wanted::Real => true,
        };
        let var = |k: &str| {
            env.get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let Some(model) = var("HF_MODEL_ID") else {
            return if explicit {
                Prepared::Failed(format!("{ENV_BACKEND}=model needs the model's HF_MODEL_ID"))
            } else {
                Prepared::Simulated(Vec::new())
            };
        };
        let revision = var("HF_MODEL_REVISION")
            .or_else(|| var("REVISION"))
            .unwrap_or_else(|| "main".into());
        let token = var("HF_TOKEN")
            .or_else(|| var("HUGGING_FACE_HUB_TOKEN"))
            .or(self.settings.token.clone());
        let source = hub::Source {
            settings: &self.settings,
            model: &model,
            revision: &revision,
            token,
        };
        match self.resolve(&source, log).await {
            Ok((family, parameters, files)) => {
                self.load_shared(&model, family, files, parameters, log)
                    .await
            }
            Err(NotReal::Fail(why)) => Prepared::Failed(why),
            Err(NotReal::Here(why)) if explicit => Prepared::Failed(why),
            Err(NotReal::Here(why)) => simulated(&model, &why),
        }
    }

    /// The model's family, parameter count and files (downloaded when missing), or why it
    /// does not run for real.
    async fn resolve(
        &self,
        source: &hub::Source<'_>,
        log: &(dyn Fn(String) + Sync),
    ) -> Result<(Family, u64, Files), NotReal> {
        let model = source.model;
        let config_file = match source.fetch("config.json").await {
            Ok(f) => f.path,
            // Offline, a model known to be large is still named too large, with a sibling.
            Err(e) => match family::known_large(model) {
                Some((family, parameters)) if !e.is_the_models() => {
                    let why = self.too_large(model, family, parameters);
                    return Err(NotReal::Here(why.unwrap_or_else(|| e.to_string())));
                }
                _ => return Err(e.into()),
            },
        };
        let config: Value = std::fs::read(&config_file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| NotReal::Fail(format!("{model}'s config.json is not valid JSON")))?;
        let family = family::family_of(&config).map_err(|family::Unsupported(kind)| {
            NotReal::Here(format!(
                "{model} is a `{kind}` model, and the local cloud runs {}",
                family::SUPPORTED
            ))
        })?;
        let parameters = family::parameters(family, &config).ok_or_else(|| {
            NotReal::Fail(format!(
                "{model}'s config.json does not give the sizes of a {} model",
                family.name()
            ))
        })?;
        if let Some(why) = self.too_large(model, family, parameters) {
            return Err(NotReal::Here(why));
        }
        Ok((
            family,
            parameters,
            fetch_files(source, config_file, log).await?,
        ))
    }

    fn log_real(
        &self,
        model: &str,
        family: Family,
        parameters: u64,
        log: &(dyn Fn(String) + Sync),
    ) {
        log(format!(
            "Local mode: {model} ({} parameters, {}) runs for real on this computer's CPU with {} thread(s)",
            human_parameters(parameters),
            family.name(),
            self.settings.threads
        ));
    }

    /// Why `model` cannot run here: its memory against the budget, naming a sibling that fits.
    fn too_large(&self, model: &str, family: Family, parameters: u64) -> Option<String> {
        too_large(&self.settings, model, family, parameters)
    }

    /// The loaded model for these files: the one already in memory for the same snapshot, or
    /// a new load on a blocking thread.
    async fn load_shared(
        &self,
        model: &str,
        family: Family,
        files: Files,
        parameters: u64,
        log: &(dyn Fn(String) + Sync),
    ) -> Prepared {
        // One load at a time: two endpoints of one model starting together (a restart brings
        // every endpoint back at once) load it once and share it.
        let _loading = self.loading.lock().await;
        let snapshot = hub::snapshot_of(&files.config);
        let shared = self
            .loaded
            .lock()
            .ok()
            .and_then(|l| l.get(&snapshot).and_then(Weak::upgrade));
        if let Some(loaded) = shared {
            log(format!(
                "Shard ready in 0.00s rank=0 ({model}'s weights are already in memory and shared)"
            ));
            self.log_real(model, family, parameters, log);
            return Prepared::Real(loaded);
        }
        log("Starting shard rank=0".into());
        let started = Instant::now();
        let id = model.to_string();
        let loaded =
            tokio::task::spawn_blocking(move || load::load(&id, family, &files, parameters)).await;
        match loaded {
            Ok(Ok(loaded)) => {
                let loaded = Arc::new(loaded);
                if let Ok(mut l) = self.loaded.lock() {
                    l.retain(|_, w| w.strong_count() > 0);
                    l.insert(snapshot, Arc::downgrade(&loaded));
                }
                log(format!(
                    "Shard ready in {:.2}s rank=0",
                    started.elapsed().as_secs_f64()
                ));
                self.log_real(model, family, parameters, log);
                Prepared::Real(loaded)
            }
            Ok(Err(e)) => Prepared::Failed(format!("{model} could not be loaded: {e}")),
            Err(e) => Prepared::Failed(format!("{model} could not be loaded: {e}")),
        }
    }
}

/// The tokenizer's and weights' files, downloading what the cache lacks, logged as
/// TGI's download step logs them.
async fn fetch_files(
    source: &hub::Source<'_>,
    config: PathBuf,
    log: &(dyn Fn(String) + Sync),
) -> Result<Files, hub::HubError> {
    log(format!(
        "Starting check and download process for {}",
        source.model
    ));
    // Optional files most repositories lack: one the Hub cannot give (missing, or no network
    // to ask) is simply absent, so a model whose other files are cached loads offline.
    let optional = |name: &'static str| async move {
        Ok::<_, hub::HubError>(source.fetch(name).await.ok().map(|f| f.path))
    };
    let tokenizer = source.fetch("tokenizer.json").await?.path;
    let tokenizer_config = optional("tokenizer_config.json").await?;
    let generation_config = optional("generation_config.json").await?;
    let chat_template = optional("chat_template.jinja").await?;
    let weights = fetch_weights(source, log).await?;
    Ok(Files {
        config,
        tokenizer,
        tokenizer_config,
        generation_config,
        chat_template,
        weights,
    })
}

/// The weight files: `model.safetensors`, or the shards its index names; each download
/// logged as TGI logs it, then whether anything was downloaded.
async fn fetch_weights(
    source: &hub::Source<'_>,
    log: &(dyn Fn(String) + Sync),
) -> Result<Vec<PathBuf>, hub::HubError> {
    let single = vec!["model.safetensors".to_string()];
    let names = match source.cached("model.safetensors") {
        Some(_) => single,
        None => match source.fetch("model.safetensors.index.json").await {
            Ok(index) => {
                let text = std::fs::read(&index.path).unwrap_or_default();
                hub::shard_names(&serde_json::from_slice(&text).unwrap_or(Value::Null))
            }
            Err(_) => single,
        },
    };
    let mut weights = Vec::new();
    let mut downloaded = 0;
    for name in &names {
        if source.cached(name).is_none() {
            log(format!("Download file: {name}"));
        }
        let fetched = source.fetch(name).await?;
        if let Some(took) = fetched.downloaded {
            downloaded += 1;
            let path = fetched.path.display();
            log(format!(
                "Downloaded {path} in {}.",
                crate::sim::startup::clock_time(took)
            ));
        }
        weights.push(fetched.path);
    }
    log(if downloaded == 0 {
        "Files are already present on the host. Skipping download.".into()
    } else {
        format!("Successfully downloaded weights for {}", source.model)
    });
    Ok(weights)
}

/// Downloads `model`'s files into the Hugging Face cache (what a deploy would download),
/// after checking that the local cloud runs its architecture. Returns what it is, as the
/// Deploy form lists it. Errors: a sentence (offline and not cached, not found, gated, another
/// architecture, a download that failed).
pub async fn pull(
    settings: &Settings,
    model: &str,
    log: &(dyn Fn(String) + Sync),
) -> Result<Runnable, String> {
    let shape = model.split_once('/');
    if !shape.is_some_and(|(org, name)| !org.trim().is_empty() && !name.trim().is_empty()) {
        return Err(format!(
            "`{model}` is not a Hugging Face model id (ORG/NAME, e.g. google/flan-t5-base)"
        ));
    }
    let source = hub::Source {
        settings,
        model,
        revision: "main",
        token: settings.token.clone(),
    };
    let config_file = source
        .fetch("config.json")
        .await
        .map_err(|e| e.to_string())?
        .path;
    let config: Value =
        serde_json::from_slice(&std::fs::read(&config_file).map_err(|e| e.to_string())?)
            .map_err(|e| format!("{model}'s config.json is not valid JSON: {e}"))?;
    let family = family::family_of(&config).map_err(|family::Unsupported(kind)| {
        format!(
            "{model} is a `{kind}` model, and the local cloud runs {}",
            family::SUPPORTED
        )
    })?;
    // Judged before the weights come: a model too large here is not worth its download.
    let parameters = family::parameters(family, &config)
        .ok_or_else(|| format!("{model}'s config.json does not give its sizes"))?;
    if let Some(why) = too_large(settings, model, family, parameters) {
        return Err(format!("{why}; nothing was downloaded"));
    }
    let files = fetch_files(&source, config_file, log)
        .await
        .map_err(|e| e.to_string())?;
    let snapshot = hub::snapshot_of(&files.config);
    cached_model(model.to_string(), &snapshot, settings.memory_budget())
        .ok_or_else(|| format!("{model}'s files are not all in {}", snapshot.display()))
}

/// Why `model` cannot run here: its memory against the budget, naming a sibling that fits.
fn too_large(settings: &Settings, model: &str, family: Family, parameters: u64) -> Option<String> {
    let need = family::memory_needed(parameters);
    let budget = settings.memory_budget();
    if need <= budget {
        return None;
    }
    let sibling = match family::sibling_that_fits(family, budget) {
        Some(s) => format!(
            "; {} ({} parameters, {} to download) runs for real here",
            s.model_id,
            human_parameters(s.parameters),
            human_bytes(s.download_bytes)
        ),
        None => String::new(),
    };
    Some(format!(
        "{model} ({} parameters) needs about {} of memory on this computer's CPU, and {} is available{sibling}",
        human_parameters(parameters),
        human_bytes(need),
        human_bytes(budget)
    ))
}

/// A model this computer can run for real, for the Deploy form.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Runnable {
    pub model_id: String,
    pub family: Family,
    pub parameters: u64,
    /// Bytes of memory it needs on the CPU.
    pub memory_bytes: u64,
    /// Bytes its weights take in the cache, or (not cached) to download.
    pub disk_bytes: u64,
    /// Whether its files are in the Hugging Face cache (else deploying it downloads them).
    pub cached: bool,
    /// Whether it fits in the memory available now.
    pub fits: bool,
    /// Whether its tokenizer has a chat template (Messages API answers).
    pub chat: bool,
}

/// The models of supported families in the Hugging Face cache, then the known small ones not
/// there (each downloads when deployed); within each, those that fit first, smallest first.
pub fn runnable(settings: &Settings) -> Vec<Runnable> {
    let budget = settings.memory_budget();
    let mut cached: Vec<Runnable> = hub::cached_models(&settings.hub_cache)
        .into_iter()
        .filter_map(|(id, snapshot)| cached_model(id, &snapshot, budget))
        .collect();
    let known = family::KNOWN
        .iter()
        .filter(|k| !cached.iter().any(|c| c.model_id == k.model_id));
    let mut rest: Vec<Runnable> = known
        .map(|k| {
            let memory_bytes = family::memory_needed(k.parameters);
            Runnable {
                model_id: k.model_id.to_string(),
                family: k.family,
                parameters: k.parameters,
                memory_bytes,
                disk_bytes: k.download_bytes,
                cached: false,
                fits: memory_bytes <= budget,
                chat: k.chat,
            }
        })
        .collect();
    let order =
        |a: &Runnable, b: &Runnable| b.fits.cmp(&a.fits).then(a.parameters.cmp(&b.parameters));
    cached.sort_by(order);
    rest.sort_by(order);
    cached.extend(rest);
    cached
}

fn cached_model(model_id: String, snapshot: &std::path::Path, budget: u64) -> Option<Runnable> {
    let config: Value =
        serde_json::from_slice(&std::fs::read(snapshot.join("config.json")).ok()?).ok()?;
    let family = family::family_of(&config).ok()?;
    let parameters = family::parameters(family, &config)?;
    let weights: Vec<PathBuf> = std::fs::read_dir(snapshot)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    if weights.is_empty() || !snapshot.join("tokenizer.json").exists() {
        return None;
    }
    let tokenizer_config = std::fs::read(snapshot.join("tokenizer_config.json")).ok();
    let chat = tokenizer_config
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .is_some_and(|v| v.get("chat_template").is_some())
        || snapshot.join("chat_template.jinja").exists();
    let memory_bytes = family::memory_needed(parameters);
    Some(Runnable {
        model_id,
        family,
        parameters,
        memory_bytes,
        disk_bytes: hub::size_on_disk(&weights),
        cached: true,
        fits: memory_bytes <= budget,
        chat,
    })
}

#[cfg(test)]
mod tests;
