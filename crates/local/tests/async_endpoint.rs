//! SageMaker control plane and the simulated async endpoint, through the official SDK clients.

mod common;

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_sagemaker::types::{DesiredWeightAndCapacity, EndpointStatus, ProductionVariant};
use common::{
    Cloud, bucket, create, deploy, describe_endpoint, eventually, read_object, wait_object,
    wait_status,
};

const REQUEST: &str = r#"{"inputs": "What is the capital of the United States?", "parameters": {"early_stopping": true, "length_penalty": 2.0, "max_new_tokens": 50, "temperature": 1, "min_length": 10, "no_repeat_ngram_size": 3}}"#;

#[tokio::test]
async fn seed_workflow_deploy_upload_invoke_and_read_outputs() {
    let c = common::start(20.0).await;
    deploy(&c, "flan-t5-async", &[], 1, 10).await;
    let sm = c.sagemaker();
    let d = describe_endpoint(&c, "flan-t5-async").await;
    let v = &d.production_variants()[0];
    assert_eq!(
        (v.current_instance_count(), v.desired_instance_count()),
        (Some(1), Some(1))
    );
    assert!(d.async_inference_config().is_some());
    let models = sm.list_models().send().await.unwrap();
    assert_eq!(models.models().len(), 1);
    let endpoints = sm.list_endpoints().send().await.unwrap();
    assert_eq!(
        endpoints.endpoints()[0].endpoint_name(),
        Some("flan-t5-async")
    );

    let s3 = c.s3();
    let rt = c.runtime();
    let mut outputs = Vec::new();
    for i in 1..=19 {
        let key = format!("async-llm-output/input/input_{i}.jsonl");
        s3.put_object()
            .bucket(bucket())
            .key(&key)
            .content_type("application/json")
            .body(ByteStream::from(format!("{REQUEST}\n").into_bytes()))
            .send()
            .await
            .unwrap();
        let r = rt
            .invoke_endpoint_async()
            .endpoint_name("flan-t5-async")
            .input_location(format!("s3://{}/{key}", bucket()))
            .content_type("application/json")
            .accept("application/json")
            .send()
            .await
            .unwrap();
        let out = r.output_location().unwrap().to_string();
        assert!(
            out.starts_with(&format!("s3://{}/async-llm-output/output/", bucket())),
            "{out}"
        );
        assert!(out.ends_with(".out"));
        assert!(
            r.failure_location()
                .unwrap()
                .contains("/async-llm-output/failure/")
        );
        assert!(r.inference_id().is_some());
        outputs.push(out);
    }
    let mut texts = Vec::new();
    for out in &outputs {
        let text = wait_object(&c, out).await;
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let generated = v[0]["generated_text"].as_str().unwrap().to_string();
        assert_eq!(
            generated.split(' ').count(),
            50,
            "max_new_tokens is honoured"
        );
        texts.push(generated);
    }
    // Same prompt, same answer: the built-in generator is deterministic.
    assert!(texts.iter().all(|t| t == &texts[0]));
    let stats = c.cloud.endpoint_stats("flan-t5-async").unwrap();
    assert_eq!((stats.succeeded, stats.failed), (19, 0));

    // Tear down, as the user would.
    sm.delete_endpoint()
        .endpoint_name("flan-t5-async")
        .send()
        .await
        .unwrap();
    sm.delete_endpoint_config()
        .endpoint_config_name("flan-t5-async")
        .send()
        .await
        .unwrap();
    sm.delete_model()
        .model_name("flan-t5-async")
        .send()
        .await
        .unwrap();
    let err = sm
        .describe_endpoint()
        .endpoint_name("flan-t5-async")
        .send()
        .await
        .unwrap_err();
    let msg = format!("{:?}", err.into_service_error());
    assert!(msg.contains("Could not find endpoint"), "{msg}");
    c.cloud.stop().await;
}

