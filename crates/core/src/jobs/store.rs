//! The job store: SQLite (WAL) in the Ebb home. One row per job and per request; a request's
//! state is written before and after each remote call, so a restart resumes every unfinished
//! job with nothing lost.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::format::{self as fmt, InputFormat};
use super::lease::Holder;
use super::scan::Scan;
use super::{CancelMode, ErrorCount, JobSettings, JobState, JobSummary, RequestState};
use crate::error::Error;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    endpoint TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    finished_at INTEGER,
    state TEXT NOT NULL,
    note TEXT,
    settings TEXT NOT NULL,
    output_path TEXT NOT NULL,
    failure_path TEXT
);
CREATE TABLE IF NOT EXISTS files (
    job_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    path TEXT NOT NULL,
    rel TEXT NOT NULL,
    PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS requests (
    job_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    file_idx INTEGER NOT NULL,
    line INTEGER NOT NULL,
    byte_offset INTEGER NOT NULL,
    len INTEGER NOT NULL,
    filename TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    input_location TEXT,
    output_location TEXT,
    failure_location TEXT,
    invoked_at INTEGER,
    completed_at INTEGER,
    result TEXT,
    error TEXT,
    answer TEXT,
    PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leases (
    job_id TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    since INTEGER NOT NULL,
    heartbeat INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tries (
    job_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at INTEGER NOT NULL,
    try_job TEXT NOT NULL,
    state TEXT NOT NULL,
    result TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS requests_by_state ON requests (job_id, state, seq);
CREATE UNIQUE INDEX IF NOT EXISTS requests_by_filename ON requests (job_id, filename);
CREATE INDEX IF NOT EXISTS tries_by_request ON tries (job_id, seq);
";

/// Columns added since the first stores, with their types: (table, column, type).
const ADDED_COLUMNS: [(&str, &str, &str); 9] = [
    ("requests", "answer", "TEXT"),
    ("requests", "custom_id", "TEXT"),
    ("requests", "inference_id", "TEXT"),
    ("requests", "parent_seq", "INTEGER"),
    ("requests", "answered_by", "TEXT"),
    ("files", "format", "TEXT"),
    ("jobs", "parent_id", "TEXT"),
    ("jobs", "cancel", "TEXT"),
    ("jobs", "estimate", "TEXT"),
];

/// Indexes on added columns, made once the columns exist.
const ADDED_INDEXES: &str = "
CREATE INDEX IF NOT EXISTS requests_by_inference_id ON requests (inference_id);
CREATE INDEX IF NOT EXISTS requests_by_custom_id ON requests (custom_id) WHERE custom_id IS NOT NULL;
";

/// A shared handle; every call runs on the blocking pool.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

/// Input order is `seq` order (a scan numbers requests file by file, line by line), so the
/// results queries walk the primary key instead of sorting the whole job for every page.
///
/// The joins and filter shared by the results queries: ?1 job, ?2 state or NULL, ?3 LIKE
/// pattern or NULL.
const RESULTS_FROM: &str =
    "FROM requests r JOIN files f ON f.job_id = r.job_id AND f.idx = r.file_idx
     WHERE r.job_id = ?1 AND (?2 IS NULL OR r.state = ?2)
       AND (?3 IS NULL OR f.rel LIKE ?3 OR r.result LIKE ?3 OR r.error LIKE ?3
            OR r.custom_id LIKE ?3)";

/// The columns [`request_row`] reads, in its order.
const ROW_COLUMNS: &str = "r.seq, f.rel, r.line, r.state, r.attempts, r.output_location,
    r.failure_location, r.result, r.error, r.answer, r.custom_id, r.inference_id";

/// How many columns [`ROW_COLUMNS`] has: further columns of a query come after them.
const ROW_WIDTH: usize = 12;

/// An invoked request still waiting for its result.
#[derive(Debug, Clone)]
pub struct Waiting {
    pub seq: i64,
    /// The result's file name (the last part of its key).
    pub filename: String,
    pub output: String,
    pub failure: Option<String>,
    /// Epoch seconds; 0 when unknown.
    pub invoked_at: i64,
}

/// A request taken for sending.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub seq: i64,
    pub file_idx: u32,
    pub line: u32,
    pub offset: u64,
    pub len: u64,
    pub filename: String,
    pub attempts: u32,
    /// The `InferenceId` to send (None for jobs made before ids were kept).
    pub inference_id: Option<String>,
}

/// What happened to one request.
#[derive(Debug, Clone)]
pub enum Outcome {
    Invoked {
        seq: i64,
        input_location: Option<String>,
        output_location: String,
        failure_location: Option<String>,
    },
    /// Back to pending for another try later.
    Retry {
        seq: i64,
        error: String,
    },
    /// Claimed but never sent: back to pending, the claim not counted as a try.
    Release {
        seq: i64,
    },
    Succeeded {
        seq: i64,
        result: String,
        /// The model's whole answer when it holds more than the text (TGI's `details`).
        answer: Option<String>,
    },
    Failed {
        seq: i64,
        error: String,
    },
    /// No output or failure appeared in time: the request's TTL ran out, or it was lost.
    Expired {
        seq: i64,
        error: String,
    },
}

/// One row of the results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RequestRow {
    pub seq: u32,
    /// The line's id: its `custom_id`, `recordId` or `--id-field` value, else `file:line`.
    pub id: String,
    /// The `InferenceId` it was sent with (None for jobs made before ids were kept).
    pub inference_id: Option<String>,
    pub file: String,
    pub line: u32,
    pub state: RequestState,
    pub attempts: u32,
    pub output_location: Option<String>,
    pub failure_location: Option<String>,
    /// The generated text (or the raw body when it is not TGI's shape).
    pub result: Option<String>,
    pub error: Option<String>,
    /// The model's whole answer (JSON) when it holds more than the generated text, e.g.
    /// TGI's `details` (tokens, finish reason) when the request asked for them.
    pub answer: Option<String>,
}

/// The job's own row.
#[derive(Debug, Clone)]
pub struct JobRow {
    pub id: String,
    pub endpoint: String,
    pub settings: JobSettings,
    pub output_path: String,
    pub failure_path: Option<String>,
    pub state: JobState,
    pub files: Vec<JobFile>,
    /// The job whose failed or expired lines this one sends again (`ebb retry`).
    pub parent: Option<String>,
}

/// One input file of a job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobFile {
    pub path: PathBuf,
    /// As shown: relative to the folder scanned.
    pub rel: String,
    pub format: InputFormat,
}

fn db_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Store(format!("{}: {e}", path.display()))
}

