//! `ebb update` against the local cloud in its AWS-like mode: an instance-type change on an
//! autoscaled endpoint at 0 instances keeps its count and its scaling; an environment and TGI
//! change leaves scaling alone; an update SageMaker rolls back leaves the old config in place.

mod common;

use std::path::Path;

use common::{ebb, local_sdk, ok, text};
use ebb_testkit::LocalServe;
use serde_json::Value;

const TRACKING: &str = "Invocations-ScalingPolicy";
const WAKE: &str = "HasBacklogWithoutCapacity-ScalingPolicy";

/// A sped-up local cloud in its AWS-like mode for `home`.
fn cloud(home: &Path) -> LocalServe {
    LocalServe::start(
        Path::new(env!("CARGO_BIN_EXE_ebb")),
        home,
        &["--speed", "40", "--aws-like"],
    )
}

fn json(home: &Path, args: &[&str]) -> Value {
    let args: Vec<&str> = std::iter::once("--json")
        .chain(args.iter().copied())
        .collect();
    serde_json::from_str(&ok(&ebb(home, &args))).expect("JSON")
}

fn wait_until(what: &str, limit: std::time::Duration, mut check: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// A scaling policy as read: name, type, ARN, target value, tracked metric.
#[derive(Debug, Clone, PartialEq)]
struct Policy(String, String, String, Option<f64>, Option<String>);

/// What SageMaker and Application Auto Scaling say about an endpoint.
struct Seen {
    config: String,
    instance_type: String,
    desired: i32,
    status: String,
    failure_reason: Option<String>,
    image: String,
    env: std::collections::HashMap<String, String>,
    /// (name, type, ARN, target value, metric name) per policy.
    policies: Vec<Policy>,
    bounds: Option<(i32, i32)>,
}

fn seen(rt: &tokio::runtime::Runtime, cloud: &LocalServe, endpoint: &str) -> Seen {
    rt.block_on(async {
        let config = local_sdk(cloud).await;
        let sm = aws_sdk_sagemaker::Client::new(&config);
        let aas = aws_sdk_applicationautoscaling::Client::new(&config);
        let e = sm
            .describe_endpoint()
            .endpoint_name(endpoint)
            .send()
            .await
            .unwrap();
        let config_name = e.endpoint_config_name().unwrap().to_string();
        let c = sm
            .describe_endpoint_config()
            .endpoint_config_name(&config_name)
            .send()
            .await
            .unwrap();
        let variant = &c.production_variants()[0];
        let m = sm
            .describe_model()
            .model_name(variant.model_name().unwrap())
            .send()
            .await
            .unwrap();
        let container = m.primary_container().unwrap();
        let resource = format!("endpoint/{endpoint}/variant/AllTraffic");
        let targets = aas
            .describe_scalable_targets()
            .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Sagemaker)
            .resource_ids(&resource)
            .send()
            .await
            .unwrap();
        let policies = aas
            .describe_scaling_policies()
            .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Sagemaker)
            .resource_id(&resource)
            .send()
            .await
            .unwrap();
        Seen {
            config: config_name,
            instance_type: variant.instance_type().unwrap().as_str().to_string(),
            desired: e.production_variants()[0].desired_instance_count().unwrap(),
            status: e.endpoint_status().unwrap().as_str().to_string(),
            failure_reason: e.failure_reason().map(str::to_string),
            image: container.image().unwrap_or_default().to_string(),
            env: container.environment().cloned().unwrap_or_default(),
            policies: policies
                .scaling_policies()
                .iter()
                .map(|p| {
                    let tracking = p.target_tracking_scaling_policy_configuration();
                    Policy(
                        p.policy_name().to_string(),
                        p.policy_type().as_str().to_string(),
                        p.policy_arn().to_string(),
                        tracking.map(|t| t.target_value()),
                        tracking
                            .and_then(|t| t.customized_metric_specification())
                            .and_then(|m| m.metric_name())
                            .map(str::to_string),
                    )
                })
                .collect(),
            bounds: targets
                .scalable_targets()
                .first()
                .map(|t| (t.min_capacity(), t.max_capacity())),
        }
    })
}

/// Whether SageMaker still has the config and the model.
fn exists(
    rt: &tokio::runtime::Runtime,
    cloud: &LocalServe,
    config: &str,
    model: &str,
) -> (bool, bool) {
    rt.block_on(async {
        let sm = aws_sdk_sagemaker::Client::new(&local_sdk(cloud).await);
        let c = sm
            .describe_endpoint_config()
            .endpoint_config_name(config)
            .send()
            .await;
        let m = sm.describe_model().model_name(model).send().await;
        (c.is_ok(), m.is_ok())
    })
}

