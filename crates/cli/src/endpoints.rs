//! `ebb deploy`, `ebb endpoints`, `ebb invoke`, `ebb teardown`.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Args;
use ebb_core::Ebb;
use ebb_core::deploy::invoke::InvokeRequest;
use ebb_core::deploy::spec::{self, DeploySpec, ImageChoice};

use crate::output;

/// Fields of the deploy form; anything not given keeps the seed preset's value.
#[derive(Args, Debug)]
pub struct DeployArgs {
    /// Hugging Face model id (seed: google/flan-t5-xxl).
    #[arg(long)]
    model_id: Option<String>,
    /// TGI version for the SageMaker Hugging Face LLM image (seed: 1.1.0).
    #[arg(long, conflicts_with = "image")]
    tgi_version: Option<String>,
    /// A custom container image URI instead of a TGI version.
    #[arg(long)]
    image: Option<String>,
    /// e.g. ml.g5.12xlarge (seed) or ml.g4dn.12xlarge.
    #[arg(long)]
    instance_type: Option<String>,
    /// Instances to start with, 1 to 100 (seed: 1); autoscaling can take it to 0 later.
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = parse_count)]
    instance_count: Option<u32>,
    /// Container start-up health-check timeout in seconds (seed: 300).
    #[arg(long, value_name = "S", allow_negative_numbers = true, value_parser = parse_count)]
    health_check_timeout: Option<u32>,
    /// Max concurrent invocations per instance (seed: 10).
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = parse_count)]
    max_concurrency: Option<u32>,
    /// Container environment KEY=VALUE (repeatable), e.g. MAX_TOTAL_TOKENS=2048.
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_env)]
    env: Vec<(String, String)>,
    /// Endpoint name (the model and config are named after it).
    #[arg(long)]
    name: Option<String>,
    /// Where results go, an s3:// URI (default: <bucket>/<prefix>/output).
    #[arg(long)]
    output_path: Option<String>,
    /// Where failures go (default: <bucket>/<prefix>/failure).
    #[arg(long, conflicts_with = "no_failure_path")]
    failure_path: Option<String>,
    /// Do not record failures in S3 (not recommended).
    #[arg(long)]
    no_failure_path: bool,
    /// SNS topic ARN told of each success.
    #[arg(long)]
    success_topic: Option<String>,
    /// SNS topic ARN told of each failure.
    #[arg(long)]
    error_topic: Option<String>,
    /// KMS key that encrypts the outputs in S3.
    #[arg(long)]
    kms_key_id: Option<String>,
    /// Turn on TGI's Messages API (MESSAGES_API_ENABLED=true, TGI 1.4.0 or later): the
    /// endpoint then takes OpenAI chat-completions bodies ({"messages": [...]}).
    #[arg(long)]
    messages_api: bool,
    /// Do not send a test request after InService (by default one request goes through the
    /// async path and the deploy is ready only once it is answered).
    #[arg(long)]
    no_smoke_test: bool,
    /// How long to wait for InService, in seconds (default 1800; large models need it).
    #[arg(long, value_name = "S", allow_negative_numbers = true, value_parser = parse_count)]
    wait_limit: Option<u32>,
    /// The model's parameter count for the fit check (e.g. 11B, 6.7B, 780M) when the Hugging
    /// Face Hub cannot tell it (offline, local mode, gated model).
    #[arg(long, value_name = "COUNT", value_parser = ebb_core::deploy::fit::parse_params)]
    params: Option<u64>,
}

/// A whole number of at least 0, with a message that says so (the form checks the range).
fn parse_count(s: &str) -> Result<u32, String> {
    match s.trim().parse::<i64>() {
        Ok(n) if n < 0 => Err(format!("`{n}` is negative: give a whole number such as 1")),
        Ok(n) => u32::try_from(n).map_err(|_| format!("`{n}` is too large")),
        Err(_) => Err(format!("`{s}` is not a whole number")),
    }
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("`{s}` should be KEY=VALUE"))
}

