//! An endpoint's queue on disk, so that requests accepted before the local cloud was stopped
//! or killed are still processed after it starts again, as SageMaker keeps every request it
//! accepted. An append-only file of `add` and `done` lines, replayed at start and emptied
//! whenever the endpoint is idle.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
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
}

impl Journal {
    /// Opens the journal at `path` and returns the requests it still holds, in arrival order.
    pub fn open(path: &Path) -> (Journal, Vec<Job>) {
        let mut pending: Vec<Saved> = Vec::new();
        if let Ok(f) = File::open(path) {
            for line in BufReader::new(f).lines().map_while(Result::ok) {
                // A line cut short by a crash is the last one; skipping it loses nothing
                // accepted (the request was answered only after its line was written).
                match serde_json::from_str::<Entry>(&line) {
                    Ok(Entry::Add(s)) => pending.push(s),
                    Ok(Entry::Done { id }) => pending.retain(|s| s.id != id),
                    Err(_) => {}
                }
            }
        }
        let jobs: Vec<Job> = pending.into_iter().filter_map(Saved::job).collect();
        let mut journal = Journal {
            path: path.to_path_buf(),
            file: None,
            dirty: false,
        };
        // Start afresh with what is left.
        journal.reopen(true);
        for job in &jobs {
            journal.added(job);
        }
        if !jobs.is_empty() {
            tracing::info!(
                queue = %path.display(),
                requests = jobs.len(),
                "requests accepted before the restart are queued again"
            );
        }
        (journal, jobs)
    }

    fn reopen(&mut self, truncate: bool) {
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let opened = OpenOptions::new()
            .create(true)
            .append(!truncate)
            .write(true)
            .truncate(truncate)
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

    pub fn added(&mut self, job: &Job) {
        self.write(&Entry::Add(Saved::of(job)));
    }

    pub fn done(&mut self, id: &str) {
        self.write(&Entry::Done { id: id.to_string() });
    }

    /// Empties the file; call only when no request is queued or in progress.
    pub fn clear(&mut self) {
        if self.dirty {
            self.reopen(true);
            self.dirty = false;
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
        j.done("b");
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
        assert_eq!(ids, ["a", "c"]);
        assert_eq!(
            back[0].input,
            Input::Inline(Bytes::from_static(b"{\"inputs\": \"hi\"}"))
        );
        assert!(back[0].expires_at > Instant::now() + Duration::from_secs(590));
        // Idle: the file is emptied, and nothing comes back.
        j.done("a");
        j.done("c");
        j.clear();
        drop(j);
        assert!(Journal::open(&path).1.is_empty());
    }
}
