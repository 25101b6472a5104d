//! Where Ebb keeps its files: `EBB_HOME` if set, else the OS app-data dir (`~/.local/share/ebb`).

use std::path::{Path, PathBuf};

use crate::error::Error;

pub const HOME_ENV: &str = "EBB_HOME";

pub fn ebb_home() -> Result<PathBuf, Error> {
    if let Some(dir) = std::env::var_os(HOME_ENV).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    dirs::data_dir().map(|d| d.join("ebb")).ok_or(Error::NoHome)
}

/// Folders of the home that hold only Ebb's files (the local cloud's keys and data, logs, the
/// app's exports).
const OWN_FOLDERS: [&str; 3] = ["local", "logs", "exports"];

/// Files Ebb keeps at the top of the home, with SQLite's companions of the job store.
const OWN_FILES: [&str; 6] = [
    "settings.json",
    "jobs.sqlite",
    "jobs.sqlite-wal",
    "jobs.sqlite-shm",
    "prices.json",
    "window.json",
];

/// The umask the user had before `private_umask`, for files written where the user says.
static USER_UMASK: std::sync::OnceLock<u32> = std::sync::OnceLock::new();

/// Makes every file and folder this process creates from now on readable only by its owner
/// (umask 077), and remembers the user's umask for `give_user_mode`.
///
/// Why a process-wide umask rather than only explicit modes: the home holds prompts, inputs,
/// outputs and logs written by SQLite (its `-wal` and `-shm`), the local cloud's object store
/// and `tracing`, and a mode on each `open` would miss any library's file. Call it first thing
/// in `main`, before any thread starts (the umask is shared by every thread).
pub fn private_umask() {
    #[cfg(unix)]
    {
        // SAFETY: umask only swaps the process's file-creation mask; it cannot fail.
        let before = unsafe { libc::umask(0o077) };
        // mode_t is u32 on Linux, u16 on macOS.
        #[allow(clippy::useless_conversion)]
        let _ = USER_UMASK.set(u32::from(before));
    }
}

/// The umask the user had before `private_umask`, for programs Ebb starts on the user's
/// behalf (a file manager creates the user's files, not Ebb's); `None` when it did not run.
pub fn user_umask() -> Option<u32> {
    USER_UMASK.get().copied()
}

/// Gives `path`, a file Ebb wrote where the user named (`ebb results --out`), the mode the
/// user's own umask gives new files, as if the user had made it: it is the user's file, not
/// Ebb's. Does nothing unless `private_umask` ran.
pub fn give_user_mode(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    if let Some(umask) = USER_UMASK.get() {
        use std::os::unix::fs::PermissionsExt;
        let mode = 0o666 & !umask;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Creates `home` readable only by its owner (0700) and tightens an existing one.
///
/// A home left with group or other bits (by an Ebb before this rule, or by hand) also has
/// every folder and file Ebb owns in it made owner-only (the folders named in `OWN_FOLDERS`,
/// all the way down, and the files in `OWN_FILES`); files of the user's own that sit in the
/// home are left alone. A home already at 0700 is not walked again: nothing in it is
/// reachable by others.
///
/// Errors: `Error::Write` for the folder that could not be created or changed.
pub fn make_private(home: &Path) -> Result<(), Error> {
    let error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Write { path, source }
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(home)
            .map_err(error(home))?;
        let mode = std::fs::metadata(home)
            .map_err(error(home))?
            .permissions()
            .mode();
        // A folder of the user's that EBB_HOME names (a project, say) keeps its mode: only a
        // home that is Ebb's (empty, or holding Ebb's files) is tightened. What Ebb writes in it
        // is private either way (the umask).
        if mode & 0o077 != 0 && is_ebbs(home) {
            for name in OWN_FOLDERS.iter().chain(OWN_FILES.iter()) {
                tighten_all(&home.join(name)).map_err(error(&home.join(name)))?;
            }
            std::fs::set_permissions(home, std::fs::Permissions::from_mode(mode & !0o077))
                .map_err(error(home))?;
        }
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(home).map_err(error(home))?;
    Ok(())
}

/// Whether `home` is Ebb's own folder: empty, or holding files only Ebb makes (its settings,
/// job store, local cloud keys or logs); a folder merely named `logs` does not count.
#[cfg(unix)]
fn is_ebbs(home: &Path) -> bool {
    let empty = std::fs::read_dir(home).is_ok_and(|mut entries| entries.next().is_none());
    let ebb_log = std::fs::read_dir(home.join("logs")).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name.starts_with("cli.") || name.starts_with("app.")) && name.contains(".log")
        })
    });
    empty
        || ebb_log
        || ["settings.json", "jobs.sqlite", "local/credentials.json"]
            .iter()
            .any(|name| home.join(name).exists())
}

/// Takes the group and other bits off `path` and, for a folder, everything in it; symbolic
/// links are not followed. A missing `path` is fine.
#[cfg(unix)]
fn tighten_all(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & !0o077))?;
    }
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            tighten_all(&entry?.path())?;
        }
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
    }

    fn set(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    #[test]
    fn a_new_home_is_owner_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("a/ebb");
        make_private(&home).expect("make private");
        assert_eq!(mode(&home), 0o700);
    }

    /// A home an older Ebb left world-readable: Ebb's folders and files lose their group and
    /// other bits all the way down; a file of the user's own in the home keeps its mode.
    #[test]
    fn a_loose_home_is_tightened_except_the_users_own_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path();
        let object = home.join("local/data/s3/o.data");
        std::fs::create_dir_all(object.parent().expect("parent")).expect("mkdir");
        for (path, m) in [
            (object.clone(), 0o644),
            (home.join("jobs.sqlite"), 0o644),
            (home.join("settings.json"), 0o664),
            (home.join("mine.jsonl"), 0o644),
        ] {
            std::fs::write(&path, "x").expect("write");
            set(&path, m);
        }
        for d in ["local", "local/data", "local/data/s3"] {
            set(&home.join(d), 0o755);
        }
        set(home, 0o755);
        make_private(home).expect("make private");
        assert_eq!(mode(home), 0o700);
        for d in ["local", "local/data", "local/data/s3"] {
            assert_eq!(mode(&home.join(d)), 0o700, "{d}");
        }
        for f in ["local/data/s3/o.data", "jobs.sqlite", "settings.json"] {
            assert_eq!(mode(&home.join(f)), 0o600, "{f}");
        }
        assert_eq!(mode(&home.join("mine.jsonl")), 0o644);
    }

    #[test]
    fn a_folder_of_the_users_named_as_home_keeps_its_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path();
        std::fs::create_dir_all(home.join("logs")).expect("mkdir");
        std::fs::write(home.join("logs/build.txt"), "x").expect("write");
        set(&home.join("logs"), 0o755);
        set(home, 0o755);
        make_private(home).expect("make private");
        assert_eq!(mode(home), 0o755);
        assert_eq!(mode(&home.join("logs")), 0o755);
    }
}
