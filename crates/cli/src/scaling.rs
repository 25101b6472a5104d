//! `ebb autoscale`, `ebb metrics` and `ebb loadtest`.

use std::process::ExitCode;
use std::time::Duration;

use ebb_core::Ebb;
use ebb_core::loadtest::{LoadTestProgress, LoadTestSpec};
use ebb_core::metrics::Series;
use ebb_core::scaling::spec::{ScalingSpec, Severity};
use ebb_core::scaling::status::ScalingStatus;

use crate::output;

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Preset {
    /// The seed article's part 3: min 0, max 5, target 5, cooldowns 600/100, plus scale from zero.
    Seed,
}

#[derive(clap::Args, Debug)]
pub struct AutoscaleArgs {
    /// The async endpoint to scale.
    endpoint: String,
    /// Start from a preset; any flag below changes one field of it.
    #[arg(long, value_enum, default_value = "seed")]
    preset: Preset,
    /// Fewest instances (0 lets it scale to zero when idle).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    min: Option<i32>,
    /// Most instances.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    max: Option<i32>,
    /// Target backlog per instance (ApproximateBacklogSizePerInstance).
    #[arg(long, value_name = "V", allow_negative_numbers = true)]
    target: Option<f64>,
    /// Seconds after a scale-in before the next one.
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    scale_in_cooldown: Option<i32>,
    /// Seconds after a scale-out before the next one.
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    scale_out_cooldown: Option<i32>,
    /// Leave out the step policy that wakes the endpoint from zero instances.
    #[arg(long)]
    no_scale_from_zero: bool,
    /// Show what is in place (target, policies, alarms, activity) and change nothing.
    #[arg(long, conflicts_with = "remove")]
    show: bool,
    /// Remove the endpoint's autoscaling (policies, target, the alarms acting on them).
    #[arg(long)]
    remove: bool,
}

impl AutoscaleArgs {
    fn spec(&self) -> ScalingSpec {
        let mut spec = match self.preset {
            Preset::Seed => ScalingSpec::seed(&self.endpoint),
        };
        spec.min = self.min.unwrap_or(spec.min);
        spec.max = self.max.unwrap_or(spec.max);
        spec.target = self.target.unwrap_or(spec.target);
        spec.scale_in_cooldown = self.scale_in_cooldown.unwrap_or(spec.scale_in_cooldown);
        spec.scale_out_cooldown = self.scale_out_cooldown.unwrap_or(spec.scale_out_cooldown);
        spec.scale_from_zero = !self.no_scale_from_zero;
        spec
    }
}

pub async fn autoscale(ebb: &Ebb, args: AutoscaleArgs, json: bool) -> ExitCode {
    if args.show {
        return match ebb.scaling_status(&args.endpoint).await {
            Ok(s) if json => output::print_json(&s),
            Ok(s) => {
                print_status(&s);
                ExitCode::SUCCESS
            }
            Err(e) => output::fail_error(&e),
        };
    }
    if args.remove {
        return match ebb.remove_autoscaling(&args.endpoint).await {
            Ok(removed) if json => output::print_json(&removed),
            Ok(removed) if removed.is_empty() => {
                println!("{} has no autoscaling", args.endpoint);
                ExitCode::SUCCESS
            }
            Ok(removed) => {
                for r in &removed {
                    println!("{}: {}", r.resource, r.outcome);
                }
                ExitCode::SUCCESS
            }
            Err(e) => output::fail_error(&e),
        };
    }
    let spec = args.spec();
    // Warnings first; errors (and a missing endpoint) come from applying, values first.
    let findings = ebb.check_scaling(&spec).await.unwrap_or_default();
    for f in findings.iter().filter(|f| f.severity == Severity::Warning) {
        eprintln!("warning: {}", f.message);
    }
    match ebb.autoscale(&spec).await {
        Ok(applied) if json => output::print_json(&applied),
        Ok(applied) => {
            for line in &applied.lines {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => output::fail_error(&e),
    }
}

fn print_status(s: &ScalingStatus) {
    let e = &s.endpoint;
    println!(
        "{}: {}, {} of {} instances",
        e.name, e.status, e.current_instances, e.desired_instances
    );
    match s.bounds {
        Some((min, max)) => println!("scalable target: {min} to {max} instances"),
        None => println!(
            "no autoscaling (`ebb autoscale {}` sets the seed's)",
            e.name
        ),
    }
    for p in &s.policies {
        println!("policy {} ({}): {}", p.name, p.policy_type, p.summary);
        for a in &p.alarms {
            println!("  alarm {} [{}] {}", a.name, a.state, a.condition);
        }
    }
    for w in &s.warnings {
        println!("warning: {w}");
    }
    for f in &s.findings {
        let label = match f.severity {
            Severity::Error => "problem",
            Severity::Warning => "warning",
        };
        println!("{label}: {}", f.message);
    }
    if !s.activities.is_empty() {
        println!("activity (newest first):");
        for a in &s.activities {
            println!(
                "  {}  {} {} — {}",
                clock(a.start_ms),
                a.status,
                a.description,
                a.cause
            );
        }
    }
}

/// `YYYY-MM-DD HH:MM:SSZ` (UTC) of epoch milliseconds: a span such as `--since 3d` crosses days.
fn clock(ms: f64) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]Z");
    time::OffsetDateTime::from_unix_timestamp((ms / 1000.0) as i64)
        .ok()
        .and_then(|t| t.format(FORMAT).ok())
        .unwrap_or_else(|| "-".into())
}

