//! `ebb` as a user runs it: settings round trip, validation messages, and `ebb doctor` against a
//! real moto_server.

use std::path::Path;
use std::process::{Command, Output};

use ebb_testkit::{AWS_VARS, LocalServe, Moto, isolated_env};

fn ebb(home: &Path, extra_env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ebb"));
    for var in AWS_VARS {
        cmd.env_remove(var);
    }
    cmd.envs(isolated_env(home)).args(args);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd.output().expect("run ebb")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn settings_set_then_show_round_trip() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    for (k, v) in [
        ("mode", "aws"),
        ("region", "eu-west-1"),
        ("bucket", "my-ebb-bucket"),
        ("role_arn", "arn:aws:iam::123456789012:role/SageMakerRole"),
    ] {
        let out = ebb(h, &[], &["settings", "set", k, v]);
        assert!(out.status.success(), "set {k}: {}", text(&out.stderr));
    }
    let out = ebb(h, &[], &["--json", "settings", "show"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let view: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(view["settings"]["mode"], "aws");
    assert_eq!(view["settings"]["region"], "eu-west-1");
    assert_eq!(view["settings"]["bucket"], "my-ebb-bucket");
    assert_eq!(view["settings"]["prefix"], "async-llm-output");
    assert_eq!(view["target"]["region_source"], "settings");

    // The environment wins over settings, like the aws CLI, and `show` says so.
    let out = ebb(h, &[("AWS_REGION", "us-west-2")], &["settings", "show"]);
    let shown = text(&out.stdout);
    assert!(shown.contains("us-west-2 (from AWS_REGION)"), "{shown}");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(h.join("settings.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn every_command_logs_to_its_file_and_verbose_prints_the_detail() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let quiet = ebb(h, &[("EBB_LOG", "")], &["settings", "show"]);
    assert!(quiet.status.success(), "{}", text(&quiet.stderr));
    assert!(
        !text(&quiet.stderr).contains("DEBUG"),
        "a plain command prints no logs: {}",
        text(&quiet.stderr)
    );
    // One file a day, named by its date: `cli.2026-11-29.log`.
    let logs = ebb_core::logfile::daily_files(&h.join("logs"), "cli").unwrap();
    assert_eq!(logs.len(), 1, "the log file is created: {logs:?}");
    let log = &logs[0];
    assert!(!std::fs::read_to_string(log).unwrap().contains("DEBUG"));

    let loud = ebb(h, &[("EBB_LOG", "")], &["--verbose", "settings", "show"]);
    assert!(loud.status.success(), "{}", text(&loud.stderr));
    let said = text(&loud.stderr);
    assert!(
        said.contains(&format!("logging to {}", log.display())),
        "--verbose says where the log is: {said}"
    );
    let logged = std::fs::read_to_string(log).unwrap();
    assert!(
        logged.contains("DEBUG") && logged.contains("logging to"),
        "{logged}"
    );
    assert!(
        !logged.contains('\u{1b}'),
        "no terminal colours in the file"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(log).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

/// Whether `line` is one whole event as the log formats it: `<RFC 3339 UTC time> <LEVEL> ...`,
/// with no second event glued to it.
fn is_whole_log_line(line: &str) -> bool {
    let mut words = line.split_whitespace();
    let time = words.next().unwrap_or_default().as_bytes();
    let timed = time.len() >= 20
        && time[..4].iter().all(u8::is_ascii_digit)
        && time[4] == b'-'
        && time[10] == b'T'
        && time.ends_with(b"Z");
    let level = words.next().unwrap_or_default();
    let events = ["Z TRACE ", "Z DEBUG ", "Z  INFO ", "Z  WARN ", "Z ERROR "];
    let glued = events
        .iter()
        .map(|e| line.matches(e).count())
        .sum::<usize>()
        > 1;
    timed && ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&level) && !glued
}

/// Several `ebb` processes log to the same file at once (a script running commands in
/// parallel): every line stays whole and no process loses any. Each process reaches the home
/// through its own `<home>/<marker>/..`, so the path it logs (`logging to …`) tells its lines
/// apart. Every file in `logs/` is read, whatever its name, so lines moved to another file still
/// count; lines lost to a rotation renaming the file from under another process do not.
#[test]
fn processes_logging_at_once_keep_every_line_whole() {
    const PROCESSES: usize = 6;
    const COMMANDS: usize = 20;
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    // Long lines: a write split in two would show as a broken line.
    let vias: Vec<String> = (0..PROCESSES)
        .map(|i| {
            let marker = h.join(format!("writer-{i}-{}", "x".repeat(150)));
            std::fs::create_dir(&marker).unwrap();
            marker.join("..").display().to_string()
        })
        .collect();
    std::thread::scope(|s| {
        for via in &vias {
            s.spawn(move || {
                for _ in 0..COMMANDS {
                    let env = [("EBB_HOME", via.as_str()), ("EBB_LOG", "")];
                    let out = ebb(h, &env, &["--verbose", "settings", "show"]);
                    assert!(out.status.success(), "{}", text(&out.stderr));
                }
            });
        }
    });
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(h.join("logs")).unwrap() {
        let logged = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        lines.extend(logged.lines().map(str::to_owned));
    }
    for line in &lines {
        assert!(is_whole_log_line(line), "a broken line: {line:?}");
    }
    for via in &vias {
        let said = format!("logging to {via}/logs/");
        let own = lines.iter().filter(|l| l.contains(&said)).count();
        assert_eq!(
            own,
            COMMANDS,
            "lines lost for {via}: {} lines in all",
            lines.len()
        );
    }
}

#[test]
fn bad_values_are_refused_with_a_reason_and_nothing_is_written() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let cases = [
        ("bucket", "Bad_Bucket", "lowercase letters"),
        ("region", "us-east1", "did you mean `us-east-1`"),
        ("role_arn", "arn:aws:iam::123:role/x", "12 digits"),
        ("mode", "cloud", "`local` or `aws`"),
        ("colour", "blue", "unknown setting `colour`"),
    ];
    for (k, v, expect) in cases {
        let out = ebb(h, &[], &["settings", "set", k, v]);
        assert!(!out.status.success(), "{k}={v} was accepted");
        let err = text(&out.stderr);
        assert!(err.contains(expect), "{k}={v}: {err}");
        assert!(out.stdout.is_empty(), "errors belong on stderr");
    }
    assert!(!h.join("settings.json").exists());
}

#[test]
fn doctor_against_moto_reports_identity_bucket_and_sagemaker() {
    let moto = Moto::start();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let creds = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ];
    // The bucket does not exist yet: the check fails and says how to fix it.
    let out = ebb(
        h,
        &creds,
        &[
            "--endpoint-url",
            &moto.url,
            "--region",
            "us-east-1",
            "settings",
            "set",
            "bucket",
            "ebb-doctor-test",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let args = [
        "--endpoint-url",
        &moto.url,
        "--region",
        "us-east-1",
        "doctor",
    ];
    let out = ebb(h, &creds, &args);
    let stdout = text(&out.stdout);
    assert!(
        !out.status.success(),
        "doctor passed without a bucket:\n{stdout}"
    );
    assert!(
        stdout.contains("s3://ebb-doctor-test does not exist"),
        "{stdout}"
    );
    assert!(
        stdout.contains("aws s3 mb s3://ebb-doctor-test"),
        "{stdout}"
    );

    // Create the bucket with a plain S3 call (path-style), then everything passes.
    let status = std::process::Command::new("curl")
        .args(["-sf", "-X", "PUT", &format!("{}/ebb-doctor-test", moto.url)])
        .status()
        .expect("curl");
    assert!(status.success(), "could not create the bucket in moto");
    let mut json_args = vec!["--json"];
    json_args.extend(args);
    let out = ebb(h, &creds, &json_args);
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["identity"]["account"], "123456789012");
    assert_eq!(report["bucket"], "ebb-doctor-test");
    let status_of = |id: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .map(|c| c["status"].as_str().unwrap_or_default().to_string())
    };
    assert_eq!(status_of("identity").as_deref(), Some("ok"));
    assert_eq!(status_of("bucket").as_deref(), Some("ok"));
    assert_eq!(status_of("sagemaker").as_deref(), Some("ok"));
    assert_eq!(status_of("role").as_deref(), Some("warn"), "no role set");
}

#[test]
fn doctor_explains_missing_credentials_and_unreachable_endpoints() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    // Nothing listens on this port.
    let url = format!("http://127.0.0.1:{}", ebb_testkit::free_port());
    let creds = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ];
    let out = ebb(
        h,
        &creds,
        &["--endpoint-url", &url, "--region", "us-east-1", "doctor"],
    );
    assert!(!out.status.success());
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!("Could not connect to {url}")),
        "{stdout}"
    );

    let moto = Moto::start();
    let out = ebb(
        h,
        &[],
        &[
            "--endpoint-url",
            &moto.url,
            "--region",
            "us-east-1",
            "doctor",
        ],
    );
    assert!(!out.status.success());
    let stdout = text(&out.stdout);
    assert!(stdout.contains("No AWS credentials were found"), "{stdout}");
}

