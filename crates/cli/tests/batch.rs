//! Jobs as batches, the way a user of OpenAI Batch or Bedrock batch inference expects them:
//! ids per line, result files in the input's own format with an errors file and a manifest,
//! per-request status, retry of what failed, an honest cancel and a price before the run.

use std::path::Path;
use std::time::{Duration, Instant};

mod common;

use common::*;

fn read_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A TGI request; `bad` ones ask for a temperature of 0, which TGI refuses (422).
fn tgi_body(i: usize, bad: bool) -> serde_json::Value {
    let temperature = if bad { 0.0 } else { 0.7 };
    serde_json::json!({"inputs": format!("question {i}"),
        "parameters": {"max_new_tokens": 4, "temperature": temperature}})
}

/// `bedrock.jsonl` (5 records, the 2nd refused) and `tgi.jsonl` (4 lines with a `key` id, the
/// 3rd refused) in `dir`.
fn bedrock_and_tgi_folder(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let bedrock: String = (1..=5)
        .map(|i| {
            let record = serde_json::json!({"recordId": format!("REC{i:08}"), "modelInput": tgi_body(i, i == 2)});
            format!("{record}\n")
        })
        .collect();
    std::fs::write(dir.join("bedrock.jsonl"), bedrock).unwrap();
    let tgi: String = (1..=4)
        .map(|i| {
            let mut line = tgi_body(i, i == 3);
            line["key"] = serde_json::json!(format!("row-{i}"));
            format!("{line}\n")
        })
        .collect();
    std::fs::write(dir.join("tgi.jsonl"), tgi).unwrap();
}

#[test]
fn bedrock_and_tgi_files_round_trip_with_ids_errors_and_a_manifest() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let input = h.join("batch");
    bedrock_and_tgi_folder(&input);
    let _serve = serve(h);
    deploy(h, "batch-formats");
    let folder = input.to_str().unwrap();
    let said = ok(&ebb(
        h,
        &[
            "submit",
            folder,
            "--endpoint",
            "batch-formats",
            "--id-field",
            "key",
            "--wait",
        ],
    ));
    assert!(
        said.contains("bedrock.jsonl: Bedrock batch records (5)"),
        "{said}"
    );
    assert!(
        said.contains("tgi.jsonl: TGI requests (4)"),
        "formats are named when mixed: {said}"
    );
    let job = job_id(&said);
    let summary = job_summary(h, &job);
    assert_eq!(
        (summary["succeeded"].as_u64(), summary["failed"].as_u64()),
        (Some(7), Some(2)),
        "{summary}"
    );
    let headline = summary["headline"].as_str().unwrap();
    assert!(
        headline.starts_with(
            "partially completed: 2 of 9 failed: `temperature` must be strictly positive"
        ),
        "{headline}"
    );

    // The result files go beside the inputs, one line per input line, in input order.
    let written = ok(&ebb(h, &["results", &job, "--out-dir", folder]));
    assert!(written.contains("9 lines written"), "{written}");
    let bedrock = read_lines(&input.join("bedrock.out.jsonl"));
    let ids: Vec<&str> = bedrock
        .iter()
        .map(|l| l["recordId"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "REC00000001",
            "REC00000002",
            "REC00000003",
            "REC00000004",
            "REC00000005"
        ]
    );
    assert!(
        bedrock[0]["modelOutput"][0]["generated_text"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "{}",
        bedrock[0]
    );
    assert_eq!(bedrock[0]["modelInput"]["inputs"], "question 1");
    assert!(bedrock[1]["modelOutput"].is_null(), "{}", bedrock[1]);
    assert!(
        bedrock[1]["error"]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("temperature"),
        "{}",
        bedrock[1]
    );
    let tgi = read_lines(&input.join("tgi.out.jsonl"));
    let ids: Vec<&str> = tgi.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["row-1", "row-2", "row-3", "row-4"]);
    assert_eq!(tgi[2]["error"]["code"], "validation", "{}", tgi[2]);
    assert!(tgi[3]["output"].is_array(), "{}", tgi[3]);

    let errors = read_lines(&input.join("errors.jsonl"));
    assert_eq!(errors.len(), 2);
    assert_eq!(
        (
            errors[0]["id"].as_str(),
            errors[0]["file"].as_str(),
            errors[0]["line"].as_u64()
        ),
        (Some("REC00000002"), Some("bedrock.jsonl"), Some(2))
    );
    assert_eq!(errors[1]["inference_id"], "row-3");
    assert!(
        errors[1]["failure_location"]
            .as_str()
            .is_some_and(|l| l.starts_with("s3://")),
        "{}",
        errors[1]
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(input.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["counts"]["succeeded"], 7, "{manifest}");
    assert_eq!(manifest["counts"]["failed"], 2, "{manifest}");
    assert_eq!(manifest["files"][0]["format"], "bedrock", "{manifest}");
    assert!(
        manifest["bytes"]["input"].as_u64().unwrap() > 0,
        "{manifest}"
    );
    assert!(
        manifest["times"]["last_result_at"].as_str().is_some(),
        "{manifest}"
    );
    // What the job cost, against what was estimated when it was submitted.
    let cost = &manifest["cost"];
    assert_eq!(cost["instance_type"], "ml.g5.12xlarge", "{manifest}");
    assert!(
        cost["instance_hours"].as_f64().is_some() && cost["estimated_usd"].as_f64().is_some(),
        "{manifest}"
    );
    assert_eq!(cost["estimate"]["requests"], 9, "{manifest}");
    assert_eq!(
        cost["estimate"]["throughput"]["kind"], "assumed",
        "{manifest}"
    );

    // Scanned again, the folder's result files are not taken for requests.
    let check = ebb(h, &["submit", folder, "--check"]);
    let said = text(&check.stdout);
    assert!(said.contains("scanned 2 files: 9 requests"), "{said}");
    assert!(
        text(&check.stderr).contains("bedrock.out.jsonl: warning: skipped"),
        "{}",
        text(&check.stderr)
    );

    // Each request answers for itself, by its id or its inference id.
    let ok_status = ok(&ebb(h, &["status", "REC00000003"]));
    assert!(
        ok_status.contains(&format!("in job {job} on batch-formats: succeeded at ")),
        "{ok_status}"
    );
    assert!(ok_status.contains("output at s3://"), "{ok_status}");
    let failed = ok(&ebb(h, &["status", "row-3"]));
    assert!(
        failed.contains("failed at ") && failed.contains("temperature"),
        "{failed}"
    );
    let none = ebb(h, &["status", "no-such-id"]);
    assert!(!none.status.success());
    assert!(
        text(&none.stderr).contains("no request of any job has the id"),
        "{}",
        text(&none.stderr)
    );
}