#[tokio::test]
async fn every_invoke_async_parameter_is_honoured_and_checked() {
    let c = common::start(20.0).await;
    deploy(&c, "params", &[], 1, 4).await;
    let rt = c.runtime();
    // Inline body, explicit id, output extension and file name.
    let r = rt
        .invoke_endpoint_async()
        .endpoint_name("params")
        .body(aws_sdk_sagemakerruntime::primitives::Blob::new(
            REQUEST.as_bytes(),
        ))
        .content_type("application/json")
        .inference_id("req-42")
        .s3_output_path_extension("batch-7")
        .filename("answer.json")
        .request_ttl_seconds(600)
        .invocation_timeout_seconds(120)
        .custom_attributes("trace=1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.inference_id(), Some("req-42"));
    let out = r.output_location().unwrap();
    assert_eq!(
        out,
        format!(
            "s3://{}/async-llm-output/output/batch-7/answer.json",
            bucket()
        )
    );
    assert!(wait_object(&c, out).await.contains("generated_text"));

    let message = |e: aws_sdk_sagemakerruntime::error::SdkError<_>| {
        let e: aws_sdk_sagemakerruntime::operation::invoke_endpoint_async::InvokeEndpointAsyncError = e.into_service_error();
        assert!(e.is_validation_error(), "{e:?}");
        format!("{e:?}")
    };
    let both = rt
        .invoke_endpoint_async()
        .endpoint_name("params")
        .input_location(format!("s3://{}/x", bucket()))
        .body(aws_sdk_sagemakerruntime::primitives::Blob::new("{}"))
        .send()
        .await
        .unwrap_err();
    assert!(message(both).contains("not both"));
    let neither = rt
        .invoke_endpoint_async()
        .endpoint_name("params")
        .send()
        .await
        .unwrap_err();
    assert!(message(neither).contains("InputLocation"));
    let big = rt
        .invoke_endpoint_async()
        .endpoint_name("params")
        .body(aws_sdk_sagemakerruntime::primitives::Blob::new(vec![
            b' ';
            128_001
        ]))
        .send()
        .await
        .unwrap_err();
    assert!(message(big).contains("128000"));
    let timeout = rt
        .invoke_endpoint_async()
        .endpoint_name("params")
        .input_location(format!("s3://{}/x", bucket()))
        .invocation_timeout_seconds(3601)
        .send()
        .await
        .unwrap_err();
    assert!(
        message(timeout).contains("Value '3601' at 'invocationTimeoutSeconds' failed to satisfy constraint: Member must have value less than or equal to 3600"),
    );
    let unknown = rt
        .invoke_endpoint_async()
        .endpoint_name("no-such-endpoint")
        .input_location(format!("s3://{}/x", bucket()))
        .send()
        .await
        .unwrap_err();
    assert!(message(unknown).contains("not found"));

    // A malformed request fails the way TGI would, into the failure path.
    let bad = rt
        .invoke_endpoint_async()
        .endpoint_name("params")
        .body(aws_sdk_sagemakerruntime::primitives::Blob::new(
            r#"{"prompt": "hi"}"#,
        ))
        .send()
        .await
        .unwrap();
    let failure = wait_object(&c, bad.failure_location().unwrap()).await;
    assert!(failure.contains("missing field `inputs`"), "{failure}");
    assert!(
        read_object(&c, bad.output_location().unwrap())
            .await
            .is_none()
    );
    // A missing input object is a failure too, not a lost request.
    let missing = rt
        .invoke_endpoint_async()
        .endpoint_name("params")
        .input_location(format!("s3://{}/does/not/exist.jsonl", bucket()))
        .send()
        .await
        .unwrap();
    let failure = wait_object(&c, missing.failure_location().unwrap()).await;
    assert!(failure.contains("does/not/exist.jsonl"), "{failure}");
    c.cloud.stop().await;
}

#[tokio::test]
async fn zero_instances_build_a_backlog_that_drains_after_scale_out() {
    let c = common::start(20.0).await;
    deploy(&c, "scaled", &[], 1, 10).await;
    let sm = c.sagemaker();
    let set = |n: i32| {
        sm.update_endpoint_weights_and_capacities()
            .endpoint_name("scaled")
            .desired_weights_and_capacities(
                DesiredWeightAndCapacity::builder()
                    .variant_name("AllTraffic")
                    .desired_instance_count(n)
                    .build(),
            )
            .send()
    };
    set(0).await.unwrap();
    wait_status(&c, "scaled", EndpointStatus::InService).await;
    assert_eq!(c.cloud.endpoint_stats("scaled").unwrap().instances, 0);
    let rt = c.runtime();
    let mut outs = Vec::new();
    for _ in 0..5 {
        let r = rt
            .invoke_endpoint_async()
            .endpoint_name("scaled")
            .body(aws_sdk_sagemakerruntime::primitives::Blob::new(
                REQUEST.as_bytes(),
            ))
            .send()
            .await
            .unwrap();
        outs.push(r.output_location().unwrap().to_string());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stats = c.cloud.endpoint_stats("scaled").unwrap();
    assert_eq!(
        (stats.queued, stats.in_flight, stats.succeeded),
        (5, 0, 0),
        "backlog without capacity"
    );
    set(1).await.unwrap();
    let d = describe_endpoint(&c, "scaled").await;
    assert_eq!(d.endpoint_status(), Some(&EndpointStatus::Updating));
    for out in &outs {
        wait_object(&c, out).await;
    }
    assert_eq!(c.cloud.endpoint_stats("scaled").unwrap().backlog(), 0);
    c.cloud.stop().await;
}

#[tokio::test]
async fn one_instance_with_concurrency_ten_runs_ten_at_once() {
    // 1 s simulated per token x 50 tokens: requests stay in flight long enough to count.
    let c = common::start(10.0).await;
    deploy(&c, "busy", &[("EBB_LOCAL_TOKEN_LATENCY_MS", "1000")], 1, 10).await;
    let rt = c.runtime();
    for _ in 0..13 {
        rt.invoke_endpoint_async()
            .endpoint_name("busy")
            .body(aws_sdk_sagemakerruntime::primitives::Blob::new(
                REQUEST.as_bytes(),
            ))
            .send()
            .await
            .unwrap();
    }
    let stats = eventually("ten requests in flight", Duration::from_secs(5), || async {
        c.cloud.endpoint_stats("busy").filter(|s| s.in_flight == 10)
    })
    .await;
    assert_eq!(stats.queued, 3);
    assert_eq!(stats.succeeded, 0);
    c.cloud.stop().await;
}

#[tokio::test]
async fn expired_and_timed_out_requests_become_failures() {
    let c = common::start(100.0).await;
    deploy(&c, "slow", &[("EBB_LOCAL_TOKEN_LATENCY_MS", "10000")], 1, 1).await;
    let rt = c.runtime();
    // 50 tokens x 10 s = 500 s of work against a 120 s timeout.
    let timed_out = rt
        .invoke_endpoint_async()
        .endpoint_name("slow")
        .body(aws_sdk_sagemakerruntime::primitives::Blob::new(
            REQUEST.as_bytes(),
        ))
        .invocation_timeout_seconds(120)
        .send()
        .await
        .unwrap();
    // Queued behind it with a 60 s TTL: expires well before the slot frees up at 120 s.
    let expired = rt
        .invoke_endpoint_async()
        .endpoint_name("slow")
        .body(aws_sdk_sagemakerruntime::primitives::Blob::new(
            REQUEST.as_bytes(),
        ))
        .request_ttl_seconds(60)
        .send()
        .await
        .unwrap();
    let t = wait_object(&c, timed_out.failure_location().unwrap()).await;
    assert!(t.contains("InvocationTimeoutSeconds=120"), "{t}");
    let e = wait_object(&c, expired.failure_location().unwrap()).await;
    assert!(e.contains("RequestTTLSeconds"), "{e}");
    c.cloud.stop().await;
}

#[tokio::test]
async fn a_model_that_cannot_start_fails_the_endpoint_with_a_reason() {
    let c = common::start(20.0).await;
    let sm = c.sagemaker();
    let unreachable = [("EBB_LOCAL_PROXY_URL", "http://127.0.0.1:9/")];
    create(&c, "broken", &unreachable, 1, None, EndpointStatus::Failed).await;
    let d = describe_endpoint(&c, "broken").await;
    let reason = d.failure_reason().unwrap();
    assert!(reason.contains("127.0.0.1:9"), "{reason}");
    // Bad input names what is wrong.
    let err = sm
        .create_endpoint_config()
        .endpoint_config_name("orphan")
        .production_variants(
            ProductionVariant::builder()
                .variant_name("AllTraffic")
                .model_name("no-model")
                .instance_type("ml.g5.12xlarge".into())
                .initial_instance_count(1)
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert!(format!("{:?}", err.into_service_error()).contains("Could not find model"));
    c.cloud.stop().await;
}

/// A stand-in for the user's own TGI server: answers every POST with a fixed generation.
async fn fake_tgi() -> (String, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let mut seen = Vec::new();
                // Read headers and the declared body.
                loop {
                    let n = s.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&seen).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if seen.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                let body = r#"[{"generated_text":"from the real server"}]"#;
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
            });
        }
    });
    (url, task)
}

