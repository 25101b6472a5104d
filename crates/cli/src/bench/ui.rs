//! The desktop results table, measured in the real window through the end-to-end driver
//! (`tests/e2e/bench-table.mjs`): the `--requests`-row job of the submit benchmark against a
//! 100-row job (the baseline), same run, each in its own start of the app: the 100-row job in
//! the run's first (cold) start, the large one in the second (warm) start.

use std::path::{Path, PathBuf};
use std::process::Command;

use ebb_core::jobs::JobSettings;
use serde::Deserialize;

use super::BenchArgs;
use super::server::BenchCloud;
use super::submit::{SubmitFigures, run_ebb, write_requests};

/// One table, as the driver measured it in the page (milliseconds).
#[derive(Debug, Deserialize)]
pub struct TableRun {
    pub rows: u64,
    /// Click on the job to its first rows shown.
    pub open_ms: f64,
    /// Frame intervals while scrolling 10 rows a frame.
    pub frame_p50_ms: f64,
    pub frame_p95_ms: f64,
    /// Frames of that scroll with a row still showing "…".
    pub blank_frames: u32,
    pub frames: u32,
    /// Jumps to far places: until the rows there are shown.
    pub jump_p50_ms: f64,
    pub jump_max_ms: f64,
    /// Typing a file name in the search box, to the narrowed table shown.
    pub search_ms: f64,
    pub search_rows: u64,
    /// Row elements in the page.
    pub dom_rows: u32,
    /// From the app's start asked for (a new WebDriver session) to the first frame of its first
    /// screen.
    pub start_ms: f64,
    /// Stops of the end-to-end scroll before the memory figure (each until its rows are shown).
    pub long_scroll_steps: u32,
    /// Resident memory of the webview's processes after the scrolls and the search, in MB
    /// (None when no web process was found in /proc).
    pub webview_rss_mb: Option<f64>,
}

/// The two tables; `baseline` was measured in the app's first start of the run, `large` in
/// its second.
pub struct TableFigures {
    pub baseline: TableRun,
    pub large: TableRun,
}

const BASELINE_ROWS: usize = 100;

fn app_path(args: &BenchArgs) -> Result<PathBuf, String> {
    let app = match &args.app {
        Some(app) => app.clone(),
        None => std::env::current_exe()
            .map_err(|e| e.to_string())?
            .with_file_name("ebb-app"),
    };
    if app.exists() {
        Ok(app)
    } else {
        Err(format!(
            "no desktop app at {} (build it beside this ebb with `cargo build --release -p ebb-app \
             --features ebb-app/custom-protocol`, or pass --app)",
            app.display()
        ))
    }
}

fn driver_command(args: &BenchArgs) -> Result<Command, String> {
    let script = &args.ui_script;
    if !script.exists() {
        return Err(format!(
            "{} not found (run from the project folder, or pass --ui-script)",
            script.display()
        ));
    }
    let modules = script.with_file_name("node_modules");
    if !modules.exists() {
        return Err(format!(
            "the driver's packages are missing: run `npm ci` in {}",
            script.parent().unwrap_or(Path::new(".")).display()
        ));
    }
    let headless =
        std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none();
    let mut cmd = if headless {
        let mut c = Command::new("xvfb-run");
        c.args(["-a", "-s", "-screen 0 1280x800x24", "node"]);
        c
    } else {
        Command::new("node")
    };
    cmd.arg(script);
    Ok(cmd)
}

pub async fn measure(
    args: &BenchArgs,
    cloud: &BenchCloud,
    submit: &SubmitFigures,
) -> Result<TableFigures, String> {
    let app = app_path(args)?;
    let mut cmd = driver_command(args)?;
    let small = cloud.home.with_file_name("table-baseline");
    write_requests(&small, BASELINE_ROWS)?;
    let baseline = run_ebb(&cloud.ebb, &small, JobSettings::default()).await?;
    let large = &submit.inline;
    cmd.env("EBB_HOME", &cloud.home)
        .env("EBB_APP", &app)
        .env(
            "BENCH_JOBS",
            format!(
                "{}:{},{}:{}",
                baseline.job, baseline.requests, large.job, large.requests
            ),
        )
        .env("BENCH_SEARCH", "part_042");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(key);
        }
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run the UI driver (node, xvfb-run, tauri-driver): {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(8).collect();
        return Err(format!(
            "the UI driver failed: {}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ));
    }
    let last = stdout.lines().last().unwrap_or_default();
    let mut runs: Vec<TableRun> =
        serde_json::from_str(last).map_err(|e| format!("the UI driver printed {last:?}: {e}"))?;
    if runs.len() != 2 {
        return Err(format!(
            "the UI driver measured {} tables, not 2",
            runs.len()
        ));
    }
    let large = runs.pop().ok_or("no large table")?;
    let baseline = runs.pop().ok_or("no baseline table")?;
    Ok(TableFigures { baseline, large })
}
