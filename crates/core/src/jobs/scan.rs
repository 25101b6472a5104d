//! Scanning a folder of JSONL files before anything is sent: every non-empty line is one request,
//! which must be a JSON object; every problem is reported as `file:line:column: what`. Files are
//! streamed a buffer at a time, never held whole.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::de::DeserializeSeed;
use serde::{Deserialize, Serialize};

use super::format::{InputFormat, LineShape, ShapeSeed};
use super::progress::{Ticker, Watch, WorkKind, stopped};
use crate::error::Error;

/// The largest line accepted (SageMaker takes async payloads up to 1 GB, but a line this big
/// is almost always a file that is not JSONL).
pub const MAX_LINE_BYTES: usize = 32 * 1024 * 1024;
/// Problems kept for display; all are counted.
const MAX_PROBLEMS_KEPT: usize = 10_000;
const BOM: &[u8] = b"\xEF\xBB\xBF";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The line cannot be sent.
    Error,
    /// Sent, but probably not what the model expects.
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Problem {
    /// The file, as given or relative to the folder scanned.
    pub file: String,
    /// 1-based; 0 for a problem with the file or folder itself.
    pub line: u32,
    /// 1-based byte column within the line.
    pub column: u32,
    pub severity: Severity,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.severity {
            Severity::Error => "",
            Severity::Warning => "warning: ",
        };
        if self.line == 0 {
            write!(f, "{}: {tag}{}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {tag}{}",
                self.file, self.line, self.column, self.message
            )
        }
    }
}

/// One `.jsonl` file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedFile {
    pub path: PathBuf,
    /// Relative to the folder scanned (the file name for a file given directly).
    pub rel: String,
    pub bytes: u64,
    /// The format of its lines (that of its first valid line; TGI for a file sent whole).
    pub format: InputFormat,
    /// Its valid requests.
    pub requests: u32,
}

/// One valid request: where its JSON text is, so that it can be read again when sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub file: u32,
    /// 1-based line (1 for a whole file).
    pub line: u32,
    pub offset: u64,
    pub len: u64,
    /// The id the line carries (`custom_id`, `recordId` or the `--id-field`); None: `file:line`.
    pub id: Option<Box<str>>,
}

#[derive(Debug, Default)]
pub struct Scan {
    pub files: Vec<ScannedFile>,
    pub requests: Vec<Request>,
    /// The first problems found (all are counted in `errors` and `warnings`).
    pub problems: Vec<Problem>,
    pub errors: u32,
    pub warnings: u32,
    /// Bytes of the valid requests.
    pub request_bytes: u64,
    /// Whole files are the requests (`ScanOptions::per_file`).
    pub per_file: bool,
}

/// What the user sees before submitting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ScanSummary {
    pub files: u32,
    pub requests: u32,
    pub request_bytes: f64,
    pub errors: u32,
    pub warnings: u32,
    /// Up to the first 200 problems.
    pub problems: Vec<Problem>,
    /// Each file's format and valid requests (up to the first 200 files).
    pub formats: Vec<FileFormat>,
    /// Some lines are chat-completions bodies (OpenAI batch or chat lines): the endpoint's model
    /// needs TGI's Messages API.
    pub needs_messages_api: bool,
}

/// One file's format, for the scan's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct FileFormat {
    pub file: String,
    pub format: InputFormat,
    pub requests: u32,
}

impl Scan {
    pub fn summary(&self) -> ScanSummary {
        ScanSummary {
            files: self.files.len() as u32,
            requests: self.requests.len() as u32,
            request_bytes: self.request_bytes as f64,
            errors: self.errors,
            warnings: self.warnings,
            problems: self.problems.iter().take(200).cloned().collect(),
            formats: self
                .files
                .iter()
                .take(200)
                .map(|f| FileFormat {
                    file: f.rel.clone(),
                    format: f.format,
                    requests: f.requests,
                })
                .collect(),
            needs_messages_api: self.needs_messages_api(),
        }
    }

    /// Whether any request is a TGI generate body (a TGI file, or any file sent whole).
    pub fn needs_generate(&self) -> bool {
        self.any_file_with_requests(|f| self.per_file || f.format == InputFormat::Tgi)
    }

    /// Whether any request is a chat-completions body (see [`ScanSummary::needs_messages_api`]).
    pub fn needs_messages_api(&self) -> bool {
        !self.per_file
            && self.any_file_with_requests(|f| {
                matches!(f.format, InputFormat::OpenAi | InputFormat::Chat)
            })
    }

