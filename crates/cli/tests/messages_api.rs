//! TGI's Messages API as a user meets it: `ebb deploy --messages-api` puts the switch in the
//! model, the engine reads it back from the endpoint (on the local cloud and on moto), and
//! the local cloud answers a chat-completions body sent with InvokeEndpointAsync in OpenAI's
//! shape where the switch is on and refuses it as TGI does where it is off.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use ebb_core::{Ebb, Error, Overrides, ProvidedCloud};
use ebb_testkit::{LocalServe, MOTO_SECRET, Moto};

mod common;

use common::{ebb_cmd, local_sdk, ok};

/// A chat-completions body as an OpenAI client sends it.
const CHAT: &str = r#"{"model":"tgi","messages":[{"role":"user","content":"What is the capital of France?"}],"max_tokens":9,"seed":1}"#;

fn ebb(home: &Path, extra_env: &[(&str, &str)], args: &[&str]) -> Output {
    ebb_cmd(home)
        .envs(extra_env.iter().copied())
        .args(args)
        .output()
        .expect("run ebb")
}

/// An engine for `home` that reaches the cloud at `url` with these keys, as the shells hand
/// it the local cloud.
fn engine(home: &Path, url: &str, region: &str, keys: (&str, &str)) -> Ebb {
    let ebb = Ebb::with_home(home.to_path_buf(), Overrides::default());
    ebb.set_local_cloud(Some(ProvidedCloud::new(url, region, keys, None)));
    ebb
}

fn local_engine(home: &Path, cloud: &LocalServe) -> Ebb {
    let field = |k: &str| cloud.info[k].as_str().unwrap_or_default().to_string();
    engine(
        home,
        &field("endpoint_url"),
        &field("region"),
        (
            field("access_key_id").as_str(),
            field("secret_access_key").as_str(),
        ),
    )
}

/// The object at an `s3://bucket/key` URI once it exists (within 60 s), else `None`.
async fn wait_object(s3: &aws_sdk_s3::Client, uri: &str) -> Option<String> {
    let (bucket, key) = uri.strip_prefix("s3://")?.split_once('/')?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(o) = s3.get_object().bucket(bucket).key(key).send().await {
            let bytes = o.body.collect().await.ok()?.into_bytes();
            return Some(String::from_utf8_lossy(&bytes).into_owned());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

/// Sends `CHAT` to `endpoint` with InvokeEndpointAsync; returns its output and failure URIs.
async fn send_chat(sdk: &aws_config::SdkConfig, endpoint: &str) -> (String, String) {
    let s3 = aws_sdk_s3::Client::new(sdk);
    let bucket = "ebb-chat-inputs";
    // Already there on a second call: that is fine.
    let _ = s3.create_bucket().bucket(bucket).send().await;
    let key = format!("{endpoint}/chat.json");
    s3.put_object()
        .bucket(bucket)
        .key(&key)
        .body(CHAT.as_bytes().to_vec().into())
        .send()
        .await
        .expect("put the chat body");
    let rt = aws_sdk_sagemakerruntime::Client::new(sdk);
    let sent = rt
        .invoke_endpoint_async()
        .endpoint_name(endpoint)
        .content_type("application/json")
        .input_location(format!("s3://{bucket}/{key}"))
        .send()
        .await
        .expect("InvokeEndpointAsync");
    (
        sent.output_location().unwrap_or_default().to_string(),
        sent.failure_location().unwrap_or_default().to_string(),
    )
}

#[test]
fn chat_bodies_are_answered_only_where_the_messages_api_is_on() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let cloud = LocalServe::start(Path::new(env!("CARGO_BIN_EXE_ebb")), h, &[]);
    // The seed's TGI 1.1.0 has no Messages API: refused before any call.
    let old = ebb(h, &[], &["deploy", "--name", "chat-old", "--messages-api"]);
    assert!(!old.status.success());
    let err = String::from_utf8_lossy(&old.stderr);
    assert!(
        err.contains("--messages-api: TGI 1.1.0 has no Messages API"),
        "{err}"
    );
    for (name, extra) in [("chat-on", Some("--messages-api")), ("chat-off", None)] {
        let mut args = vec!["deploy", "--name", name, "--tgi-version", "2.3.1"];
        args.extend(extra);
        ok(&ebb(h, &[], &args));
    }

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let engine = local_engine(h, &cloud);
        assert!(engine.messages_api_enabled("chat-on").await.unwrap());
        assert!(!engine.messages_api_enabled("chat-off").await.unwrap());
        assert!(matches!(
            engine.messages_api_enabled("no-such-endpoint").await,
            Err(Error::EndpointNotFound(_))
        ));

        let sdk = local_sdk(&cloud).await;
        let s3 = aws_sdk_s3::Client::new(&sdk);
        let (output, _) = send_chat(&sdk, "chat-on").await;
        let answer = wait_object(&s3, &output).await.expect("a chat answer");
        let v: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(v["object"], "chat.completion", "{answer}");
        assert_eq!(v["choices"][0]["message"]["role"], "assistant");
        let content = v["choices"][0]["message"]["content"].as_str().unwrap();
        assert_eq!(content.split(' ').count(), 9, "max_tokens is honoured");
        assert_eq!(v["usage"]["completion_tokens"], 9);

        let (output, failure) = send_chat(&sdk, "chat-off").await;
        let refused = wait_object(&s3, &failure).await.expect("a failure object");
        assert!(
            refused.starts_with(
                "Failed to deserialize the JSON body into the target type: missing field `inputs`"
            ),
            "{refused}"
        );
        let (bucket, key) = output
            .strip_prefix("s3://")
            .and_then(|o| o.split_once('/'))
            .unwrap();
        let no_output = s3.get_object().bucket(bucket).key(key).send().await;
        assert!(no_output.is_err(), "a refused request has no output");
    });
    cloud.kill();
}

#[test]
fn moto_reads_back_the_switch() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let env = moto.env();
    let role = "arn:aws:iam::123456789012:role/SmRole";
    ok(&ebb(h, &env, &["settings", "set", "role_arn", role]));
    // The deploys' smoke tests send their requests through the settings' bucket.
    moto.request("PUT", "/sagemaker-us-east-1-123456789012", "");
    for (name, extra) in [("moto-chat", Some("--messages-api")), ("moto-plain", None)] {
        // moto refuses newer instance types.
        let mut args = vec![
            "deploy",
            "--name",
            name,
            "--tgi-version",
            "2.0.1",
            "--instance-type",
            "ml.g4dn.12xlarge",
            "--env",
            "SM_NUM_GPUS=4",
        ];
        args.extend(extra);
        ok(&ebb(h, &env, &args));
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let engine = engine(h, &moto.url, "us-east-1", ("testing", MOTO_SECRET));
        assert!(engine.messages_api_enabled("moto-chat").await.unwrap());
        assert!(!engine.messages_api_enabled("moto-plain").await.unwrap());
    });
}