#[test]
fn an_id_used_twice_is_refused_at_scan_time_naming_both_lines() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let input = h.join("dups");
    std::fs::create_dir_all(&input).unwrap();
    let line = |id: &str| {
        format!(
            "{}\n",
            serde_json::json!({"custom_id": id, "method": "POST", "url": "/v1/chat/completions",
            "body": {"messages": [{"role": "user", "content": "hi"}]}})
        )
    };
    std::fs::write(input.join("a.jsonl"), line("req-1") + &line("req-2")).unwrap();
    std::fs::write(input.join("b.jsonl"), line("req-3") + &line("req-1")).unwrap();
    let out = ebb(h, &["submit", input.to_str().unwrap(), "--check"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr)
            .contains("b.jsonl:2:1: the id \"req-1\" is used twice: here and at a.jsonl:1"),
        "{}",
        text(&out.stderr)
    );
    let said = text(&out.stdout);
    assert!(said.contains("a.jsonl: OpenAI batch lines (2)"), "{said}");
    assert!(said.contains("needs TGI's Messages API"), "{said}");
}

/// Six lines; the 2nd and 5th ask for two stop sequences, which an endpoint started with
/// `MAX_STOP_SEQUENCES=1` refuses.
fn stop_folder(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let lines: String = (1..=6)
        .map(|i| {
            let stop = if i == 2 || i == 5 {
                vec!["x", "y"]
            } else {
                vec!["x"]
            };
            let line = serde_json::json!({"inputs": format!("question {i}"),
                "parameters": {"max_new_tokens": 4, "stop": stop}});
            format!("{line}\n")
        })
        .collect();
    std::fs::write(dir.join("t.jsonl"), lines).unwrap();
}

