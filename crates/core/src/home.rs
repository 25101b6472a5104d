//! Where Ebb keeps its files: `EBB_HOME` if set, else the OS app-data dir (`~/.local/share/ebb`).

use std::path::PathBuf;

use crate::error::Error;

pub const HOME_ENV: &str = "EBB_HOME";

pub fn ebb_home() -> Result<PathBuf, Error> {
    if let Some(dir) = std::env::var_os(HOME_ENV).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    dirs::data_dir().map(|d| d.join("ebb")).ok_or(Error::NoHome)
}
