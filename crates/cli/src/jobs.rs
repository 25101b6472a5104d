//! `ebb submit`, `ebb resume`, `ebb jobs`, `ebb job`, `ebb results`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use ebb_core::Ebb;
use ebb_core::jobs::export::ExportFormat;
use ebb_core::jobs::progress::WorkKind;
use ebb_core::jobs::scan::ScanOptions;
use ebb_core::jobs::{JobProgress, JobSettings, JobState, JobSummary};
use indicatif::{ProgressBar, ProgressStyle};

use crate::output;

#[derive(clap::Args, Debug)]
pub struct SubmitArgs {
    /// Folders (their `.jsonl` files) or `.jsonl` files.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The async endpoint to send to.
    #[arg(long, required_unless_present = "check")]
    pub endpoint: Option<String>,
    /// Only scan: print every problem and the counts, send nothing (exit status 1 if a line
    /// has an error).
    #[arg(long)]
    pub check: bool,
    /// Also read the folders' sub-folders.
    #[arg(long)]
    pub recursive: bool,
    /// Send each file as it is, as one request (the article's way), not one request per line.
    #[arg(long)]
    pub per_file: bool,
    /// Submit the valid requests even though some lines have problems.
    #[arg(long)]
    pub valid_only: bool,
    /// Put every input in S3 (kept there), not only those too big to send inline.
    #[arg(long)]
    pub upload_all: bool,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: u32,
    /// InvocationTimeoutSeconds: how long the model may work on one request (1-3600).
    #[arg(long, value_name = "SECONDS", default_value_t = 900)]
    pub timeout: u32,
    /// RequestTTLSeconds: how long a request may wait in the queue (60-21600; default 6 h).
    #[arg(long, value_name = "SECONDS")]
    pub ttl: Option<u32>,
    /// Wait until every request has its output or failure.
    #[arg(long)]
    pub wait: bool,
    /// The field of each line that holds its id (custom_id and recordId are read anyway);
    /// lines without one are named file:line.
    #[arg(long, value_name = "FIELD")]
    pub id_field: Option<String>,
    /// Scan and price the job, send nothing: lines, bytes, approximate tokens, instance-hours
    /// at the endpoint's throughput, and their cost.
    #[arg(long, conflicts_with = "check")]
    pub dry_run: bool,
    /// For --dry-run: requests a second one instance finishes (default: measured from the
    /// endpoint's newest job, else 1, and said to be assumed).
    #[arg(long, value_name = "RPS", requires = "dry_run")]
    pub assume_rps: Option<f64>,
}