#[test]
fn a_retry_of_the_failed_lines_on_another_endpoint_completes_the_first_job() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let input = h.join("stops");
    stop_folder(&input);
    let _serve = serve(h);
    let strict = ok(&ebb(
        h,
        &[
            "deploy",
            "--name",
            "batch-strict",
            "--env",
            "MAX_STOP_SEQUENCES=1",
        ],
    ));
    assert!(strict.contains("InService"), "{strict}");
    deploy(h, "batch-lenient");
    let first = submit_waited(h, input.to_str().unwrap(), "batch-strict", &[]);
    let parent = first["id"].as_str().unwrap().to_string();
    assert_eq!(
        (first["succeeded"].as_u64(), first["failed"].as_u64()),
        (Some(4), Some(2)),
        "{first}"
    );

    let retried: serde_json::Value = serde_json::from_str(&ok(&ebb(
        h,
        &[
            "--json",
            "retry",
            &parent,
            "--failed",
            "--endpoint",
            "batch-lenient",
            "--wait",
        ],
    )))
    .unwrap();
    assert_eq!(
        retried["total"].as_u64(),
        Some(2),
        "only the failed lines: {retried}"
    );
    assert_eq!(retried["succeeded"].as_u64(), Some(2), "{retried}");
    assert_eq!(
        retried["parent"].as_str(),
        Some(parent.as_str()),
        "{retried}"
    );

    // The first job now holds the newest answer of every line.
    let merged = job_summary(h, &parent);
    assert_eq!(
        (merged["succeeded"].as_u64(), merged["failed"].as_u64()),
        (Some(6), Some(0)),
        "{merged}"
    );
    assert_eq!(merged["headline"], "completed", "{merged}");
    let records = export(h, &parent, &h.join("merged.jsonl"));
    assert!(
        records.iter().all(|r| r["state"] == "succeeded"),
        "{records:?}"
    );
    // ... and line 2's history: it failed on the strict endpoint first.
    let status = ok(&ebb(h, &["status", "t.jsonl:2"]));
    assert!(
        status.contains(&format!("in job {parent} on batch-strict")),
        "{status}"
    );
    assert!(status.contains("succeeded at"), "{status}");
    assert!(
        status.contains(&format!("earlier, in job {parent}: failed")),
        "{status}"
    );
    assert!(
        status.contains("stop"),
        "the earlier error is kept: {status}"
    );

    // A retry's result files are its first job's, whole.
    let files = ok(&ebb(
        h,
        &[
            "results",
            retried["id"].as_str().unwrap(),
            "--out-dir",
            h.join("files").to_str().unwrap(),
        ],
    ));
    assert!(
        files.contains(&format!("is a retry of {parent}")),
        "{files}"
    );
    assert_eq!(read_lines(&h.join("files").join("t.out.jsonl")).len(), 6);

    let nothing = ebb(h, &["retry", &parent, "--failed"]);
    assert!(
        text(&nothing.stderr).contains("has no failed lines to retry"),
        "{}",
        text(&nothing.stderr)
    );
}