impl DeployArgs {
    fn apply(self, spec: &mut DeploySpec) {
        let set = |field: &mut String, v: Option<String>| {
            if let Some(v) = v {
                *field = v;
            }
        };
        // Another model gets a name of its own, unless one is given.
        if let Some(model_id) = self.model_id {
            if self.name.is_none() {
                let name = spec::generated_name(&model_id, &spec::stamp_now());
                spec.set_endpoint_name(&name);
            }
            spec.model_id = model_id;
        }
        if let Some(version) = self.tgi_version {
            spec.image = ImageChoice::Tgi { version };
        }
        if let Some(uri) = self.image {
            spec.image = ImageChoice::Custom { uri };
        }
        if let Some(t) = self.instance_type {
            spec.set_instance_type(&t);
        }
        spec.instance_count = self.instance_count.unwrap_or(spec.instance_count);
        spec.health_check_timeout_s = self
            .health_check_timeout
            .unwrap_or(spec.health_check_timeout_s);
        spec.max_concurrency = self.max_concurrency.unwrap_or(spec.max_concurrency);
        spec.environment.extend(self.env);
        if let Some(name) = self.name {
            spec.set_endpoint_name(&name);
        }
        set(&mut spec.output_path, self.output_path);
        if self.no_failure_path {
            spec.failure_path = None;
        } else if self.failure_path.is_some() {
            spec.failure_path = self.failure_path;
        }
        spec.success_topic = self.success_topic.or(spec.success_topic.take());
        spec.error_topic = self.error_topic.or(spec.error_topic.take());
        spec.kms_key_id = self.kms_key_id.or(spec.kms_key_id.take());
        spec.messages_api |= self.messages_api;
        spec.smoke_test &= !self.no_smoke_test;
        // Without --wait-limit the wait outlasts the start-up health check by ten minutes, so
        // raising the one (as a diagnosis advises) needs no second flag.
        spec.wait_limit_s = self.wait_limit.unwrap_or_else(|| {
            spec.wait_limit_s
                .max(spec.health_check_timeout_s.saturating_add(600))
                .min(14_400)
        });
    }
}

/// Ctrl-C stops waiting (the endpoint keeps starting in the cloud).
pub fn cancel_on_ctrl_c() -> Arc<AtomicBool> {
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            flag.store(true, Ordering::SeqCst);
        }
    });
    cancel
}

pub async fn deploy(ebb: &Ebb, args: DeployArgs, json: bool) -> ExitCode {
    let mut spec = match ebb.seed_preset().await {
        Ok(s) => s,
        Err(e) => return output::fail_error(&e),
    };
    let params = args.params;
    args.apply(&mut spec);
    crate::instances::print_fit(ebb, &spec, params, json).await;
    let printer = crate::deploy_report::ProgressPrinter::new();
    let progress = move |p: &ebb_core::deploy::run::DeployProgress| {
        if !json {
            printer.print(p);
        }
    };
    let cancel = cancel_on_ctrl_c();
    match ebb.deploy(&spec, &progress, &cancel).await {
        Err(e) => output::fail_error(&e),
        Ok(outcome) => crate::deploy_report::finish(&outcome, json),
    }
}

pub async fn list(ebb: &Ebb, json: bool) -> ExitCode {
    let endpoints = match ebb.endpoints().await {
        Ok(e) => e,
        Err(e) => return output::fail_error(&e),
    };
    if json {
        return output::print_json(&endpoints);
    }
    if endpoints.is_empty() {
        println!("no endpoints in this region; create one with `ebb deploy`");
        return ExitCode::SUCCESS;
    }
    // Endpoint names run to 63 characters: the column is as wide as the longest one listed.
    let width = endpoints
        .iter()
        .map(|e| e.name.len())
        .max()
        .unwrap_or(0)
        .max(4);
    println!(
        " {:<width$} {:<10} {:<16} {:>9} {:<6} {:>8} {:>10}  output",
        "name", "status", "instance", "instances", "async", "age", "$/h"
    );
    for e in &endpoints {
        let mark = if e.created_by_ebb { "*" } else { " " };
        println!(
            "{mark}{:<width$} {:<10} {:<16} {:>4}/{:<4} {:<6} {:>7}m {:>10}  {}",
            e.name,
            e.status,
            e.instance_type.as_deref().unwrap_or("-"),
            e.current_instances,
            e.desired_instances,
            if e.is_async { "yes" } else { "no" },
            e.age_s / 60,
            e.usd_per_hour.map_or("-".into(), |p| match e.price_source {
                Some(ebb_core::pricing::PriceSource::PriceList) => format!("{p:.2}"),
                _ => format!("~{p:.2}"),
            }),
            e.output_path.as_deref().unwrap_or("-"),
        );
        if let Some(reason) = &e.failure_reason {
            println!("    failed: {reason}");
        }
    }
    let estimated = endpoints.iter().any(|e| {
        e.usd_per_hour.is_some()
            && e.price_source != Some(ebb_core::pricing::PriceSource::PriceList)
    });
    println!(
        "* created by Ebb{}",
        if estimated {
            "   ~ estimate from Ebb's bundled price table (local mode, or the AWS Price List did not answer)"
        } else {
            ""
        }
    );
    // The cost guard: instances paid for with nothing to do and nothing to scale them in.
    if let Ok(idle) = ebb.idle_endpoints().await {
        for w in idle {
            println!(
                "warning: {} `ebb autoscale {}` scales it to zero when idle.",
                w.message, w.endpoint
            );
        }
    }
    ExitCode::SUCCESS
}

