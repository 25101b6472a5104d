//! Cancelling a job honestly. A request SageMaker queued cannot be taken back and its GPU time
//! is paid for, so a cancel stops sending at once and by default keeps collecting what was
//! sent; with `discard` it stops collecting too, and those results are left in S3.

use rusqlite::params;

use super::store::Store;
use super::{CancelMode, JobState};
use crate::error::Error;

/// The job's state and note once its cancel is settled as far as it can be now.
fn settled(mode: CancelMode, in_flight: i64) -> (JobState, String) {
    match mode {
        CancelMode::Discard => (
            JobState::Cancelled,
            "cancelled: nothing more is sent, and results of requests already sent are not collected (they are left in S3)".into(),
        ),
        CancelMode::Keep if in_flight == 0 => (
            JobState::Cancelled,
            "cancelled: requests not yet sent were not sent; those sent were collected".into(),
        ),
        CancelMode::Keep => (
            JobState::Collecting,
            format!(
                "cancelled: nothing more is sent; collecting the {in_flight} requests already sent"
            ),
        ),
    }
}

impl Store {
    /// Marks job `job` cancelled with `mode` (a discard overrides an earlier keep), and its
    /// requests not sent (with `Discard`, also those sent and not collected) `cancelled`. The
    /// job is `cancelled` once nothing it sent is left to collect, else `collecting`: a run of
    /// it, here or in another process, sees the mark, sends nothing more and collects the rest.
    /// Called again when a run ends, for requests it claimed and put back.
    pub async fn settle_cancel(&self, job: &str, mode: Option<CancelMode>) -> Result<(), Error> {
        let job = job.to_string();
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            // A job that ended meanwhile (done, or cancelled already) is left as it ended.
            let state: String =
                tx.query_row("SELECT state FROM jobs WHERE id = ?1", params![job], |r| r.get(0))?;
            if JobState::parse(&state).is_final() {
                return Ok(());
            }
            if let Some(mode) = mode {
                tx.execute(
                    "UPDATE jobs SET cancel = ?2 WHERE id = ?1 AND COALESCE(cancel, '') <> 'discard'",
                    params![job, mode.as_str()],
                )?;
            }
            let mode: Option<String> =
                tx.query_row("SELECT cancel FROM jobs WHERE id = ?1", params![job], |r| r.get(0))?;
            let Some(mode) = mode.as_deref().and_then(CancelMode::parse) else {
                return Ok(());
            };
            let dropped = match mode {
                CancelMode::Keep => "('pending')",
                CancelMode::Discard => "('pending', 'invoked')",
            };
            tx.execute(
                &format!("UPDATE requests SET state = 'cancelled' WHERE job_id = ?1 AND state IN {dropped}"),
                params![job],
            )?;
            let in_flight: i64 = tx.query_row(
                "SELECT COUNT(*) FROM requests WHERE job_id = ?1 AND state IN ('invoking', 'invoked')",
                params![job],
                |r| r.get(0),
            )?;
            let (state, note) = settled(mode, in_flight);
            let finished = state.is_final().then(crate::deploy::now_s);
            tx.execute(
                "UPDATE jobs SET state = ?2, note = ?3, finished_at = COALESCE(finished_at, ?4)
                 WHERE id = ?1",
                params![job, state.as_str(), note, finished],
            )?;
            tx.commit()
        })
        .await
    }

    /// How job `job` was cancelled, if it was.
    pub async fn cancel_mode(&self, job: &str) -> Result<Option<CancelMode>, Error> {
        let job = job.to_string();
        self.with(move |conn| {
            let mode: Option<Option<String>> = rusqlite::OptionalExtension::optional(
                conn.query_row("SELECT cancel FROM jobs WHERE id = ?1", params![job], |r| {
                    r.get(0)
                }),
            )?;
            Ok(mode.flatten().as_deref().and_then(CancelMode::parse))
        })
        .await
    }
}
