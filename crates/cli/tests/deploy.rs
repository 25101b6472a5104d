//! Deploy -> InService -> invoke -> output -> teardown, as a user runs it: in local mode with no
//! set-up, and against moto_server (every created resource described back).

use std::path::Path;
use std::process::{Command, Output};

use ebb_testkit::{AWS_VARS, CborShim, LocalServe, Moto, isolated_env};

mod common;

use common::local_sdk;

fn ebb(home: &Path, extra_env: &[(&str, &str)], args: &[&str]) -> Output {
    ebb_command(home, extra_env, args)
        .output()
        .expect("run ebb")
}

/// `ebb ARGS` for `home`, with no AWS settings from this machine.
fn ebb_command(home: &Path, extra_env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ebb"));
    for var in AWS_VARS {
        cmd.env_remove(var);
    }
    cmd.envs(isolated_env(home))
        .envs(extra_env.iter().copied())
        .args(args);
    cmd
}

fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn local_mode_deploy_invoke_teardown_leaves_nothing() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let deployed = ok(&ebb(h, &[], &["deploy", "--name", "seed-test"]));
    assert!(deployed.contains("creating model seed-test"), "{deployed}");
    assert!(
        deployed
            .contains("endpoint seed-test is ready: InService, and a test request was answered"),
        "{deployed}"
    );

    let listed = ok(&ebb(h, &[], &["--json", "endpoints"]));
    let endpoints: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let e = &endpoints[0];
    assert_eq!(e["name"], "seed-test");
    assert_eq!(e["status"], "InService");
    assert_eq!(e["instance_type"], "ml.g5.12xlarge");
    assert_eq!(e["is_async"], true);
    assert_eq!(e["created_by_ebb"], true);
    assert_eq!(
        e["output_path"],
        "s3://sagemaker-us-east-1-000000000000/async-llm-output/output"
    );
    assert_eq!(
        e["failure_path"],
        "s3://sagemaker-us-east-1-000000000000/async-llm-output/failure"
    );
    assert!(e["usd_per_hour"].as_f64().unwrap() > 0.0);

    let logs = ok(&ebb(h, &[], &["logs", "seed-test"]));
    assert!(logs.contains("seed-test: InService for"), "{logs}");
    assert!(
        logs.contains("model_id: \"google/flan-t5-xxl\", num_shard: 4"),
        "{logs}"
    );

    let answer = ok(&ebb(
        h,
        &[],
        &[
            "invoke",
            "seed-test",
            "--prompt",
            "What is the capital of the United States?",
            "--wait",
            "60",
        ],
    ));
    assert!(answer.contains("generated_text"), "{answer}");
    // A request TGI would reject lands in the failure path and is reported as failed.
    let bad = ebb(
        h,
        &[],
        &[
            "invoke",
            "seed-test",
            "--prompt",
            "hi",
            "--params",
            r#"{"max_new_tokens": 0}"#,
            "--wait",
            "60",
        ],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("strictly positive"));
    let not_json = ebb(
        h,
        &[],
        &["invoke", "seed-test", "--prompt", "hi", "--params", "{oops"],
    );
    assert!(String::from_utf8_lossy(&not_json.stderr).contains("not valid JSON"));

    let removed = ok(&ebb(h, &[], &["teardown", "seed-test", "--yes"]));
    for r in [
        "endpoint seed-test: deleted",
        "endpoint config seed-test-cfg: deleted",
        "model seed-test: deleted",
    ] {
        assert!(removed.contains(r), "{removed}");
    }
    // Safe to re-run.
    let again = ok(&ebb(h, &[], &["teardown", "seed-test", "--yes"]));
    assert!(
        again.contains("endpoint seed-test: already gone"),
        "{again}"
    );
    let empty = ok(&ebb(h, &[], &["endpoints"]));
    assert!(empty.contains("no endpoints"), "{empty}");
}

