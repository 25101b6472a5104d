//! Helpers shared by the job tests: running `ebb` against an isolated home and a local cloud.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use ebb_testkit::{AWS_VARS, LocalServe, isolated_env};

pub fn ebb_cmd(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ebb"));
    for var in AWS_VARS {
        cmd.env_remove(var);
    }
    cmd.envs(isolated_env(home));
    cmd
}

pub fn ebb(home: &Path, args: &[&str]) -> Output {
    ebb_cmd(home).args(args).output().expect("run ebb")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

pub fn serve(home: &Path) -> LocalServe {
    LocalServe::start(
        Path::new(env!("CARGO_BIN_EXE_ebb")),
        home,
        &["--speed", "20"],
    )
}

/// An endpoint whose model takes 2 simulated seconds a request (4 tokens at 500 ms).
pub fn deploy_slow(home: &Path, name: &str) {
    let out = ok(&ebb(
        home,
        &[
            "deploy",
            "--name",
            name,
            "--env",
            "EBB_LOCAL_TOKEN_LATENCY_MS=500",
        ],
    ));
    assert!(out.contains("InService"), "{out}");
}

pub fn deploy(home: &Path, name: &str) {
    let out = ok(&ebb(home, &["deploy", "--name", name]));
    assert!(out.contains("InService"), "{out}");
}

/// The job id `ebb submit` printed (`job <id> …`).
pub fn job_id(out: &str) -> String {
    out.lines()
        .find_map(|l| {
            l.strip_prefix("job ")
                .and_then(|r| r.split_whitespace().next())
        })
        .unwrap_or_else(|| panic!("no job id in: {out}"))
        .to_string()
}

/// `ebb --json submit FOLDER --endpoint ENDPOINT [EXTRA] --wait`: the job's summary.
pub fn submit_waited(
    home: &Path,
    folder: &str,
    endpoint: &str,
    extra: &[&str],
) -> serde_json::Value {
    let mut args = vec!["--json", "submit", folder, "--endpoint", endpoint];
    args.extend(extra);
    args.push("--wait");
    serde_json::from_str(&ok(&ebb(home, &args))).expect("job summary JSON")
}

/// `ebb --json job JOB`: the job's state and counts.
pub fn job_summary(home: &Path, job: &str) -> serde_json::Value {
    serde_json::from_str(&ok(&ebb(home, &["--json", "job", job]))).expect("job summary JSON")
}

/// Deploys `endpoint` on a healthy local cloud, then starts the cloud again with `args`
/// (faults, the AWS-like mode) for what the test does next.
pub fn deployed_then_restarted(home: &Path, endpoint: &str, args: &[&str]) -> LocalServe {
    let healthy = serve(home);
    deploy(home, endpoint);
    assert!(healthy.terminate().success());
    LocalServe::start(Path::new(env!("CARGO_BIN_EXE_ebb")), home, args)
}

pub fn export(home: &Path, job: &str, file: &Path) -> Vec<serde_json::Value> {
    ok(&ebb(
        home,
        &["results", job, "--out", file.to_str().unwrap()],
    ));
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `ebb submit DIR --endpoint E --wait` started in the background, and the job id it printed.
pub fn spawn_submit(
    home: &Path,
    input: &Path,
    endpoint: &str,
    concurrency: u32,
) -> (std::process::Child, String) {
    let mut child = ebb_cmd(home)
        .args(["submit", input.to_str().unwrap(), "--endpoint", endpoint])
        .args(["--wait", "--concurrency", &concurrency.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap() > 0 {
        if let Some(rest) = line.strip_prefix("job ") {
            let job = rest.split_whitespace().next().unwrap_or_default();
            // The rest is read too, so that a run that ends prints its summary unhindered.
            std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
            return (child, job.to_string());
        }
        line.clear();
    }
    let _ = child.wait();
    panic!("ebb submit printed no job id")
}

/// Writes `n` one-line requests to `dir/many.jsonl`.
pub fn many_requests(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let mut lines = String::new();
    for i in 0..n {
        lines.push_str(&format!(
            "{{\"inputs\": \"question {i}\", \"parameters\": {{\"max_new_tokens\": 4}}}}\n"
        ));
    }
    std::fs::write(dir.join("many.jsonl"), lines).unwrap();
}

/// An SDK config for a running local cloud, with its own keys.
pub async fn local_sdk(cloud: &LocalServe) -> aws_config::SdkConfig {
    let field = |k: &str| cloud.info[k].as_str().unwrap_or_default().to_string();
    // A client as a notebook has one: throttled calls (the AWS-like cloud throttles the
    // control plane) are retried with backoff.
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(10))
        .region(aws_config::Region::new(field("region")))
        .endpoint_url(field("endpoint_url"))
        .credentials_provider(aws_sdk_sagemaker::config::Credentials::new(
            field("access_key_id"),
            field("secret_access_key"),
            None,
            None,
            "local",
        ))
        .load()
        .await
}
