//! What to deploy: the form's fields, the seed preset, generated names, and validation before
//! any AWS call.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::catalog::{instances, tgi};
use crate::validate;

/// Where the container image comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ImageChoice {
    /// A SageMaker Hugging Face TGI image, resolved for the region.
    Tgi {
        version: String,
    },
    Custom {
        uri: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct DeploySpec {
    /// Hugging Face model id, e.g. `google/flan-t5-xxl` (becomes HF_MODEL_ID).
    pub model_id: String,
    pub image: ImageChoice,
    /// Container environment beyond HF_MODEL_ID; SM_NUM_GPUS defaults to the instance's GPUs.
    pub environment: BTreeMap<String, String>,
    pub instance_type: String,
    pub instance_count: u32,
    pub health_check_timeout_s: u32,
    pub output_path: String,
    /// On by default (the article leaves it out; failures would then be invisible).
    pub failure_path: Option<String>,
    pub max_concurrency: u32,
    pub success_topic: Option<String>,
    pub error_topic: Option<String>,
    pub kms_key_id: Option<String>,
    pub model_name: String,
    pub endpoint_config_name: String,
    pub endpoint_name: String,
    /// TGI's Messages API: sets `MESSAGES_API_ENABLED=true` so that `/invocations` takes
    /// OpenAI chat-completions bodies (TGI 1.4.0 to 2.3.x read it; 2.4.0 and later take them
    /// anyway). Off when absent, so specs saved before it load.
    #[serde(default)]
    pub messages_api: bool,
    /// After InService, send one request through the async path and wait for its answer
    /// before calling the endpoint ready (on unless turned off; see [`super::smoke`]).
    #[serde(default = "on")]
    pub smoke_test: bool,
    /// How long to wait for InService, in seconds (60 to 14400; default 1800, as large
    /// models need).
    #[serde(default = "default_wait_limit")]
    pub wait_limit_s: u32,
}

fn on() -> bool {
    true
}

fn default_wait_limit() -> u32 {
    super::wait::DEFAULT_LIMIT_S
}

/// A problem with one field of the deploy form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct DeployProblem {
    pub field: String,
    pub message: String,
}

fn problem(field: &str, message: impl Into<String>) -> DeployProblem {
    DeployProblem {
        field: field.into(),
        message: message.into(),
    }
}

/// `name-YYYYMMDD-HHMMSS` from the model id's last segment: valid for SageMaker and unique per
/// second. `stamp` is the UTC time as `YYYYMMDD-HHMMSS`.
pub fn generated_name(model_id: &str, stamp: &str) -> String {
    let last = model_id.rsplit('/').next().unwrap_or(model_id);
    let mut base: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while base.contains("--") {
        base = base.replace("--", "-");
    }
    let mut base = base.trim_matches('-').to_string();
    base.truncate(63 - stamp.len() - 1);
    let base = base.trim_end_matches('-');
    if base.is_empty() {
        format!("model-{stamp}")
    } else {
        format!("{base}-{stamp}")
    }
}

/// The names a deploy derives from its endpoint name: the model takes the endpoint's own name,
/// the endpoint config `<name>-cfg`. SageMaker allows 63 characters for each
/// (<https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpointConfig.html>),
/// so for a name longer than 59 the config name keeps a prefix of it and adds 8 hex digits of
/// the name's SHA-256: stable for the same name, different for two names sharing the prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct DerivedNames {
    pub model_name: String,
    pub endpoint_config_name: String,
}

/// TGI's variable for the number of GPUs to shard the model over (the SageMaker LLM image sets
/// TGI's `--num-shard` from it).
pub const GPUS_VAR: &str = "SM_NUM_GPUS";

/// The variable TGI 1.4.0 to 2.3.x read to answer OpenAI chat-completions bodies on
/// `/invocations` (<https://huggingface.co/docs/text-generation-inference/messages_api>).
pub const MESSAGES_API_VAR: &str = "MESSAGES_API_ENABLED";

/// The first TGI release with the Messages API.
const MESSAGES_API_SINCE: (u32, u32, u32) = (1, 4, 0);

/// Longest SageMaker resource name (models, endpoint configs, endpoints).
pub const MAX_NAME_LEN: usize = 63;

