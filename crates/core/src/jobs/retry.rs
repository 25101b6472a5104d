//! Retrying what failed: a new job, linked to its parent, with only the parent's failed (and/or
//! expired) lines. As the retry's lines end, the parent's lines take the newest answer, and the
//! answer they replace is kept as a try, so the parent's results, files and manifest show the
//! newest answer per line and each line's history.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::store::{JobRow, Store, insert_job};
use super::{JobState, RequestState};
use crate::error::Error;

/// Which lines a retry sends again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RetryWhich {
    pub failed: bool,
    pub expired: bool,
}

impl RetryWhich {
    fn states(self) -> Vec<&'static str> {
        let mut states = Vec::new();
        if self.failed {
            states.push(RequestState::Failed.as_str());
        }
        if self.expired {
            states.push(RequestState::Expired.as_str());
        }
        states
    }
}

/// One earlier try of a line, replaced by a newer one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Try {
    /// The job that made this try (the parent, or an earlier retry).
    pub job: String,
    pub state: RequestState,
    pub result: Option<String>,
    pub error: Option<String>,
    /// When it was replaced, seconds since the epoch.
    pub replaced_at: f64,
}

/// In a retry job's transaction: request `seq` of `job` just ended; when `job` is a retry, its
/// parent's line takes this answer and the parent's previous answer becomes a try, unless the
/// parent's line has an answer and this one is a failure (then this one is the try).
pub(super) fn merge_into_parent(
    tx: &rusqlite::Transaction<'_>,
    (job, seq): (&str, i64),
) -> rusqlite::Result<()> {
    let link: Option<(String, i64)> = tx
        .query_row(
            "SELECT j.parent_id, r.parent_seq FROM requests r JOIN jobs j ON j.id = r.job_id
             WHERE r.job_id = ?1 AND r.seq = ?2 AND j.parent_id IS NOT NULL
               AND r.parent_seq IS NOT NULL",
            params![job, seq],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((parent, parent_seq)) = link else {
        return Ok(());
    };
    let succeeded = |job: &str, seq: i64| -> rusqlite::Result<bool> {
        tx.query_row(
            "SELECT state = 'succeeded' FROM requests WHERE job_id = ?1 AND seq = ?2",
            params![job, seq],
            |r| r.get(0),
        )
    };
    // A failure never replaces an answer: it is kept as a try of its own.
    if succeeded(&parent, parent_seq)? && !succeeded(job, seq)? {
        tx.execute(
            "INSERT INTO tries (job_id, seq, at, try_job, state, result, error)
             SELECT ?1, ?2, ?3, job_id, state, result, error
             FROM requests WHERE job_id = ?4 AND seq = ?5",
            params![parent, parent_seq, crate::deploy::now_s(), job, seq],
        )?;
        return Ok(());
    }
    tx.execute(
        "INSERT INTO tries (job_id, seq, at, try_job, state, result, error)
         SELECT job_id, seq, ?3, COALESCE(answered_by, job_id), state, result, error
         FROM requests WHERE job_id = ?1 AND seq = ?2",
        params![parent, parent_seq, crate::deploy::now_s()],
    )?;
    tx.execute(
        "UPDATE requests SET (state, result, answer, error, output_location, failure_location,
             completed_at, attempts, answered_by) =
           (SELECT c.state, c.result, c.answer, c.error, c.output_location, c.failure_location,
                   c.completed_at, requests.attempts, c.job_id
            FROM requests c WHERE c.job_id = ?3 AND c.seq = ?4)
         WHERE job_id = ?1 AND seq = ?2",
        params![parent, parent_seq, job, seq],
    )?;
    Ok(())
}

impl Store {
    /// Records `retry` (a new job whose `parent` is the first job) with the lines of job
    /// `source` in the states `which` names, pending, in input order; returns how many. The
    /// source is the first job or an earlier retry of it: either way the lines are the first
    /// job's, and their answers go there. Lines the first job has an answer for, and lines
    /// another retry is still sending or collecting, are left out (no line is paid for twice).
    pub async fn create_retry(
        &self,
        retry: JobRow,
        source: &str,
        which: RetryWhich,
    ) -> Result<u32, Error> {
        let states = which.states();
        let source = source.to_string();
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let parent = source;
            let root = retry.parent.clone().unwrap_or_else(|| parent.clone());
            insert_job(&tx, &retry)?;
            tx.execute(
                "INSERT INTO files (job_id, idx, path, rel, format)
                 SELECT ?1, idx, path, rel, format FROM files WHERE job_id = ?2",
                params![retry.id, parent],
            )?;
            let wanted = states
                .iter()
                .map(|s| format!("'{s}'"))
                .collect::<Vec<_>>()
                .join(", ");
            let added = tx.execute(
                &format!(
                    "INSERT INTO requests (job_id, seq, file_idx, line, byte_offset, len, filename,
                       state, custom_id, inference_id, parent_seq)
                     SELECT ?1, ROW_NUMBER() OVER (ORDER BY seq) - 1, file_idx, line, byte_offset,
                       len, filename, 'pending', custom_id, inference_id, COALESCE(parent_seq, seq)
                     FROM requests s WHERE job_id = ?2 AND state IN ({wanted})
                       AND NOT EXISTS (SELECT 1 FROM requests p WHERE p.job_id = ?3
                         AND p.seq = COALESCE(s.parent_seq, s.seq) AND p.state = 'succeeded')
                       AND NOT EXISTS (SELECT 1 FROM requests c JOIN jobs cj ON cj.id = c.job_id
                         WHERE cj.parent_id = ?3 AND c.parent_seq = COALESCE(s.parent_seq, s.seq)
                           AND c.state IN ('pending', 'invoking', 'invoked'))"
                ),
                params![retry.id, parent, root],
            )?;
            tx.commit()?;
            Ok(added as u32)
        })
        .await
    }

    /// Removes job `job` and its files and requests (a retry that found nothing to send).
    pub async fn delete_job(&self, job: &str) -> Result<(), Error> {
        let job = job.to_string();
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            for table in ["requests", "files"] {
                tx.execute(
                    &format!("DELETE FROM {table} WHERE job_id = ?1"),
                    params![job],
                )?;
            }
            tx.execute("DELETE FROM jobs WHERE id = ?1", params![job])?;
            tx.commit()
        })
        .await
    }

    /// The earlier tries of line `seq` of `job`, oldest first.
    pub async fn tries(&self, job: &str, seq: u32) -> Result<Vec<Try>, Error> {
        let job = job.to_string();
        self.with(move |conn| {
            let mut q = conn.prepare(
                "SELECT try_job, state, result, error, at FROM tries
                 WHERE job_id = ?1 AND seq = ?2 ORDER BY rowid",
            )?;
            q.query_map(params![job, seq], |r| {
                Ok(Try {
                    job: r.get(0)?,
                    state: RequestState::parse(&r.get::<_, String>(1)?),
                    result: r.get(2)?,
                    error: r.get(3)?,
                    replaced_at: r.get::<_, i64>(4)? as f64,
                })
            })?
            .collect()
        })
        .await
    }
}

