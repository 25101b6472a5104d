//! What went wrong with a deploy, in one sentence and its fix: reads what SageMaker said (an
//! API error, the endpoint's `FailureReason`), what the TGI container logged, and how the
//! smoke test's request failed, and matches them against the known ways a TGI endpoint fails.
//!
//! Sources for the signatures: SageMaker's `FailureReason` and `ResourceLimitExceeded` texts
//! (<https://docs.aws.amazon.com/sagemaker/latest/dg/regions-quotas.html>,
//! <https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeEndpoint.html>);
//! TGI's launcher and server (`launcher/src/main.rs`: `DownloadError`, `ShardCannotStart`;
//! `server/text_generation_server/models/flash_causal_lm.py`: the warm-up's "Not enough
//! memory to handle … prefill tokens"; `router/src/infer/chat_template.rs`: "Template error:
//! template not found") and `huggingface_hub`'s `GatedRepoError` / `RepositoryNotFoundError`.

use serde::Serialize;

use super::logs::LogLine;

/// Which known failure a deploy met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum DiagnosisKind {
    /// The start-up health check was not passed in time while the weights still loaded.
    StartupTimeout,
    /// CUDA out of memory while TGI warmed the model up.
    OutOfMemoryAtWarmup,
    /// CUDA out of memory on a request, the endpoint being InService.
    OutOfMemoryOnRequest,
    /// A gated or private model and no Hugging Face token (the Hub answered 401/403).
    GatedModel,
    /// No such model on the Hugging Face Hub.
    ModelNotFound,
    /// The account's quota for the instance type is too low (`ResourceLimitExceeded`).
    QuotaExceeded,
    /// AWS has no capacity for the instance type now (`InsufficientInstanceCapacity`).
    NoCapacity,
    /// The container image does not exist (in this region).
    ImageNotFound,
    /// Chat (Messages API) requests on a model without a chat template.
    NoChatTemplate,
    /// The TGI shard died at start with a Python import error.
    ImportError,
}

/// One known failure: what happened, in a sentence, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Diagnosis {
    pub kind: DiagnosisKind,
    pub sentence: String,
    pub fix: String,
    /// The line (error message, log line or failure body) it was told by.
    pub evidence: String,
}

/// What the deploy saw, for [`diagnose`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Evidence<'a> {
    /// An AWS API error: its code and message (e.g. CreateEndpoint's).
    pub api_error: Option<(&'a str, &'a str)>,
    /// DescribeEndpoint's `FailureReason`.
    pub failure_reason: Option<&'a str>,
    /// The endpoint's container log lines, oldest first.
    pub logs: &'a [LogLine],
    /// The body of a failed request (the smoke test's failure object).
    pub request_failure: Option<&'a str>,
    /// The endpoint came InService: an out-of-memory line in its log is a request's, not the
    /// warm-up's.
    pub in_service: bool,
    pub facts: Facts<'a>,
}

/// The deploy's own values the sentences name.
#[derive(Debug, Clone, Copy, Default)]
pub struct Facts<'a> {
    pub model_id: &'a str,
    pub instance_type: &'a str,
    pub region: &'a str,
    pub image: &'a str,
    pub health_check_timeout_s: u32,
}

fn diagnosis(kind: DiagnosisKind, sentence: String, fix: String, evidence: &str) -> Diagnosis {
    Diagnosis {
        kind,
        sentence,
        fix,
        evidence: evidence.trim().chars().take(500).collect(),
    }
}

/// The first known failure the evidence shows, most specific first: an API refusal, then
/// SageMaker's own failure reasons, then the container's log and the failed request.
pub fn diagnose(e: &Evidence<'_>) -> Option<Diagnosis> {
    from_api_error(e)
        .or_else(|| from_failure_reason(e))
        .or_else(|| from_request_failure(e))
        .or_else(|| from_logs(e))
        .or_else(|| startup_timeout(e))
}

fn from_api_error(e: &Evidence<'_>) -> Option<Diagnosis> {
    let (code, message) = e.api_error?;
    if code == "ResourceLimitExceeded" && message.contains("for endpoint usage") {
        return Some(quota(message, e.facts));
    }
    image_missing(message, e.facts)
}

