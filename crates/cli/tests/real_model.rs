//! The demo folder as a job against a local endpoint of a model in the Hugging Face cache:
//! every request is answered by that model (a tiny random T5 the test writes into the test
//! home's cache under the seed's small sibling's name), not by the simulated generator.

mod common;

use common::{ebb, export, ok, serve, submit_waited};
use ebb_local::model::family::Family;
use ebb_local::model::tiny;

fn deploy(home: &std::path::Path, name: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "deploy",
        "--name",
        name,
        "--model-id",
        "google/flan-t5-small",
        "--params",
        "77M",
    ];
    args.extend(extra);
    ok(&ebb(home, &args))
}

/// The answers of a job of the demo folder on `endpoint`, in input order.
fn demo_answers(home: &std::path::Path, endpoint: &str) -> Vec<String> {
    let demo = ebb_testkit::repo_root().join("demo");
    let summary = submit_waited(home, demo.to_str().unwrap(), endpoint, &[]);
    assert_eq!(summary["state"], "done", "{summary}");
    assert_eq!(summary["succeeded"].as_u64(), Some(19), "{summary}");
    let job = summary["id"].as_str().unwrap();
    let records = export(home, job, &home.join(format!("{endpoint}.jsonl")));
    records
        .iter()
        .map(|r| r["output"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn the_demo_folder_is_answered_by_the_cached_model() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    tiny::write(
        &h.join("hf").join("hub"),
        "google/flan-t5-small",
        Family::T5,
    )
    .unwrap();
    let listed = ok(&ebb(h, &["local", "models"]));
    let row = listed
        .lines()
        .find(|l| l.starts_with("google/flan-t5-small"))
        .unwrap_or_default();
    assert!(row.contains("in cache") && row.contains("fits"), "{listed}");

    let _serve = serve(h);
    let out = deploy(h, "real", &[]);
    assert!(out.contains("InService"), "{out}");
    let real = demo_answers(h, "real");
    let simulated_out = deploy(h, "simulated", &["--env", "EBB_LOCAL_BACKEND=builtin"]);
    assert!(simulated_out.contains("InService"), "{simulated_out}");
    let simulated = demo_answers(h, "simulated");
    // The simulated generator always writes max_new_tokens (50) words; the model's answers
    // are its own, and the same prompt gets the same answer (greedy decoding).
    for (r, s) in real.iter().zip(&simulated) {
        assert_eq!(s.split(' ').count(), 50, "{s}");
        assert_ne!(r, s);
    }
    assert_eq!(real, demo_answers(h, "real"), "greedy answers repeat");
    let logs = ok(&ebb(h, &["logs", "real"]));
    assert!(logs.contains("runs for real"), "{logs}");
}
