//! The bad-input corpus (`tests/corpus/`): every case gets its exact message, naming the file
//! and line, and nothing is sent. Job inputs are checked with `ebb submit --check` (a scan,
//! no cloud); cases that cannot live in git (a 100 MB line, a symlink loop, an empty folder)
//! are made here.

use std::path::Path;
use std::process::{Command, Output};

use ebb_testkit::{AWS_VARS, isolated_env, repo_root};

fn ebb(home: &Path, cwd: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ebb"));
    for var in AWS_VARS {
        cmd.env_remove(var);
    }
    cmd.envs(isolated_env(home))
        .current_dir(cwd)
        .args(args)
        .output()
        .expect("run ebb")
}

/// What a person sees: stdout, then stderr.
fn shown(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn check(home: &Path, cwd: &Path, args: &[&str]) -> (bool, String) {
    let mut all = vec!["submit", "--check"];
    all.extend_from_slice(args);
    let out = ebb(home, cwd, &all);
    (out.status.success(), shown(&out))
}

#[test]
fn every_job_input_case_in_the_corpus_gets_its_exact_message() {
    let home = tempfile::tempdir().unwrap();
    let corpus = repo_root().join("tests/corpus/jobs");
    let mut cases: Vec<_> = std::fs::read_dir(&corpus)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 8,
        "the corpus is missing: {}",
        corpus.display()
    );
    let mut mismatches = Vec::new();
    for case in &cases {
        let expected = std::fs::read_to_string(case.join("expected.txt"))
            .unwrap_or_else(|e| panic!("{}/expected.txt: {e}", case.display()));
        // Run from the case's folder, so messages name `input/<file>` as a user would see them.
        let (ok, got) = check(home.path(), case, &["input"]);
        let wants_success = !expected.contains(" errors") || expected.contains(", 0 errors");
        if got != expected || ok != wants_success {
            mismatches.push(format!(
                "== {} (exit ok: {ok})\n-- expected:\n{expected}-- got:\n{got}",
                case.display()
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn inputs_that_cannot_live_in_git_get_their_exact_message() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // An empty folder, and a path that is not there.
    std::fs::create_dir(d.join("empty")).unwrap();
    assert_eq!(
        check(home.path(), d, &["empty"]),
        (
            false,
            "scanned 0 files: 0 requests (0 bytes), 1 errors, 0 warnings\nempty: the folder is empty: put the .jsonl request files in it\n".to_string()
        )
    );
    let (ok, got) = check(home.path(), d, &["missing"]);
    assert!(!ok);
    assert!(
        got.contains("missing: cannot be read: No such file or directory"),
        "{got}"
    );
    // One 100 MB line: refused without holding it, the rest of the file still read.
    let big = d.join("big");
    std::fs::create_dir(&big).unwrap();
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(big.join("huge.jsonl")).unwrap());
        f.write_all(b"{\"inputs\": \"").unwrap();
        let chunk = vec![b'a'; 1 << 20];
        for _ in 0..100 {
            f.write_all(&chunk).unwrap();
        }
        f.write_all(b"\"}\n{\"inputs\": \"after\"}\n").unwrap();
    }
    let (ok, got) = check(home.path(), d, &["big"]);
    assert!(!ok);
    assert!(
        got.contains(
            "huge.jsonl:1:1: the line is 100.0 MiB, more than the limit of 32 MiB for one request (is this file JSONL?)"
        ),
        "{got}"
    );
    assert!(
        got.contains("1 requests"),
        "the line after it is still read: {got}"
    );
    // A symlink loop under --recursive is named, not followed forever.
    #[cfg(unix)]
    {
        let looped = d.join("loop");
        std::fs::create_dir_all(looped.join("a")).unwrap();
        std::os::unix::fs::symlink("..", looped.join("a/back")).unwrap();
        std::fs::write(looped.join("a/one.jsonl"), "{\"inputs\": \"x\"}\n").unwrap();
        let (ok, got) = check(home.path(), d, &["loop", "--recursive"]);
        assert!(ok, "{got}");
        assert!(
            got.contains("a/back: warning: skipped: a link back to a folder already scanned"),
            "{got}"
        );
        assert!(got.contains("1 requests"), "{got}");
    }
}

/// One `$` block of `tests/corpus/commands.txt`: the words, the output, the exit status.
struct Case {
    words: Vec<String>,
    output: String,
    exit: i32,
}

fn commands() -> Vec<Case> {
    let text = std::fs::read_to_string(repo_root().join("tests/corpus/commands.txt"))
        .expect("tests/corpus/commands.txt");
    let mut cases: Vec<Case> = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        if let Some(words) = line.strip_prefix("$ ") {
            cases.push(Case {
                words: words.split_whitespace().map(str::to_string).collect(),
                output: String::new(),
                exit: -1,
            });
        } else if let Some(case) = cases.last_mut() {
            match line
                .strip_prefix("[exit ")
                .and_then(|r| r.strip_suffix(']'))
            {
                Some(code) => case.exit = code.parse().expect("an exit status"),
                None => {
                    case.output.push_str(line);
                    case.output.push('\n');
                }
            }
        }
    }
    cases
}

#[test]
fn bad_values_on_the_command_line_get_their_exact_message_and_change_nothing() {
    let home = tempfile::tempdir().unwrap();
    let cases = commands();
    assert!(cases.len() >= 20, "the command corpus is missing");
    let mut mismatches = Vec::new();
    for case in &cases {
        let words: Vec<&str> = case.words.iter().map(String::as_str).collect();
        let out = ebb(home.path(), home.path(), &words);
        let got = shown(&out);
        let exit = out.status.code().unwrap_or(-1);
        if got != case.output || exit != case.exit {
            mismatches.push(format!(
                "$ {}\n-- expected (exit {}):\n{}-- got (exit {exit}):\n{got}",
                words.join(" "),
                case.exit,
                case.output
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    // Refused values are not saved.
    assert!(!home.path().join("settings.json").exists());
}

/// AWS's refusals, injected by the local cloud (`--fault …=code:NAME`), each become one
/// sentence with what to do, not a stack of SDK errors.
#[test]
fn aws_refusals_are_one_sentence_each() {
    let cases = [
        (
            "AccessDeniedException",
            "error: Access denied: your identity may not call sagemaker:ListEndpoints — Ask your AWS administrator to allow `sagemaker:ListEndpoints` for this identity, or choose a profile that has it.\n",
        ),
        (
            "ExpiredTokenException",
            "error: Your AWS credentials have expired — Run `aws sso login` (SSO) or refresh your temporary credentials, then try again.\n",
        ),
        (
            "ThrottlingException",
            "error: AWS is throttling sagemaker:ListEndpoints — Wait a moment and try again.\n",
        ),
        (
            "ValidationException",
            "error: AWS refused sagemaker:ListEndpoints: ValidationException (injected fault).\n",
        ),
        (
            "ResourceLimitExceeded",
            "error: An AWS quota was reached: ResourceLimitExceeded (injected fault). — Request a quota increase in the Service Quotas console for the limit named above.\n",
        ),
    ];
    for (code, expected) in cases {
        let home = tempfile::tempdir().unwrap();
        let fault = format!("sagemaker:ListEndpoints=code:{code}");
        let serve = ebb_testkit::LocalServe::start(
            Path::new(env!("CARGO_BIN_EXE_ebb")),
            home.path(),
            &["--fault", &fault],
        );
        let out = ebb(home.path(), home.path(), &["--local", "endpoints"]);
        assert_eq!(out.status.code(), Some(1), "{code}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), expected, "{code}");
        drop(serve);
    }
}