/// [`DerivedNames`] for `endpoint_name`.
pub fn derived_names(endpoint_name: &str) -> DerivedNames {
    const SUFFIX: &str = "-cfg";
    let endpoint_config_name = if endpoint_name.len() + SUFFIX.len() <= MAX_NAME_LEN {
        format!("{endpoint_name}{SUFFIX}")
    } else {
        let digest = Sha256::digest(endpoint_name.as_bytes());
        let hash: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        let keep = MAX_NAME_LEN - SUFFIX.len() - hash.len() - 1;
        // Byte slicing is safe only on a char boundary; a non-ASCII name is refused later anyway.
        let cut = (0..=keep.min(endpoint_name.len()))
            .rev()
            .find(|&i| endpoint_name.is_char_boundary(i))
            .unwrap_or(0);
        let head = endpoint_name[..cut].trim_end_matches('-');
        format!("{head}-{hash}{SUFFIX}")
    };
    DerivedNames {
        model_name: endpoint_name.to_string(),
        endpoint_config_name,
    }
}

/// The current UTC time as `YYYYMMDD-HHMMSS`.
pub fn stamp_now() -> String {
    stamp(time::OffsetDateTime::now_utc())
}

/// `t` in UTC as `YYYYMMDD-HHMMSS`.
fn stamp(t: time::OffsetDateTime) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] =
        time::macros::format_description!("[year][month][day]-[hour][minute][second]");
    // Only a year past 9999 cannot be written; the clock is not there.
    t.to_offset(time::UtcOffset::UTC)
        .format(FORMAT)
        .unwrap_or_default()
}

impl DeploySpec {
    /// The seed article's deployment, exactly (../shared/seed/WORKFLOW.md), with Ebb's
    /// failure path added.
    pub fn seed(bucket: &str, prefix: &str, stamp: &str) -> DeploySpec {
        let model_id = "google/flan-t5-xxl".to_string();
        let name = generated_name(&model_id, stamp);
        let prefix = prefix.trim_matches('/');
        DeploySpec {
            image: ImageChoice::Tgi {
                version: "1.1.0".into(),
            },
            environment: BTreeMap::from([("SM_NUM_GPUS".to_string(), "4".to_string())]),
            instance_type: "ml.g5.12xlarge".into(),
            instance_count: 1,
            health_check_timeout_s: 300,
            output_path: format!("s3://{bucket}/{prefix}/output"),
            failure_path: Some(format!("s3://{bucket}/{prefix}/failure")),
            max_concurrency: 10,
            success_topic: None,
            error_topic: None,
            kms_key_id: None,
            model_name: String::new(),
            endpoint_config_name: String::new(),
            endpoint_name: String::new(),
            messages_api: false,
            smoke_test: true,
            wait_limit_s: super::wait::DEFAULT_LIMIT_S,
            model_id,
        }
        .named(&name)
    }

    /// Names the endpoint `name`, and the model and config after it ([`derived_names`]).
    pub fn set_endpoint_name(&mut self, name: &str) {
        let derived = derived_names(name);
        self.endpoint_name = name.to_string();
        self.model_name = derived.model_name;
        self.endpoint_config_name = derived.endpoint_config_name;
    }

    /// Swaps the model (HF_MODEL_ID). An endpoint name generated from the old model
    /// ([`generated_name`], any stamp) follows the new model with the same stamp, so the seed
    /// preset on another model is not named flan-t5-xxl; a name the user chose stays.
    pub fn set_model(&mut self, model_id: &str) {
        let stamp_len = "YYYYMMDD-HHMMSS".len();
        let stamp = self
            .endpoint_name
            .len()
            .checked_sub(stamp_len)
            .and_then(|at| self.endpoint_name.get(at..))
            .map(str::to_string);
        let generated = stamp
            .as_deref()
            .is_some_and(|st| self.endpoint_name == generated_name(&self.model_id, st));
        self.model_id = model_id.to_string();
        if let (true, Some(stamp)) = (generated, stamp) {
            self.set_endpoint_name(&generated_name(model_id, &stamp));
        }
    }

    /// Whether the model takes chat-completions bodies by its switch (`MESSAGES_API_ENABLED`
    /// is `true` in its environment): the smoke test then sends one.
    pub fn messages_api_on(&self) -> bool {
        self.container_environment()
            .get(MESSAGES_API_VAR)
            .is_some_and(|v| v == "true")
    }

    /// The spec with its endpoint named `name` (see [`DeploySpec::set_endpoint_name`]).
    pub fn named(mut self, name: &str) -> DeploySpec {
        self.set_endpoint_name(name);
        self
    }

