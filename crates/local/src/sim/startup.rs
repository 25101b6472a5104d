//! How a Hugging Face TGI container starts on a SageMaker endpoint, line by line, and the known
//! ways it fails (`EBB_LOCAL_FAILURE`). The lines follow what TGI's launcher and shards print
//! (huggingface/text-generation-inference, `launcher/src/main.rs` and
//! `server/text_generation_server/cli.py`); the FailureReason strings are SageMaker's, as
//! DescribeEndpoint shows them.

use std::collections::BTreeMap;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::backend::ENV_FAILURE;

/// SageMaker's default `ContainerStartupHealthCheckTimeoutInSeconds`: a container that does
/// not pass the ping health check within 8 minutes of starting fails the launch (developer
/// guide, "Use your own inference code with hosting services"; the API reference gives no
/// default).
pub const DEFAULT_HEALTH_CHECK_TIMEOUT_S: u64 = 480;

/// A known way a TGI endpoint on SageMaker fails, as `EBB_LOCAL_FAILURE` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The weights download outlasts the start-up health check timeout.
    HealthCheckTimeout,
    /// The warm-up (the first prefill) runs out of GPU memory.
    OomWarmup,
    /// The endpoint serves, but every generation runs out of GPU memory.
    OomRequest,
    /// The model is gated and the container has no Hugging Face token.
    GatedModel,
    /// No model of that id exists (or it is private).
    ModelNotFound,
    /// The account's instance quota for the instance type is 0 (CreateEndpoint refuses).
    Quota,
    /// SageMaker cannot get an instance of the type (no container starts).
    NoCapacity,
    /// The image is not in the region's ECR (CreateModel refuses).
    ImageNotFound,
    /// The tokenizer has no chat template: chat bodies fail, generate bodies work.
    NoChatTemplate,
    /// The shard cannot import a compiled kernel (an image and GPU mismatch).
    ImportError,
}

const KINDS: [(&str, FailureKind); 10] = [
    ("health-check-timeout", FailureKind::HealthCheckTimeout),
    ("oom-warmup", FailureKind::OomWarmup),
    ("oom-request", FailureKind::OomRequest),
    ("gated-model", FailureKind::GatedModel),
    ("model-not-found", FailureKind::ModelNotFound),
    ("quota", FailureKind::Quota),
    ("no-capacity", FailureKind::NoCapacity),
    ("image-not-found", FailureKind::ImageNotFound),
    ("no-chat-template", FailureKind::NoChatTemplate),
    ("import-error", FailureKind::ImportError),
];

impl FailureKind {
    /// The kind a model environment asks for, if any. Errors: an unknown kind, naming the
    /// kinds accepted (a container configuration error).
    pub fn from_env(env: &BTreeMap<String, String>) -> Result<Option<FailureKind>, String> {
        let Some(raw) = env.get(ENV_FAILURE) else {
            return Ok(None);
        };
        let wanted = raw.trim().to_ascii_lowercase();
        if wanted.is_empty() {
            return Ok(None);
        }
        KINDS
            .iter()
            .find(|(name, _)| *name == wanted)
            .map(|(_, kind)| Some(*kind))
            .ok_or_else(|| {
                let names: Vec<&str> = KINDS.iter().map(|(n, _)| *n).collect();
                format!("{ENV_FAILURE} is `{raw}`; use one of {}", names.join(", "))
            })
    }

    /// The kind a model environment asks for; an unknown kind counts as none (it fails the
    /// endpoint's start instead, as a configuration error).
    pub fn of(env: &BTreeMap<String, String>) -> Option<FailureKind> {
        FailureKind::from_env(env).ok().flatten()
    }
}

/// What a start needs to know about the endpoint's (first) variant and its model.
#[derive(Debug, Clone)]
pub struct StartPlan {
    pub endpoint: String,
    pub variant: String,
    /// The model's container environment.
    pub env: BTreeMap<String, String>,
    /// The variant's ContainerStartupHealthCheckTimeoutInSeconds.
    pub health_check_timeout: Duration,
    /// Simulated time a healthy container takes to start.
    pub startup: Duration,
}