/// The actions of the wake-up alarm Ebb made for `endpoint`.
fn wake_alarm_actions(
    rt: &tokio::runtime::Runtime,
    cloud: &LocalServe,
    endpoint: &str,
) -> Vec<String> {
    rt.block_on(async {
        let cw = aws_sdk_cloudwatch::Client::new(&local_sdk(cloud).await);
        let alarms = cw.describe_alarms().send().await.unwrap();
        alarms
            .metric_alarms()
            .iter()
            .filter(|a| {
                a.metric_name() == Some("HasBacklogWithoutCapacity")
                    && a.dimensions().iter().any(|d| d.value() == Some(endpoint))
            })
            .flat_map(|a| a.alarm_actions().to_vec())
            .collect()
    })
}

fn policy<'a>(s: &'a Seen, name: &str) -> &'a Policy {
    s.policies
        .iter()
        .find(|p| p.0 == name)
        .unwrap_or_else(|| panic!("no {name}: {:?}", s.policies))
}

#[test]
fn an_instance_type_change_keeps_the_scaled_count_and_the_scaling() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let cloud = cloud(h);
    let rt = tokio::runtime::Runtime::new().unwrap();
    assert_eq!(json(h, &["deploy", "--name", "big"])["status"], "InService");
    json(h, &["autoscale", "big", "--preset", "seed"]);
    // Idle, target tracking takes it to zero.
    wait_until(
        "the idle endpoint to reach zero",
        std::time::Duration::from_secs(120),
        || seen(&rt, &cloud, "big").desired == 0,
    );
    let before = seen(&rt, &cloud, "big");
    assert_eq!(before.instance_type, "ml.g5.12xlarge");
    // Autoscaling would take a woken endpoint back to 0 within moments (its metrics say idle),
    // so the count alone cannot tell: a second scale-in to 0 would.
    let scale_ins = || {
        let shown = json(h, &["autoscale", "big", "--show"]);
        shown["activities"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["description"] == "Setting desired instance count to 0.")
            .count()
    };
    let scaled_in = scale_ins();
    assert!(scaled_in >= 1);
    let settings = json(h, &["update", "big", "--instance-type", "ml.g5.24xlarge"]);
    assert_eq!(settings["status"], "InService", "{settings}");
    assert_eq!(settings["scaling_paused"], true, "{settings}");
    assert_eq!(settings["scaling_restored"], true, "{settings}");

    let after = seen(&rt, &cloud, "big");
    assert_eq!(after.status, "InService");
    assert_eq!(after.config, settings["new_endpoint_config"], "{settings}");
    assert_eq!(after.instance_type, "ml.g5.24xlarge");
    assert_eq!(after.desired, 0, "the endpoint at 0 was woken");
    assert_eq!(
        scale_ins(),
        scaled_in,
        "the endpoint at 0 was woken, then scaled in"
    );
    assert_eq!(after.env["SM_NUM_GPUS"], "4");
    assert_eq!(after.bounds, before.bounds);
    assert_eq!(after.bounds, Some((0, 5)));
    let (old, new) = (policy(&before, TRACKING), policy(&after, TRACKING));
    assert_eq!((&old.1, old.3, &old.4), (&new.1, new.3, &new.4));
    assert_eq!(new.4.as_deref(), Some("ApproximateBacklogSizePerInstance"));
    // The wake-up policy is back, and its alarm acts on it (not on the deleted one).
    let wake = policy(&after, WAKE);
    assert_eq!(
        wake_alarm_actions(&rt, &cloud, "big"),
        std::slice::from_ref(&wake.2)
    );
    let old_config = settings["old_endpoint_config"].as_str().unwrap();
    let old_model = settings["old_model"].as_str().unwrap();
    assert_eq!(exists(&rt, &cloud, old_config, old_model), (false, false));
    // The scaling still works: a request wakes the endpoint from zero.
    let answered = json(h, &["invoke", "big", "--prompt", "Awake?", "--wait", "120"]);
    assert!(answered["output"].is_string(), "{answered}");
    drop(cloud);
}

#[test]
fn an_environment_and_tgi_change_leaves_scaling_alone() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let cloud = cloud(h);
    let rt = tokio::runtime::Runtime::new().unwrap();
    assert_eq!(json(h, &["deploy", "--name", "env"])["status"], "InService");
    json(h, &["autoscale", "env", "--preset", "seed", "--min", "1"]);
    let before = seen(&rt, &cloud, "env");
    let out = text(
        &ebb(
            h,
            &[
                "update",
                "env",
                "--env",
                "MAX_TOTAL_TOKENS=2048",
                "--tgi-version",
                "2.0.1",
            ],
        )
        .stdout,
    );
    assert!(
        out.contains("environment MAX_TOTAL_TOKENS=2048 (new)"),
        "{out}"
    );
    // The new fleet answered a request through the async path before the update was done.
    assert!(
        out.contains("endpoint env is ready: InService, and a test request was answered"),
        "{out}"
    );
    let after = seen(&rt, &cloud, "env");
    assert_ne!(after.config, before.config);
    let region = cloud.info["region"].as_str().unwrap();
    assert_eq!(
        after.image,
        ebb_core::catalog::tgi::image_uri("2.0.1", region).unwrap()
    );
    assert_eq!(after.env["MAX_TOTAL_TOKENS"], "2048");
    assert_eq!(after.env["HF_MODEL_ID"], before.env["HF_MODEL_ID"]);
    // Untouched: the same policies (same ARNs) and bounds.
    assert_eq!(after.policies, before.policies);
    assert_eq!(after.bounds, before.bounds);
    assert_eq!(after.desired, before.desired);
    // Nothing to change is refused before anything is made.
    let again = ebb(h, &["update", "env", "--env", "MAX_TOTAL_TOKENS=2048"]);
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("nothing to change"),
        "{}",
        text(&again.stderr)
    );
    drop(cloud);
}

