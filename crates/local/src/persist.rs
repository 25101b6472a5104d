//! Control-plane state saved as JSON in the data folder, written whole and renamed into place so
//! a crash never leaves half a file.

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The saved state, or the default when there is none or it cannot be read (logged).
pub fn load<T: DeserializeOwned + Default>(path: &Path, what: &str) -> T {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(file = %path.display(), "ignoring unreadable {what} state: {e}");
            T::default()
        }),
        Err(_) => T::default(),
    }
}

pub fn save<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(
        &tmp,
        serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?,
    )?;
    std::fs::rename(tmp, path)
}
