//! Ebb's log files: `<home>/logs/<name>.<YYYY-MM-DD>.log`, one file a day (UTC) for each name
//! (`cli`, `app`), the newest [`KEEP_FILES`] kept. Written by `tracing-appender`'s rolling
//! appender, which is safe with several processes logging at once (a script running `ebb`
//! commands in parallel, next to the app):
//! - every process opens the day's file in append mode and writes each event (one formatted
//!   line) with a single write, so lines from different processes never mix;
//! - no file is ever renamed: a new day starts a new file, named by its date, so no process
//!   writes into a file that another has moved away;
//! - writes go straight to the file (no buffer, no background worker), so nothing is left
//!   unwritten when a CLI command exits.
//!
//! Logs are the user's alone: the folder is made 0700 and the log files 0600 (see
//! [`open`]).

use std::io;
use std::path::{Path, PathBuf};

use tracing_appender::rolling::{InitError, RollingFileAppender, Rotation};

/// How many of a name's daily files are kept; older ones are deleted when a process starts
/// or a day begins.
pub const KEEP_FILES: usize = 7;

/// Where Ebb's logs are, for a home.
pub fn logs_dir(home: &Path) -> PathBuf {
    home.join("logs")
}

/// Why a process logs to stderr alone.
#[derive(Debug, thiserror::Error)]
pub enum LogFileError {
    #[error("no Ebb home, so no log file")]
    NoHome,
    #[error("no log file in {}: {source}", dir.display())]
    Folder { dir: PathBuf, source: io::Error },
    #[error("no log file in {}: {source}", dir.display())]
    Appender { dir: PathBuf, source: InitError },
}

/// Whether `file_name` is one of the daily files of `name`: `<name>.<YYYY-MM-DD>.log`.
pub fn is_daily_file(file_name: &str, name: &str) -> bool {
    let date = file_name
        .strip_prefix(name)
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(|rest| rest.strip_suffix(".log"));
    date.is_some_and(|d| {
        d.len() == 10
            && d.char_indices().all(|(i, c)| {
                if i == 4 || i == 7 {
                    c == '-'
                } else {
                    c.is_ascii_digit()
                }
            })
    })
}