#[test]
fn bad_deploy_input_is_refused_before_any_call() {
    let home = tempfile::tempdir().unwrap();
    let out = ebb(
        home.path(),
        &[],
        &[
            "deploy",
            "--instance-type",
            "g5.12xlarge",
            "--instance-count",
            "0",
            "--tgi-version",
            "9.9",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--instance-type: `g5.12xlarge` is not an instance type"),
        "{err}"
    );
    assert!(err.contains("--instance-count: "), "{err}");
    assert!(
        err.contains("--image / --tgi-version: TGI version `9.9`"),
        "{err}"
    );
    let listed = ok(&ebb(home.path(), &[], &["endpoints"]));
    assert!(listed.contains("no endpoints"), "{listed}");
}

#[test]
fn moto_sees_exactly_the_seed_preset() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let env = moto.env();
    ok(&ebb(
        h,
        &env,
        &[
            "settings",
            "set",
            "role_arn",
            "arn:aws:iam::123456789012:role/SmRole",
        ],
    ));
    // The smoke test's request goes to the settings' bucket, as test requests do.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let sdk = moto_sdk(&moto.url).await;
        aws_sdk_s3::Client::new(&sdk)
            .create_bucket()
            .bucket("sagemaker-us-east-1-123456789012")
            .send()
            .await
            .unwrap();
    });
    // moto refuses newer instance types; everything else is the preset.
    let out = ok(&ebb(
        h,
        &env,
        &[
            "deploy",
            "--name",
            "seed-moto",
            "--instance-type",
            "ml.g4dn.12xlarge",
            "--env",
            "SM_NUM_GPUS=4",
        ],
    ));
    assert!(out.contains("InService"), "{out}");

    rt.block_on(async {
        let sdk = moto_sdk(&moto.url).await;
        let sm = aws_sdk_sagemaker::Client::new(&sdk);
        let model = sm.describe_model().model_name("seed-moto").send().await.unwrap();
        let c = model.primary_container().unwrap();
        assert_eq!(
            c.image(),
            Some("763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:2.0.1-tgi1.1.0-gpu-py39-cu118-ubuntu20.04")
        );
        let env = c.environment().unwrap();
        assert_eq!(env.get("HF_MODEL_ID").map(String::as_str), Some("google/flan-t5-xxl"));
        assert_eq!(env.get("SM_NUM_GPUS").map(String::as_str), Some("4"));
        assert_eq!(model.execution_role_arn(), Some("arn:aws:iam::123456789012:role/SmRole"));
        let cfg = sm.describe_endpoint_config().endpoint_config_name("seed-moto-cfg").send().await.unwrap();
        let v = &cfg.production_variants()[0];
        assert_eq!(v.variant_name(), Some("AllTraffic"));
        assert_eq!(v.model_name(), Some("seed-moto"));
        assert_eq!(v.initial_instance_count(), Some(1));
        assert_eq!(v.instance_type().map(|t| t.as_str()), Some("ml.g4dn.12xlarge"));
        assert_eq!(v.container_startup_health_check_timeout_in_seconds(), Some(300));
        let a = cfg.async_inference_config().unwrap();
        assert_eq!(a.client_config().unwrap().max_concurrent_invocations_per_instance(), Some(10));
        let o = a.output_config().unwrap();
        assert_eq!(o.s3_output_path(), Some("s3://sagemaker-us-east-1-123456789012/async-llm-output/output"));
        assert_eq!(o.s3_failure_path(), Some("s3://sagemaker-us-east-1-123456789012/async-llm-output/failure"));
        let e = sm.describe_endpoint().endpoint_name("seed-moto").send().await.unwrap();
        assert_eq!(e.endpoint_config_name(), Some("seed-moto-cfg"));
        let tags = sm.list_tags().resource_arn(e.endpoint_arn().unwrap()).send().await.unwrap();
        assert!(tags.tags().iter().any(|t| t.key() == Some("ebb:created-by")));
    });
    // The seed's part 3 through `ebb autoscale`; CloudWatch goes through the CBOR shim.
    let shim = CborShim::start(&moto.url);
    let mut env = env.to_vec();
    env.push(("AWS_ENDPOINT_URL_CLOUDWATCH", shim.url.as_str()));
    let applied = ok(&ebb(
        h,
        &env,
        &["autoscale", "seed-moto", "--preset", "seed"],
    ));
    assert!(
        applied.contains("alarm seed-moto-HasBacklogWithoutCapacity"),
        "{applied}"
    );
    rt.block_on(async {
        use aws_sdk_applicationautoscaling::types::*;
        let sdk = moto_sdk(&moto.url).await;
        let aas = aws_sdk_applicationautoscaling::Client::new(&sdk);
        let targets = aas
            .describe_scalable_targets()
            .service_namespace(ServiceNamespace::Sagemaker)
            .send()
            .await
            .unwrap();
        let t = &targets.scalable_targets()[0];
        assert_eq!(
            (
                t.resource_id(),
                t.scalable_dimension(),
                t.min_capacity(),
                t.max_capacity()
            ),
            (
                RESOURCE,
                &ScalableDimension::SageMakerVariantDesiredInstanceCount,
                0,
                5
            )
        );
        let policies = aas
            .describe_scaling_policies()
            .service_namespace(ServiceNamespace::Sagemaker)
            .resource_id(RESOURCE)
            .send()
            .await
            .unwrap();
        let by_name = |n: &str| {
            policies
                .scaling_policies()
                .iter()
                .find(|p| p.policy_name() == n)
                .unwrap_or_else(|| panic!("no policy {n} in {policies:?}"))
        };
        let tracking = by_name("Invocations-ScalingPolicy");
        assert_eq!(tracking.policy_type(), &PolicyType::TargetTrackingScaling);
        let c = tracking
            .target_tracking_scaling_policy_configuration()
            .unwrap();
        assert_eq!(c.target_value(), 5.0);
        assert_eq!(
            (c.scale_in_cooldown(), c.scale_out_cooldown()),
            (Some(600), Some(100))
        );
        let m = c.customized_metric_specification().unwrap();
        assert_eq!(m.metric_name(), Some("ApproximateBacklogSizePerInstance"));
        assert_eq!(m.namespace(), Some("AWS/SageMaker"));
        assert_eq!(m.statistic(), Some(&MetricStatistic::Average));
        assert_eq!(m.dimensions()[0].name(), "EndpointName");
        assert_eq!(m.dimensions()[0].value(), "seed-moto");
        let wake = by_name("HasBacklogWithoutCapacity-ScalingPolicy");
        assert_eq!(wake.policy_type(), &PolicyType::StepScaling);
        let s = wake.step_scaling_policy_configuration().unwrap();
        assert_eq!(s.adjustment_type(), Some(&AdjustmentType::ChangeInCapacity));
        assert_eq!(
            s.metric_aggregation_type(),
            Some(&MetricAggregationType::Average)
        );
        assert_eq!(s.cooldown(), Some(300));
        let step = &s.step_adjustments()[0];
        assert_eq!(
            (
                step.metric_interval_lower_bound(),
                step.metric_interval_upper_bound(),
                step.scaling_adjustment()
            ),
            (Some(0.0), None, 1)
        );
        // The alarm, read back from moto through the shim.
        let cw = aws_sdk_cloudwatch::Client::from_conf(
            aws_sdk_cloudwatch::config::Builder::from(&sdk)
                .endpoint_url(&shim.url)
                .build(),
        );
        let alarms = cw
            .describe_alarms()
            .alarm_names("seed-moto-HasBacklogWithoutCapacity")
            .send()
            .await
            .unwrap();
        let a = &alarms.metric_alarms()[0];
        assert_eq!(a.metric_name(), Some("HasBacklogWithoutCapacity"));
        assert_eq!(a.namespace(), Some("AWS/SageMaker"));
        assert_eq!(a.statistic().map(|s| s.as_str()), Some("Average"));
        assert_eq!(a.dimensions()[0].name(), Some("EndpointName"));
        assert_eq!(a.dimensions()[0].value(), Some("seed-moto"));
        assert_eq!(
            (a.period(), a.evaluation_periods(), a.datapoints_to_alarm()),
            (Some(60), Some(2), Some(2))
        );
        assert_eq!(a.threshold(), Some(1.0));
        assert_eq!(
            a.comparison_operator().map(|c| c.as_str()),
            Some("GreaterThanOrEqualToThreshold")
        );
        assert_eq!(a.treat_missing_data(), Some("missing"));
        assert_eq!(a.alarm_actions(), [wake.policy_arn().to_string()]);
    });
    // What is in place, as `--show` tells it.
    let shown = ok(&ebb(h, &env, &["autoscale", "seed-moto", "--show"]));
    assert!(
        shown.contains("scalable target: 0 to 5 instances"),
        "{shown}"
    );
    assert!(
        shown.contains("Keeps ApproximateBacklogSizePerInstance (Average) near 5"),
        "{shown}"
    );
    let removed = ok(&ebb(h, &env, &["teardown", "seed-moto", "--yes"]));
    for line in [
        format!("scaling policy Invocations-ScalingPolicy on {RESOURCE}: deleted"),
        format!("scaling policy HasBacklogWithoutCapacity-ScalingPolicy on {RESOURCE}: deleted"),
        format!("scalable target {RESOURCE}: deleted"),
        "alarm seed-moto-HasBacklogWithoutCapacity: deleted".to_string(),
        "model seed-moto: deleted".to_string(),
    ] {
        assert!(removed.contains(&line), "{line:?} not in {removed}");
    }
    // Ebb wrote the settings and its caches, but never the secret key, and keeps them private.
    ebb_testkit::assert_private(h, ebb_testkit::MOTO_SECRET);
    // moto agrees that nothing of the autoscaling is left.
    rt.block_on(async {
        let sdk = moto_sdk(&moto.url).await;
        let aas = aws_sdk_applicationautoscaling::Client::new(&sdk);
        let ns = aws_sdk_applicationautoscaling::types::ServiceNamespace::Sagemaker;
        let targets = aas
            .describe_scalable_targets()
            .service_namespace(ns.clone())
            .send()
            .await
            .unwrap();
        assert!(targets.scalable_targets().is_empty(), "{targets:?}");
        let policies = aas
            .describe_scaling_policies()
            .service_namespace(ns)
            .send()
            .await
            .unwrap();
        assert!(policies.scaling_policies().is_empty(), "{policies:?}");
    });
}