#[tokio::test]
async fn proxy_backend_forwards_to_a_tgi_compatible_server() {
    let (url, server) = fake_tgi().await;
    let c = common::start(20.0).await;
    deploy(
        &c,
        "proxied",
        &[("EBB_LOCAL_PROXY_URL", url.as_str())],
        1,
        2,
    )
    .await;
    let r = c
        .runtime()
        .invoke_endpoint_async()
        .endpoint_name("proxied")
        .body(aws_sdk_sagemakerruntime::primitives::Blob::new(
            REQUEST.as_bytes(),
        ))
        .send()
        .await
        .unwrap();
    let out = wait_object(&c, r.output_location().unwrap()).await;
    assert!(out.contains("from the real server"), "{out}");
    c.cloud.stop().await;
    server.abort();
}

#[tokio::test]
async fn realtime_endpoints_answer_invoke_endpoint() {
    let c = common::start(20.0).await;
    create(&c, "rt", &[], 1, None, EndpointStatus::InService).await;
    let rt = c.runtime();
    let r = rt
        .invoke_endpoint()
        .endpoint_name("rt")
        .content_type("application/json")
        .body(aws_sdk_sagemakerruntime::primitives::Blob::new(
            REQUEST.as_bytes(),
        ))
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(r.body().unwrap().as_ref()).unwrap();
    assert_eq!(r.invoked_production_variant(), Some("AllTraffic"));
    assert!(v[0]["generated_text"].is_string());
    let err = rt
        .invoke_endpoint()
        .endpoint_name("rt")
        .body(aws_sdk_sagemakerruntime::primitives::Blob::new("nope"))
        .send()
        .await
        .unwrap_err();
    let err = err.into_service_error();
    assert!(err.is_model_error(), "{err:?}");
    c.cloud.stop().await;
}