#[test]
fn a_cancel_stops_sending_at_once_and_still_collects_what_was_sent() {
    const N: usize = 3_000;
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let input = h.join("many");
    many_requests(&input, N);
    let _serve = serve(h);
    // 4 tokens at 2 simulated seconds each: 0.4 s a request at speed 20.
    let out = ok(&ebb(
        h,
        &[
            "deploy",
            "--name",
            "batch-cancel",
            "--env",
            "EBB_LOCAL_TOKEN_LATENCY_MS=2000",
        ],
    ));
    assert!(out.contains("InService"), "{out}");
    let (mut child, job) = spawn_submit(h, &input, "batch-cancel", 1);
    let start = Instant::now();
    loop {
        let j = job_summary(h, &job);
        if j["total"].as_u64().unwrap_or(0) - j["pending"].as_u64().unwrap_or(0) >= 5 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "nothing sent: {j}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let last = format!("many.jsonl:{N}");
    assert!(ok(&ebb(h, &["status", &last])).contains("not sent yet"));
    let cancelled: serde_json::Value =
        serde_json::from_str(&ok(&ebb(h, &["--json", "cancel", &job]))).unwrap();
    assert_eq!(cancelled["cancel"], "keep", "{cancelled}");
    // The waited run sees the cancel, sends nothing more and collects every result sent.
    let status = child.wait().unwrap();
    assert!(status.success(), "the run ends normally");
    let end = job_summary(h, &job);
    assert_eq!(end["state"], "cancelled", "{end}");
    let n = |k: &str| end[k].as_u64().unwrap_or(0);
    assert_eq!(
        (n("pending"), n("invoked")),
        (0, 0),
        "nothing left in between: {end}"
    );
    assert!(
        n("cancelled") > N as u64 / 2,
        "sending stopped early: {end}"
    );
    assert!(n("succeeded") >= 5, "{end}");
    assert_eq!(
        n("succeeded") + n("failed") + n("cancelled"),
        N as u64,
        "{end}"
    );
    assert!(ok(&ebb(h, &["status", &last])).contains("cancelled with its job"));
}

#[test]
fn a_dry_run_prices_a_job_within_its_stated_bounds() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let input = h.join("forty");
    many_requests(&input, 40);
    let _serve = serve(h);
    // 4 tokens at 10 simulated seconds: 2 s a request at speed 20, 10 at a time.
    let out = ok(&ebb(
        h,
        &[
            "deploy",
            "--name",
            "batch-price",
            "--env",
            "EBB_LOCAL_TOKEN_LATENCY_MS=10000",
        ],
    ));
    assert!(out.contains("InService"), "{out}");
    let folder = input.to_str().unwrap();
    let assumed = ok(&ebb(
        h,
        &["submit", folder, "--endpoint", "batch-price", "--dry-run"],
    ));
    assert!(assumed.contains("ASSUMED"), "{assumed}");
    assert!(
        ok(&ebb(h, &["--json", "jobs"])).trim() == "[]",
        "a dry run makes no job"
    );
    submit_waited(h, folder, "batch-price", &[]);
    let priced: serde_json::Value = serde_json::from_str(&ok(&ebb(
        h,
        &[
            "--json",
            "submit",
            folder,
            "--endpoint",
            "batch-price",
            "--dry-run",
        ],
    )))
    .unwrap();
    assert_eq!(priced["throughput"]["kind"], "measured", "{priced}");
    assert_eq!(priced["instance_type"], "ml.g5.12xlarge", "{priced}");
    assert!(
        priced["instance_usd"].as_f64().is_some_and(|u| u > 0.0),
        "{priced}"
    );
    let hours = priced["hours"].as_f64().unwrap();
    let factor = priced["bound_factor"].as_f64().unwrap();
    let second = submit_waited(h, folder, "batch-price", &[]);
    let took_h = (second["last_result_at"].as_f64().unwrap()
        - second["created_at"].as_f64().unwrap())
        / 3600.0;
    assert!(
        took_h >= hours / factor && took_h <= hours * factor,
        "estimated {hours} h (×/÷ {factor}), took {took_h} h"
    );
}