const RESOURCE: &str = "endpoint/seed-moto/variant/AllTraffic";

async fn moto_sdk(url: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(aws_sdk_sagemaker::config::Credentials::new(
            "testing", "testing", None, None, "t",
        ))
        .load()
        .await
}

#[test]
fn a_deploy_that_fails_explains_itself_and_can_be_cleaned_up() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let out = ebb(
        h,
        &[],
        &[
            "deploy",
            "--name",
            "broken",
            "--env",
            "EBB_LOCAL_FAIL_STARTUP=CUDA out of memory",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("endpoint broken failed"), "{err}");
    assert!(err.contains("CUDA out of memory"), "{err}");
    assert!(err.contains("ebb teardown broken"), "{err}");
    let logs = ok(&ebb(h, &[], &["logs", "broken"]));
    assert!(logs.contains("broken: Failed"), "{logs}");
    assert!(logs.contains("health check: CUDA out of memory"), "{logs}");
    let removed = ok(&ebb(h, &[], &["teardown", "broken", "--yes"]));
    assert!(removed.contains("model broken: deleted"), "{removed}");
}

/// DescribeAlarms answers 50 alarms a page: with 60 alarms on its metrics, teardown must read
/// every page, delete all 60 and call none of them "already gone".
#[test]
fn teardown_removes_alarms_past_the_first_page() {
    use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Statistic};
    const ALARMS: usize = 60;
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let cloud = LocalServe::start(Path::new(env!("CARGO_BIN_EXE_ebb")), h, &[]);
    // Local mode: the commands use the cloud already running for this home.
    ok(&ebb(h, &[], &["deploy", "--name", "many-alarms"]));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cw = rt.block_on(async { aws_sdk_cloudwatch::Client::new(&local_sdk(&cloud).await) });
    rt.block_on(async {
        for i in 0..ALARMS {
            cw.put_metric_alarm()
                .alarm_name(format!("many-alarms-backlog-{i:02}"))
                .namespace("AWS/SageMaker")
                .metric_name("ApproximateBacklogSize")
                .dimensions(
                    Dimension::builder()
                        .name("EndpointName")
                        .value("many-alarms")
                        .build(),
                )
                .statistic(Statistic::Average)
                .period(60)
                .evaluation_periods(1)
                .threshold(i as f64)
                .comparison_operator(ComparisonOperator::GreaterThanThreshold)
                .send()
                .await
                .unwrap();
        }
    });
    let removed = ok(&ebb(h, &[], &["teardown", "many-alarms", "--yes"]));
    let deleted = removed
        .lines()
        .filter(|l| l.contains("many-alarms-backlog-") && l.ends_with(": deleted"))
        .count();
    assert_eq!(deleted, ALARMS, "{removed}");
    let left = rt.block_on(async {
        let mut left = 0;
        let mut pages = cw.describe_alarms().into_paginator().send();
        while let Some(page) = pages.next().await {
            left += page.unwrap().metric_alarms().len();
        }
        left
    });
    assert_eq!(left, 0, "alarms left after teardown");
}

