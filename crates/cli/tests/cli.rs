//! `ebb` as a user runs it: settings round trip, validation messages, and `ebb doctor` against a
//! real moto_server.

use std::path::Path;
use std::process::{Command, Output};

use ebb_testkit::{AWS_VARS, Moto, isolated_env};

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
fn local_mode_says_plainly_what_is_missing() {
    let home = tempfile::tempdir().unwrap();
    let out = ebb(home.path(), &[], &["doctor"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stdout).contains("Local mode"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn local_serve_prints_its_keys_answers_signed_calls_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader};
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ebb"));
    for var in AWS_VARS {
        cmd.env_remove(var);
    }
    let mut child = cmd
        .envs(isolated_env(h))
        .args(["local", "serve", "--addr", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start ebb local serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info: serde_json::Value = serde_json::from_str(&line).expect("one JSON line");
    let url = info["endpoint_url"].as_str().unwrap().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert_eq!(info["region"], "us-east-1");
    assert!(h.join("local/running.json").exists());

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

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "ebb local serve exited with {status}");
    assert!(
        !h.join("local/running.json").exists(),
        "discovery file left behind"
    );
}
