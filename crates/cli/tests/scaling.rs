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
    let seen = ebb_testkit::json_line(&out);
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

/// `ebb --local` against the running local cloud of `home`: its stdout.
fn ebb_text(home: &Path, args: &[&str]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ebb"));
    for var in AWS_VARS {
        cmd.env_remove(var);
    }
    let out = cmd
        .envs(isolated_env(home))
        .arg("--local")
        .args(args)
        .output()
        .expect("run ebb");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "ebb {args:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `ebb --local --json`, parsed.
fn ebb(home: &Path, args: &[&str]) -> serde_json::Value {
    let args: Vec<&str> = std::iter::once("--json")
        .chain(args.iter().copied())
        .collect();
    serde_json::from_str(&ebb_text(home, &args)).unwrap_or(serde_json::Value::Null)
}

fn wait_until(what: &str, limit: std::time::Duration, mut check: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

#[test]
fn ebb_autoscale_loadtest_and_metrics_run_the_seed_scenario_in_local_mode() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let serve = LocalServe::start(
        Path::new(env!("CARGO_BIN_EXE_ebb")),
        h,
        &["--speed", "40", "--startup", "120"],
    );
    let deployed = ebb(
        h,
        &[
            "deploy",
            "--name",
            "seed",
            "--env",
            "EBB_LOCAL_TOKEN_LATENCY_MS=1000",
        ],
    );
    assert_eq!(deployed["status"], "InService", "{deployed}");
    // With no scaling activity yet, the instance series is the endpoint's own count.
    let fresh = ebb(h, &["metrics", "seed", "--since", "1h"]);
    let counts = fresh["instances"]["values"].as_array().cloned();
    assert!(
        counts
            .as_ref()
            .is_some_and(|c| !c.is_empty() && c.iter().all(|v| v == 1.0)),
        "{}",
        fresh["instances"]
    );
    let text = ebb_text(h, &["metrics", "seed", "--since", "1h"]);
    let line = text.lines().find(|l| l.starts_with("InstanceCount"));
    assert!(line.is_some_and(|l| l.contains(" now        1 ")), "{text}");
    // The cost guard: an instance with nothing to do for 10 minutes and no autoscaling.
    wait_until(
        "the idle warning",
        std::time::Duration::from_secs(60),
        || {
            ebb_text(h, &["endpoints"]).contains(
            "warning: seed has 1 instance(s) (about $7.09 an hour) and no request for 10 minutes, and no autoscaling to take it to zero.",
        )
        },
    );
    let applied = ebb(h, &["autoscale", "seed", "--preset", "seed"]);
    assert_eq!(
        applied["lines"].as_array().map(Vec::len),
        Some(4),
        "{applied}"
    );
    let status = || ebb(h, &["autoscale", "seed", "--show"]);
    let shown = status();
    assert_eq!(shown["bounds"], serde_json::json!([0, 5]));
    assert_eq!(shown["spec"]["scale_from_zero"], true, "{shown}");
    assert_eq!(shown["findings"], serde_json::json!([]), "{shown}");
    // With autoscaling to zero in place, the guard is quiet.
    assert!(!ebb_text(h, &["endpoints"]).contains("warning:"));

    // Idle, target tracking takes it to zero (15 minutes under target).
    let instances = |s: &serde_json::Value| s["endpoint"]["current_instances"].as_u64();
    wait_until(
        "the idle endpoint to reach zero",
        std::time::Duration::from_secs(90),
        || instances(&status()) == Some(0),
    );
    // The article's loop, bounded: 300 requests at 50 a second.
    let sent = ebb(h, &["loadtest", "seed", "--rate", "50", "--duration", "6s"]);
    assert_eq!(
        (sent["sent"].as_u64(), sent["refused"].as_u64()),
        (Some(300), Some(0)),
        "{sent}"
    );
    let descriptions = |s: &serde_json::Value| -> Vec<String> {
        s["activities"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["description"].as_str().map(str::to_string))
            .collect()
    };
    wait_until(
        "scale out, drain and back to zero",
        std::time::Duration::from_secs(150),
        || {
            let s = status();
            let d = descriptions(&s);
            instances(&s) == Some(0) && d.iter().any(|x| x.contains("to 5."))
        },
    );
    // One more request wakes it.
    let answered = ebb(
        h,
        &[
            "invoke",
            "seed",
            "--prompt",
            "Are you awake?",
            "--wait",
            "120",
        ],
    );
    assert!(answered["output"].is_string(), "{answered}");

    let m = ebb(h, &["metrics", "seed", "--since", "3h"]);
    let series = m["series"].as_array().unwrap();
    for s in series {
        assert!(
            !s["values"].as_array().unwrap().is_empty(),
            "no points for {}",
            s["name"]
        );
    }
    let named = |n: &str| series.iter().find(|s| s["name"] == n).unwrap();
    let sum = |n: &str| -> f64 {
        named(n)["values"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_f64())
            .sum()
    };
    let max = |n: &str| -> f64 {
        named(n)["values"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_f64())
            .fold(0.0, f64::max)
    };
    assert!(max("ApproximateBacklogSize") >= 200.0, "{m}");
    assert_eq!(max("HasBacklogWithoutCapacity"), 1.0);
    assert_eq!(sum("InvocationFailures"), 0.0);
    // Every request completed (the last minute may not be published yet): the load test's,
    // the `ebb invoke`, and the deploy's smoke test.
    wait_until(
        "InvocationsProcessed to count all 302",
        std::time::Duration::from_secs(30),
        || {
            let m = ebb(h, &["metrics", "seed", "--since", "3h"]);
            let processed: f64 = m["series"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s["name"] == "InvocationsProcessed")
                .flat_map(|s| {
                    s["values"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter_map(|v| v.as_f64())
                })
                .sum();
            processed == 302.0
        },
    );
    // From the first scaling activity on, the count went 0 -> 1 -> 5 -> 0 -> 1.
    let counts: Vec<u64> = m["instances"]["values"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_f64().map(|f| f as u64))
        .fold(Vec::new(), |mut acc, v| {
            if acc.last() != Some(&v) {
                acc.push(v);
            }
            acc
        });
    assert_eq!(counts, [0, 1, 5, 0, 1], "{}", m["instances"]);
    drop(serve);
}
