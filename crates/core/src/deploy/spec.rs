//! What to deploy: the form's fields, the seed preset, generated names, and validation before
//! any AWS call.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::catalog::{instances, tgi};
use crate::validate;

/// Where the container image comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
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
}

/// A problem with one field of the deploy form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
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

/// The current UTC time as `YYYYMMDD-HHMMSS`.
pub fn stamp_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
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
            model_name: name.clone(),
            endpoint_config_name: format!("{name}-cfg"),
            endpoint_name: name,
            model_id,
        }
    }

    /// The container environment sent to CreateModel.
    pub fn container_environment(&self) -> BTreeMap<String, String> {
        let mut env = self.environment.clone();
        env.insert("HF_MODEL_ID".into(), self.model_id.clone());
        if !env.contains_key("SM_NUM_GPUS")
            && let Some(info) = instances::find(&self.instance_type)
        {
            env.insert("SM_NUM_GPUS".into(), info.gpus.to_string());
        }
        env
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
}
