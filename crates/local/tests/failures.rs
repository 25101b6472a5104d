//! `EBB_LOCAL_FAILURE`: each known way a TGI endpoint on SageMaker fails, played through the
//! real API path (CreateModel, CreateEndpointConfig, CreateEndpoint, DescribeEndpoint,
//! CloudWatch Logs, InvokeEndpointAsync results in S3).

mod common;

use std::time::Duration;

use aws_sdk_sagemaker::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sagemaker::operation::create_endpoint::CreateEndpointError;
use aws_sdk_sagemaker::operation::create_model::CreateModelError;
use aws_sdk_sagemaker::types::{
    AsyncInferenceConfig, AsyncInferenceOutputConfig, ContainerDefinition, EndpointStatus,
    ProductionVariant,
};
use common::{
    Cloud, bucket, describe_endpoint, eventually, failure_reason, invoke, log_lines, wait_object,
};

const TGI_1_1: &str = "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:2.0.1-tgi1.1.0-gpu-py39-cu118-ubuntu20.04";
const TGI_3_0: &str = "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:2.4.0-tgi3.0.1-gpu-py311-cu124-ubuntu22.04";
const MODEL: &str = "meta-llama/Llama-3.1-8B-Instruct";
const PING: &str = "The primary container for production variant AllTraffic did not pass the ping health check. Please check CloudWatch logs for this endpoint.";
const GENERATE: &str =
    r#"{"inputs": "What is the capital of France?", "parameters": {"max_new_tokens": 5}}"#;
const CHAT: &str = r#"{"model": "tgi", "messages": [{"role": "user", "content": "What is the capital of France?"}], "max_tokens": 5}"#;

/// What a test deploys: image, extra environment, instance count, health check timeout.
struct Deploy<'a> {
    image: &'a str,
    env: &'a [(&'a str, &'a str)],
    instances: i32,
    health_check_timeout: Option<i32>,
}

impl Default for Deploy<'_> {
    fn default() -> Self {
        Deploy {
            image: TGI_1_1,
            env: &[],
            instances: 1,
            health_check_timeout: Some(300),
        }
    }
}

async fn create_model(
    c: &Cloud,
    name: &str,
    d: &Deploy<'_>,
) -> Result<(), SdkError<CreateModelError>> {
    let mut container = ContainerDefinition::builder()
        .image(d.image)
        .environment("HF_MODEL_ID", MODEL)
        .environment("SM_NUM_GPUS", "1");
    for (k, v) in d.env {
        container = container.environment(*k, *v);
    }
    c.sagemaker()
        .create_model()
        .model_name(name)
        .execution_role_arn(common::ROLE)
        .primary_container(container.build())
        .send()
        .await
        .map(|_| ())
}

