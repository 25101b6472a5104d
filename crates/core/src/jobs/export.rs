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

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
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
    let tmp = out.with_extension("partial");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(write_error)?);
    if format == ExportFormat::Csv {
        writeln!(w, "file,line,state,input,output,error,answer").map_err(write_error)?;
    }
    let files: Vec<Option<std::fs::File>> = job
        .files
        .iter()
        .map(|(p, _)| std::fs::File::open(p).ok())
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
            match format {
                ExportFormat::Jsonl => {
                    let input_json: serde_json::Value = input_text
                        .as_deref()
                        .and_then(|t| serde_json::from_str(t).ok())
                        .unwrap_or(serde_json::Value::Null);
                    let record = serde_json::json!({
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
                ExportFormat::Csv => {
                    writeln!(
                        w,
                        "{},{},{},{},{},{},{}",
                        csv_field(&row.file),
                        row.line,
                        row.state.as_str(),
                        csv_field(input_text.as_deref().unwrap_or_default()),
                        csv_field(row.result.as_deref().unwrap_or_default()),
                        csv_field(row.error.as_deref().unwrap_or_default()),
                        csv_field(row.answer.as_deref().unwrap_or_default()),
                    )
                    .map_err(write_error)?;
                }
            }
            written += 1;
        }
    }
    w.flush().map_err(write_error)?;
    drop(w);
    std::fs::rename(&tmp, out).map_err(write_error)?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\"\n"), "\"say \"\"hi\"\"\n\"");
    }
}
