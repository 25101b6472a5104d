//! Which cloud a command talks to, and the SDK clients for it.
//!
//! Order (the CLI contract): `--local`, then `--endpoint-url` / `AWS_ENDPOINT_URL` (any
//! AWS-compatible server, standard credential chain), then the settings' `mode`. Profile and
//! region follow the aws CLI: flag, then environment, then Ebb's settings, then the profile.

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig, timeout::TimeoutConfig};
use serde::Serialize;

use crate::settings::{Mode, Settings};

/// What the command line (or a test) says, above the settings file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    pub local: bool,
}

/// A cloud the shell hands the engine with its own URL and keys: Ebb's local cloud. The engine
/// treats it as any AWS-compatible endpoint; only the keys come from here, not the chain.
#[derive(Clone, PartialEq, Eq)]
pub struct ProvidedCloud {
    pub endpoint_url: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// The role to deploy with when the settings name none.
    pub role_arn: Option<String>,
}

impl ProvidedCloud {
    /// A cloud at `endpoint_url` with its own keys; `role_arn` is what deploys use when the
    /// settings name no role (Ebb's local cloud offers a placeholder one).
    pub fn new(
        endpoint_url: &str,
        region: &str,
        (access_key_id, secret_access_key): (&str, &str),
        role_arn: Option<&str>,
    ) -> ProvidedCloud {
        ProvidedCloud {
            endpoint_url: endpoint_url.to_string(),
            region: region.to_string(),
            access_key_id: access_key_id.to_string(),
            secret_access_key: secret_access_key.to_string(),
            role_arn: role_arn.map(str::to_string),
        }
    }
}

impl std::fmt::Debug for ProvidedCloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProvidedCloud")
            .field("endpoint_url", &self.endpoint_url)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Where an effective value came from, so the UI can say why it is not what the form says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Flag,
    Env,
    Settings,
    /// Read by the AWS SDK from the profile in ~/.aws/config.
    Profile,
    /// Supplied by Ebb's local cloud (local mode).
    LocalCloud,
    Default,
    Unset,
}

impl Source {
    pub fn describe(self, env_var: &str) -> String {
        match self {
            Source::Flag => "from the command line".into(),
            Source::Env => format!("from {env_var}"),
            Source::Settings => "from Ebb settings".into(),
            Source::Profile => "from the AWS profile".into(),
            Source::LocalCloud => "from Ebb's local cloud".into(),
            Source::Default => "default".into(),
            Source::Unset => "not set".into(),
        }
    }
}

/// The effective connection target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Target {
    pub mode: Mode,
    pub profile: Option<String>,
    pub profile_source: Source,
    pub region: Option<String>,
    pub region_source: Source,
    pub endpoint_url: Option<String>,
    pub endpoint_source: Source,
    /// The execution role deploys use: the settings', else the local cloud's placeholder.
    pub role_arn: Option<String>,
    pub role_source: Source,
}

fn pick(
    flag: Option<&str>,
    env: Option<String>,
    settings: Option<&str>,
) -> (Option<String>, Source) {
    if let Some(v) = flag {
        (Some(v.to_string()), Source::Flag)
    } else if let Some(v) = env {
        (Some(v), Source::Env)
    } else if let Some(v) = settings {
        (Some(v.to_string()), Source::Settings)
    } else {
        (None, Source::Unset)
    }
}

