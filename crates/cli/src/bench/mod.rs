//! `ebb bench`: every benchmark in one run, against a fresh local cloud in its own process, with
//! each baseline measured in the same run (this machine is noisy, so only ratios travel): a
//! million-line job end to end (scan against `wc -l`, submit against boto3's 32-thread inline
//! submitter and against the local cloud's own ceiling, collection, export, peak memory, the
//! job store's size), every input uploaded against boto3's upload-then-invoke submitter,
//! result latency, and the desktop results table at a million rows against 100 rows. Prints
//! one Markdown table.

mod ceiling;
mod data;
mod export;
mod models;
mod report;
mod scan;
mod server;
mod submit;
mod ui;

use std::path::PathBuf;
use std::process::ExitCode;

use crate::output;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Requests in the large job (scanned, submitted inline, collected, exported).
    #[arg(long, default_value_t = 1_000_000)]
    pub requests: usize,
    /// Of those, lines larger than the 128,000-byte inline limit (sent through S3).
    #[arg(long, default_value_t = 5)]
    pub large_lines: usize,
    /// Requests of the job that uploads every input.
    #[arg(long, default_value_t = 100_000)]
    pub upload_requests: usize,
    /// Requests the signed-request client sends to find the local cloud's ceiling.
    #[arg(long, default_value_t = 100_000)]
    pub ceiling_requests: usize,
    /// Single requests timed from submit to result recorded.
    #[arg(long, default_value_t = 100)]
    pub latency_probes: usize,
    /// Files the boto3 baselines submit (each is one request, as in the article).
    #[arg(long, default_value_t = 2_000)]
    pub baseline_files: usize,
    /// The baselines script.
    #[arg(long, default_value = "../shared/bench/boto3_baselines.py")]
    pub baselines: PathBuf,
    /// Python with boto3 (default: .venv/bin/python if present, else python3).
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// Requests in flight for Ebb.
    #[arg(long, default_value_t = 128)]
    pub concurrency: u32,
    /// The desktop app to measure (default: `ebb-app` beside this `ebb`).
    #[arg(long)]
    pub app: Option<PathBuf>,
    /// The UI benchmark's driver script.
    #[arg(long, default_value = "tests/e2e/bench-table.mjs")]
    pub ui_script: PathBuf,
    /// Leave out the desktop table benchmark (no display, no app build, no tauri-driver).
    #[arg(long)]
    pub no_ui: bool,
    /// Measure only local mode's real models (tokens per second), nothing else.
    #[arg(long)]
    pub models_only: bool,
    /// Tokens each timed generation makes (greedy, exactly this many).
    #[arg(long, default_value_t = 64)]
    pub model_tokens: u32,
    /// Timed generations per model (after one warm-up).
    #[arg(long, default_value_t = 5)]
    pub model_requests: u32,
    /// Python with torch and transformers for the models' baseline (default:
    /// .venv-models/bin/python, which `bash scripts/bench.sh` installs).
    #[arg(long)]
    pub models_python: Option<PathBuf>,
}

/// Seconds `cmd` (`what`, for messages) takes to run to success.
fn timed(cmd: &mut std::process::Command, what: &str) -> Result<f64, String> {
    let started = std::time::Instant::now();
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(started.elapsed().as_secs_f64())
}