/// `openai.jsonl`: three OpenAI batch lines, the 2nd with more stop sequences than TGI takes;
/// `chat.jsonl`: two chat lines.
fn openai_and_chat_folder(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let messages =
        |i: usize| serde_json::json!([{"role": "user", "content": format!("question {i}")}]);
    let openai: String = (1..=3)
        .map(|i| {
            let stop: Vec<&str> = if i == 2 {
                vec!["a", "b", "c", "d", "e"]
            } else {
                vec![]
            };
            let line = serde_json::json!({"custom_id": format!("req-{i}"), "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"model": "tgi", "messages": messages(i), "max_tokens": 8, "stop": stop}});
            format!("{line}\n")
        })
        .collect();
    std::fs::write(dir.join("openai.jsonl"), openai).unwrap();
    let chat: String = (1..=2)
        .map(|i| {
            format!(
                "{}\n",
                serde_json::json!({"model": "tgi", "messages": messages(i), "max_tokens": 6})
            )
        })
        .collect();
    std::fs::write(dir.join("chat.jsonl"), chat).unwrap();
}

#[test]
fn openai_batch_and_chat_files_need_the_messages_api_and_come_back_openai_shaped() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let input = h.join("chat");
    openai_and_chat_folder(&input);
    let folder = input.to_str().unwrap();
    let _serve = serve(h);
    // The seed's TGI 1.1.0 has no Messages API: the job is refused before anything is sent.
    deploy(h, "batch-plain");
    let refused = ebb(h, &["submit", folder, "--endpoint", "batch-plain"]);
    assert!(!refused.status.success());
    let said = text(&refused.stderr);
    assert!(
        said.contains("does not take them") && said.contains("--messages-api"),
        "{said}"
    );
    assert!(
        ok(&ebb(h, &["--json", "jobs"])).trim() == "[]",
        "no job was made"
    );

    let chat = ok(&ebb(
        h,
        &[
            "deploy",
            "--name",
            "batch-chat",
            "--tgi-version",
            "2.3.1",
            "--messages-api",
        ],
    ));
    assert!(chat.contains("InService"), "{chat}");
    // With the Messages API on, TGI 2.3's /invocations takes chat only: TGI lines are refused.
    let tgi = h.join("tgi");
    many_requests(&tgi, 2);
    let refused = ebb(
        h,
        &["submit", tgi.to_str().unwrap(), "--endpoint", "batch-chat"],
    );
    assert!(
        text(&refused.stderr).contains("takes chat-completions bodies only"),
        "{}",
        text(&refused.stderr)
    );
    let summary = submit_waited(h, folder, "batch-chat", &[]);
    assert_eq!(
        (summary["succeeded"].as_u64(), summary["failed"].as_u64()),
        (Some(4), Some(1)),
        "{summary}"
    );
    let job = summary["id"].as_str().unwrap();
    let out = h.join("out");
    ok(&ebb(
        h,
        &["results", job, "--out-dir", out.to_str().unwrap()],
    ));

    let openai = read_lines(&out.join("openai.out.jsonl"));
    let ids: Vec<&str> = openai
        .iter()
        .map(|l| l["custom_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["req-1", "req-2", "req-3"]);
    assert_eq!(openai[0]["response"]["status_code"], 200, "{}", openai[0]);
    assert_eq!(
        openai[0]["response"]["body"]["object"], "chat.completion",
        "{}",
        openai[0]
    );
    let content = &openai[0]["response"]["body"]["choices"][0]["message"]["content"];
    assert!(
        content.as_str().is_some_and(|c| !c.is_empty()),
        "{}",
        openai[0]
    );
    assert!(openai[0]["error"].is_null());
    assert!(openai[1]["response"].is_null(), "{}", openai[1]);
    assert_eq!(openai[1]["error"]["code"], "validation", "{}", openai[1]);
    let chat = read_lines(&out.join("chat.out.jsonl"));
    assert_eq!(chat[1]["id"], "chat.jsonl:2");
    assert!(
        chat[1]["output"]["choices"][0]["message"]["content"].is_string(),
        "{}",
        chat[1]
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(
        manifest["tokens"]["answers_with_output_counts"], 4,
        "{manifest}"
    );
    assert!(
        manifest["tokens"]["output"].as_u64().is_some_and(|n| n > 0),
        "{manifest}"
    );
    let status = ok(&ebb(h, &["status", "req-3"]));
    assert!(status.contains("succeeded at"), "{status}");
}

/// Ids and file names beyond ASCII are sent (SageMaker's InferenceId is printable ASCII), and
/// result files never overwrite an input.
#[test]
fn names_beyond_ascii_are_sent_and_no_input_is_overwritten() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let input = h.join("été");
    std::fs::create_dir_all(&input).unwrap();
    let line = |id: &str| {
        format!(
            "{}\n",
            serde_json::json!({"inputs": "question", "parameters": {"max_new_tokens": 4}, "key": id})
        )
    };
    std::fs::write(
        input.join("prompts – été 2026.jsonl"),
        line("日本語-id-3") + &line("naïve id"),
    )
    .unwrap();
    // An input that happens to be named as Ebb's errors file.
    let errors_input = line("e-1");
    std::fs::write(input.join("errors.jsonl"), &errors_input).unwrap();
    let _serve = serve(h);
    deploy(h, "batch-names");
    let folder = input.to_str().unwrap();
    let summary = submit_waited(h, folder, "batch-names", &["--id-field", "key"]);
    assert_eq!(summary["succeeded"].as_u64(), Some(3), "{summary}");
    let status = ok(&ebb(h, &["status", "日本語-id-3"]));
    assert!(status.contains("succeeded at"), "{status}");
    let job = summary["id"].as_str().unwrap();
    let refused = ebb(h, &["results", job, "--out-dir", folder]);
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("is one of the job's inputs"),
        "{}",
        text(&refused.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(input.join("errors.jsonl")).unwrap(),
        errors_input
    );
    assert!(!input.join("manifest.json").exists(), "nothing was written");
}
