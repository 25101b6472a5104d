//! Folder-of-JSONL jobs as a user runs them: the article's 19 files end to end in local mode,
//! exact problems for bad input, and a `kill -9` in the middle of a job followed by `resume`.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use ebb_testkit::{AWS_VARS, LocalServe, Moto};

mod common;

use common::*;

#[test]
fn the_articles_nineteen_files_go_through_end_to_end() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let _serve = serve(h);
    deploy(h, "jobs-demo");
    let demo = ebb_testkit::repo_root().join("demo");
    let summary = submit_waited(h, demo.to_str().unwrap(), "jobs-demo", &[]);
    assert_eq!(summary["state"], "done", "{summary}");
    assert_eq!(
        (summary["total"].as_u64(), summary["succeeded"].as_u64()),
        (Some(19), Some(19))
    );
    let job = summary["id"].as_str().unwrap().to_string();

    // Results are aligned with the input: one record per file and line, with the output text.
    let records = export(h, &job, &home.path().join("results.jsonl"));
    assert_eq!(records.len(), 19);
    // Each record is the line it always was: keys sorted, the input compact with its keys
    // sorted (records were once built as `serde_json::Value`s, whose maps sort).
    let raw = std::fs::read_to_string(home.path().join("results.jsonl")).unwrap();
    let first = raw.lines().next().unwrap();
    assert!(first.starts_with(r#"{"answer":"#), "{first}");
    assert!(
        first.contains(concat!(
            r#","error":null,"file":"input_1.jsonl","id":"input_1.jsonl:1","#,
            r#""input":{"inputs":"What is the capital of the United States?","parameters":"#,
            r#"{"early_stopping":true,"length_penalty":2.0,"max_new_tokens":50,"min_length":10,"#,
            r#""no_repeat_ngram_size":3,"temperature":1}},"line":1,"output":""#
        )),
        "{first}"
    );
    assert!(first.ends_with(r#","state":"succeeded"}"#), "{first}");
    // Not a terminal: no progress line on stderr, and no temporary file left.
    let again = ebb(
        h,
        &[
            "results",
            &job,
            "--out",
            home.path().join("again.jsonl").to_str().unwrap(),
        ],
    );
    assert!(again.status.success());
    assert!(
        !text(&again.stderr).contains("rows"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(home.path().join("again.jsonl")).unwrap(),
        raw
    );
    assert!(!home.path().join("again.partial").exists());
    assert_eq!(records[0]["file"], "input_1.jsonl");
    assert_eq!(records[0]["line"], 1);
    assert_eq!(
        records[0]["input"]["inputs"],
        "What is the capital of the United States?"
    );
    assert!(
        records
            .iter()
            .all(|r| r["state"] == "succeeded"
                && r["output"].as_str().is_some_and(|o| !o.is_empty()))
    );
    let csv_path = home.path().join("results.csv");
    ok(&ebb(
        h,
        &["results", &job, "--out", csv_path.to_str().unwrap()],
    ));
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    assert!(
        csv.starts_with(concat!(
            r#""id","file","line","state","input","output","error","answer""#,
            "\n",
            r#""input_1.jsonl:1","input_1.jsonl",1,"succeeded","{"#
        )),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 20);

    let listed = ok(&ebb(h, &["jobs"]));
    assert!(
        listed.contains(&job) && listed.contains("completed"),
        "{listed}"
    );
}

#[test]
fn bad_lines_are_named_exactly_and_nothing_is_sent_unless_asked() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let input = home.path().join("input");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(input.join("a.jsonl"), b"\xEF\xBB\xBF{\"inputs\": \"one\"}\r\n\r\n{\"inputs\": \"two\"}\r\n{\"inputs\": \"three\"\n").unwrap();
    std::fs::write(
        input.join("b.jsonl"),
        b"[\"not\", \"an object\"]\n\n{\"inputs\": \"four\"}\n",
    )
    .unwrap();
    let _serve = serve(h);
    deploy(h, "jobs-bad");
    let dir = input.to_str().unwrap();
    let refused = ebb(h, &["submit", dir, "--endpoint", "jobs-bad"]);
    assert!(!refused.status.success());
    let err = text(&refused.stderr);
    assert!(
        err.contains("a.jsonl:4:18: invalid JSON: EOF while parsing an object"),
        "{err}"
    );
    assert!(
        err.contains("b.jsonl:1:1: not a JSON object but an array"),
        "{err}"
    );
    assert!(
        err.contains("fix the files, or submit the 3 valid requests only"),
        "{err}"
    );
    assert!(ok(&ebb(h, &["jobs"])).contains("no jobs yet"));

    let summary = submit_waited(h, dir, "jobs-bad", &["--valid-only"]);
    assert_eq!(
        (summary["total"].as_u64(), summary["succeeded"].as_u64()),
        (Some(3), Some(3)),
        "{summary}"
    );
    let records = export(
        h,
        summary["id"].as_str().unwrap(),
        &home.path().join("r.jsonl"),
    );
    let at: Vec<(String, u64)> = records
        .iter()
        .map(|r| {
            (
                r["file"].as_str().unwrap().to_string(),
                r["line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        at,
        [
            ("a.jsonl".into(), 1),
            ("a.jsonl".into(), 3),
            ("b.jsonl".into(), 3)
        ]
    );
}

/// Waits until `job` has at least `n` results, failing after a minute.
fn wait_for_results(home: &Path, job: &str, n: u64) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let j = job_summary(home, job);
        if j["succeeded"].as_u64().unwrap_or(0) >= n {
            return j;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no progress: {j}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One job, one runner. Two `ebb resume` started at once on one job: one runs it, the other
/// refuses and names the process that runs it (and leaves its in-flight requests alone). Once
/// that process is killed (-9), a resume takes the job over and every line has one result.
#[test]
fn two_processes_on_one_job_one_runs_it_and_the_other_says_why_not() {
    const N: usize = 400;
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let input = h.join("lease");
    many_requests(&input, N);
    let _serve = serve(h);
    deploy_slow(h, "jobs-lease");
    let (mut first, job) = spawn_submit(h, &input, "jobs-lease", 4);
    wait_for_results(h, &job, 10);
    first.kill().unwrap();
    first.wait().unwrap();

    let resume = || {
        ebb_cmd(h)
            .args(["resume", &job, "--wait"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut runners = [resume(), resume()];
    let loser = loop {
        if let Some(i) = (0..2).find(|&i| runners[i].try_wait().unwrap().is_some()) {
            break i;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let winner = runners[1 - loser].id();
    let mut said = String::new();
    let mut stderr = runners[loser].stderr.take().unwrap();
    std::io::Read::read_to_string(&mut stderr, &mut said).unwrap();
    assert!(!runners[loser].wait().unwrap().success(), "{said}");
    assert!(
        said.contains(&format!(
            "job {job} is already running in process {winner} "
        )),
        "{said}"
    );
    assert!(
        runners[1 - loser].try_wait().unwrap().is_none(),
        "the runner stopped"
    );
    let before = wait_for_results(h, &job, 30)["succeeded"].as_u64().unwrap();
    assert!(
        before < N as u64,
        "the job ended before the owner could be killed"
    );
    runners[1 - loser].kill().unwrap();
    runners[1 - loser].wait().unwrap();
    let out = ok(&ebb(h, &["--json", "resume", &job, "--wait"]));
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["state"], "done", "{summary}");
    let records = export(h, &job, &h.join("all.jsonl"));
    every_line_once_with_an_output(&records, N);
}

#[test]
fn a_killed_submit_resumes_with_every_request_accounted_for_once() {
    const N: usize = 5_000;
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let input = home.path().join("many");
    many_requests(&input, N);
    let _serve = serve(h);
    deploy(h, "jobs-kill");
    let (mut child, job) = spawn_submit(h, &input, "jobs-kill", 16);
    // Kill it hard once it is well into the job.
    let start = Instant::now();
    loop {
        let j: serde_json::Value =
            serde_json::from_str(&ok(&ebb(h, &["--json", "job", &job]))).unwrap();
        let done = j["succeeded"].as_u64().unwrap_or(0);
        if done >= 200 {
            assert!(
                done < N as u64,
                "the job finished before it could be killed"
            );
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no progress: {j}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let out = ok(&ebb(h, &["--json", "resume", &job, "--wait"]));
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["state"], "done", "{summary}");
    assert_eq!(summary["succeeded"].as_u64(), Some(N as u64), "{summary}");
    let records = export(h, &job, &home.path().join("all.jsonl"));
    every_line_once_with_an_output(&records, N);
}

#[test]
fn against_moto_failures_are_recorded_as_failures() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let env = moto.env();
    let run = |args: &[&str]| ebb_cmd(h).envs(env).args(args).output().expect("run ebb");
    ok(&run(&[
        "settings",
        "set",
        "role_arn",
        "arn:aws:iam::123456789012:role/SmRole",
    ]));
    ok(&run(&["settings", "set", "bucket", "ebb-jobs-moto"]));
    moto.request("PUT", "/ebb-jobs-moto", "");
    ok(&run(&[
        "deploy",
        "--name",
        "jobs-moto",
        "--instance-type",
        "ml.g4dn.12xlarge",
        "--env",
        "SM_NUM_GPUS=4",
    ]));
    // moto answers each input location with the next result of this queue.
    moto.request(
        "POST",
        "/moto-api/static/sagemaker/async-endpoint-results",
        r#"{"results": [
            {"data": "[{\"generated_text\": \"Washington, D.C.\"}]"},
            {"is_failure": true, "data": "CUDA out of memory"},
            {"data": "[{\"generated_text\": \"Paris\"}]"}
        ]}"#,
    );
    // The test's own files stay outside the home, which is checked for privacy below.
    let mine = tempfile::tempdir().unwrap();
    let input = mine.path().join("three.jsonl");
    std::fs::write(
        &input,
        "{\"inputs\": \"a\"}\n{\"inputs\": \"b\"}\n{\"inputs\": \"c\"}\n",
    )
    .unwrap();
    // Inline bodies have no input location for moto to tell apart: upload them.
    let out = ok(&run(&[
        "--json",
        "submit",
        input.to_str().unwrap(),
        "--endpoint",
        "jobs-moto",
        "--upload-all",
        "--concurrency",
        "1",
        "--wait",
    ]));
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (summary["succeeded"].as_u64(), summary["failed"].as_u64()),
        (Some(2), Some(1)),
        "{summary}"
    );
    let shown = ok(&run(&["job", summary["id"].as_str().unwrap()]));
    assert!(
        shown.contains("three.jsonl:2: CUDA out of memory"),
        "{shown}"
    );
    let records = export(
        h,
        summary["id"].as_str().unwrap(),
        &mine.path().join("r.jsonl"),
    );
    assert_eq!(records[0]["output"], "Washington, D.C.");
    assert_eq!(records[1]["error"], "CUDA out of memory");
    assert_eq!(records[2]["output"], "Paris");
    // The job store holds requests and results, never the secret key, and only for its owner.
    ebb_testkit::assert_private(h, ebb_testkit::MOTO_SECRET);
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// A local run (deploy, submit, results) leaves every folder and file in the home its owner's
/// alone (prompts and answers in the local cloud's data, the job store, logs, keys), tightens
/// what an older Ebb left readable, and gives the export the user asked for the user's mode.
#[cfg(unix)]
#[test]
fn a_local_run_leaves_nothing_readable_by_others_in_the_home() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    // As an Ebb before this rule left it: the home and a log readable by everyone.
    std::fs::create_dir_all(h.join("logs")).unwrap();
    std::fs::write(h.join("logs/cli.log.1"), "an old log line\n").unwrap();
    for (p, m) in [(h.join("logs/cli.log.1"), 0o644), (h.join("logs"), 0o755)] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(m)).unwrap();
    }
    std::fs::set_permissions(h, std::fs::Permissions::from_mode(0o755)).unwrap();

    let serve = serve(h);
    deploy(h, "private");
    let demo = ebb_testkit::repo_root().join("demo");
    let summary = submit_waited(h, demo.to_str().unwrap(), "private", &["--upload-all"]);
    assert_eq!(summary["state"], "done", "{summary}");
    let mine = tempfile::tempdir().unwrap();
    let csv = mine.path().join("results.csv");
    ok(&ebb(
        h,
        &[
            "results",
            summary["id"].as_str().unwrap(),
            "--out",
            csv.to_str().unwrap(),
        ],
    ));
    assert!(serve.terminate().success());
    // The export is the user's: the mode this test's own umask gives a new file.
    let probe = mine.path().join("probe");
    std::fs::write(&probe, "").unwrap();
    assert_eq!(mode(&csv), mode(&probe));
    for made in ["local/data", "jobs.sqlite", "local/credentials.json"] {
        assert!(h.join(made).exists(), "{made} was not made");
    }
    let logged = std::fs::read_dir(h.join("logs")).unwrap().any(|f| {
        let name = f.unwrap().file_name().to_string_lossy().into_owned();
        name.starts_with("cli.2") && name.ends_with(".log")
    });
    assert!(logged, "no dated cli log was made");
    ebb_testkit::assert_private(h, "no AWS secret in a local run");
}

#[test]
fn a_job_can_be_cancelled_for_good() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let _serve = serve(h);
    // A model that never answers in time: results stay pending.
    let out = ok(&ebb(
        h,
        &[
            "deploy",
            "--name",
            "jobs-slow",
            "--env",
            "EBB_LOCAL_TOKEN_LATENCY_MS=600000",
            // Its smoke test would rightly fail (see tests/diagnose.rs).
            "--no-smoke-test",
        ],
    ));
    assert!(out.contains("InService"), "{out}");
    let demo = ebb_testkit::repo_root().join("demo");
    let out = ok(&ebb(
        h,
        &[
            "--json",
            "submit",
            demo.to_str().unwrap(),
            "--endpoint",
            "jobs-slow",
        ],
    ));
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["state"], "collecting", "{summary}");
    let job = summary["id"].as_str().unwrap();
    let queued = ok(&ebb(h, &["status", "input_3.jsonl:1"]));
    assert!(queued.contains("queued at the endpoint since"), "{queued}");
    // Sent requests cannot be taken back: by default their results are still collected.
    let kept: serde_json::Value =
        serde_json::from_str(&ok(&ebb(h, &["--json", "cancel", job]))).unwrap();
    assert_eq!(kept["state"], "collecting", "{kept}");
    assert_eq!(kept["cancel"], "keep", "{kept}");
    assert_eq!(kept["invoked"].as_u64(), Some(19), "{kept}");
    assert_eq!(
        kept["headline"], "cancelled: collecting the 19 already sent",
        "{kept}"
    );
    // --discard stops collecting too: the job is over, its 19 requests cancelled.
    let discarded: serde_json::Value =
        serde_json::from_str(&ok(&ebb(h, &["--json", "cancel", job, "--discard"]))).unwrap();
    assert_eq!(discarded["state"], "cancelled", "{discarded}");
    assert_eq!(discarded["cancelled"].as_u64(), Some(19), "{discarded}");
    assert_eq!(discarded["invoked"].as_u64(), Some(0), "{discarded}");
    let again = ebb(h, &["cancel", job]);
    assert!(
        text(&again.stderr).contains("is already cancelled"),
        "{}",
        text(&again.stderr)
    );
    let resumed: serde_json::Value =
        serde_json::from_str(&ok(&ebb(h, &["--json", "resume", job]))).unwrap();
    assert_eq!(resumed["state"], "cancelled");
    let missing = ebb(h, &["cancel", "job-nope"]);
    assert!(
        text(&missing.stderr).contains("there is no job job-nope"),
        "{}",
        text(&missing.stderr)
    );
}

/// Every line of the input exactly once, each with an output.
fn every_line_once_with_an_output(records: &[serde_json::Value], n: usize) {
    assert_eq!(records.len(), n);
    let lines: Vec<u64> = records
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(
        lines,
        (1..=n as u64).collect::<Vec<_>>(),
        "every line exactly once, in order"
    );
    for r in records {
        assert!(r["output"].as_str().is_some_and(|o| !o.is_empty()), "{r}");
    }
}

#[test]
fn ten_thousand_requests_through_errors_throttling_and_latency_all_arrive_once() {
    const N: usize = 10_000;
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let input = h.join("many");
    many_requests(&input, N);
    // Deployed on a healthy cloud; then the same cloud restarted with faults on every API.
    let _faulty = deployed_then_restarted(
        h,
        "jobs-faults",
        &[
            "--speed",
            "1000",
            "--fault",
            "*=error:0.05,throttle:0.05,latency:2",
        ],
    );
    let out = ok(&ebb(
        h,
        &[
            "submit",
            input.to_str().unwrap(),
            "--endpoint",
            "jobs-faults",
            "--wait",
        ],
    ));
    // The run says what it had to do again: one call in ten is refused at first.
    let again: u64 = out
        .lines()
        .find_map(|l| {
            l.trim().strip_suffix(
                " calls were made again after throttling, server errors or dropped connections",
            )
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no retry count in: {out}"));
    assert!(again > N as u64 / 50, "{out}");
    let job = &job_id(&out);
    let summary = job_summary(h, job);
    assert_eq!(summary["state"], "done", "{summary}");
    assert_eq!(summary["succeeded"].as_u64(), Some(N as u64), "{summary}");
    let records = export(h, job, &h.join("all.jsonl"));
    every_line_once_with_an_output(&records, N);
}

/// Requests put back after throttling are sent again in the same run: a `--wait` job never
/// ends paused with requests left unsent because the first pass found the queue empty.
#[test]
fn a_waited_job_under_heavy_throttling_sends_every_request() {
    const N: usize = 300;
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let input = h.join("throttled");
    many_requests(&input, N);
    let _throttled = deployed_then_restarted(
        h,
        "jobs-throttled",
        &[
            "--speed",
            "1000",
            "--fault",
            "runtime:InvokeEndpointAsync=throttle:0.6",
        ],
    );
    let out = ok(&ebb(
        h,
        &[
            "submit",
            input.to_str().unwrap(),
            "--endpoint",
            "jobs-throttled",
            "--wait",
        ],
    ));
    let job = &job_id(&out);
    let summary = job_summary(h, job);
    // Done by itself, nothing left unsent: each request succeeded or used up its tries.
    assert_eq!(summary["state"], "done", "{out}\n{summary}");
    assert_eq!(summary["pending"].as_u64(), Some(0), "{summary}");
    let (succeeded, failed) = (summary["succeeded"].as_u64(), summary["failed"].as_u64());
    assert_eq!(
        succeeded.unwrap_or(0) + failed.unwrap_or(0),
        N as u64,
        "{summary}"
    );
    let records = export(h, job, &h.join("all.jsonl"));
    let lines: Vec<u64> = records.iter().filter_map(|r| r["line"].as_u64()).collect();
    assert_eq!(lines, (1..=N as u64).collect::<Vec<_>>(), "each line once");
    for r in &records {
        let answered = r["output"].as_str().is_some_and(|o| !o.is_empty());
        let gave_up = r["error"]
            .as_str()
            .is_some_and(|e| e.contains("after 8 tries"));
        assert!(answered || gave_up, "{r}");
    }
}

#[test]
fn a_submit_killed_while_collecting_resumes_and_collects_each_result_once() {
    const N: usize = 2_000;
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let input = h.join("many");
    many_requests(&input, N);
    let _serve = serve(h);
    // Sending ends long before the results do.
    deploy_slow(h, "jobs-collect");
    let mut child = ebb_cmd(h)
        .args([
            "--json",
            "submit",
            input.to_str().unwrap(),
            "--endpoint",
            "jobs-collect",
            "--wait",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let job = loop {
        let jobs: serde_json::Value =
            serde_json::from_str(&ok(&ebb(h, &["--json", "jobs"]))).unwrap();
        let j = &jobs[0];
        let (pending, done) = (j["pending"].as_u64(), j["succeeded"].as_u64());
        if pending == Some(0) && done.is_some_and(|d| d >= 100) {
            assert!(
                done < Some(N as u64),
                "collecting ended before the kill: {j}"
            );
            break j["id"].as_str().unwrap().to_string();
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "no progress: {jobs}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let out = ok(&ebb(h, &["--json", "resume", &job, "--wait"]));
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["state"], "done", "{summary}");
    assert_eq!(summary["succeeded"].as_u64(), Some(N as u64), "{summary}");
    // Nothing was sent twice: every request was accepted before the kill.
    assert_eq!(summary["retried"].as_u64(), Some(0), "{summary}");
    let records = export(h, &job, &h.join("all.jsonl"));
    every_line_once_with_an_output(&records, N);
}

#[test]
fn a_job_survives_the_local_cloud_being_killed_and_restarted() {
    const N: usize = 1_000;
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let input = h.join("many");
    many_requests(&input, N);
    let first = serve(h);
    let addr = first.url().trim_start_matches("http://").to_string();
    deploy_slow(h, "jobs-crash");
    let submit = ebb_cmd(h)
        .args([
            "submit",
            input.to_str().unwrap(),
            "--endpoint",
            "jobs-crash",
            "--wait",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        let jobs: serde_json::Value =
            serde_json::from_str(&ok(&ebb(h, &["--json", "jobs"]))).unwrap();
        if jobs[0]["succeeded"].as_u64().is_some_and(|d| d >= 100) {
            assert!(jobs[0]["succeeded"].as_u64() < Some(N as u64), "{jobs}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no progress: {jobs}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The cloud dies mid-job and comes back on the same address a moment later; the job,
    // still running, carries on.
    first.kill();
    std::thread::sleep(Duration::from_secs(1));
    let _second = LocalServe::start_at(
        Path::new(env!("CARGO_BIN_EXE_ebb")),
        h,
        &addr,
        &["--speed", "20"],
    );
    let out = submit.wait_with_output().unwrap();
    let printed = text(&out.stdout);
    assert!(out.status.success(), "{printed}");
    let job = &job_id(&printed);
    let summary = job_summary(h, job);
    assert_eq!(summary["state"], "done", "{summary}");
    assert_eq!(summary["succeeded"].as_u64(), Some(N as u64), "{summary}");
    let records = export(h, job, &h.join("all.jsonl"));
    every_line_once_with_an_output(&records, N);
}

/// A `credential_process` that hands out the local cloud's keys until the epoch second in the
/// `deadline` file (as their expiry), and after it fails as an expired session does (the SDK
/// reports that as a dispatch failure). Returns the deadline file.
fn expiring_profile(home: &Path, cloud: &LocalServe, valid_s: u64) -> std::path::PathBuf {
    let aws = home.join("aws");
    std::fs::create_dir_all(&aws).unwrap();
    let deadline = aws.join("deadline");
    let script = aws.join("creds.sh");
    let field = |k: &str| cloud.info[k].as_str().unwrap().to_string();
    let body = format!(
        r#"#!/bin/sh
end=$(cat '{deadline}')
if [ "$(date +%s)" -ge "$end" ]; then echo 'the SSO session has expired' >&2; exit 1; fi
printf '{{"Version":1,"AccessKeyId":"%s","SecretAccessKey":"%s","Expiration":"%s"}}' \
  '{key}' '{secret}' "$(date -u -d @$end +%Y-%m-%dT%H:%M:%SZ)"
"#,
        deadline = deadline.display(),
        key = field("access_key_id"),
        secret = field("secret_access_key"),
    );
    std::fs::write(&script, body).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        aws.join("config"),
        format!(
            "[profile expiring]\nregion = us-east-1\ncredential_process = {}\n",
            script.display()
        ),
    )
    .unwrap();
    valid_until(&deadline, valid_s);
    deadline
}

/// Sets the deadline `valid_s` seconds from now.
fn valid_until(deadline: &Path, valid_s: u64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    std::fs::write(deadline, (now + valid_s).to_string()).unwrap();
}

/// Credentials that expire mid-job pause it at once with the command that fixes it; no
/// request is burnt as "failed", and after signing in again `resume` finishes the job.
#[test]
fn credentials_that_expire_mid_job_pause_it_and_lose_nothing() {
    const N: usize = 200;
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let input = h.join("expiring");
    many_requests(&input, N);
    // Slow sends, so the credentials run out while the job is still sending.
    let cloud = deployed_then_restarted(
        h,
        "jobs-expiring",
        &[
            "--speed",
            "1000",
            "--fault",
            "runtime:InvokeEndpointAsync=latency:150",
        ],
    );
    let deadline = expiring_profile(h, &cloud, 15);
    let aws = [
        "--endpoint-url",
        cloud.info["endpoint_url"].as_str().unwrap(),
        "--profile",
        "expiring",
    ];
    let mut args = aws.to_vec();
    let folder = input.to_str().unwrap();
    args.extend([
        "submit",
        folder,
        "--endpoint",
        "jobs-expiring",
        "--concurrency",
        "2",
        "--wait",
    ]);
    let out = ebb(h, &args);
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    let job = &job_id(&said);
    let summary = job_summary(h, job);
    assert_eq!(summary["state"], "paused", "{said}\n{summary}");
    assert_eq!(summary["failed"].as_u64(), Some(0), "{summary}");
    assert!(summary["pending"].as_u64().unwrap_or(0) > 0, "{summary}");
    let note = summary["note"].as_str().unwrap_or_default();
    assert!(note.contains("profile expiring expired"), "{note}");
    assert!(note.contains("aws sso login --profile expiring"), "{note}");
    // Signed in again: the job carries on and every line gets its output once.
    valid_until(&deadline, 3600);
    let mut again = aws.to_vec();
    again.extend(["resume", job.as_str(), "--wait"]);
    ok(&ebb(h, &again));
    every_line_once_with_an_output(&export(h, job, &h.join("all.jsonl")), N);
}

/// A large request line on a slow uplink: its upload gets time for its size instead of the
/// 20 s every small call gets, so it is not cut off and sent again from the start.
#[test]
fn a_large_line_on_a_slow_uplink_is_uploaded_once() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let input = h.join("large");
    std::fs::create_dir_all(&input).unwrap();
    // 1 MB of prompt: over the inline limit, so it is put in S3 first.
    let prompt = "word ".repeat(200_000);
    std::fs::write(
        input.join("large.jsonl"),
        format!("{{\"inputs\": \"{prompt}\", \"parameters\": {{\"max_new_tokens\": 4}}}}\n"),
    )
    .unwrap();
    // Each PUT takes 22 s to be taken in, as 1 MB would at about 45 kB/s.
    let _slow = deployed_then_restarted(
        h,
        "jobs-slow-uplink",
        &["--speed", "1000", "--fault", "s3:PUT=latency:22000"],
    );
    let out = ok(&ebb(
        h,
        &[
            "submit",
            input.to_str().unwrap(),
            "--endpoint",
            "jobs-slow-uplink",
            "--wait",
        ],
    ));
    let job = &job_id(&out);
    let summary = job_summary(h, job);
    // Uploaded and invoked once (the built-in model may still refuse a prompt this long).
    assert_eq!(summary["total"].as_u64(), Some(1), "{summary}");
    assert_eq!(
        summary["retried"].as_u64(),
        Some(0),
        "sent more than once: {summary}"
    );
    assert!(!out.contains("calls were made again"), "{out}");
    let records = export(h, job, &h.join("large.out.jsonl"));
    let error = records[0]["error"].as_str().unwrap_or_default();
    assert!(!error.contains("not accepted"), "{error}");
}

/// TGI's `details` (tokens, finish reason) are kept with the result: the text for the table,
/// the whole answer in the export.
#[test]
fn answers_with_details_keep_them() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let input = h.join("details");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(
        input.join("d.jsonl"),
        concat!(
            r#"{"inputs": "Capital of France?", "parameters": {"max_new_tokens": 3, "details": true}}"#,
            "\n",
            r#"{"inputs": "Capital of France?", "parameters": {"max_new_tokens": 3}}"#,
            "\n"
        ),
    )
    .unwrap();
    let _cloud = serve(h);
    deploy(h, "jobs-details");
    let out = ok(&ebb(
        h,
        &[
            "submit",
            input.to_str().unwrap(),
            "--endpoint",
            "jobs-details",
            "--wait",
        ],
    ));
    let job = &job_id(&out);
    let records = export(h, job, &h.join("details.jsonl"));
    assert_eq!(records.len(), 2);
    let details = &records[0]["answer"][0]["details"];
    assert_eq!(details["finish_reason"], "length", "{}", records[0]);
    assert_eq!(
        details["tokens"].as_array().map(Vec::len),
        Some(3),
        "{details}"
    );
    // The table's text is the same either way; a plain answer adds nothing to keep.
    assert_eq!(records[0]["output"], records[1]["output"]);
    assert!(records[1]["answer"].is_null(), "{}", records[1]);
}

/// Runs `ebb` and gives up after `limit`: a job that waits forever fails the test instead of
/// hanging it.
fn ebb_within(home: &Path, args: &[&str], limit: Duration) -> Output {
    let mut child = ebb_cmd(home)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ebb");
    let started = Instant::now();
    while child.try_wait().expect("wait for ebb").is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("collect ebb's output");
            panic!(
                "ebb {args:?} still running after {limit:?}: {}{}",
                text(&out.stdout),
                text(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    child.wait_with_output().expect("collect ebb's output")
}

/// The AWS-like local cloud names failure objects apart from outputs (SageMaker documents no
/// name for them): failures are found where InvokeEndpointAsync said they would be.
#[test]
fn failures_are_found_where_sagemaker_said_whatever_their_name() {
    const N: usize = 10;
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let input = h.join("mixed");
    std::fs::create_dir_all(&input).unwrap();
    let lines: String = (1..=N)
        .map(|i| match i {
            // TGI refuses a temperature of 0 (422).
            3 | 7 => "{\"inputs\": \"Hello\", \"parameters\": {\"temperature\": 0}}\n".to_string(),
            _ => format!(
                "{{\"inputs\": \"question {i}\", \"parameters\": {{\"max_new_tokens\": 4}}}}\n"
            ),
        })
        .collect();
    std::fs::write(input.join("mixed.jsonl"), lines).unwrap();
    let _aws_like =
        deployed_then_restarted(h, "jobs-failure-names", &["--speed", "1000", "--aws-like"]);
    let out = ebb_within(
        h,
        &[
            "submit",
            input.to_str().unwrap(),
            "--endpoint",
            "jobs-failure-names",
            "--wait",
        ],
        Duration::from_secs(120),
    );
    let said = ok(&out);
    let job = &job_id(&said);
    let summary = job_summary(h, job);
    assert_eq!(summary["state"], "done", "{summary}");
    assert_eq!(
        summary["succeeded"].as_u64(),
        Some(N as u64 - 2),
        "{summary}"
    );
    assert_eq!(summary["failed"].as_u64(), Some(2), "{summary}");
    let records = export(h, job, &h.join("mixed.out.jsonl"));
    for line in [3, 7] {
        let error = records[line - 1]["error"].as_str().unwrap_or_default();
        assert!(error.contains("temperature"), "line {line}: {error}");
    }
}

/// Answers lost or spoiled after the endpoint took the request make the SDK send it again, so
/// the endpoint really processes some requests twice (the AWS-like cloud counts them); the
/// job still holds each line exactly once, and no more invocations were repeated than the run
/// says it sent again.
#[test]
fn answers_lost_after_acceptance_make_duplicates_at_the_endpoint_not_in_the_job() {
    const N: usize = 400;
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let input = h.join("lost");
    many_requests(&input, N);
    let fault = "runtime:InvokeEndpointAsync=lost:0.05,error-after:0.05";
    let _faulty = deployed_then_restarted(
        h,
        "jobs-lost",
        &["--speed", "1000", "--aws-like", "--fault", fault],
    );
    let folder = input.to_str().unwrap();
    let out = ok(&ebb(
        h,
        &["submit", folder, "--endpoint", "jobs-lost", "--wait"],
    ));
    let job = &job_id(&out);
    every_line_once_with_an_output(&export(h, job, &h.join("lost.out.jsonl")), N);
    let again: usize = out
        .lines()
        .find_map(|l| {
            l.trim().strip_suffix(
                " calls were made again after throttling, server errors or dropped connections",
            )
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let counted = std::fs::read_to_string(h.join("local/data/duplicate-invocations.jsonl"))
        .unwrap_or_default();
    let duplicates = counted
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|d| d["endpoint"] == "jobs-lost")
        .count();
    eprintln!(
        "{duplicates} requests were processed more than once by the endpoint; {again} calls made again"
    );
    assert!(
        duplicates > 0,
        "the faults should make the endpoint see repeats: {out}"
    );
    assert!(
        duplicates <= again,
        "{duplicates} repeats, {again} calls made again: {out}"
    );
}

/// Runs `script` with boto3 as another local account (STS AssumeRole into
/// `arn:aws:iam::111111111111:role/Stranger`), `bucket` as its argument; its one JSON line.
fn as_stranger(cloud: &LocalServe, script: &str, bucket: &str) -> serde_json::Value {
    let prelude = r#"
import json, sys, boto3
url, key, secret, bucket = sys.argv[1:5]
sts = boto3.client("sts", endpoint_url=url, region_name="us-east-1",
                   aws_access_key_id=key, aws_secret_access_key=secret)
c = sts.assume_role(RoleArn="arn:aws:iam::111111111111:role/Stranger",
                    RoleSessionName="stranger")["Credentials"]
s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                  aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                  aws_session_token=c["SessionToken"])
"#;
    let field = |k: &str| cloud.info[k].as_str().unwrap().to_string();
    let mut cmd = Command::new(ebb_testkit::venv_python());
    for var in AWS_VARS {
        cmd.env_remove(var);
    }
    let out = cmd
        .arg("-c")
        .arg(format!("{prelude}{script}"))
        .args([
            cloud.url(),
            field("access_key_id"),
            field("secret_access_key"),
            bucket.to_string(),
        ])
        .output()
        .expect("run python");
    ebb_testkit::json_line(&out)
}

/// A job bucket that another account owns (the default name taken by a stranger, say) is
/// refused by `ebb doctor`, `ebb deploy` and `ebb submit` with one sentence, and nothing is
/// uploaded to it.
#[test]
fn a_bucket_of_another_account_is_refused_and_nothing_is_uploaded() {
    const THEIRS: &str = "strangers-bucket";
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let cloud = serve(h);
    deploy(h, "jobs-owner");
    let made = as_stranger(
        &cloud,
        "s3.create_bucket(Bucket=bucket)\nprint(json.dumps({'ok': True}))",
        THEIRS,
    );
    assert_eq!(made["ok"], true, "{made}");
    ok(&ebb(h, &["settings", "set", "bucket", THEIRS]));
    let sentence =
        format!("s3://{THEIRS} belongs to another AWS account, not yours (000000000000)");

    let doctor = ebb(h, &["doctor"]);
    let report = text(&doctor.stdout);
    assert!(!doctor.status.success(), "{report}");
    assert!(report.contains(&sentence), "{report}");
    assert!(
        report.contains("choose a bucket you own in Settings"),
        "{report}"
    );

    let deployed = ebb(h, &["deploy", "--name", "jobs-theirs"]);
    assert!(!deployed.status.success());
    let said = text(&deployed.stderr);
    assert!(said.contains(&sentence), "{said}");
    let endpoints = ok(&ebb(h, &["endpoints"]));
    assert!(!endpoints.contains("jobs-theirs"), "{endpoints}");

    let demo = ebb_testkit::repo_root().join("demo");
    let submitted = ebb(
        h,
        &[
            "submit",
            demo.to_str().unwrap(),
            "--endpoint",
            "jobs-owner",
            "--upload-all",
        ],
    );
    assert!(!submitted.status.success(), "{}", text(&submitted.stdout));
    let said = text(&submitted.stderr);
    assert!(said.contains(&sentence), "{said}");
    assert!(
        said.contains("choose a bucket you own in Settings"),
        "{said}"
    );

    let listed = as_stranger(
        &cloud,
        "keys = [o['Key'] for o in s3.list_objects_v2(Bucket=bucket).get('Contents', [])]\nprint(json.dumps({'keys': keys}))",
        THEIRS,
    );
    assert_eq!(listed["keys"], serde_json::json!([]), "{listed}");
}

/// An endpoint whose output bucket a stranger took after it was deployed: a job on it stops
/// before anything is sent, since its results would be read from that account's bucket.
#[test]
fn results_are_not_read_from_another_accounts_bucket() {
    const THEIRS: &str = "strangers-results";
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let cloud = serve(h);
    let out = ok(&ebb(
        h,
        &[
            "deploy",
            "--name",
            "jobs-out",
            "--output-path",
            &format!("s3://{THEIRS}/output"),
            // The bucket is made below, by another account.
            "--no-smoke-test",
        ],
    ));
    assert!(out.contains("InService"), "{out}");
    let made = as_stranger(
        &cloud,
        "s3.create_bucket(Bucket=bucket)\nprint(json.dumps({'ok': True}))",
        THEIRS,
    );
    assert_eq!(made["ok"], true, "{made}");
    let demo = ebb_testkit::repo_root().join("demo");
    let submitted = ebb(
        h,
        &["submit", demo.to_str().unwrap(), "--endpoint", "jobs-out"],
    );
    assert!(!submitted.status.success(), "{}", text(&submitted.stdout));
    let said = text(&submitted.stderr);
    assert!(
        said.contains(&format!(
            "s3://{THEIRS} belongs to another AWS account, not yours (000000000000)"
        )),
        "{said}"
    );
    let job = ok(&ebb(h, &["--json", "jobs"]));
    assert!(
        job.contains("\"invoked\":0") || job.contains("\"invoked\": 0"),
        "{job}"
    );
}
