//! `ebb update`: change a running endpoint in place.

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::Args;
use ebb_core::Ebb;
use ebb_core::deploy::update::{UpdateOutcome, UpdateProgress, UpdateRequest};

use crate::endpoints::cancel_on_ctrl_c;
use crate::output;

/// What to change; anything not given stays as it is.
#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// The endpoint to change.
    endpoint: String,
    /// A new instance type, e.g. ml.g5.24xlarge (autoscaling is kept).
    #[arg(long)]
    instance_type: Option<String>,
    /// A new instance count, 1 to 100 (without it, the running count is kept).
    #[arg(long, value_name = "N")]
    instance_count: Option<u32>,
    /// A new number of concurrent invocations per instance, 1 to 1000.
    #[arg(long, value_name = "N")]
    max_concurrency: Option<u32>,
    /// A new TGI version (SageMaker's Hugging Face LLM image), e.g. 2.0.1.
    #[arg(long)]
    tgi_version: Option<String>,
    /// Set a container environment variable, KEY=VALUE (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_env)]
    env: Vec<(String, String)>,
    /// Remove a container environment variable (repeatable).
    #[arg(long = "unset-env", value_name = "KEY")]
    unset_env: Vec<String>,
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("`{s}` should be KEY=VALUE"))
}

impl UpdateArgs {
    fn request(&self) -> UpdateRequest {
        UpdateRequest {
            instance_type: self.instance_type.clone(),
            instance_count: self.instance_count,
            max_concurrency: self.max_concurrency,
            tgi_version: self.tgi_version.clone(),
            set_env: self.env.iter().cloned().collect::<BTreeMap<_, _>>(),
            unset_env: self.unset_env.clone(),
        }
    }
}

pub async fn update(ebb: &Ebb, args: UpdateArgs, json: bool) -> ExitCode {
    // A status repeats every few seconds while SageMaker updates: printed when it changes,
    // and every 30 s with the time it has lasted.
    let last = std::sync::Mutex::new((String::new(), 0u32, 0u32));
    let progress = move |p: &UpdateProgress| {
        let Ok(mut last) = last.lock() else { return };
        if json {
            return;
        }
        if last.0 != p.message {
            println!("[{:>4}s] {}", p.elapsed_s, p.message);
            *last = (p.message.clone(), p.elapsed_s, p.elapsed_s);
        } else if p.elapsed_s >= last.2 + 30 {
            println!(
                "[{:>4}s] {} for {} s",
                p.elapsed_s,
                p.message,
                p.elapsed_s - last.1
            );
            last.2 = p.elapsed_s;
        }
    };
    let cancel = cancel_on_ctrl_c();
    match ebb
        .update_endpoint(&args.endpoint, &args.request(), &progress, &cancel)
        .await
    {
        Err(e) => output::fail_error(&e),
        Ok(outcome) if json => {
            let code = output::print_json(&outcome);
            if outcome.usable() {
                code
            } else {
                ExitCode::FAILURE
            }
        }
        Ok(outcome) => summary(&outcome),
    }
}

/// The closing lines: what changed, the scaling, what was removed or kept.
fn summary(o: &UpdateOutcome) -> ExitCode {
    let scaling = || {
        if o.scaling_restored {
            println!("autoscaling put back as it was:");
            for line in &o.scaling {
                println!("  {line}");
            }
        }
    };
    let removed = || {
        for r in &o.removed {
            println!("  {}: {}", r.resource, r.outcome);
        }
        for k in &o.kept {
            println!("  kept {k}");
        }
    };
    match o.status.as_str() {
        "InService" if !o.usable() => {
            println!("endpoint {} is InService with:", o.endpoint);
            for c in &o.changes {
                println!("  {c}");
            }
            println!("old resources:");
            removed();
            eprintln!(
                "error: endpoint {} is in service but failing: {}",
                o.endpoint,
                o.failure_reason.as_deref().unwrap_or("no reason given")
            );
            crate::deploy_report::print_diagnosis(o.diagnosis.as_ref());
            ExitCode::FAILURE
        }
        "InService" => {
            match &o.smoke_test {
                Some(t) => println!(
                    "endpoint {} is ready: InService, and a test request was answered in {} s; with:",
                    o.endpoint, t.waited_s
                ),
                None => println!(
                    "endpoint {} is InService (not tested: it runs no instances) with:",
                    o.endpoint
                ),
            }
            for c in &o.changes {
                println!("  {c}");
            }
            if let Some(n) = o.instance_count {
                println!("instances: {n}");
            }
            scaling();
            println!("old resources:");
            removed();
            ExitCode::SUCCESS
        }
        "Cancelled" => {
            println!(
                "stopped waiting; the update of {} goes on in SageMaker. The new config {} and model {} stay, and so do the old ones: check with `ebb endpoints`",
                o.endpoint, o.new_endpoint_config, o.new_model
            );
            ExitCode::FAILURE
        }
        _ => {
            scaling();
            println!("removed what the update made:");
            removed();
            crate::deploy_report::print_diagnosis(o.diagnosis.as_ref());
            output::fail(&format!(
                "the update of {} failed and the endpoint is back on {}: {}",
                o.endpoint,
                o.old_endpoint_config,
                o.failure_reason.as_deref().unwrap_or("no reason given")
            ))
        }
    }
}
