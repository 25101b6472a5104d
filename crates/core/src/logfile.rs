//! Ebb's log files: `<home>/logs/<name>.log`, rotated when it would pass a size limit, with a
//! few older files kept (`<name>.log.1` the newest). Handed to `tracing` as a writer by the CLI
//! and the app; each write is one formatted event, so rotation never splits a line.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// 5 MB a file, three older files: at most 20 MB of logs per name.
pub const MAX_BYTES: u64 = 5 * 1024 * 1024;
pub const KEEP: u32 = 3;

/// Where Ebb's logs are, for a home.
pub fn logs_dir(home: &Path) -> PathBuf {
    home.join("logs")
}

struct State {
    path: PathBuf,
    file: File,
    size: u64,
    max: u64,
    keep: u32,
}

/// A shared, rotating log file; clones write to the same file.
#[derive(Clone)]
pub struct LogFile(Arc<Mutex<State>>);

fn open_append(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

impl LogFile {
    /// Opens (or creates) `<dir>/<name>.log` for appending.
    pub fn open(dir: &Path, name: &str) -> io::Result<LogFile> {
        LogFile::with_limits(dir, name, MAX_BYTES, KEEP)
    }

    pub fn with_limits(dir: &Path, name: &str, max: u64, keep: u32) -> io::Result<LogFile> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("{name}.log"));
        let file = open_append(&path)?;
        let size = file.metadata()?.len();
        Ok(LogFile(Arc::new(Mutex::new(State {
            path,
            file,
            size,
            max,
            keep,
        }))))
    }

    pub fn path(&self) -> Option<PathBuf> {
        self.0.lock().ok().map(|s| s.path.clone())
    }
}

fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

impl State {
    /// name.log.(keep-1) → .keep (the oldest is overwritten), …, name.log → .1, then a new file.
    fn rotate(&mut self) -> io::Result<()> {
        if self.keep == 0 {
            self.file = File::create(&self.path)?;
        } else {
            for n in (1..self.keep).rev() {
                let from = numbered(&self.path, n);
                if from.exists() {
                    std::fs::rename(&from, numbered(&self.path, n + 1))?;
                }
            }
            std::fs::rename(&self.path, numbered(&self.path, 1))?;
            self.file = open_append(&self.path)?;
        }
        self.size = 0;
        Ok(())
    }
}

impl Write for LogFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut state = self
            .0
            .lock()
            .map_err(|_| io::Error::other("the log file lock is poisoned"))?;
        if state.size > 0 && state.size + buf.len() as u64 > state.max {
            state.rotate()?;
        }
        state.file.write_all(buf)?;
        state.size += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.0.lock() {
            Ok(mut state) => state.file.flush(),
            Err(_) => Ok(()),
        }
    }
}

/// Sets up logging for a process: to stderr (filtered by `EBB_LOG` if set, else by
/// `stderr_filter`), and to `<home>/logs/<name>.log` (Ebb at `file_level`, everything else at
/// info and above). Returns the log file's path, or why there is none (logging to stderr then
/// goes on alone).
pub fn init_tracing(
    home: Option<&Path>,
    name: &str,
    stderr_filter: &str,
    file_level: &str,
) -> Result<PathBuf, String> {
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
        Some(home) => LogFile::open(&logs_dir(home), name)
            .map_err(|e| format!("no log file in {}: {e}", logs_dir(home).display())),
        None => Err("no Ebb home, so no log file".to_string()),
    };
    let filter = format!(
        // `ebb` matches every Ebb target: the crates (ebb_core, ebb_local, ebb_app) and the CLI.
        "info,ebb={file_level},{QUIET}"
    );
    let (file_layer, outcome) = match file {
        Ok(f) => {
            let path = f.path().unwrap_or_default();
            let layer = fmt::layer()
                .with_ansi(false)
                .with_writer(move || f.clone())
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
    use super::*;

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_default()
    }

    #[test]
    fn rotates_at_the_limit_and_keeps_the_newest_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = LogFile::with_limits(dir.path(), "app", 100, 2).expect("open");
        for i in 0..10 {
            // One write per event, as tracing does; 40 bytes a line: two lines fit in 100
            // bytes, the third rotates.
            let line = format!("line {i:02} {}\n", "x".repeat(31));
            log.write_all(line.as_bytes()).expect("write");
        }
        let base = dir.path().join("app.log");
        let current = read(&base);
        assert!(current.starts_with("line 08"), "{current}");
        assert!(current.contains("line 09"));
        assert!(read(&numbered(&base, 1)).starts_with("line 06"));
        assert!(read(&numbered(&base, 2)).starts_with("line 04"));
        assert!(
            !numbered(&base, 3).exists(),
            "only two older files are kept"
        );
        for f in [base.clone(), numbered(&base, 1), numbered(&base, 2)] {
            assert!(std::fs::metadata(&f).expect("stat").len() <= 100);
        }
    }

    #[test]
    fn appends_to_the_file_a_previous_run_left() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut log = LogFile::open(dir.path(), "cli").expect("open");
            writeln!(log, "first run").expect("write");
        }
        let mut log = LogFile::open(dir.path(), "cli").expect("open");
        writeln!(log, "second run").expect("write");
        assert_eq!(read(&dir.path().join("cli.log")), "first run\nsecond run\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("cli.log"))
                .expect("stat")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "logs are the user's alone");
        }
    }
}