    fn any_file_with_requests(&self, wanted: impl Fn(&ScannedFile) -> bool) -> bool {
        self.files.iter().any(|f| f.requests > 0 && wanted(f))
    }

    fn problem(&mut self, file: &str, line: u32, column: u32, severity: Severity, message: String) {
        match severity {
            Severity::Error => self.errors += 1,
            Severity::Warning => self.warnings += 1,
        }
        if self.problems.len() < MAX_PROBLEMS_KEPT {
            self.problems.push(Problem {
                file: file.to_string(),
                line,
                column,
                severity,
                message,
            });
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ScanOptions {
    /// Descend into sub-folders.
    pub recursive: bool,
    /// Each file is one request, sent as it is (the article's way).
    pub per_file: bool,
    /// The field of each line that holds its id (besides `custom_id` and `recordId`, which are
    /// always read); lines without it are `file:line`.
    #[serde(default)]
    pub id_field: Option<String>,
}

/// Scans files and folders; problems never abort the scan, they are all reported.
pub fn scan(paths: &[PathBuf], options: ScanOptions) -> Scan {
    // Nothing ever sets this watch's stop flag, so the scan runs to its end.
    scan_watched(paths, options, Watch::none()).unwrap_or_default()
}

/// [`scan`], reporting bytes read to `watch` and stopping when its flag is set.
///
/// # Errors
/// [`Error::Stopped`] when the user stopped the scan (nothing was submitted).
pub fn scan_watched(paths: &[PathBuf], options: ScanOptions, watch: Watch) -> Result<Scan, Error> {
    let mut out = Scan {
        per_file: options.per_file,
        ..Scan::default()
    };
    let found = find_files(paths, options.recursive, &mut out);
    let sizes: Vec<u64> = found
        .iter()
        .map(|(path, _)| std::fs::metadata(path).map(|m| m.len()).unwrap_or(0))
        .collect();
    let total: u64 = sizes.iter().sum();
    let mut ticker = Ticker::new(watch, WorkKind::Scan, total as f64, found.len() as u32);
    let mut ids = Ids {
        field: options.id_field.clone(),
        seen: HashMap::new(),
    };
    let mut base = 0u64;
    for ((path, rel), bytes) in found.into_iter().zip(sizes) {
        let file = scan_one(
            path,
            rel,
            (bytes, base),
            (&options, &mut ids),
            (&mut out, &mut ticker),
        );
        if ticker.stopped() {
            return Err(stopped("the scan was stopped: nothing was submitted"));
        }
        out.files.push(file);
        base += bytes;
        reserve_for_the_rest(&mut out, base, total);
        ticker.advance(base as f64);
        if !ticker.file_done() {
            return Err(stopped("the scan was stopped: nothing was submitted"));
        }
    }
    ticker.finish();
    out.request_bytes = out.requests.iter().map(|r| r.len).sum();
    Ok(out)
}

/// Makes room at once for the requests of the bytes still to scan, at the rate seen so far:
/// one allocation instead of a doubling series (at a million lines each doubling copied the
/// whole list into freshly zeroed memory, a third of the scan's time).
fn reserve_for_the_rest(out: &mut Scan, scanned: u64, total: u64) {
    if scanned == 0 || out.per_file {
        return;
    }
    let per_byte = out.requests.len() as f64 / scanned as f64;
    let expected = (per_byte * total as f64 * 1.01) as usize;
    out.requests
        .reserve(expected.saturating_sub(out.requests.len()));
}

/// What a scan's outcome depends on: the paths and options, and every file found with its
/// size and modification time. Two equal keys mean scanning again would find the same, so a
/// scan can be kept and reused (the app scans for the summary, then submits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanKey {
    paths: Vec<PathBuf>,
    options: ScanOptions,
    /// Each file found: path, size in bytes, modification time.
    files: Vec<(PathBuf, u64, Option<std::time::SystemTime>)>,
}

impl ScanKey {
    /// Lists the files `paths` name or hold (reading none of them).
    pub fn of(paths: &[PathBuf], options: &ScanOptions) -> ScanKey {
        let files = find_files(paths, options.recursive, &mut Scan::default())
            .into_iter()
            .map(|(path, _)| {
                let meta = std::fs::metadata(&path).ok();
                let size = meta.as_ref().map_or(0, std::fs::Metadata::len);
                let modified = meta.and_then(|m| m.modified().ok());
                (path, size, modified)
            })
            .collect();
        ScanKey {
            paths: paths.to_vec(),
            options: options.clone(),
            files,
        }
    }
}

/// The `.jsonl` files `paths` name or hold, with the names they are shown by.
fn find_files(paths: &[PathBuf], recursive: bool, out: &mut Scan) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    for path in paths {
        let shown = path.display().to_string();
        match std::fs::metadata(path) {
            Err(e) => out.problem(
                &shown,
                0,
                0,
                Severity::Error,
                format!("cannot be read: {e}"),
            ),
            Ok(m) if m.is_dir() => {
                let before = found.len();
                let mut seen = HashSet::new();
                walk(path, path, recursive, &mut seen, &mut found, out);
                if found.len() == before {
                    out.problem(
                        &shown,
                        0,
                        0,
                        Severity::Error,
                        nothing_found(path, recursive),
                    );
                }
            }
            Ok(_) => {
                let rel = path
                    .file_name()
                    .map_or(shown.clone(), |n| n.to_string_lossy().into_owned());
                found.push((path.clone(), rel));
            }
        }
    }
    name_apart(&mut found);
    found
}

/// Scans one file of `bytes` bytes (`base` bytes of the scan before it) into `out`.
fn scan_one(
    path: PathBuf,
    rel: String,
    (bytes, base): (u64, u64),
    (options, ids): (&ScanOptions, &mut Ids),
    (out, ticker): (&mut Scan, &mut Ticker),
) -> ScannedFile {
    let index = out.files.len() as u32;
    let before = out.requests.len();
    let format = match scan_file(&path, (&rel, index), (ids, base), (&mut *out, &mut *ticker)) {
        Ok(format) => format,
        Err(e) => {
            out.problem(&rel, 0, 0, Severity::Error, format!("cannot be read: {e}"));
            None
        }
    };
    let mut format = format.unwrap_or(InputFormat::Tgi);
    let lines = out.requests.len() - before;
    if lines == 0 && bytes == 0 {
        out.problem(&rel, 0, 0, Severity::Warning, "the file is empty".into());
    }
    if options.per_file {
        // The file goes as it is, as one request.
        out.requests.truncate(before);
        if lines > 1 {
            out.problem(&rel, 0, 0, Severity::Warning, format!(
                "per-file mode sends the whole file as one request, but it holds {lines} JSON lines; TGI reads one object"
            ));
        }
        if lines > 0 {
            out.requests.push(Request {
                file: index,
                line: 1,
                offset: 0,
                len: bytes,
                id: None,
            });
        }
        format = InputFormat::Tgi;
    }
    let requests = (out.requests.len() - before) as u32;
    ScannedFile {
        path,
        rel,
        bytes,
        format,
        requests,
    }
}

/// Files of different folders with the same relative name (`ebb submit A B`, each with
/// `x.jsonl`) are named by their whole paths, so that their lines' ids and result files differ.
fn name_apart(found: &mut [(PathBuf, String)]) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (_, rel) in found.iter() {
        *seen.entry(rel.clone()).or_default() += 1;
    }
    for (path, rel) in found.iter_mut() {
        if seen.get(rel.as_str()).is_some_and(|n| *n > 1) {
            *rel = path.display().to_string();
        }
    }
}

