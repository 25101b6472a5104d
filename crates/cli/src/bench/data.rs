//! The benchmarks' request folders: the seed article's request (its `parameters` exactly) with
//! a varied prompt on every line, spread over up to 100 files named `part_NNN.jsonl`, and on
//! demand a few lines larger than InvokeEndpointAsync's 128,000-byte inline limit, so that
//! both of Ebb's paths (inline and through S3) run.

use std::io::Write;
use std::path::Path;

/// The seed request's parameters (`../shared/seed/WORKFLOW.md`), as the article sends them.
const SEED_PARAMETERS: &str = r#"{"early_stopping": true, "length_penalty": 2.0, "max_new_tokens": 50, "temperature": 1, "min_length": 10, "no_repeat_ngram_size": 3}"#;
const SUBJECTS: [&str; 16] = [
    "the capital of the United States",
    "the tallest mountain in Europe",
    "the speed of light in a vacuum",
    "the main idea of photosynthesis",
    "the largest ocean on Earth",
    "the boiling point of water at sea level",
    "the author of a famous novel about a whale",
    "the difference between weather and climate",
    "the purpose of a load balancer",
    "the meaning of asynchronous inference",
    "the history of the printing press",
    "the rules of a simple card game",
    "the population of a large city",
    "the chemical symbol for gold",
    "the best way to learn a language",
    "the reason leaves change colour",
];
const ASKS: [&str; 8] = [
    "What is",
    "Explain",
    "Tell me about",
    "In one sentence, describe",
    "Summarise",
    "Give three facts about",
    "Why does it matter what is",
    "Write a short note on",
];
/// Size of each large line's prompt: over the 128,000-byte inline limit.
const LARGE_PROMPT_BYTES: usize = 130_000;

/// The prompt of request `i`: an ask, a subject and a number, so no two lines are the same.
fn prompt(i: usize) -> String {
    // A multiplicative hash spreads neighbouring lines over the combinations.
    let h = i.wrapping_mul(2_654_435_761);
    format!(
        "{} {}? (request {i}, variant {})",
        ASKS[h % ASKS.len()],
        SUBJECTS[(h >> 8) % SUBJECTS.len()],
        (h >> 16) % 1000
    )
}

fn line(prompt: &str) -> String {
    let inputs = serde_json::Value::String(prompt.to_string());
    format!(r#"{{"inputs": {inputs}, "parameters": {SEED_PARAMETERS}}}"#)
}

/// Writes `n` requests into up to 100 files named `part_NNN.jsonl` (request `i` in file
/// `i % files`), `large` of them (spread over the files) with prompts of 130,000 bytes.
/// Returns the bytes written.
pub fn write_requests_with(dir: &Path, n: usize, large: usize) -> Result<u64, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let files = 100.min(n.max(1));
    let every = n / large.max(1);
    let big_prompt = "word ".repeat(LARGE_PROMPT_BYTES / 5);
    let mut bytes = 0u64;
    for f in 0..files {
        let path = dir.join(format!("part_{f:03}.jsonl"));
        let file = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut w = std::io::BufWriter::new(file);
        for i in (f..n).step_by(files) {
            let is_large = large > 0 && i % every == every / 2 && i / every < large;
            let text = if is_large {
                line(&format!("{big_prompt}{}", prompt(i)))
            } else {
                line(&prompt(i))
            };
            writeln!(w, "{text}").map_err(|e| format!("{}: {e}", path.display()))?;
            bytes += text.len() as u64 + 1;
        }
        w.flush().map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(bytes)
}

/// Writes `n` requests of the usual size (see [`write_requests_with`]).
pub fn write_requests(dir: &Path, n: usize) -> Result<(), String> {
    write_requests_with(dir, n, 0).map(|_| ())
}

/// The bodies of requests `0..n`, as the files hold them (for clients that send them
/// directly).
pub fn bodies(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| line(&prompt(i)).into_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_is_the_seed_request_with_its_own_prompt() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bytes = write_requests_with(dir.path(), 1_000, 2).expect("written");
        let mut lines = Vec::new();
        for f in 0..100 {
            let text = std::fs::read_to_string(dir.path().join(format!("part_{f:03}.jsonl")))
                .expect("file");
            lines.extend(text.lines().map(str::to_string));
        }
        assert_eq!(lines.len(), 1_000);
        let total: usize = lines.iter().map(|l| l.len() + 1).sum();
        assert_eq!(total as u64, bytes);
        let mut prompts = std::collections::HashSet::new();
        let mut large = 0;
        for l in &lines {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON");
            assert_eq!(v["parameters"]["max_new_tokens"], 50);
            assert_eq!(v["parameters"]["no_repeat_ngram_size"], 3);
            let p = v["inputs"].as_str().expect("prompt").to_string();
            if l.len() > 128_000 {
                large += 1;
            } else {
                assert!(
                    l.len() < 300,
                    "a usual line is about 200 bytes: {}",
                    l.len()
                );
            }
            assert!(prompts.insert(p), "a prompt repeats");
        }
        assert_eq!(large, 2);
        assert_eq!(bodies(3)[2], lines_for(dir.path(), 2).into_bytes());
    }

    /// Request `i` of a folder written by `write_requests_with`.
    fn lines_for(dir: &Path, i: usize) -> String {
        let text =
            std::fs::read_to_string(dir.join(format!("part_{:03}.jsonl", i % 100))).expect("file");
        text.lines().nth(i / 100).expect("line").to_string()
    }
}