pub struct InvokeArgs {
    pub endpoint: String,
    pub prompt: String,
    pub params: Option<String>,
    pub wait: Option<u64>,
}

pub async fn invoke(ebb: &Ebb, args: InvokeArgs, json: bool) -> ExitCode {
    let request = InvokeRequest {
        endpoint: args.endpoint,
        prompt: args.prompt,
        parameters: args.params,
    };
    let result = match ebb
        .invoke(&request, args.wait.map(Duration::from_secs))
        .await
    {
        Ok(r) => r,
        Err(e) => return output::fail_error(&e),
    };
    if json {
        let code = output::print_json(&result);
        return if result.failure.is_some() {
            ExitCode::FAILURE
        } else {
            code
        };
    }
    println!("input:   {}", result.input_location);
    println!(
        "output:  {}",
        result.output_location.as_deref().unwrap_or("-")
    );
    if let Some(f) = &result.failure_location {
        println!("failure: {f}");
    }
    if let Some(out) = &result.output {
        println!("{out}");
    }
    match &result.failure {
        Some(failure) => output::fail(&format!("the request failed: {failure}")),
        None => ExitCode::SUCCESS,
    }
}

fn confirmed(question: &str) -> bool {
    print!("{question} [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).is_ok()
        && matches!(answer.trim(), "y" | "Y" | "yes")
}

pub async fn teardown(
    ebb: &Ebb,
    endpoint: &str,
    (yes, delete_data): (bool, bool),
    json: bool,
) -> ExitCode {
    let plan = match ebb.teardown_plan(endpoint, delete_data).await {
        Ok(p) => p,
        Err(e) => return output::fail_error(&e),
    };
    for w in &plan.scaling.warnings {
        eprintln!("warning: {w}");
    }
    if !yes {
        println!("This removes:");
        for line in &plan.lines {
            println!("  {line}");
        }
        if !confirmed("Remove them?") {
            return output::fail("nothing removed");
        }
    }
    match ebb.teardown(&plan.id).await {
        Err(e) => output::fail_error(&e),
        Ok(removed) if json => output::print_json(&removed),
        Ok(removed) => {
            for r in &removed {
                println!("{}: {}", r.resource, r.outcome);
            }
            ExitCode::SUCCESS
        }
    }
}

pub async fn logs(ebb: &Ebb, endpoint: &str, follow: bool, json: bool) -> ExitCode {
    let cancel = cancel_on_ctrl_c();
    let mut since = 0i64;
    let mut last_status = String::new();
    loop {
        let page = match ebb.endpoint_logs(endpoint, since).await {
            Ok(p) => p,
            Err(e) => return output::fail_error(&e),
        };
        if json {
            return output::print_json(&page);
        }
        if page.status != last_status {
            println!("-- {endpoint}: {} for {}s", page.status, page.in_state_s);
            last_status = page.status.clone();
        }
        for line in &page.lines {
            println!("{}  {}", line.stream, line.message);
        }
        since = page.next_since_ms.parse().unwrap_or(since);
        if !follow || cancel.load(Ordering::SeqCst) {
            return ExitCode::SUCCESS;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        if cancel.load(Ordering::SeqCst) {
            return ExitCode::SUCCESS;
        }
    }
}