/// Collects `.jsonl` files under `dir` in name order; symlinked folders are followed once.
/// Why a folder gave no requests, with what it does hold.
fn nothing_found(dir: &Path, recursive: bool) -> String {
    let mut names: Vec<String> = Vec::new();
    let mut folders = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.path().is_dir() {
            folders += 1;
        } else {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    if names.is_empty() && folders == 0 {
        return "the folder is empty: put the .jsonl request files in it".into();
    }
    names.sort_by(|a, b| natural_cmp(a, b));
    let mut why = "the folder holds no .jsonl files".to_string();
    if !names.is_empty() {
        let more = if names.len() > 3 {
            format!(" and {} more", names.len() - 3)
        } else {
            String::new()
        };
        names.truncate(3);
        why.push_str(&format!(
            " (it has {}{more}: only files ending in .jsonl are read)",
            names.join(", ")
        ));
    }
    if folders > 0 && !recursive {
        why.push_str(" (its sub-folders are read with --recursive)");
    }
    why
}

fn walk(
    root: &Path,
    dir: &Path,
    recursive: bool,
    seen: &mut HashSet<PathBuf>,
    found: &mut Vec<(PathBuf, String)>,
    out: &mut Scan,
) {
    let rel_of = |p: &Path| {
        p.strip_prefix(root)
            .unwrap_or(p)
            .to_string_lossy()
            .into_owned()
    };
    if let Ok(real) = dir.canonicalize()
        && !seen.insert(real)
    {
        out.problem(
            &rel_of(dir),
            0,
            0,
            Severity::Warning,
            "skipped: a link back to a folder already scanned".into(),
        );
        return;
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            out.problem(
                &dir.display().to_string(),
                0,
                0,
                Severity::Error,
                format!("cannot be listed: {e}"),
            );
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort_by(|a, b| natural_cmp(&a.to_string_lossy(), &b.to_string_lossy()));
    for p in paths {
        if p.is_dir() {
            if recursive {
                walk(root, &p, recursive, seen, found, out);
            }
        } else if p
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("jsonl"))
        {
            if written_by_ebb(&p) {
                out.problem(
                    &rel_of(&p),
                    0,
                    0,
                    Severity::Warning,
                    "skipped: results Ebb wrote (result files, errors.jsonl) are not requests"
                        .into(),
                );
            } else {
                found.push((p.clone(), rel_of(&p)));
            }
        }
    }
}

/// Result files Ebb writes beside the inputs (see `super::files`): `<name>.out.jsonl`, and
/// `errors.jsonl` beside its `manifest.json`.
fn written_by_ebb(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    name.ends_with(super::files::RESULT_SUFFIX)
        || (name == super::files::ERRORS_FILE
            && path.with_file_name(super::files::MANIFEST_FILE).exists())
}

/// The `len` bytes at `offset` of `file`: a request's text, read again where it was scanned.
pub fn read_span(file: &File, offset: u64, len: u64) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; len as usize];
    file.read_exact_at(&mut buf, offset)?;
    Ok(buf)
}

