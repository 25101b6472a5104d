//! The local cloud's files in the Ebb home: stable keys (so notebooks keep working across
//! restarts) and a discovery file naming the running server, both readable only by the user.

use std::path::{Path, PathBuf};

use std::time::Duration;

use serde::Deserialize;

use crate::{Config, ConnectionInfo, Credentials, Error, LocalCloud};

pub fn dir(ebb_home: &Path) -> PathBuf {
    ebb_home.join("local")
}

pub fn data_dir(ebb_home: &Path) -> PathBuf {
    dir(ebb_home).join("data")
}

fn credentials_file(ebb_home: &Path) -> PathBuf {
    dir(ebb_home).join("credentials.json")
}

fn running_file(ebb_home: &Path) -> PathBuf {
    dir(ebb_home).join("running.json")
}

/// The keys of this Ebb home's local cloud, created on first use.
pub fn credentials(ebb_home: &Path) -> std::io::Result<Credentials> {
    let path = credentials_file(ebb_home);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            std::io::Error::other(format!(
                "{} is not valid ({e}); delete it to get new local keys",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let creds = Credentials::generate();
            write_private(&path, &serde_json::to_vec_pretty(&creds)?)?;
            Ok(creds)
        }
        Err(e) => Err(e),
    }
}

/// Records the running server so other Ebb processes on this home can use it.
pub fn announce(ebb_home: &Path, info: &ConnectionInfo) -> std::io::Result<()> {
    let record = serde_json::json!({ "pid": std::process::id(), "connection": info });
    write_private(
        &running_file(ebb_home),
        &serde_json::to_vec_pretty(&record)?,
    )
}

#[derive(Deserialize)]
struct RunningRecord {
    pid: u32,
    connection: ConnectionInfo,
}

/// The local cloud announced for this Ebb home, if it answers; a stale record is ignored.
pub async fn running(ebb_home: &Path) -> Option<(u32, ConnectionInfo)> {
    let bytes = std::fs::read(running_file(ebb_home)).ok()?;
    let record: RunningRecord = serde_json::from_slice(&bytes).ok()?;
    let addr = record
        .connection
        .endpoint_url
        .strip_prefix("http://")?
        .to_string();
    let connect = tokio::net::TcpStream::connect(addr);
    match tokio::time::timeout(Duration::from_millis(800), connect).await {
        Ok(Ok(_)) => Some((record.pid, record.connection)),
        _ => None,
    }
}

/// The local cloud a command or the app works with.
pub enum Attached {
    /// Already running for this Ebb home (the app's, or `ebb local serve`).
    Running(ConnectionInfo),
    /// Started in this process; it stops when this is stopped or dropped.
    Started { cloud: LocalCloud, announced: bool },
}

impl Attached {
    pub fn info(&self) -> &ConnectionInfo {
        match self {
            Attached::Running(info) => info,
            Attached::Started { cloud, .. } => cloud.info(),
        }
    }

    /// Stops a cloud this process started (and withdraws its announcement).
    pub async fn stop(self, ebb_home: &Path) {
        if let Attached::Started { cloud, announced } = self {
            if announced {
                withdraw(ebb_home);
            }
            cloud.stop().await;
        }
    }
}

/// How long [`attach`] waits, when another process holds the data folder, for that cloud to be
/// announced or for the folder to be free (a one-off command's cloud ends with the command).
pub const LOCK_WAIT: Duration = Duration::from_secs(15);

/// Uses the local cloud already running for this Ebb home, else starts one in this process on
/// a free loopback port. `announce` makes a started one discoverable by other Ebb processes
/// (the app does; a one-off command does not).
///
/// Never a second cloud over the data folder: while another process holds it, this waits up
/// to [`LOCK_WAIT`] and attaches to that cloud once it is announced, or starts one once the
/// folder is free. Errors: [`Error::Locked`] naming the folder and its holder when neither
/// happens in time, and [`LocalCloud::start`]'s other errors.
pub async fn attach(ebb_home: &Path, announce_started: bool) -> Result<Attached, Error> {
    attach_within(ebb_home, announce_started, LOCK_WAIT).await
}