/// `90s`, `15m`, `3h`, `2d` (or plain seconds).
pub fn parse_span(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a time span like 90s, 15m, 3h or 2d"))?;
    let seconds = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("`{text}`: the unit must be s, m, h or d")),
    };
    if seconds == 0 || seconds > 15 * 86_400 {
        return Err(format!("`{text}`: choose a span between 1s and 15d"));
    }
    Ok(Duration::from_secs(seconds))
}

/// A one-line chart of `values` scaled to their maximum.
fn sparkline(values: &[f64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values.iter().copied().fold(0.0_f64, f64::max);
    let tail = &values[values.len().saturating_sub(60)..];
    tail.iter()
        .map(|v| {
            if max <= 0.0 {
                BARS[0]
            } else {
                BARS[((v / max) * 7.0).round().clamp(0.0, 7.0) as usize]
            }
        })
        .collect()
}

fn series_line(s: &Series) {
    let last = s.values.last().map_or("-".into(), |v| format!("{v}"));
    let max = s.values.iter().copied().fold(f64::NAN, f64::max);
    let max = if max.is_nan() {
        "-".into()
    } else {
        format!("{max}")
    };
    println!(
        "{:<46} now {:>8}  max {:>8}  {}",
        format!("{} ({})", s.name, s.statistic),
        last,
        max,
        sparkline(&s.values)
    );
}

pub async fn metrics(ebb: &Ebb, endpoint: &str, since: Duration, json: bool) -> ExitCode {
    match ebb.endpoint_metrics(endpoint, since).await {
        Ok(m) if json => output::print_json(&m),
        Ok(m) => {
            println!(
                "{endpoint}: {} to {}, one point per {} s",
                clock(m.start_ms),
                clock(m.end_ms),
                m.period_s
            );
            for s in m.series.iter().chain([&m.instances, &m.jobs_completed]) {
                series_line(s);
            }
            ExitCode::SUCCESS
        }
        Err(e) => output::fail_error(&e),
    }
}

#[derive(clap::Args, Debug)]
pub struct LoadTestArgs {
    endpoint: String,
    /// Requests per second (at most 50).
    #[arg(long, value_name = "R")]
    rate: f64,
    /// How long to send, e.g. 90s, 15m (at most 1h).
    #[arg(long, value_name = "SPAN", value_parser = parse_span)]
    duration: Duration,
    /// A JSON file with the request body (default: the seed's request).
    #[arg(long, value_name = "FILE")]
    payload: Option<std::path::PathBuf>,
}

pub async fn loadtest(ebb: &Ebb, args: LoadTestArgs, json: bool) -> ExitCode {
    let payload = match &args.payload {
        None => None,
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => Some(text),
            Err(e) => return output::fail(&format!("could not read {}: {e}", path.display())),
        },
    };
    let spec = LoadTestSpec {
        endpoint: args.endpoint,
        rate: args.rate,
        duration_s: u32::try_from(args.duration.as_secs()).unwrap_or(u32::MAX),
        payload,
    };
    let cancel = crate::endpoints::cancel_on_ctrl_c();
    let progress = move |p: &LoadTestProgress| {
        if !json && !p.finished {
            eprintln!(
                "{:>6.1}s  sent {}/{}  refused {}{}",
                p.elapsed_s,
                p.sent,
                p.planned,
                p.refused,
                p.last_error
                    .as_deref()
                    .map(|e| format!("  (last: {e})"))
                    .unwrap_or_default()
            );
        }
    };
    match ebb.load_test(&spec, &progress, &cancel).await {
        Ok(done) if json => output::print_json(&done),
        Ok(done) => {
            println!(
                "{} {} of {} requests in {:.1} s ({} refused); input {}",
                if done.cancelled {
                    "cancelled after sending"
                } else {
                    "sent"
                },
                done.sent,
                done.planned,
                done.elapsed_s,
                done.refused,
                done.input_location
            );
            if let Some(e) = &done.last_error {
                println!("last refusal: {e}");
            }
            if done.refused > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => output::fail_error(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_like_people_write_them() {
        assert_eq!(parse_span("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_span("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_span("3h"), Ok(Duration::from_secs(10_800)));
        assert_eq!(parse_span("120"), Ok(Duration::from_secs(120)));
        assert!(parse_span("3w").unwrap_err().contains("unit"));
        assert!(parse_span("0s").is_err());
        assert!(parse_span("soon").is_err());
    }
}
