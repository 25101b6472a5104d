//! Calls real clients make that the local cloud once refused or got wrong (issue 18, "Real
//! clients that fail today"), through the official SDK clients: UpdateEndpoint, https://
//! input locations, InvokeEndpointAsync's input constraints and failure logs, TGI's parameter
//! validation, and step scaling's interval rules.

mod common;

use std::time::Duration;

use aws_sdk_applicationautoscaling::types::{
    PolicyType, ScalableDimension, ScalingActivityStatusCode, ServiceNamespace, StepAdjustment,
    StepScalingPolicyConfiguration,
};
use aws_sdk_cloudwatch::types::ComparisonOperator;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_sagemaker::types::{
    AsyncInferenceConfig, AsyncInferenceOutputConfig, DesiredWeightAndCapacity, EndpointStatus,
    ProductionVariant, ProductionVariantInstanceType, VariantProperty, VariantPropertyType,
};
use aws_sdk_sagemakerruntime::primitives::Blob;
use common::scaling::backlog_alarm;
use common::{Cloud, bucket, deploy, describe_endpoint, eventually, wait_object, wait_status};

/// Simulated start-up of an instance, and so of an update, at speed 20.
const UPDATE_TAKES: Duration = Duration::from_secs(60);

const REQUEST: &str = r#"{"inputs": "What is the capital of the United States?", "parameters": {"max_new_tokens": 5}}"#;

/// `code: message` of a service error.
fn describe<E: aws_sdk_sagemaker::error::ProvideErrorMetadata>(e: &E) -> String {
    format!(
        "{}: {}",
        e.code().unwrap_or("?"),
        e.message().unwrap_or("?")
    )
}