#[test]
fn a_rolled_back_update_keeps_the_old_config_and_the_scaling() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let cloud = cloud(h);
    let rt = tokio::runtime::Runtime::new().unwrap();
    assert_eq!(
        json(h, &["deploy", "--name", "roll"])["status"],
        "InService"
    );
    json(h, &["autoscale", "roll", "--preset", "seed", "--min", "1"]);
    let before = seen(&rt, &cloud, "roll");
    let out = ebb(
        h,
        &[
            "--json",
            "update",
            "roll",
            "--instance-type",
            "ml.g5.24xlarge",
            "--env",
            "EBB_LOCAL_FAIL_STARTUP=the weights do not fit",
        ],
    );
    assert!(!out.status.success());
    let outcome: Value = serde_json::from_slice(&out.stdout).expect("outcome JSON");
    assert_eq!(outcome["status"], "Failed", "{outcome}");
    let reason = outcome["failure_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("the weights do not fit"), "{outcome}");
    assert_eq!(outcome["scaling_restored"], true, "{outcome}");
    let after = seen(&rt, &cloud, "roll");
    assert_eq!(after.status, "InService");
    assert_eq!(after.config, before.config);
    assert!(
        after
            .failure_reason
            .as_deref()
            .is_some_and(|r| r.contains("the weights do not fit"))
    );
    assert_eq!(after.instance_type, "ml.g5.12xlarge");
    assert_eq!(after.bounds, before.bounds);
    let names = |s: &Seen| -> Vec<(String, Option<f64>)> {
        s.policies.iter().map(|p| (p.0.clone(), p.3)).collect()
    };
    assert_eq!(names(&after), names(&before));
    let new_config = outcome["new_endpoint_config"].as_str().unwrap();
    let new_model = outcome["new_model"].as_str().unwrap();
    assert_eq!(exists(&rt, &cloud, new_config, new_model), (false, false));
    let old_config = outcome["old_endpoint_config"].as_str().unwrap();
    let old_model = outcome["old_model"].as_str().unwrap();
    assert_eq!(exists(&rt, &cloud, old_config, old_model), (true, true));
    drop(cloud);
}

/// An update is checked as a deploy is: a new fleet that dies at warm-up is rolled back and
/// diagnosed; one that starts but fails every request is in service but failing.
#[test]
fn a_failing_update_is_diagnosed_as_a_deploy_is() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let _cloud = cloud(h);
    ok(&ebb(h, &["deploy", "--name", "diag-up"]));
    let warmup = ebb(
        h,
        &["update", "diag-up", "--env", "EBB_LOCAL_FAILURE=oom-warmup"],
    );
    let said = text(&warmup.stderr);
    assert!(!warmup.status.success(), "{said}");
    assert!(
        said.contains("the endpoint is back on diag-up-cfg"),
        "{said}"
    );
    assert!(
        said.contains("why: The model does not fit in ml.g5.12xlarge's GPU memory"),
        "{said}"
    );
    assert!(
        said.contains("fix: Choose an instance with more GPU memory"),
        "{said}"
    );

    // A new fleet that starts but fails its test request is replaced by the old config again
    // before anything old is removed.
    let request = ebb(
        h,
        &[
            "--json",
            "update",
            "diag-up",
            "--env",
            "EBB_LOCAL_FAILURE=oom-request",
        ],
    );
    assert!(!request.status.success(), "{}", text(&request.stderr));
    let outcome: Value = serde_json::from_slice(&request.stdout).unwrap();
    assert_eq!(outcome["status"], "Failed", "{outcome}");
    assert_eq!(
        outcome["diagnosis"]["kind"], "out_of_memory_on_request",
        "{outcome}"
    );
    assert!(
        outcome["failure_reason"]
            .as_str()
            .is_some_and(|r| r.contains("it went back to diag-up-cfg")),
        "{outcome}"
    );
    let endpoints = json(h, &["endpoints"]);
    assert_eq!(endpoints[0]["status"], "InService", "{endpoints}");
    let answered = ok(&ebb(
        h,
        &["invoke", "diag-up", "--prompt", "Hi", "--wait", "60"],
    ));
    assert!(!answered.contains("CUDA out of memory"), "{answered}");
}
