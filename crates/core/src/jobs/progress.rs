//! Progress and stopping for the long file work around a job: scanning the input folder,
//! exporting the results, writing the result files. At a million lines each takes a while, so
//! the shells show how far it is and let the user stop it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// How often progress is reported at most (the last report is always made).
pub const REPORT_EVERY: Duration = Duration::from_millis(100);
/// Units between two looks at the clock and the stop flag: cheap enough per line, often
/// enough that a stop is felt at once.
const CHECK_EVERY: u32 = 256;

/// Which long work a [`WorkProgress`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum WorkKind {
    /// Reading and checking the input files (`done`/`total` in bytes).
    Scan,
    /// Writing a job's results to one JSONL or CSV file (`done`/`total` in rows).
    Export,
    /// Writing the result files, `errors.jsonl` and `manifest.json` (`done`/`total` in rows).
    WriteFiles,
}

/// How far a scan, export or result-file writing has come.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct WorkProgress {
    pub kind: WorkKind,
    /// Done so far: bytes read for a scan, rows written for an export or result files.
    pub done: f64,
    /// All there is to do, in the unit of `done` (bytes or rows).
    pub total: f64,
    /// Input files read completely (a scan), or 0 while writing.
    pub files_done: u32,
    /// Input files to read (a scan), or the job's input files (writing).
    pub files_total: u32,
    /// Seconds since the work began.
    pub elapsed_s: f64,
    /// `done` per second so far (bytes/s or rows/s); 0 before any is done.
    pub rate_per_s: f64,
    /// Seconds left at that rate; None until the rate is known.
    pub eta_s: Option<f64>,
}

impl WorkProgress {
    /// Whether `done` counts bytes (a scan) rather than rows.
    pub fn in_bytes(&self) -> bool {
        self.kind == WorkKind::Scan
    }
}

/// A callback for progress reports.
pub type ProgressFn = dyn Fn(&WorkProgress) + Send + Sync;

/// What a long file operation reports to and is stopped by; [`Watch::none`] for callers that
/// do not care.
#[derive(Clone)]
pub struct Watch {
    pub progress: Arc<ProgressFn>,
    /// Set (by Ctrl-C, a Cancel button) to stop the work: it ends with [`Error::Stopped`].
    pub cancel: Arc<AtomicBool>,
}

impl Watch {
    pub fn new(progress: Arc<ProgressFn>, cancel: Arc<AtomicBool>) -> Watch {
        Watch { progress, cancel }
    }

    /// No reports, never stopped.
    pub fn none() -> Watch {
        Watch::new(
            Arc::new(|_: &WorkProgress| {}),
            Arc::new(AtomicBool::new(false)),
        )
    }
}

/// Counts work done and reports it every [`REPORT_EVERY`]; notices a stop.
pub(crate) struct Ticker {
    watch: Watch,
    state: WorkProgress,
    started: Instant,
    last_report: Instant,
    since_check: u32,
    stopped: bool,
}

impl Ticker {
    pub(crate) fn new(watch: Watch, kind: WorkKind, total: f64, files_total: u32) -> Ticker {
        let now = Instant::now();
        let state = WorkProgress {
            kind,
            done: 0.0,
            total,
            files_done: 0,
            files_total,
            elapsed_s: 0.0,
            rate_per_s: 0.0,
            eta_s: None,
        };
        let ticker = Ticker {
            watch,
            state,
            started: now,
            last_report: now,
            since_check: 0,
            stopped: false,
        };
        (ticker.watch.progress)(&ticker.state);
        ticker
    }

    /// Records that `done` units are done in all; returns false once the user asked to stop.
    pub(crate) fn advance(&mut self, done: f64) -> bool {
        self.state.done = done;
        self.since_check += 1;
        if self.since_check >= CHECK_EVERY {
            self.since_check = 0;
            self.check();
        }
        !self.stopped
    }

    /// Records a file read completely (and reports, and looks at the stop flag).
    pub(crate) fn file_done(&mut self) -> bool {
        self.state.files_done += 1;
        self.check();
        !self.stopped
    }

    /// Whether the user asked to stop (seen at the last check).
    pub(crate) fn stopped(&self) -> bool {
        self.stopped
    }

    /// Reports where the work ended (the whole total when it ran to its end).
    pub(crate) fn finish(&mut self) {
        self.report(Instant::now());
    }

    fn check(&mut self) {
        if self.watch.cancel.load(Ordering::Relaxed) {
            self.stopped = true;
        }
        let now = Instant::now();
        if now.duration_since(self.last_report) >= REPORT_EVERY {
            self.report(now);
        }
    }

    fn report(&mut self, now: Instant) {
        self.last_report = now;
        let s = &mut self.state;
        s.elapsed_s = now.duration_since(self.started).as_secs_f64();
        s.rate_per_s = if s.elapsed_s > 0.0 {
            s.done / s.elapsed_s
        } else {
            0.0
        };
        s.eta_s = (s.rate_per_s > 0.0).then(|| (s.total - s.done).max(0.0) / s.rate_per_s);
        (self.watch.progress)(&self.state);
    }
}

/// The error for work the user stopped; `what` says what was (not) kept.
pub(crate) fn stopped(what: &str) -> Error {
    Error::Stopped(what.to_string())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[test]
    fn reports_are_monotone_and_end_at_the_total() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let into = seen.clone();
        let watch = Watch::new(
            Arc::new(move |p: &WorkProgress| into.lock().expect("lock").push(p.clone())),
            Arc::new(AtomicBool::new(false)),
        );
        let mut t = Ticker::new(watch, WorkKind::Export, 10_000.0, 1);
        for i in 1..=10_000 {
            assert!(t.advance(f64::from(i)));
        }
        t.finish();
        let seen = seen.lock().expect("lock");
        assert!(seen.len() >= 2, "a first and a last report");
        assert!(seen.windows(2).all(|w| w[0].done <= w[1].done));
        assert_eq!(seen.last().map(|p| p.done), Some(10_000.0));
    }

    #[test]
    fn a_stop_is_seen_within_a_few_hundred_units() {
        let cancel = Arc::new(AtomicBool::new(false));
        let mut t = Ticker::new(
            Watch::new(Arc::new(|_: &WorkProgress| {}), cancel.clone()),
            WorkKind::Scan,
            1e6,
            1,
        );
        assert!(t.advance(1.0));
        cancel.store(true, Ordering::SeqCst);
        let went_on = (0..CHECK_EVERY * 2)
            .take_while(|i| t.advance(f64::from(*i)))
            .count();
        assert!(went_on <= CHECK_EVERY as usize);
        assert!(t.stopped());
    }
}
