//! The Jobs screen's commands: scan, submit (run in the background, progress as events), list,
//! results, pause/resume/cancel, export.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use ebb_core::jobs::estimate::Estimate;
use ebb_core::jobs::export::ExportFormat;
use ebb_core::jobs::files::WrittenFiles;
use ebb_core::jobs::progress::{Watch, WorkKind, WorkProgress};
use ebb_core::jobs::retry::{RetryWhich, Try};
use ebb_core::jobs::scan::{Scan, ScanKey, ScanOptions, ScanSummary};
use ebb_core::jobs::status::RequestStatus;
use ebb_core::jobs::store::RequestRow;
use ebb_core::jobs::{CancelMode, JobProgress, JobSettings, JobSummary, RequestState};
use serde::{Deserialize, Serialize};
use tauri::Manager;
use tauri_specta::Event;

use crate::AppState;
use crate::commands::CommandError;

/// A running job's counts and rates (a few times a second, and once at the end).
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct JobProgressEvent {
    pub progress: JobProgress,
}

/// A run ended with an error before it could report progress.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct JobErrorEvent {
    pub job_id: String,
    pub message: String,
}

/// How far a scan, an export or the writing of result files has come (about ten times a
/// second, and once at the end).
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct WorkProgressEvent {
    pub progress: WorkProgress,
}

/// Stop flags for the Jobs screen's long file work, one per kind (the screen runs one of each
/// at a time), and the last scan, kept for the submit that follows it.
#[derive(Default)]
pub struct WorkControl {
    scan: Arc<AtomicBool>,
    export: Arc<AtomicBool>,
    write_files: Arc<AtomicBool>,
    last_scan: Mutex<Option<(ScanKey, Arc<Scan>)>>,
}

impl WorkControl {
    fn flag(&self, kind: WorkKind) -> &Arc<AtomicBool> {
        match kind {
            WorkKind::Scan => &self.scan,
            WorkKind::Export => &self.export,
            WorkKind::WriteFiles => &self.write_files,
        }
    }

    /// A watch sending progress events, its stop flag lowered for this new piece of work.
    fn watch(&self, app: &tauri::AppHandle, kind: WorkKind) -> Watch {
        let flag = self.flag(kind).clone();
        flag.store(false, Ordering::SeqCst);
        let app = app.clone();
        let progress = move |p: &WorkProgress| {
            if let Err(e) = (WorkProgressEvent {
                progress: p.clone(),
            })
            .emit(&app)
            {
                tracing::warn!("could not send work progress: {e}");
            }
        };
        Watch::new(Arc::new(progress), flag)
    }

    fn kept_scan(&self, key: &ScanKey) -> Option<Arc<Scan>> {
        let kept = self.last_scan.lock().ok()?;
        kept.as_ref()
            .filter(|(k, _)| k == key)
            .map(|(_, scan)| scan.clone())
    }

    fn keep_scan(&self, key: ScanKey, scan: Arc<Scan>) {
        if let Ok(mut kept) = self.last_scan.lock() {
            *kept = Some((key, scan));
        }
    }

    /// Lets the kept scan go (a million requests' spans are tens of MB) once it was submitted.
    fn forget_scan(&self) {
        if let Ok(mut kept) = self.last_scan.lock() {
            *kept = None;
        }
    }
}

/// Stops the running scan, export or result-file writing (`kind`); it ends with a "stopped"
/// error and leaves no file behind.
#[tauri::command]
#[specta::specta]
pub fn cancel_work(state: tauri::State<'_, AppState>, kind: WorkKind) {
    state.work.flag(kind).store(true, Ordering::SeqCst);
}

/// The scan of `paths`: the last one when its paths, options and files (names, sizes and
/// modification times) are unchanged, as at a submit after the summary; else a new one,
/// reporting progress events.
async fn scanned(
    app: &tauri::AppHandle,
    state: &AppState,
    paths: Vec<String>,
    options: ScanOptions,
) -> Result<Arc<Scan>, ebb_core::Error> {
    let paths = to_paths(paths);
    let listed = (paths.clone(), options.clone());
    // Listing a million-line folder is quick, but it is file-system work: off the runtime.
    let key = tauri::async_runtime::spawn_blocking(move || ScanKey::of(&listed.0, &listed.1))
        .await
        .map_err(|e| ebb_core::Error::InvalidRequest(format!("the scan stopped: {e}")))?;
    if let Some(scan) = state.work.kept_scan(&key) {
        return Ok(scan);
    }
    let watch = state.work.watch(app, WorkKind::Scan);
    let scan = Arc::new(state.ebb.scan_jobs_watched(paths, options, watch).await?);
    state.work.keep_scan(key, scan.clone());
    Ok(scan)
}

fn to_paths(list: Vec<String>) -> Vec<PathBuf> {
    list.into_iter().map(PathBuf::from).collect()
}

