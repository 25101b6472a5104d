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
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (cloud, _data) = start().await;
    let mut stream = tokio::net::TcpStream::connect(cloud.addr()).await.unwrap();
    let body = "Action=GetCallerIdentity&Version=2011-06-15";
    let request = format!(
        "POST / HTTP/1.1\r\nhost: {}\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        cloud.addr(),
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
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