/// A "Name:   1234 kB" figure from a /proc file (e.g. VmHWM in /proc/self/status), in kB.
fn proc_kb(file: &str, field: &str) -> Option<f64> {
    std::fs::read_to_string(file)
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

pub async fn run(args: BenchArgs) -> ExitCode {
    match all(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => output::fail(&e),
    }
}

/// Everything measured, for the report.
pub struct Figures {
    pub scan: scan::ScanFigures,
    pub submit: submit::SubmitFigures,
    pub export: export::ExportFigures,
    /// Ebb's peak RSS from the million-line scan to its export, MB.
    pub peak_rss_mb: Option<f64>,
}

async fn all(args: BenchArgs) -> Result<(), String> {
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let models = models::measure(&args, work.path()).await;
    if args.models_only {
        print!("{}", report::render_models(&models));
        return Ok(());
    }
    let cloud = server::BenchCloud::start(work.path()).await?;
    let figures = measure(&args, &cloud, work.path()).await?;
    let table = if args.no_ui {
        Err("left out (--no-ui)".to_string())
    } else {
        eprintln!("desktop results table: 100 and {} rows…", args.requests);
        ui::measure(&args, &cloud, &figures.submit).await
    };
    cloud.stop().await;
    print!("{}", report::render(&figures, &table, &models));
    Ok(())
}

/// The boto3 baselines, then the signed-request ceiling, each drained before the next.
async fn before_ebb(
    args: &BenchArgs,
    cloud: &server::BenchCloud,
    work: &std::path::Path,
) -> (
    Result<submit::Baselines, String>,
    Result<ceiling::Ceiling, String>,
) {
    eprintln!("boto3 baselines: {} files…", args.baseline_files);
    let baselines = submit::baselines(args, cloud, work);
    eprintln!(
        "the local cloud's ceiling: {} signed requests…",
        args.ceiling_requests
    );
    let bodies = data::bodies(args.ceiling_requests);
    let keys = (cloud.keys.0.as_str(), cloud.keys.1.as_str());
    let connections = args.concurrency as usize;
    let mut ceiling = ceiling::measure(&cloud.url, keys, &bodies, connections).await;
    drop(bodies);
    if let Ok(c) = &ceiling {
        eprintln!("waiting for the endpoint to answer them…");
        let drained = cloud
            .wait_for(&c.last_outputs, std::time::Duration::from_secs(600))
            .await;
        if let Err(e) = drained {
            ceiling = Err(format!("its answers did not all come: {e}"));
        }
    }
    (baselines, ceiling)
}

async fn measure(
    args: &BenchArgs,
    cloud: &server::BenchCloud,
    work: &std::path::Path,
) -> Result<Figures, String> {
    let (large_dir, uploads_dir) = (work.join("requests"), work.join("uploads"));
    eprintln!("writing {} requests…", args.requests);
    let bytes = data::write_requests_with(&large_dir, args.requests, args.large_lines)?;
    data::write_requests(&uploads_dir, args.upload_requests)?;
    let (baselines, ceiling) = before_ebb(args, cloud, work).await;
    let settings = ebb_core::jobs::JobSettings {
        concurrency: args.concurrency,
        ..ebb_core::jobs::JobSettings::default()
    };
    eprintln!(
        "Ebb: scanning {} requests ({:.0} MB)…",
        args.requests,
        bytes as f64 / 1e6
    );
    let scan = scan::measure(&cloud.ebb, &large_dir, bytes).await?;
    // From here on, the run as a user makes it: one scan, then the job to its end.
    submit::reset_peak_rss();
    let kept = scan::scan_for_job(&cloud.ebb, &large_dir).await?;
    let store_before = export::store_bytes(&cloud.home);
    eprintln!("Ebb: submitting and collecting {} requests…", args.requests);
    let inline = submit::run_scanned(&cloud.ebb, kept, settings.clone()).await?;
    eprintln!("Ebb: exporting {} results…", inline.succeeded);
    let export = export::measure(
        &cloud.ebb,
        (&inline.job, inline.requests),
        (&cloud.home, store_before),
        (&large_dir, work),
    )
    .await;
    let peak_rss_mb = submit::peak_rss_mb();
    eprintln!("Ebb with uploads: {} requests…", args.upload_requests);
    let uploads = ebb_core::jobs::JobSettings {
        upload_all: true,
        ..settings
    };
    let uploads = submit::run_ebb(&cloud.ebb, &uploads_dir, uploads).await?;
    eprintln!("result latency: {} single requests…", args.latency_probes);
    let latency_ms = submit::latency(&cloud.ebb, work, args.latency_probes).await?;
    Ok(Figures {
        scan,
        submit: submit::SubmitFigures {
            baselines,
            ceiling,
            inline,
            uploads,
            latency_ms,
        },
        export,
        peak_rss_mb,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn proc_figures_are_read_by_their_exact_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("status");
        std::fs::write(
            &file,
            "VmPeak:\t  9999 kB\nVmHWM:\t   1234 kB\nVmHWMx: 1 kB\n",
        )
        .expect("write");
        let path = file.to_str().expect("utf-8 path");
        assert_eq!(super::proc_kb(path, "VmHWM"), Some(1234.0));
        assert_eq!(super::proc_kb(path, "VmRSS"), None);
        assert_eq!(super::proc_kb("/nonexistent/status", "VmHWM"), None);
    }
}