/// How the start ends once the script's lines are written.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The container is up: the backend's health check decides.
    Serve,
    /// The endpoint fails with this FailureReason.
    Fail(String),
}

/// The container's lines, each after a wait (simulated time), then a last wait and the end.
#[derive(Debug, Clone)]
pub struct Script {
    pub steps: Vec<(Duration, String)>,
    pub tail: Duration,
    pub outcome: Outcome,
}

/// SageMaker's FailureReason when the container never answers `/ping` with 200 in time.
pub fn ping_failure(variant: &str) -> String {
    format!(
        "The primary container for production variant {variant} did not pass the ping health check. Please check CloudWatch logs for this endpoint."
    )
}

/// SageMaker's FailureReason when no instance of the type can be had.
pub const NO_CAPACITY: &str = "Unable to provision requested ML compute capacity due to InsufficientInstanceCapacity error. Please retry using a different ML instance type or after some time.";

/// The start-up lines and outcome for `plan` playing `kind` (none: a healthy start).
pub fn script(plan: &StartPlan, kind: Option<FailureKind>) -> Script {
    let mut s = Writer::new(plan);
    match kind {
        Some(FailureKind::HealthCheckTimeout) => return endless_download(plan),
        Some(FailureKind::NoCapacity) => {
            return Script {
                steps: Vec::new(),
                tail: plan.startup,
                outcome: Outcome::Fail(NO_CAPACITY.into()),
            };
        }
        Some(FailureKind::GatedModel) if !has_token(&plan.env) => {
            return s.download_error(gated_lines(plan));
        }
        Some(FailureKind::ModelNotFound) => {
            return s.download_error(not_found_lines(plan));
        }
        _ => {}
    }
    s.download(3);
    match kind {
        Some(FailureKind::ImportError) => s.import_error(),
        Some(FailureKind::OomWarmup) => {
            s.shards();
            s.warmup_oom()
        }
        _ => {
            s.shards();
            s.finish(Outcome::Serve)
        }
    }
}

/// Whether the container can authenticate to the Hugging Face Hub.
fn has_token(env: &BTreeMap<String, String>) -> bool {
    ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"]
        .iter()
        .any(|k| env.get(*k).is_some_and(|v| !v.trim().is_empty()))
}

impl StartPlan {
    fn model_id(&self) -> String {
        self.env
            .get("HF_MODEL_ID")
            .filter(|m| !m.trim().is_empty())
            .cloned()
            .unwrap_or_else(|| "model".into())
    }

    fn gpus(&self) -> u32 {
        self.env
            .get("SM_NUM_GPUS")
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(1u32)
            .clamp(1, 8)
    }

    /// TGI's `--max-batch-prefill-tokens` (`MAX_BATCH_PREFILL_TOKENS`), 4096 when unset.
    fn prefill_tokens(&self) -> u32 {
        self.env
            .get("MAX_BATCH_PREFILL_TOKENS")
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(4096)
    }

    /// A hex digest of `salt`, the endpoint and the model, for request ids and download times
    /// that stay the same from run to run.
    fn digest(&self, salt: &str) -> String {
        hex::encode(Sha256::digest(
            format!("{salt}\u{0}{}\u{0}{}", self.endpoint, self.model_id()).as_bytes(),
        ))
    }

    /// Where the Hub's cache keeps the model's files (`HF_HOME=/data` in the image).
    fn snapshot_dir(&self) -> String {
        // A revision's commit hash: the same model, the same snapshot.
        let commit = hex::encode(Sha256::digest(self.model_id().as_bytes()));
        let snapshot = &commit[..40];
        format!(
            "/data/models--{}/snapshots/{snapshot}",
            self.model_id().replace('/', "--")
        )
    }
}

