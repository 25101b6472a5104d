//! The data folder belongs to one local cloud at a time, and its saved state is never silently
//! replaced: a state file that cannot be read stops the start, naming the file, and is kept.

mod common;

use aws_sdk_sagemaker::types::EndpointStatus;
use common::{bucket, deploy, wait_status};
use ebb_local::{Config, Credentials, Error, LocalCloud};

fn config(data: &std::path::Path, credentials: Credentials) -> Config {
    Config::new(
        "127.0.0.1:0".parse().unwrap(),
        data.to_path_buf(),
        credentials,
    )
}

#[tokio::test]
async fn a_second_cloud_over_a_running_clouds_folder_is_refused() {
    let c = common::start(20.0).await;
    let err = LocalCloud::start(config(c.data.path(), Credentials::generate()))
        .await
        .err()
        .expect("a second local cloud must not start over the same data folder");
    match &err {
        Error::Locked { data_dir, pid } => {
            assert_eq!(data_dir, c.data.path());
            assert_eq!(*pid, Some(std::process::id()));
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains(&c.data.path().display().to_string())
            && message.contains(&format!("process {}", std::process::id())),
        "{message}"
    );
    // The first one is untouched and still serves.
    let buckets = c.s3().list_buckets().send().await.unwrap();
    assert!(
        buckets
            .buckets()
            .iter()
            .any(|b| b.name() == Some(bucket().as_str()))
    );
    let credentials = c.credentials();
    let data = c.stop().await;
    // Stopped, it releases the folder.
    common::restart(20.0, data, credentials).await.stop().await;
}

/// Garbage in `file`: the start fails naming it, the file keeps its bytes, and nothing holds
/// the folder afterwards.
async fn refused_for(data: &std::path::Path, credentials: &Credentials, file: &std::path::Path) {
    let garbage = b"{\"endpoints\": {\"kept\": tru".to_vec();
    std::fs::write(file, &garbage).unwrap();
    let err = LocalCloud::start(config(data, credentials.clone()))
        .await
        .err()
        .unwrap_or_else(|| panic!("started over an unreadable {}", file.display()));
    assert!(
        matches!(&err, Error::State { path, .. } if path == file),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains(&file.display().to_string())
            && message.contains("move it out of the data folder"),
        "{message}"
    );
    assert_eq!(
        std::fs::read(file).unwrap(),
        garbage,
        "the file was changed"
    );
}

#[tokio::test]
async fn an_unreadable_state_file_stops_the_start_and_is_kept() {
    let c = common::start(20.0).await;
    deploy(&c, "kept", &[], 1, 2).await;
    let credentials = c.credentials();
    let data = c.stop().await;
    let sagemaker = data.path().join("sagemaker.json");
    let saved = std::fs::read(&sagemaker).unwrap();
    refused_for(data.path(), &credentials, &sagemaker).await;
    std::fs::write(&sagemaker, &saved).unwrap();
    // The other state files and the S3 index are held to the same.
    let bucket_file = data
        .path()
        .join("s3/buckets")
        .join(bucket())
        .join("bucket.json");
    for name in ["cloudwatch.json", "autoscaling.json"] {
        let file = data.path().join(name);
        refused_for(data.path(), &credentials, &file).await;
        std::fs::remove_file(&file).unwrap();
    }
    let bucket_saved = std::fs::read(&bucket_file).unwrap();
    refused_for(data.path(), &credentials, &bucket_file).await;
    std::fs::write(&bucket_file, &bucket_saved).unwrap();
    // Restored, everything is back: the endpoint was never replaced by an empty state.
    let c = common::restart(20.0, data, credentials).await;
    wait_status(&c, "kept", EndpointStatus::InService).await;
    c.cloud.stop().await;
}