/// The first [`ROW_WIDTH`] columns of a results query ([`ROW_COLUMNS`]).
fn request_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RequestRow> {
    let file: String = r.get(1)?;
    let line: u32 = r.get(2)?;
    let id = r
        .get::<_, Option<String>>(10)?
        .unwrap_or_else(|| super::format::line_id(&file, line));
    Ok(RequestRow {
        seq: r.get(0)?,
        id,
        inference_id: r.get(11)?,
        file,
        line,
        state: RequestState::parse(&r.get::<_, String>(3)?),
        attempts: r.get(4)?,
        output_location: r.get(5)?,
        failure_location: r.get(6)?,
        result: r.get(7)?,
        error: r.get(8)?,
        answer: r.get(9)?,
    })
}

/// Stores made by earlier versions get the columns added since (empty for their rows).
fn add_columns(conn: &mut Connection) -> rusqlite::Result<()> {
    // One writer at a time: the app and a CLI command opening an old store together would
    // otherwise both add a column, and one of them fail.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    for (table, column, kind) in ADDED_COLUMNS {
        let has: bool = tx
            .prepare(&format!(
                "SELECT 1 FROM pragma_table_info('{table}') WHERE name = '{column}'"
            ))?
            .exists([])?;
        if !has {
            tx.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))?;
        }
    }
    tx.execute_batch(ADDED_INDEXES)?;
    tx.commit()
}

/// The job's own row (its files and requests are the caller's).
pub(super) fn insert_job(tx: &rusqlite::Transaction<'_>, job: &JobRow) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO jobs (id, endpoint, created_at, state, settings, output_path, failure_path,
           parent_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            job.id,
            job.endpoint,
            now_s(),
            job.state.as_str(),
            serde_json::to_string(&job.settings).unwrap_or_default(),
            job.output_path,
            job.failure_path,
            job.parent
        ],
    )?;
    Ok(())
}

fn now_s() -> i64 {
    crate::deploy::now_s()
}