/// Resolves the target from overrides, the environment (`env` looks a variable up), settings,
/// and, in local mode, the local cloud the shell provides (`None` while it is not running).
pub fn resolve(
    overrides: &Overrides,
    settings: &Settings,
    local: Option<&ProvidedCloud>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Target {
    let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let (profile, profile_source) = pick(
        overrides.profile.as_deref(),
        var("AWS_PROFILE"),
        settings.profile.as_deref(),
    );
    let (region, region_source) = pick(
        overrides.region.as_deref(),
        var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")),
        settings.region.as_deref(),
    );
    let custom = if overrides.local {
        None
    } else if let Some(url) = overrides.endpoint_url.as_deref() {
        Some((url.to_string(), Source::Flag))
    } else {
        var("AWS_ENDPOINT_URL").map(|url| (url, Source::Env))
    };
    let (mode, endpoint_url, endpoint_source) = match (overrides.local, custom) {
        (true, _) => (Mode::Local, None, Source::Unset),
        (false, Some((url, source))) => (Mode::Aws, Some(url), source),
        (false, None) => match (settings.mode, settings.endpoint_url.as_deref()) {
            (Mode::Aws, Some(url)) => (Mode::Aws, Some(url.to_string()), Source::Settings),
            (mode, _) => (mode, None, Source::Unset),
        },
    };
    let (role_arn, role_source) = pick(None, None, settings.role_arn.as_deref());
    let mut target = Target {
        mode,
        profile,
        profile_source,
        region,
        region_source,
        endpoint_url,
        endpoint_source,
        role_arn,
        role_source,
    };
    if mode == Mode::Local
        && let Some(cloud) = local
    {
        // The local cloud has one region and its own keys; profiles do not apply.
        target.profile = None;
        target.profile_source = Source::Unset;
        target.region = Some(cloud.region.clone());
        target.region_source = Source::LocalCloud;
        target.endpoint_url = Some(cloud.endpoint_url.clone());
        target.endpoint_source = Source::LocalCloud;
        if target.role_arn.is_none() {
            target.role_arn = cloud.role_arn.clone();
            target.role_source = Source::LocalCloud;
        }
    }
    target
}

pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// How long one attempt of a call may take, for calls with small bodies.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);

/// The slowest upload rate a payload's timeout allows for: 100 kB/s, a poor hotel uplink.
const SLOWEST_UPLOAD_BYTES_PER_S: u64 = 100_000;

/// The per-attempt timeout for a call that sends `bytes`: [`ATTEMPT_TIMEOUT`] plus the time
/// the body takes at [`SLOWEST_UPLOAD_BYTES_PER_S`], so a 32 MiB request line on a slow link
/// (about 6 minutes) is not cut off and retried from the start forever.
pub fn attempt_timeout_for(bytes: u64) -> Duration {
    ATTEMPT_TIMEOUT + Duration::from_secs(bytes.div_ceil(SLOWEST_UPLOAD_BYTES_PER_S))
}

/// The SDK clients for one target, built once and shared.
#[derive(Debug, Clone)]
pub struct Clients {
    pub sdk: SdkConfig,
    pub sts: aws_sdk_sts::Client,
    pub s3: aws_sdk_s3::Client,
    pub sagemaker: aws_sdk_sagemaker::Client,
    pub runtime: aws_sdk_sagemakerruntime::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub autoscaling: aws_sdk_applicationautoscaling::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub pricing: aws_sdk_pricing::Client,
    /// Endpoint configs and tags reused between refreshes of the endpoint list.
    pub described: crate::deploy::endpoints::DescribeCache,
    /// Connected to Ebb's local cloud (with its keys), not to an AWS account.
    pub is_local_cloud: bool,
    /// The caller's account id, from STS GetCallerIdentity once per connection.
    account: std::sync::Arc<std::sync::OnceLock<String>>,
}

/// SageMaker's and Application Auto Scaling's control planes allow a few calls a second per
/// account (<https://docs.aws.amazon.com/sagemaker/latest/dg/regions-quotas.html>): a deploy
/// or an update run beside others meets `ThrottlingException` at once. Five attempts with the
/// SDK's exponential backoff (about 15 s in all) ride that out; errors that are not
/// transient are not retried at all.
fn control_plane_retries() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard().with_max_attempts(5)
}

