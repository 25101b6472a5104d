//! A job's result files, written into a folder (beside the inputs when it is theirs):
//!
//! - `<input>.out.jsonl` per input file (`a.jsonl` → `a.out.jsonl`): one line per input line,
//!   in input order, shaped like the input's format: OpenAI batch output lines
//!   (`{"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error"}`,
//!   <https://platform.openai.com/docs/guides/batch>), Bedrock output records
//!   (`{"recordId", "modelInput", "modelOutput"}` or `"error"`,
//!   <https://docs.aws.amazon.com/bedrock/latest/userguide/batch-inference-results.html>),
//!   else `{"id", "line", "input", "output" | "error"}`;
//! - `errors.jsonl`: every failed or expired line with its id, file, line, inference id, error
//!   code and message, and its failure object's S3 URI;
//! - `manifest.json`: counts per state, tokens, bytes, times, and the cost figures given.
//!
//! Each file is written whole under a temporary name and renamed, so a reader never sees half.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::format::InputFormat;
use super::progress::{Ticker, Watch, WorkKind, stopped};
use super::store::{JobRow, RequestRow, Store};
use super::{JobSummary, RequestState};
use crate::error::Error;

/// How result files end; the scan skips files named so.
pub const RESULT_SUFFIX: &str = ".out.jsonl";
pub const ERRORS_FILE: &str = "errors.jsonl";
pub const MANIFEST_FILE: &str = "manifest.json";
const PAGE: u32 = 5_000;

/// What was written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct WrittenFiles {
    /// The job whose results these are (a retry's first job).
    pub job: String,
    /// One per input file, in the job's file order.
    pub results: Vec<String>,
    pub errors: String,
    pub manifest: String,
    pub lines: u32,
    pub errors_count: u32,
}

/// Figures only the engine knows (the endpoint, prices); each is left out when unknown.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CostFigures {
    pub instance_type: Option<String>,
    /// Instance-hours the endpoint ran while the job did.
    pub instance_hours: Option<f64>,
    pub usd_per_hour: Option<f64>,
    /// Where the price came from: the Price List, or Ebb's bundled estimate.
    pub price_source: Option<String>,
    pub estimated_usd: Option<f64>,
    /// Why figures are missing, when they are.
    pub missing: Option<String>,
    /// The estimate made when the job was submitted, to compare.
    pub estimate: Option<super::estimate::Estimate>,
}

/// The result file for input `rel`: `dir/<rel without .jsonl>.out.jsonl` (an input named by
/// its whole path goes under `dir` all the same).
pub fn result_path(dir: &Path, rel: &str) -> PathBuf {
    let rel = rel.trim_start_matches('/');
    let stem = rel.strip_suffix(".jsonl").unwrap_or(rel);
    dir.join(format!("{stem}{RESULT_SUFFIX}"))
}

/// A short code for a line's error, from what SageMaker, TGI or Ebb said.
pub fn error_code(state: RequestState, error: &str) -> String {
    if state == RequestState::Expired {
        return "expired".into();
    }
    if let Ok(v) = serde_json::from_str::<Value>(error)
        && let Some(kind) = ["error_type", "code", "type"]
            .iter()
            .find_map(|k| v.get(*k).and_then(Value::as_str))
    {
        return kind.to_string();
    }
    if error.starts_with("not accepted after") {
        "not_accepted".into()
    } else if error.contains("changed since it was scanned") {
        "input_changed".into()
    } else {
        "model_error".into()
    }
}

/// Counts the answers' tokens where they say them: OpenAI's `usage`, TGI's `details`
/// (`generated_tokens`; the prompt's only with `decoder_input_details`, in `prefill`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize)]
struct Tokens {
    input: u64,
    output: u64,
    /// Answers that gave a prompt count, and an output count.
    input_counted: u32,
    output_counted: u32,
}

impl Tokens {
    fn add(&mut self, answer: &Value) {
        let first = answer.as_array().and_then(|a| a.first()).unwrap_or(answer);
        let (input, output) = if let Some(usage) = first.get("usage") {
            (
                usage["prompt_tokens"].as_u64(),
                usage["completion_tokens"].as_u64(),
            )
        } else if let Some(details) = first.get("details") {
            let prefill = details["prefill"].as_array().filter(|p| !p.is_empty());
            (
                prefill.map(|p| p.len() as u64),
                details["generated_tokens"].as_u64(),
            )
        } else {
            (None, None)
        };
        if let Some(n) = input {
            self.input += n;
            self.input_counted += 1;
        }
        if let Some(n) = output {
            self.output += n;
            self.output_counted += 1;
        }
    }
}

