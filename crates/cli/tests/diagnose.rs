//! Deploys that go wrong, as a user meets them: the local cloud plays each known failure of a
//! TGI endpoint on SageMaker (through the model's `EBB_LOCAL_FAILURE`), `ebb deploy` waits,
//! smoke-tests, and says what happened in one sentence with its fix.

use std::path::Path;
use std::process::Output;

mod common;

use common::{ebb, ok, serve, text};

/// One row: the failure played, extra deploy options, and what the user must read.
struct Case {
    failure: &'static str,
    extra: &'static [&'static str],
    /// In the verdict line (`failed:` / `in service but failing:` / the step that failed).
    verdict: &'static str,
    sentence: &'static [&'static str],
    fix: &'static str,
}

const CASES: &[Case] = &[
    Case {
        failure: "health-check-timeout",
        extra: &["--health-check-timeout", "60"],
        verdict: "failed: The primary container for production variant AllTraffic did not pass the ping health check",
        sentence: &[
            "did not pass its start-up health check within 60 s",
            "still loading the weights:",
            "downloaded in",
        ],
        fix: "Raise the start-up health-check timeout",
    },
    Case {
        failure: "oom-warmup",
        extra: &[],
        verdict: "failed:",
        sentence: &["does not fit in ml.g5.12xlarge's GPU memory"],
        fix: "lower MAX_BATCH_PREFILL_TOKENS",
    },
    Case {
        failure: "oom-request",
        extra: &[],
        verdict: "is in service but failing: the test request failed",
        sentence: &["ran out of GPU memory answering a request on ml.g5.12xlarge"],
        fix: "quantise the model",
    },
    Case {
        failure: "gated-model",
        extra: &[],
        verdict: "failed:",
        sentence: &["google/flan-t5-xxl is gated or private"],
        fix: "--env HF_TOKEN=",
    },
    Case {
        failure: "model-not-found",
        extra: &[],
        verdict: "failed:",
        sentence: &["The Hugging Face Hub has no model named google/flan-t5-xxl"],
        fix: "Check the model id",
    },
    Case {
        failure: "quota",
        extra: &["--instance-count", "2"],
        verdict: "CreateEndpoint failed:",
        sentence: &[
            "may run 0 × ml.g5.12xlarge on endpoints in us-east-1, and this deploy needs 2 more",
        ],
        fix: "quota \"ml.g5.12xlarge for endpoint usage\"",
    },
    Case {
        failure: "no-capacity",
        extra: &[],
        verdict: "failed: Unable to provision requested ML compute capacity",
        sentence: &["AWS has no ml.g5.12xlarge capacity free in us-east-1"],
        fix: "choose another instance type",
    },
    Case {
        failure: "image-not-found",
        extra: &[],
        verdict: "",
        sentence: &["does not exist in us-east-1"],
        fix: "Choose a TGI version that is published in this region",
    },
    Case {
        failure: "no-chat-template",
        extra: &["--tgi-version", "2.3.1", "--messages-api"],
        verdict: "is in service but failing: the test request failed",
        sentence: &["has no chat template"],
        fix: "without the Messages API",
    },
    Case {
        failure: "import-error",
        extra: &[],
        verdict: "failed:",
        sentence: &["a Python module it needs could not be imported"],
        fix: "choose another TGI version",
    },
];

fn deploy_playing(home: &Path, case: &Case) -> Output {
    let name = format!("diag-{}", case.failure);
    let failure = format!("EBB_LOCAL_FAILURE={}", case.failure);
    let mut args = vec!["deploy", "--name", &name, "--env", &failure];
    args.extend(case.extra);
    ebb(home, &args)
}

