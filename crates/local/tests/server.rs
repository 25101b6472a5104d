//! The local cloud as the engine's SDK clients see it: signed requests answered, others refused.

use aws_config::{BehaviorVersion, Region};
use ebb_local::{Config, Credentials, LocalCloud};

async fn start() -> (LocalCloud, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let cloud = LocalCloud::start(Config::new(
        "127.0.0.1:0".parse().unwrap(),
        data.path().to_path_buf(),
        Credentials::generate(),
    ))
    .await
    .unwrap();
    (cloud, data)
}

async fn sts(url: &str, key: &str, secret: &str) -> aws_sdk_sts::Client {
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(aws_sdk_sts::config::Credentials::new(
            key, secret, None, None, "test",
        ))
        .load()
        .await;
    aws_sdk_sts::Client::new(&sdk)
}

#[tokio::test]
async fn sdk_get_caller_identity_with_the_local_keys() {
    let (cloud, _data) = start().await;
    let info = cloud.info().clone();
    let client = sts(
        &info.endpoint_url,
        &info.access_key_id,
        &info.secret_access_key,
    )
    .await;
    let who = client.get_caller_identity().send().await.unwrap();
    assert_eq!(who.account(), Some("000000000000"));
    assert_eq!(who.arn(), Some("arn:aws:iam::000000000000:user/ebb-local"));
    cloud.stop().await;
}

#[tokio::test]
async fn wrong_secret_and_unknown_key_are_refused_with_aws_codes() {
    let (cloud, _data) = start().await;
    let info = cloud.info().clone();
    let wrong_secret = sts(&info.endpoint_url, &info.access_key_id, "not-the-secret").await;
    let err = wrong_secret.get_caller_identity().send().await.unwrap_err();
    let code = aws_sdk_sts::error::ProvideErrorMetadata::code(&err);
    assert_eq!(code, Some("SignatureDoesNotMatch"), "{err:?}");
    let other_key = sts(&info.endpoint_url, "AKIAOTHER", &info.secret_access_key).await;
    let err = other_key.get_caller_identity().send().await.unwrap_err();
    let code = aws_sdk_sts::error::ProvideErrorMetadata::code(&err);
    assert_eq!(code, Some("InvalidClientTokenId"), "{err:?}");
    cloud.stop().await;
}

#[tokio::test]
async fn unsigned_request_gets_403() {
    let (cloud, _data) = start().await;
    let body = "Action=GetCallerIdentity&Version=2011-06-15";
    let request = format!(
        "POST / HTTP/1.1\r\nhost: {}\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        cloud.addr(),
        body.len()
    );
    let response = exchange(&cloud, &request).await;
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
    assert!(
        response.contains("<Code>MissingAuthenticationToken</Code>"),
        "{response}"
    );
    cloud.stop().await;
}

#[tokio::test]
async fn refuses_to_listen_beyond_loopback() {
    let data = tempfile::tempdir().unwrap();
    let err = LocalCloud::start(Config::new(
        "0.0.0.0:0".parse().unwrap(),
        data.path().to_path_buf(),
        Credentials::generate(),
    ))
    .await
    .err()
    .expect("0.0.0.0 must be refused");
    assert!(err.to_string().contains("loopback"), "{err}");
}

/// A clock `offset` behind (negative: ahead of) the real one, for an SDK client.
#[derive(Debug)]
struct Behind(std::time::Duration);

impl aws_smithy_async::time::TimeSource for Behind {
    fn now(&self) -> std::time::SystemTime {
        std::time::SystemTime::now() - self.0
    }
}

/// A raw STS call: `signed_body` signed at `at`, then `sent_body` sent; the status line and
/// the body of the answer.
async fn raw_sts(
    cloud: &LocalCloud,
    at: std::time::SystemTime,
    signed_body: &str,
    sent_body: &str,
) -> String {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let info = cloud.info();
    let host = cloud.addr().to_string();
    let url = format!("http://{host}/");
    let identity = aws_credential_types::Credentials::new(
        &info.access_key_id,
        &info.secret_access_key,
        None,
        None,
        "test",
    )
    .into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("sts")
        .time(at)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let headers = [
        ("host", host.as_str()),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    let signable = SignableRequest::new(
        "POST",
        &url,
        headers.into_iter(),
        SignableBody::Bytes(signed_body.as_bytes()),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut request = format!(
        "POST / HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\nconnection: close\r\n",
        sent_body.len()
    );
    for (name, value) in instructions.headers() {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("\r\n{sent_body}"));
    exchange(cloud, &request).await
}

/// Sends `request` as it is over a new connection; the whole response.
async fn exchange(cloud: &LocalCloud, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(cloud.addr()).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test]
async fn a_body_swapped_after_signing_is_refused() {
    let (cloud, _data) = start().await;
    let now = std::time::SystemTime::now();
    let body = "Action=GetCallerIdentity&Version=2011-06-15";
    let ok = raw_sts(&cloud, now, body, body).await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    let swapped = raw_sts(
        &cloud,
        now,
        body,
        "Action=GetCallerIdentity&Version=2011-06-16",
    )
    .await;
    assert!(swapped.starts_with("HTTP/1.1 403"), "{swapped}");
    assert!(
        swapped.contains("<Code>SignatureDoesNotMatch</Code>"),
        "{swapped}"
    );
    cloud.stop().await;
}

#[tokio::test]
async fn a_request_dated_20_minutes_ago_is_refused_as_expired() {
    let (cloud, _data) = start().await;
    let past = std::time::SystemTime::now() - std::time::Duration::from_secs(20 * 60);
    let body = "Action=GetCallerIdentity&Version=2011-06-15";
    let old = raw_sts(&cloud, past, body, body).await;
    assert!(old.starts_with("HTTP/1.1 403"), "{old}");
    assert!(old.contains("<Code>SignatureDoesNotMatch</Code>"), "{old}");
    assert!(old.contains("Signature expired: "), "{old}");
    cloud.stop().await;
}

#[tokio::test]
async fn the_local_cloud_speed_does_not_move_the_signature_window() {
    // A simulated clock 1000x faster is hours ahead within seconds; signatures still use
    // real time.
    let data = tempfile::tempdir().unwrap();
    let mut config = Config::new(
        "127.0.0.1:0".parse().unwrap(),
        data.path().to_path_buf(),
        Credentials::generate(),
    );
    config.speed = 1000.0;
    let cloud = LocalCloud::start(config).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let info = cloud.info().clone();
    let client = sts(
        &info.endpoint_url,
        &info.access_key_id,
        &info.secret_access_key,
    )
    .await;
    client.get_caller_identity().send().await.unwrap();
    cloud.stop().await;
}

#[tokio::test]
async fn an_sdk_client_with_a_skewed_clock_corrects_itself_from_the_refusal() {
    // The SDK recognises AWS's clock-skew refusals, reads the server's Date and signs
    // again with the corrected time: that only works if the refusal is worded as AWS's.
    let (cloud, _data) = start().await;
    let info = cloud.info().clone();
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(&info.endpoint_url)
        .time_source(Behind(std::time::Duration::from_secs(20 * 60)))
        .credentials_provider(aws_sdk_sts::config::Credentials::new(
            &info.access_key_id,
            &info.secret_access_key,
            None,
            None,
            "test",
        ))
        .load()
        .await;
    let who = aws_sdk_sts::Client::new(&sdk)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(who.account(), Some("000000000000"));
    let endpoints = aws_sdk_sagemaker::Client::new(&sdk)
        .list_endpoints()
        .send()
        .await
        .unwrap();
    assert!(endpoints.endpoints().is_empty());
    cloud.stop().await;
}