/// The model's answer as JSON: the whole answer when kept, else TGI's shape of the text.
fn output_json(row: &RequestRow) -> Value {
    row.answer
        .as_deref()
        .and_then(|a| serde_json::from_str(a).ok())
        .unwrap_or_else(|| json!([{ "generated_text": row.result }]))
}

/// The line written for `row`, whose input line is `input`, in `format`'s shape.
fn result_line(format: InputFormat, row: &RequestRow, input: Value) -> Value {
    let ok = row.state == RequestState::Succeeded;
    let error_text = match row.state {
        RequestState::Succeeded => String::new(),
        RequestState::Pending | RequestState::Invoking => "not sent".into(),
        RequestState::Invoked => "sent; no result yet".into(),
        RequestState::Cancelled => "cancelled with the job".into(),
        _ => super::error_message(row.error.as_deref().unwrap_or_default()),
    };
    let code = error_code(row.state, row.error.as_deref().unwrap_or_default());
    let code = match row.state {
        RequestState::Failed | RequestState::Expired => code,
        other => other.as_str().to_string(),
    };
    match format {
        InputFormat::OpenAi => {
            let id = row.inference_id.clone().unwrap_or_else(|| row.id.clone());
            if ok {
                json!({"id": id, "custom_id": row.id, "line": row.line, "response": {
                    "status_code": 200, "request_id": id, "body": first_or_whole(output_json(row))},
                    "error": null})
            } else {
                json!({"id": id, "custom_id": row.id, "line": row.line, "response": null,
                    "error": {"code": code, "message": error_text}})
            }
        }
        InputFormat::Bedrock => {
            let model_input = input.get("modelInput").cloned().unwrap_or(Value::Null);
            let mut line = json!({"recordId": row.id, "line": row.line, "modelInput": model_input});
            if ok {
                line["modelOutput"] = output_json(row);
            } else {
                line["error"] = json!({"errorCode": code, "errorMessage": error_text});
            }
            line
        }
        InputFormat::Tgi | InputFormat::Chat => {
            let mut line = json!({"id": row.id, "line": row.line, "input": input});
            if ok {
                line["output"] = output_json(row);
            } else {
                line["error"] = json!({"code": code, "message": error_text});
            }
            line
        }
    }
}

/// OpenAI's batch output carries the chat.completion object itself, not a list.
fn first_or_whole(v: Value) -> Value {
    match v {
        Value::Array(mut a) if a.len() == 1 && a[0].get("choices").is_some() => a.remove(0),
        other => other,
    }
}

/// A file written under `<name>.partial` and renamed into place when done; dropped unfinished
/// (an error, a stop), its partial file is removed.
struct Pending {
    tmp: PathBuf,
    path: PathBuf,
    out: std::io::BufWriter<std::fs::File>,
    done: bool,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

fn write_error(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Write {
        path: path.to_path_buf(),
        source,
    }
}

impl Pending {
    fn create(path: PathBuf) -> Result<Pending, Error> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(write_error(parent))?;
        }
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(".partial");
        let tmp = path.with_file_name(name);
        let file = std::fs::File::create(&tmp).map_err(write_error(&tmp))?;
        Ok(Pending {
            tmp,
            path,
            out: std::io::BufWriter::new(file),
            done: false,
        })
    }

    fn line(&mut self, v: &Value) -> Result<(), Error> {
        writeln!(self.out, "{v}").map_err(write_error(&self.tmp))
    }

    fn finish(mut self) -> Result<PathBuf, Error> {
        self.out.flush().map_err(write_error(&self.tmp))?;
        std::fs::rename(&self.tmp, &self.path).map_err(write_error(&self.path))?;
        self.done = true;
        Ok(self.path.clone())
    }
}

/// Running totals for the manifest.
#[derive(Default)]
struct Totals {
    tokens: Tokens,
    input_bytes: u64,
    output_bytes: u64,
    lines: u32,
    errors: u32,
    per_file: HashMap<u32, u32>,
}

