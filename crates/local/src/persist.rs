//! Control-plane state saved as JSON in the data folder, written whole to a temporary file of
//! its own and renamed into place, so a crash never leaves half a file and two saves never
//! write through the same temporary.

use std::io::Write;
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;

/// The saved state; the default when the file does not exist yet.
///
/// `what` names the file's contents for the error (e.g. "SageMaker resources").
/// Errors: [`Error::State`] when the file exists but cannot be read or parsed; the file is left
/// as it is, so that nothing is lost by starting over an empty state.
pub fn load<T: DeserializeOwned + Default>(path: &Path, what: &str) -> Result<T, Error> {
    let unreadable = |reason: String| Error::State {
        path: path.to_path_buf(),
        what: what.to_string(),
        reason,
    };
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| unreadable(e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(unreadable(e.to_string())),
    }
}

/// Saves `value` as pretty JSON at `path` (see [`write_atomic`]).
pub fn save<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    write_atomic(
        path,
        &serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?,
    )
}

/// Replaces `path` with `bytes`: written to a uniquely named temporary in the same folder
/// (readable by the user only), synced so that a machine crash cannot leave an empty file, then
/// renamed over `path` in one step.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // tempfile creates it with mode 0600 on Unix and removes it if anything below fails.
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_no_state_and_a_corrupt_one_is_an_error_that_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let empty: Vec<u32> = load(&path, "numbers").unwrap();
        assert!(empty.is_empty());
        std::fs::write(&path, b"{ not json").unwrap();
        let err = load::<Vec<u32>>(&path, "numbers").unwrap_err();
        let message = err.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(
            message.contains("move it out of the data folder"),
            "{message}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"{ not json");
    }

    #[test]
    fn saves_from_many_threads_each_land_whole_and_leave_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        // Large enough that a shared temporary name would interleave or lose writes.
        let values: Vec<Vec<u32>> = (0..8).map(|i| vec![i; 20_000]).collect();
        std::thread::scope(|s| {
            for v in &values {
                let path = &path;
                s.spawn(move || {
                    for _ in 0..10 {
                        save(path, v).unwrap();
                    }
                });
            }
        });
        let saved: Vec<u32> = load(&path, "numbers").unwrap();
        assert!(values.contains(&saved), "the file holds one save whole");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["state.json"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
