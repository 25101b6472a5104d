//! `ebb bench`: every benchmark in one run, against a fresh local cloud in its own process, with
//! each baseline measured in the same run (this machine is noisy, so only ratios travel):
//! submit throughput against the boto3 baselines of `../shared/bench/`, S3 requests per result,
//! result latency, peak memory at 100,000 requests, and the desktop results table at 100,000 rows
//! against the same table at 100 rows. Prints one Markdown table.

mod report;
mod server;
mod submit;
mod ui;

use std::path::PathBuf;
use std::process::ExitCode;

use crate::output;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Requests Ebb submits in each of its runs.
    #[arg(long, default_value_t = 100_000)]
    pub requests: usize,
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

async fn all(args: BenchArgs) -> Result<(), String> {
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let cloud = server::BenchCloud::start(work.path()).await?;
    let submit = submit::measure(&args, &cloud, work.path()).await?;
    let table = if args.no_ui {
        Err("left out (--no-ui)".to_string())
    } else {
        eprintln!("desktop results table: 100 and {} rows…", args.requests);
        ui::measure(&args, &cloud, &submit).await
    };
    cloud.stop().await;
    print!("{}", report::render(&args, &submit, &table));
    Ok(())
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