/// Refuses, before anything is written, a folder where a file to be written is one of the
/// job's inputs (an input named `errors.jsonl`, say) or where two would share a name.
fn check_outputs(job: &JobRow, dir: &Path) -> Result<(), Error> {
    let real = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let inputs: std::collections::HashSet<PathBuf> =
        job.files.iter().map(|f| real(&f.path)).collect();
    let mut outputs: Vec<PathBuf> = job.files.iter().map(|f| result_path(dir, &f.rel)).collect();
    outputs.push(dir.join(ERRORS_FILE));
    outputs.push(dir.join(MANIFEST_FILE));
    let mut seen = std::collections::HashSet::new();
    for out in outputs {
        if inputs.contains(&real(&out)) || !seen.insert(out.clone()) {
            return Err(Error::InvalidRequest(format!(
                "{} is one of the job's inputs or written twice: write the result files to another folder",
                out.display()
            )));
        }
    }
    Ok(())
}

/// Writes job `job`'s result files, errors file and manifest into `dir`.
///
/// # Errors
/// [`Error::Write`] naming the file that could not be written; store errors.
pub async fn write_all(
    store: &Store,
    job: (&JobRow, &JobSummary),
    dir: &Path,
    cost: CostFigures,
) -> Result<WrittenFiles, Error> {
    write_all_watched(store, job, (dir, cost), Watch::none()).await
}

/// [`write_all`], reporting rows written to `watch` (about every 100 ms) and stopping when
/// its flag is set; on an error or a stop no file is left half-written, under its name or
/// its `.partial` one.
///
/// # Errors
/// As [`write_all`]; [`Error::Stopped`] when the user stopped it.
pub async fn write_all_watched(
    store: &Store,
    (job, summary): (&JobRow, &JobSummary),
    (dir, cost): (&Path, CostFigures),
    watch: Watch,
) -> Result<WrittenFiles, Error> {
    let inputs: Vec<Option<std::fs::File>> = job
        .files
        .iter()
        .map(|f| std::fs::File::open(&f.path).ok())
        .collect();
    check_outputs(job, dir)?;
    let mut outputs: Vec<Pending> = job
        .files
        .iter()
        .map(|f| Pending::create(result_path(dir, &f.rel)))
        .collect::<Result<_, _>>()?;
    let mut errors = Pending::create(dir.join(ERRORS_FILE))?;
    let mut ticker = Ticker::new(
        watch,
        WorkKind::WriteFiles,
        f64::from(summary.total),
        job.files.len() as u32,
    );
    let mut totals = Totals::default();
    // Keyset paging (see `Store::results_with_input_spans`): linear in the job's rows.
    let mut next = 0u32;
    loop {
        let rows = store
            .results_with_input_spans(&job.id, (next, PAGE))
            .await?;
        let Some(last) = rows.last() else { break };
        next = last.0.seq + 1;
        for (row, span) in rows {
            write_row(
                &row,
                span,
                (job, inputs.as_slice()),
                (outputs.as_mut_slice(), &mut errors),
                &mut totals,
            )?;
            if !ticker.advance(f64::from(totals.lines)) {
                return Err(stopped(
                    "writing the result files was stopped: no file was written",
                ));
            }
        }
    }
    let results: Vec<String> = outputs
        .into_iter()
        .map(|o| o.finish().map(|p| p.display().to_string()))
        .collect::<Result<_, _>>()?;
    let errors_path = errors.finish()?;
    let manifest = manifest(job, summary, &totals, &results, cost);
    let mut m = Pending::create(dir.join(MANIFEST_FILE))?;
    let text = serde_json::to_string_pretty(&manifest).unwrap_or_default();
    writeln!(m.out, "{text}").map_err(write_error(&m.tmp))?;
    let manifest_path = m.finish()?;
    ticker.finish();
    Ok(WrittenFiles {
        job: job.id.clone(),
        results,
        errors: errors_path.display().to_string(),
        manifest: manifest_path.display().to_string(),
        lines: totals.lines,
        errors_count: totals.errors,
    })
}

/// Writes one row's line to its file's result file (and to the errors file when it failed).
fn write_row(
    row: &RequestRow,
    (file_idx, at, len): (u32, u64, u64),
    (job, inputs): (&JobRow, &[Option<std::fs::File>]),
    (outputs, errors): (&mut [Pending], &mut Pending),
    totals: &mut Totals,
) -> Result<(), Error> {
    let input = inputs
        .get(file_idx as usize)
        .and_then(Option::as_ref)
        .and_then(|f| super::scan::read_span(f, at, len).ok())
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .unwrap_or(Value::Null);
    let (Some(out), Some(file)) = (
        outputs.get_mut(file_idx as usize),
        job.files.get(file_idx as usize),
    ) else {
        return Ok(());
    };
    out.line(&result_line(file.format, row, input))?;
    totals.count(row, len);
    *totals.per_file.entry(file_idx).or_default() += 1;
    if matches!(row.state, RequestState::Failed | RequestState::Expired) {
        errors.line(&error_line(row))?;
        totals.errors += 1;
    }
    Ok(())
}

