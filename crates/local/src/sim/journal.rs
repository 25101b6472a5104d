//! An endpoint's queue on disk, so that requests accepted before the local cloud was stopped
//! or killed are still processed after it starts again, as SageMaker keeps every request it
//! accepted. An append-only file of `add` and `done` lines, replayed at start and emptied
//! whenever the endpoint is idle.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::endpoint::{Input, Job};
use super::s3uri::S3Uri;

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum Entry {
    Add(Saved),
    Done { id: String },
}

#[derive(Debug, Serialize, Deserialize)]
struct Saved {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_s3: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inline_hex: Option<String>,
    content_type: Option<String>,
    accept: Option<String>,
    output: String,
    failure: Option<String>,
    /// Wall-clock epoch seconds after which the request expires.
    expires_epoch: f64,
    timeout_s: f64,
}

fn epoch_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn uri(u: &S3Uri) -> String {
    format!("s3://{}/{}", u.bucket, u.key)
}

impl Saved {
    fn of(job: &Job) -> Saved {
        let (input_s3, inline_hex) = match &job.input {
            Input::S3(u) => (Some(uri(u)), None),
            Input::Inline(b) => (None, Some(hex::encode(b))),
        };
        let left = job.expires_at.saturating_duration_since(Instant::now());
        Saved {
            id: job.inference_id.clone(),
            input_s3,
            inline_hex,
            content_type: job.content_type.clone(),
            accept: job.accept.clone(),
            output: uri(&job.output),
            failure: job.failure.as_ref().map(uri),
            expires_epoch: epoch_now() + left.as_secs_f64(),
            timeout_s: job.timeout.as_secs_f64(),
        }
    }

    fn job(self) -> Option<Job> {
        let input = match (self.input_s3, self.inline_hex) {
            (Some(s), _) => Input::S3(S3Uri::parse(&s)?),
            (None, Some(h)) => Input::Inline(Bytes::from(hex::decode(h).ok()?)),
            (None, None) => return None,
        };
        let left = (self.expires_epoch - epoch_now()).max(0.0);
        Some(Job {
            inference_id: self.id,
            input,
            content_type: self.content_type,
            accept: self.accept,
            output: S3Uri::parse(&self.output)?,
            failure: self.failure.as_deref().and_then(S3Uri::parse),
            expires_at: Instant::now() + Duration::from_secs_f64(left),
            timeout: Duration::from_secs_f64(self.timeout_s),
        })
    }
}

pub struct Journal {
    path: PathBuf,
    file: Option<File>,
    /// Lines written since the file was last emptied.
    dirty: bool,
    /// The file could not be read at open: it is neither written nor emptied.
    kept: bool,
}