/// A Describe that fails (throttled here) is not "nothing there": teardown stops before
/// removing anything, says why, and a later run removes everything, the model included.
#[test]
fn teardown_fails_closed_when_it_cannot_describe() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let ebb_bin = Path::new(env!("CARGO_BIN_EXE_ebb"));
    let healthy = LocalServe::start(ebb_bin, h, &[]);
    ok(&ebb(h, &[], &["deploy", "--name", "closed"]));
    assert!(healthy.terminate().success());
    let throttled = LocalServe::start(
        ebb_bin,
        h,
        &["--fault", "sagemaker:DescribeEndpointConfig=throttle:1.0"],
    );
    let refused = ebb(h, &[], &["teardown", "closed", "--yes"]);
    let said = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert!(!refused.status.success(), "{said}");
    assert!(said.contains("DescribeEndpointConfig"), "{said}");
    assert!(throttled.terminate().success());
    let _healthy = LocalServe::start(ebb_bin, h, &[]);
    let removed = ok(&ebb(h, &[], &["teardown", "closed", "--yes"]));
    for r in [
        "endpoint closed: deleted",
        "endpoint config closed-cfg: deleted",
        "model closed: deleted",
    ] {
        assert!(removed.contains(r), "{removed}");
    }
}

/// CloudWatch Logs may answer an empty page that still has a token (the AWS-like local cloud
/// does so every other page): the logs are read until no token is left, not to the first
/// empty page.
#[test]
fn logs_are_read_past_empty_pages() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let ebb_bin = Path::new(env!("CARGO_BIN_EXE_ebb"));
    let healthy = LocalServe::start(ebb_bin, h, &[]);
    ok(&ebb(h, &[], &["deploy", "--name", "log-pages"]));
    assert!(healthy.terminate().success());
    let _aws_like = LocalServe::start(ebb_bin, h, &["--aws-like"]);
    let logs = ok(&ebb(h, &[], &["logs", "log-pages"]));
    assert!(
        logs.contains("Invocations and health checks are served"),
        "{logs}"
    );
}

