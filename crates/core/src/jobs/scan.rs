//! Scanning a folder of JSONL files before anything is sent: every non-empty line is one request,
//! which must be a JSON object; every problem is reported as `file:line:column: what`. Files are
//! streamed a buffer at a time, never held whole.

use std::collections::HashSet;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

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
}

/// One valid request: where its JSON text is, so that it can be read again when sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub file: u32,
    /// 1-based line (1 for a whole file).
    pub line: u32,
    pub offset: u64,
    pub len: u64,
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
        }
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

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ScanOptions {
    /// Descend into sub-folders.
    pub recursive: bool,
    /// Each file is one request, sent as it is (the article's way).
    pub per_file: bool,
}

/// Scans files and folders; problems never abort the scan, they are all reported.
pub fn scan(paths: &[PathBuf], options: ScanOptions) -> Scan {
    let mut out = Scan {
        per_file: options.per_file,
        ..Scan::default()
    };
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
                walk(
                    path,
                    path,
                    options.recursive,
                    &mut seen,
                    &mut found,
                    &mut out,
                );
                if found.len() == before {
                    out.problem(
                        &shown,
                        0,
                        0,
                        Severity::Error,
                        nothing_found(path, options.recursive),
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
    for (path, rel) in found {
        let index = out.files.len() as u32;
        let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let before = out.requests.len();
        if let Err(e) = scan_file(&path, &rel, index, &mut out) {
            out.problem(&rel, 0, 0, Severity::Error, format!("cannot be read: {e}"));
        }
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
                });
            }
        }
        out.files.push(ScannedFile { path, rel, bytes });
    }
    out.request_bytes = out.requests.iter().map(|r| r.len).sum();
    out
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
            found.push((p.clone(), rel_of(&p)));
        }
    }
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

/// Reads up to and including the next `\n`, keeping at most `limit` bytes in `buf`; returns
/// the bytes consumed and whether the line was longer than the limit.
fn read_line_limited<R: BufRead>(
    r: &mut R,
    buf: &mut Vec<u8>,
    limit: usize,
) -> std::io::Result<(usize, bool)> {
    let mut consumed = 0;
    let mut too_long = false;
    loop {
        let available = r.fill_buf()?;
        if available.is_empty() {
            return Ok((consumed, too_long));
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        let n = chunk.len();
        if !too_long && buf.len() + n <= limit + 2 {
            buf.extend_from_slice(chunk);
        } else {
            too_long = true;
            buf.clear();
        }
        r.consume(n);
        consumed += n;
        if done {
            return Ok((consumed, too_long));
        }
    }
}

fn scan_file(path: &Path, rel: &str, index: u32, out: &mut Scan) -> std::io::Result<()> {
    let mut reader = BufReader::with_capacity(256 * 1024, File::open(path)?);
    let mut buf = Vec::new();
    let mut offset = 0u64;
    let mut line = 0u32;
    loop {
        buf.clear();
        let (n, too_long) = read_line_limited(&mut reader, &mut buf, MAX_LINE_BYTES)?;
        if n == 0 {
            return Ok(());
        }
        line += 1;
        let start = offset;
        offset += n as u64;
        if too_long {
            out.problem(rel, line, 1, Severity::Error, format!(
                "the line is {:.1} MiB, more than the limit of {} MiB for one request (is this file JSONL?)",
                n as f64 / 1_048_576.0,
                MAX_LINE_BYTES / 1_048_576
            ));
            continue;
        }
        let mut text: &[u8] = &buf;
        let mut text_start = start;
        if line == 1 && text.starts_with(BOM) {
            text = &text[BOM.len()..];
            text_start += BOM.len() as u64;
        }
        while let [rest @ .., b'\n' | b'\r'] = text {
            text = rest;
        }
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if let Err(e) = std::str::from_utf8(text) {
            let at = e.valid_up_to();
            out.problem(
                rel,
                line,
                at as u32 + 1,
                Severity::Error,
                format!(
                    "not UTF-8: byte 0x{:02X} at column {} (save the file as UTF-8)",
                    text[at],
                    at + 1
                ),
            );
            continue;
        }
        match check_json(text) {
            Err((column, message)) => out.problem(rel, line, column, Severity::Error, message),
            Ok(has_inputs) => {
                if !has_inputs {
                    out.problem(rel, line, 1, Severity::Warning,
                        "no string \"inputs\" field: TGI expects {\"inputs\": \"...\", \"parameters\": {...}}".into());
                }
                out.requests.push(Request {
                    file: index,
                    line,
                    offset: text_start,
                    len: text.len() as u64,
                });
            }
        }
    }
}

/// Whether `text` is one JSON object, and whether it has a string `inputs`; on error the
/// 1-based column and what is wrong. Values are skipped, never built.
pub(crate) fn check_json(text: &[u8]) -> Result<bool, (u32, String)> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let result = de::Deserializer::deserialize_any(&mut de, ObjectShape).and_then(|shape| {
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

struct ObjectShape;

impl<'de> Visitor<'de> for ObjectShape {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object (one request per line)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut has_inputs = false;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == "inputs" {
                has_inputs = map.next_value::<IsString>()?.0;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(has_inputs)
    }
}

/// Skips any value, telling whether it was a string.
struct IsString(bool);

impl<'de> Deserialize<'de> for IsString {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = IsString;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_str<E>(self, _: &str) -> Result<IsString, E> {
                Ok(IsString(true))
            }
            fn visit_bool<E>(self, _: bool) -> Result<IsString, E> {
                Ok(IsString(false))
            }
            fn visit_i64<E>(self, _: i64) -> Result<IsString, E> {
                Ok(IsString(false))
            }
            fn visit_u64<E>(self, _: u64) -> Result<IsString, E> {
                Ok(IsString(false))
            }
            fn visit_f64<E>(self, _: f64) -> Result<IsString, E> {
                Ok(IsString(false))
            }
            fn visit_unit<E>(self) -> Result<IsString, E> {
                Ok(IsString(false))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<IsString, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(IsString(false))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<IsString, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(IsString(false))
            }
        }
        d.deserialize_any(V)
    }
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
        let first = scan.requests[0];
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
                per_file: false,
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
                recursive: false,
                per_file: true,
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

    #[test]
    fn an_overlong_line_is_refused_without_holding_it() {
        let mut r = std::io::Cursor::new(b"0123456789\nok\n".to_vec());
        let mut buf = Vec::new();
        assert_eq!(read_line_limited(&mut r, &mut buf, 4).unwrap(), (11, true));
        assert!(buf.is_empty());
        assert_eq!(read_line_limited(&mut r, &mut buf, 4).unwrap(), (3, false));
        assert_eq!(buf, b"ok\n");
    }
}