/// A retry job's row: `parent`'s settings and files, sent to `endpoint`.
pub fn retry_row(
    id: String,
    parent: &JobRow,
    endpoint: &str,
    paths: (String, Option<String>),
) -> JobRow {
    let root = parent.parent.clone().unwrap_or_else(|| parent.id.clone());
    JobRow {
        id,
        endpoint: endpoint.to_string(),
        settings: parent.settings.clone(),
        output_path: paths.0,
        failure_path: paths.1,
        state: JobState::Paused,
        files: Vec::new(),
        parent: Some(root),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::jobs::store::Outcome;
    use crate::jobs::{JobSettings, scan};

    fn row(id: &str, parent: Option<&str>) -> JobRow {
        JobRow {
            id: id.into(),
            endpoint: "e".into(),
            settings: JobSettings::default(),
            output_path: "s3://b/out".into(),
            failure_path: None,
            state: JobState::Paused,
            files: Vec::new(),
            parent: parent.map(str::to_string),
        }
    }

    async fn fail(store: &Store, job: &str, seq: i64, why: &str) {
        let failed = Outcome::Failed {
            seq,
            error: why.into(),
        };
        store.record(job, vec![failed]).await.unwrap();
        store.set_state(job, JobState::Done, None).await.unwrap();
    }

    /// A line fails, its retry fails again, the retry of that retry succeeds: the first job
    /// shows the success, and the line's history names both failures and who made them.
    #[tokio::test]
    async fn a_retry_of_a_retry_answers_the_first_job_and_keeps_each_try() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("a.jsonl");
        std::fs::write(&input, "{\"inputs\": \"x\"}\n{\"inputs\": \"y\"}\n").unwrap();
        let scanned = Arc::new(scan::scan(&[input], scan::ScanOptions::default()));
        let store = Store::open(&dir.path().join("home")).unwrap();
        let names = vec!["0.out".to_string(), "1.out".to_string()];
        store
            .create(row("first", None), scanned, names)
            .await
            .unwrap();
        let ok = Outcome::Succeeded {
            seq: 0,
            result: "fine".into(),
            answer: None,
        };
        store.record("first", vec![ok]).await.unwrap();
        fail(&store, "first", 1, "out of memory").await;
        let which = RetryWhich {
            failed: true,
            expired: false,
        };
        let again = store
            .create_retry(row("second", Some("first")), "first", which)
            .await
            .unwrap();
        assert_eq!(again, 1, "only the failed line");
        fail(&store, "second", 0, "still out of memory").await;
        let third = store
            .create_retry(row("third", Some("first")), "second", which)
            .await
            .unwrap();
        assert_eq!(third, 1);
        // While the third is out, another retry of the same line is refused.
        let twice = store
            .create_retry(row("twice", Some("first")), "first", which)
            .await
            .unwrap();
        assert_eq!(
            twice, 0,
            "a line another retry is sending is not sent twice"
        );
        store.delete_job("twice").await.unwrap();
        let ok = Outcome::Succeeded {
            seq: 0,
            result: "at last".into(),
            answer: None,
        };
        store.record("third", vec![ok]).await.unwrap();

        let first = store.summary("first").await.unwrap().unwrap();
        assert_eq!((first.succeeded, first.failed), (2, 0));
        let rows = store.results("first", None, None, (0, 10)).await.unwrap();
        assert_eq!(rows[1].result.as_deref(), Some("at last"));
        // The line has its answer now: retrying the earlier retry again sends nothing.
        let fourth = store
            .create_retry(row("fourth", Some("first")), "second", which)
            .await
            .unwrap();
        assert_eq!(fourth, 0, "a line with an answer is not paid for again");
        let tries = store.tries("first", 1).await.unwrap();
        let seen: Vec<(&str, RequestState, Option<&str>)> = tries
            .iter()
            .map(|t| (t.job.as_str(), t.state, t.error.as_deref()))
            .collect();
        assert_eq!(
            seen,
            [
                ("first", RequestState::Failed, Some("out of memory")),
                ("second", RequestState::Failed, Some("still out of memory")),
            ]
        );
    }
}