/// Model + async endpoint config, both named `name`.
async fn create_model_and_config(c: &Cloud, name: &str, d: &Deploy<'_>) {
    create_model(c, name, d).await.unwrap();
    c.sagemaker()
        .create_endpoint_config()
        .endpoint_config_name(name)
        .production_variants(
            ProductionVariant::builder()
                .variant_name("AllTraffic")
                .model_name(name)
                .instance_type("ml.g5.2xlarge".into())
                .initial_instance_count(d.instances)
                .set_container_startup_health_check_timeout_in_seconds(d.health_check_timeout)
                .build(),
        )
        .async_inference_config(
            AsyncInferenceConfig::builder()
                .output_config(
                    AsyncInferenceOutputConfig::builder()
                        .s3_output_path(format!("s3://{}/out", bucket()))
                        .s3_failure_path(format!("s3://{}/failure", bucket()))
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// Model, config and endpoint `name`; returns once the endpoint is InService or Failed.
async fn deploy(c: &Cloud, name: &str, d: &Deploy<'_>) -> EndpointStatus {
    create_model_and_config(c, name, d).await;
    create_endpoint(c, name, name).await.unwrap();
    settled(c, name).await
}

async fn create_endpoint(
    c: &Cloud,
    name: &str,
    config: &str,
) -> Result<(), SdkError<CreateEndpointError>> {
    c.sagemaker()
        .create_endpoint()
        .endpoint_name(name)
        .endpoint_config_name(config)
        .send()
        .await
        .map(|_| ())
}

/// Waits until endpoint `name` is InService or Failed.
async fn settled(c: &Cloud, name: &str) -> EndpointStatus {
    eventually(
        &format!("{name} to settle"),
        Duration::from_secs(30),
        || async {
            let status = describe_endpoint(c, name).await.endpoint_status().cloned();
            status.filter(|s| matches!(s, EndpointStatus::InService | EndpointStatus::Failed))
        },
    )
    .await
}

/// Asserts that `lines` hold each of `wanted`, in that order.
fn assert_in_order(lines: &[String], wanted: &[&str]) {
    let mut rest = lines.iter();
    for w in wanted {
        assert!(
            rest.any(|l| l.contains(w)),
            "no `{w}` (in order) in the log:\n{}",
            lines.join("\n")
        );
    }
}

#[tokio::test]
async fn a_healthy_start_logs_tgis_start_up_sequence() {
    let c = common::start(20.0).await;
    let d = Deploy {
        env: &[("SM_NUM_GPUS", "2")],
        ..Deploy::default()
    };
    assert_eq!(deploy(&c, "healthy", &d).await, EndpointStatus::InService);
    let lines = log_lines(&c, "healthy").await;
    assert_in_order(
        &lines,
        &[
            "Starting container",
            "Starting download process.",
            "Download file: model-00001-of-00003.safetensors",
            "Downloaded /data/models--meta-llama--Llama-3.1-8B-Instruct/snapshots/",
            "Download file: model-00003-of-00003.safetensors",
            "Successfully downloaded weights.",
            "Starting shard rank=0",
            "Starting shard rank=1",
            "Shard ready in 12.3s rank=0",
            "Shard ready in 12.3s rank=1",
            "Warming up model",
            "Connected",
        ],
    );
    let downloaded = lines.iter().find(|l| l.starts_with("Downloaded")).unwrap();
    let snapshot = downloaded.split("/snapshots/").nth(1).unwrap();
    let (hash, rest) = snapshot.split_once('/').unwrap();
    assert_eq!(hash.len(), 40, "{downloaded}");
    assert!(
        hash.chars().all(|ch| ch.is_ascii_hexdigit()),
        "{downloaded}"
    );
    assert!(
        rest.starts_with("model-00001-of-00003.safetensors in 0:00:"),
        "{downloaded}"
    );
    c.stop().await;
}

/// At real-time speed with a 60 s start-up, the first lines come within a second and the
/// first download takes about a quarter of the delay: a read in between sees some lines only.
#[tokio::test]
async fn start_up_lines_arrive_over_the_start_up_delay() {
    let c = common::start_with_startup(1.0, Duration::from_secs(60)).await;
    create_model_and_config(&c, "slow-start", &Deploy::default()).await;
    create_endpoint(&c, "slow-start", "slow-start")
        .await
        .unwrap();
    let lines = eventually(
        "the first download line",
        Duration::from_secs(10),
        || async {
            let lines = log_lines(&c, "slow-start").await;
            lines
                .iter()
                .any(|l| l.starts_with("Download file: model-00001"))
                .then_some(lines)
        },
    )
    .await;
    assert!(
        !lines.iter().any(|l| l.contains("Successfully downloaded")),
        "{lines:?}"
    );
    assert!(!lines.iter().any(|l| l == "Connected"), "{lines:?}");
    let d = describe_endpoint(&c, "slow-start").await;
    assert_eq!(d.endpoint_status(), Some(&EndpointStatus::Creating));
    c.stop().await;
}

#[tokio::test]
async fn health_check_timeout_fails_while_the_weights_still_download() {
    let c = common::start(40.0).await;
    let d = Deploy {
        env: &[("EBB_LOCAL_FAILURE", "health-check-timeout")],
        health_check_timeout: Some(60),
        ..Deploy::default()
    };
    assert_eq!(
        deploy(&c, "slow-download", &d).await,
        EndpointStatus::Failed
    );
    assert_eq!(failure_reason(&c, "slow-download").await, PING);
    let lines = log_lines(&c, "slow-download").await;
    assert_in_order(
        &lines,
        &[
            "Starting download process.",
            "Download file: model-00001-of-00030.safetensors",
            "model-00001-of-00030.safetensors in 0:00:05.",
            "Download file: model-00012-of-00030.safetensors",
        ],
    );
    assert!(
        !lines.iter().any(|l| l.contains("Successfully downloaded")),
        "{lines:?}"
    );
    assert!(!lines.iter().any(|l| l.contains("Error")), "{lines:?}");
    c.stop().await;
}

#[tokio::test]
async fn oom_at_warmup_logs_tgis_warmup_error() {
    let c = common::start(20.0).await;
    let d = Deploy {
        env: &[
            ("EBB_LOCAL_FAILURE", "oom-warmup"),
            ("MAX_BATCH_PREFILL_TOKENS", "8192"),
        ],
        ..Deploy::default()
    };
    assert_eq!(deploy(&c, "warmup", &d).await, EndpointStatus::Failed);
    assert_eq!(failure_reason(&c, "warmup").await, PING);
    let lines = log_lines(&c, "warmup").await;
    assert_in_order(
        &lines,
        &[
            "Successfully downloaded weights.",
            "Shard ready in 12.3s rank=0",
            "Warming up model",
            "Method Warmup encountered an error.",
            "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 22.05 GiB of which 1.12 GiB is free.",
            "RuntimeError: Not enough memory to handle 8192 prefill tokens. You need to decrease `--max-batch-prefill-tokens`",
            "Error: Warmup(Generation(\"Not enough memory to handle 8192 prefill tokens. You need to decrease `--max-batch-prefill-tokens`\"))",
        ],
    );
    assert!(!lines.iter().any(|l| l == "Connected"), "{lines:?}");
    c.stop().await;
}

#[tokio::test]
async fn oom_per_request_fails_every_invocation_with_tgis_generation_error() {
    let c = common::start(20.0).await;
    let d = Deploy {
        env: &[("EBB_LOCAL_FAILURE", "oom-request")],
        ..Deploy::default()
    };
    assert_eq!(deploy(&c, "oom", &d).await, EndpointStatus::InService);
    let (_, failure) = invoke(&c, "oom", "in/oom.json", GENERATE).await;
    let body = wait_object(&c, &failure).await;
    let error = "Request failed during generation: Server error: CUDA out of memory. Tried to allocate 1.50 GiB. GPU 0 has a total capacity of 22.05 GiB of which 312.00 MiB is free.";
    assert_eq!(
        body,
        serde_json::json!({ "error": error, "error_type": "generation" }).to_string()
    );
    let lines = eventually("the failure lines", Duration::from_secs(10), || async {
        let lines = log_lines(&c, "oom").await;
        lines
            .iter()
            .any(|l| l.starts_with("Inference request failed."))
            .then_some(lines)
    })
    .await;
    assert!(
        lines
            .iter()
            .any(|l| l.contains("Received client error (424)") && l.contains("CUDA out of memory")),
        "{lines:?}"
    );
    assert!(
        lines.contains(&format!("ERROR text_generation_router::infer: {error}")),
        "{lines:?}"
    );
    c.stop().await;
}

#[tokio::test]
async fn a_gated_model_fails_without_a_token_and_starts_with_one() {
    let c = common::start(20.0).await;
    let gated = [("EBB_LOCAL_FAILURE", "gated-model")];
    let d = Deploy {
        env: &gated,
        ..Deploy::default()
    };
    assert_eq!(deploy(&c, "gated", &d).await, EndpointStatus::Failed);
    assert_eq!(failure_reason(&c, "gated").await, PING);
    let lines = log_lines(&c, "gated").await;
    assert_in_order(
        &lines,
        &[
            "Starting download process.",
            "Download encountered an error:",
            "huggingface_hub.errors.GatedRepoError: 401 Client Error. (Request ID: Root=1-",
            &format!(
                "Cannot access gated repo for url https://huggingface.co/api/models/{MODEL}/revision/main."
            ),
            &format!(
                "Access to model {MODEL} is restricted. You must have access to it and be authenticated to access it. Please log in."
            ),
            "Error: DownloadError",
        ],
    );
    // The fix: a token in the model's environment.
    let with_token = [gated[0], ("HF_TOKEN", "hf_example")];
    let d = Deploy {
        env: &with_token,
        ..Deploy::default()
    };
    assert_eq!(
        deploy(&c, "gated-token", &d).await,
        EndpointStatus::InService
    );
    c.stop().await;
}

#[tokio::test]
async fn a_missing_model_fails_the_download_even_with_a_token() {
    let c = common::start(20.0).await;
    let d = Deploy {
        env: &[
            ("EBB_LOCAL_FAILURE", "model-not-found"),
            ("HF_TOKEN", "hf_example"),
        ],
        ..Deploy::default()
    };
    assert_eq!(deploy(&c, "missing", &d).await, EndpointStatus::Failed);
    assert_eq!(failure_reason(&c, "missing").await, PING);
    assert_in_order(
        &log_lines(&c, "missing").await,
        &[
            "Download encountered an error:",
            "huggingface_hub.errors.RepositoryNotFoundError: 401 Client Error. (Request ID: Root=1-",
            &format!(
                "Repository Not Found for url: https://huggingface.co/api/models/{MODEL}/revision/main."
            ),
            "Please make sure you specified the correct `repo_id` and `repo_type`.",
            "Error: DownloadError",
        ],
    );
    c.stop().await;
}

#[tokio::test]
async fn a_zero_quota_refuses_create_and_update_endpoint() {
    let c = common::start(20.0).await;
    let d = Deploy {
        env: &[("EBB_LOCAL_FAILURE", "quota")],
        instances: 2,
        ..Deploy::default()
    };
    create_model_and_config(&c, "quota", &d).await;
    let err = create_endpoint(&c, "quota", "quota")
        .await
        .unwrap_err()
        .into_service_error();
    let message = "The account-level service limit 'ml.g5.2xlarge for endpoint usage' is 0 Instances, with current utilization of 0 Instances and a request delta of 2 Instances. Please use AWS Service Quotas to request an increase for this quota. If AWS Service Quotas is not available, contact AWS support to request an increase for this quota.";
    assert!(err.is_resource_limit_exceeded(), "{err:?}");
    assert_eq!(ProvideErrorMetadata::message(&err), Some(message));
    let sm = c.sagemaker();
    let listed = sm.list_endpoints().send().await.unwrap();
    assert!(listed.endpoints().is_empty(), "{listed:?}");
    let missing = sm.describe_endpoint().endpoint_name("quota").send().await;
    assert!(missing.is_err());
    // UpdateEndpoint to the quota-bound config is refused the same way.
    assert_eq!(
        deploy(&c, "running", &Deploy::default()).await,
        EndpointStatus::InService
    );
    let err = sm
        .update_endpoint()
        .endpoint_name("running")
        .endpoint_config_name("quota")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_limit_exceeded(), "{err:?}");
    let d = describe_endpoint(&c, "running").await;
    assert_eq!(d.endpoint_config_name(), Some("running"));
    c.stop().await;
}

#[tokio::test]
async fn no_capacity_fails_without_any_container_line() {
    let c = common::start(20.0).await;
    let d = Deploy {
        env: &[("EBB_LOCAL_FAILURE", "no-capacity")],
        ..Deploy::default()
    };
    assert_eq!(deploy(&c, "no-gpus", &d).await, EndpointStatus::Failed);
    assert_eq!(
        failure_reason(&c, "no-gpus").await,
        "Unable to provision requested ML compute capacity due to InsufficientInstanceCapacity error. Please retry using a different ML instance type or after some time."
    );
    assert_eq!(log_lines(&c, "no-gpus").await, Vec::<String>::new());
    c.stop().await;
}

#[tokio::test]
async fn an_image_missing_from_ecr_is_refused_by_create_model() {
    let c = common::start(20.0).await;
    let image = "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:9.9.9-tgi9.9.9-gpu";
    let d = Deploy {
        image,
        env: &[("EBB_LOCAL_FAILURE", "image-not-found")],
        ..Deploy::default()
    };
    let err = create_model(&c, "no-image", &d)
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        ProvideErrorMetadata::code(&err),
        Some("ValidationException")
    );
    assert_eq!(
        ProvideErrorMetadata::message(&err),
        Some(format!("Requested image {image} not found.").as_str())
    );
    let models = c.sagemaker().list_models().send().await.unwrap();
    assert!(models.models().is_empty(), "{models:?}");
    c.stop().await;
}

#[tokio::test]
async fn without_a_chat_template_chat_bodies_fail_and_generate_bodies_work() {
    let c = common::start(20.0).await;
    let d = Deploy {
        image: TGI_3_0,
        env: &[("EBB_LOCAL_FAILURE", "no-chat-template")],
        ..Deploy::default()
    };
    assert_eq!(
        deploy(&c, "no-template", &d).await,
        EndpointStatus::InService
    );
    let (output, _) = invoke(&c, "no-template", "in/generate.json", GENERATE).await;
    let answer = wait_object(&c, &output).await;
    assert!(answer.contains("generated_text"), "{answer}");
    let (_, failure) = invoke(&c, "no-template", "in/chat.json", CHAT).await;
    assert_eq!(
        wait_object(&c, &failure).await,
        r#"{"error":"Template error: template not found","error_type":"template_error"}"#
    );
    let lines = eventually("the failure line", Duration::from_secs(10), || async {
        let lines = log_lines(&c, "no-template").await;
        lines
            .iter()
            .any(|l| l.starts_with("Inference request failed."))
            .then_some(lines)
    })
    .await;
    assert!(
        lines
            .iter()
            .any(|l| l.contains("Received client error (422)") && l.contains("template not found")),
        "{lines:?}"
    );
    c.stop().await;
}

#[tokio::test]
async fn a_kernel_import_error_stops_the_shard() {
    let c = common::start(20.0).await;
    let d = Deploy {
        env: &[("EBB_LOCAL_FAILURE", "import-error")],
        ..Deploy::default()
    };
    assert_eq!(deploy(&c, "import", &d).await, EndpointStatus::Failed);
    assert_eq!(failure_reason(&c, "import").await, PING);
    let lines = log_lines(&c, "import").await;
    assert_in_order(
        &lines,
        &[
            "Successfully downloaded weights.",
            "Starting shard rank=0",
            "Shard complete standard error output:",
            "ModuleNotFoundError: No module named 'flash_attn_2_cuda'",
            "Shard 0 failed to start",
            "Error: ShardCannotStart",
        ],
    );
    assert!(
        !lines.iter().any(|l| l.contains("Shard ready")),
        "{lines:?}"
    );
    c.stop().await;
}

#[tokio::test]
async fn an_unknown_failure_kind_is_a_configuration_error_naming_the_kinds() {
    let c = common::start(20.0).await;
    let d = Deploy {
        env: &[("EBB_LOCAL_FAILURE", "meteor-strike")],
        ..Deploy::default()
    };
    assert_eq!(deploy(&c, "unknown", &d).await, EndpointStatus::Failed);
    let reason = failure_reason(&c, "unknown").await;
    assert!(
        reason.starts_with("The model container could not be configured: EBB_LOCAL_FAILURE is `meteor-strike`; use one of health-check-timeout, oom-warmup, oom-request, gated-model, model-not-found, quota, no-capacity, image-not-found, no-chat-template, import-error"),
        "{reason}"
    );
    c.stop().await;
}
