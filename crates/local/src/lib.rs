//! Ebb's local cloud: an HTTP server on 127.0.0.1 that speaks the AWS wire protocols Ebb uses,
//! so the engine runs unchanged against it (custom endpoint URL + these local credentials).
//!
//! Every request must carry a valid SigV4 signature for the local credentials.

pub mod autoscaling;
pub mod aws_like;
pub mod cloudwatch;
mod constraints;
pub mod faults;
pub mod home;
mod lock;
pub mod logs;
pub mod model;
mod persist;
mod protocol;
mod runtime;
pub mod s3;
pub mod sagemaker;
mod server;
mod sessions;
pub mod sigv4;
pub mod sim;
mod sts;

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use server::LocalCloud;

/// The region the local cloud presents itself as.
pub const REGION: &str = "us-east-1";
/// The account id of the local identity (as LocalStack does, all zeros).
pub const ACCOUNT_ID: &str = "000000000000";
/// The role local mode offers when none is configured; the local cloud accepts any role ARN.
pub const PLACEHOLDER_ROLE_ARN: &str = "arn:aws:iam::000000000000:role/EbbLocalExecutionRole";

/// SageMaker's default bucket name for the local account, created at start-up.
pub fn default_bucket() -> String {
    format!("sagemaker-{REGION}-{ACCOUNT_ID}")
}

/// Keys for the local cloud only; they open nothing outside this computer. Their `Debug`
/// output leaves the secret out, so logs and panics never show it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl Credentials {
    /// Fresh random keys, shaped like AWS's (20-char id, 40-char secret).
    pub fn generate() -> Credentials {
        use rand::distr::{Alphanumeric, SampleString};
        let mut rng = rand::rng();
        Credentials {
            access_key_id: format!(
                "EBBL{}",
                Alphanumeric
                    .sample_string(&mut rng, 16)
                    .to_ascii_uppercase()
            ),
            secret_access_key: Alphanumeric.sample_string(&mut rng, 40),
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &REDACTED)
            .finish()
    }
}

/// What `Debug` shows in place of a secret.
pub(crate) const REDACTED: &str = "** redacted **";

#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen; port 0 picks a free one. Only loopback addresses are accepted.
    pub addr: SocketAddr,
    /// Where the local cloud keeps its data (objects, resources).
    pub data_dir: PathBuf,
    pub credentials: Credentials,
    /// Simulated seconds per real second (1.0 = real time).
    pub speed: f64,
    /// Simulated time an instance takes to start.
    pub startup: std::time::Duration,
    pub faults: Vec<faults::Fault>,
    /// Behave like a busy real account (off by default): control-plane throttling, empty
    /// log pages with a token, failure objects named apart from outputs. See [`aws_like`].
    pub aws_like: bool,
    /// Where real models come from and what they may use (see [`model`]).
    pub models: model::Settings,
}

impl Config {
    /// Real-time clock, a 3 s simulated start-up, no faults; AWS-like when the environment
    /// says so ([`aws_like::ENV`]).
    pub fn new(addr: SocketAddr, data_dir: PathBuf, credentials: Credentials) -> Config {
        Config {
            addr,
            data_dir,
            credentials,
            speed: 1.0,
            startup: std::time::Duration::from_secs(3),
            faults: Vec::new(),
            aws_like: aws_like::from_env(),
            models: model::Settings::from_env(),
        }
    }
}

/// What `ebb local serve` prints, and what a client needs to connect. Its `Debug` output
/// leaves the secret out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionInfo {
    pub endpoint_url: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for ConnectionInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionInfo")
            .field("endpoint_url", &self.endpoint_url)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &REDACTED)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "the local cloud listens on loopback only; {0} is not a loopback address (use 127.0.0.1)"
    )]
    NotLoopback(SocketAddr),
    #[error("could not listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("could not create the data folder {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Another process runs a local cloud over the same data folder (see [`home::attach`],
    /// which attaches to it instead when it is announced).
    #[error("{}", lock::held_message(.data_dir, .pid))]
    Locked {
        data_dir: PathBuf,
        /// The process holding the folder, when its lock file says.
        pid: Option<u32>,
    },
    /// A saved state file exists but cannot be read or parsed; it is left as it is, never
    /// replaced by an empty state.
    #[error(
        "the local cloud's state file {path} cannot be read ({reason}); it was left as it is: \
         restore it, or move it out of the data folder to start without the {what} it held"
    )]
    State {
        path: PathBuf,
        /// What the file holds, e.g. "SageMaker resources".
        what: String,
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_leaves_the_secret_out() {
        let creds = Credentials::generate();
        let info = ConnectionInfo {
            endpoint_url: "http://127.0.0.1:1".into(),
            region: REGION.into(),
            access_key_id: creds.access_key_id.clone(),
            secret_access_key: creds.secret_access_key.clone(),
        };
        for shown in [
            format!("{creds:?}"),
            format!("{info:?}"),
            format!("{info:#?}"),
        ] {
            assert!(!shown.contains(&creds.secret_access_key), "{shown}");
            assert!(shown.contains(&creds.access_key_id), "{shown}");
            assert!(shown.contains(REDACTED), "{shown}");
        }
    }
}
