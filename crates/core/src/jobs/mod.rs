//! Folder-of-JSONL jobs: scan, submit every request asynchronously, collect each output or
//! failure, survive restarts. See `run` for how the pieces fit.

mod cancel;
pub mod collect;
pub mod estimate;
pub mod export;
pub mod files;
pub mod format;
pub mod lease;
pub mod progress;
mod retries;
pub mod retry;
pub mod run;
pub mod scan;
pub mod status;
pub mod store;
pub mod submit;

use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

/// InvokeEndpointAsync takes inline bodies up to this size; larger requests go through S3.
pub const INLINE_LIMIT: u64 = 128_000;

/// Per-job settings, chosen at submit time and kept with the job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct JobSettings {
    /// Keep every input in S3 (the article's way), not only those too big to send inline.
    #[serde(default)]
    pub upload_all: bool,
    /// Each file is one request, sent as it is.
    #[serde(default)]
    pub per_file: bool,
    /// Requests in flight at once.
    pub concurrency: u32,
    /// InvocationTimeoutSeconds: how long the model may take (1..=3600).
    pub invocation_timeout_s: u32,
    /// RequestTTLSeconds: how long a request may wait in the queue (SageMaker's default: 6 h).
    pub request_ttl_s: Option<u32>,
}

impl Default for JobSettings {
    fn default() -> Self {
        JobSettings {
            upload_all: false,
            per_file: false,
            concurrency: 64,
            invocation_timeout_s: 900,
            request_ttl_s: None,
        }
    }
}