/// The most common error of `job`'s failed and expired lines, with how many have it. Errors
/// that differ only in their numbers (a column, a size in bytes) count as one.
fn top_error(conn: &Connection, job: &str) -> rusqlite::Result<Option<ErrorCount>> {
    let mut q = conn.prepare(
        // The state index, named: else SQLite walks the whole job by primary key.
        "SELECT error, COUNT(*) AS n FROM requests INDEXED BY requests_by_state
         WHERE job_id = ?1 AND state IN ('failed', 'expired')
         GROUP BY error ORDER BY n DESC, MIN(seq) LIMIT 1000",
    )?;
    let exact = q
        .query_map(params![job], |r| {
            Ok((
                r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                r.get::<_, i64>(1)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut groups: Vec<(String, String, u32)> = Vec::new();
    for (error, n) in exact {
        let message = super::error_message(&error);
        let shape: String = message
            .chars()
            .map(|c| if c.is_ascii_digit() { '#' } else { c })
            .collect();
        match groups.iter_mut().find(|g| g.0 == shape) {
            Some(g) => g.2 += n as u32,
            None => groups.push((shape, message, n as u32)),
        }
    }
    // On a tie, the group seen first (the larger exact group, the earlier line) wins.
    Ok(groups
        .into_iter()
        .rev()
        .max_by_key(|g| g.2)
        .map(|(_, message, count)| ErrorCount { message, count }))
}

/// Records request `seq`'s end, the first one only (a re-sent request can have two results),
/// and, for a retry job, gives its parent's line the newest answer (keeping the one replaced
/// in `tries`). Returns the rows changed.
fn ended(
    tx: &rusqlite::Transaction<'_>,
    (job, seq): (&str, i64),
    state: RequestState,
    (result, answer): (&str, Option<&str>),
    error: Option<&str>,
) -> rusqlite::Result<usize> {
    let result = (state == RequestState::Succeeded).then_some(result);
    let changed = tx.execute(
        "UPDATE requests SET state = ?3, result = ?4, answer = ?5, error = ?6, completed_at = ?7
         WHERE job_id = ?1 AND seq = ?2 AND state NOT IN ('succeeded', 'failed', 'expired', 'cancelled')",
        params![job, seq, state.as_str(), result, answer, error, now_s()],
    )?;
    if changed == 1 {
        super::retry::merge_into_parent(tx, (job, seq))?;
    }
    Ok(changed)
}

impl Store {
    /// Opens (or creates, mode 0600) `jobs.sqlite` in `home`.
    pub fn open(home: &Path) -> Result<Store, Error> {
        std::fs::create_dir_all(home).map_err(|source| Error::Write {
            path: home.to_path_buf(),
            source,
        })?;
        let path = home.join("jobs.sqlite");
        let mut conn = Connection::open(&path).map_err(|e| db_error(&path, e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
        }
        conn.execute_batch(
            // A 16 MB page cache (SQLite's default is 2 MB): a million-request job's updates
            // otherwise re-read their pages from the OS on every change.
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;
             PRAGMA cache_size = -16384;",
        )
        .map_err(|e| db_error(&path, e))?;
        conn.execute_batch(SCHEMA).map_err(|e| db_error(&path, e))?;
        add_columns(&mut conn).map_err(|e| db_error(&path, e))?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
            path,
        })
    }

    fn lock(&self) -> Result<MutexGuard<'_, Connection>, Error> {
        self.conn
            .lock()
            .map_err(|_| Error::Store("the job store lock is poisoned".into()))
    }

    /// Runs `f` on the connection off the async threads. Write transactions begin IMMEDIATE:
    /// one that read first and then had to take the write lock after another process wrote
    /// would fail at once with "database is locked", without the busy timeout's wait
    /// (<https://www.sqlite.org/lang_transaction.html>).
    pub(super) async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, Error> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = store.lock()?;
            f(&mut conn).map_err(|e| db_error(&store.path, e))
        })
        .await
        .map_err(|e| Error::Store(format!("job store task failed: {e}")))?
    }

    /// Records a new job with every valid request of `scan` as pending, in one transaction.
    pub async fn create<Names>(
        &self,
        job: JobRow,
        scan: Arc<Scan>,
        filenames: Names,
    ) -> Result<(), Error>
    where
        Names: IntoIterator<Item = String> + Send + 'static,
    {
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            insert_job(&tx, &job)?;
            {
                let mut f = tx.prepare(
                    "INSERT INTO files (job_id, idx, path, rel, format) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for (i, file) in scan.files.iter().enumerate() {
                    f.execute(params![
                        job.id,
                        i as i64,
                        file.path.to_string_lossy(),
                        file.rel,
                        file.format.as_str()
                    ])?;
                }
                let mut r = tx.prepare(
                    "INSERT INTO requests (job_id, seq, file_idx, line, byte_offset, len, filename,
                       state, custom_id, inference_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8, ?9)",
                )?;
                for (seq, (req, name)) in scan.requests.iter().zip(filenames).enumerate() {
                    let rel = scan.files.get(req.file as usize).map_or("", |f| f.rel.as_str());
                    let inference_id = match &req.id {
                        Some(id) => fmt::inference_id(id),
                        None => fmt::inference_id(&fmt::line_id(rel, req.line)),
                    };
                    r.execute(params![
                        job.id,
                        seq as i64,
                        req.file,
                        req.line,
                        req.offset as i64,
                        req.len as i64,
                        name,
                        req.id.as_deref(),
                        inference_id
                    ])?;
                }
            }
            tx.commit()
        })
        .await
    }

    /// Takes up to `n` pending requests (lowest first) and marks them `invoking` before any
    /// call is made.
    ///
    /// Through the state index, named: left to itself SQLite walked the job's rows by primary
    /// key past every one already sent, so each claim of a million-request job read the
    /// whole job.
    pub async fn claim(&self, job: &str, n: usize) -> Result<Vec<Claimed>, Error> {
        let job = job.to_string();
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let claimed: Vec<Claimed> = {
                let mut q = tx.prepare(
                    "SELECT seq, file_idx, line, byte_offset, len, filename, attempts, inference_id
                     FROM requests INDEXED BY requests_by_state
                     WHERE job_id = ?1 AND state = 'pending' ORDER BY seq LIMIT ?2",
                )?;
                q.query_map(params![job, n as i64], |row| {
                    Ok(Claimed {
                        seq: row.get(0)?,
                        file_idx: row.get(1)?,
                        line: row.get(2)?,
                        offset: row.get::<_, i64>(3)? as u64,
                        len: row.get::<_, i64>(4)? as u64,
                        filename: row.get(5)?,
                        attempts: row.get(6)?,
                        inference_id: row.get(7)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?
            };
            {
                let mut u = tx.prepare(
                    "UPDATE requests SET state = 'invoking', attempts = attempts + 1 WHERE job_id = ?1 AND seq = ?2",
                )?;
                for c in &claimed {
                    u.execute(params![job, c.seq])?;
                }
            }
            tx.commit()?;
            Ok(claimed)
        })
        .await
    }

    /// Writes a batch of outcomes in one transaction.
    pub async fn record(&self, job: &str, outcomes: Vec<Outcome>) -> Result<(), Error> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let job = job.to_string();
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let now = now_s();
            for o in &outcomes {
                match o {
                    Outcome::Invoked { seq, input_location, output_location, failure_location } => tx.execute(
                        "UPDATE requests SET state = 'invoked', input_location = ?3, output_location = ?4,
                         failure_location = ?5, invoked_at = ?6, error = NULL
                         WHERE job_id = ?1 AND seq = ?2 AND state IN ('pending', 'invoking', 'invoked')",
                        params![job, seq, input_location, output_location, failure_location, now],
                    )?,
                    Outcome::Release { seq } => tx.execute(
                        "UPDATE requests SET state = 'pending', attempts = MAX(attempts - 1, 0)
                         WHERE job_id = ?1 AND seq = ?2 AND state = 'invoking'",
                        params![job, seq],
                    )?,
                    Outcome::Retry { seq, error } => tx.execute(
                        "UPDATE requests SET state = 'pending', error = ?3
                         WHERE job_id = ?1 AND seq = ?2 AND state IN ('pending', 'invoking', 'invoked')",
                        params![job, seq, error],
                    )?,
                    Outcome::Succeeded { seq, result, answer } => {
                        let answer = (result.as_str(), answer.as_deref());
                        ended(&tx, (&job, *seq), RequestState::Succeeded, answer, None)?
                    }
                    Outcome::Failed { seq, error } => {
                        ended(&tx, (&job, *seq), RequestState::Failed, ("", None), Some(error))?
                    }
                    Outcome::Expired { seq, error } => {
                        ended(&tx, (&job, *seq), RequestState::Expired, ("", None), Some(error))?
                    }
                };
            }
            tx.commit()
        })
        .await
    }

    /// Marks a run's start (`submitting`) unless the job ended meanwhile (done, or cancelled by
    /// another process); false then.
    pub async fn begin_run(&self, job: &str) -> Result<bool, Error> {
        let job = job.to_string();
        self.with(move |conn| {
            conn.execute(
                "UPDATE jobs SET state = 'submitting', note = NULL
                 WHERE id = ?1 AND state NOT IN ('done', 'cancelled')",
                params![job],
            )
            .map(|n| n == 1)
        })
        .await
    }

    /// Takes job `job`'s lease for `token` unless a live holder has it: `None` when taken,
    /// else the holder (see [`super::lease`]). One transaction, so two takers cannot both win.
    pub async fn take_lease(
        &self,
        job: &str,
        token: &str,
        me: Holder,
        now: i64,
    ) -> Result<Option<Holder>, Error> {
        let (job, token) = (job.to_string(), token.to_string());
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let held = tx
                .query_row(
                    "SELECT pid, host, since, heartbeat FROM leases WHERE job_id = ?1",
                    params![job],
                    |r| {
                        Ok(Holder {
                            pid: r.get(0)?,
                            host: r.get(1)?,
                            since: r.get::<_, i64>(2)? as f64,
                            heartbeat: r.get::<_, i64>(3)? as f64,
                        })
                    },
                )
                .optional()?;
            // A lease of this very process is left over from a run that ended without releasing
            // it: runs within one process are kept apart by the engine before they get here.
            let mine = |h: &Holder| h.pid == me.pid && h.host == me.host;
            if let Some(holder) = held.filter(|h| !h.lapsed(now) && !mine(h)) {
                return Ok(Some(holder));
            }
            tx.execute(
                "INSERT OR REPLACE INTO leases (job_id, token, pid, host, since, heartbeat)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                params![job, token, me.pid, me.host, now],
            )?;
            tx.commit()?;
            Ok(None)
        })
        .await
    }

    /// Renews `token`'s lease on `job`; false when another process holds it now.
    pub async fn renew_lease(&self, job: &str, token: &str) -> Result<bool, Error> {
        let (job, token) = (job.to_string(), token.to_string());
        self.with(move |conn| {
            conn.execute(
                "UPDATE leases SET heartbeat = ?3 WHERE job_id = ?1 AND token = ?2",
                params![job, token, now_s()],
            )
            .map(|n| n == 1)
        })
        .await
    }

    /// Gives `token`'s lease on `job` up (blocking: called when a run ends, also on drop).
    pub fn release_lease(&self, job: &str, token: &str) -> Result<(), Error> {
        self.lock()?
            .execute(
                "DELETE FROM leases WHERE job_id = ?1 AND token = ?2",
                params![job, token],
            )
            .map(|_| ())
            .map_err(|e| db_error(&self.path, e))
    }

    /// After a crash: requests caught `invoking` may or may not have been sent; send them again
    /// (their output name is fixed, so a second result overwrites the first).
    pub async fn requeue_in_flight(&self, job: &str) -> Result<u32, Error> {
        let job = job.to_string();
        self.with(move |conn| {
            conn.execute(
                "UPDATE requests SET state = 'pending' WHERE job_id = ?1 AND state = 'invoking'",
                params![job],
            )
            .map(|n| n as u32)
        })
        .await
    }

    /// The job's state as stored (another process may have cancelled it).
    pub async fn state(&self, job: &str) -> Result<Option<JobState>, Error> {
        let job = job.to_string();
        self.with(move |conn| {
            conn.query_row("SELECT state FROM jobs WHERE id = ?1", params![job], |r| {
                r.get::<_, String>(0)
            })
            .optional()
            .map(|s| s.map(|s| JobState::parse(&s)))
        })
        .await
    }

    pub async fn set_state(
        &self,
        job: &str,
        state: JobState,
        note: Option<String>,
    ) -> Result<(), Error> {
        let job = job.to_string();
        self.with(move |conn| {
            let finished = state.is_final().then(now_s);
            conn.execute(
                "UPDATE jobs SET state = ?2, note = ?3, finished_at = COALESCE(?4, finished_at) WHERE id = ?1",
                params![job, state.as_str(), note, finished],
            )
            .map(|_| ())
        })
        .await
    }

    pub async fn job(&self, id: &str) -> Result<Option<JobRow>, Error> {
        let id = id.to_string();
        self.with(move |conn| {
            let row = conn
                .query_row(
                    "SELECT id, endpoint, settings, output_path, failure_path, state, parent_id
                     FROM jobs WHERE id = ?1",
                    params![id],
                    |r| {
                        Ok(JobRow {
                            id: r.get(0)?,
                            endpoint: r.get(1)?,
                            settings: serde_json::from_str(&r.get::<_, String>(2)?)
                                .unwrap_or_default(),
                            output_path: r.get(3)?,
                            failure_path: r.get(4)?,
                            state: JobState::parse(&r.get::<_, String>(5)?),
                            files: Vec::new(),
                            parent: r.get(6)?,
                        })
                    },
                )
                .optional()?;
            let Some(mut row) = row else { return Ok(None) };
            let mut q =
                conn.prepare("SELECT path, rel, format FROM files WHERE job_id = ?1 ORDER BY idx")?;
            row.files = q
                .query_map(params![id], |r| {
                    Ok(JobFile {
                        path: PathBuf::from(r.get::<_, String>(0)?),
                        rel: r.get(1)?,
                        format: InputFormat::parse(
                            &r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                        ),
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(Some(row))
        })
        .await
    }

    /// Requests of `endpoint`'s jobs completed since `since_s` (epoch seconds), counted per
    /// `period_s`: (period start, succeeded, failed), oldest first.
    pub async fn completions(
        &self,
        endpoint: &str,
        since_s: i64,
        period_s: i64,
    ) -> Result<Vec<(i64, u64, u64)>, Error> {
        let endpoint = endpoint.to_string();
        let period = period_s.max(1);
        self.with(move |c| {
            let mut q = c.prepare(
                "SELECT (r.completed_at / ?3) * ?3 AS at,
                        SUM(r.state = 'succeeded'), SUM(r.state = 'failed')
                 FROM requests r JOIN jobs j ON j.id = r.job_id
                 WHERE j.endpoint = ?1 AND r.completed_at >= ?2
                 GROUP BY at ORDER BY at",
            )?;
            q.query_map(params![endpoint, since_s, period], |r| {
                Ok((
                    r.get(0)?,
                    r.get::<_, i64>(1)? as u64,
                    r.get::<_, i64>(2)? as u64,
                ))
            })?
            .collect()
        })
        .await
    }

    /// One job with its counts.
    pub async fn summary(&self, id: &str) -> Result<Option<JobSummary>, Error> {
        Ok(self
            .summaries(Some(id.to_string()))
            .await?
            .into_iter()
            .next())
    }

    /// `previous` with its request counts brought up to date from the state index alone, not
    /// every row (a running job's frequent progress, at a million requests); its other
    /// figures (retries, first and last result, top error) stay as they were.
    pub async fn recount(&self, previous: JobSummary) -> Result<JobSummary, Error> {
        self.with(move |conn| {
            let mut q = conn.prepare_cached(
                "SELECT state, COUNT(*) FROM requests WHERE job_id = ?1 GROUP BY state",
            )?;
            let counts = q
                .query_map(params![previous.id], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u32))
                })?
                .collect::<rusqlite::Result<Vec<(String, u32)>>>()?;
            let mut s = previous;
            (
                s.pending,
                s.invoked,
                s.succeeded,
                s.failed,
                s.expired,
                s.cancelled,
            ) = (0, 0, 0, 0, 0, 0);
            for (state, n) in counts {
                match state.as_str() {
                    "pending" | "invoking" => s.pending += n,
                    "invoked" => s.invoked = n,
                    "succeeded" => s.succeeded = n,
                    "failed" => s.failed = n,
                    "expired" => s.expired = n,
                    "cancelled" => s.cancelled = n,
                    _ => {}
                }
            }
            Ok(s)
        })
        .await
    }

    /// Every job, newest first, with its counts.
    pub async fn jobs(&self) -> Result<Vec<JobSummary>, Error> {
        self.summaries(None).await
    }

    async fn summaries(&self, id: Option<String>) -> Result<Vec<JobSummary>, Error> {
        self.with(move |conn| {
            let mut q = conn.prepare(
                "SELECT j.id, j.endpoint, j.created_at, j.finished_at, j.state, j.note,
                    COUNT(r.seq),
                    SUM(r.state = 'pending'), SUM(r.state = 'invoking'), SUM(r.state = 'invoked'),
                    SUM(r.state = 'succeeded'), SUM(r.state = 'failed'), SUM(r.attempts > 1),
                    SUM(r.state = 'expired'), SUM(r.state = 'cancelled'), j.parent_id, j.cancel,
                    MIN(r.completed_at), MAX(r.completed_at)
                 FROM jobs j LEFT JOIN requests r ON r.job_id = j.id
                 WHERE ?1 IS NULL OR j.id = ?1
                 GROUP BY j.id ORDER BY j.created_at DESC, j.id DESC",
            )?;
            let mut jobs = q
                .query_map(params![id], |r| {
                    let n = |i: usize| -> rusqlite::Result<u32> {
                        Ok(r.get::<_, Option<i64>>(i)?.unwrap_or(0) as u32)
                    };
                    Ok(JobSummary {
                        id: r.get(0)?,
                        endpoint: r.get(1)?,
                        created_at: r.get::<_, i64>(2)? as f64,
                        finished_at: r.get::<_, Option<i64>>(3)?.map(|t| t as f64),
                        state: JobState::parse(&r.get::<_, String>(4)?),
                        note: r.get(5)?,
                        total: n(6)?,
                        pending: n(7)? + n(8)?,
                        invoked: n(9)?,
                        succeeded: n(10)?,
                        failed: n(11)?,
                        retried: n(12)?,
                        expired: n(13)?,
                        cancelled: n(14)?,
                        parent: r.get(15)?,
                        cancel: r
                            .get::<_, Option<String>>(16)?
                            .as_deref()
                            .and_then(CancelMode::parse),
                        top_error: None,
                        first_result_at: r.get::<_, Option<i64>>(17)?.map(|t| t as f64),
                        last_result_at: r.get::<_, Option<i64>>(18)?.map(|t| t as f64),
                        headline: String::new(),
                    })
                })?
                .collect::<rusqlite::Result<Vec<JobSummary>>>()?;
            for job in &mut jobs {
                if job.failed + job.expired > 0 {
                    job.top_error = top_error(conn, &job.id)?;
                }
                job.headline = job.describe();
            }
            Ok(jobs)
        })
        .await
    }

    /// Up to `limit` invoked requests still waiting, from request position `from` on, in
    /// position order: a collector's window, so that a pass over a million-request job reads
    /// a few thousand rows, not every one still waiting.
    pub async fn waiting_from(
        &self,
        job: &str,
        from: i64,
        limit: u32,
    ) -> Result<Vec<Waiting>, Error> {
        let job = job.to_string();
        self.with(move |conn| {
            let mut q = conn.prepare_cached(
                "SELECT seq, filename, output_location, failure_location, COALESCE(invoked_at, 0) FROM requests
                 WHERE job_id = ?1 AND state = 'invoked' AND seq >= ?2 ORDER BY seq LIMIT ?3",
            )?;
            q.query_map(params![job, from, limit], |r| {
                Ok(Waiting {
                    seq: r.get(0)?,
                    filename: r.get(1)?,
                    output: r.get(2)?,
                    failure: r.get(3)?,
                    invoked_at: r.get(4)?,
                })
            })?
            .collect()
        })
        .await
    }

    /// Whether any invoked request of `job` still waits for its result (one index probe).
    pub async fn any_waiting(&self, job: &str) -> Result<bool, Error> {
        let job = job.to_string();
        self.with(move |conn| {
            conn.prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM requests WHERE job_id = ?1 AND state = 'invoked')",
            )?
            .query_row(params![job], |r| r.get(0))
        })
        .await
    }

    /// How many requests match a results filter (for the table's length).
    pub async fn count(
        &self,
        job: &str,
        state: Option<RequestState>,
        search: Option<String>,
    ) -> Result<u32, Error> {
        let job = job.to_string();
        // Without a search the count comes from the state index alone, not every row; with no
        // filter at all, from the last seq (seqs are dense from 0, as `results` pages by them):
        // the table asks with every page, and counting a million rows took 30 ms a page.
        let sql = match (&state, &search) {
            (None, None) => "SELECT COALESCE(MAX(seq) + 1, 0) FROM requests
                 WHERE job_id = ?1 AND ?2 IS NULL AND ?3 IS NULL"
                .into(),
            (Some(_), None) => {
                "SELECT COUNT(*) FROM requests WHERE job_id = ?1 AND state = ?2 AND ?3 IS NULL"
                    .into()
            }
            (_, Some(_)) => format!("SELECT COUNT(*) {RESULTS_FROM}"),
        };
        self.with(move |conn| {
            conn.query_row(
                &sql,
                params![
                    job,
                    state.map(|s| s.as_str()),
                    search.map(|s| format!("%{s}%"))
                ],
                |r| r.get(0),
            )
        })
        .await
    }

    /// Where request `seq`'s input is: (file, byte offset, length).
    pub async fn input_span(
        &self,
        job: &str,
        seq: u32,
    ) -> Result<Option<(PathBuf, u64, u64)>, Error> {
        let job = job.to_string();
        self.with(move |conn| {
            conn.query_row(
                "SELECT f.path, r.byte_offset, r.len FROM requests r
                 JOIN files f ON f.job_id = r.job_id AND f.idx = r.file_idx
                 WHERE r.job_id = ?1 AND r.seq = ?2",
                params![job, seq],
                |r| {
                    Ok((
                        PathBuf::from(r.get::<_, String>(0)?),
                        r.get::<_, i64>(1)? as u64,
                        r.get::<_, i64>(2)? as u64,
                    ))
                },
            )
            .optional()
        })
        .await
    }

    /// Up to `limit` results in input order from seq `from_seq` on, with where each input is:
    /// (file index, byte offset, length). A keyset page (`seq >= from_seq` on the primary key),
    /// not an OFFSET, so paging through a million rows stays linear.
    pub async fn results_with_input_spans(
        &self,
        job: &str,
        (from_seq, limit): (u32, u32),
    ) -> Result<Vec<(RequestRow, (u32, u64, u64))>, Error> {
        let job = job.to_string();
        self.with(move |conn| {
            let mut q = conn.prepare(&format!(
                "SELECT {ROW_COLUMNS}, r.file_idx, r.byte_offset, r.len
                     FROM requests r JOIN files f ON f.job_id = r.job_id AND f.idx = r.file_idx
                     WHERE r.job_id = ?1 AND r.seq >= ?3 ORDER BY r.seq LIMIT ?2"
            ))?;
            q.query_map(params![job, limit, from_seq], |r| {
                let at = |i: usize| ROW_WIDTH + i;
                Ok((
                    request_row(r)?,
                    (
                        r.get(at(0))?,
                        r.get::<_, i64>(at(1))? as u64,
                        r.get::<_, i64>(at(2))? as u64,
                    ),
                ))
            })?
            .collect()
        })
        .await
    }

    /// Results in input order; `state` filters, `search` matches file, result or error text.
    pub async fn results(
        &self,
        job: &str,
        state: Option<RequestState>,
        search: Option<String>,
        (offset, limit): (u32, u32),
    ) -> Result<Vec<RequestRow>, Error> {
        let job = job.to_string();
        self.with(move |conn| {
            let columns = format!("SELECT {ROW_COLUMNS}");
            const JOINED: &str =
                "FROM requests r JOIN files f ON f.job_id = r.job_id AND f.idx = r.file_idx";
            // A page deep in a large job is found without walking the rows before it: seqs are
            // dense, and a state's seqs are in a covering index. Search still reads every row.
            let sql = match (&state, &search) {
                (None, None) => format!(
                    "{columns} {JOINED} WHERE r.job_id = ?1 AND ?2 IS NULL AND ?3 IS NULL
                     AND r.seq >= ?5 ORDER BY r.seq LIMIT ?4"
                ),
                (Some(_), None) => format!(
                    "{columns} {JOINED} WHERE r.job_id = ?1 AND ?3 IS NULL AND r.seq IN (
                       SELECT seq FROM requests WHERE job_id = ?1 AND state = ?2
                       ORDER BY seq LIMIT ?4 OFFSET ?5)
                     ORDER BY r.seq"
                ),
                (_, Some(_)) => {
                    format!("{columns} {RESULTS_FROM} ORDER BY r.seq LIMIT ?4 OFFSET ?5")
                }
            };
            let mut q = conn.prepare(&sql)?;
            let pattern = search.map(|s| format!("%{s}%"));
            q.query_map(
                params![job, state.map(|s| s.as_str()), pattern, limit, offset],
                request_row,
            )?
            .collect()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATES: [RequestState; 4] = [
        RequestState::Succeeded,
        RequestState::Failed,
        RequestState::Invoked,
        RequestState::Pending,
    ];

    /// A job of `n` requests over three files, states cycling, results naming their seq.
    async fn store_with_job(dir: &Path, n: u32) -> Store {
        let store = Store::open(dir).expect("open");
        store
            .with(move |conn| {
                let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                for (i, rel) in ["a.jsonl", "b.jsonl", "c.jsonl"].iter().enumerate() {
                    tx.execute(
                        "INSERT INTO files (job_id, idx, path, rel) VALUES ('j', ?1, ?2, ?2)",
                        params![i as i64, rel],
                    )?;
                }
                for seq in 0..n {
                    let file = seq * 3 / n;
                    let state = STATES[(seq % 7 % 4) as usize];
                    tx.execute(
                        "INSERT INTO requests (job_id, seq, file_idx, line, byte_offset, len, filename,
                           state, result) VALUES ('j', ?1, ?2, ?1, 0, 1, ?1, ?3, ?4)",
                        params![seq, file, state.as_str(), format!("answer {seq}")],
                    )?;
                }
                tx.commit()
            })
            .await
            .expect("fill");
        store
    }

    /// A job without requests, and a job that is not there, count none (not one past a seq).
    #[tokio::test]
    async fn an_empty_job_counts_no_results() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store_with_job(dir.path(), 0).await;
        assert_eq!(store.count("j", None, None).await.expect("count"), 0);
        assert_eq!(store.count("nope", None, None).await.expect("count"), 0);
    }

    /// Every page of every filter is the input-ordered filtered list, cut at the same place.
    #[tokio::test]
    async fn results_pages_match_the_filtered_input_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let n = 1000;
        let store = store_with_job(dir.path(), n).await;
        let all = store.results("j", None, None, (0, n)).await.expect("all");
        assert_eq!(all.len(), n as usize);
        assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
        let filters = [
            (None, None),
            (Some(RequestState::Failed), None),
            (Some(RequestState::Pending), None),
            (None, Some("b.jsonl".to_string())),
            (Some(RequestState::Succeeded), Some("answer 9".to_string())),
        ];
        for (state, search) in filters {
            let wanted: Vec<u32> = all
                .iter()
                .filter(|r| state.is_none_or(|s| r.state == s))
                .filter(|r| {
                    search.as_ref().is_none_or(|s| {
                        r.file.contains(s.as_str())
                            || r.result.as_deref().is_some_and(|t| t.contains(s.as_str()))
                    })
                })
                .map(|r| r.seq)
                .collect();
            let count = store
                .count("j", state, search.clone())
                .await
                .expect("count");
            assert_eq!(count as usize, wanted.len(), "{state:?} {search:?}");
            for (offset, limit) in [(0, 50), (37, 50), (200, 200), (990, 50), (5000, 10)] {
                let page = store
                    .results("j", state, search.clone(), (offset, limit))
                    .await
                    .expect("page");
                let got: Vec<u32> = page.iter().map(|r| r.seq).collect();
                let expected: Vec<u32> = wanted
                    .iter()
                    .skip(offset as usize)
                    .take(limit as usize)
                    .copied()
                    .collect();
                assert_eq!(got, expected, "{state:?} {search:?} at {offset}+{limit}");
            }
        }
    }
}
