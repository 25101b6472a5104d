//! Exporting the million-line job (JSONL, CSV, and the result files beside the inputs), each
//! against `cp` of what it wrote (the speed of just writing those bytes), and the job store's
//! size per request beyond the output text itself.

use std::io::BufRead;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use ebb_core::Ebb;
use ebb_core::jobs::export::ExportFormat;

/// One way of writing the results out.
pub struct Written {
    pub what: &'static str,
    pub rows: u64,
    pub bytes: u64,
    pub rows_s: f64,
    /// `cp` of the same bytes, in rows/s (rows × the copy's speed), or why not measured.
    pub cp_rows_s: Result<f64, String>,
}

pub struct ExportFigures {
    pub written: Vec<Result<Written, String>>,
    /// The store's growth per request, beyond the output text, in bytes.
    pub store_bytes_per_request: Result<f64, String>,
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Seconds `cp` takes to copy `files` (already cached) into `into`.
fn cp_seconds(files: &[std::path::PathBuf], into: &Path) -> Result<f64, String> {
    std::fs::create_dir_all(into).map_err(|e| e.to_string())?;
    let secs = super::timed(Command::new("cp").args(files).arg(into), "cp")?;
    let _ = std::fs::remove_dir_all(into);
    Ok(secs)
}

fn written(
    what: &'static str,
    rows: u64,
    secs: f64,
    files: &[std::path::PathBuf],
    work: &Path,
) -> Written {
    let bytes = files.iter().map(|f| size(f)).sum();
    Written {
        what,
        rows,
        bytes,
        rows_s: rows as f64 / secs,
        cp_rows_s: cp_seconds(files, &work.join("cp")).map(|s| rows as f64 / s),
    }
}

async fn export(
    ebb: &Ebb,
    job: &str,
    format: ExportFormat,
    work: &Path,
) -> Result<Written, String> {
    let (what, name) = match format {
        ExportFormat::Jsonl => ("JSONL", "export.jsonl"),
        ExportFormat::Csv => ("CSV", "export.csv"),
    };
    let out = work.join(name);
    let started = Instant::now();
    let rows = ebb
        .export_job(job, &out, format)
        .await
        .map_err(|e| e.to_string())?;
    let secs = started.elapsed().as_secs_f64();
    Ok(written(what, u64::from(rows), secs, &[out], work))
}

async fn result_files(ebb: &Ebb, job: &str, inputs: &Path, work: &Path) -> Result<Written, String> {
    let started = Instant::now();
    let files = ebb
        .write_job_files(job, inputs)
        .await
        .map_err(|e| e.to_string())?;
    let secs = started.elapsed().as_secs_f64();
    let paths: Vec<_> = files
        .results
        .iter()
        .chain([&files.errors, &files.manifest])
        .map(std::path::PathBuf::from)
        .collect();
    let rows = u64::from(files.lines);
    Ok(written(
        "result files beside the inputs",
        rows,
        secs,
        &paths,
        work,
    ))
}

/// The output text of every record of a JSONL export (`output` field), in bytes.
fn output_text_bytes(export: &Path) -> Result<u64, String> {
    let file = std::fs::File::open(export).map_err(|e| format!("{}: {e}", export.display()))?;
    let mut total = 0u64;
    for line in std::io::BufReader::new(file).lines() {
        let line = line.map_err(|e| e.to_string())?;
        let record: serde_json::Value = serde_json::from_str(&line).map_err(|e| e.to_string())?;
        total += record["output"].as_str().map_or(0, |s| s.len() as u64);
    }
    Ok(total)
}

/// The job store's files (`jobs.sqlite` and its write-ahead log) in `home`, in bytes.
pub fn store_bytes(home: &Path) -> u64 {
    ["jobs.sqlite", "jobs.sqlite-wal"]
        .iter()
        .map(|f| size(&home.join(f)))
        .sum()
}

/// Writes job `job` out every way; `store_before` is the store's size before the job.
pub async fn measure(
    ebb: &Ebb,
    (job, requests): (&str, usize),
    (home, store_before): (&Path, u64),
    (inputs, work): (&Path, &Path),
) -> ExportFigures {
    let jsonl = export(ebb, job, ExportFormat::Jsonl, work).await;
    let store_bytes_per_request = output_text_bytes(&work.join("export.jsonl")).map(|text| {
        let grown = store_bytes(home).saturating_sub(store_before);
        (grown as f64 - text as f64) / requests.max(1) as f64
    });
    let _ = std::fs::remove_file(work.join("export.jsonl"));
    let csv = export(ebb, job, ExportFormat::Csv, work).await;
    let _ = std::fs::remove_file(work.join("export.csv"));
    let files = result_files(ebb, job, inputs, work).await;
    ExportFigures {
        written: vec![jsonl, csv, files],
        store_bytes_per_request,
    }
}
