//! Results written out aligned with the input: one record per request, in file and line order,
//! with the input read back from the files (JSONL or CSV).

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::RequestState;
use super::progress::{Ticker, Watch, WorkKind, stopped};
use super::store::{JobRow, RequestRow, Store};
use crate::error::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Jsonl,
    Csv,
}

const PAGE: u32 = 5_000;

const CSV_HEADER: [&str; 8] = [
    "id", "file", "line", "state", "input", "output", "error", "answer",
];

/// A text cell as a spreadsheet may show it: Excel and LibreOffice read a cell that starts
/// with `=`, `+`, `-` or `@` as a formula (and a leading tab or carriage return can hide one),
/// and model output often starts that way. A leading `'` makes them show the cell as text, as
/// OWASP's CSV injection guidance recommends
/// (<https://owasp.org/www-community/attacks/CSV_Injection>); the CSV writer quotes every
/// text cell.
fn spreadsheet_text(s: &str) -> std::borrow::Cow<'_, str> {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}").into()
    } else {
        s.into()
    }
}

/// Where the records go: JSON lines, or a CSV table (the `csv` writer buffers by itself).
enum Sink {
    Jsonl(std::io::BufWriter<std::fs::File>),
    Csv(Box<csv::Writer<std::fs::File>>),
}

/// One JSONL record. Its fields are in the order a `serde_json::Value` map writes them
/// (sorted), so the lines are what they were when each record was built as a `Value`, without
/// building one per row.
#[derive(Serialize)]
struct Record<'a> {
    answer: Option<serde_json::Value>,
    error: Option<&'a str>,
    file: &'a str,
    id: &'a str,
    input: serde_json::Value,
    line: u32,
    output: Option<&'a str>,
    state: RequestState,
}

impl Sink {
    /// A sink writing `format` to the file at `tmp`.
    fn create(tmp: &Path, format: ExportFormat) -> Result<Sink, std::io::Error> {
        let file = std::fs::File::create(tmp)?;
        Ok(match format {
            ExportFormat::Jsonl => Sink::Jsonl(std::io::BufWriter::new(file)),
            ExportFormat::Csv => {
                // Every text cell quoted (OWASP's advice for neutralised cells); line numbers bare.
                let mut table = csv::WriterBuilder::new()
                    .quote_style(csv::QuoteStyle::NonNumeric)
                    .from_writer(file);
                table.write_record(CSV_HEADER)?;
                Sink::Csv(Box::new(table))
            }
        })
    }

    /// Writes `row`'s record, its input line being `input` (None when it cannot be read).
    fn write(&mut self, row: &RequestRow, input: Option<&str>) -> Result<(), std::io::Error> {
        match self {
            Sink::Jsonl(w) => {
                let record = Record {
                    answer: row
                        .answer
                        .as_deref()
                        .and_then(|a| serde_json::from_str(a).ok()),
                    error: row.error.as_deref(),
                    file: &row.file,
                    id: &row.id,
                    input: input
                        .and_then(|t| serde_json::from_str(t).ok())
                        .unwrap_or(serde_json::Value::Null),
                    line: row.line,
                    output: row.result.as_deref(),
                    state: row.state,
                };
                serde_json::to_writer(&mut *w, &record)?;
                w.write_all(b"\n")
            }
            Sink::Csv(table) => Ok(table.write_record([
                spreadsheet_text(&row.id).as_ref(),
                &spreadsheet_text(&row.file),
                &row.line.to_string(),
                row.state.as_str(),
                &spreadsheet_text(input.unwrap_or_default()),
                &spreadsheet_text(row.result.as_deref().unwrap_or_default()),
                &spreadsheet_text(row.error.as_deref().unwrap_or_default()),
                &spreadsheet_text(row.answer.as_deref().unwrap_or_default()),
            ])?),
        }
    }

    fn flush(self) -> Result<(), std::io::Error> {
        match self {
            Sink::Jsonl(mut w) => w.flush(),
            Sink::Csv(mut table) => table.flush(),
        }
    }
}

/// A file being written under a temporary name: removed when dropped unless kept, so a
/// failed or stopped export leaves nothing behind.
struct Partial<'a> {
    tmp: &'a Path,
    kept: bool,
}

impl Drop for Partial<'_> {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(self.tmp);
        }
    }
}

/// Writes every request of `job` to `out`; returns how many records were written.
pub async fn export(
    store: &Store,
    job: &JobRow,
    out: &Path,
    format: ExportFormat,
) -> Result<u32, Error> {
    export_watched(store, job, (out, format), Watch::none()).await
}