impl Journal {
    /// Opens the journal at `path` and returns the requests it still holds, in arrival order.
    pub fn open(path: &Path) -> (Journal, Vec<Job>) {
        let mut journal = Journal {
            path: path.to_path_buf(),
            file: None,
            dirty: false,
            kept: false,
        };
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                // Kept as it is rather than rewritten without the requests it may hold.
                tracing::error!(
                    "the queue journal {} cannot be read ({e}); it is kept as it is, and this \
                     endpoint's queue is not saved until it is readable at the next start",
                    path.display()
                );
                journal.kept = true;
                return (journal, Vec::new());
            }
        };
        let mut pending: Vec<Saved> = Vec::new();
        for line in bytes.split(|b| *b == b'\n') {
            // A line cut short by a crash is the last one; skipping it loses nothing
            // accepted (the request was answered only after its line was written).
            match serde_json::from_slice::<Entry>(line) {
                Ok(Entry::Add(s)) => pending.push(s),
                Ok(Entry::Done { id }) => {
                    // Journals of earlier versions marked a request done by its id alone.
                    pending.retain(|s| {
                        s.id != id && super::endpoint::request_key(&s.id, &s.output) != id
                    });
                }
                Err(_) => {}
            }
        }
        let jobs: Vec<Job> = pending.into_iter().filter_map(Saved::job).collect();
        // Start afresh with what is left.
        let mut left = Vec::new();
        for job in &jobs {
            if serde_json::to_writer(&mut left, &Entry::Add(Saved::of(job))).is_ok() {
                left.push(b'\n');
            }
        }
        journal.replace(&left);
        if !jobs.is_empty() {
            tracing::info!(
                queue = %path.display(),
                requests = jobs.len(),
                "requests accepted before the restart are queued again"
            );
        }
        (journal, jobs)
    }

    /// Replaces the file's contents with `lines` through a temporary file and a rename, so
    /// that a crash keeps either the old journal or the new one, never an emptied file with
    /// the requests still to be written back; then appends from there.
    fn replace(&mut self, lines: &[u8]) {
        self.file = None;
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        match crate::persist::write_atomic(&self.path, lines) {
            Ok(()) => self.dirty = !lines.is_empty(),
            Err(e) => {
                // The old file is whole; what follows is appended to it and replays the same.
                tracing::warn!(
                    "the queue journal {} cannot be rewritten: {e}",
                    self.path.display()
                );
                self.dirty = true;
            }
        }
        self.reopen();
    }

    fn reopen(&mut self) {
        let opened = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path);
        match opened {
            Ok(f) => self.file = Some(f),
            Err(e) => {
                tracing::warn!(
                    "the queue journal {} cannot be written: {e}",
                    self.path.display()
                );
                self.file = None;
            }
        }
    }

    fn write(&mut self, entry: &Entry) {
        let Some(file) = self.file.as_mut() else {
            return;
        };
        let Ok(mut line) = serde_json::to_vec(entry) else {
            return;
        };
        line.push(b'\n');
        if let Err(e) = file.write_all(&line) {
            tracing::warn!(
                "the queue journal {} cannot be written: {e}",
                self.path.display()
            );
        }
        self.dirty = true;
    }

    #[cfg(test)]
    fn write_raw(&mut self, bytes: &[u8]) {
        if let Some(file) = self.file.as_mut() {
            file.write_all(bytes).unwrap();
        }
    }

    pub fn added(&mut self, job: &Job) {
        self.write(&Entry::Add(Saved::of(job)));
    }

    /// Marks the request with [`super::endpoint::Job::key`] `key` done.
    pub fn done(&mut self, key: &str) {
        self.write(&Entry::Done {
            id: key.to_string(),
        });
    }

    /// Empties the file; call only when no request is queued or in progress.
    pub fn clear(&mut self) {
        if self.dirty && !self.kept {
            self.replace(b"");
        }
    }

    /// Removes the file for good (the endpoint is deleted).
    pub fn remove(&mut self) {
        self.file = None;
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str) -> Job {
        Job {
            inference_id: id.into(),
            input: Input::Inline(Bytes::from_static(b"{\"inputs\": \"hi\"}")),
            content_type: Some("application/json".into()),
            accept: None,
            output: S3Uri::parse("s3://bucket/out/x.out").unwrap(),
            failure: S3Uri::parse("s3://bucket/failure/x-error.out"),
            expires_at: Instant::now() + Duration::from_secs(600),
            timeout: Duration::from_secs(900),
        }
    }

    #[test]
    fn requests_not_done_come_back_after_a_restart_and_done_ones_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("queues/flan.jsonl");
        let (mut j, none) = Journal::open(&path);
        assert!(none.is_empty());
        for id in ["a", "b", "c"] {
            j.added(&job(id));
        }
        // Another job's request with the same InferenceId (they need not be unique).
        let mut other_b = job("b");
        other_b.output = S3Uri::parse("s3://bucket/out/other-job/x.out").unwrap();
        j.added(&other_b);
        j.done(&job("b").key());
        drop(j);
        // A crash can cut the last line short.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"op\":\"add\",\"id\":\"d")
            .unwrap();
        let (mut j, back) = Journal::open(&path);
        let ids: Vec<&str> = back.iter().map(|j| j.inference_id.as_str()).collect();
        assert_eq!(ids, ["a", "c", "b"]);
        assert_eq!(back[2].output.key, "out/other-job/x.out");
        assert_eq!(
            back[0].input,
            Input::Inline(Bytes::from_static(b"{\"inputs\": \"hi\"}"))
        );
        assert!(back[0].expires_at > Instant::now() + Duration::from_secs(590));
        // Idle: the file is emptied, and nothing comes back.
        for left in &back {
            j.done(&left.key());
        }
        j.clear();
        drop(j);
        assert!(Journal::open(&path).1.is_empty());
    }

    #[test]
    fn a_line_that_is_not_text_loses_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.jsonl");
        let (mut j, _) = Journal::open(&path);
        j.added(&job("a"));
        j.write_raw(b"\xff\xfe\n");
        j.added(&job("b"));
        drop(j);
        let ids: Vec<String> = Journal::open(&path)
            .1
            .into_iter()
            .map(|j| j.inference_id)
            .collect();
        assert_eq!(ids, ["a", "b"]);
    }
}
