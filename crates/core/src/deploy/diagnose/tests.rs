use super::*;

const HEALTH_CHECK: &str = "The primary container for production variant AllTraffic did not pass the ping health check. Please check CloudWatch logs for this endpoint.";

fn lines(messages: &[&str]) -> Vec<LogLine> {
    messages
        .iter()
        .enumerate()
        .map(|(i, m)| LogLine {
            timestamp_ms: i.to_string(),
            stream: "AllTraffic/i-0".into(),
            message: m.to_string(),
        })
        .collect()
}

fn facts() -> Facts<'static> {
    Facts {
        model_id: "meta-llama/Llama-3.1-8B-Instruct",
        instance_type: "ml.g5.12xlarge",
        region: "eu-west-1",
        image: "763104351884.dkr.ecr.eu-west-1.amazonaws.com/huggingface-pytorch-tgi-inference:2.4.0-tgi2.4.0-gpu-py311-cu124-ubuntu22.04",
        health_check_timeout_s: 600,
    }
}

fn kind_of(e: Evidence<'_>) -> Option<DiagnosisKind> {
    diagnose(&e).map(|d| d.kind)
}

#[test]
fn a_healthy_start_is_not_diagnosed() {
    let logs = lines(&[
        "Starting download process.",
        "Downloaded /data/model-00001-of-00002.safetensors in 0:00:41.",
        "Successfully downloaded weights.",
        "Warming up model",
        "Connected",
    ]);
    let e = Evidence {
        logs: &logs,
        facts: facts(),
        ..Default::default()
    };
    assert_eq!(diagnose(&e), None);
}

#[test]
fn quota_names_the_service_quota_and_the_numbers() {
    let message = "The account-level service limit 'ml.g5.12xlarge for endpoint usage' is 0 Instances, with current utilization of 0 Instances and a request delta of 2 Instances. Please use AWS Service Quotas to request an increase for this quota.";
    let d = diagnose(&Evidence {
        api_error: Some(("ResourceLimitExceeded", message)),
        facts: facts(),
        ..Default::default()
    })
    .expect("diagnosed");
    assert_eq!(d.kind, DiagnosisKind::QuotaExceeded);
    assert!(d.sentence.contains("0 × ml.g5.12xlarge"), "{}", d.sentence);
    assert!(d.sentence.contains("needs 2 more"), "{}", d.sentence);
    assert!(
        d.fix.contains("\"ml.g5.12xlarge for endpoint usage\""),
        "{}",
        d.fix
    );
    // Another quota (not an endpoint's instances) is left to the generic explanation.
    assert_eq!(
        kind_of(Evidence {
            api_error: Some((
                "ResourceLimitExceeded",
                "The account-level service limit 'Number of endpoints' is 100"
            )),
            ..Default::default()
        }),
        None
    );
}

#[test]
fn no_capacity_and_missing_image_come_from_sagemakers_words() {
    let capacity = "Unable to provision requested ML compute capacity due to InsufficientInstanceCapacity error. Please retry using a different ML instance type or after some time.";
    let d = diagnose(&Evidence {
        failure_reason: Some(capacity),
        facts: facts(),
        ..Default::default()
    })
    .expect("diagnosed");
    assert_eq!(d.kind, DiagnosisKind::NoCapacity);
    assert!(d.sentence.contains("ml.g5.12xlarge") && d.sentence.contains("eu-west-1"));
    let image = "Requested image 763104351884.dkr.ecr.eu-west-1.amazonaws.com/huggingface-pytorch-tgi-inference:9.9.9 not found.";
    assert_eq!(
        kind_of(Evidence {
            api_error: Some(("ValidationException", image)),
            ..Default::default()
        }),
        Some(DiagnosisKind::ImageNotFound)
    );
    assert_eq!(
        kind_of(Evidence {
            failure_reason: Some(image),
            ..Default::default()
        }),
        Some(DiagnosisKind::ImageNotFound)
    );
}

