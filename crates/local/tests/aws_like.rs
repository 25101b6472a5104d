//! The AWS-like mode through the official SDK clients: throttling, paging, expiring session
//! credentials, faults after acceptance, failure objects named apart from outputs, and the
//! endpoint's count of duplicate invocations.

mod common;

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_sagemaker::error::ProvideErrorMetadata;
use common::{Cloud, bucket, deploy, eventually};
use ebb_local::faults::Fault;
use ebb_local::{Config, Credentials, LocalCloud};

const REQUEST: &str = r#"{"inputs": "Hello", "parameters": {"max_new_tokens": 8}}"#;

async fn sdk_for(url: &str, creds: aws_sdk_sts::config::Credentials) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(ebb_local::REGION))
        .endpoint_url(url)
        .credentials_provider(creds)
        .load()
        .await
}

/// An AWS-like local cloud on a free loopback port, its clock `speed` times real time.
async fn start(speed: f64) -> Cloud {
    let data = tempfile::tempdir().unwrap();
    let mut config = Config::new(
        "127.0.0.1:0".parse().unwrap(),
        data.path().to_path_buf(),
        Credentials::generate(),
    );
    config.speed = speed;
    config.aws_like = true;
    let cloud = LocalCloud::start(config).await.unwrap();
    let info = cloud.info().clone();
    let creds = aws_sdk_sts::config::Credentials::new(
        info.access_key_id,
        info.secret_access_key,
        None,
        None,
        "local",
    );
    // The helpers poll DescribeEndpoint often; with throttling on they need the SDK's retries.
    let retries = aws_sdk_sagemaker::config::retry::RetryConfig::standard()
        .with_max_attempts(10)
        .with_initial_backoff(Duration::from_millis(50))
        .with_max_backoff(Duration::from_secs(1));
    let sdk = sdk_for(&info.endpoint_url, creds)
        .await
        .to_builder()
        .retry_config(retries)
        .build();
    Cloud { cloud, sdk, data }
}

fn no_retries(sdk: &SdkConfig) -> SdkConfig {
    sdk.to_builder()
        .retry_config(aws_sdk_sagemaker::config::retry::RetryConfig::disabled())
        .build()
}

#[test]
fn the_environment_switches_it_on() {
    // Only this test binary reads the variable, and every test in it is AWS-like anyway.
    unsafe { std::env::set_var(ebb_local::aws_like::ENV, "1") };
    let config = Config::new(
        "127.0.0.1:0".parse().unwrap(),
        std::env::temp_dir(),
        Credentials::generate(),
    );
    assert!(config.aws_like);
}

#[tokio::test]
async fn control_plane_calls_are_throttled_as_aws_words_it_and_the_data_plane_never() {
    let c = start(1.0).await;
    let sdk = no_retries(&c.sdk);
    let sm = aws_sdk_sagemaker::Client::new(&sdk);
    let mut throttled = None;
    for _ in 0..30 {
        if let Err(e) = sm.list_endpoints().send().await {
            throttled = Some(e);
            break;
        }
    }
    let e = throttled.expect("30 ListEndpoints in a row should be throttled");
    let status = e.raw_response().map(|r| r.status().as_u16());
    assert_eq!(status, Some(400));
    assert_eq!(e.code(), Some("ThrottlingException"));
    assert_eq!(e.message(), Some("Rate exceeded"));
    let cw = aws_sdk_cloudwatch::Client::new(&sdk);
    let mut codes = Vec::new();
    for _ in 0..30 {
        if let Err(e) = cw.describe_alarms().send().await {
            codes.push(e.code().unwrap_or_default().to_string());
        }
    }
    assert!(codes.iter().any(|c| c == "Throttling"), "{codes:?}");
    // The token bucket refills: after a pause the same call passes again.
    tokio::time::sleep(Duration::from_millis(600)).await;
    sm.list_endpoints().send().await.unwrap();
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    for _ in 0..40 {
        s3.list_objects_v2().bucket(bucket()).send().await.unwrap();
    }
    c.stop().await;
}