/// The daily files of `name` in `dir`, oldest first (the dates sort as text).
pub fn daily_files(dir: &Path, name: &str) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry
            .file_name()
            .to_str()
            .is_some_and(|f| is_daily_file(f, name))
        {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

/// Sets `path`'s permission bits to `mode` unless they already are. A file that is gone was
/// deleted by another process trimming old logs: nothing to do.
#[cfg(unix)]
fn make_private(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let result = std::fs::metadata(path).and_then(|meta| {
        if meta.permissions().mode() & 0o777 == mode {
            return Ok(());
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
    });
    match result {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(not(unix))]
fn make_private(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

/// Opens today's log of `name` in `dir` for appending (creating both if needed) and returns the
/// appender with the path of the file it writes now.
///
/// The appender creates files with the process's default mode, so once it has opened today's
/// file, every daily file of `name` is made 0600 (and the folder 0700). A process that is still
/// running when a new day begins (the app, a long `ebb jobs run`) creates that day's file with
/// its umask's mode (Ebb sets 0o077 at start, so 0600 then too); whatever the mode, the file
/// sits in the 0700 folder, and the next process to start makes it 0600.
///
/// Errors: the folder cannot be created or made private, or the file cannot be opened.
pub fn open(dir: &Path, name: &str) -> Result<(RollingFileAppender, PathBuf), LogFileError> {
    let folder_error = |source| LogFileError::Folder {
        dir: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(folder_error)?;
    make_private(dir, 0o700).map_err(folder_error)?;
    let appender = RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix(name)
        .filename_suffix("log")
        .max_log_files(KEEP_FILES)
        .build(dir)
        .map_err(|source| LogFileError::Appender {
            dir: dir.to_path_buf(),
            source,
        })?;
    let files = daily_files(dir, name).map_err(folder_error)?;
    for file in &files {
        make_private(file, 0o600).map_err(folder_error)?;
    }
    // The newest date is the file just opened (another process cannot be a day ahead).
    let current = files
        .last()
        .cloned()
        .unwrap_or_else(|| dir.join(format!("{name}.log")));
    Ok((appender, current))
}

/// Sets up logging for a process: to stderr (filtered by `EBB_LOG` if set, else by
/// `stderr_filter`), and to `<home>/logs/<name>.<date>.log` (Ebb at `file_level`, everything
/// else at info and above). Returns the log file's path, or why there is none (logging to
/// stderr then goes on alone).
pub fn init_tracing(
    home: Option<&Path>,
    name: &str,
    stderr_filter: &str,
    file_level: &str,
) -> Result<PathBuf, LogFileError> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer, fmt};

    // A named AWS config file that does not exist is normal (and said by `ebb doctor`); the
    // SDK's warning about it is noise.
    const QUIET: &str = "aws_runtime::env_config=error";
    // An empty EBB_LOG counts as unset.
    let chosen = std::env::var("EBB_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let stderr = fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_filter(
            chosen
                .and_then(|v| EnvFilter::try_new(v).ok())
                .unwrap_or_else(|| EnvFilter::new(format!("{stderr_filter},{QUIET}"))),
        );
    let file = match home {
        Some(home) => open(&logs_dir(home), name),
        None => Err(LogFileError::NoHome),
    };
    let filter = format!(
        // `ebb` matches every Ebb target: the crates (ebb_core, ebb_local, ebb_app) and the CLI.
        "info,ebb={file_level},{QUIET}"
    );
    let (file_layer, outcome) = match file {
        Ok((appender, path)) => {
            let layer = fmt::layer()
                .with_ansi(false)
                .with_writer(appender)
                .with_filter(EnvFilter::new(filter));
            (Some(layer), Ok(path))
        }
        Err(e) => (None, Err(e)),
    };
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file_layer)
        .try_init();
    outcome
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_default()
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
    }

    #[test]
    fn daily_file_names_are_recognised() {
        assert!(is_daily_file("cli.2026-11-29.log", "cli"));
        assert!(!is_daily_file("app.2026-11-29.log", "cli"));
        assert!(!is_daily_file("cli.log", "cli"), "the old single file");
        assert!(!is_daily_file("cli.log.1", "cli"));
        assert!(!is_daily_file("cli.2026-11-29.log.tmp", "cli"));
        assert!(!is_daily_file("cli.2026_11_29.log", "cli"));
    }

    #[test]
    fn appends_to_the_days_file_a_previous_run_left() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut first, path) = open(dir.path(), "cli").expect("open");
        writeln!(first, "first run").expect("write");
        drop(first);
        let (mut second, again) = open(dir.path(), "cli").expect("open");
        writeln!(second, "second run").expect("write");
        assert_eq!(path, again, "the same day's file");
        let file_name = path.file_name().and_then(|f| f.to_str()).unwrap_or("");
        assert!(is_daily_file(file_name, "cli"), "{}", path.display());
        assert_eq!(read(&path), "first run\nsecond run\n");
        assert_eq!(daily_files(dir.path(), "cli").expect("list"), vec![path]);
    }

    #[cfg(unix)]
    #[test]
    fn logs_are_the_users_alone_whatever_mode_they_were_created_with() {
        use std::os::unix::fs::PermissionsExt;
        let home = tempfile::tempdir().expect("tempdir");
        let dir = logs_dir(home.path());
        std::fs::create_dir(&dir).expect("mkdir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        // A file the appender created at a day's start in a process with an open umask.
        let older = dir.join("cli.2020-01-01.log");
        std::fs::write(&older, "old\n").expect("write");
        std::fs::set_permissions(&older, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let (_, current) = open(&dir, "cli").expect("open");
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&current), 0o600);
        assert_eq!(mode(&older), 0o600);
    }

    #[test]
    fn keeps_only_the_newest_days() {
        let dir = tempfile::tempdir().expect("tempdir");
        for day in 1..=10 {
            let file = dir.path().join(format!("cli.2020-01-{day:02}.log"));
            std::fs::write(file, "old\n").expect("write");
        }
        std::fs::write(dir.path().join("app.2020-01-01.log"), "app\n").expect("write");
        let (_, current) = open(dir.path(), "cli").expect("open");
        let kept = daily_files(dir.path(), "cli").expect("list");
        assert_eq!(kept.len(), KEEP_FILES, "{kept:?}");
        assert_eq!(kept.last(), Some(&current));
        assert!(
            dir.path().join("app.2020-01-01.log").exists(),
            "another name's files are left alone"
        );
    }
}