/// [`attach`], waiting at most `wait` for a held data folder.
pub async fn attach_within(
    ebb_home: &Path,
    announce_started: bool,
    wait: Duration,
) -> Result<Attached, Error> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        if let Some((_, info)) = running(ebb_home).await {
            return Ok(Attached::Running(info));
        }
        match start(ebb_home, announce_started).await {
            Err(Error::Locked { .. }) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => return other,
        }
    }
}

async fn start(ebb_home: &Path, announce_started: bool) -> Result<Attached, Error> {
    let credentials = credentials(ebb_home).map_err(|source| Error::DataDir {
        path: credentials_file(ebb_home),
        source,
    })?;
    let config = Config::new(
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir(ebb_home),
        credentials,
    );
    let cloud = LocalCloud::start(config).await?;
    let announced = announce_started
        && match announce(ebb_home, cloud.info()) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!("could not record the running local cloud: {e}");
                false
            }
        };
    Ok(Attached::Started { cloud, announced })
}

pub fn withdraw(ebb_home: &Path) {
    let _ = std::fs::remove_file(running_file(ebb_home));
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    crate::persist::write_atomic(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn attach_reuses_an_announced_cloud_and_ignores_a_stale_record() {
        let home = tempfile::tempdir().unwrap();
        let first = attach(home.path(), true).await.unwrap();
        assert!(matches!(
            first,
            Attached::Started {
                announced: true,
                ..
            }
        ));
        let second = attach(home.path(), false).await.unwrap();
        assert!(matches!(second, Attached::Running(_)));
        assert_eq!(second.info(), first.info());
        let url = first.info().endpoint_url.clone();
        first.stop(home.path()).await;
        assert!(running(home.path()).await.is_none());
        // A record left behind by a killed process is not trusted.
        let stale = ConnectionInfo {
            endpoint_url: url,
            ..second.info().clone()
        };
        announce(home.path(), &stale).unwrap();
        let third = attach(home.path(), false).await.unwrap();
        assert!(matches!(
            third,
            Attached::Started {
                announced: false,
                ..
            }
        ));
        third.stop(home.path()).await;
    }

    #[tokio::test]
    async fn a_held_data_folder_is_attached_to_once_announced_waited_for_or_refused() {
        let home = tempfile::tempdir().unwrap();
        // A cloud over this home's data folder that is not announced (a one-off command's).
        let held = attach(home.path(), false).await.unwrap();
        let short = Duration::from_millis(600);
        let Err(err) = attach_within(home.path(), false, short).await else {
            panic!("a second local cloud started over a held data folder");
        };
        let message = err.to_string();
        assert!(
            matches!(&err, Error::Locked { data_dir: d, pid: Some(p) }
                if *d == data_dir(home.path()) && *p == std::process::id()),
            "{err:?}"
        );
        assert!(
            message.contains(&data_dir(home.path()).display().to_string())
                && message.contains(&format!("process {}", std::process::id())),
            "{message}"
        );
        // Announced, it is used rather than refused.
        announce(home.path(), held.info()).unwrap();
        let second = attach_within(home.path(), false, short).await.unwrap();
        assert!(matches!(second, Attached::Running(_)));
        assert_eq!(second.info(), held.info());
        withdraw(home.path());
        // When the holder ends while another waits, that one starts its own.
        let path = home.path().to_path_buf();
        let waiter =
            tokio::spawn(async move { attach_within(&path, false, Duration::from_secs(20)).await });
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!waiter.is_finished(), "it waits while the folder is held");
        held.stop(home.path()).await;
        let third = waiter.await.unwrap().unwrap();
        assert!(matches!(third, Attached::Started { .. }));
        third.stop(home.path()).await;
    }

    #[test]
    fn keys_are_created_once_and_kept_private() {
        let home = tempfile::tempdir().unwrap();
        let first = credentials(home.path()).unwrap();
        assert_eq!(credentials(home.path()).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(credentials_file(home.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
