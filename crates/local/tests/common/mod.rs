//! Starting a local cloud and SDK clients for it.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_sagemaker::types::{
    AsyncInferenceClientConfig, AsyncInferenceConfig, AsyncInferenceOutputConfig,
    ContainerDefinition, EndpointStatus, ProductionVariant,
};
use ebb_local::{Config, Credentials, LocalCloud};

pub mod scaling;

pub struct Cloud {
    pub cloud: LocalCloud,
    pub sdk: SdkConfig,
    pub data: tempfile::TempDir,
}

/// A local cloud whose clock runs `speed` times faster than real time.
pub async fn start(speed: f64) -> Cloud {
    restart(speed, tempfile::tempdir().unwrap(), Credentials::generate()).await
}

/// A sped-up local cloud whose instances take `startup` (simulated) to start.
pub async fn start_with_startup(speed: f64, startup: Duration) -> Cloud {
    launch(
        speed,
        startup,
        tempfile::tempdir().unwrap(),
        Credentials::generate(),
    )
    .await
}

/// A local cloud on an existing data folder (as after a restart).
pub async fn restart(speed: f64, data: tempfile::TempDir, credentials: Credentials) -> Cloud {
    launch(speed, Duration::from_secs(3), data, credentials).await
}

async fn launch(
    speed: f64,
    startup: Duration,
    data: tempfile::TempDir,
    credentials: Credentials,
) -> Cloud {
    // No test reads the developer's Hugging Face cache or asks the Hub.
    let models = ebb_local::model::Settings::offline_in(&data.path().join("hf-hub"));
    launch_with(speed, startup, data, credentials, models).await
}

/// A real-time local cloud whose models come from `models` (a test's own Hub cache).
pub async fn start_with_models(models: ebb_local::model::Settings) -> Cloud {
    let data = tempfile::tempdir().unwrap();
    launch_with(
        1.0,
        Duration::from_secs(2),
        data,
        Credentials::generate(),
        models,
    )
    .await
}

async fn launch_with(
    speed: f64,
    startup: Duration,
    data: tempfile::TempDir,
    credentials: Credentials,
    models: ebb_local::model::Settings,
) -> Cloud {
    let mut config = Config::new(
        "127.0.0.1:0".parse().unwrap(),
        data.path().to_path_buf(),
        credentials,
    );
    config.speed = speed;
    config.startup = startup;
    config.models = models;
    let cloud = LocalCloud::start(config).await.unwrap();
    let info = cloud.info().clone();
    // Throttled calls (EBB_LOCAL_AWS_LIKE=1 throttles the control plane) are retried with
    // backoff, as a notebook's client does against AWS.
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(10))
        .region(Region::new(info.region.clone()))
        .endpoint_url(&info.endpoint_url)
        .credentials_provider(aws_sdk_sts::config::Credentials::new(
            info.access_key_id,
            info.secret_access_key,
            None,
            None,
            "local",
        ))
        .load()
        .await;
    Cloud { cloud, sdk, data }
}

impl Cloud {
    pub fn s3(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&self.sdk)
                .force_path_style(true)
                .build(),
        )
    }

    /// An S3 client of another local account, `account`: keys from STS AssumeRole into a
    /// role of that account.
    pub async fn s3_of_account(&self, account: &str) -> aws_sdk_s3::Client {
        let assumed = aws_sdk_sts::Client::new(&self.sdk)
            .assume_role()
            .role_arn(format!("arn:aws:iam::{account}:role/Stranger"))
            .role_session_name("stranger")
            .send()
            .await
            .unwrap();
        let keys = assumed.credentials().unwrap();
        let sdk = self
            .sdk
            .to_builder()
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(
                    aws_sdk_s3::config::Credentials::new(
                        keys.access_key_id(),
                        keys.secret_access_key(),
                        Some(keys.session_token().to_string()),
                        None,
                        "assumed",
                    ),
                ),
            )
            .build();
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(true)
                .build(),
        )
    }

    pub fn sagemaker(&self) -> aws_sdk_sagemaker::Client {
        aws_sdk_sagemaker::Client::new(&self.sdk)
    }

    pub fn autoscaling(&self) -> aws_sdk_applicationautoscaling::Client {
        aws_sdk_applicationautoscaling::Client::new(&self.sdk)
    }

    pub fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::new(&self.sdk)
    }

    pub fn logs(&self) -> aws_sdk_cloudwatchlogs::Client {
        aws_sdk_cloudwatchlogs::Client::new(&self.sdk)
    }

    pub fn runtime(&self) -> aws_sdk_sagemakerruntime::Client {
        aws_sdk_sagemakerruntime::Client::new(&self.sdk)
    }

    pub fn credentials(&self) -> Credentials {
        let info = self.cloud.info();
        Credentials {
            access_key_id: info.access_key_id.clone(),
            secret_access_key: info.secret_access_key.clone(),
        }
    }

    /// Stops the server and hands back its data folder.
    pub async fn stop(self) -> tempfile::TempDir {
        self.cloud.stop().await;
        self.data
    }

    pub fn url(&self) -> String {
        self.cloud.info().endpoint_url.clone()
    }
}

/// Polls `check` until it returns `Some`, failing the test with `what` after `limit`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The text of the object at `uri` (`s3://bucket/key`), or `None` while there is none.
pub async fn read_object(c: &Cloud, uri: &str) -> Option<String> {
    let (bucket, key) = uri.strip_prefix("s3://")?.split_once('/')?;
    let got = c
        .s3()
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .ok()?;
    Some(String::from_utf8(got.body.collect().await.ok()?.into_bytes().to_vec()).unwrap())
}