impl JobSettings {
    pub fn check(&self) -> Result<(), String> {
        if !(1..=3600).contains(&self.invocation_timeout_s) {
            return Err(format!(
                "the invocation timeout must be 1 to 3600 seconds, not {}",
                self.invocation_timeout_s
            ));
        }
        if let Some(ttl) = self.request_ttl_s
            && !(60..=21_600).contains(&ttl)
        {
            return Err(format!(
                "the request TTL must be 60 to 21600 seconds, not {ttl}"
            ));
        }
        if !(1..=1024).contains(&self.concurrency) {
            return Err(format!(
                "concurrency must be 1 to 1024 requests in flight, not {}",
                self.concurrency
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Sending requests (results are collected meanwhile).
    Submitting,
    /// Everything sent; waiting for results.
    Collecting,
    /// Stopped by the user or by an error that needs the user (see the note); resumable.
    Paused,
    /// Every request has its output or failure.
    Done,
    Cancelled,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Submitting => "submitting",
            JobState::Collecting => "collecting",
            JobState::Paused => "paused",
            JobState::Done => "done",
            JobState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> JobState {
        match s {
            "submitting" => JobState::Submitting,
            "collecting" => JobState::Collecting,
            "done" => JobState::Done,
            "cancelled" => JobState::Cancelled,
            _ => JobState::Paused,
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, JobState::Done | JobState::Cancelled)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum RequestState {
    Pending,
    /// Taken for sending; after a crash it is sent again.
    Invoking,
    /// Accepted by SageMaker; waiting for the result.
    Invoked,
    Succeeded,
    Failed,
    /// No output or failure came within the request's TTL and timeout.
    Expired,
    /// Not sent, or its result not collected, because the job was cancelled.
    Cancelled,
}

impl RequestState {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestState::Pending => "pending",
            RequestState::Invoking => "invoking",
            RequestState::Invoked => "invoked",
            RequestState::Succeeded => "succeeded",
            RequestState::Failed => "failed",
            RequestState::Expired => "expired",
            RequestState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> RequestState {
        match s {
            "invoking" => RequestState::Invoking,
            "invoked" => RequestState::Invoked,
            "succeeded" => RequestState::Succeeded,
            "failed" => RequestState::Failed,
            "expired" => RequestState::Expired,
            "cancelled" => RequestState::Cancelled,
            _ => RequestState::Pending,
        }
    }
}

/// A job with its counts, for lists and progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct JobSummary {
    pub id: String,
    pub endpoint: String,
    /// Seconds since the epoch.
    pub created_at: f64,
    pub finished_at: Option<f64>,
    pub state: JobState,
    /// Why a job is paused, or what went wrong.
    pub note: Option<String>,
    pub total: u32,
    /// Not yet accepted by SageMaker.
    pub pending: u32,
    /// Accepted, result not yet seen.
    pub invoked: u32,
    pub succeeded: u32,
    pub failed: u32,
    /// Requests sent more than once: after throttling, an error, or an interrupted run.
    pub retried: u32,
    /// No result within the request's TTL and timeout.
    pub expired: u32,
    /// Not sent (or, with `--discard`, not collected) because the job was cancelled.
    pub cancelled: u32,
    /// The job whose failed or expired lines this one sends again.
    pub parent: Option<String>,
    /// Set once the job was cancelled: whether what was already sent is still collected.
    pub cancel: Option<CancelMode>,
    /// The most common error among failed and expired lines.
    pub top_error: Option<ErrorCount>,
    /// When the first and the last result were seen, seconds since the epoch.
    pub first_result_at: Option<f64>,
    pub last_result_at: Option<f64>,
    /// Where the job stands in a few words, the same in the app and the CLI: "in progress",
    /// "completed", "partially completed: 3 of 10 failed: CUDA out of memory", "312 of 312
    /// failed, most with CUDA out of memory (300 lines)", ...
    pub headline: String,
}

/// What a cancel does with requests already sent (a queued SageMaker request cannot be taken
/// back, and its GPU time is paid for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum CancelMode {
    /// Stop sending; keep collecting what was sent.
    Keep,
    /// Stop sending and collecting: results of requests already sent are left in S3.
    Discard,
}

impl CancelMode {
    pub fn as_str(self) -> &'static str {
        match self {
            CancelMode::Keep => "keep",
            CancelMode::Discard => "discard",
        }
    }

    pub fn parse(s: &str) -> Option<CancelMode> {
        match s {
            "keep" => Some(CancelMode::Keep),
            "discard" => Some(CancelMode::Discard),
            _ => None,
        }
    }
}

/// An error message and how many lines have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ErrorCount {
    pub message: String,
    pub count: u32,
}

impl JobSummary {
    /// Lines whose fate is settled: succeeded, failed, expired or cancelled.
    pub fn settled(&self) -> u32 {
        self.succeeded + self.failed + self.expired + self.cancelled
    }

    /// "3 of 10 failed: X" when every failure says X, else "… failed, most with X (2 lines)".
    fn failures(&self) -> String {
        let unsuccessful = self.failed + self.expired;
        let head = format!("{unsuccessful} of {} failed", self.total);
        match &self.top_error {
            Some(e) if e.count == unsuccessful => format!("{head}: {}", e.message),
            Some(e) => format!(
                "{head}, most with {} ({} line{})",
                e.message,
                e.count,
                plural(e.count)
            ),
            None => head,
        }
    }

    /// The words of [`JobSummary::headline`].
    pub fn describe(&self) -> String {
        let unsuccessful = self.failed + self.expired;
        match self.state {
            JobState::Submitting | JobState::Collecting | JobState::Paused
                if self.cancel.is_some() =>
            {
                format!("cancelled: collecting the {} already sent", self.invoked)
            }
            JobState::Submitting => "submitting".into(),
            JobState::Collecting => "in progress".into(),
            JobState::Paused => "paused".into(),
            JobState::Cancelled => format!(
                "cancelled: {} of {} answered; {} cancelled (not sent, or sent and not collected)",
                self.succeeded + self.failed + self.expired,
                self.total,
                self.cancelled
            ),
            JobState::Done if unsuccessful == 0 => "completed".into(),
            JobState::Done if self.succeeded == 0 && self.expired > self.failed => {
                format!(
                    "expired: {} of {} had no result in time",
                    self.expired, self.total
                )
            }
            JobState::Done if self.succeeded == 0 => self.failures(),
            JobState::Done => format!("partially completed: {}", self.failures()),
        }
    }
}

/// `epoch_s` (seconds since the epoch) as RFC 3339 in UTC: `2026-11-29T23:31:09Z`.
pub fn utc_text(epoch_s: f64) -> String {
    time::OffsetDateTime::from_unix_timestamp(epoch_s as i64)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A stored error as one line for summaries: the `error` or `message` of a JSON error body
/// (TGI's `{"error", "error_type"}`, SageMaker's and OpenAI's `message`), else the text, cut
/// at 160 characters.
pub fn error_message(error: &str) -> String {
    let json = serde_json::from_str::<serde_json::Value>(error).ok();
    let said = json.as_ref().and_then(|v| {
        ["error", "message", "Message"]
            .iter()
            .find_map(|k| v.get(*k).and_then(serde_json::Value::as_str))
    });
    let text = said.unwrap_or(error).trim();
    let line = text.lines().next().unwrap_or_default();
    if line.chars().count() > 160 {
        format!("{}…", line.chars().take(160).collect::<String>())
    } else {
        line.to_string()
    }
}

/// Progress of a running job, sent a few times a second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct JobProgress {
    pub job: JobSummary,
    /// Requests accepted per second since this run started.
    pub invoke_rate: f64,
    /// Results collected per second since this run started.
    pub result_rate: f64,
    /// Inputs put in S3 by this run.
    pub uploaded: u32,
    /// S3 calls made to find and read results in this run (LIST and GET).
    pub result_s3_calls: u32,
    /// Calls made again in this run after throttling, a server error or a dropped connection.
    pub retried_calls: u32,
    /// Seconds until every result is in, at the current rate.
    pub eta_s: Option<f64>,
    /// Set when another process runs the job and this one only follows it: who runs it.
    pub run_elsewhere: Option<String>,
}

impl JobProgress {
    /// The progress of a job another process runs (`holder`), as the store shows it.
    pub fn run_elsewhere(job: JobSummary, holder: String) -> JobProgress {
        JobProgress {
            job,
            invoke_rate: 0.0,
            result_rate: 0.0,
            uploaded: 0,
            result_s3_calls: 0,
            retried_calls: 0,
            eta_s: None,
            run_elsewhere: Some(holder),
        }
    }
}

/// Pause and cancel for a running job.
#[derive(Debug, Default)]
pub struct JobControl {
    paused: AtomicBool,
    cancelled: AtomicBool,
    /// Cancelled, keeping what was sent: stop sending, go on collecting.
    sending_stopped: AtomicBool,
    lease_lost: AtomicBool,
}

impl JobControl {
    pub fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
    }

    /// Stops the job: sending at once, and collecting too unless `keep` collecting.
    pub fn cancel(&self, mode: CancelMode) {
        self.sending_stopped.store(true, Ordering::SeqCst);
        if mode == CancelMode::Discard {
            self.cancelled.store(true, Ordering::SeqCst);
        }
    }

    /// Whether sending was stopped by a cancel (collecting may go on).
    pub fn is_sending_stopped(&self) -> bool {
        self.sending_stopped.load(Ordering::SeqCst)
    }

    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Another process took the job over (see `lease`): stop sending, and leave the job's
    /// state to that process.
    pub fn lose_lease(&self) {
        self.lease_lost.store(true, Ordering::SeqCst);
        self.pause();
    }

    pub fn lost_lease(&self) -> bool {
        self.lease_lost.load(Ordering::SeqCst)
    }

    fn stopping(&self) -> bool {
        self.is_paused() || self.is_cancelled() || self.is_sending_stopped()
    }
}

/// A job id that sorts by creation time and is unique: `job-YYYYMMDD-HHMMSS-` then 16 hex
/// digits, the UTC second it was made and 64 random bits (from a version 4 UUID). 32 bits were
/// not enough: 10,000 ids in one run shared one about once in a hundred runs (the birthday
/// bound); with 64 the chance is about 3 in a trillion.
pub fn new_job_id() -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "job-{}-{}",
        crate::deploy::spec::stamp_now(),
        &random[..RANDOM_HEX]
    )
}