impl Clients {
    /// Loads credentials and region through the standard aws-config chain (profiles, SSO, env),
    /// or uses the keys of a provided cloud.
    pub async fn connect(target: &Target, provided: Option<&ProvidedCloud>) -> Clients {
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .build(),
        );
        if let Some(profile) = &target.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &target.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &target.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(cloud) = provided {
            loader = loader.credentials_provider(aws_sdk_sts::config::Credentials::new(
                cloud.access_key_id.clone(),
                cloud.secret_access_key.clone(),
                None,
                None,
                "ebb-local-cloud",
            ));
        }
        let sdk = loader.load().await;
        // Custom servers (moto, MinIO, Ebb's local cloud) rarely resolve virtual-host bucket names.
        let custom_s3 = sdk.endpoint_url().is_some()
            || process_env("AWS_ENDPOINT_URL_S3").is_some_and(|v| !v.is_empty());
        // A service's own AWS_ENDPOINT_URL_<SERVICE> wins over the shared URL, as the AWS
        // tools document (an endpoint set in code would otherwise hide it).
        let own = |var: &str| match process_env(var).filter(|v| !v.is_empty()) {
            Some(url) => sdk.to_builder().endpoint_url(url).build(),
            None => sdk.clone(),
        };
        let s3_config = aws_sdk_s3::config::Builder::from(&own("AWS_ENDPOINT_URL_S3"))
            .force_path_style(custom_s3)
            .build();
        Clients {
            sts: aws_sdk_sts::Client::new(&own("AWS_ENDPOINT_URL_STS")),
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            sagemaker: aws_sdk_sagemaker::Client::from_conf(
                aws_sdk_sagemaker::config::Builder::from(&own("AWS_ENDPOINT_URL_SAGEMAKER"))
                    .retry_config(control_plane_retries())
                    .build(),
            ),
            runtime: aws_sdk_sagemakerruntime::Client::new(&own(
                "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME",
            )),
            logs: aws_sdk_cloudwatchlogs::Client::new(&own("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS")),
            autoscaling: aws_sdk_applicationautoscaling::Client::from_conf(
                aws_sdk_applicationautoscaling::config::Builder::from(&own(
                    "AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING",
                ))
                .retry_config(control_plane_retries())
                .build(),
            ),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&own("AWS_ENDPOINT_URL_CLOUDWATCH")),
            // The Price List API answers in us-east-1 (for every region's prices).
            pricing: aws_sdk_pricing::Client::from_conf(
                aws_sdk_pricing::config::Builder::from(&own("AWS_ENDPOINT_URL_PRICING"))
                    .region(Region::new("us-east-1"))
                    .build(),
            ),
            described: Default::default(),
            is_local_cloud: provided.is_some(),
            account: Default::default(),
            sdk,
        }
    }

    /// The caller's 12-digit account id (STS GetCallerIdentity, asked once per connection):
    /// the expected owner of every bucket Ebb uses (see [`crate::bucket_owner`]).
    pub async fn account(
        &self,
    ) -> Result<
        String,
        aws_sdk_sts::error::SdkError<
            aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityError,
        >,
    > {
        if let Some(account) = self.account.get() {
            return Ok(account.clone());
        }
        let who = self.sts.get_caller_identity().send().await?;
        let account = who.account().unwrap_or_default().to_string();
        self.remember_account(&account);
        Ok(account)
    }

    /// Records the account an identity check already found.
    pub fn remember_account(&self, account: &str) {
        if !account.is_empty() {
            let _ = self.account.set(account.to_string());
        }
    }

    /// The region the SDK ended up with (ours, or the profile's).
    pub fn region(&self) -> Option<String> {
        self.sdk.region().map(|r| r.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upload_gets_time_for_its_size() {
        assert_eq!(attempt_timeout_for(0), ATTEMPT_TIMEOUT);
        assert_eq!(
            attempt_timeout_for(128_000),
            ATTEMPT_TIMEOUT + Duration::from_secs(2)
        );
        // 32 MiB at 100 kB/s: over five and a half minutes.
        assert!(attempt_timeout_for(32 << 20) > Duration::from_secs(350));
    }

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    fn aws_settings() -> Settings {
        Settings {
            mode: Mode::Aws,
            profile: Some("work".into()),
            region: Some("eu-west-1".into()),
            endpoint_url: Some("http://127.0.0.1:9000".into()),
            ..Settings::default()
        }
    }

    #[test]
    fn flags_beat_env_beat_settings() {
        let env = env_of(&[("AWS_PROFILE", "envp"), ("AWS_REGION", "us-west-2")]);
        let t = resolve(&Overrides::default(), &aws_settings(), None, &env);
        assert_eq!(t.profile.as_deref(), Some("envp"));
        assert_eq!(t.profile_source, Source::Env);
        assert_eq!(t.region.as_deref(), Some("us-west-2"));
        let flags = Overrides {
            profile: Some("flagp".into()),
            region: Some("ap-northeast-2".into()),
            ..Overrides::default()
        };
        let t = resolve(&flags, &aws_settings(), None, &env);
        assert_eq!(
            (t.profile.as_deref(), t.profile_source),
            (Some("flagp"), Source::Flag)
        );
        assert_eq!(t.region.as_deref(), Some("ap-northeast-2"));
        let t = resolve(&Overrides::default(), &aws_settings(), None, &env_of(&[]));
        assert_eq!(
            (t.region.as_deref(), t.region_source),
            (Some("eu-west-1"), Source::Settings)
        );
        assert_eq!(t.endpoint_url.as_deref(), Some("http://127.0.0.1:9000"));
    }

    #[test]
    fn which_cloud_local_then_endpoint_then_mode() {
        let env = env_of(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")]);
        let local = Overrides {
            local: true,
            ..Overrides::default()
        };
        assert_eq!(
            resolve(&local, &aws_settings(), None, &env).mode,
            Mode::Local
        );
        // A custom endpoint means AWS-compatible, even when settings say local.
        let t = resolve(&Overrides::default(), &Settings::default(), None, &env);
        assert_eq!(t.mode, Mode::Aws);
        assert_eq!(t.endpoint_source, Source::Env);
        let t = resolve(
            &Overrides::default(),
            &Settings::default(),
            None,
            &env_of(&[]),
        );
        assert_eq!((t.mode, t.endpoint_url), (Mode::Local, None));
        // AWS_DEFAULT_REGION is honoured like the aws CLI does.
        let t = resolve(
            &Overrides::default(),
            &Settings::default(),
            None,
            &env_of(&[("AWS_DEFAULT_REGION", "sa-east-1")]),
        );
        assert_eq!(t.region.as_deref(), Some("sa-east-1"));
    }

    #[test]
    fn local_mode_uses_the_provided_cloud_and_its_placeholder_role() {
        let cloud = ProvidedCloud {
            endpoint_url: "http://127.0.0.1:4567".into(),
            region: "us-east-1".into(),
            access_key_id: "EBBLKEY".into(),
            secret_access_key: "secret".into(),
            role_arn: Some("arn:aws:iam::000000000000:role/Local".into()),
        };
        let env = env_of(&[("AWS_REGION", "eu-west-1"), ("AWS_PROFILE", "work")]);
        let t = resolve(
            &Overrides::default(),
            &Settings::default(),
            Some(&cloud),
            &env,
        );
        assert_eq!(t.mode, Mode::Local);
        assert_eq!(t.endpoint_url.as_deref(), Some("http://127.0.0.1:4567"));
        assert_eq!(
            (t.region.as_deref(), t.region_source),
            (Some("us-east-1"), Source::LocalCloud)
        );
        assert_eq!(t.profile, None);
        assert_eq!(t.role_source, Source::LocalCloud);
        // A role in the settings wins over the placeholder.
        let mine = Settings {
            role_arn: Some("arn:aws:iam::000000000000:role/Mine".into()),
            ..Settings::default()
        };
        let t = resolve(&Overrides::default(), &mine, Some(&cloud), &env);
        assert_eq!(
            t.role_arn.as_deref(),
            Some("arn:aws:iam::000000000000:role/Mine")
        );
        // The provided cloud never leaks into AWS mode.
        let t = resolve(
            &Overrides::default(),
            &aws_settings(),
            Some(&cloud),
            &env_of(&[]),
        );
        assert_eq!(t.endpoint_url.as_deref(), Some("http://127.0.0.1:9000"));
        assert!(!format!("{cloud:?}").contains("secret"));
    }
}
