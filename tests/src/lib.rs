//! Shared test harness: temp Ebb homes and a `moto_server` (third-party AWS emulator) on a free
//! loopback port, stopped when dropped.

mod cbor_shim;
mod recorded_http;

pub use cbor_shim::CborShim;
pub use recorded_http::{Recorded, RecordedHttp};

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Finds `moto_server`: `MOTO_SERVER`, else the repo's `.venv` that `scripts/test.sh` creates.
pub fn moto_server_path() -> PathBuf {
    if let Some(p) = std::env::var_os("MOTO_SERVER") {
        return PathBuf::from(p);
    }
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    repo.join(".venv/bin/moto_server")
}

/// The test virtualenv's Python (with boto3): `EBB_TEST_PYTHON`, else the repo's `.venv`.
pub fn venv_python() -> PathBuf {
    if let Some(p) = std::env::var_os("EBB_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    repo_root().join(".venv/bin/python")
}

/// The one JSON line a script printed on success; panics with its output otherwise.
pub fn json_line(out: &std::process::Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).expect("one JSON line")
}

/// The repository's root folder.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free loopback port");
    listener.local_addr().expect("local addr").port()
}

/// The secret key tests give `ebb` for moto: distinctive, so a test can prove Ebb never
/// writes it anywhere.
pub const MOTO_SECRET: &str = "ebb-test-secret-key-7Q2xV";

/// Fails unless the Ebb home `home` and everything in it is its owner's alone: every folder
/// (the home too) mode 0700, every file 0600, and no file holds `secret` (the AWS secret key).
/// Call it after a run, with the test's own files (inputs, exports) kept outside the home.
pub fn assert_private(home: &std::path::Path, secret: &str) {
    fn walk(dir: &std::path::Path, dirs: &mut Vec<PathBuf>, files: &mut Vec<PathBuf>) {
        dirs.push(dir.to_path_buf());
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, dirs, files);
            } else {
                files.push(p);
            }
        }
    }
    let (mut dirs, mut files) = (Vec::new(), Vec::new());
    walk(home, &mut dirs, &mut files);
    assert!(!files.is_empty(), "nothing under {}", home.display());
    for f in &files {
        let bytes = std::fs::read(f).unwrap_or_default();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{} holds the AWS secret key",
            f.display()
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &PathBuf| {
            std::fs::symlink_metadata(p)
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        };
        let loose: Vec<String> = dirs
            .iter()
            .map(|d| (d, mode(d), 0o700))
            .chain(files.iter().map(|f| (f, mode(f), 0o600)))
            .filter(|(_, got, want)| got != want)
            .map(|(p, got, want)| format!("{} is {got:o}, not {want:o}", p.display()))
            .collect();
        assert!(loose.is_empty(), "not private:\n{}", loose.join("\n"));
    }
}

/// A running moto_server; killed on drop.
pub struct Moto {
    child: Child,
    pub url: String,
    _log: tempfile::NamedTempFile,
}

impl Moto {
    pub fn start() -> Moto {
        let path = moto_server_path();
        assert!(
            path.exists(),
            "moto_server not found at {} — run `bash scripts/test.sh` (it installs it into .venv) or set MOTO_SERVER",
            path.display()
        );
        let port = free_port();
        let log = tempfile::NamedTempFile::new().expect("log file");
        let child = Command::new(&path)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(log.reopen().expect("reopen log"))
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", path.display()));
        let moto = Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _log: log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen on {port} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }
}