impl Totals {
    fn count(&mut self, row: &RequestRow, input_len: u64) {
        self.lines += 1;
        self.input_bytes += input_len;
        if row.state == RequestState::Succeeded {
            self.output_bytes += row
                .answer
                .as_ref()
                .or(row.result.as_ref())
                .map_or(0, |a| a.len() as u64);
            if let Some(answer) = row
                .answer
                .as_deref()
                .and_then(|a| serde_json::from_str(a).ok())
            {
                self.tokens.add(&answer);
            }
        }
    }
}

fn error_line(row: &RequestRow) -> Value {
    let error = row.error.as_deref().unwrap_or_default();
    json!({
        "id": row.id,
        "file": row.file,
        "line": row.line,
        "inference_id": row.inference_id,
        "state": row.state,
        "code": error_code(row.state, error),
        "message": super::error_message(error),
        "failure_location": row.failure_location,
    })
}

fn manifest(
    job: &JobRow,
    s: &JobSummary,
    totals: &Totals,
    results: &[String],
    cost: CostFigures,
) -> Value {
    let files: Vec<Value> = job
        .files
        .iter()
        .zip(results)
        .enumerate()
        .map(|(i, (f, out))| {
            json!({"input": f.rel, "format": f.format, "results": out,
                   "lines": totals.per_file.get(&(i as u32)).copied().unwrap_or(0)})
        })
        .collect();
    let t = totals.tokens;
    json!({
        "job": s.id,
        "endpoint": s.endpoint,
        "retry_of": s.parent,
        "state": s.state,
        "headline": s.headline,
        "counts": {
            "total": s.total, "succeeded": s.succeeded, "failed": s.failed,
            "expired": s.expired, "cancelled": s.cancelled,
            "not_sent": s.pending, "queued": s.invoked,
        },
        "top_error": s.top_error,
        // Sums over the answers that gave counts, which may be fewer than all the answers.
        "tokens": {
            "input": (t.input_counted > 0).then_some(t.input),
            "output": (t.output_counted > 0).then_some(t.output),
            "answers_with_input_counts": t.input_counted,
            "answers_with_output_counts": t.output_counted,
            "answers": s.succeeded,
        },
        "bytes": {"input": totals.input_bytes, "output": totals.output_bytes},
        "times": times(s),
        "cost": cost,
        "files": files,
        "errors_file": ERRORS_FILE,
    })
}

fn times(s: &JobSummary) -> Value {
    let wall = s.finished_at.map(|f| f - s.created_at);
    json!({
        "created_at": super::utc_text(s.created_at),
        "finished_at": s.finished_at.map(super::utc_text),
        "wall_time_s": wall,
        "first_result_at": s.first_result_at.map(super::utc_text),
        "last_result_at": s.last_result_at.map(super::utc_text),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::jobs::export::tests::job_answering;
    use crate::jobs::progress::WorkProgress;

    /// A stopped write leaves the folder empty: no result file, errors file or manifest, and
    /// no `.partial` file either; unstopped, every line is written.
    #[tokio::test]
    async fn stopped_result_files_leave_nothing_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let answers: Vec<String> = (0..1_000).map(|i| format!("answer {i}")).collect();
        let (store, job) = job_answering(dir.path(), &answers).await;
        let summary = store.summary(&job.id).await.expect("summary").expect("job");
        let out = dir.path().join("results");
        let stop = Watch::new(
            Arc::new(|_: &WorkProgress| {}),
            Arc::new(AtomicBool::new(true)),
        );
        let cost = CostFigures::default();
        let err = write_all_watched(&store, (&job, &summary), (&out, cost.clone()), stop)
            .await
            .expect_err("stopped");
        assert!(matches!(err, Error::Stopped(_)), "{err}");
        let left: Vec<_> = std::fs::read_dir(&out).expect("the folder").collect();
        assert!(left.is_empty(), "{left:?}");

        let written = write_all(&store, (&job, &summary), &out, cost)
            .await
            .expect("written");
        assert_eq!(written.lines, 1_000);
    }
}