    /// Changes the instance type. An `SM_NUM_GPUS` equal to the old instance's GPU count was
    /// following the instance (the seed preset's 4 on ml.g5.12xlarge), so it goes and the new
    /// instance's count applies; any other value is the user's and stays (and is checked by
    /// [`DeploySpec::problems`]).
    pub fn set_instance_type(&mut self, instance_type: &str) {
        let followed = instances::find(&self.instance_type).map(|i| i.gpus.to_string());
        if followed.is_some() && self.environment.get(GPUS_VAR) == followed.as_ref() {
            self.environment.remove(GPUS_VAR);
        }
        self.instance_type = instance_type.to_string();
    }

    /// `SM_NUM_GPUS` against the instance: TGI shards the model over that many GPUs, so more
    /// than the instance has fails at start-up, after minutes of paid time.
    fn gpu_problem(&self) -> Option<DeployProblem> {
        let value = self.environment.get(GPUS_VAR)?;
        let gpus = instances::find(&self.instance_type).map(|i| i.gpus);
        match (value.trim().parse::<u32>(), gpus) {
            (Ok(0) | Err(_), _) => Some(problem(
                "environment",
                format!("{GPUS_VAR} must be a whole number of GPUs (1 or more), not `{value}`."),
            )),
            (Ok(n), Some(g)) if n > g => Some(problem(
                "environment",
                format!(
                    "{GPUS_VAR} is {n}, but {} has {g} GPU{}: remove it to use all of them, or choose a larger instance.",
                    self.instance_type,
                    if g == 1 { "" } else { "s" }
                ),
            )),
            _ => None,
        }
    }

    /// The container environment sent to CreateModel.
    pub fn container_environment(&self) -> BTreeMap<String, String> {
        let mut env = self.environment.clone();
        env.insert("HF_MODEL_ID".into(), self.model_id.clone());
        if self.messages_api {
            // TGI's router reads it with clap's boolean parser: only `true` turns it on.
            env.insert(MESSAGES_API_VAR.into(), "true".into());
        }
        if !env.contains_key(GPUS_VAR)
            && let Some(info) = instances::find(&self.instance_type)
        {
            env.insert(GPUS_VAR.into(), info.gpus.to_string());
        }
        env
    }

    /// The Messages API on a TGI release before it existed would be ignored: chat bodies
    /// would all fail.
    fn messages_api_problem(&self) -> Option<DeployProblem> {
        let ImageChoice::Tgi { version } = &self.image else {
            return None;
        };
        let release = tgi::release(version)?;
        (self.messages_api && release < MESSAGES_API_SINCE).then(|| {
            problem(
                "messages_api",
                format!(
                    "TGI {version} has no Messages API: choose TGI 1.4.0 or later, or turn it off."
                ),
            )
        })
    }

    pub fn image_uri(&self, region: &str) -> Result<String, String> {
        match &self.image {
            ImageChoice::Tgi { version } => tgi::image_uri(version, region),
            ImageChoice::Custom { uri } => Ok(uri.clone()),
        }
    }

