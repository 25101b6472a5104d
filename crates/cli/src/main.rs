//! `ebb`: a thin command-line shell over Ebb's engine.

mod batch;
mod bench;
mod deploy_report;
mod endpoints;
mod instances;
mod jobs;
mod local;
mod output;
mod scaling;
mod update;
mod work;

use std::process::ExitCode;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use ebb_core::{Ebb, Overrides};

/// mimalloc: at a million requests, glibc's allocator spent about a sixth of `ebb`'s time (and
/// of the local cloud's) consolidating and unlinking freed chunks.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "ebb",
    version,
    about = "Run LLMs on Amazon SageMaker asynchronous inference — or locally, with no AWS account.",
    after_help = "Which cloud a command talks to: --local first, then --endpoint-url / AWS_ENDPOINT_URL \
(any AWS-compatible server, with the standard credential chain), then the settings' `mode`.\n\
Profile and region: flag, then AWS_PROFILE / AWS_REGION, then Ebb settings, then the AWS profile.\n\
Settings live in $EBB_HOME/settings.json (default: the OS app-data dir, e.g. ~/.local/share/ebb).\n\
Logs go to $EBB_HOME/logs/cli.<date>.log (a file a day, up to seven kept); --verbose also prints them, EBB_LOG \
filters them."
)]
struct Cli {
    /// AWS profile (from ~/.aws/config or ~/.aws/credentials).
    #[arg(long, global = true, value_name = "P")]
    profile: Option<String>,
    /// AWS region, e.g. us-east-1.
    #[arg(long, global = true, value_name = "R")]
    region: Option<String>,
    /// Any AWS-compatible server instead of AWS (path-style S3 addressing is used).
    #[arg(long, global = true, value_name = "URL")]
    endpoint_url: Option<String>,
    /// Use the embedded local cloud, whatever the settings say.
    #[arg(long, global = true, conflicts_with = "endpoint_url")]
    local: bool,
    /// Print machine-readable JSON on stdout.
    #[arg(long, global = true)]
    json: bool,
    /// Also print what Ebb does (AWS calls, retries, decisions) on stderr, and log it in detail.
    #[arg(long, short, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Format {
    Jsonl,
    Csv,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show or change Ebb's settings.
    Settings {
        #[command(subcommand)]
        action: SettingsAction,
    },
    /// Check the connection: identity, region, bucket, SageMaker, execution role.
    Doctor,
    /// Deploy an async LLM endpoint: the seed preset, with any field changed by a flag; waits
    /// for InService (Ctrl-C stops waiting).
    Deploy(Box<endpoints::DeployArgs>),
    /// Every endpoint in the region: status, instances, async, output path, cost estimate.
    Endpoints,
    /// GPU instance types by family: GPUs, GPU memory, hourly price (from the AWS Price List
    /// when it answers, else Ebb's bundled us-east-1 estimate) and whether Ebb's TGI image runs.
    Instances,
    /// Change a running endpoint in place (instance type, count, concurrency, TGI version,
    /// environment): a new model and config, swapped in blue/green by SageMaker's
    /// UpdateEndpoint; the scaled instance count and any autoscaling are kept; the old config
    /// and model are removed once the new one is InService.
    Update(Box<update::UpdateArgs>),
    /// Send one TGI request (uploaded to S3, InvokeEndpointAsync) and optionally wait for it.
    Invoke {
        endpoint: String,
        #[arg(long)]
        prompt: String,
        /// TGI parameters as a JSON object (default: the seed's).
        #[arg(long, value_name = "JSON")]
        params: Option<String>,
        /// Wait for the output or failure, up to this many seconds.
        #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = "600")]
        wait: Option<u64>,
    },
    /// The endpoint's status, time in it, and its container log lines (CloudWatch Logs).
    Logs {
        endpoint: String,
        /// Keep printing new lines until Ctrl-C.
        #[arg(long)]
        follow: bool,
    },
    /// Remove an endpoint with its autoscaling (policies, alarms, scalable target), endpoint
    /// config and models (safe to re-run).
    Teardown {
        endpoint: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// Also delete the endpoint's job data in S3 (its output and failure paths, test inputs),
        /// except paths another endpoint writes to.
        #[arg(long)]
        delete_data: bool,
    },
    /// Autoscale an endpoint on its queue: the seed preset (min 0, max 5, 5 per instance,
    /// cooldowns 600/100) plus a step policy that wakes it from zero; flags change fields.
    /// `--show` reads what is in place, `--remove` takes it away.
    Autoscale(Box<scaling::AutoscaleArgs>),
    /// The endpoint's queue metrics, instance count and Ebb job throughput, with sparklines.
    Metrics {
        endpoint: String,
        /// How far back, e.g. 30m, 3h, 2d.
        #[arg(long, default_value = "1h", value_parser = scaling::parse_span)]
        since: std::time::Duration,
    },
    /// Send requests at a steady rate for a while (bounded: ≤ 50/s, ≤ 1 h, ≤ 20,000 in all)
    /// and watch the endpoint scale; Ctrl-C stops sending.
    Loadtest(Box<scaling::LoadTestArgs>),
    /// Submit a folder of JSONL requests to an async endpoint (one request per line): scanned
    /// first, nothing sent while a line has a problem unless --valid-only.
    Submit(Box<jobs::SubmitArgs>),
    /// Continue a job after a pause, a crash or a restart: unsent requests are sent, results
    /// collected.
    Resume {
        job: String,
        /// Wait until every request has its output or failure.
        #[arg(long)]
        wait: bool,
    },
    /// Stop a job for good: nothing more is sent. Requests already sent cannot be taken back
    /// (their GPU time is paid for), so their results are still collected unless --discard.
    Cancel {
        job: String,
        /// Stop collecting too: results of requests already sent are left in S3.
        #[arg(long)]
        discard: bool,
    },
    /// Where one request is, found by its id (custom_id, recordId, --id-field value, or
    /// file:line) or its InferenceId, in any job: not sent, queued since, succeeded with its
    /// output location, or failed with the reason.
    Status { id: String },
    /// A new job with only the failed (and/or expired) lines of JOB, on its endpoint or
    /// another; as they end, JOB's results, files and manifest show the newest answer per line.
    Retry(Box<batch::RetryArgs>),
    /// Every job with its counts.
    Jobs,
    /// One job: state, counts, first failures.
    Job { job: String },
    /// Write a job's results, aligned with the input (id, file, line, input, output or error):
    /// to one file (--out), or as result files beside the inputs (--out-dir): `<input>.out.jsonl`
    /// per input file in the input's own format, errors.jsonl and manifest.json.
    Results {
        job: String,
        #[arg(
            long,
            value_name = "FILE",
            required_unless_present = "out_dir",
            conflicts_with = "out_dir"
        )]
        out: Option<PathBuf>,
        /// A folder for the result files, errors.jsonl and manifest.json (the inputs' folder
        /// puts them beside the inputs).
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
        /// jsonl or csv (default: from the file's extension).
        #[arg(long, value_enum)]
        format: Option<Format>,
    },
    /// Every benchmark, each with its baseline run in the same run, on a fresh local cloud: a
    /// million-line job scanned (against `wc -l`), submitted (against boto3 and the local
    /// cloud's own ceiling), collected and exported (against `cp`), peak memory, uploads,
    /// result latency, and the desktop results table at a million rows. Prints one table.
    Bench(bench::BenchArgs),
    /// The embedded local cloud (AWS wire protocols on 127.0.0.1, no AWS account).
    Local {
        #[command(subcommand)]
        action: LocalAction,
    },
}

