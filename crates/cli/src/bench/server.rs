//! The benchmarks' local cloud: `ebb local serve` on a throwaway home, in its own process so
//! that Ebb's memory is measured alone, with the `bench` endpoint deployed (4 instances, no token
//! delay) and an engine attached to it.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ebb_core::{Ebb, Overrides};
use ebb_local::home::Attached;

pub struct BenchCloud {
    pub home: PathBuf,
    pub ebb: Ebb,
    pub url: String,
    pub keys: (String, String),
    attached: Attached,
    _process: KillOnDrop,
}

/// The server process, killed however the benchmark ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// This `ebb`, on `home`, with no AWS setup of the user's in its way.
pub fn ebb_command(home: &Path) -> Result<Command, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the ebb binary: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.env("EBB_HOME", home)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL");
    Ok(cmd)
}

impl BenchCloud {
    pub async fn start(work: &Path) -> Result<BenchCloud, String> {
        let home = work.join("home");
        let mut child = ebb_command(&home)?
            .args(["local", "serve", "--addr", "127.0.0.1:0", "--speed", "1000"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start the local cloud: {e}"))?;
        let mut line = String::new();
        let stdout = child.stdout.take();
        let process = KillOnDrop(child);
        if let Some(out) = stdout {
            std::io::BufReader::new(out)
                .read_line(&mut line)
                .map_err(|e| e.to_string())?;
        }
        let info: serde_json::Value = match serde_json::from_str(&line) {
            Ok(info) => info,
            Err(e) => return Err(format!("ebb local serve said {line:?}: {e}")),
        };
        let text = |k: &str| info[k].as_str().unwrap_or_default().to_string();
        let deployed = ebb_command(&home)?
            .args(["deploy", "--name", "bench", "--instance-count", "4"])
            .args(["--max-concurrency", "1000"])
            .args(["--env", "EBB_LOCAL_TOKEN_LATENCY_MS=0"])
            .output()
            .map_err(|e| e.to_string());
        let attached = match deployed {
            Ok(out) if out.status.success() => ebb_local::home::attach(&home, false)
                .await
                .map_err(|e| e.to_string()),
            Ok(out) => Err(format!(
                "deploy failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )),
            Err(e) => Err(e),
        };
        let attached = attached?;
        let ebb = Ebb::with_home(
            home.clone(),
            Overrides {
                local: true,
                ..Overrides::default()
            },
        );
        ebb.set_local_cloud(Some(crate::local::provided(attached.info())));
        Ok(BenchCloud {
            home,
            ebb,
            url: text("endpoint_url"),
            keys: (text("access_key_id"), text("secret_access_key")),
            attached,
            _process: process,
        })
    }

    /// An S3 client of the local cloud, for the benchmark's own checks.
    pub async fn s3(&self) -> aws_sdk_s3::Client {
        let keys =
            aws_credential_types::Credentials::new(&self.keys.0, &self.keys.1, None, None, "bench");
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.url)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(keys)
            .load()
            .await;
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(true)
                .build(),
        )
    }

    /// Waits until every `s3://bucket/key` of `outputs` exists (requests sent outside Ebb,
    /// whose answers would otherwise still be in the works during the next measure).
    pub async fn wait_for(&self, outputs: &[String], limit: Duration) -> Result<(), String> {
        let s3 = self.s3().await;
        let until = Instant::now() + limit;
        for location in outputs {
            let (bucket, key) = location
                .strip_prefix("s3://")
                .and_then(|rest| rest.split_once('/'))
                .ok_or_else(|| format!("not an S3 location: {location}"))?;
            while s3
                .head_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .is_err()
            {
                if Instant::now() > until {
                    return Err(format!("{location} did not appear within {limit:?}"));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Ok(())
    }

    pub async fn stop(self) {
        self.attached.stop(&self.home).await;
    }
}