/// Waits up to 20 seconds for the object at `uri` and gives its text.
pub async fn wait_object(c: &Cloud, uri: &str) -> String {
    eventually(uri, Duration::from_secs(20), || read_object(c, uri)).await
}

pub const ROLE: &str = ebb_local::PLACEHOLDER_ROLE_ARN;

pub fn bucket() -> String {
    ebb_local::default_bucket()
}

/// Model + async endpoint config + endpoint, like the seed notebook; returns when InService.
pub async fn deploy(c: &Cloud, name: &str, env: &[(&str, &str)], instances: i32, concurrency: i32) {
    create(
        c,
        name,
        env,
        instances,
        Some(concurrency),
        EndpointStatus::InService,
    )
    .await;
}

/// Model + endpoint config (async when `concurrency` is given) + endpoint; waits for `want`.
pub async fn create(
    c: &Cloud,
    name: &str,
    env: &[(&str, &str)],
    instances: i32,
    concurrency: Option<i32>,
    want: EndpointStatus,
) {
    let sm = c.sagemaker();
    let mut container = ContainerDefinition::builder().image(
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:2.0.1-tgi1.1.0-gpu-py39-cu118-ubuntu20.04",
    );
    container = container
        .environment("HF_MODEL_ID", "google/flan-t5-xxl")
        .environment("SM_NUM_GPUS", "4");
    for (k, v) in env {
        container = container.environment(*k, *v);
    }
    sm.create_model()
        .model_name(name)
        .execution_role_arn(ROLE)
        .primary_container(container.build())
        .send()
        .await
        .unwrap();
    sm.create_endpoint_config()
        .endpoint_config_name(name)
        .production_variants(
            ProductionVariant::builder()
                .variant_name("AllTraffic")
                .model_name(name)
                .instance_type("ml.g5.12xlarge".into())
                .initial_instance_count(instances)
                .container_startup_health_check_timeout_in_seconds(300)
                .build(),
        )
        .set_async_inference_config(concurrency.map(|n| {
            AsyncInferenceConfig::builder()
                .client_config(
                    AsyncInferenceClientConfig::builder()
                        .max_concurrent_invocations_per_instance(n)
                        .build(),
                )
                .output_config(
                    AsyncInferenceOutputConfig::builder()
                        .s3_output_path(format!("s3://{}/async-llm-output/output", bucket()))
                        .s3_failure_path(format!("s3://{}/async-llm-output/failure", bucket()))
                        .build(),
                )
                .build()
        }))
        .send()
        .await
        .unwrap();
    sm.create_endpoint()
        .endpoint_name(name)
        .endpoint_config_name(name)
        .send()
        .await
        .unwrap();
    let first = describe_endpoint(c, name).await;
    assert_eq!(first.endpoint_status(), Some(&EndpointStatus::Creating));
    wait_status(c, name, want).await;
}

/// DescribeEndpoint of `name`, which must exist.
pub async fn describe_endpoint(
    c: &Cloud,
    name: &str,
) -> aws_sdk_sagemaker::operation::describe_endpoint::DescribeEndpointOutput {
    c.sagemaker()
        .describe_endpoint()
        .endpoint_name(name)
        .send()
        .await
        .unwrap()
}

pub async fn wait_status(c: &Cloud, name: &str, want: EndpointStatus) {
    eventually(
        &format!("{name} to be {want:?}"),
        Duration::from_secs(20),
        || {
            let want = want.clone();
            async move {
                let d = describe_endpoint(c, name).await;
                (d.endpoint_status() == Some(&want)).then_some(())
            }
        },
    )
    .await
}

/// Every log line of endpoint `name`, oldest first (none when its log group does not exist).
pub async fn log_lines(c: &Cloud, name: &str) -> Vec<String> {
    let logs = c.logs();
    let mut lines = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = logs
            .filter_log_events()
            .log_group_name(format!("/aws/sagemaker/Endpoints/{name}"))
            .set_next_token(token.clone())
            .send()
            .await;
        let page = match page {
            Ok(page) => page,
            Err(e) => {
                let e = e.into_service_error();
                assert!(e.is_resource_not_found_exception(), "{e:?}");
                return lines;
            }
        };
        lines.extend(
            page.events()
                .iter()
                .map(|e| e.message().unwrap_or_default().to_string()),
        );
        match page.next_token() {
            Some(next) if token.as_deref() != Some(next) => token = Some(next.to_string()),
            _ => return lines,
        }
    }
}

/// Puts `body` in S3 and invokes endpoint `name` with it; returns the output and failure
/// locations.
pub async fn invoke(c: &Cloud, name: &str, key: &str, body: &str) -> (String, String) {
    c.s3()
        .put_object()
        .bucket(bucket())
        .key(key)
        .body(ByteStream::from(body.as_bytes().to_vec()))
        .send()
        .await
        .unwrap();
    let r = c
        .runtime()
        .invoke_endpoint_async()
        .endpoint_name(name)
        .input_location(format!("s3://{}/{key}", bucket()))
        .content_type("application/json")
        .send()
        .await
        .unwrap();
    (
        r.output_location().unwrap().to_string(),
        r.failure_location().unwrap().to_string(),
    )
}

/// The FailureReason of endpoint `name`, which must be `Failed`.
pub async fn failure_reason(c: &Cloud, name: &str) -> String {
    let d = describe_endpoint(c, name).await;
    assert_eq!(d.endpoint_status(), Some(&EndpointStatus::Failed));
    d.failure_reason().unwrap_or_default().to_string()
}