#[test]
fn each_known_failure_is_told_in_a_sentence_with_its_fix() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let _cloud = serve(h);
    // Five deploys at a time: SageMaker's control plane (and the AWS-like local cloud)
    // throttles a burst beyond that, which the SDK's retries ride out only so far.
    let mut outputs: Vec<(&Case, Output)> = Vec::new();
    for chunk in CASES.chunks(5) {
        outputs.extend(std::thread::scope(|s| {
            let running: Vec<_> = chunk
                .iter()
                .map(|case| (case, s.spawn(move || deploy_playing(h, case))))
                .collect();
            running
                .into_iter()
                .map(|(case, t)| (case, t.join().expect("deploy thread")))
                .collect::<Vec<_>>()
        }));
    }
    for (case, out) in outputs {
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        let said = format!("{} [stdout]\n{stdout}\n[stderr]\n{stderr}", case.failure);
        assert!(!out.status.success(), "{said}");
        assert!(stderr.contains(case.verdict), "verdict: {said}");
        for part in case.sentence {
            assert!(stderr.contains(part), "sentence `{part}`: {said}");
        }
        assert!(stderr.contains(case.fix), "fix: {said}");
    }
}

#[test]
fn a_gated_model_starts_once_the_token_is_given_and_the_wait_shows_the_log() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let _cloud = serve(h);
    let out = ebb(
        h,
        &[
            "deploy",
            "--name",
            "gated-with-token",
            "--env",
            "EBB_LOCAL_FAILURE=gated-model",
            "--env",
            "HF_TOKEN=hf_test_token",
        ],
    );
    let stdout = ok(&out);
    assert!(
        stdout.contains(
            "endpoint gated-with-token is ready: InService, and a test request was answered"
        ),
        "{stdout}"
    );
    // The container's start-up, as it logged it, shown while the deploy waited.
    assert!(
        stdout.contains("        | Starting download process."),
        "{stdout}"
    );
}

#[test]
fn an_endpoint_in_service_that_fails_every_request_is_not_called_ready() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let _cloud = serve(h);
    let out = ebb(
        h,
        &[
            "--json",
            "deploy",
            "--name",
            "oom-json",
            "--env",
            "EBB_LOCAL_FAILURE=oom-request",
        ],
    );
    assert!(!out.status.success(), "{}", text(&out.stdout));
    let outcome: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(outcome["status"], "InService");
    assert_eq!(outcome["verdict"], "in_service_failing");
    assert_eq!(outcome["diagnosis"]["kind"], "out_of_memory_on_request");
    let smoke = &outcome["smoke_test"];
    assert_eq!(smoke["passed"], false);
    assert!(
        smoke["failure"]
            .as_str()
            .is_some_and(|f| f.contains("CUDA out of memory")),
        "{smoke}"
    );
    // Skipping the smoke test is the user's choice, and then InService is all that is known.
    let skipped = ok(&ebb(
        h,
        &[
            "deploy",
            "--name",
            "oom-untested",
            "--env",
            "EBB_LOCAL_FAILURE=oom-request",
            "--no-smoke-test",
        ],
    ));
    assert!(
        skipped.contains("endpoint oom-untested is InService (not tested: --no-smoke-test)"),
        "{skipped}"
    );
}

#[test]
fn what_a_deploy_refused_at_create_endpoint_left_is_removed_by_teardown() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let _cloud = serve(h);
    let refused = ebb(
        h,
        &[
            "deploy",
            "--name",
            "no-quota",
            "--env",
            "EBB_LOCAL_FAILURE=quota",
        ],
    );
    let said = text(&refused.stderr);
    assert!(!refused.status.success(), "{said}");
    assert!(
        said.contains("Left behind: model no-quota, endpoint config no-quota-cfg"),
        "{said}"
    );
    let removed = ok(&ebb(h, &["teardown", "no-quota", "--yes"]));
    assert!(
        removed.contains("endpoint config no-quota-cfg: deleted"),
        "{removed}"
    );
    assert!(removed.contains("model no-quota: deleted"), "{removed}");
    // Nothing of it is left for a second teardown to find.
    let again = ok(&ebb(h, &["teardown", "no-quota", "--yes"]));
    assert!(!again.contains(": deleted"), "{again}");
}