/// A desktop notification when a job is done or stopped by an error (not when the user paused
/// or cancelled it: they know). Without a notification service it is only logged.
fn notify_end(app: &tauri::AppHandle, job: &JobSummary) {
    use tauri_plugin_notification::NotificationExt;
    let body = match job.state {
        ebb_core::jobs::JobState::Done => format!(
            "{}: {} succeeded, {} failed of {} requests",
            job.id, job.succeeded, job.failed, job.total
        ),
        ebb_core::jobs::JobState::Paused
            if job
                .note
                .as_deref()
                .is_some_and(|n| n.starts_with("stopped")) =>
        {
            format!("{} {}", job.id, job.note.as_deref().unwrap_or_default())
        }
        _ => return,
    };
    if let Err(e) = app
        .notification()
        .builder()
        .title("Ebb job finished")
        .body(&body)
        .show()
    {
        tracing::info!("no desktop notification ({e}): {body}");
    }
}

/// Runs job `id` on the async runtime until every result is in (or it is paused/cancelled).
pub fn spawn_run(app: tauri::AppHandle, id: String) {
    tauri::async_runtime::spawn(async move {
        let state = app.state::<AppState>();
        let emitter = app.clone();
        let progress = move |p: &JobProgress| {
            if let Err(e) = (JobProgressEvent {
                progress: p.clone(),
            })
            .emit(&emitter)
            {
                tracing::warn!("could not send job progress: {e}");
            }
        };
        // A job another process runs (a terminal's `ebb submit --wait`) is followed, not run
        // twice; the app takes it over when that run ends or its process dies.
        match state.ebb.follow_or_run_job(&id, &progress, true).await {
            Ok(summary) => notify_end(&app, &summary),
            Err(e) => {
                tracing::error!(job = id, "job run failed: {e}");
                let _ = (JobErrorEvent {
                    job_id: id,
                    message: e.to_string(),
                })
                .emit(&app);
            }
        }
    });
}

/// The system's folder chooser; None when the user closes it.
#[tauri::command]
#[specta::specta]
pub async fn choose_folder(app: tauri::AppHandle) -> Result<Option<String>, CommandError> {
    use tauri_plugin_dialog::DialogExt;
    // Blocking is fine here: async commands run off the main (UI) thread.
    let picked = app
        .dialog()
        .file()
        .set_title("Folder of JSONL requests")
        .blocking_pick_folder();
    Ok(picked
        .and_then(|p| p.into_path().ok())
        .map(|p| p.display().to_string()))
}

/// The demo requests (the article's 19 prompts): beside an installed app
/// (`/usr/share/ebb/demo`), else in the source tree it was built from; None when neither exists.
#[tauri::command]
#[specta::specta]
pub fn demo_folder() -> Option<String> {
    let installed = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("share/ebb/demo")));
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../demo");
    installed
        .into_iter()
        .chain([source])
        .find(|dir| dir.is_dir())
        .and_then(|dir| dir.canonicalize().ok())
        .map(|dir| dir.display().to_string())
}

/// Reads and checks the requests in `paths` (folders or .jsonl files), with progress events
/// (`cancel_work("scan")` stops it); sends nothing.
#[tauri::command]
#[specta::specta]
pub async fn scan_jobs(
    app: tauri::AppHandle,
    state: tauri::State<'_, AppState>,
    paths: Vec<String>,
    options: ScanOptions,
) -> Result<ScanSummary, CommandError> {
    Ok(scanned(&app, &state, paths, options).await?.summary())
}

/// Records the job (with the last scan when the files are unchanged, else a new one) and
/// starts it in the background; returns its id.
#[tauri::command]
#[specta::specta]
pub async fn submit_job(
    app: tauri::AppHandle,
    state: tauri::State<'_, AppState>,
    paths: Vec<String>,
    options: ScanOptions,
    endpoint: String,
    settings: JobSettings,
    valid_only: bool,
) -> Result<String, CommandError> {
    let scan = scanned(&app, &state, paths, options).await?;
    let id = state
        .ebb
        .create_job(scan, &endpoint, settings, valid_only)
        .await?;
    state.work.forget_scan();
    spawn_run(app, id.clone());
    Ok(id)
}

#[tauri::command]
#[specta::specta]
pub async fn list_jobs(state: tauri::State<'_, AppState>) -> Result<Vec<JobSummary>, CommandError> {
    Ok(state.ebb.jobs().await?)
}

/// A page of a job's results in input order, with the number of matching rows.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct ResultsPage {
    pub total: u32,
    pub rows: Vec<RequestRow>,
}

#[tauri::command]
#[specta::specta]
pub async fn job_results(
    state: tauri::State<'_, AppState>,
    id: String,
    filter: Option<RequestState>,
    search: Option<String>,
    offset: u32,
    limit: u32,
) -> Result<ResultsPage, CommandError> {
    let search = search.filter(|s| !s.trim().is_empty());
    let total = state
        .ebb
        .job_result_count(&id, filter, search.clone())
        .await?;
    let rows = state
        .ebb
        .job_results(&id, filter, search, (offset, limit.min(1000)))
        .await?;
    Ok(ResultsPage { total, rows })
}