#[tokio::test]
async fn injected_throttling_reaches_the_client_as_throttling() {
    let c = common::start(20.0).await;
    c.cloud.set_faults(vec![
        ebb_local::faults::Fault::parse("sagemaker:ListEndpoints=throttle:1").unwrap(),
    ]);
    let sm = aws_sdk_sagemaker::Client::from_conf(
        aws_sdk_sagemaker::config::Builder::from(&c.sdk)
            .retry_config(aws_sdk_sagemaker::config::retry::RetryConfig::disabled())
            .build(),
    );
    let err = sm.list_endpoints().send().await.unwrap_err();
    let meta = format!("{:?}", err.into_service_error());
    assert!(meta.contains("ThrottlingException"), "{meta}");
    sm.list_models().send().await.unwrap();
    c.cloud.set_faults(Vec::new());
    sm.list_endpoints().send().await.unwrap();
    c.cloud.stop().await;
}

#[tokio::test]
async fn endpoints_and_objects_survive_a_restart() {
    let c = common::start(20.0).await;
    deploy(&c, "kept", &[], 1, 2).await;
    c.s3()
        .put_object()
        .bucket(bucket())
        .key("async-llm-output/input/kept.jsonl")
        .body(ByteStream::from_static(REQUEST.as_bytes()))
        .send()
        .await
        .unwrap();
    let credentials = c.credentials();
    let data = c.stop().await;
    let c = common::restart(20.0, data, credentials).await;
    // The endpoint comes back up like after a reboot, then serves again.
    wait_status(&c, "kept", EndpointStatus::InService).await;
    let r = c
        .runtime()
        .invoke_endpoint_async()
        .endpoint_name("kept")
        .input_location(format!(
            "s3://{}/async-llm-output/input/kept.jsonl",
            bucket()
        ))
        .send()
        .await
        .unwrap();
    assert!(
        wait_object(&c, r.output_location().unwrap())
            .await
            .contains("generated_text")
    );
    c.cloud.stop().await;
}

#[tokio::test]
async fn requests_accepted_before_a_restart_are_processed_after_it() {
    let c = common::start(20.0).await;
    deploy(&c, "durable", &[], 1, 10).await;
    let sm = c.sagemaker();
    // No capacity: every request waits in the queue when the cloud goes down.
    sm.update_endpoint_weights_and_capacities()
        .endpoint_name("durable")
        .desired_weights_and_capacities(
            DesiredWeightAndCapacity::builder()
                .variant_name("AllTraffic")
                .desired_instance_count(0)
                .build(),
        )
        .send()
        .await
        .unwrap();
    wait_status(&c, "durable", EndpointStatus::InService).await;
    let mut outs = Vec::new();
    for _ in 0..20 {
        let r = c
            .runtime()
            .invoke_endpoint_async()
            .endpoint_name("durable")
            .body(aws_sdk_sagemakerruntime::primitives::Blob::new(
                REQUEST.as_bytes(),
            ))
            .send()
            .await
            .unwrap();
        outs.push(r.output_location().unwrap().to_string());
    }
    assert_eq!(c.cloud.endpoint_stats("durable").unwrap().queued, 20);
    let credentials = c.credentials();
    // Dropped, not stopped: as abrupt as the process being killed.
    let Cloud { cloud, data, .. } = c;
    drop(cloud);
    let c = common::restart(20.0, data, credentials).await;
    wait_status(&c, "durable", EndpointStatus::InService).await;
    let sm = c.sagemaker();
    sm.update_endpoint_weights_and_capacities()
        .endpoint_name("durable")
        .desired_weights_and_capacities(
            DesiredWeightAndCapacity::builder()
                .variant_name("AllTraffic")
                .desired_instance_count(1)
                .build(),
        )
        .send()
        .await
        .unwrap();
    for out in &outs {
        assert!(wait_object(&c, out).await.contains("generated_text"));
    }
    assert_eq!(c.cloud.endpoint_stats("durable").unwrap().succeeded, 20);
    c.cloud.stop().await;
}
