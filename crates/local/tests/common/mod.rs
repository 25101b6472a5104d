//! Starting a local cloud and SDK clients for it.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use ebb_local::{Config, Credentials, LocalCloud};

pub struct Cloud {
    pub cloud: LocalCloud,
    pub sdk: SdkConfig,
    pub data: tempfile::TempDir,
}

/// A local cloud whose clock runs `speed` times faster than real time.
pub async fn start(speed: f64) -> Cloud {
    restart(speed, tempfile::tempdir().unwrap(), Credentials::generate()).await
}

/// A local cloud on an existing data folder (as after a restart).
pub async fn restart(speed: f64, data: tempfile::TempDir, credentials: Credentials) -> Cloud {
    let mut config = Config::new(
        "127.0.0.1:0".parse().unwrap(),
        data.path().to_path_buf(),
        credentials,
    );
    config.speed = speed;
    let cloud = LocalCloud::start(config).await.unwrap();
    let info = cloud.info().clone();
    let sdk = aws_config::defaults(BehaviorVersion::latest())
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

    pub fn sagemaker(&self) -> aws_sdk_sagemaker::Client {
        aws_sdk_sagemaker::Client::new(&self.sdk)
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