/// Orders names as a person would: `input_2` before `input_10`.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                out.push((bytes[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for (x, y) in ca.iter().zip(&cb) {
        let ord = match (x, y) {
            ((true, x), (true, y)) => {
                let (tx, ty) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
                tx.len().cmp(&ty.len()).then_with(|| tx.cmp(ty))
            }
            ((_, x), (_, y)) => x.cmp(y),
        };
        if ord != std::cmp::Ordering::Equal {
            return ord;
        }
    }
    ca.len().cmp(&cb.len()).then_with(|| a.cmp(b))
}

/// Reads up to and including the next `\n`, appending at most `limit` bytes of it to `buf`;
/// returns the bytes consumed and whether the line was longer than the limit.
fn read_line_limited<R: BufRead>(
    r: &mut R,
    buf: &mut Vec<u8>,
    limit: usize,
) -> std::io::Result<(usize, bool)> {
    let mut consumed = 0;
    let mut too_long = false;
    // What `buf` held before this line is kept.
    let kept = buf.len();
    loop {
        let available = r.fill_buf()?;
        if available.is_empty() {
            return Ok((consumed, too_long));
        }
        let (chunk, done) = match memchr::memchr(b'\n', available) {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        let n = chunk.len();
        if !too_long && buf.len() - kept + n <= limit + 2 {
            buf.extend_from_slice(chunk);
        } else {
            too_long = true;
            buf.truncate(kept);
        }
        r.consume(n);
        consumed += n;
        if done {
            return Ok((consumed, too_long));
        }
    }
}

/// The ids seen so far in the scan, to find one used twice.
struct Ids {
    field: Option<String>,
    /// Id → (file, line) of its first use.
    seen: HashMap<Box<str>, (String, u32)>,
}

/// A file's format so far: that of its first valid line, and that line.
type FileFormatSoFar = Option<(InputFormat, u32)>;

/// Records a non-blank line (`len` bytes, its JSON checked) as a request, or why it cannot
/// be one.
fn scan_line(
    checked: Checked,
    (rel, index, line, offset): (&str, u32, u32, u64),
    len: u64,
    file_format: &mut FileFormatSoFar,
    (ids, out): (&mut Ids, &mut Scan),
) {
    let shape = match checked {
        Ok(shape) => shape,
        Err((column, message)) => {
            out.problem(rel, line, column, Severity::Error, message);
            return;
        }
    };
    let kind = match shape.kind(ids.field.as_deref()) {
        Ok(kind) => kind,
        Err(message) => {
            out.problem(rel, line, 1, Severity::Error, message);
            return;
        }
    };
    let (format, first) = *file_format.get_or_insert((kind.format, line));
    if kind.format != format {
        out.problem(rel, line, 1, Severity::Error, format!(
            "this line is one of the {}, but the file's line {first} is one of the {}: one format per file",
            kind.format.label(),
            format.label()
        ));
        return;
    }
    if let Some(warning) = kind.warning {
        out.problem(rel, line, 1, Severity::Warning, warning);
    }
    if let Some(id) = &kind.id {
        if let Some((other, other_line)) = ids.seen.get(id.as_str()) {
            out.problem(rel, line, 1, Severity::Error, format!(
                "the id {id:?} is used twice: here and at {other}:{other_line} (ids must be unique in a job)"
            ));
            return;
        }
        ids.seen.insert(id.clone().into(), (rel.to_string(), line));
    }
    out.requests.push(Request {
        file: index,
        line,
        offset,
        len,
        id: kind.id.map(String::into_boxed_str),
    });
}

/// Lines read before their JSON is checked together (on two threads: the check is most of a
/// scan's work), then recorded in order.
const BLOCK_BYTES: usize = 4 * 1024 * 1024;
/// Fewer lines than this are checked on the calling thread alone.
const SPLIT_AT_LINES: usize = 2_048;

/// One line as read, before its JSON is checked.
enum ReadLine {
    TooLong {
        line: u32,
        bytes: usize,
    },
    BadUtf8 {
        line: u32,
        at: usize,
        byte: u8,
    },
    /// A non-blank line: its span in the block and its offset in the file.
    Text {
        line: u32,
        span: std::ops::Range<usize>,
        offset: u64,
    },
}

/// A block of lines: their bytes, one after another, and what each is.
struct Block {
    bytes: Vec<u8>,
    lines: Vec<ReadLine>,
}

/// Where a file's reading is: its next line number and byte offset.
struct Cursor {
    line: u32,
    offset: u64,
}

/// Reads lines into `block` until it holds `BLOCK_BYTES` or the file ends; false when the file
/// ended (or the user stopped the scan) and nothing more is to be read.
fn read_block<R: BufRead>(
    reader: &mut R,
    block: &mut Block,
    (at, base): (&mut Cursor, u64),
    ticker: &mut Ticker,
) -> std::io::Result<bool> {
    block.bytes.clear();
    block.lines.clear();
    while block.bytes.len() < BLOCK_BYTES {
        let begin = block.bytes.len();
        let (n, too_long) = read_line_limited(reader, &mut block.bytes, MAX_LINE_BYTES)?;
        if n == 0 {
            return Ok(false);
        }
        at.line += 1;
        let (line, start) = (at.line, at.offset);
        at.offset += n as u64;
        if !ticker.advance((base + at.offset) as f64) {
            return Ok(false);
        }
        if too_long {
            block.lines.push(ReadLine::TooLong { line, bytes: n });
            continue;
        }
        let mut span = begin..block.bytes.len();
        let mut text_start = start;
        if line == 1 && block.bytes[span.clone()].starts_with(BOM) {
            span.start += BOM.len();
            text_start += BOM.len() as u64;
        }
        while span.end > span.start && matches!(block.bytes[span.end - 1], b'\n' | b'\r') {
            span.end -= 1;
        }
        let text = &block.bytes[span.clone()];
        if text.iter().all(u8::is_ascii_whitespace) {
            block.bytes.truncate(begin);
            continue;
        }
        if let Err(e) = std::str::from_utf8(text) {
            let at = e.valid_up_to();
            let byte = text[at];
            block.bytes.truncate(begin);
            block.lines.push(ReadLine::BadUtf8 { line, at, byte });
            continue;
        }
        block.lines.push(ReadLine::Text {
            line,
            span,
            offset: text_start,
        });
    }
    Ok(true)
}

type Checked = Result<LineShape, (u32, String)>;

/// Checks the JSON of every text line of `block`, in order (None for the other lines); a
/// large block is split between this thread and one more.
fn check_block(block: &Block, id_field: Option<&str>) -> Vec<Option<Checked>> {
    let check = |lines: &[ReadLine]| -> Vec<Option<Checked>> {
        lines
            .iter()
            .map(|l| match l {
                ReadLine::Text { span, .. } => {
                    Some(check_json_with(&block.bytes[span.clone()], id_field))
                }
                _ => None,
            })
            .collect()
    };
    if block.lines.len() < SPLIT_AT_LINES {
        return check(&block.lines);
    }
    let (first, second) = block.lines.split_at(block.lines.len() / 2);
    std::thread::scope(|scope| {
        let other = scope.spawn(|| check(second));
        let mut checked = check(first);
        match other.join() {
            Ok(rest) => checked.extend(rest),
            // The other thread panicked (it cannot, short of a bug): check its half here.
            Err(_) => checked.extend(check(second)),
        }
        checked
    })
}

/// Scans one file's lines; returns the file's format (None when no line was valid).
/// Stops early, keeping what was read, when `ticker` says the user stopped the scan.
fn scan_file(
    path: &Path,
    (rel, index): (&str, u32),
    (ids, base): (&mut Ids, u64),
    (out, ticker): (&mut Scan, &mut Ticker),
) -> std::io::Result<Option<InputFormat>> {
    let mut file_format: FileFormatSoFar = None;
    let mut reader = BufReader::with_capacity(256 * 1024, File::open(path)?);
    let mut at = Cursor { line: 0, offset: 0 };
    // Sized once: grown by doubling, a block spent a tenth of the scan copying itself.
    let mut block = Block {
        bytes: Vec::with_capacity(BLOCK_BYTES + 64 * 1024),
        lines: Vec::new(),
    };
    loop {
        let more = read_block(&mut reader, &mut block, (&mut at, base), ticker)?;
        let checked = check_block(&block, ids.field.as_deref());
        for (read, checked) in block.lines.iter().zip(checked) {
            match (read, checked) {
                (ReadLine::TooLong { line, bytes }, _) => out.problem(rel, *line, 1, Severity::Error, format!(
                    "the line is {:.1} MiB, more than the limit of {} MiB for one request (is this file JSONL?)",
                    *bytes as f64 / 1_048_576.0,
                    MAX_LINE_BYTES / 1_048_576
                )),
                (ReadLine::BadUtf8 { line, at, byte }, _) => out.problem(
                    rel,
                    *line,
                    *at as u32 + 1,
                    Severity::Error,
                    format!(
                        "not UTF-8: byte 0x{byte:02X} at column {} (save the file as UTF-8)",
                        at + 1
                    ),
                ),
                (ReadLine::Text { line, span, offset }, Some(checked)) => scan_line(
                    checked,
                    (rel, index, *line, *offset),
                    span.len() as u64,
                    &mut file_format,
                    (ids, out),
                ),
                (ReadLine::Text { .. }, None) => {}
            }
        }
        if !more {
            return Ok(file_format.map(|f| f.0));
        }
    }
}

/// Whether `text` is one JSON object; on error the 1-based column and what is wrong.
pub(crate) fn check_json(text: &[u8]) -> Result<(), (u32, String)> {
    check_json_with(text, None).map(|_| ())
}

/// [`check_json`], giving the line's shape (`id_field` read as its id). Values are skipped,
/// never built.
pub(crate) fn check_json_with(
    text: &[u8],
    id_field: Option<&str>,
) -> Result<LineShape, (u32, String)> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let result = ShapeSeed { id_field }
        .deserialize(&mut de)
        .and_then(|shape| {
            de.end()?;
            Ok(shape)
        });
    result.map_err(|e| {
        let message = e.to_string();
        let message = message
            .strip_suffix(&format!(" at line {} column {}", e.line(), e.column()))
            .unwrap_or(&message)
            .to_string();
        let message = if message.starts_with("trailing characters") {
            "more than one JSON value on the line (one request per line)".to_string()
        } else if let Some(rest) = message.strip_prefix("invalid type: ") {
            let found = rest.split(", expected").next().unwrap_or(rest);
            let found = match found.split_whitespace().next().unwrap_or_default() {
                "sequence" => "an array",
                "string" => "a string",
                "integer" | "floating" => "a number",
                "boolean" => "true or false",
                "null" => "null",
                _ => found,
            };
            format!("not a JSON object but {found} (each line must be one object, e.g. {{\"inputs\": \"...\"}})")
        } else {
            format!("invalid JSON: {message}")
        };
        (e.column().max(1) as u32, message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(files: &[(&str, &[u8])]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, body).unwrap();
        }
        dir
    }

    fn messages(scan: &Scan) -> Vec<String> {
        scan.problems.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn every_problem_is_named_by_file_line_and_column() {
        let dir = folder(&[
            ("a.jsonl", b"\xEF\xBB\xBF{\"inputs\": \"hi\"}\r\n\r\n   \n{\"inputs\": \"x\"} {\"b\": 1}\n[1, 2]\n"),
            ("b.jsonl", b"{\"inputs\": 5}\n{\"inputs\": \"caf\xE9\"}\n{\"inputs\": \"ok\",}\n{\"inputs\": \"last\"}"),
            ("notes.txt", b"ignored"),
        ]);
        let scan = scan(&[dir.path().to_path_buf()], ScanOptions::default());
        assert_eq!(
            messages(&scan),
            [
                "a.jsonl:4:17: more than one JSON value on the line (one request per line)",
                "a.jsonl:5:1: not a JSON object but an array (each line must be one object, e.g. {\"inputs\": \"...\"})",
                "b.jsonl:1:1: warning: no string \"inputs\" field: TGI expects {\"inputs\": \"...\", \"parameters\": {...}}",
                "b.jsonl:2:16: not UTF-8: byte 0xE9 at column 16 (save the file as UTF-8)",
                "b.jsonl:3:17: invalid JSON: trailing comma",
            ]
        );
        assert_eq!((scan.errors, scan.warnings), (4, 1));
        // Valid: a:1 (BOM and CRLF stripped), b:1 (a warning only), b:4 (no final newline).
        let valid: Vec<(u32, u32)> = scan.requests.iter().map(|r| (r.file, r.line)).collect();
        assert_eq!(valid, [(0, 1), (1, 1), (1, 4)]);
        let first = &scan.requests[0];
        let text = std::fs::read(dir.path().join("a.jsonl")).unwrap();
        assert_eq!(
            &text[first.offset as usize..(first.offset + first.len) as usize],
            b"{\"inputs\": \"hi\"}"
        );
    }

    #[test]
    fn folders_without_requests_say_so() {
        let empty = folder(&[
            ("sub/deep.jsonl", b"{\"inputs\": \"x\"}\n"),
            ("e.jsonl", b""),
        ]);
        let flat = scan(&[empty.path().to_path_buf()], ScanOptions::default());
        assert_eq!(messages(&flat), ["e.jsonl: warning: the file is empty"]);
        assert!(flat.requests.is_empty());
        let deep = scan(
            &[empty.path().to_path_buf()],
            ScanOptions {
                recursive: true,
                ..ScanOptions::default()
            },
        );
        assert_eq!(deep.requests.len(), 1);
        assert_eq!(
            deep.files
                .iter()
                .map(|f| f.rel.as_str())
                .collect::<Vec<_>>(),
            ["e.jsonl", "sub/deep.jsonl"]
        );
        let none = folder(&[("readme.md", b"x"), ("old/a.json", b"{}")]);
        let s = scan(&[none.path().to_path_buf()], ScanOptions::default());
        assert!(messages(&s)[0].ends_with(
            "the folder holds no .jsonl files (it has readme.md: only files ending in .jsonl are read) (its sub-folders are read with --recursive)"
        ), "{:?}", messages(&s));
        assert_eq!(s.errors, 1);
    }

    #[test]
    fn per_file_mode_sends_files_whole() {
        let dir = folder(&[
            ("one.jsonl", b"{\"inputs\": \"a\"}\n"),
            ("two.jsonl", b"{\"inputs\": \"a\"}\n{\"inputs\": \"b\"}\n"),
        ]);
        let s = scan(
            &[dir.path().to_path_buf()],
            ScanOptions {
                per_file: true,
                ..ScanOptions::default()
            },
        );
        assert_eq!(s.requests.len(), 2);
        assert_eq!(s.requests[1].len, 32);
        assert!(
            messages(&s)[0].starts_with("two.jsonl: warning: per-file mode sends the whole file")
        );
    }

    #[test]
    fn files_come_in_the_order_a_person_expects() {
        let mut names = vec![
            "input_10.jsonl",
            "input_2.jsonl",
            "input_1.jsonl",
            "a.jsonl",
            "input_02b.jsonl",
        ];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            names,
            [
                "a.jsonl",
                "input_1.jsonl",
                "input_2.jsonl",
                "input_02b.jsonl",
                "input_10.jsonl"
            ]
        );
    }

    /// A file long enough that its lines are checked on two threads: every problem is still
    /// reported at its own line, in line order, and every request points at its own bytes.
    #[test]
    fn lines_checked_in_parallel_are_reported_in_order() {
        let mut text = String::new();
        for i in 1..=6_000u32 {
            match i {
                10 | 3_001 | 5_999 => text.push_str("{\"inputs\": \n"),
                4_500 => text.push_str("{\"key\": \"a-7\", \"inputs\": \"x\"}\n"),
                _ => text.push_str(&format!("{{\"key\": \"a-{i}\", \"inputs\": \"p{i}\"}}\n")),
            }
        }
        let dir = folder(&[("big.jsonl", text.as_bytes())]);
        let options = ScanOptions {
            id_field: Some("key".into()),
            ..ScanOptions::default()
        };
        let scan = scan(&[dir.path().to_path_buf()], options);
        let at: Vec<(u32, bool)> = scan
            .problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .take(10)
            .map(|p| (p.line, p.message.contains("used twice")))
            .collect();
        assert_eq!(
            at,
            [(10, false), (3_001, false), (4_500, true), (5_999, false)]
        );
        assert_eq!(scan.requests.len(), 6_000 - 4);
        let file = File::open(dir.path().join("big.jsonl")).unwrap();
        for r in [
            &scan.requests[0],
            &scan.requests[4_000],
            scan.requests.last().unwrap(),
        ] {
            let line = String::from_utf8(read_span(&file, r.offset, r.len).unwrap()).unwrap();
            let id = r.id.as_deref().unwrap();
            assert_eq!(
                line,
                format!("{{\"key\": \"{id}\", \"inputs\": \"p{}\"}}", r.line)
            );
            assert_eq!(id, format!("a-{}", r.line));
        }
    }

    #[test]
    fn an_overlong_line_is_refused_without_holding_it() {
        let mut r = std::io::Cursor::new(b"0123456789\nok\n".to_vec());
        let mut buf = Vec::new();
        assert_eq!(read_line_limited(&mut r, &mut buf, 4).unwrap(), (11, true));
        assert!(buf.is_empty());
        assert_eq!(read_line_limited(&mut r, &mut buf, 4).unwrap(), (3, false));
        assert_eq!(buf, b"ok\n");
    }

    /// `ebb submit A B` with an `x.jsonl` in each: two files, told apart by their paths.
    #[test]
    fn files_of_the_same_name_in_two_folders_stay_apart() {
        let a = folder(&[("x.jsonl", b"{\"inputs\": \"a\"}\n")]);
        let b = folder(&[("x.jsonl", b"{\"inputs\": \"b\"}\n")]);
        let s = scan(
            &[a.path().to_path_buf(), b.path().to_path_buf()],
            ScanOptions::default(),
        );
        let rels: Vec<&str> = s.files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(rels.len(), 2);
        assert_ne!(rels[0], rels[1]);
        assert!(
            rels[0].ends_with("x.jsonl") && rels[0].starts_with('/'),
            "{rels:?}"
        );
    }

    /// Bytes read climb to the files' total with every file counted; a stop ends the scan
    /// with the typed error.
    #[test]
    fn a_scan_reports_bytes_to_the_total_and_a_stop_ends_it() {
        use std::sync::atomic::AtomicBool;
        use std::sync::{Arc, Mutex};

        use crate::jobs::progress::WorkProgress;
        let body: String = (0..3_000)
            .map(|i| format!("{{\"inputs\": \"q{i}\"}}\n"))
            .collect();
        let dir = folder(&[("a.jsonl", body.as_bytes()), ("b.jsonl", body.as_bytes())]);
        let seen = Arc::new(Mutex::new(Vec::<WorkProgress>::new()));
        let into = seen.clone();
        let watch = Watch::new(
            Arc::new(move |p: &WorkProgress| into.lock().unwrap().push(p.clone())),
            Arc::new(AtomicBool::new(false)),
        );
        let paths = [dir.path().to_path_buf()];
        let s = scan_watched(&paths, ScanOptions::default(), watch).expect("scan");
        assert_eq!(s.requests.len(), 6_000);
        let seen = seen.lock().unwrap();
        assert!(seen.windows(2).all(|w| w[0].done <= w[1].done));
        let last = seen.last().unwrap();
        let total = 2.0 * body.len() as f64;
        assert_eq!((last.done, last.total), (total, total));
        assert_eq!((last.files_done, last.files_total), (2, 2));

        let stop = Watch::new(
            Arc::new(|_: &WorkProgress| {}),
            Arc::new(AtomicBool::new(true)),
        );
        let err = scan_watched(&paths, ScanOptions::default(), stop).expect_err("stopped");
        assert!(matches!(err, Error::Stopped(_)), "{err}");
    }

    /// The key stays while nothing changes, and changes with a file added or grown.
    #[test]
    fn a_scan_key_changes_with_the_files() {
        let dir = folder(&[("a.jsonl", b"{\"inputs\": \"a\"}\n")]);
        let paths = [dir.path().to_path_buf()];
        let options = ScanOptions::default();
        let key = ScanKey::of(&paths, &options);
        assert_eq!(key, ScanKey::of(&paths, &options));
        let per_file = ScanOptions {
            per_file: true,
            ..ScanOptions::default()
        };
        assert_ne!(key, ScanKey::of(&paths, &per_file));
        std::fs::write(dir.path().join("b.jsonl"), b"{\"inputs\": \"b\"}\n").unwrap();
        let added = ScanKey::of(&paths, &options);
        assert_ne!(key, added);
        std::fs::write(dir.path().join("a.jsonl"), b"{\"inputs\": \"longer\"}\n").unwrap();
        assert_ne!(added, ScanKey::of(&paths, &options));
    }
}
