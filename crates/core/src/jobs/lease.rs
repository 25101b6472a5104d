//! One runner per job across processes. The app resumes every unfinished job when it opens, and
//! a run starts by sending again what was in flight, so two processes on one job would send it
//! twice and undo each other's work. A run therefore holds a lease in the job store (process,
//! computer, heartbeat); another process refuses, or (the app) follows the job until the lease
//! lapses: no heartbeat for [`LEASE_FOR`], or the holder was a process of this computer that no
//! longer exists.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::JobControl;
use super::store::Store;
use crate::error::Error;

/// A lease not renewed for this long has lapsed and may be taken over.
pub const LEASE_FOR: Duration = Duration::from_secs(30);
/// How often a running job renews its lease.
const RENEW_EVERY: Duration = Duration::from_secs(5);

/// Who holds a job's lease.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Holder {
    /// Process id on `host`.
    pub pid: u32,
    /// The computer's host name.
    pub host: String,
    /// Epoch seconds when the run took the lease.
    pub since: f64,
    /// Epoch seconds of its last renewal.
    pub heartbeat: f64,
}

impl Holder {
    fn me(now: i64) -> Holder {
        Holder {
            pid: std::process::id(),
            host: host_name(),
            since: now as f64,
            heartbeat: now as f64,
        }
    }

    /// True when the holder stopped renewing, or was a process of this computer that is gone.
    pub fn lapsed(&self, now: i64) -> bool {
        let silent = now as f64 - self.heartbeat;
        silent > LEASE_FOR.as_secs_f64() || (self.host == host_name() && !process_exists(self.pid))
    }

    /// "process 42 on laptop (running for 3 min, last heard from 2 s ago)".
    pub fn describe(&self, now: i64) -> String {
        let ago = |t: f64| span((now as f64 - t).max(0.0) as u64);
        format!(
            "process {} on {} (running for {}, last heard from {} ago)",
            self.pid,
            self.host,
            ago(self.since),
            ago(self.heartbeat)
        )
    }
}

fn span(s: u64) -> String {
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        _ => format!("{} h", s / 3600),
    }
}

/// This computer's name (Linux), else a neutral word; only compared and shown.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "this computer".into())
}

/// Whether process `pid` of this computer is alive. Linux lists processes in /proc (a killed
/// process not yet reaped shows as a zombie, `Z`); without /proc the heartbeat alone decides.
fn process_exists(pid: u32) -> bool {
    let proc = std::path::Path::new("/proc");
    if !proc.join("self").exists() {
        return true;
    }
    match std::fs::read_to_string(proc.join(pid.to_string()).join("stat")) {
        // The state follows the command name, which is in parentheses and may hold spaces.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_none_or(|state| !matches!(state, 'Z' | 'X')),
        Err(_) => false,
    }
}

/// A job's lease, held for as long as this value lives; dropping it releases the lease.
pub struct Lease {
    store: Store,
    job: String,
    token: String,
}

impl Lease {
    /// Takes job `job`'s lease, or takes over a lapsed one.
    ///
    /// # Errors
    /// [`Error::JobRunningElsewhere`] naming the live holder; store errors.
    pub async fn take(store: &Store, job: &str) -> Result<Lease, Error> {
        let now = crate::deploy::now_s();
        let me = Holder::me(now);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let token = format!("{}:{}:{now}.{nanos}", me.host, me.pid);
        match store.take_lease(job, &token, me, now).await? {
            None => Ok(Lease {
                store: store.clone(),
                job: job.to_string(),
                token,
            }),
            Some(holder) => Err(Error::JobRunningElsewhere {
                job: job.to_string(),
                holder: holder.describe(now),
            }),
        }
    }

    /// Renews the lease every few seconds; returns only if another process took it over (this
    /// one stalled past [`LEASE_FOR`]), after pausing the run so it stops sending.
    pub async fn keep(&self, control: &JobControl) {
        loop {
            tokio::time::sleep(RENEW_EVERY).await;
            match self.store.renew_lease(&self.job, &self.token).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::error!(
                        job = self.job,
                        "another process took this job over; this run stops sending"
                    );
                    control.lose_lease();
                    return;
                }
                // A busy or failing store is retried; the lease lapses only after LEASE_FOR.
                Err(e) => tracing::warn!(job = self.job, "could not renew the job's lease: {e}"),
            }
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Err(e) = self.store.release_lease(&self.job, &self.token) {
            tracing::warn!(job = self.job, "could not release the job's lease: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_lease_per_job_until_it_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // Another live process of this computer (pid 1 always exists) holds j1.
        let now = crate::deploy::now_s();
        let other = Holder {
            pid: 1,
            ..Holder::me(now)
        };
        assert!(
            store
                .take_lease("j1", "other", other, now)
                .await
                .unwrap()
                .is_none()
        );
        let refused = Lease::take(&store, "j1").await.err();
        let said = refused.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            said.starts_with("job j1 is already running in process 1 "),
            "{said}"
        );
        let held = Lease::take(&store, "j2").await.unwrap();
        // Released when dropped: another process may take it.
        drop(held);
        let again = Holder {
            pid: 1,
            ..Holder::me(now)
        };
        assert!(
            store
                .take_lease("j2", "other", again, now)
                .await
                .unwrap()
                .is_none()
        );
        store.release_lease("j1", "other").unwrap();
        assert!(Lease::take(&store, "j1").await.is_ok());
    }

    #[test]
    fn a_lease_lapses_without_heartbeat_or_when_its_process_is_gone() {
        let now = 1_000_000;
        let me = Holder::me(now);
        assert!(!me.lapsed(now + 29));
        assert!(me.lapsed(now + 31));
        let gone = Holder {
            pid: u32::MAX - 1,
            ..me.clone()
        };
        assert!(gone.lapsed(now));
        let elsewhere = Holder {
            host: format!("{}-other", me.host),
            ..gone
        };
        assert!(!elsewhere.lapsed(now + 5));
        assert_eq!(
            me.describe(now + 130),
            format!(
                "process {} on {} (running for 2 min, last heard from 2 min ago)",
                me.pid, me.host
            )
        );
    }
}
