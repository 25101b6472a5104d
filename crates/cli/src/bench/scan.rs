//! Scanning the million-line folder against `wc -l` on the same files in the same run: the
//! speed of just reading them (both with the files in the page cache).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use ebb_core::Ebb;
use ebb_core::jobs::scan::{Scan, ScanOptions};

pub struct ScanFigures {
    pub bytes: u64,
    pub lines: usize,
    /// Ebb's scan, MB/s (MB = 10^6 bytes).
    pub ebb_mb_s: f64,
    /// `wc -l` on the same files, MB/s, or why it was not measured.
    pub wc_mb_s: Result<f64, String>,
}

fn jsonl_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    Ok(files)
}

/// Seconds `wc -l` takes over `files` (run once before, so the files are cached for both).
fn wc_seconds(files: &[PathBuf]) -> Result<f64, String> {
    let run = || super::timed(Command::new("wc").arg("-l").args(files), "wc");
    run()?;
    let best = (0..3)
        .map(|_| run())
        .collect::<Result<Vec<f64>, String>>()?;
    Ok(best.into_iter().fold(f64::INFINITY, f64::min))
}

/// Times Ebb's scan of `dir` (the best of two, as for `wc`), keeping neither scan.
pub async fn measure(ebb: &Ebb, dir: &Path, bytes: u64) -> Result<ScanFigures, String> {
    let files = jsonl_files(dir)?;
    let wc = wc_seconds(&files).map(|s| bytes as f64 / 1e6 / s);
    let mut secs = f64::INFINITY;
    let mut lines = 0;
    for _ in 0..2 {
        let started = Instant::now();
        let scan = scan_for_job(ebb, dir).await?;
        secs = secs.min(started.elapsed().as_secs_f64());
        lines = scan.requests.len();
    }
    Ok(ScanFigures {
        bytes,
        lines,
        ebb_mb_s: bytes as f64 / 1e6 / secs,
        wc_mb_s: wc,
    })
}

/// Scans `dir` as a job submission does.
pub async fn scan_for_job(ebb: &Ebb, dir: &Path) -> Result<Arc<Scan>, String> {
    let scan = ebb
        .scan_jobs(vec![dir.to_path_buf()], ScanOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    if scan.errors > 0 {
        return Err(format!(
            "the benchmark's folder has {} bad lines",
            scan.errors
        ));
    }
    Ok(Arc::new(scan))
}