#[test]
fn local_mode_needs_no_setup_identity_bucket_and_role_come_ready() {
    let home = tempfile::tempdir().unwrap();
    // A fresh home is in local mode; the command starts a local cloud for its own lifetime.
    let out = ebb(home.path(), &[], &["doctor"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("000000000000"), "{stdout}");
    assert!(
        stdout.contains("sagemaker-us-east-1-000000000000"),
        "{stdout}"
    );
    assert!(stdout.contains("EbbLocalExecutionRole"), "{stdout}");
    // The target is the local cloud, not the AWS credential chain it does not use.
    assert!(
        stdout.contains("Ebb's local cloud at http://127.0.0.1:"),
        "{stdout}"
    );
    assert!(!stdout.contains("credential chain"), "{stdout}");
    // Nothing is left announced after the command.
    assert!(!home.path().join("local/running.json").exists());
    let env = ebb(home.path(), &[], &["local", "env"]);
    assert!(!env.status.success());
    assert!(
        text(&env.stderr).contains("ebb local serve"),
        "{}",
        text(&env.stderr)
    );
}

fn serve(home: &Path, extra: &[&str]) -> LocalServe {
    LocalServe::start(Path::new(env!("CARGO_BIN_EXE_ebb")), home, extra)
}

/// `ebb local env` output as variables.
fn local_env(home: &Path) -> Vec<(String, String)> {
    let out = ebb(home, &[], &["local", "env"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn boto3_runs_the_seed_workflow_against_local_serve() {
    let home = tempfile::tempdir().unwrap();
    let serve = serve(home.path(), &["--speed", "20"]);
    let vars = local_env(home.path());
    assert!(vars.contains(&("AWS_ENDPOINT_URL".to_string(), serve.url())));
    let python = ebb_testkit::venv_python();
    assert!(
        python.exists(),
        "{} not found — run `bash scripts/test.sh` (it creates .venv with boto3) or set EBB_TEST_PYTHON",
        python.display()
    );
    let root = ebb_testkit::repo_root();
    let mut cmd = Command::new(python);
    for var in AWS_VARS {
        cmd.env_remove(var);
    }
    let out = cmd
        .envs(isolated_env(home.path()))
        .envs(vars)
        .arg(root.join("tests/python/seed_workflow.py"))
        .arg(root.join("demo"))
        .arg("arn:aws:iam::000000000000:role/EbbLocalExecutionRole")
        .output()
        .expect("run python");
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let seen: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(seen["endpoint_status"], "InService");
    assert_eq!(seen["uploaded"], 19);
    assert_eq!(seen["outputs"], 19);
    assert!(
        seen["first_output"]
            .as_str()
            .unwrap()
            .starts_with("s3://sagemaker-us-east-1-000000000000/async-llm-output/output/"),
        "{seen}"
    );
    assert!(!seen["sample"].as_str().unwrap().is_empty());
    // Part 3: target tracking made its two alarms; the step policy is driven by boto3's alarm.
    assert_eq!(seen["tracking_alarms"], 2, "{seen}");
    assert_eq!(
        seen["policies"],
        serde_json::json!([
            "HasBacklogWithoutCapacity-ScalingPolicy",
            "Invocations-ScalingPolicy"
        ])
    );
    assert_eq!(
        seen["step_alarms"],
        serde_json::json!(["flan-t5-xxl-async-HasBacklogWithoutCapacity"])
    );
    assert_eq!(seen["alarms"], 3, "{seen}");
    assert_eq!(seen["metrics"], serde_json::json!(["Depth"]), "{seen}");
    // The engine sees what boto3 made, through the same running cloud.
    let doctor = ebb(home.path(), &[], &["--local", "doctor"]);
    let report = text(&doctor.stdout);
    assert!(report.contains("1 endpoint"), "{report}");
    assert!(report.contains(&serve.url()), "{report}");

    // Teardown removes the autoscaling first, then the endpoint, and the job data when asked.
    let h = home.path();
    let removed = ebb(
        h,
        &[],
        &[
            "--local",
            "teardown",
            "flan-t5-xxl-async",
            "--yes",
            "--delete-data",
        ],
    );
    let removed = text(&removed.stdout);
    let resource = "endpoint/flan-t5-xxl-async/variant/AllTraffic";
    let expected = [
        format!("scaling policy HasBacklogWithoutCapacity-ScalingPolicy on {resource}: deleted"),
        format!("scaling policy Invocations-ScalingPolicy on {resource}: deleted"),
        format!("scalable target {resource}: deleted"),
        "alarm flan-t5-xxl-async-HasBacklogWithoutCapacity: deleted".to_string(),
        "endpoint flan-t5-xxl-async: deleted".to_string(),
        "model flan-t5-xxl-async: deleted".to_string(),
        "data s3://sagemaker-us-east-1-000000000000/async-llm-output/output/: 19 objects deleted"
            .to_string(),
    ];
    let mut at = 0;
    for line in &expected {
        let found = removed[at..].find(line.as_str());
        assert!(
            found.is_some(),
            "{line:?} missing or out of order in:\n{removed}"
        );
        at += found.unwrap_or(0);
    }
    // Nothing is left: a second run finds only the endpoint itself, already gone.
    let again = text(
        &ebb(
            h,
            &[],
            &["--local", "teardown", "flan-t5-xxl-async", "--yes"],
        )
        .stdout,
    );
    assert!(
        again.contains("endpoint flan-t5-xxl-async: already gone"),
        "{again}"
    );
    assert!(
        !again.contains("scal") && !again.contains("alarm"),
        "{again}"
    );
    assert!(serve.terminate().success());
}

#[test]
fn local_serve_prints_its_keys_answers_signed_calls_and_stops_on_sigterm() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let serve = serve(h, &[]);
    let info = serve.info.clone();
    let url = serve.url();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert_eq!(info["region"], "us-east-1");
    assert!(h.join("local/running.json").exists());
    // A second server on the same home is refused, naming the first.
    let second = ebb(h, &[], &["local", "serve"]);
    assert!(!second.status.success());
    assert!(
        text(&second.stderr).contains(&url),
        "{}",
        text(&second.stderr)
    );
    // The engine reaches it through the ordinary SDK path with the printed keys.
    let key = info["access_key_id"].as_str().unwrap();
    let secret = info["secret_access_key"].as_str().unwrap();
    let creds = [
        ("AWS_ACCESS_KEY_ID", key),
        ("AWS_SECRET_ACCESS_KEY", secret),
    ];
    let out = ebb(
        h,
        &creds,
        &["--endpoint-url", &url, "--region", "us-east-1", "doctor"],
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("[ok  ] Identity: arn:aws:iam::000000000000:user/ebb-local"),
        "{stdout}"
    );
    // Someone else's keys are refused, in words.
    let wrong = [
        ("AWS_ACCESS_KEY_ID", "AKIAOTHER"),
        ("AWS_SECRET_ACCESS_KEY", secret),
    ];
    let out = ebb(
        h,
        &wrong,
        &["--endpoint-url", &url, "--region", "us-east-1", "doctor"],
    );
    assert!(
        text(&out.stdout).contains("does not accept these credentials"),
        "{}",
        text(&out.stdout)
    );

    let status = serve.terminate();
    assert!(status.success(), "ebb local serve exited with {status}");
    assert!(
        !h.join("local/running.json").exists(),
        "discovery file left behind"
    );
}
