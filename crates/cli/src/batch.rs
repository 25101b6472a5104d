//! `ebb status`, `ebb retry`, `ebb cancel`, `ebb results --out-dir` and `ebb submit --dry-run`.

use std::path::Path;
use std::process::ExitCode;

use ebb_core::Ebb;
use ebb_core::jobs::CancelMode;
use ebb_core::jobs::estimate::{Estimate, Throughput};
use ebb_core::jobs::format::InputFormat;
use ebb_core::jobs::progress::WorkKind;
use ebb_core::jobs::retry::RetryWhich;
use ebb_core::jobs::scan::ScanSummary;

use crate::output;

#[derive(clap::Args, Debug)]
pub struct RetryArgs {
    /// The job whose lines to send again (or a retry of it).
    pub job: String,
    /// Retry the failed lines (with neither flag: failed and expired).
    #[arg(long)]
    pub failed: bool,
    /// Retry the lines that had no result in time.
    #[arg(long)]
    pub expired: bool,
    /// Send them to another async endpoint (default: the job's own).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Wait until every retried line has its output or failure.
    #[arg(long)]
    pub wait: bool,
}

pub async fn cancel(ebb: &Ebb, job: &str, discard: bool, json: bool) -> ExitCode {
    let mode = if discard {
        CancelMode::Discard
    } else {
        CancelMode::Keep
    };
    match ebb.cancel_job(job, mode).await {
        Err(e) => output::fail_error(&e),
        Ok(summary) if json => output::print_json(&summary),
        Ok(summary) => {
            println!("job {job}: {}", summary.headline);
            if summary.cancel == Some(CancelMode::Keep) && summary.invoked > 0 {
                println!(
                    "  the {} requests already sent cannot be taken back; their results are collected by the job's run (or `ebb resume {job} --wait`); `ebb cancel {job} --discard` leaves them",
                    summary.invoked
                );
            }
            ExitCode::SUCCESS
        }
    }
}

pub async fn status(ebb: &Ebb, id: &str, json: bool) -> ExitCode {
    match ebb.request_status(id).await {
        Err(e) => output::fail_error(&e),
        Ok(found) if json => output::print_json(&found),
        Ok(found) => {
            for s in found {
                println!(
                    "{} ({}:{}) in job {} on {}: {}",
                    s.id,
                    s.file,
                    s.line,
                    s.job,
                    s.endpoint,
                    s.sentence()
                );
                if let Some(inference_id) = &s.inference_id {
                    println!("  inference id: {inference_id} · tries: {}", s.attempts);
                }
                for t in &s.tries {
                    let what = match (&t.error, &t.result) {
                        (Some(e), _) => ebb_core::jobs::error_message(e),
                        (None, Some(r)) => r.chars().take(80).collect(),
                        _ => String::new(),
                    };
                    println!("  earlier, in job {}: {} {what}", t.job, t.state.as_str());
                }
            }
            ExitCode::SUCCESS
        }
    }
}

pub async fn retry(ebb: &Ebb, args: RetryArgs, in_process_cloud: bool, json: bool) -> ExitCode {
    let which = if args.failed || args.expired {
        RetryWhich {
            failed: args.failed,
            expired: args.expired,
        }
    } else {
        RetryWhich {
            failed: true,
            expired: true,
        }
    };
    let id = match ebb
        .retry_job(&args.job, which, args.endpoint.as_deref())
        .await
    {
        Ok(id) => id,
        Err(e) => return output::fail_error(&e),
    };
    if !json {
        println!("job {id}: a retry of {}", args.job);
    }
    crate::jobs::run(ebb, &id, args.wait || in_process_cloud, json).await
}

/// `ebb results JOB --out-dir DIR`: a progress line on a terminal; Ctrl-C stops it, leaving
/// no file half-written.
pub async fn write_files(ebb: &Ebb, job: &str, dir: &Path, json: bool) -> ExitCode {
    let work = crate::work::Work::start(WorkKind::WriteFiles, json);
    let written = ebb.write_job_files_watched(job, dir, work.watch()).await;
    drop(work);
    match written {
        Err(e) => crate::work::fail(&e),
        Ok(written) if json => output::print_json(&written),
        Ok(written) => {
            if written.job != job {
                println!(
                    "job {job} is a retry of {}: these are {}'s results, with every line's newest answer",
                    written.job, written.job
                );
            }
            for path in &written.results {
                println!("{path}");
            }
            println!(
                "{} ({} failed or expired lines)",
                written.errors, written.errors_count
            );
            println!("{}", written.manifest);
            println!("{} lines written", written.lines);
            ExitCode::SUCCESS
        }
    }
}

/// The scan's formats, one line per file with requests (up to 20), when any file is not of
/// TGI requests: a folder of TGI lines, the usual case, needs no word on it.
pub fn print_formats(summary: &ScanSummary) {
    let with_requests = summary.formats.iter().filter(|f| f.requests > 0);
    if with_requests.clone().all(|f| f.format == InputFormat::Tgi) {
        return;
    }
    for f in with_requests.take(20) {
        println!("  {}: {} ({})", f.file, f.format.label(), f.requests);
    }
    if summary.needs_messages_api {
        println!(
            "  chat-completions lines: the endpoint's model needs TGI's Messages API (deploy with --messages-api)"
        );
    }
}

pub fn print_estimate(
    estimate: Result<Estimate, ebb_core::Error>,
    endpoint: &str,
    json: bool,
) -> ExitCode {
    let e = match estimate {
        Ok(e) => e,
        Err(e) => return output::fail_error(&e),
    };
    if json {
        return output::print_json(&e);
    }
    let instance = e
        .instance_type
        .as_deref()
        .unwrap_or("an unknown instance type");
    println!(
        "dry run, nothing sent: {} requests, {:.0} bytes, about {:.0} input tokens (4 bytes a token)",
        e.requests, e.bytes, e.approx_input_tokens
    );
    let source = match &e.throughput {
        Throughput::Measured { job } => format!("measured by job {job}"),
        Throughput::Given => "as given".into(),
        Throughput::Assumed => {
            "ASSUMED: no ended job of this endpoint had enough results to measure (10 or more, over a second or more); set it with --assume-rps".into()
        }
    };
    println!(
        "  at {:.2} requests/s per instance ({source}) on {} × {instance} ({endpoint}): {:.2} h, {:.2} instance-hours",
        e.rps_per_instance, e.instances, e.hours, e.instance_hours
    );
    match (e.usd_per_hour, e.instance_usd) {
        (Some(rate), Some(usd)) => println!(
            "  instances: ${usd:.2} at ${rate:.3}/h ({})",
            e.price_source.as_deref().unwrap_or("estimate")
        ),
        _ => println!("  instances: no price known for {instance}"),
    }
    println!(
        "  S3: about {:.0} requests, ${:.4}",
        e.s3_requests, e.s3_usd
    );
    match e.bound_factor {
        Some(f) => println!(
            "  the run should take between {:.2} h and {:.2} h",
            e.hours / f,
            e.hours * f
        ),
        None => println!("  with an assumed throughput the time and cost are only a guess"),
    }
    ExitCode::SUCCESS
}