    /// Everything wrong with the spec, before any AWS call.
    pub fn problems(&self, region: &str, role_arn: Option<&str>) -> Vec<DeployProblem> {
        let mut out = Vec::new();
        if self.model_id.trim().is_empty() {
            out.push(problem(
                "model_id",
                "Enter a Hugging Face model id, e.g. google/flan-t5-xxl.",
            ));
        } else if !is_hub_model_id(&self.model_id) {
            out.push(problem(
                "model_id",
                format!(
                    "`{}` is not a Hugging Face model id: use organisation/name (letters, digits, `-`, `_`, `.`), e.g. google/flan-t5-xxl.",
                    self.model_id
                ),
            ));
        }
        match &self.image {
            ImageChoice::Tgi { .. } => {
                if let Err(e) = self.image_uri(region) {
                    out.push(problem("image", e));
                }
            }
            ImageChoice::Custom { uri } => {
                if !uri.contains(".dkr.ecr.") || !uri.contains('/') {
                    out.push(problem(
                        "image",
                        "A custom image must be an ECR URI: <account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>.",
                    ));
                }
            }
        }
        match role_arn {
            None => out.push(problem(
                "role_arn",
                "Set an execution role in Settings (role_arn); SageMaker runs the model as it.",
            )),
            Some(arn) => {
                if let Some(p) = validate::role_arn(arn) {
                    out.push(problem("role_arn", p));
                }
            }
        }
        if !instances::valid_shape(&self.instance_type) {
            out.push(problem(
                "instance_type",
                format!(
                    "`{}` is not an instance type; use the form ml.g5.12xlarge.",
                    self.instance_type
                ),
            ));
        } else if let Some(why) = instances::find(&self.instance_type).and_then(|i| i.unsupported)
            && matches!(self.image, ImageChoice::Tgi { .. })
        {
            out.push(problem(
                "instance_type",
                format!(
                    "{} cannot run the SageMaker TGI image: {why}. Choose a GPU instance (ebb instances lists them).",
                    self.instance_type
                ),
            ));
        }
        if !(1..=100).contains(&self.instance_count) {
            out.push(problem(
                "instance_count",
                "Start with 1 to 100 instances (autoscaling can go to 0 later).",
            ));
        }
        if !(60..=3600).contains(&self.health_check_timeout_s) {
            out.push(problem(
                "health_check_timeout_s",
                "The start-up health check timeout must be 60 to 3600 seconds.",
            ));
        }
        if !(60..=14_400).contains(&self.wait_limit_s) {
            out.push(problem(
                "wait_limit_s",
                "Wait 60 to 14400 seconds (4 hours) for the endpoint to start.",
            ));
        } else if (60..=3600).contains(&self.health_check_timeout_s)
            && self.wait_limit_s < self.health_check_timeout_s
        {
            out.push(problem(
                "wait_limit_s",
                format!(
                    "Wait at least as long as the start-up health check timeout ({} s), or the deploy stops watching before SageMaker decides.",
                    self.health_check_timeout_s
                ),
            ));
        }
        if !(1..=1000).contains(&self.max_concurrency) {
            out.push(problem(
                "max_concurrency",
                "Concurrent invocations per instance must be 1 to 1000.",
            ));
        }
        for (field, uri) in [
            ("output_path", Some(&self.output_path)),
            ("failure_path", self.failure_path.as_ref()),
        ] {
            if let Some(uri) = uri
                && let Some(p) = s3_uri_problem(uri)
            {
                out.push(problem(field, p));
            }
        }
        for (field, arn) in [
            ("success_topic", &self.success_topic),
            ("error_topic", &self.error_topic),
        ] {
            if let Some(arn) = arn
                && !arn.starts_with("arn:aws:sns:")
            {
                out.push(problem(
                    field,
                    "An SNS topic ARN starts with arn:aws:sns:<region>:<account>:.",
                ));
            }
        }
        for (field, name) in [
            ("model_name", &self.model_name),
            ("endpoint_config_name", &self.endpoint_config_name),
            ("endpoint_name", &self.endpoint_name),
        ] {
            if let Some(p) = name_problem(name) {
                out.push(problem(field, p));
            }
        }
        out.extend(self.gpu_problem());
        out.extend(self.messages_api_problem());
        for key in self.environment.keys() {
            if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                out.push(problem(
                    "environment",
                    format!("`{key}` is not a valid environment variable name."),
                ));
            }
        }
        out
    }
}

fn s3_uri_problem(uri: &str) -> Option<String> {
    let Some(rest) = uri.strip_prefix("s3://") else {
        return Some(format!("`{uri}` must start with s3://"));
    };
    let bucket = rest.split('/').next().unwrap_or_default();
    validate::bucket(bucket).map(|p| format!("the bucket in `{uri}`: {p}"))
}

