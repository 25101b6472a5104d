use std::path::PathBuf;

use crate::validate::FieldError;

/// Errors of engine operations. Each message is written for the person who has to act on it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid settings: {}", summarize(.0))]
    InvalidSettings(Vec<FieldError>),
    #[error(
        "unknown setting `{0}`; the keys are: mode, profile, region, endpoint_url, role_arn, bucket, prefix"
    )]
    UnknownKey(String),
    #[error("could not read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("could not write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is not valid settings JSON (line {line}, column {column}): {message}. Fix or delete the file to start from the defaults."
    )]
    CorruptSettings {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("no Ebb home directory: set EBB_HOME to a writable folder")]
    NoHome,
    #[error("the deploy form has problems: {}", list_problems(.0))]
    InvalidDeploy(Vec<crate::deploy::spec::DeployProblem>),
    #[error("{summary}{}", advice.as_deref().map(|a| format!(" — {a}")).unwrap_or_default())]
    Aws {
        summary: String,
        advice: Option<String>,
        /// What AWS said in full (codes, request id), for a "details" view.
        detail: Option<String>,
    },
    #[error(
        "{step} failed: {summary}{}{}",
        advice.as_deref().map(|a| format!(" — {a}")).unwrap_or_default(),
        left(left_behind)
    )]
    Deploy {
        step: String,
        summary: String,
        advice: Option<String>,
        /// Created before the failure; teardown removes them.
        left_behind: Vec<String>,
    },
    #[error("the autoscaling settings have problems: {}", list_findings(.0))]
    InvalidScaling(Vec<crate::scaling::spec::Finding>),
    #[error("{0}")]
    Timeout(String),
    #[error("{0}")]
    InvalidRequest(String),
    /// The user stopped long work (a scan, an export, result files): Ctrl-C or Cancel. The
    /// text says what was left (nothing submitted, no file written).
    #[error("{0}")]
    Stopped(String),
    #[error("job store: {0}")]
    Store(String),
    /// SageMaker answered that the endpoint does not exist.
    #[error(
        "there is no endpoint `{0}` in this account and region: `ebb endpoints` lists the ones there are"
    )]
    EndpointNotFound(String),
    /// The endpoint runs, but its endpoint config or model was deleted, so what it runs
    /// cannot be read.
    #[error(
        "endpoint `{endpoint}` runs on {missing}, which no longer exists, so its model's settings cannot be read: deploy the endpoint again"
    )]
    EndpointModelGone {
        endpoint: String,
        /// `endpoint config NAME` or `model NAME`.
        missing: String,
    },
    /// Another process holds the job's lease (see `jobs::lease`).
    #[error(
        "job {job} is already running in {holder}; one process runs a job at a time: wait for that run to end, or stop it, then resume the job here"
    )]
    JobRunningElsewhere { job: String, holder: String },
    /// The job bucket, or an endpoint's output or failure bucket, is another account's: S3
    /// refused the call's bucket owner condition (see [`crate::bucket_owner`]).
    #[error(
        "the bucket s3://{bucket} belongs to another AWS account, not yours ({account}): choose a bucket you own in Settings"
    )]
    BucketNotYours {
        bucket: String,
        /// The caller's account id.
        account: String,
    },
    #[error(
        "local mode, but Ebb's local cloud is not running: open the app, run `ebb local serve`, or use `ebb --local`"
    )]
    NoLocalCloud,
    /// The shell tried to start the local cloud and could not (a corrupt state file, its data
    /// folder held by another process): the reason, not "not running".
    #[error("local mode, but Ebb's local cloud could not start: {0}")]
    LocalCloudFailed(String),
}

fn list_findings(findings: &[crate::scaling::spec::Finding]) -> String {
    findings
        .iter()
        .map(|f| format!("{}: {}", f.field, f.message))
        .collect::<Vec<_>>()
        .join("; ")
}

fn list_problems(problems: &[crate::deploy::spec::DeployProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("{}: {}", p.field, p.message))
        .collect::<Vec<_>>()
        .join("; ")
}

fn left(resources: &[String]) -> String {
    if resources.is_empty() {
        String::new()
    } else {
        // The advice before it ends its own sentence.
        format!(
            " Left behind: {} (remove with `ebb teardown ENDPOINT --yes`)",
            resources.join(", ")
        )
    }
}

fn summarize(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.key, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// The per-field problems, when the error is about settings values.
    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            Error::InvalidSettings(errors) => errors,
            _ => &[],
        }
    }
}

impl Error {
    /// The full story behind the one-sentence message, when there is more to tell.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Error::Aws { detail, .. } => detail.as_deref(),
            _ => None,
        }
    }
}
