//! What `ebb deploy` (and `ebb update`) print while waiting and at the end: status changes
//! with the time in them, the container's log lines as they come, the smoke test, and the
//! verdict with its diagnosis.

use std::process::ExitCode;
use std::sync::Mutex;

use ebb_core::deploy::diagnose::Diagnosis;
use ebb_core::deploy::run::{DeployOutcome, DeployProgress, DeployStep};
use ebb_core::deploy::verify::Verdict;

use crate::output;

/// Seconds between repeats of an unchanged status line.
const REPEAT_S: u32 = 30;

/// Prints progress without repeating itself: a status line when the status changes (or
/// every [`REPEAT_S`] seconds), each new log line once, indented.
pub struct ProgressPrinter {
    last: Mutex<(String, u32)>,
}

impl ProgressPrinter {
    pub fn new() -> ProgressPrinter {
        ProgressPrinter {
            last: Mutex::new((String::new(), 0)),
        }
    }

    pub fn print(&self, p: &DeployProgress) {
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        let waiting = matches!(p.step, DeployStep::WaitInService | DeployStep::SmokeTest);
        let changed = last.0 != p.message.split(" (").next().unwrap_or_default();
        if !waiting || changed || p.elapsed_s >= last.1 + REPEAT_S {
            let in_state = match (p.step, p.in_state_s) {
                (DeployStep::WaitInService, s) if s > 0 => format!(" for {}", duration(s)),
                _ => String::new(),
            };
            println!("[{:>4}s] {}{in_state}", p.elapsed_s, p.message);
            *last = (
                p.message.split(" (").next().unwrap_or_default().to_string(),
                p.elapsed_s,
            );
        }
        for line in &p.log_lines {
            println!("        | {line}");
        }
        if let Some(problem) = &p.log_problem {
            println!("        (no log lines: {problem})");
        }
    }
}

fn duration(s: u32) -> String {
    match s {
        0..60 => format!("{s} s"),
        _ => format!("{} min {} s", s / 60, s % 60),
    }
}

/// Prints the outcome; success only when the endpoint may be sent work.
pub fn finish(outcome: &DeployOutcome, json: bool) -> ExitCode {
    let code = if outcome.verdict.usable() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    };
    if json {
        return match output::print_json(outcome) {
            c if c == ExitCode::SUCCESS => code,
            c => c,
        };
    }
    let name = &outcome.endpoint_name;
    let reason = outcome
        .failure_reason
        .as_deref()
        .unwrap_or("no reason given");
    match outcome.verdict {
        Verdict::Ready => {
            let answered = outcome.smoke_test.as_ref().map_or(String::new(), |t| {
                format!(", and a test request was answered in {} s", t.waited_s)
            });
            println!("endpoint {name} is ready: InService{answered}");
        }
        Verdict::InServiceUntested => {
            println!("endpoint {name} is InService (not tested: --no-smoke-test)")
        }
        Verdict::InServiceFailing => {
            eprintln!("error: endpoint {name} is in service but failing: {reason}");
            print_diagnosis(outcome.diagnosis.as_ref());
            print_left_behind(
                outcome,
                "its instances bill by the hour while it is in service",
            );
        }
        Verdict::Failed => {
            eprintln!("error: endpoint {name} failed: {reason}");
            print_diagnosis(outcome.diagnosis.as_ref());
            print_left_behind(outcome, "a failed endpoint runs no instances");
        }
        Verdict::Cancelled if outcome.status == "InService" => {
            println!(
                "stopped waiting for the test request's answer; {name} is InService (and bills by the hour). Try it with `ebb invoke {name} --prompt … --wait`; remove it with `ebb teardown {name} --yes`"
            );
        }
        Verdict::Cancelled | Verdict::StillStarting => {
            let why = match outcome.verdict {
                Verdict::Cancelled => "stopped waiting".to_string(),
                _ => format!("still {} when the wait ended", outcome.status),
            };
            println!(
                "{why}; {name} keeps starting in the cloud. Follow it with `ebb logs {name}` and `ebb endpoints`; remove it with `ebb teardown {name} --yes`"
            );
        }
    }
    code
}

pub fn print_diagnosis(diagnosis: Option<&Diagnosis>) {
    if let Some(d) = diagnosis {
        eprintln!("  why: {}", d.sentence);
        eprintln!("  fix: {}", d.fix);
        eprintln!("  seen: {}", d.evidence);
    }
}

fn print_left_behind(outcome: &DeployOutcome, cost: &str) {
    eprintln!(
        "  left behind: {} ({cost}) — remove with `ebb teardown {} --yes`",
        outcome.resources.join(", "),
        outcome.endpoint_name
    );
}
