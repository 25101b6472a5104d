//! The local cloud's files in the Ebb home: stable keys (so notebooks keep working across
//! restarts) and a discovery file naming the running server, both readable only by the user.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{ConnectionInfo, Credentials};

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

pub fn withdraw(ebb_home: &Path) {
    let _ = std::fs::remove_file(running_file(ebb_home));
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

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