#[tokio::test]
async fn list_objects_v2_honours_max_keys() {
    let c = start(1.0).await;
    let s3 = c.s3();
    for i in 0..5 {
        s3.put_object()
            .bucket(bucket())
            .key(format!("page/{i}"))
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    let first = s3
        .list_objects_v2()
        .bucket(bucket())
        .prefix("page/")
        .max_keys(2)
        .send()
        .await
        .unwrap();
    assert_eq!(first.contents().len(), 2);
    assert_eq!(first.is_truncated(), Some(true));
    let rest = s3
        .list_objects_v2()
        .bucket(bucket())
        .prefix("page/")
        .set_continuation_token(first.next_continuation_token().map(str::to_string))
        .send()
        .await
        .unwrap();
    assert_eq!(rest.contents().len(), 3);
    c.stop().await;
}

async fn put_input(c: &Cloud, key: &str) -> String {
    c.s3()
        .put_object()
        .bucket(bucket())
        .key(key)
        .body(ByteStream::from(REQUEST.as_bytes().to_vec()))
        .send()
        .await
        .unwrap();
    format!("s3://{}/{key}", bucket())
}

#[tokio::test]
async fn failures_are_named_apart_and_log_pages_can_be_empty_with_a_token() {
    let c = start(20.0).await;
    deploy(&c, "ep", &[], 1, 4).await;
    let r = c
        .runtime()
        .invoke_endpoint_async()
        .endpoint_name("ep")
        .input_location(format!("s3://{}/missing/input.json", bucket()))
        .filename("line-7.json")
        .send()
        .await
        .unwrap();
    let output = r.output_location().unwrap();
    let failure = r.failure_location().unwrap().to_string();
    assert!(output.ends_with("/line-7.json"), "{output}");
    assert!(failure.ends_with("-error.out"), "{failure}");
    assert!(!failure.contains("line-7"), "{failure}");
    let (b, key) = failure
        .strip_prefix("s3://")
        .and_then(|f| f.split_once('/'))
        .unwrap();
    let s3 = c.s3();
    eventually("the failure object", Duration::from_secs(20), || {
        let s3 = s3.clone();
        async move { s3.head_object().bucket(b).key(key).send().await.ok() }
    })
    .await;
    let logs = c.logs();
    let group = "/aws/sagemaker/Endpoints/ep";
    let first = logs
        .filter_log_events()
        .log_group_name(group)
        .send()
        .await
        .unwrap();
    assert!(first.events().is_empty());
    let token = first.next_token().expect("an empty page still has a token");
    let second = logs
        .filter_log_events()
        .log_group_name(group)
        .next_token(token)
        .send()
        .await
        .unwrap();
    let id = r.inference_id().unwrap();
    assert!(
        second
            .events()
            .iter()
            .any(|e| e.message().unwrap_or_default().contains(id)),
        "{second:?}"
    );
    c.stop().await;
}

async fn invoke_with_fault(c: &Cloud, fault: &str, id: &str) -> u32 {
    let location = put_input(c, &format!("in/{id}.json")).await;
    c.cloud.set_faults(vec![Fault::parse(fault).unwrap()]);
    let sent = c
        .runtime()
        .invoke_endpoint_async()
        .endpoint_name("ep")
        .input_location(location)
        .inference_id(id)
        .send()
        .await;
    c.cloud.set_faults(Vec::new());
    assert!(
        sent.is_err(),
        "every answer was spoiled, so the client fails"
    );
    eventually("the duplicates", Duration::from_secs(20), || async {
        let d = c.cloud.duplicate_invocations("ep").unwrap_or_default();
        d.get(id).copied().filter(|n| *n >= 10)
    })
    .await
}

#[tokio::test]
async fn a_lost_or_spoiled_answer_makes_a_retry_invoke_again_and_it_is_counted() {
    let c = start(20.0).await;
    deploy(&c, "ep", &[], 1, 4).await;
    // The client makes 10 attempts (see `start`); each one was enqueued and processed.
    let lost = invoke_with_fault(&c, "runtime:InvokeEndpointAsync=lost:1", "lost-1").await;
    assert_eq!(lost, 10);
    let spoiled =
        invoke_with_fault(&c, "runtime:InvokeEndpointAsync=error-after:1", "spoiled-1").await;
    assert_eq!(spoiled, 10);
    let file = c.data.path().join("duplicate-invocations.jsonl");
    let lines = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["inference_id"] == "lost-1" && l["times"] == 10)
    );
    assert!(
        lines
            .iter()
            .any(|l| l["inference_id"] == "spoiled-1" && l["endpoint"] == "ep")
    );
    c.stop().await;
}

