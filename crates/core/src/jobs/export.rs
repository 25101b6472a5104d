//! Results written out aligned with the input: one record per request, in file and line order,
//! with the input read back from the files (JSONL or CSV).

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::store::{JobRow, Store};
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

/// Writes every request of `job` to `out`; returns how many records were written.
pub async fn export(
    store: &Store,
    job: &JobRow,
    out: &Path,
    format: ExportFormat,
) -> Result<u32, Error> {
    let write_error = |source: std::io::Error| Error::Write {
        path: out.to_path_buf(),
        source,
    };
    let csv_error = |e: csv::Error| write_error(e.into());
    let tmp = out.with_extension("partial");
    let file = std::fs::File::create(&tmp).map_err(write_error)?;
    let mut sink = match format {
        ExportFormat::Jsonl => Sink::Jsonl(std::io::BufWriter::new(file)),
        ExportFormat::Csv => {
            // Every text cell quoted (OWASP's advice for neutralised cells); line numbers bare.
            let mut table = csv::WriterBuilder::new()
                .quote_style(csv::QuoteStyle::NonNumeric)
                .from_writer(file);
            table.write_record(CSV_HEADER).map_err(csv_error)?;
            Sink::Csv(Box::new(table))
        }
    };
    let files: Vec<Option<std::fs::File>> = job
        .files
        .iter()
        .map(|f| std::fs::File::open(&f.path).ok())
        .collect();
    let mut written = 0u32;
    let mut offset = 0u32;
    loop {
        let rows = store
            .results_with_input_spans(&job.id, (offset, PAGE))
            .await?;
        if rows.is_empty() {
            break;
        }
        offset += rows.len() as u32;
        for (row, (file_idx, byte_offset, len)) in rows {
            let input = files
                .get(file_idx as usize)
                .and_then(Option::as_ref)
                .and_then(|f| super::scan::read_span(f, byte_offset, len).ok());
            let input_text = input.map(|b| String::from_utf8_lossy(&b).into_owned());
            match &mut sink {
                Sink::Jsonl(w) => {
                    let input_json: serde_json::Value = input_text
                        .as_deref()
                        .and_then(|t| serde_json::from_str(t).ok())
                        .unwrap_or(serde_json::Value::Null);
                    let record = serde_json::json!({
                        "id": row.id,
                        "file": row.file,
                        "line": row.line,
                        "state": row.state,
                        "input": input_json,
                        "output": row.result,
                        "error": row.error,
                        "answer": row.answer.as_deref().and_then(|a| serde_json::from_str::<serde_json::Value>(a).ok()),
                    });
                    writeln!(w, "{record}").map_err(write_error)?;
                }
                Sink::Csv(table) => {
                    table
                        .write_record([
                            spreadsheet_text(&row.id).as_ref(),
                            &spreadsheet_text(&row.file),
                            &row.line.to_string(),
                            row.state.as_str(),
                            &spreadsheet_text(input_text.as_deref().unwrap_or_default()),
                            &spreadsheet_text(row.result.as_deref().unwrap_or_default()),
                            &spreadsheet_text(row.error.as_deref().unwrap_or_default()),
                            &spreadsheet_text(row.answer.as_deref().unwrap_or_default()),
                        ])
                        .map_err(csv_error)?;
                }
            }
            written += 1;
        }
    }
    match sink {
        Sink::Jsonl(mut w) => w.flush().map_err(write_error)?,
        Sink::Csv(mut table) => table.flush().map_err(write_error)?,
    }
    std::fs::rename(&tmp, out).map_err(write_error)?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
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
        let input = dir.join("in.jsonl");
        let lines: String = (0..ANSWERS.len())
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
        let names = (0..ANSWERS.len()).map(|i| format!("{i}.out")).collect();
        store
            .create(job.clone(), scanned, names)
            .await
            .expect("create");
        let outcomes = ANSWERS
            .iter()
            .enumerate()
            .map(|(seq, a)| Outcome::Succeeded {
                seq: seq as i64,
                result: (*a).to_string(),
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
}
