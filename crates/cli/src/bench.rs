//! `ebb bench submit`: Ebb's submit path against a fresh local cloud, with the boto3 baselines
//! (`../shared/bench/boto3_baselines.py`: the article's loop and a 32-thread version) run
//! against the same server in the same run, so the ratio means something on a noisy machine.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ebb_core::jobs::scan::ScanOptions;
use ebb_core::jobs::{JobProgress, JobSettings};
use ebb_core::{Ebb, Overrides};

use crate::output;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Requests Ebb submits in each of its runs.
    #[arg(long, default_value_t = 100_000)]
    pub requests: usize,
    /// Files the boto3 baselines submit (each is one request, as in the article).
    #[arg(long, default_value_t = 2_000)]
    pub baseline_files: usize,
    /// The baselines script.
    #[arg(long, default_value = "../shared/bench/boto3_baselines.py")]
    pub baselines: PathBuf,
    /// Python with boto3 (default: .venv/bin/python if present, else python3).
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// Requests in flight for Ebb.
    #[arg(long, default_value_t = 128)]
    pub concurrency: u32,
}

/// `ebb local serve` on a throwaway home; killed when dropped.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ebb_command(home: &Path) -> Result<Command, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the ebb binary: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.env("EBB_HOME", home)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL");
    Ok(cmd)
}

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// Writes `n` one-line TGI requests into 100 files.
fn write_requests(dir: &Path, n: usize) -> Result<(), String> {
    use std::io::Write;
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let files = 100.min(n.max(1));
    for f in 0..files {
        let path = dir.join(format!("part_{f:03}.jsonl"));
        let mut w =
            std::io::BufWriter::new(std::fs::File::create(&path).map_err(|e| e.to_string())?);
        for i in (f..n).step_by(files) {
            writeln!(
                w,
                r#"{{"inputs": "What is the capital of the United States? ({i})", "parameters": {{"max_new_tokens": 8}}}}"#
            )
            .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

struct Run {
    invoke_rps: f64,
    total_s: f64,
    s3_per_result: f64,
    succeeded: u32,
}

async fn run_ebb(ebb: &Ebb, dir: &Path, settings: JobSettings) -> Result<Run, String> {
    let scan = Arc::new(
        ebb.scan_jobs(vec![dir.to_path_buf()], ScanOptions::default())
            .await
            .map_err(|e| e.to_string())?,
    );
    let n = scan.requests.len();
    let started = Instant::now();
    let id = ebb
        .create_job(scan, "bench", settings, false)
        .await
        .map_err(|e| e.to_string())?;
    let all_sent: Arc<Mutex<Option<f64>>> = Arc::default();
    let last: Arc<Mutex<Option<JobProgress>>> = Arc::default();
    let (sent, seen) = (all_sent.clone(), last.clone());
    let progress = move |p: &JobProgress| {
        if p.job.pending == 0
            && let Ok(mut s) = sent.lock()
        {
            s.get_or_insert(started.elapsed().as_secs_f64());
        }
        if let Ok(mut l) = seen.lock() {
            *l = Some(p.clone());
        }
    };
    let summary = ebb
        .run_job(&id, &progress, true)
        .await
        .map_err(|e| e.to_string())?;
    let total_s = started.elapsed().as_secs_f64();
    let sent_s = all_sent.lock().ok().and_then(|s| *s).unwrap_or(total_s);
    let calls = last
        .lock()
        .ok()
        .and_then(|l| l.as_ref().map(|p| p.result_s3_calls))
        .unwrap_or(0);
    Ok(Run {
        invoke_rps: n as f64 / sent_s,
        total_s,
        s3_per_result: f64::from(calls) / f64::from(summary.succeeded.max(1)),
        succeeded: summary.succeeded,
    })
}

/// One request at a time: from submit to its result recorded, as a user waits for it.
async fn latency(ebb: &Ebb, dir: &Path, probes: usize) -> Result<Vec<f64>, String> {
    let one = dir.join("one");
    write_requests(&one, 1)?;
    let mut times = Vec::new();
    for _ in 0..probes {
        let t = Instant::now();
        let scan = Arc::new(
            ebb.scan_jobs(vec![one.clone()], ScanOptions::default())
                .await
                .map_err(|e| e.to_string())?,
        );
        let id = ebb
            .create_job(scan, "bench", JobSettings::default(), false)
            .await
            .map_err(|e| e.to_string())?;
        ebb.run_job(&id, &|_| {}, true)
            .await
            .map_err(|e| e.to_string())?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok(times)
}

fn baselines(
    args: &BenchArgs,
    url: &str,
    keys: (&str, &str),
    work: &Path,
) -> Result<serde_json::Value, String> {
    if !args.baselines.exists() {
        return Err(format!(
            "{} not found (pass --baselines)",
            args.baselines.display()
        ));
    }
    let python = args.python.clone().unwrap_or_else(|| {
        let venv = PathBuf::from(".venv/bin/python");
        if venv.exists() {
            venv
        } else {
            PathBuf::from("python3")
        }
    });
    let out = Command::new(&python)
        .arg(&args.baselines)
        .arg(url)
        .arg(args.baseline_files.to_string())
        .args(["--endpoint", "bench", "--threads", "32"])
        .env("AWS_ACCESS_KEY_ID", keys.0)
        .env("AWS_SECRET_ACCESS_KEY", keys.1)
        .env("AWS_REGION", "us-east-1")
        .env("TMPDIR", work)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!(
            "the baselines failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("the baselines printed no JSON: {e}"))
}

pub async fn submit(args: BenchArgs) -> ExitCode {
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => output::fail(&e),
    }
}

async fn run(args: BenchArgs) -> Result<(), String> {
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let home = work.path().join("home");
    // The local cloud in its own process, so Ebb's memory is measured alone.
    let mut serve = ebb_command(&home)?
        .args(["local", "serve", "--addr", "127.0.0.1:0", "--speed", "1000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the local cloud: {e}"))?;
    let mut line = String::new();
    if let Some(out) = serve.stdout.take() {
        use std::io::BufRead;
        std::io::BufReader::new(out)
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
    }
    let _server = Server(serve);
    let info: serde_json::Value =
        serde_json::from_str(&line).map_err(|e| format!("local serve said {line:?}: {e}"))?;
    let deployed = ebb_command(&home)?
        .args([
            "deploy",
            "--name",
            "bench",
            "--instance-count",
            "4",
            "--max-concurrency",
            "1000",
        ])
        .args(["--env", "EBB_LOCAL_TOKEN_LATENCY_MS=0"])
        .output()
        .map_err(|e| e.to_string())?;
    if !deployed.status.success() {
        return Err(format!(
            "deploy failed: {}",
            String::from_utf8_lossy(&deployed.stderr)
        ));
    }
    let ebb = Ebb::with_home(
        home.clone(),
        Overrides {
            local: true,
            ..Overrides::default()
        },
    );
    let attached = ebb_local::home::attach(&home, false)
        .await
        .map_err(|e| e.to_string())?;
    ebb.set_local_cloud(Some(attached.info().for_engine()));

    let dir = work.path().join("requests");
    write_requests(&dir, args.requests)?;
    eprintln!("boto3 baselines: {} files…", args.baseline_files);
    let url = info["endpoint_url"].as_str().unwrap_or_default();
    let keys = (
        info["access_key_id"].as_str().unwrap_or_default(),
        info["secret_access_key"].as_str().unwrap_or_default(),
    );
    let base = baselines(&args, url, keys, work.path());
    eprintln!("Ebb inline: {} requests…", args.requests);
    let settings = JobSettings {
        concurrency: args.concurrency,
        ..JobSettings::default()
    };
    let inline = run_ebb(&ebb, &dir, settings.clone()).await?;
    eprintln!("Ebb with uploads: {} requests…", args.requests);
    let uploads = run_ebb(
        &ebb,
        &dir,
        JobSettings {
            upload_all: true,
            ..settings
        },
    )
    .await?;
    eprintln!("result latency: 10 single requests…");
    let lat = latency(&ebb, work.path(), 10).await?;
    let rss = peak_rss_mb();

    let threads = base
        .as_ref()
        .ok()
        .and_then(|b| b["boto3_32_threads_rps"].as_f64());
    let ratio = |rps: f64| threads.map_or("—".to_string(), |t| format!("{:.1}x", rps / t));
    println!(
        "Ebb bench submit — local cloud (`ebb local serve`, builtin model, 4 instances), {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<34} {:>12} {:>16}",
        "submitter", "requests/s", "vs boto3 32 thr"
    );
    match &base {
        Ok(b) => {
            let rps = |k: &str| b[k].as_f64().unwrap_or(0.0);
            println!(
                "{:<34} {:>12.0} {:>16}",
                format!("boto3 article loop ({} files)", args.baseline_files),
                rps("seed_loop_rps"),
                ""
            );
            println!(
                "{:<34} {:>12.0} {:>16}",
                format!("boto3 32 threads ({} files)", args.baseline_files),
                rps("boto3_32_threads_rps"),
                "1.0x"
            );
        }
        Err(e) => println!("boto3 baselines not run: {e}"),
    }
    println!(
        "{:<34} {:>12.0} {:>16}",
        format!("Ebb inline ({} requests)", args.requests),
        inline.invoke_rps,
        ratio(inline.invoke_rps)
    );
    println!(
        "{:<34} {:>12.0} {:>16}",
        format!("Ebb with uploads ({} requests)", args.requests),
        uploads.invoke_rps,
        ratio(uploads.invoke_rps)
    );
    println!(
        "all results in: inline {:.1} s, with uploads {:.1} s ({} + {} succeeded)",
        inline.total_s, uploads.total_s, inline.succeeded, uploads.succeeded
    );
    println!(
        "S3 requests per collected result: {:.3} (inline), {:.3} (with uploads)",
        inline.s3_per_result, uploads.s3_per_result
    );
    println!(
        "result-visible latency, one request submit → result recorded: p50 {:.0} ms, max {:.0} ms",
        lat[lat.len() / 2],
        lat.last().copied().unwrap_or(0.0)
    );
    if let Some(mb) = rss {
        println!("peak RSS of the Ebb process: {mb:.0} MB");
    }
    attached.stop(&home).await;
    Ok(())
}