/// `The account-level service limit 'ml.g5.12xlarge for endpoint usage' is 0 Instances, with
/// current utilization of 0 Instances and a request delta of 1 Instances. …`
fn quota(message: &str, f: Facts<'_>) -> Diagnosis {
    let quota_name = between(message, "limit '", "'").unwrap_or("<instance> for endpoint usage");
    let limit = between(message, "' is ", " Instances").unwrap_or("?");
    let delta = between(message, "request delta of ", " Instances").unwrap_or("?");
    let instance = quota_name.trim_end_matches(" for endpoint usage");
    diagnosis(
        DiagnosisKind::QuotaExceeded,
        format!(
            "Your account may run {limit} × {instance} on endpoints in {}, and this deploy needs {delta} more.",
            region_or_this(f)
        ),
        format!(
            "Ask for more in Service Quotas (Amazon SageMaker, quota \"{quota_name}\"), or choose an instance type you have quota for."
        ),
        message,
    )
}

fn image_missing(message: &str, f: Facts<'_>) -> Option<Diagnosis> {
    let lower = message.to_ascii_lowercase();
    let about_image = lower.contains("image") || lower.contains(".dkr.ecr.");
    let missing = [
        "not found",
        "does not exist",
        "cannotpullcontainer",
        "failed to pull",
    ]
    .iter()
    .any(|s| lower.contains(s));
    (about_image && missing).then(|| {
        diagnosis(
            DiagnosisKind::ImageNotFound,
            format!(
                "The container image {} does not exist in {}.",
                if f.image.is_empty() { "asked for" } else { f.image },
                region_or_this(f)
            ),
            "Choose a TGI version that is published in this region (the Deploy form lists them), or deploy in a region that has it.".into(),
            message,
        )
    })
}

fn from_failure_reason(e: &Evidence<'_>) -> Option<Diagnosis> {
    let reason = e.failure_reason?;
    if reason.contains("InsufficientInstanceCapacity")
        || reason.contains("Unable to provision requested ML compute capacity")
    {
        let f = e.facts;
        return Some(diagnosis(
            DiagnosisKind::NoCapacity,
            format!(
                "AWS has no {} capacity free in {} right now.",
                if f.instance_type.is_empty() { "instance" } else { f.instance_type },
                region_or_this(f)
            ),
            "Try again later, or choose another instance type with enough GPU memory (another family or size).".into(),
            reason,
        ));
    }
    image_missing(reason, e.facts)
}

fn from_request_failure(e: &Evidence<'_>) -> Option<Diagnosis> {
    let body = e.request_failure?;
    if body.contains("template not found") {
        return Some(diagnosis(
            DiagnosisKind::NoChatTemplate,
            format!(
                "{} has no chat template, so TGI's Messages API refuses chat requests.",
                model_or_the(e.facts)
            ),
            "Deploy it without the Messages API and send TGI {\"inputs\"} lines, or choose an instruct model that has a chat template.".into(),
            body,
        ));
    }
    out_of_memory(body).then(|| {
        diagnosis(
            DiagnosisKind::OutOfMemoryOnRequest,
            format!(
                "The endpoint is in service but ran out of GPU memory answering a request on {}.",
                instance_or_this(e.facts)
            ),
            oom_fix(),
            body,
        )
    })
}

fn out_of_memory(text: &str) -> bool {
    text.contains("CUDA out of memory") || text.contains("Not enough memory to handle")
}

fn oom_fix() -> String {
    "Choose an instance with more GPU memory, quantise the model (HF_MODEL_QUANTIZE, e.g. awq or bitsandbytes), or lower MAX_BATCH_PREFILL_TOKENS and MAX_TOTAL_TOKENS.".into()
}

/// The container's own words: the first log line that matches a known signature.
fn from_logs(e: &Evidence<'_>) -> Option<Diagnosis> {
    e.logs
        .iter()
        .find_map(|line| from_log_line(&line.message, e))
}