/// An endpoint deleted between ListEndpoints and its DescribeEndpoint (by a colleague, or a
/// teardown in another window) is left out of the list; the others are still shown and the
/// command succeeds. DescribeEndpoint is slowed down here so the delete lands in between.
#[test]
fn an_endpoint_deleted_while_listing_is_dropped_from_the_list() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let ebb_bin = Path::new(env!("CARGO_BIN_EXE_ebb"));
    let healthy = LocalServe::start(ebb_bin, h, &[]);
    ok(&ebb(h, &[], &["deploy", "--name", "stays"]));
    ok(&ebb(h, &[], &["deploy", "--name", "vanishes"]));
    assert!(healthy.terminate().success());
    let slow = LocalServe::start(
        ebb_bin,
        h,
        &["--fault", "sagemaker:DescribeEndpoint=latency:4000"],
    );
    let listing = ebb_command(h, &[], &["--json", "endpoints"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run ebb");
    // ListEndpoints is answered at once; each DescribeEndpoint waits 4 s before it looks.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        aws_sdk_sagemaker::Client::new(&local_sdk(&slow).await)
            .delete_endpoint()
            .endpoint_name("vanishes")
            .send()
            .await
            .unwrap();
    });
    let listed = ok(&listing.wait_with_output().unwrap());
    let endpoints: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let names: Vec<&str> = endpoints
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(names, ["stays"], "{listed}");
}