impl Moto {
    /// What `ebb` needs to talk to this moto_server: its URL, a region and moto's test keys.
    pub fn env(&self) -> [(&'static str, &str); 4] {
        [
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", MOTO_SECRET),
            ("AWS_ENDPOINT_URL", self.url.as_str()),
            ("AWS_REGION", "us-east-1"),
        ]
    }

    /// A plain unsigned request: moto's own API (POST `/moto-api/static/...`), or a bucket (PUT).
    pub fn request(&self, method: &str, path: &str, body: &str) {
        use std::io::{Read, Write};
        let addr = self.url.trim_start_matches("http://");
        let mut s = TcpStream::connect(addr).expect("connect to moto_server");
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("send to moto_server");
        let mut answer = String::new();
        s.read_to_string(&mut answer)
            .expect("read moto_server's answer");
        assert!(
            answer.starts_with("HTTP/1.1 2") || answer.starts_with("HTTP/1.0 2"),
            "moto_server refused {path}: {answer}"
        );
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The environment a test gives `ebb`: no user files, no inherited AWS variables, fake keys.
pub fn isolated_env(home: &std::path::Path) -> Vec<(String, String)> {
    let aws_files = home.join("aws");
    vec![
        ("EBB_HOME".into(), home.display().to_string()),
        (
            "AWS_CONFIG_FILE".into(),
            aws_files.join("config").display().to_string(),
        ),
        (
            "AWS_SHARED_CREDENTIALS_FILE".into(),
            aws_files.join("credentials").display().to_string(),
        ),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        // The deploy's fit check must not reach the real Hugging Face Hub from a test.
        ("HF_HUB_OFFLINE".into(), "1".into()),
        // Nor may the local cloud's real models come from the developer's cache: the test's
        // own cache is `<home>/hf/hub` (empty unless the test writes a model there).
        ("HF_HOME".into(), home.join("hf").display().to_string()),
    ]
}

/// Environment variables a test must not inherit from the developer's shell.
pub const AWS_VARS: &[&str] = &[
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_STS",
    "AWS_ENDPOINT_URL_SAGEMAKER",
    "AWS_ENDPOINT_URL_CLOUDWATCH",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];

/// `ebb local serve` for an Ebb home, so that every `ebb` command of a test shares one running
/// local cloud; killed when dropped. `ebb` is the binary (`env!("CARGO_BIN_EXE_ebb")`).
pub struct LocalServe {
    child: Child,
    /// The JSON line it printed: endpoint_url, region, access_key_id, secret_access_key.
    pub info: serde_json::Value,
}

impl LocalServe {
    pub fn start(ebb: &std::path::Path, home: &std::path::Path, extra: &[&str]) -> LocalServe {
        LocalServe::start_at(ebb, home, "127.0.0.1:0", extra)
    }

    /// On a given address, e.g. the one an earlier, killed instance had.
    pub fn start_at(
        ebb: &std::path::Path,
        home: &std::path::Path,
        addr: &str,
        extra: &[&str],
    ) -> LocalServe {
        use std::io::{BufRead, BufReader};
        let mut cmd = Command::new(ebb);
        for var in AWS_VARS {
            cmd.env_remove(var);
        }
        let mut child = cmd
            .envs(isolated_env(home))
            .args(["local", "serve", "--addr", addr])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start ebb local serve");
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            BufReader::new(out)
                .read_line(&mut line)
                .expect("read the first line");
        }
        let info = serde_json::from_str(&line).expect("one JSON line");
        LocalServe { child, info }
    }

    pub fn url(&self) -> String {
        self.info["endpoint_url"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Variables that point AWS tools (boto3) at this cloud, as `ebb local env` prints them.
    pub fn aws_env(&self) -> Vec<(String, String)> {
        let field = |k: &str| self.info[k].as_str().unwrap_or_default().to_string();
        vec![
            ("AWS_ENDPOINT_URL".into(), field("endpoint_url")),
            ("AWS_ACCESS_KEY_ID".into(), field("access_key_id")),
            ("AWS_SECRET_ACCESS_KEY".into(), field("secret_access_key")),
            ("AWS_REGION".into(), field("region")),
            ("AWS_DEFAULT_REGION".into(), field("region")),
        ]
    }

    /// SIGKILL: gone at once, as in a crash.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(killed.success());
        self.child.wait().expect("wait for ebb local serve")
    }
}

impl Drop for LocalServe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