fn from_log_line(line: &str, e: &Evidence<'_>) -> Option<Diagnosis> {
    let f = e.facts;
    if line.contains("GatedRepoError:") || line.contains("Cannot access gated repo") {
        return Some(diagnosis(
            DiagnosisKind::GatedModel,
            format!(
                "{} is gated or private, and the container has no Hugging Face token that may read it (the Hub answered 401).",
                model_or_the(f)
            ),
            "Accept the model's terms on its Hub page with your account, then deploy with your token: --env HF_TOKEN=hf_… (the Deploy form's environment).".into(),
            line,
        ));
    }
    if line.contains("RepositoryNotFoundError:") || line.contains("Repository Not Found") {
        return Some(diagnosis(
            DiagnosisKind::ModelNotFound,
            format!(
                "The Hugging Face Hub has no model named {}.",
                if f.model_id.is_empty() { "as given" } else { f.model_id }
            ),
            "Check the model id (organisation/name, as on its Hub page); a private model also needs HF_TOKEN.".into(),
            line,
        ));
    }
    if out_of_memory(line) && e.in_service {
        return Some(diagnosis(
            DiagnosisKind::OutOfMemoryOnRequest,
            format!(
                "The endpoint is in service but ran out of GPU memory answering a request on {}.",
                instance_or_this(f)
            ),
            oom_fix(),
            line,
        ));
    }
    if out_of_memory(line) {
        return Some(diagnosis(
            DiagnosisKind::OutOfMemoryAtWarmup,
            format!(
                "The model does not fit in {}'s GPU memory: TGI ran out of it while warming the model up.",
                instance_or_this(f)
            ),
            oom_fix(),
            line,
        ));
    }
    (line.contains("ModuleNotFoundError") || line.contains("ImportError:")).then(|| {
        diagnosis(
            DiagnosisKind::ImportError,
            "The TGI shard died at start: a Python module it needs could not be imported.".into(),
            "This TGI version does not run this model on this instance: choose another TGI version (usually a newer one) or another instance family.".into(),
            line,
        )
    })
}

/// A failed health check with no error in the log: the container was still loading.
fn startup_timeout(e: &Evidence<'_>) -> Option<Diagnosis> {
    let reason = e.failure_reason?;
    if !reason.contains("did not pass the ping health check") {
        return None;
    }
    let loading = loading_so_far(e.logs);
    Some(diagnosis(
        DiagnosisKind::StartupTimeout,
        format!(
            "The container did not pass its start-up health check within {} s{loading}.",
            e.facts.health_check_timeout_s
        ),
        "Raise the start-up health-check timeout (up to 3600 s; --health-check-timeout, or the Deploy form's field): large models take 10 to 30 minutes to download and load.".into(),
        reason,
    ))
}

/// ", still loading the weights: 3 files downloaded in 4 min 10 s so far", from TGI's
/// `Downloaded <file> in H:MM:SS.` lines; empty when the log has none.
fn loading_so_far(logs: &[LogLine]) -> String {
    let took: Vec<u64> = logs
        .iter()
        .filter(|l| l.message.contains("Downloaded "))
        .filter_map(|l| duration_s(l.message.rsplit(" in ").next()?))
        .collect();
    if took.is_empty() {
        return String::new();
    }
    let total: u64 = took.iter().sum();
    format!(
        ", still loading the weights: {} file{} downloaded in {} min {} s so far",
        took.len(),
        if took.len() == 1 { "" } else { "s" },
        total / 60,
        total % 60
    )
}

/// `0:04:10.` or `0:04:10.123` -> 250 s.
fn duration_s(text: &str) -> Option<u64> {
    let text = text.trim().trim_end_matches('.');
    let mut parts = text.split(':');
    let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
    let whole_s = s.split('.').next()?;
    Some(
        h.parse::<u64>().ok()? * 3600
            + m.parse::<u64>().ok()? * 60
            + whole_s.parse::<u64>().ok()?,
    )
}

fn between<'t>(text: &'t str, start: &str, end: &str) -> Option<&'t str> {
    let rest = &text[text.find(start)? + start.len()..];
    Some(&rest[..rest.find(end)?])
}

fn region_or_this(f: Facts<'_>) -> &str {
    if f.region.is_empty() {
        "this region"
    } else {
        f.region
    }
}

fn instance_or_this(f: Facts<'_>) -> &str {
    if f.instance_type.is_empty() {
        "the instance"
    } else {
        f.instance_type
    }
}

fn model_or_the(f: Facts<'_>) -> String {
    if f.model_id.is_empty() {
        "The model".into()
    } else {
        f.model_id.to_string()
    }
}

#[cfg(test)]
mod tests;