/// Reads `from` until `marker` has been printed (a prompt has no newline to wait for).
fn read_until(from: &mut impl std::io::Read, marker: &str) -> String {
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains(marker) {
        let n = from.read(&mut chunk).unwrap();
        assert!(
            n > 0,
            "ended before {marker:?}: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

/// `teardown --delete-data` decides about the data again when the plan is confirmed: an
/// endpoint that starts writing to the same output path between the plan and the "y" keeps it.
/// And the test inputs of `pair` are in a folder of its own, so those of `pair-2` stay.
#[test]
fn teardown_decides_about_data_when_confirmed_and_keeps_a_neighbours_test_inputs() {
    use std::io::Write;
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let cloud = LocalServe::start(Path::new(env!("CARGO_BIN_EXE_ebb")), h, &[]);
    let bucket = "sagemaker-us-east-1-000000000000";
    let own_paths = |name: &str| {
        [
            format!("--output-path=s3://{bucket}/own/{name}/out"),
            format!("--failure-path=s3://{bucket}/own/{name}/fail"),
        ]
    };
    for name in ["pair", "pair-2"] {
        let [out, fail] = own_paths(name);
        // No smoke test: the data counted below is the test's own.
        ok(&ebb(
            h,
            &[],
            &["deploy", "--name", name, &out, &fail, "--no-smoke-test"],
        ));
        ok(&ebb(
            h,
            &[],
            &["invoke", name, "--prompt", "Hi", "--wait", "60"],
        ));
    }
    let mut teardown = ebb_command(h, &[], &["teardown", "pair", "--delete-data"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = teardown.stdout.take().unwrap();
    let shown = read_until(&mut stdout, "Remove them?");
    let own_out = format!("data s3://{bucket}/own/pair/out/ (1 objects");
    assert!(shown.contains(&own_out), "{shown}");
    // Another endpoint starts writing there before the user answers.
    ok(&ebb(
        h,
        &[],
        &[
            "deploy",
            "--name",
            "joiner",
            &format!("--output-path=s3://{bucket}/own/pair/out"),
            "--no-smoke-test",
        ],
    ));
    teardown.stdin.take().unwrap().write_all(b"y\n").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert!(teardown.wait().unwrap().success(), "{rest}");
    assert!(
        rest.contains(&format!(
            "data s3://{bucket}/own/pair/out/: kept: endpoint joiner also writes under"
        )),
        "{rest}"
    );
    assert!(
        rest.contains(&format!(
            "data s3://{bucket}/async-llm-output/input/test/pair/: 1 objects deleted"
        )),
        "{rest}"
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let left = rt.block_on(async {
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&local_sdk(&cloud).await)
                .force_path_style(true)
                .build(),
        );
        let listed = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix("async-llm-output/input/test/")
            .send()
            .await
            .unwrap();
        listed
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect::<Vec<_>>()
    });
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(
        left[0].starts_with("async-llm-output/input/test/pair-2/"),
        "{left:?}"
    );
}

fn endpoint_names(listed: &str) -> Vec<String> {
    let endpoints: serde_json::Value = serde_json::from_str(listed).unwrap();
    endpoints
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["name"].as_str().map(str::to_string))
        .collect()
}

/// One local cloud per data folder, across processes: commands started together on a home with
/// no cloud running take turns and all see its endpoint; while another process holds the
/// folder without announcing a cloud for this home, a command waits, then refuses, naming the
/// folder and that process; once that process is killed, its lock no longer blocks.
#[test]
fn one_local_cloud_runs_over_a_data_folder_at_a_time() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    ok(&ebb(h, &[], &["deploy", "--name", "kept"]));
    let together: Vec<_> = (0..3)
        .map(|_| {
            ebb_command(h, &[], &["--json", "endpoints"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("run ebb")
        })
        .collect();
    for child in together {
        let listed = ok(&child.wait_with_output().unwrap());
        assert_eq!(endpoint_names(&listed), ["kept"], "{listed}");
    }

    // A server announced in another home, running over this home's data folder.
    let data = h.join("local/data");
    let other = tempfile::tempdir().unwrap();
    let holder = LocalServe::start(
        Path::new(env!("CARGO_BIN_EXE_ebb")),
        other.path(),
        &["--data", data.to_str().unwrap()],
    );
    let pid = std::fs::read_to_string(data.join("lock")).unwrap();
    let refused = ebb(h, &[], &["--json", "endpoints"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "a second cloud ran: {stderr}");
    assert!(
        stderr.contains(&data.display().to_string())
            && stderr.contains(&format!("process {}", pid.trim())),
        "{stderr}"
    );
    let serve = ebb(h, &[], &["local", "serve"]);
    assert!(!serve.status.success());
    assert!(
        String::from_utf8_lossy(&serve.stderr).contains("another local cloud runs over"),
        "{}",
        String::from_utf8_lossy(&serve.stderr)
    );

    holder.kill();
    let listed = ok(&ebb(h, &[], &["--json", "endpoints"]));
    assert_eq!(endpoint_names(&listed), ["kept"], "{listed}");
}