#[test]
fn the_log_tells_gated_missing_oom_and_import_errors_apart() {
    let cases = [
        (
            "huggingface_hub.errors.GatedRepoError: 401 Client Error. (Request ID: Root=1-6)",
            DiagnosisKind::GatedModel,
        ),
        (
            "Cannot access gated repo for url https://huggingface.co/api/models/x/y/revision/main.",
            DiagnosisKind::GatedModel,
        ),
        (
            "huggingface_hub.errors.RepositoryNotFoundError: 401 Client Error.",
            DiagnosisKind::ModelNotFound,
        ),
        (
            "RuntimeError: Not enough memory to handle 4096 prefill tokens. You need to decrease `--max-batch-prefill-tokens`",
            DiagnosisKind::OutOfMemoryAtWarmup,
        ),
        (
            "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB.",
            DiagnosisKind::OutOfMemoryAtWarmup,
        ),
        (
            "ModuleNotFoundError: No module named 'flash_attn_2_cuda'",
            DiagnosisKind::ImportError,
        ),
    ];
    for (line, kind) in cases {
        let logs = lines(&["Starting download process.", line, "Error: DownloadError"]);
        let e = Evidence {
            failure_reason: Some(HEALTH_CHECK),
            logs: &logs,
            facts: facts(),
            ..Default::default()
        };
        let d = diagnose(&e).expect(line);
        assert_eq!(d.kind, kind, "{line}");
        assert_eq!(d.evidence, line);
    }
}

#[test]
fn a_gated_model_sentence_names_the_model_and_the_token() {
    let logs = lines(&["huggingface_hub.errors.GatedRepoError: 401 Client Error."]);
    let d = diagnose(&Evidence {
        failure_reason: Some(HEALTH_CHECK),
        logs: &logs,
        facts: facts(),
        ..Default::default()
    })
    .expect("diagnosed");
    assert!(
        d.sentence
            .starts_with("meta-llama/Llama-3.1-8B-Instruct is gated")
    );
    assert!(d.fix.contains("HF_TOKEN"));
}

#[test]
fn a_silent_health_check_failure_is_a_start_up_timeout_with_the_time_so_far() {
    let logs = lines(&[
        "Starting download process.",
        "Downloaded /data/model-00001-of-00005.safetensors in 0:01:40.",
        "Downloaded /data/model-00002-of-00005.safetensors in 0:02:30.",
    ]);
    let d = diagnose(&Evidence {
        failure_reason: Some(HEALTH_CHECK),
        logs: &logs,
        facts: facts(),
        ..Default::default()
    })
    .expect("diagnosed");
    assert_eq!(d.kind, DiagnosisKind::StartupTimeout);
    assert!(d.sentence.contains("within 600 s"), "{}", d.sentence);
    assert!(
        d.sentence
            .contains("2 files downloaded in 4 min 10 s so far"),
        "{}",
        d.sentence
    );
    assert!(d.fix.contains("3600"));
}

#[test]
fn failed_requests_tell_oom_and_a_missing_chat_template() {
    let oom = r#"{"error":"Request failed during generation: Server error: CUDA out of memory. Tried to allocate 1.50 GiB.","error_type":"generation"}"#;
    assert_eq!(
        kind_of(Evidence {
            request_failure: Some(oom),
            ..Default::default()
        }),
        Some(DiagnosisKind::OutOfMemoryOnRequest)
    );
    let template =
        r#"{"error":"Template error: template not found","error_type":"template_error"}"#;
    assert_eq!(
        kind_of(Evidence {
            request_failure: Some(template),
            ..Default::default()
        }),
        Some(DiagnosisKind::NoChatTemplate)
    );
    // An ordinary validation error is the user's request, not the endpoint's failure.
    let invalid =
        r#"{"error":"`temperature` must be strictly positive","error_type":"validation"}"#;
    assert_eq!(
        kind_of(Evidence {
            request_failure: Some(invalid),
            ..Default::default()
        }),
        None
    );
}

#[test]
fn an_out_of_memory_line_of_an_in_service_endpoint_is_a_requests() {
    let logs = lines(&[
        "Connected",
        "ERROR text_generation_router::infer: Request failed during generation: Server error: CUDA out of memory.",
    ]);
    let e = |in_service| Evidence {
        logs: &logs,
        in_service,
        facts: facts(),
        ..Default::default()
    };
    assert_eq!(kind_of(e(true)), Some(DiagnosisKind::OutOfMemoryOnRequest));
    assert_eq!(kind_of(e(false)), Some(DiagnosisKind::OutOfMemoryAtWarmup));
}
