//! What `ebb` prints: plain text for people, `--json` for scripts. Errors go to stderr.

use std::process::ExitCode;

use ebb_core::{Check, CheckStatus, DoctorReport, Ebb, SettingKey, Settings, SettingsView, Source};
use serde::Serialize;

pub fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}

/// An engine error as `ebb` says it: problems with a form name the options that set the field.
pub fn fail_error(e: &ebb_core::Error) -> ExitCode {
    use ebb_core::Error;
    let listed = |what: &str, problems: Vec<(&str, &str)>| {
        let problems: Vec<String> = problems
            .into_iter()
            .map(|(field, message)| format!("{}: {message}", option_for(field)))
            .collect();
        fail(&format!("{what}: {}", problems.join("; ")))
    };
    match e {
        Error::InvalidDeploy(problems) => listed(
            "the deploy options have problems",
            problems
                .iter()
                .map(|p| (p.field.as_str(), p.message.as_str()))
                .collect(),
        ),
        Error::InvalidScaling(findings) => listed(
            "the autoscaling options have problems",
            findings
                .iter()
                .map(|f| (f.field.as_str(), f.message.as_str()))
                .collect(),
        ),
        e => fail(&e.to_string()),
    }
}

/// The `ebb` option (or setting) that sets a field of the engine's deploy or autoscaling form.
fn option_for(field: &str) -> String {
    match field {
        "health_check_timeout_s" => "--health-check-timeout".into(),
        "wait_limit_s" => "--wait-limit".into(),
        "environment" => "--env".into(),
        "endpoint_name" | "model_name" | "endpoint_config_name" => "--name".into(),
        "image" => "--image / --tgi-version".into(),
        "role_arn" => "the role (`ebb settings set role_arn ARN`)".into(),
        "endpoint" => "the endpoint".into(),
        "scale_from_zero" => "--no-scale-from-zero".into(),
        "policy" => "a scaling policy in place".into(),
        f => format!("--{}", f.replace('_', "-")),
    }
}

pub fn print_json<T: Serialize>(value: &T) -> ExitCode {
    match serde_json::to_string_pretty(value) {
        Ok(text) => {
            use std::io::Write;
            // A reader that stops early (`ebb … --json | head`) is not an error of ours.
            match writeln!(std::io::stdout().lock(), "{text}") {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    fail(&format!("could not write the output: {e}"))
                }
                _ => ExitCode::SUCCESS,
            }
        }
        Err(e) => fail(&format!("could not encode JSON: {e}")),
    }
}

fn with_source(value: Option<&str>, source: Source, var: &str) -> String {
    format!(
        "{} ({})",
        value.unwrap_or("-"),
        match source {
            Source::Unset => "not set".to_string(),
            s => s.describe(var),
        }
    )
}

pub fn settings(view: &SettingsView, json: bool) -> ExitCode {
    if json {
        return print_json(view);
    }
    println!("# {}", view.file);
    for key in SettingKey::ALL {
        println!("{:<13}{}", key.as_str(), view.settings.get(key));
    }
    let t = &view.target;
    println!();
    println!("effective:");
    println!("  mode       {}", t.mode);
    if t.mode == ebb_core::Mode::Local {
        // Local mode ignores profiles and regions: the local cloud has its own keys and region.
        println!("  region     {} (the local cloud's)", ebb_local::REGION);
        println!("  account    {} (the local cloud's)", ebb_local::ACCOUNT_ID);
        return ExitCode::SUCCESS;
    }
    println!(
        "  profile    {}",
        with_source(t.profile.as_deref(), t.profile_source, "AWS_PROFILE")
    );
    println!(
        "  region     {}",
        with_source(t.region.as_deref(), t.region_source, "AWS_REGION")
    );
    if t.endpoint_url.is_some() {
        println!(
            "  endpoint   {}",
            with_source(
                t.endpoint_url.as_deref(),
                t.endpoint_source,
                "AWS_ENDPOINT_URL"
            )
        );
    }
    ExitCode::SUCCESS
}

pub fn set(ebb: &Ebb, key: &str, settings: &Settings, json: bool) -> ExitCode {
    if json {
        return print_json(settings);
    }
    let value = SettingKey::parse(key)
        .map(|k| settings.get(k))
        .unwrap_or_default();
    let shown = if value.is_empty() { "(unset)" } else { &value };
    println!("{key} = {shown}  ({})", ebb.settings_path().display());
    ExitCode::SUCCESS
}

fn mark(status: CheckStatus) -> &'static str {
    match status {
        CheckStatus::Ok => "ok  ",
        CheckStatus::Warn => "warn",
        CheckStatus::Fail => "FAIL",
        CheckStatus::Skipped => "skip",
    }
}

pub fn check_line(check: &Check) {
    println!(
        "[{}] {}: {}",
        mark(check.status),
        check.title,
        check.summary
    );
    if let Some(advice) = &check.advice {
        println!("       → {advice}");
    }
}

pub fn doctor(report: &DoctorReport, json: bool) -> ExitCode {
    let code = if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    };
    if json {
        print_json(report);
        return code;
    }
    if let Some(failed) = report.checks.iter().find(|c| c.status == CheckStatus::Fail) {
        eprintln!("error: {}: {}", failed.title, failed.summary);
        if let Some(detail) = &failed.detail {
            eprintln!("detail: {detail}");
        }
    } else {
        let warnings = report
            .checks
            .iter()
            .filter(|c| c.status == CheckStatus::Warn)
            .count();
        match warnings {
            0 => println!("All checks passed."),
            1 => println!("All checks passed, with 1 warning."),
            n => println!("All checks passed, with {n} warnings."),
        }
    }
    code
}