/// Hex digits of randomness in a job id (64 bits).
const RANDOM_HEX: usize = 16;

/// Longest `Filename` InvokeEndpointAsync takes; it also allows one dot at most and only
/// letters, digits, `-`, `_` and `.` (`FilenameHeader` in the SageMaker Runtime service model,
/// <https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpointAsync.html>).
pub const MAX_FILENAME: usize = 32;

/// The result's file name for a line with its own id: its position, then as much of the id as
/// fits SageMaker's rules: `00000042-req-17.out`.
pub fn id_filename(seq: usize, id: &str) -> String {
    let head = format!("{seq:08}");
    let room = MAX_FILENAME.saturating_sub(head.len() + 1 + ".out".len());
    let stem: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(room)
        .collect();
    format!("{head}-{stem}.out")
}

/// The result's file name: the request's position (so listings run in input order), then as
/// much of its file's name and its line as fits SageMaker's rules: `00000042-input_7-L3.out`
/// (`00000042-input_7.out` when each file is one request). Positions go up to 99,999,999.
pub fn result_filename(seq: usize, rel: &str, line: u32, per_file: bool) -> String {
    let base = rel.rsplit(['/', '\\']).next().unwrap_or(rel);
    let stem = base.strip_suffix(".jsonl").unwrap_or(base);
    let stem: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let tail = if per_file {
        ".out".to_string()
    } else {
        format!("-L{line}.out")
    };
    let head = format!("{seq:08}");
    let room = MAX_FILENAME.saturating_sub(head.len() + 1 + tail.len());
    let stem: String = stem.chars().take(room).collect();
    if stem.is_empty() {
        format!("{head}{tail}")
    } else {
        format!("{head}-{stem}{tail}")
    }
}