/// [`export`], reporting rows written to `watch` (about every 100 ms) and stopping when its
/// flag is set. The records go to `<out without extension>.partial`, renamed to `out` when
/// all are written; on an error or a stop that file is removed.
///
/// # Errors
/// [`Error::Write`] naming `out`; [`Error::Stopped`] when the user stopped it; store errors.
pub async fn export_watched(
    store: &Store,
    job: &JobRow,
    (out, format): (&Path, ExportFormat),
    watch: Watch,
) -> Result<u32, Error> {
    let write_error = |source: std::io::Error| Error::Write {
        path: out.to_path_buf(),
        source,
    };
    let total = store.count(&job.id, None, None).await?;
    let tmp = out.with_extension("partial");
    let mut partial = Partial {
        tmp: &tmp,
        kept: false,
    };
    let mut sink = Sink::create(&tmp, format).map_err(write_error)?;
    let files: Vec<Option<std::fs::File>> = job
        .files
        .iter()
        .map(|f| std::fs::File::open(&f.path).ok())
        .collect();
    let mut ticker = Ticker::new(
        watch,
        WorkKind::Export,
        f64::from(total),
        files.len() as u32,
    );
    let mut written = 0u32;
    // Keyset paging: each page starts after the last seq of the one before (the primary key's
    // order), so a page deep in a million rows costs what the first one does.
    let mut next = 0u32;
    loop {
        let rows = store
            .results_with_input_spans(&job.id, (next, PAGE))
            .await?;
        let Some(last) = rows.last() else { break };
        next = last.0.seq + 1;
        for (row, (file_idx, byte_offset, len)) in rows {
            let input = files
                .get(file_idx as usize)
                .and_then(Option::as_ref)
                .and_then(|f| super::scan::read_span(f, byte_offset, len).ok());
            let input_text = input.as_deref().map(String::from_utf8_lossy);
            sink.write(&row, input_text.as_deref())
                .map_err(write_error)?;
            written += 1;
            if !ticker.advance(f64::from(written)) {
                return Err(stopped("the export was stopped: no file was written"));
            }
        }
    }
    sink.flush().map_err(write_error)?;
    std::fs::rename(&tmp, out).map_err(write_error)?;
    partial.kept = true;
    ticker.finish();
    Ok(written)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::jobs::progress::{ProgressFn, WorkProgress};
    use crate::jobs::store::Outcome;
    use crate::jobs::{JobSettings, JobState, scan};

    /// Answers a spreadsheet would run as formulas, and answers that need CSV quoting.
    const ANSWERS: [&str; 9] = [
        "=SUM(A1)",
        "+1",
        "-2",
        "@x",
        "\tlooks blank",
        "\r=1+1",
        "a, b and c",
        "say \"hi\"",
        "two\nlines\r\nand more",
    ];

    /// A job whose requests succeeded with `ANSWERS`, one a line of one input file.
    async fn answered_job(dir: &Path) -> (Store, JobRow) {
        let answers: Vec<String> = ANSWERS.iter().map(ToString::to_string).collect();
        job_answering(dir, &answers).await
    }

    /// A job whose requests succeeded with `answers`, one a line of one input file.
    pub(crate) async fn job_answering(dir: &Path, answers: &[String]) -> (Store, JobRow) {
        let input = dir.join("in.jsonl");
        let lines: String = (0..answers.len())
            .map(|i| format!("{{\"inputs\": \"q{i}\"}}\n"))
            .collect();
        std::fs::write(&input, lines).expect("write input");
        let scanned = Arc::new(scan::scan(&[input], scan::ScanOptions::default()));
        let store = Store::open(&dir.join("home")).expect("store");
        let job = JobRow {
            id: "job-export".into(),
            endpoint: "e".into(),
            settings: JobSettings::default(),
            output_path: "s3://b/out".into(),
            failure_path: None,
            state: JobState::Done,
            files: scanned
                .files
                .iter()
                .map(|f| crate::jobs::store::JobFile {
                    path: f.path.clone(),
                    rel: f.rel.clone(),
                    format: f.format,
                })
                .collect(),
            parent: None,
        };
        let names: Vec<String> = (0..answers.len()).map(|i| format!("{i}.out")).collect();
        store
            .create(job.clone(), scanned, names)
            .await
            .expect("create");
        let outcomes = answers
            .iter()
            .enumerate()
            .map(|(seq, a)| Outcome::Succeeded {
                seq: seq as i64,
                result: a.clone(),
                answer: None,
            })
            .collect();
        store.record(&job.id, outcomes).await.expect("record");
        (store, job)
    }

    #[test]
    fn formula_cells_are_shown_as_text() {
        for (cell, shown) in [
            ("=SUM(A1)", "'=SUM(A1)"),
            ("+1", "'+1"),
            ("-2", "'-2"),
            ("@x", "'@x"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("plain", "plain"),
            ("", ""),
            ("1=1", "1=1"),
        ] {
            assert_eq!(spreadsheet_text(cell), shown, "{cell:?}");
        }
    }

    /// The CSV parses back with every formula cell led by `'`, every other answer as it was,
    /// quotes, commas and newlines included; the JSONL keeps every answer unchanged.
    #[tokio::test]
    async fn csv_neutralises_formulas_and_round_trips_while_jsonl_keeps_the_text() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, job) = answered_job(dir.path()).await;

        let csv_path = dir.path().join("out.csv");
        let n = export(&store, &job, &csv_path, ExportFormat::Csv)
            .await
            .expect("csv export");
        assert_eq!(n as usize, ANSWERS.len());
        let mut reader = csv::Reader::from_path(&csv_path).expect("open csv");
        let header = reader.headers().expect("header").clone();
        assert_eq!(header.iter().collect::<Vec<_>>(), CSV_HEADER);
        let records: Vec<csv::StringRecord> = reader
            .records()
            .collect::<Result<_, _>>()
            .expect("the CSV parses back");
        assert_eq!(records.len(), ANSWERS.len());
        for (i, (record, answer)) in records.iter().zip(ANSWERS).enumerate() {
            assert_eq!(&record[0], format!("in.jsonl:{}", i + 1), "the line's id");
            assert_eq!(&record[2], (i + 1).to_string());
            assert_eq!(&record[3], "succeeded");
            assert_eq!(&record[4], format!("{{\"inputs\": \"q{i}\"}}"));
            let output = &record[5];
            if i < 6 {
                assert_eq!(output, format!("'{answer}"), "line {}", i + 1);
            } else {
                assert_eq!(output, answer, "line {}", i + 1);
            }
        }

        let jsonl_path = dir.path().join("out.jsonl");
        export(&store, &job, &jsonl_path, ExportFormat::Jsonl)
            .await
            .expect("jsonl export");
        let text = std::fs::read_to_string(&jsonl_path).expect("read jsonl");
        let outputs: Vec<String> = text
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
                v["output"].as_str().expect("output text").to_string()
            })
            .collect();
        assert_eq!(outputs, ANSWERS);
    }

    /// A JSONL record is the line it was before records were written without a
    /// `serde_json::Value`: keys sorted, the input compact.
    #[tokio::test]
    async fn a_jsonl_record_is_byte_for_byte_what_it_was() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, job) = answered_job(dir.path()).await;
        let out = dir.path().join("out.jsonl");
        export(&store, &job, &out, ExportFormat::Jsonl)
            .await
            .expect("export");
        let text = std::fs::read_to_string(&out).expect("read");
        assert_eq!(
            text.lines().next(),
            Some(
                r#"{"answer":null,"error":null,"file":"in.jsonl","id":"in.jsonl:1","input":{"inputs":"q0"},"line":1,"output":"=SUM(A1)","state":"succeeded"}"#
            )
        );
    }

    fn recorder() -> (Arc<std::sync::Mutex<Vec<WorkProgress>>>, Arc<ProgressFn>) {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let into = seen.clone();
        let report = move |p: &WorkProgress| into.lock().expect("lock").push(p.clone());
        (seen, Arc::new(report))
    }

    /// Progress counts rows up to the job's total, never backwards; a stopped export leaves
    /// no file under its name or its temporary one.
    #[tokio::test]
    async fn an_export_reports_rows_and_a_stop_leaves_no_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let answers: Vec<String> = (0..2_000).map(|i| format!("answer {i}")).collect();
        let (store, job) = job_answering(dir.path(), &answers).await;
        let out = dir.path().join("out.csv");
        let (seen, report) = recorder();
        let never = Arc::new(AtomicBool::new(false));
        let watch = Watch::new(report, never);
        let n = export_watched(&store, &job, (&out, ExportFormat::Csv), watch)
            .await
            .expect("export");
        assert_eq!(n, 2_000);
        let seen = seen.lock().expect("lock").clone();
        assert!(seen.windows(2).all(|w| w[0].done <= w[1].done), "{seen:?}");
        let last = seen.last().expect("a report");
        assert_eq!((last.done, last.total), (2_000.0, 2_000.0));
        assert_eq!(last.kind, WorkKind::Export);

        let stopped_out = dir.path().join("stopped.jsonl");
        let stop = Watch::new(
            Arc::new(|_: &WorkProgress| {}),
            Arc::new(AtomicBool::new(true)),
        );
        let err = export_watched(&store, &job, (&stopped_out, ExportFormat::Jsonl), stop)
            .await
            .expect_err("stopped");
        assert!(matches!(err, Error::Stopped(_)), "{err}");
        assert!(!stopped_out.exists());
        assert!(!stopped_out.with_extension("partial").exists());
    }

    /// Rows a second of a JSONL export of 200,000 rows: `cargo test -p ebb-core --lib
    /// export_rate -- --ignored --nocapture`. Prints, asserts nothing about time.
    #[tokio::test]
    #[ignore = "a measurement, not a check"]
    async fn export_rate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let answers: Vec<String> = (0..200_000)
            .map(|i| format!("the model's answer to question {i}, a sentence or two long."))
            .collect();
        let (store, job) = job_answering(dir.path(), &answers).await;
        for format in [ExportFormat::Jsonl, ExportFormat::Csv] {
            let out = dir.path().join("rate.out");
            let started = std::time::Instant::now();
            let n = export(&store, &job, &out, format).await.expect("export");
            let secs = started.elapsed().as_secs_f64();
            println!(
                "{format:?}: {n} rows in {secs:.2} s = {:.0} rows/s",
                f64::from(n) / secs
            );
        }
    }
}