fn progress_bar(json: bool) -> ProgressBar {
    if json {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} results  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

fn describe(p: &JobProgress) -> String {
    let j = &p.job;
    let eta = p
        .eta_s
        .map(|s| format!(" · ETA {s:.0} s"))
        .unwrap_or_default();
    format!(
        "sent {} · ok {} · failed {} · {:.0} req/s{eta}",
        j.total - j.pending,
        j.succeeded,
        j.failed,
        p.invoke_rate
    )
}

/// Runs (or resumes) a job with a progress bar; the first Ctrl-C pauses it.
pub async fn run(ebb: &Ebb, id: &str, wait: bool, json: bool) -> ExitCode {
    let bar = progress_bar(json);
    let shown = bar.clone();
    let retried = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let seen_retries = retried.clone();
    let progress = move |p: &JobProgress| {
        seen_retries.store(p.retried_calls, std::sync::atomic::Ordering::Relaxed);
        shown.set_length(u64::from(p.job.total));
        shown.set_position(u64::from(p.job.succeeded + p.job.failed));
        shown.set_message(describe(p));
    };
    let running = ebb.run_job(id, &progress, wait);
    tokio::pin!(running);
    let result = tokio::select! {
        r = &mut running => r,
        _ = tokio::signal::ctrl_c() => {
            ebb.pause_job(id);
            bar.println("pausing: requests in flight finish, nothing else is sent…");
            running.await
        }
    };
    bar.finish_and_clear();
    match result {
        Err(e) => output::fail_error(&e),
        Ok(summary) if json => output::print_json(&summary),
        Ok(summary) => {
            print_summary(&summary);
            let calls = retried.load(std::sync::atomic::Ordering::Relaxed);
            if calls > 0 {
                println!(
                    "  {calls} calls were made again after throttling, server errors or dropped connections"
                );
            }
            match summary.state {
                JobState::Paused
                    if summary
                        .note
                        .as_deref()
                        .is_some_and(|n| n.starts_with("stopped")) =>
                {
                    ExitCode::FAILURE
                }
                _ => ExitCode::SUCCESS,
            }
        }
    }
}

pub fn print_summary(j: &JobSummary) {
    println!("job {}: {}", j.id, j.headline);
    println!(
        "  {} requests: {} succeeded, {} failed, {} expired, {} waiting for a result, {} not sent, {} cancelled",
        j.total, j.succeeded, j.failed, j.expired, j.invoked, j.pending, j.cancelled
    );
    if let Some(parent) = &j.parent {
        println!("  a retry of job {parent}: its lines take these answers");
    }
    if j.retried > 0 {
        println!(
            "  {} requests needed more than one attempt (throttling, errors or an interrupted run); each was sent until accepted, and has one result",
            j.retried
        );
    }
    if let Some(note) = &j.note {
        println!("  {note}");
    }
    // A retry's answers are its first job's.
    let first = j.parent.as_deref().unwrap_or(&j.id);
    match j.state {
        JobState::Done if j.failed + j.expired > 0 => {
            println!("  results: ebb results {first} --out-dir FOLDER");
            println!("  retry what failed: ebb retry {}", j.id);
        }
        JobState::Done => println!("  results: ebb results {first} --out-dir FOLDER"),
        JobState::Collecting | JobState::Paused => {
            println!("  continue: ebb resume {} --wait", j.id)
        }
        _ => {}
    }
}

/// Prints the scan's problems (every one for a check, the first ones for a submit) on stderr,
/// and its counts and formats on stdout.
fn report_scan(
    scan: &ebb_core::jobs::scan::Scan,
    summary: &ebb_core::jobs::scan::ScanSummary,
    (check, valid_only): (bool, bool),
    json: bool,
) {
    let shown = match (check, valid_only) {
        (true, _) => usize::MAX,
        (false, true) => 20,
        (false, false) => 50,
    };
    for p in scan.problems.iter().take(shown) {
        eprintln!("{p}");
    }
    if scan.problems.len() > shown {
        eprintln!(
            "… and {} more",
            (scan.errors + scan.warnings) as usize - shown
        );
    }
    if !json {
        println!(
            "scanned {} files: {} requests ({} bytes), {} errors, {} warnings",
            summary.files,
            summary.requests,
            summary.request_bytes,
            summary.errors,
            summary.warnings
        );
        crate::batch::print_formats(summary);
    }
}

pub async fn submit(ebb: &Ebb, args: SubmitArgs, json: bool, in_process_cloud: bool) -> ExitCode {
    let options = ScanOptions {
        recursive: args.recursive,
        per_file: args.per_file,
        id_field: args.id_field.clone(),
    };
    let work = crate::work::Work::start(WorkKind::Scan, json);
    let scanned = ebb
        .scan_jobs_watched(args.paths, options, work.watch())
        .await;
    drop(work);
    let scan = match scanned {
        Ok(s) => Arc::new(s),
        Err(e) => return crate::work::fail(&e),
    };
    let summary = scan.summary();
    report_scan(&scan, &summary, (args.check, args.valid_only), json);
    if args.check {
        return if summary.errors == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    let Some(endpoint) = args.endpoint else {
        return output::fail("--endpoint is needed to send the requests");
    };
    if args.dry_run {
        if summary.errors > 0 && !args.valid_only && !json {
            println!(
                "note: {} lines have errors: these are the figures of the {} valid ones, and a submit refuses the job unless --valid-only",
                summary.errors, summary.requests
            );
        }
        let estimate = ebb
            .estimate_job(scan, &endpoint, args.assume_rps, args.upload_all)
            .await;
        return crate::batch::print_estimate(estimate, &endpoint, json);
    }
    let settings = JobSettings {
        upload_all: args.upload_all,
        // Taken from the scan by the engine.
        per_file: false,
        concurrency: args.concurrency,
        invocation_timeout_s: args.timeout,
        request_ttl_s: args.ttl,
    };
    let id = match ebb
        .create_job(scan, &endpoint, settings, args.valid_only)
        .await
    {
        Ok(id) => id,
        Err(e) => return output::fail_error(&e),
    };
    if !json {
        println!("job {id} → {endpoint}");
    }
    // A local cloud started just for this command stops with it: wait for the results.
    let wait = args.wait || in_process_cloud;
    if in_process_cloud && !args.wait && !json {
        println!("(the local cloud runs only as long as this command: waiting for every result)");
    }
    run(ebb, &id, wait, json).await
}

pub async fn resume(ebb: &Ebb, id: &str, wait: bool, json: bool) -> ExitCode {
    run(ebb, id, wait, json).await
}

pub async fn list(ebb: &Ebb, json: bool) -> ExitCode {
    match ebb.jobs().await {
        Err(e) => output::fail_error(&e),
        Ok(jobs) if json => output::print_json(&jobs),
        Ok(jobs) if jobs.is_empty() => {
            println!("no jobs yet: `ebb submit FOLDER --endpoint NAME` starts one");
            ExitCode::SUCCESS
        }
        Ok(jobs) => {
            println!(
                "{:<28} {:>8} {:>9} {:>7} {:>8}  {:<16} state",
                "job", "requests", "succeeded", "failed", "waiting", "endpoint"
            );
            for j in jobs {
                println!(
                    "{:<28} {:>8} {:>9} {:>7} {:>8}  {:<16} {}",
                    j.id,
                    j.total,
                    j.succeeded,
                    j.failed + j.expired,
                    j.invoked + j.pending,
                    j.endpoint,
                    j.headline
                );
            }
            ExitCode::SUCCESS
        }
    }
}

pub async fn show(ebb: &Ebb, id: &str, json: bool) -> ExitCode {
    match ebb.job(id).await {
        Err(e) => output::fail_error(&e),
        Ok(j) if json => output::print_json(&j),
        Ok(j) => {
            print_summary(&j);
            if j.failed > 0
                && let Ok(rows) = ebb
                    .job_results(id, Some(ebb_core::jobs::RequestState::Failed), None, (0, 5))
                    .await
            {
                println!("  first failures:");
                for r in rows {
                    let error =
                        ebb_core::jobs::error_message(r.error.as_deref().unwrap_or_default());
                    let place = ebb_core::jobs::format::line_id(&r.file, r.line);
                    if r.id == place {
                        println!("    {place}: {error}");
                    } else {
                        println!("    {} ({place}): {error}", r.id);
                    }
                }
            }
            ExitCode::SUCCESS
        }
    }
}

/// `ebb results JOB --out FILE`: a progress line on a terminal; Ctrl-C stops it, leaving no
/// file.
pub async fn results(
    ebb: &Ebb,
    id: &str,
    (out, format): (&std::path::Path, Option<ExportFormat>),
    json: bool,
) -> ExitCode {
    let format = format.unwrap_or_else(|| {
        if out
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
        {
            ExportFormat::Csv
        } else {
            ExportFormat::Jsonl
        }
    });
    let work = crate::work::Work::start(WorkKind::Export, json);
    let exported = ebb.export_job_watched(id, out, format, work.watch()).await;
    drop(work);
    match exported {
        Err(e) => crate::work::fail(&e),
        Ok(n) => {
            // The file is where the user said: the user's, with the user's usual mode.
            if let Err(e) = ebb_core::home::give_user_mode(out) {
                tracing::warn!("{}: could not set its mode: {e}", out.display());
            }
            println!("{n} results written to {}", out.display());
            ExitCode::SUCCESS
        }
    }
}