/// `H:MM:SS`, as Python prints a `timedelta` of whole seconds.
pub(crate) fn clock_time(d: Duration) -> String {
    let s = d.as_secs().max(1);
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// A weights download that never finishes: a file every twelfth of the health check timeout,
/// out of thirty, until the timeout; then the ping health check fails. No error line: the
/// container was still downloading.
fn endless_download(plan: &StartPlan) -> Script {
    const SHARDS: u32 = 30;
    let every = plan.health_check_timeout / 12;
    let dir = plan.snapshot_dir();
    let mut steps = Vec::new();
    for i in 1..=12u32.min(SHARDS) {
        let file = format!("model-{i:05}-of-{SHARDS:05}.safetensors");
        steps.push((Duration::ZERO, format!("Download file: {file}")));
        steps.push((
            every,
            format!("Downloaded {dir}/{file} in {}.", clock_time(every)),
        ));
    }
    Script {
        steps,
        tail: Duration::ZERO,
        outcome: Outcome::Fail(ping_failure(&plan.variant)),
    }
}

/// Builds a script whose waits add up to the plan's start-up delay: each line has a weight,
/// and the waits are shares of the delay in proportion.
struct Writer<'a> {
    plan: &'a StartPlan,
    lines: Vec<(f64, String)>,
}

