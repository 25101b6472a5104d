//! Submit benchmarks: Ebb on `--requests` requests inline and again with every input uploaded,
//! the boto3 baselines (`../shared/bench/boto3_baselines.py`: the article's loop and a 32-thread
//! version) against the same server, one-request latency, and Ebb's peak memory per run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ebb_core::Ebb;
use ebb_core::jobs::scan::{Scan, ScanOptions};
use ebb_core::jobs::{JobProgress, JobSettings};

use super::BenchArgs;
pub use super::data::write_requests;
use super::server::BenchCloud;

/// One Ebb job, measured.
pub struct Run {
    pub job: String,
    pub requests: usize,
    /// From the start to every request invoked.
    pub invoke_rps: f64,
    /// From the start to every result recorded.
    pub total_s: f64,
    pub s3_per_result: f64,
    pub succeeded: u32,
    pub failed: u32,
    /// The most frequent error of the failed requests.
    pub top_error: Option<String>,
}

/// The boto3 baselines' rates, requests per second.
pub struct Baselines {
    pub files: usize,
    pub article_loop: f64,
    /// 32 threads, each uploading then invoking.
    pub threads_32: f64,
    /// 32 threads, each sending its request inline (InvokeEndpointAsync `Body`).
    pub threads_32_inline: f64,
}

pub struct SubmitFigures {
    pub baselines: Result<Baselines, String>,
    /// The signed-request client's rate: the local cloud's ceiling.
    pub ceiling: Result<super::ceiling::Ceiling, String>,
    /// The million-line job.
    pub inline: Run,
    /// The job with every input uploaded.
    pub uploads: Run,
    /// One request at a time, submit to result recorded, sorted (ms).
    pub latency_ms: Vec<f64>,
}

/// Starts a new peak-memory window (Linux: writing 5 to clear_refs resets VmHWM).
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

pub fn peak_rss_mb() -> Option<f64> {
    super::proc_kb("/proc/self/status", "VmHWM").map(|kb| kb / 1024.0)
}

/// Runs the requests of `dir` as one job to its end.
pub async fn run_ebb(ebb: &Ebb, dir: &Path, settings: JobSettings) -> Result<Run, String> {
    let scan = Arc::new(
        ebb.scan_jobs(vec![dir.to_path_buf()], ScanOptions::default())
            .await
            .map_err(|e| e.to_string())?,
    );
    reset_peak_rss();
    run_scanned(ebb, scan, settings).await
}

/// Runs the requests of `scan` as one job to its end.
pub async fn run_scanned(ebb: &Ebb, scan: Arc<Scan>, settings: JobSettings) -> Result<Run, String> {
    let n = scan.requests.len();
    let started = Instant::now();
    let id = ebb
        .create_job(scan, "bench", settings, false)
        .await
        .map_err(|e| e.to_string())?;
    let all_sent: Arc<Mutex<Option<f64>>> = Arc::default();
    let last: Arc<Mutex<Option<JobProgress>>> = Arc::default();
    let (sent, seen) = (all_sent.clone(), last.clone());
    let progress = move |p: &JobProgress| {
        if p.job.pending == 0
            && let Ok(mut s) = sent.lock()
        {
            s.get_or_insert(started.elapsed().as_secs_f64());
        }
        if let Ok(mut l) = seen.lock() {
            *l = Some(p.clone());
        }
    };
    let summary = ebb
        .run_job(&id, &progress, true)
        .await
        .map_err(|e| e.to_string())?;
    let total_s = started.elapsed().as_secs_f64();
    let sent_s = all_sent.lock().ok().and_then(|s| *s).unwrap_or(total_s);
    let calls = last
        .lock()
        .ok()
        .and_then(|l| l.as_ref().map(|p| p.result_s3_calls))
        .unwrap_or(0);
    Ok(Run {
        job: id,
        requests: n,
        invoke_rps: n as f64 / sent_s,
        total_s,
        s3_per_result: f64::from(calls) / f64::from(summary.succeeded.max(1)),
        succeeded: summary.succeeded,
        failed: summary.failed,
        top_error: summary.top_error.map(|e| e.message),
    })
}

/// One request at a time: from submit to its result recorded, as a user waits for it.
pub async fn latency(ebb: &Ebb, dir: &Path, probes: usize) -> Result<Vec<f64>, String> {
    let one = dir.join("one");
    write_requests(&one, 1)?;
    let mut times = Vec::new();
    for _ in 0..probes {
        let t = Instant::now();
        run_ebb(ebb, &one, JobSettings::default()).await?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok(times)
}

pub fn baselines(args: &BenchArgs, cloud: &BenchCloud, work: &Path) -> Result<Baselines, String> {
    if !args.baselines.exists() {
        return Err(format!(
            "{} not found (pass --baselines)",
            args.baselines.display()
        ));
    }
    let python = args.python.clone().unwrap_or_else(|| {
        let venv = PathBuf::from(".venv/bin/python");
        if venv.exists() {
            venv
        } else {
            PathBuf::from("python3")
        }
    });
    let out = Command::new(&python)
        .arg(&args.baselines)
        .arg(&cloud.url)
        .arg(args.baseline_files.to_string())
        .args(["--endpoint", "bench", "--threads", "32"])
        .env("AWS_ACCESS_KEY_ID", &cloud.keys.0)
        .env("AWS_SECRET_ACCESS_KEY", &cloud.keys.1)
        .env("AWS_REGION", "us-east-1")
        .env("TMPDIR", work)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!(
            "the baselines failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("the baselines printed no JSON: {e}"))?;
    let rate = |k: &str| {
        json[k]
            .as_f64()
            .ok_or_else(|| format!("the baselines did not report {k}"))
    };
    Ok(Baselines {
        files: args.baseline_files,
        article_loop: rate("seed_loop_rps")?,
        threads_32: rate("boto3_32_threads_rps")?,
        threads_32_inline: rate("boto3_32_threads_inline_rps")?,
    })
}
