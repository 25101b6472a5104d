//! The seed's autoscaling as the article tests it, with boto3 against `ebb local serve` sped
//! up: the endpoint wakes from zero, scales out, drains, scales back to zero and wakes again.

use std::path::Path;
use std::process::Command;

use ebb_testkit::{AWS_VARS, LocalServe, isolated_env};

const REQUESTS: u64 = 300;

#[test]
fn boto3_watches_the_seed_endpoint_scale_from_zero_out_and_back_under_speed_up() {
    let home = tempfile::tempdir().unwrap();
    // 20 simulated seconds per real second; instances take two simulated minutes to start.
    let serve = LocalServe::start(
        Path::new(env!("CARGO_BIN_EXE_ebb")),
        home.path(),
        &["--speed", "20", "--startup", "120"],
    );
    let python = ebb_testkit::venv_python();
    assert!(
        python.exists(),
        "{} not found — run `bash scripts/test.sh` (it creates .venv with boto3)",
        python.display()
    );
    let mut cmd = Command::new(python);
    for var in AWS_VARS {
        cmd.env_remove(var);
    }
    let out = cmd
        .envs(isolated_env(home.path()))
        .envs(serve.aws_env())
        .arg(ebb_testkit::repo_root().join("tests/python/scaling_scenario.py"))
        .arg(ebb_local::PLACEHOLDER_ROLE_ARN)
        .arg(REQUESTS.to_string())
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    println!("seen: {seen}");
    assert_eq!(
        seen["instances"],
        serde_json::json!([0, 1, 5, 0, 1]),
        "{seen}"
    );
    let states: Vec<&str> = seen["alarm_states"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    assert_eq!(
        states.iter().filter(|s| **s == "ALARM").count(),
        2,
        "the wake-up alarm fires once per backlog at zero: {states:?}"
    );
    let activities = seen["activities"].as_array().unwrap();
    let described: Vec<&str> = activities
        .iter()
        .filter_map(|a| a["description"].as_str())
        .collect();
    assert_eq!(
        described,
        [
            "Setting desired instance count to 1.",
            "Setting desired instance count to 5.",
            "Setting desired instance count to 0.",
            "Setting desired instance count to 1.",
        ]
    );
    assert!(
        activities.iter().all(|a| a["status"] == "Successful"),
        "{seen}"
    );
    let causes: Vec<&str> = activities
        .iter()
        .filter_map(|a| a["cause"].as_str())
        .collect();
    assert!(causes[0].ends_with("triggered policy HasBacklogWithoutCapacity-ScalingPolicy"));
    assert!(
        causes[1].contains("AlarmHigh") && causes[2].contains("AlarmLow"),
        "{causes:?}"
    );
    assert!(seen["peak_backlog"].as_f64().unwrap() >= 200.0, "{seen}");
    assert_eq!(seen["processed"].as_f64(), Some((REQUESTS + 1) as f64));
    assert_eq!(
        seen["metrics"],
        serde_json::json!([
            "ApproximateAgeOfOldestRequest",
            "ApproximateBacklogSize",
            "ApproximateBacklogSizePerInstance",
            "HasBacklogWithoutCapacity",
            "InvocationFailures",
            "InvocationsProcessed"
        ])
    );
    assert_eq!(
        seen["left_after_cleanup"],
        serde_json::json!({ "targets": 0, "alarms": 0 })
    );
    assert!(serve.terminate().success());
}