impl<'a> Writer<'a> {
    fn new(plan: &'a StartPlan) -> Writer<'a> {
        Writer {
            plan,
            lines: Vec::new(),
        }
    }

    fn line(&mut self, weight: f64, text: impl Into<String>) {
        self.lines.push((weight, text.into()));
    }

    /// The lines with their waits; `tail_weight` is the share left after the last line.
    fn finish_weighted(self, tail_weight: f64, outcome: Outcome) -> Script {
        let total: f64 = self.lines.iter().map(|(w, _)| w).sum::<f64>() + tail_weight;
        let share = |w: f64| self.plan.startup.mul_f64(w / total);
        Script {
            steps: self
                .lines
                .iter()
                .map(|(w, text)| (share(*w), text.clone()))
                .collect(),
            tail: share(tail_weight),
            outcome,
        }
    }

    fn finish(self, outcome: Outcome) -> Script {
        self.finish_weighted(0.5, outcome)
    }

    /// `files` weight files downloaded, then TGI's summary line. The times shown are what
    /// a GPU instance takes per file (tens of seconds), whatever the simulated delay.
    fn download(&mut self, files: u32) {
        let dir = self.plan.snapshot_dir();
        let digest = self.plan.digest("download").into_bytes();
        for i in 1..=files {
            let file = format!("model-{i:05}-of-{files:05}.safetensors");
            self.line(0.1, format!("Download file: {file}"));
            let took = 35 + u64::from(digest[i as usize % digest.len()] % 16);
            self.line(
                3.0,
                format!(
                    "Downloaded {dir}/{file} in {}.",
                    clock_time(Duration::from_secs(took))
                ),
            );
        }
        self.line(0.1, "Successfully downloaded weights.");
    }

    /// One shard per GPU starts and reports ready.
    fn shards(&mut self) {
        let gpus = self.plan.gpus();
        for rank in 0..gpus {
            self.line(0.1, format!("Starting shard rank={rank}"));
        }
        for rank in 0..gpus {
            let weight = if rank == 0 { 2.0 } else { 0.05 };
            self.line(weight, format!("Shard ready in 12.3s rank={rank}"));
        }
    }

    /// The download fails early with these lines; the endpoint fails at the end of the delay.
    fn download_error(mut self, lines: Vec<String>) -> Script {
        for text in lines {
            self.line(0.1, text);
        }
        self.line(0.1, "Error: DownloadError");
        let weight: f64 = self.lines.iter().map(|(w, _)| w).sum();
        let variant = self.plan.variant.clone();
        self.finish_weighted(weight * 4.0, Outcome::Fail(ping_failure(&variant)))
    }

    /// The shard process dies importing a compiled kernel.
    fn import_error(mut self) -> Script {
        self.line(0.5, "Starting shard rank=0");
        for text in [
            "Shard complete standard error output:",
            "",
            "Traceback (most recent call last):",
            "  File \"/opt/conda/bin/text-generation-server\", line 8, in <module>",
            "    sys.exit(app())",
            "  File \"/opt/conda/lib/python3.11/site-packages/text_generation_server/layers/attention/cuda.py\", line 12, in <module>",
            "    import flash_attn_2_cuda",
            "ModuleNotFoundError: No module named 'flash_attn_2_cuda'",
        ] {
            self.line(0.05, text);
        }
        self.line(0.1, "Shard 0 failed to start");
        self.line(0.05, "Error: ShardCannotStart");
        let variant = self.plan.variant.clone();
        self.finish_weighted(2.0, Outcome::Fail(ping_failure(&variant)))
    }

    /// The warm-up's first prefill runs out of GPU memory.
    fn warmup_oom(mut self) -> Script {
        let tokens = self.plan.prefill_tokens();
        let not_enough = format!(
            "Not enough memory to handle {tokens} prefill tokens. You need to decrease `--max-batch-prefill-tokens`"
        );
        self.line(0.5, "Warming up model");
        for text in [
            "Method Warmup encountered an error.",
            "Traceback (most recent call last):",
            "  File \"/opt/conda/lib/python3.11/site-packages/text_generation_server/models/flash_causal_lm.py\", line 1364, in warmup",
            "    _, batch, _ = self.generate_token(batch)",
            "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 22.05 GiB of which 1.12 GiB is free.",
            "",
            "The above exception was the direct cause of the following exception:",
            "",
            "Traceback (most recent call last):",
            "  File \"/opt/conda/lib/python3.11/site-packages/text_generation_server/models/flash_causal_lm.py\", line 1368, in warmup",
            "    raise RuntimeError(",
        ] {
            self.line(0.05, text);
        }
        self.line(0.05, format!("RuntimeError: {not_enough}"));
        self.line(0.1, format!("Error: Warmup(Generation(\"{not_enough}\"))"));
        let variant = self.plan.variant.clone();
        self.finish_weighted(1.0, Outcome::Fail(ping_failure(&variant)))
    }
}

/// The Hub's answer for a gated model without a token, as TGI's download step prints it.
fn gated_lines(plan: &StartPlan) -> Vec<String> {
    let model = plan.model_id();
    hub_error(
        plan,
        "GatedRepoError",
        [
            format!(
                "Cannot access gated repo for url https://huggingface.co/api/models/{model}/revision/main."
            ),
            format!(
                "Access to model {model} is restricted. You must have access to it and be authenticated to access it. Please log in."
            ),
        ],
    )
}

/// The Hub's answer for a model id that does not exist (or is private).
fn not_found_lines(plan: &StartPlan) -> Vec<String> {
    let model = plan.model_id();
    hub_error(
        plan,
        "RepositoryNotFoundError",
        [
            format!(
                "Repository Not Found for url: https://huggingface.co/api/models/{model}/revision/main."
            ),
            "Please make sure you specified the correct `repo_id` and `repo_type`.".to_string(),
        ],
    )
}

/// `Download encountered an error:`, the call stack down to the Hub client, its `error`
/// (`huggingface_hub.errors.<error>: 401 Client Error. (Request ID: Root=1-...)`) and the
/// explanation the Hub client adds.
fn hub_error(plan: &StartPlan, error: &str, explanation: [String; 2]) -> Vec<String> {
    let id = plan.digest("request");
    let mut lines: Vec<String> = [
        "Download encountered an error:",
        "Traceback (most recent call last):",
        "  File \"/opt/conda/lib/python3.11/site-packages/text_generation_server/cli.py\", line 199, in download_weights",
        "    utils.weight_files(model_id, revision, extension)",
        "  File \"/opt/conda/lib/python3.11/site-packages/huggingface_hub/utils/_http.py\", line 426, in hf_raise_for_status",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    lines.push(format!(
        "    raise _format({error}, message, response) from e"
    ));
    lines.push(format!(
        "huggingface_hub.errors.{error}: 401 Client Error. (Request ID: Root=1-{}-{})",
        &id[..8],
        &id[8..32]
    ));
    lines.push(String::new());
    lines.extend(explanation);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(pairs: &[(&str, &str)]) -> StartPlan {
        StartPlan {
            endpoint: "ep".into(),
            variant: "AllTraffic".into(),
            env: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            health_check_timeout: Duration::from_secs(600),
            startup: Duration::from_secs(120),
        }
    }

    fn total(s: &Script) -> Duration {
        s.steps.iter().map(|(wait, _)| *wait).sum::<Duration>() + s.tail
    }

    #[test]
    fn kinds_are_read_from_the_environment() {
        assert_eq!(FailureKind::from_env(&plan(&[]).env), Ok(None));
        let oom = plan(&[(ENV_FAILURE, " OOM-Warmup ")]);
        assert_eq!(
            FailureKind::from_env(&oom.env),
            Ok(Some(FailureKind::OomWarmup))
        );
        let bad = plan(&[(ENV_FAILURE, "gremlins")]);
        let err = FailureKind::from_env(&bad.env).unwrap_err();
        assert!(err.contains("`gremlins`"), "{err}");
        assert!(err.contains("health-check-timeout") && err.contains("import-error"));
        assert_eq!(FailureKind::of(&bad.env), None);
    }

    #[test]
    fn a_healthy_start_spreads_its_lines_over_the_delay() {
        let p = plan(&[("SM_NUM_GPUS", "4")]);
        let s = script(&p, None);
        assert_eq!(s.outcome, Outcome::Serve);
        let spread = total(&s).as_secs_f64();
        assert!((spread - 120.0).abs() < 0.01, "{spread}");
        assert!(s.steps.iter().filter(|(w, _)| !w.is_zero()).count() > 5);
        let shards = s.steps.iter().filter(|(_, l)| l.starts_with("Shard ready"));
        assert_eq!(shards.count(), 4);
        // A token makes a gated model start like any other.
        let gated = plan(&[(ENV_FAILURE, "gated-model"), ("HF_TOKEN", "hf_x")]);
        assert_eq!(
            script(&gated, Some(FailureKind::GatedModel)).outcome,
            Outcome::Serve
        );
    }

    #[test]
    fn a_download_that_never_ends_lasts_the_health_check_timeout() {
        let p = plan(&[]);
        let s = script(&p, Some(FailureKind::HealthCheckTimeout));
        assert_eq!(total(&s), Duration::from_secs(600));
        assert_eq!(s.outcome, Outcome::Fail(ping_failure("AllTraffic")));
        assert!(s.steps.iter().all(|(_, l)| !l.contains("Error")));
        assert!(s.steps[1].1.ends_with(" in 0:00:50."), "{}", s.steps[1].1);
    }

    #[test]
    fn no_capacity_writes_nothing() {
        let s = script(&plan(&[]), Some(FailureKind::NoCapacity));
        assert!(s.steps.is_empty());
        assert_eq!(s.tail, Duration::from_secs(120));
        assert_eq!(s.outcome, Outcome::Fail(NO_CAPACITY.into()));
    }

    #[test]
    fn times_print_as_python_timedeltas() {
        assert_eq!(clock_time(Duration::from_secs(41)), "0:00:41");
        assert_eq!(clock_time(Duration::from_secs(3725)), "1:02:05");
        assert_eq!(clock_time(Duration::ZERO), "0:00:01");
    }
}
