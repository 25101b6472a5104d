//! Where one request is, found by its id or `InferenceId` in any job: the per-request status
//! SageMaker's async API does not have.

use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::RequestState;
use super::retry::Try;
use super::store::Store;
use crate::error::Error;

/// One request's status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RequestStatus {
    pub job: String,
    pub endpoint: String,
    /// The line's id (its own, or `file:line`).
    pub id: String,
    pub inference_id: Option<String>,
    pub file: String,
    pub line: u32,
    pub seq: u32,
    pub state: RequestState,
    pub attempts: u32,
    /// When SageMaker accepted it, seconds since the epoch.
    pub invoked_at: Option<f64>,
    /// When its output or failure was seen.
    pub completed_at: Option<f64>,
    pub output_location: Option<String>,
    pub failure_location: Option<String>,
    pub result: Option<String>,
    pub error: Option<String>,
    /// Answers it had before a retry replaced them, oldest first.
    pub tries: Vec<Try>,
}

impl RequestStatus {
    /// Where it is, in one sentence: "not sent", "queued since …", "succeeded: s3://…", …
    pub fn sentence(&self) -> String {
        let at = |t: Option<f64>| t.map(super::utc_text).unwrap_or_default();
        match self.state {
            RequestState::Pending | RequestState::Invoking => "not sent yet".into(),
            RequestState::Invoked => {
                format!("queued at the endpoint since {}", at(self.invoked_at))
            }
            RequestState::Succeeded => format!(
                "succeeded at {}; output at {}",
                at(self.completed_at),
                self.output_location.as_deref().unwrap_or("(unknown)")
            ),
            RequestState::Failed | RequestState::Expired => format!(
                "{} at {}: {}{}",
                self.state.as_str(),
                at(self.completed_at),
                super::error_message(self.error.as_deref().unwrap_or("no reason given")),
                self.failure_location
                    .as_deref()
                    .filter(|_| self.state == RequestState::Failed)
                    .map(|l| format!(" (failure at {l})"))
                    .unwrap_or_default()
            ),
            RequestState::Cancelled => "cancelled with its job".into(),
        }
    }
}

/// Requests by their id or InferenceId (indexed).
const BY_ID: &str = "(r.inference_id IN (?1, ?2) OR r.custom_id = ?1)";
/// Requests of jobs made before ids were kept, by `file:line` or `<job>-<seq>` (a full scan of
/// those rows, done only when nothing matched [`BY_ID`]).
const BY_PLACE: &str = "r.inference_id IS NULL AND ?2 IS NOT NULL
    AND (f.rel || ':' || r.line = ?1 OR r.job_id || '-' || r.seq = ?1)";

impl Store {
    /// Every request whose id or `InferenceId` is `id`, newest job first. A `file:line` id
    /// matches lines without an id of their own.
    pub async fn find_requests(&self, id: &str) -> Result<Vec<RequestStatus>, Error> {
        let mut found = self.requests_where(id, BY_ID).await?;
        if found.is_empty() {
            // Jobs made before ids were kept: by `file:line`, or the `<job>-<seq>` they sent.
            found = self.requests_where(id, BY_PLACE).await?;
        }
        for status in &mut found {
            status.tries = self.tries(&status.job, status.seq).await?;
        }
        Ok(found)
    }

    /// Requests matching `filter` (?1 the id, ?2 its InferenceId), newest job first.
    async fn requests_where(
        &self,
        id: &str,
        filter: &'static str,
    ) -> Result<Vec<RequestStatus>, Error> {
        let id = id.to_string();
        self.with(move |conn| {
            let mut q = conn.prepare(&format!(
                "SELECT r.job_id, j.endpoint, r.custom_id, r.inference_id, f.rel, r.line, r.seq,
                        r.state, r.attempts, r.invoked_at, r.completed_at, r.output_location,
                        r.failure_location, r.result, r.error
                     FROM requests r JOIN jobs j ON j.id = r.job_id
                     JOIN files f ON f.job_id = r.job_id AND f.idx = r.file_idx
                     WHERE {filter}
                       AND (j.parent_id IS NULL OR r.state IN ('pending', 'invoking', 'invoked'))
                     ORDER BY j.created_at DESC, j.id DESC"
            ))?;
            let hashed = super::format::inference_id(&id);
            q.query_map(params![id, hashed], |r| {
                let file: String = r.get(4)?;
                let line: u32 = r.get(5)?;
                Ok(RequestStatus {
                    job: r.get(0)?,
                    endpoint: r.get(1)?,
                    id: r
                        .get::<_, Option<String>>(2)?
                        .unwrap_or_else(|| super::format::line_id(&file, line)),
                    inference_id: r.get(3)?,
                    file,
                    line,
                    seq: r.get(6)?,
                    state: RequestState::parse(&r.get::<_, String>(7)?),
                    attempts: r.get(8)?,
                    invoked_at: r.get::<_, Option<i64>>(9)?.map(|t| t as f64),
                    completed_at: r.get::<_, Option<i64>>(10)?.map(|t| t as f64),
                    output_location: r.get(11)?,
                    failure_location: r.get(12)?,
                    result: r.get(13)?,
                    error: r.get(14)?,
                    tries: Vec::new(),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .await
    }
}
