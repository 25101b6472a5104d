//! One local cloud per data folder: the process running it holds an OS advisory lock on
//! `lock` in the folder for as long as it runs. Two simulators over one folder would replay the
//! same queue journals and keep diverging object indexes.
//!
//! The lock belongs to the open file, so the OS releases it when the process ends in any way,
//! killed included: a lock left behind never blocks the next start.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::Error;

/// The lock file's name in the data folder; it holds the process id of the holder.
const FILE: &str = "lock";

/// Held while the local cloud runs; dropping it releases the folder.
#[derive(Debug)]
pub struct DataLock {
    _file: File,
}

fn lock_file(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE)
}

/// Takes the data folder's lock, or says which process holds it.
///
/// Errors: [`Error::Locked`] when another local cloud holds it, [`Error::DataDir`] when the lock
/// file cannot be opened or written.
pub fn acquire(data_dir: &Path) -> Result<DataLock, Error> {
    let path = lock_file(data_dir);
    let io_error = |source: std::io::Error| Error::DataDir {
        path: path.clone(),
        source,
    };
    let mut options = OpenOptions::new();
    // Not truncated on open: until the lock is ours, the file names the holder.
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).map_err(io_error)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(Error::Locked {
                data_dir: data_dir.to_path_buf(),
                pid: holder(&mut file),
            });
        }
        Err(TryLockError::Error(e)) => return Err(io_error(e)),
    }
    file.set_len(0).map_err(io_error)?;
    file.rewind().map_err(io_error)?;
    file.write_all(std::process::id().to_string().as_bytes())
        .map_err(io_error)?;
    Ok(DataLock { _file: file })
}

/// The process id written by the holder (unknown while it is still writing it, or where the
/// OS refuses reads of a locked file).
fn holder(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// The sentence for [`Error::Locked`].
pub(crate) fn held_message(data_dir: &Path, pid: &Option<u32>) -> String {
    let who = match pid {
        Some(pid) => format!("process {pid}"),
        None => "another process".to_string(),
    };
    format!(
        "another local cloud runs over the data folder {} ({who} holds it): wait for that \
         command to end, or stop it; to share one cloud between commands, keep it running \
         with `ebb local serve` or the app",
        data_dir.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_folder_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path()).unwrap();
        match acquire(dir.path()) {
            Err(Error::Locked { data_dir, pid }) => {
                assert_eq!(data_dir, dir.path());
                assert_eq!(pid, Some(std::process::id()));
            }
            other => panic!("expected Locked, got {other:?}"),
        }
        drop(first);
        let again = acquire(dir.path()).unwrap();
        drop(again);
    }
}