/// The whole answer, kept when it says more than its text: anything but TGI's plain
/// `[{"generated_text": …}]` (e.g. with `details`: tokens, finish reason), as UTF-8 text.
pub fn full_answer(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Plain {
        #[allow(dead_code)]
        generated_text: String,
    }
    let plain = serde_json::from_slice::<Vec<Plain>>(body).is_ok_and(|g| g.len() == 1)
        || serde_json::from_slice::<Plain>(body).is_ok();
    let json = serde_json::from_slice::<serde_json::Value>(body).is_ok();
    (json && !plain).then(|| String::from_utf8_lossy(body).into_owned())
}

/// What a result body says: TGI's generated text, else the body as it is.
pub fn result_text(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Generation {
        generated_text: String,
    }
    if let Ok(g) = serde_json::from_slice::<Vec<Generation>>(body)
        && g.len() == 1
        && let Some(first) = g.into_iter().next()
    {
        return first.generated_text;
    }
    if let Ok(g) = serde_json::from_slice::<Generation>(body) {
        return g.generated_text;
    }
    String::from_utf8_lossy(body).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_made_in_the_same_second_differ() {
        let ids: std::collections::BTreeSet<String> = (0..10_000).map(|_| new_job_id()).collect();
        assert_eq!(ids.len(), 10_000);
        for id in ids.iter().take(3) {
            let (stamp, random) = id
                .strip_prefix("job-")
                .and_then(|r| r.rsplit_once('-'))
                .expect("job-STAMP-RANDOM");
            assert_eq!(stamp.len(), 15, "{id}");
            assert!(
                random.len() == RANDOM_HEX && random.bytes().all(|b| b.is_ascii_hexdigit()),
                "{id}"
            );
        }
    }

    /// The README states the job's retry budget; it must be the one the code uses.
    #[test]
    fn readme_states_the_retry_budget_in_force() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
        let readme = std::fs::read_to_string(path).expect("README.md");
        let text = readme.split_whitespace().collect::<Vec<_>>().join(" ");
        let sdk = format!("up to {} attempts", run::INVOKE_ATTEMPTS);
        let job = format!("up to {} tries in all", submit::MAX_ATTEMPTS);
        assert!(text.contains(&sdk), "README should say `{sdk}`");
        assert!(text.contains(&job), "README should say `{job}`");
        assert!(
            !text.contains("adaptive retry"),
            "jobs use standard retries"
        );
    }

    #[test]
    fn result_names_sort_in_input_order_and_read_well() {
        assert_eq!(
            result_filename(42, "sub/input 7.jsonl", 3, false),
            "00000042-input_7-L3.out"
        );
        assert_eq!(result_filename(1, "a.jsonl", 1, true), "00000001-a.out");
        assert!(result_filename(9, "a", 1, false) < result_filename(10, "a", 1, false));
    }

    /// SageMaker's FilenameHeader: 1-32 characters, `[a-zA-Z0-9][a-zA-Z0-9-_.]*`, one dot at
    /// most. AWS refuses any other name, so every request of a job would fail.
    fn sagemaker_takes(name: &str) -> bool {
        (1..=MAX_FILENAME).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && name.matches('.').count() <= 1
    }

    #[test]
    fn result_names_are_filenames_sagemaker_takes() {
        let files = [
            "a.jsonl",
            "deep/folder/with.many.dots.in.it.jsonl",
            "prompts – été 2026 (final).jsonl",
            &"x".repeat(300),
            "..jsonl",
            "win\\path\\file.jsonl",
        ];
        for rel in files {
            for (seq, line) in [(0, 1), (42, 3), (99_999_999, u32::MAX)] {
                for per_file in [false, true] {
                    let name = result_filename(seq, rel, line, per_file);
                    assert!(sagemaker_takes(&name), "{rel:?} -> {name:?}");
                    let name = id_filename(seq, rel);
                    assert!(sagemaker_takes(&name), "{rel:?} -> {name:?}");
                }
            }
        }
    }

    #[test]
    fn tgi_output_becomes_its_text_and_anything_else_stays_raw() {
        assert_eq!(
            result_text(br#"[{"generated_text": "Washington"}]"#),
            "Washington"
        );
        assert_eq!(result_text(br#"{"generated_text": "x"}"#), "x");
        assert_eq!(result_text(b"plain"), "plain");
        // TGI's answer with `details`: the text for the table, the whole answer kept too.
        let detailed = br#"[{"generated_text": "Paris", "details": {"finish_reason": "length", "generated_tokens": 1, "tokens": [{"id": 3, "text": "Paris", "logprob": -0.1}]}}]"#;
        assert_eq!(result_text(detailed), "Paris");
        let kept = full_answer(detailed).expect("the details are kept");
        assert!(kept.contains("finish_reason") && kept.contains("logprob"));
        assert_eq!(full_answer(br#"[{"generated_text": "Paris"}]"#), None);
        assert_eq!(full_answer(b"plain text"), None);
    }

    #[test]
    fn settings_out_of_range_are_refused_with_the_range() {
        let mut s = JobSettings::default();
        assert!(s.check().is_ok());
        s.invocation_timeout_s = 7200;
        assert!(s.check().unwrap_err().contains("1 to 3600"));
    }

    fn ended(succeeded: u32, failed: u32, top: Option<(&str, u32)>) -> JobSummary {
        JobSummary {
            id: "j".into(),
            endpoint: "e".into(),
            created_at: 0.0,
            finished_at: Some(1.0),
            state: JobState::Done,
            note: None,
            total: succeeded + failed,
            pending: 0,
            invoked: 0,
            succeeded,
            failed,
            retried: 0,
            expired: 0,
            cancelled: 0,
            parent: None,
            cancel: None,
            top_error: top.map(|(m, count)| ErrorCount {
                message: m.into(),
                count,
            }),
            first_result_at: None,
            last_result_at: None,
            headline: String::new(),
        }
    }

    /// A job that ended with every line failed is shown failed, its most common error on top.
    #[test]
    fn the_headline_puts_the_most_common_error_first() {
        let oom = "CUDA out of memory";
        assert_eq!(
            ended(0, 312, Some((oom, 312))).describe(),
            "312 of 312 failed: CUDA out of memory"
        );
        assert_eq!(
            ended(0, 312, Some((oom, 300))).describe(),
            "312 of 312 failed, most with CUDA out of memory (300 lines)"
        );
        assert_eq!(
            ended(7, 3, Some((oom, 3))).describe(),
            "partially completed: 3 of 10 failed: CUDA out of memory"
        );
        assert_eq!(ended(10, 0, None).describe(), "completed");
        assert_eq!(
            error_message(
                r#"{"error": "CUDA out of memory. Tried to allocate 2 GiB", "error_type": "generation"}"#
            ),
            "CUDA out of memory. Tried to allocate 2 GiB"
        );
    }
}