/// A Hugging Face Hub repository id as TGI's `HF_MODEL_ID` takes it: `name` or
/// `organisation/name`, each part letters, digits, `-`, `_` and `.`, 96 characters at most
/// (the Hub's rule for repository names).
pub(crate) fn is_hub_model_id(id: &str) -> bool {
    let part_ok = |p: &str| {
        !p.is_empty()
            && !p.starts_with(['-', '.'])
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    let parts: Vec<&str> = id.split('/').collect();
    id.len() <= 96 && (1..=2).contains(&parts.len()) && parts.iter().all(|p| part_ok(p))
}

/// SageMaker names: 1-63 letters, digits and hyphens, not starting or ending with a hyphen.
fn name_problem(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    (!ok).then(|| format!("`{name}` must be 1-63 letters, digits and hyphens, not starting or ending with a hyphen."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_messages_api_switch_sets_tgis_variable_and_needs_tgi_1_4() {
        let mut s = DeploySpec::seed("bucket", "p", "20261125-101500");
        s.messages_api = true;
        assert_eq!(s.container_environment()[MESSAGES_API_VAR], "true");
        let role = Some("arn:aws:iam::111122223333:role/R");
        let problems = s.problems("us-east-1", role);
        assert!(
            problems.iter().any(|p| p.field == "messages_api"
                && p.message.contains("TGI 1.1.0 has no Messages API")),
            "{problems:?}"
        );
        s.image = ImageChoice::Tgi {
            version: "2.0.1".into(),
        };
        assert_eq!(s.problems("us-east-1", role), vec![]);
        // A spec saved before the switch existed loads with it off.
        let mut saved = serde_json::to_value(&s).unwrap();
        saved.as_object_mut().unwrap().remove("messages_api");
        let loaded: DeploySpec = serde_json::from_value(saved).unwrap();
        assert!(!loaded.messages_api);
    }

    #[test]
    fn seed_preset_is_the_article() {
        let s = DeploySpec::seed(
            "sagemaker-us-east-1-111122223333",
            "async-llm-output",
            "20261125-101500",
        );
        assert_eq!(s.model_id, "google/flan-t5-xxl");
        assert_eq!(
            s.image_uri("us-east-1").unwrap(),
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:2.0.1-tgi1.1.0-gpu-py39-cu118-ubuntu20.04"
        );
        let env = s.container_environment();
        assert_eq!(env["HF_MODEL_ID"], "google/flan-t5-xxl");
        assert_eq!(env["SM_NUM_GPUS"], "4");
        assert!(!s.messages_api && !env.contains_key(MESSAGES_API_VAR));
        assert_eq!(
            (s.instance_type.as_str(), s.instance_count),
            ("ml.g5.12xlarge", 1)
        );
        assert_eq!(s.health_check_timeout_s, 300);
        assert_eq!(
            s.output_path,
            "s3://sagemaker-us-east-1-111122223333/async-llm-output/output"
        );
        assert_eq!(s.max_concurrency, 10);
        assert_eq!(s.endpoint_name, "flan-t5-xxl-20261125-101500");
        assert!(
            s.problems("us-east-1", Some("arn:aws:iam::111122223333:role/Sm"))
                .is_empty()
        );
    }

    #[test]
    fn model_ids_are_hub_repository_ids() {
        for ok in [
            "google/flan-t5-xxl",
            "gpt2",
            "meta-llama/Llama-3.1-8B_Instruct",
        ] {
            assert!(is_hub_model_id(ok), "{ok}");
        }
        for bad in [
            "not a model",
            "a/b/c",
            "/x",
            "org/",
            "-x/y",
            &"x".repeat(97),
        ] {
            assert!(!is_hub_model_id(bad), "{bad}");
        }
    }

    #[test]
    fn problems_name_the_field_and_the_fix() {
        let mut s = DeploySpec::seed("b-1", "p", "20261125-101500");
        s.instance_type = "g5.12xlarge".into();
        s.instance_count = 0;
        s.output_path = "b-1/out".into();
        s.endpoint_name = "-bad".into();
        let fields: Vec<String> = s
            .problems("us-east-1", None)
            .into_iter()
            .map(|p| p.field)
            .collect();
        for f in [
            "instance_type",
            "instance_count",
            "output_path",
            "endpoint_name",
            "role_arn",
        ] {
            assert!(
                fields.contains(&f.to_string()),
                "{f} missing from {fields:?}"
            );
        }
    }

    #[test]
    fn derived_names_fit_sagemaker_for_every_valid_endpoint_name() {
        for len in [1, 58, 59, 60, 62, 63] {
            let name: String = (0..len)
                .map(|i| if i % 7 == 3 { '-' } else { 'a' })
                .collect();
            let name = format!("{}z", &name[..len - 1]);
            assert!(name_problem(&name).is_none(), "{name}");
            let spec = DeploySpec::seed("b-1", "p", "20261125-101500").named(&name);
            assert_eq!(spec.endpoint_name, name);
            assert!(
                spec.problems("us-east-1", Some("arn:aws:iam::111122223333:role/Sm"))
                    .is_empty(),
                "{len}: {:?}",
                spec.problems("us-east-1", Some("arn:aws:iam::111122223333:role/Sm"))
            );
            assert!(spec.endpoint_config_name.len() <= MAX_NAME_LEN);
            assert!(spec.endpoint_config_name.ends_with("-cfg"));
        }
        // Short names read as before; long ones stay stable and distinct.
        assert_eq!(derived_names("a").endpoint_config_name, "a-cfg");
        let long_a = format!("{}a", "x".repeat(62));
        let long_b = format!("{}b", "x".repeat(62));
        assert_eq!(derived_names(&long_a), derived_names(&long_a));
        assert_ne!(
            derived_names(&long_a).endpoint_config_name,
            derived_names(&long_b).endpoint_config_name
        );
        assert_eq!(derived_names(&long_a).endpoint_config_name.len(), 63);
    }

    #[test]
    fn gpus_follow_the_instance_and_more_than_it_has_is_refused() {
        let role = Some("arn:aws:iam::111122223333:role/Sm");
        let mut s = DeploySpec::seed("b-1", "p", "20261125-101500");
        // The seed's 4 followed ml.g5.12xlarge: on a 1-GPU instance the default takes over.
        s.set_instance_type("ml.g5.2xlarge");
        assert!(!s.environment.contains_key(GPUS_VAR));
        assert_eq!(s.container_environment()[GPUS_VAR], "1");
        assert!(s.problems("us-east-1", role).is_empty());
        // A value the user chose stays, and is refused when the instance has fewer GPUs.
        s.environment.insert(GPUS_VAR.into(), "2".into());
        s.set_instance_type("ml.g5.xlarge");
        assert_eq!(s.environment[GPUS_VAR], "2");
        let p = s.problems("us-east-1", role);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].field, "environment");
        assert!(p[0].message.contains("ml.g5.xlarge has 1 GPU"), "{p:?}");
        s.environment.insert(GPUS_VAR.into(), "two".into());
        assert!(
            s.problems("us-east-1", role)[0]
                .message
                .contains("whole number")
        );
        s.set_instance_type("ml.inf2.xlarge");
        assert!(
            s.problems("us-east-1", Some("arn:aws:iam::1:role/r"))
                .iter()
                .any(|p| p.field == "instance_type" && p.message.contains("Neuron")),
            "an Inferentia type is refused for the TGI image"
        );
        s.set_instance_type("ml.g5.48xlarge");
        s.environment.insert(GPUS_VAR.into(), "8".into());
        assert!(s.problems("us-east-1", role).is_empty());
    }

    #[test]
    fn names_are_valid_and_gpu_default_follows_the_instance() {
        let n = generated_name("meta-llama/Llama-3.1-8B_Instruct", "20261125-101500");
        assert_eq!(n, "llama-3-1-8b-instruct-20261125-101500");
        assert!(name_problem(&generated_name(&"x".repeat(200), "20261125-101500")).is_none());
        let mut s = DeploySpec::seed("b-1", "p", "20261125-101500");
        s.environment.clear();
        s.instance_type = "ml.g5.48xlarge".into();
        assert_eq!(s.container_environment()["SM_NUM_GPUS"], "8");
        assert_eq!(stamp_now().len(), 15);
    }

    #[test]
    fn a_new_model_renames_a_generated_endpoint_name_only() {
        let mut s = DeploySpec::seed("b-1", "p", "20261130-090000");
        s.set_model("HuggingFaceTB/SmolLM2-135M-Instruct");
        assert_eq!(s.model_id, "HuggingFaceTB/SmolLM2-135M-Instruct");
        assert_eq!(s.endpoint_name, "smollm2-135m-instruct-20261130-090000");
        assert_eq!(s.model_name, s.endpoint_name);
        assert_eq!(
            s.endpoint_config_name,
            "smollm2-135m-instruct-20261130-090000-cfg"
        );
        assert_eq!(
            s.container_environment()["HF_MODEL_ID"],
            "HuggingFaceTB/SmolLM2-135M-Instruct"
        );
        s.set_endpoint_name("my-endpoint");
        s.set_model("google/flan-t5-small");
        assert_eq!(
            (s.model_id.as_str(), s.endpoint_name.as_str()),
            ("google/flan-t5-small", "my-endpoint"),
            "a name the user chose stays"
        );
    }

    #[test]
    fn stamps_are_utc_calendar_dates() {
        let at = |s: i64| stamp(time::OffsetDateTime::from_unix_timestamp(s).expect("in range"));
        assert_eq!(at(0), "19700101-000000");
        assert_eq!(at(1_795_984_380), "20261129-203300");
        assert_eq!(at(1_709_251_199), "20240229-235959");
    }
}