#[derive(Subcommand, Debug)]
enum LocalAction {
    /// Run the local cloud until interrupted; prints one JSON line with its URL, region and keys.
    Serve {
        /// Loopback address to listen on; port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:0")]
        addr: std::net::SocketAddr,
        /// Data folder (default: local/data in the Ebb home).
        #[arg(long)]
        data: Option<std::path::PathBuf>,
        /// Simulated seconds per real second (e.g. 60 makes a minute of queueing take a second).
        #[arg(long, default_value_t = 1.0, value_name = "F")]
        speed: f64,
        /// Simulated seconds a new instance takes to start (endpoint creation, scale-out).
        #[arg(long, default_value_t = 3.0, value_name = "SECONDS", value_parser = parse_seconds)]
        startup: f64,
        /// Inject faults, e.g. `runtime:InvokeEndpointAsync=throttle:0.2,latency:50` or
        /// `s3=error:0.05`; `lost:RATE` / `error-after:RATE` serve the request, then drop the
        /// answer or answer a 500 (a retry repeats it). Services: s3, sagemaker, runtime,
        /// sts, cloudwatch, autoscaling. Repeatable.
        #[arg(long = "fault", value_name = "SPEC", value_parser = parse_fault)]
        faults: Vec<ebb_local::faults::Fault>,
        /// Behave like a busy real AWS account: control-plane throttling, empty log pages
        /// with a token, expiring session credentials, failure objects named apart from
        /// outputs. Also on when EBB_LOCAL_AWS_LIKE=1.
        #[arg(long)]
        aws_like: bool,
    },
    /// Print shell `export` lines that point AWS tools (boto3, the aws CLI, notebooks) at the
    /// running local cloud: `eval "$(ebb local env)"`.
    Env,
    /// The models that run for real in local mode on this computer: those of a supported
    /// family (T5, Llama, Qwen2) in the Hugging Face cache, then small ones to download, with
    /// the memory and disk each needs. Other models get simulated answers.
    Models,
    /// Download a model's files into the Hugging Face cache (`$HF_HOME/hub`), as a deploy in
    /// local mode would, so its endpoints start at once and offline. Honours HF_TOKEN (gated
    /// models) and HF_HUB_OFFLINE.
    Pull {
        /// Hugging Face model id, e.g. google/flan-t5-base.
        model: String,
    },
}

fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(s) if s.is_finite() && (0.0..=86_400.0).contains(&s) => Ok(s),
        _ => Err(format!(
            "`{text}` is not a number of seconds between 0 and 86400"
        )),
    }
}

fn parse_fault(spec: &str) -> Result<ebb_local::faults::Fault, String> {
    ebb_local::faults::Fault::parse(spec).map_err(|e| e.to_string())
}

#[derive(Subcommand, Debug)]
enum SettingsAction {
    /// Print the settings and the effective connection target.
    Show,
    /// Set KEY to VALUE (an empty VALUE clears it). Keys: mode, profile, region, endpoint_url,
    /// role_arn, bucket, prefix.
    Set { key: String, value: String },
}

fn main() -> ExitCode {
    // Before any thread starts: everything Ebb creates is its user's alone.
    ebb_core::home::private_umask();
    // SAFETY: first thing in `main`: no other thread runs yet.
    unsafe { ebb_local::model::set_thread_env() };
    let cli = Cli::parse();
    let (stderr, file) = if cli.verbose {
        ("info,ebb=debug", "debug")
    } else {
        ("warn", "info")
    };
    let home = ebb_core::home::ebb_home().ok();
    let private = home.as_deref().map(ebb_core::home::make_private);
    match ebb_core::logfile::init_tracing(home.as_deref(), "cli", stderr, file) {
        Ok(path) => tracing::debug!("logging to {}", path.display()),
        Err(e) => tracing::warn!("{e}"),
    }
    if let Some(Err(e)) = private {
        tracing::warn!("the Ebb home could not be made private: {e}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return output::fail(&format!("could not start the async runtime: {e}")),
    };
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> ExitCode {
    let overrides = Overrides {
        profile: cli.profile,
        region: cli.region,
        endpoint_url: cli.endpoint_url,
        local: cli.local,
    };
    if let Some(url) = &overrides.endpoint_url
        && let Some(problem) = ebb_core::validate::endpoint_url(url)
    {
        return output::fail(&format!("--endpoint-url: {problem}"));
    }
    if let Some(region) = &overrides.region
        && let Some(problem) = ebb_core::validate::region(region)
    {
        return output::fail(&format!("--region: {problem}"));
    }
    let ebb = match Ebb::open(overrides) {
        Ok(ebb) => ebb,
        Err(e) => return output::fail_error(&e),
    };
    match cli.command {
        Command::Settings {
            action: SettingsAction::Show,
        } => match local::show_running(&ebb)
            .await
            .and_then(|()| ebb.settings_view())
        {
            Ok(view) => output::settings(&view, cli.json),
            Err(e) => output::fail_error(&e),
        },
        Command::Settings {
            action: SettingsAction::Set { key, value },
        } => match ebb.set_setting(&key, &value) {
            Ok(settings) => output::set(&ebb, &key, &settings, cli.json),
            Err(e) => output::fail_error(&e),
        },
        Command::Local {
            action:
                LocalAction::Serve {
                    addr,
                    data,
                    speed,
                    startup,
                    faults,
                    aws_like,
                },
        } => {
            let options = local::ServeOptions {
                addr,
                data,
                speed,
                startup: std::time::Duration::from_secs_f64(startup),
                faults,
                aws_like,
            };
            local::serve(ebb.home(), options).await
        }
        Command::Local {
            action: LocalAction::Env,
        } => local::env(ebb.home()).await,
        Command::Local {
            action: LocalAction::Models,
        } => local::models(cli.json),
        Command::Local {
            action: LocalAction::Pull { model },
        } => local::pull(&model, cli.json).await,
        Command::Bench(args) => bench::run(args).await,
        Command::Jobs => jobs::list(&ebb, cli.json).await,
        Command::Cancel { job, discard } => batch::cancel(&ebb, &job, discard, cli.json).await,
        Command::Status { id } => batch::status(&ebb, &id, cli.json).await,
        Command::Job { job } => jobs::show(&ebb, &job, cli.json).await,
        Command::Results {
            job,
            out,
            format,
            out_dir: None,
        } => {
            let format = format.map(|f| match f {
                Format::Jsonl => ebb_core::jobs::export::ExportFormat::Jsonl,
                Format::Csv => ebb_core::jobs::export::ExportFormat::Csv,
            });
            let out = out.unwrap_or_default();
            jobs::results(&ebb, &job, (&out, format), cli.json).await
        }
        // A scan-only check needs no cloud.
        Command::Submit(args) if args.check => jobs::submit(&ebb, *args, cli.json, false).await,
        Command::Submit(_)
        | Command::Resume { .. }
        | Command::Retry(_)
        | Command::Results {
            out_dir: Some(_), ..
        } => {
            let attached = match local::attach_if_local(&ebb).await {
                Ok(a) => a,
                Err(code) => return code,
            };
            let in_process = matches!(attached, Some(ebb_local::home::Attached::Started { .. }));
            let code = match cli.command {
                Command::Submit(args) => jobs::submit(&ebb, *args, cli.json, in_process).await,
                Command::Resume { job, wait } => {
                    jobs::resume(&ebb, &job, wait || in_process, cli.json).await
                }
                Command::Retry(args) => batch::retry(&ebb, *args, in_process, cli.json).await,
                // The manifest's cost figures come from the endpoint.
                Command::Results {
                    job,
                    out_dir: Some(dir),
                    ..
                } => batch::write_files(&ebb, &job, &dir, cli.json).await,
                _ => ExitCode::FAILURE,
            };
            if let Some(a) = attached {
                a.stop(ebb.home()).await;
            }
            code
        }
        Command::Deploy(_)
        | Command::Endpoints
        | Command::Update(_)
        | Command::Invoke { .. }
        | Command::Logs { .. }
        | Command::Autoscale(_)
        | Command::Metrics { .. }
        | Command::Loadtest(_)
        | Command::Teardown { .. } => {
            let attached = match local::attach_if_local(&ebb).await {
                Ok(a) => a,
                Err(code) => return code,
            };
            let in_process = matches!(attached, Some(ebb_local::home::Attached::Started { .. }));
            let note = (in_process && !cli.json)
                .then(|| local::needs_a_cloud_that_stays(&cli.command))
                .flatten();
            let json = cli.json;
            let code = match cli.command {
                Command::Deploy(args) => endpoints::deploy(&ebb, *args, json).await,
                Command::Endpoints => endpoints::list(&ebb, json).await,
                Command::Update(args) => update::update(&ebb, *args, json).await,
                Command::Invoke {
                    endpoint,
                    prompt,
                    params,
                    wait,
                } => {
                    let args = endpoints::InvokeArgs {
                        endpoint,
                        prompt,
                        params,
                        wait,
                    };
                    endpoints::invoke(&ebb, args, json).await
                }
                Command::Logs { endpoint, follow } => {
                    endpoints::logs(&ebb, &endpoint, follow, json).await
                }
                Command::Teardown {
                    endpoint,
                    yes,
                    delete_data,
                } => endpoints::teardown(&ebb, &endpoint, (yes, delete_data), json).await,
                Command::Autoscale(args) => scaling::autoscale(&ebb, *args, json).await,
                Command::Metrics { endpoint, since } => {
                    scaling::metrics(&ebb, &endpoint, since, json).await
                }
                Command::Loadtest(args) => scaling::loadtest(&ebb, *args, json).await,
                _ => ExitCode::FAILURE,
            };
            if let Some(a) = attached {
                a.stop(ebb.home()).await;
            }
            if let Some(note) = note.filter(|_| code == ExitCode::SUCCESS) {
                eprintln!("{note}");
            }
            code
        }
        // Local mode prices from the bundled table: no local cloud is needed.
        Command::Instances => instances::list(&ebb, cli.json).await,
        Command::Doctor => {
            let attached = match local::attach_if_local(&ebb).await {
                Ok(a) => a,
                Err(code) => return code,
            };
            let json = cli.json;
            let progress = move |check: &ebb_core::Check| {
                if !json {
                    output::check_line(check);
                }
            };
            let code = match ebb.doctor(&progress).await {
                Ok(report) => output::doctor(&report, json),
                Err(e) => output::fail_error(&e),
            };
            if let Some(a) = attached {
                a.stop(ebb.home()).await;
            }
            code
        }
    }
}
