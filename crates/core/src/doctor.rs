//! The connection check: who am I, where, can I reach my bucket, does SageMaker answer.

use serde::{Deserialize, Serialize};

use crate::aws_errors::{self, Context, Explained};
use crate::bucket_owner;
use crate::cloud::{Clients, Source, Target};
use crate::settings::{Mode, Settings};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum CheckId {
    Target,
    Identity,
    Bucket,
    Sagemaker,
    Role,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Ok,
    Warn,
    Fail,
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Check {
    pub id: CheckId,
    pub title: String,
    pub status: CheckStatus,
    pub summary: String,
    pub advice: Option<String>,
    pub detail: Option<String>,
}

impl Check {
    fn new(id: CheckId, status: CheckStatus, summary: impl Into<String>) -> Check {
        let title = match id {
            CheckId::Target => "Connection target",
            CheckId::Identity => "Identity",
            CheckId::Bucket => "S3 bucket",
            CheckId::Sagemaker => "SageMaker",
            CheckId::Role => "Execution role",
        };
        Check {
            id,
            title: title.into(),
            status,
            summary: summary.into(),
            advice: None,
            detail: None,
        }
    }

    fn advice(mut self, advice: impl Into<String>) -> Check {
        self.advice = Some(advice.into());
        self
    }

    fn failed(id: CheckId, e: Explained) -> Check {
        Check {
            advice: e.advice,
            detail: Some(e.detail),
            ..Check::new(id, CheckStatus::Fail, e.summary)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Identity {
    pub account: String,
    pub arn: String,
    pub user_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct DoctorReport {
    pub target: Target,
    pub identity: Option<Identity>,
    /// The bucket Ebb will use (the configured one, or SageMaker's default name).
    pub bucket: Option<String>,
    pub checks: Vec<Check>,
    /// True when nothing failed (warnings allowed).
    pub ok: bool,
}

/// The SageMaker SDK's default bucket name.
pub fn default_bucket(region: &str, account: &str) -> String {
    format!("sagemaker-{region}-{account}")
}

/// Runs every check in order, reporting each to `progress` as it finishes.
pub async fn run(
    target: &Target,
    settings: &Settings,
    clients: Option<&Clients>,
    progress: &(dyn Fn(&Check) + Send + Sync),
) -> DoctorReport {
    let mut checks = Vec::new();
    let mut push = |c: Check| {
        progress(&c);
        checks.push(c);
    };
    let mut identity = None;
    let mut bucket = settings.bucket.clone();
    match clients {
        None => push(local_unavailable()),
        Some(clients) => {
            let region = clients.region();
            push(target_check(target, region.as_deref()));
            let ctx = |action| Context {
                action,
                profile: target.profile.as_deref(),
                region: region.as_deref(),
                endpoint: target.endpoint_url.as_deref(),
            };
            let (check, who) = identity_check(clients, ctx("sts:GetCallerIdentity")).await;
            push(check);
            if bucket.is_none() {
                bucket = who
                    .as_ref()
                    .zip(region.as_deref())
                    .map(|(w, r)| default_bucket(r, &w.account));
            }
            let account = who.as_ref().map(|w| w.account.as_str());
            let asked = (bucket.as_deref(), account);
            push(bucket_check(clients, asked, settings, ctx("s3:ListBucket")).await);
            push(sagemaker_check(clients, ctx("sagemaker:ListEndpoints")).await);
            push(role_check(target.role_arn.as_deref(), who.as_ref()));
            identity = who;
        }
    }
    let ok = checks.iter().all(|c| c.status != CheckStatus::Fail);
    DoctorReport {
        target: target.clone(),
        identity,
        bucket,
        checks,
        ok,
    }
}

fn local_unavailable() -> Check {
    Check::new(
        CheckId::Target,
        CheckStatus::Fail,
        "Local mode: Ebb's local cloud is not running",
    )
    .advice("The desktop app and `ebb --local` start it by themselves; or run `ebb local serve` in another terminal. To use AWS instead, switch mode to AWS in Settings.")
}

fn target_check(target: &Target, region: Option<&str>) -> Check {
    let Some(region) = region else {
        return Check::new(CheckId::Target, CheckStatus::Fail, "No AWS region is set")
            .advice("Choose a region in Settings, or set AWS_REGION, or add `region = …` to your AWS profile.");
    };
    if target.mode == Mode::Local {
        return local_target_check(target, region);
    }
    let region_source = match target.region_source {
        Source::Unset => Source::Profile,
        s => s,
    };
    let mut parts = vec![
        match &target.profile {
            Some(p) => format!(
                "profile {p} ({})",
                target.profile_source.describe("AWS_PROFILE")
            ),
            None => "default credential chain".to_string(),
        },
        format!("region {region} ({})", region_source.describe("AWS_REGION")),
    ];
    if let Some(url) = &target.endpoint_url {
        parts.push(format!(
            "endpoint {url} ({})",
            target.endpoint_source.describe("AWS_ENDPOINT_URL")
        ));
    }
    let summary = format!("AWS: {}", parts.join(", "));
    match crate::validate::region(region) {
        Some(problem) if target.endpoint_url.is_none() => {
            Check::new(CheckId::Target, CheckStatus::Fail, summary).advice(problem)
        }
        _ => Check::new(CheckId::Target, CheckStatus::Ok, summary),
    }
}

/// Local mode talks to Ebb's local cloud with its own keys, never the AWS credential chain:
/// say so, with its address, instead of naming a profile that is not used.
fn local_target_check(target: &Target, region: &str) -> Check {
    let url = target.endpoint_url.as_deref().unwrap_or("127.0.0.1");
    Check::new(
        CheckId::Target,
        CheckStatus::Ok,
        format!(
            "Ebb's local cloud at {url} (region {region}, its own keys; nothing leaves this computer)"
        ),
    )
}

async fn identity_check(clients: &Clients, ctx: Context<'_>) -> (Check, Option<Identity>) {
    match clients.sts.get_caller_identity().send().await {
        Ok(out) => {
            let who = Identity {
                account: out.account().unwrap_or_default().to_string(),
                arn: out.arn().unwrap_or_default().to_string(),
                user_id: out.user_id().unwrap_or_default().to_string(),
            };
            clients.remember_account(&who.account);
            let check = Check::new(
                CheckId::Identity,
                CheckStatus::Ok,
                format!("{} (account {})", who.arn, who.account),
            );
            (check, Some(who))
        }
        Err(e) => (
            Check::failed(CheckId::Identity, aws_errors::explain(&e, ctx)),
            None,
        ),
    }
}

/// HeadBucket on the job bucket, with the caller's `account` as its expected owner: a bucket
/// of the same name in another account is no bucket of the user's, reachable or not.
async fn bucket_check(
    clients: &Clients,
    (bucket, account): (Option<&str>, Option<&str>),
    settings: &Settings,
    ctx: Context<'_>,
) -> Check {
    let Some(bucket) = bucket else {
        return Check::new(
            CheckId::Bucket,
            CheckStatus::Skipped,
            "No bucket to check: the default bucket name needs the account id, which the identity check could not get",
        )
        .advice("Fix the identity problem above, or set a bucket in Settings.");
    };
    let configured = settings.bucket.is_some();
    let owner = account.filter(|a| !a.is_empty());
    let head = clients
        .s3
        .head_bucket()
        .bucket(bucket)
        .set_expected_bucket_owner(owner.map(str::to_string))
        .send()
        .await;
    match head {
        Ok(out) => {
            let place = out
                .bucket_region()
                .map(|r| format!(" in {r}"))
                .unwrap_or_default();
            Check::new(
                CheckId::Bucket,
                CheckStatus::Ok,
                format!(
                    "s3://{bucket}{place} exists and is reachable; Ebb writes under `{}/`",
                    settings.prefix
                ),
            )
        }
        Err(e) if bucket_owner::is_forbidden(&e) && owner.is_some() => {
            foreign_or_denied(clients, bucket, owner, aws_errors::explain(&e, ctx)).await
        }
        Err(e) => {
            let explained = aws_errors::explain(&e, ctx);
            let elsewhere = e
                .raw_response()
                .and_then(|r| r.headers().get("x-amz-bucket-region"))
                .map(str::to_string);
            match (explained.status, elsewhere) {
                (Some(404), _) if configured => Check {
                    detail: Some(explained.detail),
                    ..Check::new(
                        CheckId::Bucket,
                        CheckStatus::Fail,
                        format!("s3://{bucket} does not exist"),
                    )
                    .advice(format!(
                        "Create it (`aws s3 mb s3://{bucket}`) or correct the bucket name in Settings."
                    ))
                },
                (Some(404), _) => Check::new(
                    CheckId::Bucket,
                    CheckStatus::Warn,
                    format!("The default bucket s3://{bucket} does not exist yet"),
                )
                .advice(format!(
                    "Create it (`aws s3 mb s3://{bucket}`), as the SageMaker SDK would on first use, or set another bucket in Settings."
                )),
                (Some(301), Some(region)) => Check::new(
                    CheckId::Bucket,
                    CheckStatus::Fail,
                    format!("s3://{bucket} is in {region}, not in the region Ebb uses"),
                )
                .advice(format!(
                    "Set region {region} in Settings, or use a bucket in your region."
                )),
                _ => Check::failed(CheckId::Bucket, explained),
            }
        }
    }
}

/// A 403 on the job bucket: another account's bucket (said so, with what to do), or an access
/// refusal as AWS explained it.
async fn foreign_or_denied(
    clients: &Clients,
    bucket: &str,
    owner: Option<&str>,
    explained: aws_errors::Explained,
) -> Check {
    let Some(account) = owner else {
        return Check::failed(CheckId::Bucket, explained);
    };
    if !bucket_owner::another_account(&clients.s3, bucket, account).await {
        return Check::failed(CheckId::Bucket, explained);
    }
    Check {
        detail: Some(explained.detail),
        ..Check::new(
            CheckId::Bucket,
            CheckStatus::Fail,
            format!("s3://{bucket} belongs to another AWS account, not yours ({account})"),
        )
        .advice(
            "Ebb will not write prompts to it or read results from it: choose a bucket you own in Settings.",
        )
    }
}

async fn sagemaker_check(clients: &Clients, ctx: Context<'_>) -> Check {
    match clients
        .sagemaker
        .list_endpoints()
        .max_results(100)
        .send()
        .await
    {
        Ok(out) => {
            let n = out.endpoints().len();
            let more = if out.next_token().is_some() { "+" } else { "" };
            let noun = if n == 1 && more.is_empty() {
                "endpoint"
            } else {
                "endpoints"
            };
            Check::new(
                CheckId::Sagemaker,
                CheckStatus::Ok,
                format!("SageMaker answers: {n}{more} {noun} in this region"),
            )
        }
        Err(e) => Check::failed(CheckId::Sagemaker, aws_errors::explain(&e, ctx)),
    }
}

fn role_check(role_arn: Option<&str>, who: Option<&Identity>) -> Check {
    let Some(arn) = role_arn else {
        return Check::new(
            CheckId::Role,
            CheckStatus::Warn,
            "No SageMaker execution role is set; deploying a model needs one",
        )
        .advice("Set role_arn in Settings to the role SageMaker runs your model as (IAM console → Roles).");
    };
    if let Some(problem) = crate::validate::role_arn(arn) {
        return Check::new(CheckId::Role, CheckStatus::Fail, problem);
    }
    let role_account = arn.split(':').nth(4).unwrap_or_default();
    match who {
        Some(w) if !w.account.is_empty() && w.account != role_account => Check::new(
            CheckId::Role,
            CheckStatus::Warn,
            format!(
                "{arn} belongs to account {role_account}, but you are signed in to {}",
                w.account
            ),
        )
        .advice("SageMaker needs a role from the account you deploy in (or one that trusts it)."),
        _ => Check::new(CheckId::Role, CheckStatus::Ok, arn.to_string()),
    }
}

/// True when the mode has no cloud to talk to (local mode while the local cloud is not running).
pub fn needs_local_cloud(target: &Target) -> bool {
    target.mode == Mode::Local && target.endpoint_url.is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(account: &str) -> Identity {
        Identity {
            account: account.into(),
            arn: format!("arn:aws:iam::{account}:user/me"),
            user_id: "AIDA".into(),
        }
    }

    #[test]
    fn role_from_another_account_is_flagged() {
        let arn = "arn:aws:iam::111111111111:role/Sm";
        assert_eq!(
            role_check(Some(arn), Some(&who("111111111111"))).status,
            CheckStatus::Ok
        );
        let c = role_check(Some(arn), Some(&who("222222222222")));
        assert_eq!(c.status, CheckStatus::Warn);
        assert!(c.summary.contains("222222222222"));
        assert_eq!(role_check(None, None).status, CheckStatus::Warn);
    }

    #[test]
    fn default_bucket_is_named_like_the_sagemaker_sdk() {
        assert_eq!(
            default_bucket("us-east-1", "123456789012"),
            "sagemaker-us-east-1-123456789012"
        );
    }
}