/// One request's input, read from its file.
#[tauri::command]
#[specta::specta]
pub async fn job_input(
    state: tauri::State<'_, AppState>,
    id: String,
    seq: u32,
) -> Result<Option<String>, CommandError> {
    Ok(state.ebb.job_input(&id, seq).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn pause_job(
    state: tauri::State<'_, AppState>,
    id: String,
) -> Result<bool, CommandError> {
    Ok(state.ebb.pause_job(&id))
}

#[tauri::command]
#[specta::specta]
pub async fn resume_job(app: tauri::AppHandle, id: String) -> Result<(), CommandError> {
    spawn_run(app, id);
    Ok(())
}

#[tauri::command]
#[specta::specta]
pub async fn cancel_job(
    state: tauri::State<'_, AppState>,
    id: String,
    discard: bool,
) -> Result<JobSummary, CommandError> {
    let mode = if discard {
        CancelMode::Discard
    } else {
        CancelMode::Keep
    };
    Ok(state.ebb.cancel_job(&id, mode).await?)
}

/// Writes the results to `exports/<job>.<jsonl|csv>` in the Ebb home, with progress events
/// (`cancel_work("export")` stops it, leaving no file); returns the file.
#[tauri::command]
#[specta::specta]
pub async fn export_job(
    app: tauri::AppHandle,
    state: tauri::State<'_, AppState>,
    id: String,
    format: ExportFormat,
) -> Result<String, CommandError> {
    let dir = state.ebb.exports_dir();
    std::fs::create_dir_all(&dir).map_err(|source| ebb_core::Error::Write {
        path: dir.clone(),
        source,
    })?;
    let ext = match format {
        ExportFormat::Jsonl => "jsonl",
        ExportFormat::Csv => "csv",
    };
    let out = dir.join(format!("{id}.{ext}"));
    let watch = state.work.watch(&app, WorkKind::Export);
    state
        .ebb
        .export_job_watched(&id, &out, format, watch)
        .await?;
    Ok(out.display().to_string())
}

/// Writes the job's result files, errors.jsonl and manifest.json beside its inputs, or in
/// `exports/<job>/` in the Ebb home when the inputs' folder cannot be written (the demo folder
/// of an installed app); returns what was written. Sends progress events;
/// `cancel_work("write_files")` stops it, leaving no file half-written.
#[tauri::command]
#[specta::specta]
pub async fn write_job_files(
    app: tauri::AppHandle,
    state: tauri::State<'_, AppState>,
    id: String,
) -> Result<WrittenFiles, CommandError> {
    let watch = state.work.watch(&app, WorkKind::WriteFiles);
    if let Some(root) = state.ebb.job_inputs_folder(&id).await? {
        match state
            .ebb
            .write_job_files_watched(&id, &root, watch.clone())
            .await
        {
            Err(ebb_core::Error::Write { path, source }) => {
                tracing::info!(
                    "{}: {source}; writing to the exports folder",
                    path.display()
                );
            }
            written => return Ok(written?),
        }
    }
    let dir = state.ebb.exports_dir().join(&id);
    Ok(state.ebb.write_job_files_watched(&id, &dir, watch).await?)
}

/// A new job with the failed and/or expired lines of job `id`, started at once; its id.
#[tauri::command]
#[specta::specta]
pub async fn retry_job(
    app: tauri::AppHandle,
    state: tauri::State<'_, AppState>,
    id: String,
    which: RetryWhich,
    endpoint: Option<String>,
) -> Result<String, CommandError> {
    let new_id = state.ebb.retry_job(&id, which, endpoint.as_deref()).await?;
    spawn_run(app, new_id.clone());
    Ok(new_id)
}

/// Where one request is, by its id or inference id, in every job that has it.
#[tauri::command]
#[specta::specta]
pub async fn request_status(
    state: tauri::State<'_, AppState>,
    id: String,
) -> Result<Vec<RequestStatus>, CommandError> {
    Ok(state.ebb.request_status(&id).await?)
}

/// The answers line `seq` of job `id` had before retries replaced them, oldest first.
#[tauri::command]
#[specta::specta]
pub async fn request_tries(
    state: tauri::State<'_, AppState>,
    id: String,
    seq: u32,
) -> Result<Vec<Try>, CommandError> {
    Ok(state.ebb.job_store()?.tries(&id, seq).await?)
}

/// The price of sending `paths` to `endpoint`, before anything is sent (with the last scan
/// when the files are unchanged).
#[tauri::command]
#[specta::specta]
pub async fn estimate_job(
    app: tauri::AppHandle,
    state: tauri::State<'_, AppState>,
    paths: Vec<String>,
    options: ScanOptions,
    endpoint: String,
    upload_all: bool,
    assume_rps: Option<f64>,
) -> Result<Estimate, CommandError> {
    let scan = scanned(&app, &state, paths, options).await?;
    Ok(state
        .ebb
        .estimate_job(scan, &endpoint, assume_rps, upload_all)
        .await?)
}