#[tokio::test]
async fn session_credentials_expire_as_aws_expires_them() {
    // At 1000x, the shortest session STS allows (900 s) lasts under a second.
    let c = start(1000.0).await;
    let sts = aws_sdk_sts::Client::new(&c.sdk);
    let short = sts
        .get_session_token()
        .duration_seconds(100)
        .send()
        .await
        .unwrap_err();
    assert_eq!(short.code(), Some("ValidationError"));
    let issued = sts
        .get_session_token()
        .duration_seconds(900)
        .send()
        .await
        .unwrap();
    let creds = issued.credentials().unwrap();
    assert!(creds.access_key_id().starts_with("ASIA"));
    let session = aws_sdk_sts::config::Credentials::new(
        creds.access_key_id(),
        creds.secret_access_key(),
        Some(creds.session_token().to_string()),
        None,
        "session",
    );
    let sdk = no_retries(&sdk_for(&c.url(), session).await);
    let sm = aws_sdk_sagemaker::Client::new(&sdk);
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    sm.list_models().send().await.unwrap();
    s3.list_objects_v2().bucket(bucket()).send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let e = sm.list_models().send().await.unwrap_err();
    assert_eq!(e.code(), Some("ExpiredTokenException"));
    assert_eq!(
        e.message(),
        Some("The security token included in the request is expired")
    );
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(400));
    let e = s3
        .list_objects_v2()
        .bucket(bucket())
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ExpiredToken"));
    assert_eq!(e.message(), Some("The provided token has expired."));
    let e = aws_sdk_sts::Client::new(&sdk)
        .get_caller_identity()
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ExpiredToken"));
    // The local keys themselves never expire.
    c.sagemaker().list_models().send().await.unwrap();
    c.stop().await;
}

#[tokio::test]
async fn scaling_activities_come_fifty_a_page() {
    let data = tempfile::tempdir().unwrap();
    let activities: Vec<serde_json::Value> = (0..60)
        .map(|i| {
            serde_json::json!({
                "ActivityId": format!("a-{i}"),
                "ServiceNamespace": "sagemaker",
                "ResourceId": "endpoint/ep/variant/AllTraffic",
                "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
                "Description": "Setting desired instance count to 1.",
                "Cause": "seeded",
                "StartTime": 0.0,
                "EndTime": 1.0,
                "StatusCode": "Successful",
            })
        })
        .collect();
    let state = serde_json::json!({ "targets": {}, "policies": {}, "activities": activities });
    std::fs::write(data.path().join("autoscaling.json"), state.to_string()).unwrap();
    let c = common::restart(1.0, data, Credentials::generate()).await;
    let aas = c.autoscaling();
    let first = aas
        .describe_scaling_activities()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Sagemaker)
        .send()
        .await
        .unwrap();
    assert_eq!(first.scaling_activities().len(), 50);
    let rest = aas
        .describe_scaling_activities()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Sagemaker)
        .next_token(first.next_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.scaling_activities().len(), 10);
    assert!(rest.next_token().is_none());
    c.stop().await;
}
