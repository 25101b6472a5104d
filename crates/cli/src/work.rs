//! The progress line and Ctrl-C for long file work: scanning the inputs, `ebb results --out`
//! and `--out-dir`. Drawn on stderr, in place, only on a terminal and without `--json`, so
//! stdout stays what scripts read.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use std::time::Duration;

use ebb_core::jobs::progress::{Watch, WorkKind, WorkProgress};
use indicatif::{HumanCount, HumanDuration, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The exit status of a command stopped by Ctrl-C (128 + SIGINT, as shells report it).
pub const STOPPED: u8 = 130;

/// A progress line and a stop flag set by Ctrl-C, for one piece of long work. Dropped, it
/// clears the line and stops listening for Ctrl-C.
pub struct Work {
    bar: ProgressBar,
    cancel: Arc<AtomicBool>,
    ctrl_c: tokio::task::JoinHandle<()>,
}

impl Work {
    /// Starts listening for Ctrl-C; the line shows only when stderr is a terminal and not `json`.
    pub fn start(kind: WorkKind, json: bool) -> Work {
        let bar = ProgressBar::with_draw_target(Some(0), target(json));
        bar.set_style(
            ProgressStyle::with_template("{prefix} {bar:20} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(match kind {
            WorkKind::Scan => "scanning",
            WorkKind::Export => "exporting",
            WorkKind::WriteFiles => "writing result files",
        });
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = cancel.clone();
        let ctrl_c = tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                flag.store(true, Ordering::SeqCst);
            }
        });
        Work {
            bar,
            cancel,
            ctrl_c,
        }
    }

    /// What the engine reports to and is stopped by.
    pub fn watch(&self) -> Watch {
        let bar = self.bar.clone();
        let progress = move |p: &WorkProgress| {
            bar.set_length(p.total as u64);
            bar.set_position(p.done as u64);
            bar.set_message(describe(p));
        };
        Watch::new(Arc::new(progress), self.cancel.clone())
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
        self.ctrl_c.abort();
    }
}

fn target(json: bool) -> ProgressDrawTarget {
    if json || !std::io::stderr().is_terminal() {
        ProgressDrawTarget::hidden()
    } else {
        // Redrawn at most ten times a second, whatever the engine reports.
        ProgressDrawTarget::stderr_with_hz(10)
    }
}

/// Done of total, the rate so far and the time left at that rate, short enough for 80
/// columns: `12.0 of 200.0 MB · file 2/3 · 4.0 MB/s · 47s left (Ctrl-C stops)`, or rows for
/// results (a narrow terminal cuts the end).
fn describe(p: &WorkProgress) -> String {
    let (done, rate) = if p.in_bytes() {
        let mb = |b: f64| b / 1e6;
        (
            format!("{:.1} of {:.1} MB", mb(p.done), mb(p.total)),
            format!("{:.1} MB/s", mb(p.rate_per_s)),
        )
    } else {
        (
            format!(
                "{} of {} rows",
                HumanCount(p.done as u64),
                HumanCount(p.total as u64)
            ),
            format!("{} rows/s", HumanCount(p.rate_per_s as u64)),
        )
    };
    let files = if p.in_bytes() && p.files_total > 1 {
        let at = (p.files_done + 1).min(p.files_total);
        format!(" · file {at}/{}", p.files_total)
    } else {
        String::new()
    };
    let left = p
        .eta_s
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .map(|d| format!(" · {:#} left", HumanDuration(d)))
        .unwrap_or_default();
    format!("{done}{files} · {rate}{left} (Ctrl-C stops)")
}

/// The exit for an engine error: a stop by Ctrl-C says so and exits with 130, any other
/// error as `ebb` reports errors.
pub fn fail(e: &ebb_core::Error) -> ExitCode {
    if let ebb_core::Error::Stopped(_) = e {
        eprintln!("{e}");
        return ExitCode::from(STOPPED);
    }
    crate::output::fail_error(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(kind: WorkKind, (done, total): (f64, f64), rate: f64) -> WorkProgress {
        WorkProgress {
            kind,
            done,
            total,
            files_done: 1,
            files_total: 3,
            elapsed_s: 2.0,
            rate_per_s: rate,
            eta_s: Some((total - done) / rate),
        }
    }

    #[test]
    fn the_line_says_done_of_total_rate_and_time_left() {
        let scan = describe(&progress(WorkKind::Scan, (12e6, 200e6), 4e6));
        assert!(
            scan == "12.0 of 200.0 MB · file 2/3 · 4.0 MB/s · 47s left (Ctrl-C stops)",
            "{scan}"
        );
        let export = describe(&progress(WorkKind::Export, (250_000.0, 1e6), 50_000.0));
        assert!(
            export == "250,000 of 1,000,000 rows · 50,000 rows/s · 15s left (Ctrl-C stops)",
            "{export}"
        );
    }
}