/// Another async endpoint config for the model `model` (as `deploy` made it).
async fn config(c: &Cloud, name: &str, model: &str, instance_type: &str, count: i32) {
    c.sagemaker()
        .create_endpoint_config()
        .endpoint_config_name(name)
        .production_variants(
            ProductionVariant::builder()
                .variant_name("AllTraffic")
                .model_name(model)
                .instance_type(ProductionVariantInstanceType::from(instance_type))
                .initial_instance_count(count)
                .build(),
        )
        .async_inference_config(
            AsyncInferenceConfig::builder()
                .output_config(
                    AsyncInferenceOutputConfig::builder()
                        .s3_output_path(format!("s3://{}/async-llm-output/output", bucket()))
                        .s3_failure_path(format!("s3://{}/async-llm-output/failure", bucket()))
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// UpdateEndpoint to `config`, retaining variant properties as asked; waits for InService
/// and returns the endpoint's config name and desired instance count.
async fn update(
    c: &Cloud,
    endpoint: &str,
    config: &str,
    retain: Option<bool>,
    exclude: &[VariantPropertyType],
) -> (String, i32) {
    let sm = c.sagemaker();
    let mut call = sm
        .update_endpoint()
        .endpoint_name(endpoint)
        .endpoint_config_name(config)
        .set_retain_all_variant_properties(retain);
    for p in exclude {
        call = call.exclude_retained_variant_properties(
            VariantProperty::builder()
                .variant_property_type(p.clone())
                .build(),
        );
    }
    call.send().await.unwrap();
    let d = describe_endpoint(c, endpoint).await;
    assert_eq!(d.endpoint_status(), Some(&EndpointStatus::Updating));
    wait_status(c, endpoint, EndpointStatus::InService).await;
    let d = describe_endpoint(c, endpoint).await;
    let v = &d.production_variants()[0];
    (
        d.endpoint_config_name().unwrap_or_default().to_string(),
        v.desired_instance_count().unwrap_or(-1),
    )
}

async fn set_instances(c: &Cloud, endpoint: &str, n: i32) {
    c.sagemaker()
        .update_endpoint_weights_and_capacities()
        .endpoint_name(endpoint)
        .desired_weights_and_capacities(
            DesiredWeightAndCapacity::builder()
                .variant_name("AllTraffic")
                .desired_instance_count(n)
                .build(),
        )
        .send()
        .await
        .unwrap();
    wait_status(c, endpoint, EndpointStatus::InService).await;
}

#[tokio::test]
async fn update_endpoint_deploys_a_new_config_and_retains_what_is_asked() {
    // Updates take 3 s of real time, long enough to be seen Updating by a throttled client.
    let c = common::start_with_startup(20.0, UPDATE_TAKES).await;
    deploy(&c, "upd", &[], 1, 4).await;
    config(&c, "upd-v2", "upd", "ml.g5.12xlarge", 2).await;
    config(&c, "upd-v3", "upd", "ml.g5.12xlarge", 1).await;
    // Without RetainAllVariantProperties the new config's initial count applies.
    assert_eq!(
        update(&c, "upd", "upd-v2", None, &[]).await,
        ("upd-v2".into(), 2)
    );
    // An autoscaled endpoint at zero keeps zero only when told to retain it...
    set_instances(&c, "upd", 0).await;
    assert_eq!(
        update(&c, "upd", "upd-v3", Some(true), &[]).await,
        ("upd-v3".into(), 0)
    );
    // ...and otherwise goes back to the config's initial (paid) instance.
    assert_eq!(
        update(&c, "upd", "upd", Some(false), &[]).await,
        ("upd".into(), 1)
    );
    let excluded = [VariantPropertyType::DesiredInstanceCount];
    assert_eq!(
        update(&c, "upd", "upd-v2", Some(true), &excluded).await,
        ("upd-v2".into(), 2)
    );
    // The updated endpoint still serves.
    let r = c
        .runtime()
        .invoke_endpoint_async()
        .endpoint_name("upd")
        .body(Blob::new(REQUEST))
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
async fn update_endpoint_is_refused_as_sagemaker_refuses_it() {
    // Updates take 3 s of real time, long enough to be seen Updating by a throttled client.
    let c = common::start_with_startup(20.0, UPDATE_TAKES).await;
    deploy(&c, "guarded", &[], 1, 4).await;
    config(&c, "guarded-big", "guarded", "ml.g5.48xlarge", 1).await;
    config(&c, "guarded-same", "guarded", "ml.g5.12xlarge", 1).await;
    let sm = c.sagemaker();
    let refuse = |endpoint: &'static str, config: &'static str| {
        let sm = sm.clone();
        async move {
            let e = sm
                .update_endpoint()
                .endpoint_name(endpoint)
                .endpoint_config_name(config)
                .send()
                .await
                .unwrap_err();
            describe(e.as_service_error().expect("a service error"))
        }
    };
    let e = refuse("nope", "guarded-same").await;
    assert_eq!(
        e,
        "ValidationException: Could not find endpoint \"arn:aws:sagemaker:us-east-1:000000000000:endpoint/nope\"."
    );
    let e = refuse("guarded", "nope").await;
    assert_eq!(
        e,
        "ValidationException: Could not find endpoint configuration \"arn:aws:sagemaker:us-east-1:000000000000:endpoint-config/nope\"."
    );
    // A variant registered with Application Auto Scaling keeps its instance type.
    c.autoscaling()
        .register_scalable_target()
        .service_namespace(ServiceNamespace::Sagemaker)
        .resource_id("endpoint/guarded/variant/AllTraffic")
        .scalable_dimension(ScalableDimension::SageMakerVariantDesiredInstanceCount)
        .min_capacity(0)
        .max_capacity(3)
        .send()
        .await
        .unwrap();
    let e = refuse("guarded", "guarded-big").await;
    assert!(
        e.starts_with("ValidationException: ") && e.contains("scalable target"),
        "{e}"
    );
    // The same instance type is fine, and the endpoint is Updating meanwhile.
    sm.update_endpoint()
        .endpoint_name("guarded")
        .endpoint_config_name("guarded-same")
        .send()
        .await
        .unwrap();
    let e = refuse("guarded", "guarded-same").await;
    assert_eq!(
        e,
        "ValidationException: Cannot update in-progress endpoint \"arn:aws:sagemaker:us-east-1:000000000000:endpoint/guarded\"."
    );
    wait_status(&c, "guarded", EndpointStatus::InService).await;
    c.cloud.stop().await;
}

#[tokio::test]
async fn https_input_locations_resolve_to_the_same_object() {
    let c = common::start(20.0).await;
    deploy(&c, "urls", &[], 1, 4).await;
    c.s3()
        .put_object()
        .bucket(bucket())
        .key("in/x y.json")
        .body(ByteStream::from_static(REQUEST.as_bytes()))
        .send()
        .await
        .unwrap();
    let b = bucket();
    for location in [
        format!("s3://{b}/in/x y.json"),
        format!("https://{b}.s3.us-east-1.amazonaws.com/in/x%20y.json"),
        format!("https://s3.us-east-1.amazonaws.com/{b}/in/x%20y.json"),
    ] {
        let r = c
            .runtime()
            .invoke_endpoint_async()
            .endpoint_name("urls")
            .input_location(&location)
            .send()
            .await
            .unwrap();
        let out = wait_object(&c, r.output_location().unwrap()).await;
        assert!(out.contains("generated_text"), "{location}: {out}");
    }
    let e = c
        .runtime()
        .invoke_endpoint_async()
        .endpoint_name("urls")
        .input_location(format!("http://{b}.s3.amazonaws.com/in/x"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_validation_error(), "{e:?}");
    assert!(
        format!("{e:?}").contains(
            "Member must satisfy regular expression pattern: ^(https|s3)://([^/]+)/?(.*)$"
        ),
        "{e:?}"
    );
    c.cloud.stop().await;
}

#[tokio::test]
async fn invoke_endpoint_async_inputs_are_held_to_the_service_model() {
    let c = common::start(20.0).await;
    deploy(&c, "limits", &[], 1, 4).await;
    let rt = c.runtime();
    let call = || {
        rt.invoke_endpoint_async()
            .endpoint_name("limits")
            .input_location(format!("s3://{}/in/x", bucket()))
    };
    let message = |e: aws_sdk_sagemakerruntime::error::SdkError<_>| {
        let e: aws_sdk_sagemakerruntime::operation::invoke_endpoint_async::InvokeEndpointAsyncError = e.into_service_error();
        assert!(e.is_validation_error(), "{e:?}");
        aws_sdk_sagemakerruntime::error::ProvideErrorMetadata::message(&e)
            .unwrap_or_default()
            .to_string()
    };
    let e = message(
        call()
            .inference_id("x".repeat(65))
            .send()
            .await
            .unwrap_err(),
    );
    assert_eq!(
        e,
        format!(
            "1 validation error detected: Value '{}' at 'inferenceId' failed to satisfy constraint: Member must have length less than or equal to 64",
            "x".repeat(65)
        )
    );
    let e = message(
        call()
            .filename("a.b.json")
            .request_ttl_seconds(30)
            .send()
            .await
            .unwrap_err(),
    );
    assert!(e.starts_with("2 validation errors detected: "), "{e}");
    assert!(e.contains("Value 'a.b.json' at 'filename' failed to satisfy constraint: Member must satisfy regular expression pattern"), "{e}");
    assert!(e.contains("; Value '30' at 'requestTTLSeconds' failed to satisfy constraint: Member must have value greater than or equal to 60"), "{e}");
    let e = message(
        call()
            .s3_output_path_extension("s3://elsewhere")
            .send()
            .await
            .unwrap_err(),
    );
    assert!(e.contains("at 's3OutputPathExtension'"), "{e}");
    let e = message(
        call()
            .custom_attributes("x".repeat(1025))
            .send()
            .await
            .unwrap_err(),
    );
    // CustomAttributes is sensitive: its value is not echoed.
    assert!(e.contains("Value at 'customAttributes' failed to satisfy constraint: Member must have length less than or equal to 1024"), "{e}");
    let e = message(
        rt.invoke_endpoint_async()
            .endpoint_name("x".repeat(64))
            .input_location(format!("s3://{}/in/x", bucket()))
            .send()
            .await
            .unwrap_err(),
    );
    assert!(e.contains("at 'endpointName' failed to satisfy constraint: Member must have length less than or equal to 63"), "{e}");
    // Within the limits it is accepted.
    call()
        .inference_id("id-1")
        .filename("answer.json")
        .s3_output_path_extension("batch/7")
        .request_ttl_seconds(60)
        .invocation_timeout_seconds(3600)
        .send()
        .await
        .unwrap();
    c.cloud.stop().await;
}

/// The lines a user searching the endpoint's logs for `text` finds, on every page (CloudWatch
/// Logs may answer empty pages with a token).
async fn log_lines(c: &Cloud, endpoint: &str, text: &str) -> Vec<String> {
    let mut pages = c
        .logs()
        .filter_log_events()
        .log_group_name(format!("/aws/sagemaker/Endpoints/{endpoint}"))
        .filter_pattern(format!("\"{text}\""))
        .into_paginator()
        .send();
    let mut lines = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.unwrap();
        lines.extend(
            page.events()
                .iter()
                .filter_map(|e| e.message().map(str::to_string)),
        );
    }
    lines
}

#[tokio::test]
async fn tgi_validation_fails_like_tgi_and_the_log_names_the_request() {
    let c = common::start(20.0).await;
    deploy(&c, "tgi", &[], 1, 4).await;
    let rt = c.runtime();
    for (i, (body, answer)) in [
        (
            r#"{"inputs":"Hello","parameters":{"best_of":2,"do_sample":false}}"#,
            "you must use sampling when `best_of` is > 1",
        ),
        (
            r#"{"inputs":"Hello","parameters":{"top_p":1.0}}"#,
            "`top_p` must be > 0.0 and < 1.0",
        ),
        (
            r#"{"inputs":"Hello","parameters":{"temperature":0}}"#,
            "`temperature` must be strictly positive",
        ),
        (
            r#"{"inputs":"Hello","parameters":{"stop":["a","b","c","d","e"]}}"#,
            "`stop` supports up to 4 stop sequences. Given: 5",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("tgi-check-{i}");
        let r = rt
            .invoke_endpoint_async()
            .endpoint_name("tgi")
            .inference_id(&id)
            .body(Blob::new(body))
            .send()
            .await
            .unwrap();
        let failure = wait_object(&c, r.failure_location().unwrap()).await;
        let v: serde_json::Value = serde_json::from_str(&failure).unwrap();
        assert_eq!(v["error"], answer, "{body}");
        assert_eq!(v["error_type"], "validation");
        let lines = eventually("the failure's log line", Duration::from_secs(5), || async {
            Some(log_lines(&c, "tgi", &id).await).filter(|l| !l.is_empty())
        })
        .await;
        assert!(
            lines[0].contains("(422)") && lines[0].contains(answer),
            "{lines:?}"
        );
    }
    assert_eq!(c.cloud.endpoint_stats("tgi").unwrap().failed, 4);
    c.cloud.stop().await;
}

async fn put_step_policy(
    c: &Cloud,
    resource: &str,
    steps: Vec<StepAdjustment>,
) -> Result<String, String> {
    c.autoscaling()
        .put_scaling_policy()
        .policy_name("steps")
        .service_namespace(ServiceNamespace::Sagemaker)
        .resource_id(resource)
        .scalable_dimension(ScalableDimension::SageMakerVariantDesiredInstanceCount)
        .policy_type(PolicyType::StepScaling)
        .step_scaling_policy_configuration(
            StepScalingPolicyConfiguration::builder()
                .adjustment_type("ChangeInCapacity".into())
                .set_step_adjustments(Some(steps))
                .build(),
        )
        .send()
        .await
        .map(|p| p.policy_arn().to_string())
        .map_err(|e| {
            let e = e.into_service_error();
            format!(
                "{}: {}",
                aws_sdk_applicationautoscaling::error::ProvideErrorMetadata::code(&e)
                    .unwrap_or("?"),
                aws_sdk_applicationautoscaling::error::ProvideErrorMetadata::message(&e)
                    .unwrap_or("?")
            )
        })
}

fn step(lower: Option<f64>, upper: Option<f64>) -> StepAdjustment {
    StepAdjustment::builder()
        .set_metric_interval_lower_bound(lower)
        .set_metric_interval_upper_bound(upper)
        .scaling_adjustment(1)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_intervals_are_checked_and_a_breach_outside_them_changes_nothing() {
    let c = common::start(60.0).await;
    deploy(&c, "steps", &[], 1, 4).await;
    let resource = "endpoint/steps/variant/AllTraffic";
    c.autoscaling()
        .register_scalable_target()
        .service_namespace(ServiceNamespace::Sagemaker)
        .resource_id(resource)
        .scalable_dimension(ScalableDimension::SageMakerVariantDesiredInstanceCount)
        .min_capacity(0)
        .max_capacity(3)
        .send()
        .await
        .unwrap();
    for (steps, wording) in [
        (
            vec![step(None, None)],
            "ValidationException: Both lower and upper bounds of a StepAdjustment can not be left unspecified.",
        ),
        (
            vec![step(Some(0.0), Some(10.0)), step(Some(5.0), None)],
            "ValidationException: StepAdjustment intervals can not overlap.",
        ),
        (
            vec![step(Some(0.0), Some(10.0)), step(Some(20.0), None)],
            "ValidationException: StepAdjustment intervals can not have gaps between them.",
        ),
    ] {
        assert_eq!(
            put_step_policy(&c, resource, steps).await.unwrap_err(),
            wording
        );
    }
    // Scale out by one above the threshold; nothing is said for below it.
    let arn = put_step_policy(&c, resource, vec![step(Some(0.0), None)])
        .await
        .unwrap();
    // Always in ALARM while the endpoint has capacity: the breach (0 - 1) is below every step.
    backlog_alarm(&c, "steps-low", "steps")
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::LessThanThreshold)
        .alarm_actions(arn)
        .send()
        .await
        .unwrap();
    let aas = c.autoscaling();
    let activities = || async {
        aas.describe_scaling_activities()
            .service_namespace(ServiceNamespace::Sagemaker)
            .resource_id(resource)
            .send()
            .await
            .unwrap()
            .scaling_activities()
            .to_vec()
    };
    let found = eventually("the no-step activity", Duration::from_secs(20), || async {
        Some(activities().await).filter(|a| !a.is_empty())
    })
    .await;
    let a = &found[0];
    assert_eq!(a.status_code(), &ScalingActivityStatusCode::Failed);
    assert_eq!(
        a.status_message(),
        Some("No step adjustment found for metric value [0] and breach threshold [1]")
    );
    assert!(a.cause().contains("alarm steps-low"), "{a:?}");
    // A few more periods in ALARM: still one activity, and the endpoint keeps its instance.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(activities().await.len(), 1);
    let d = describe_endpoint(&c, "steps").await;
    assert_eq!(d.production_variants()[0].desired_instance_count(), Some(1));
    c.cloud.stop().await;
}
