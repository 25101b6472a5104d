//! `ebb instances` (the picker's table) and the fit check `ebb deploy` prints before it creates
//! anything, with the Hub's answer recorded and served on loopback.

use std::path::Path;
use std::process::{Command, Output};

use ebb_testkit::{AWS_VARS, Recorded, RecordedHttp, isolated_env, repo_root};

fn ebb(home: &Path, extra_env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ebb"));
    for var in AWS_VARS.iter().chain(&["HF_ENDPOINT", "HF_TOKEN"]) {
        cmd.env_remove(var);
    }
    cmd.envs(isolated_env(home))
        .envs(extra_env.iter().copied())
        .args(args)
        .output()
        .expect("run ebb")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn recorded_hub() -> RecordedHttp {
    let body =
        std::fs::read_to_string(repo_root().join("tests/fixtures/hub/google--flan-t5-xxl.json"))
            .expect("read the recorded answer");
    RecordedHttp::start(vec![Recorded {
        path: "/api/models/google/flan-t5-xxl".into(),
        body,
        token: None,
    }])
}

#[test]
fn instances_are_listed_by_family_with_memory_and_price_source() {
    let home = tempfile::tempdir().unwrap();
    let out = ebb(home.path(), &[], &["--local", "instances"]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    for family in ["g4dn", "g5", "g6", "g6e", "p4d", "p5", "inf2"] {
        assert!(
            text.lines().any(|l| l == family),
            "{family} heading in\n{text}"
        );
    }
    let g5 = text.lines().find(|l| l.contains("ml.g5.12xlarge")).unwrap();
    assert!(g5.contains("4 × A10G") && g5.contains("24 GB"), "{g5}");
    assert!(g5.contains("$7.09/h (estimate)"), "{g5}");
    let inf2 = text.lines().find(|l| l.contains("ml.inf2.xlarge")).unwrap();
    assert!(
        inf2.contains("unsupported: Inferentia needs the Neuron build"),
        "{inf2}"
    );

    let out = ebb(home.path(), &[], &["--local", "--json", "instances"]);
    let all: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let p5 = all
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "ml.p5.48xlarge")
        .unwrap();
    assert_eq!(p5["gpus"], 8);
    assert_eq!(p5["gpu_memory_gb"], 80);
    assert_eq!(p5["price_source"], "estimate");
    assert_eq!(p5["unsupported"], serde_json::Value::Null);
}

#[test]
fn deploy_warns_before_creating_when_the_model_does_not_fit() {
    let home = tempfile::tempdir().unwrap();
    let hub = recorded_hub();
    let env = [("HF_ENDPOINT", hub.url.as_str()), ("HF_HUB_OFFLINE", "0")];
    // The simulated model: a real one would ask the (recorded) Hub for its config.json too.
    let args = [
        "--local",
        "deploy",
        "--name",
        "too-small",
        "--instance-type",
        "ml.g5.xlarge",
        "--env",
        "EBB_LOCAL_BACKEND=builtin",
    ];
    let out = ebb(home.path(), &env, &args);
    let text = stdout(&out);
    let warning =
        "warning: flan-t5-xxl (11B, 16-bit ≈ 22 GB) does not fit ml.g5.xlarge (1 × 24 GB)";
    let warned = text.find(warning).unwrap_or_else(|| panic!("{text}"));
    // A warning, not a refusal: the deploy goes on after it.
    let created = text
        .find("creating model too-small")
        .unwrap_or_else(|| panic!("{text}"));
    assert!(warned < created, "{text}");
    assert!(out.status.success(), "{text}");
    assert_eq!(hub.requests(), 1);
}

#[test]
fn local_mode_asks_no_hub_and_takes_a_typed_count() {
    let home = tempfile::tempdir().unwrap();
    // The fit line comes before anything is created.
    let untyped = ["--local", "deploy", "--name", "untyped", "--no-smoke-test"];
    let text = stdout(&ebb(home.path(), &[("HF_HUB_OFFLINE", "0")], &untyped));
    assert!(
        text.contains("fit: size of flan-t5-xxl unknown: local mode works offline")
            && text.contains("--params 11B"),
        "{text}"
    );
    let typed = [
        "--local",
        "deploy",
        "--name",
        "typed",
        "--no-smoke-test",
        "--params",
        "11B",
    ];
    let text = stdout(&ebb(home.path(), &[], &typed));
    assert!(
        text.contains("fit: flan-t5-xxl (11B, 16-bit ≈ 22 GB) fits ml.g5.12xlarge (4 × 24 GB)"),
        "{text}"
    );
}
