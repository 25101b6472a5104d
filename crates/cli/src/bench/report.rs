//! The one table `ebb bench` prints (Markdown, ready for the README): each figure beside its
//! same-run baseline, the ratio, the target the issues set, and whether it is met.

use std::fmt::Write;

use super::Figures;
use super::models::ModelFigures;
use super::scan::ScanFigures;
use super::submit::{Run, SubmitFigures};
use super::ui::TableFigures;

/// Targets on a 2-core machine (issues 6 and 22; the table's p95 is issue 22's, its row
/// count ours: "as smooth as 100 rows").
const MIN_VS_BOTO3: f64 = 5.0;
const MIN_VS_CEILING: f64 = 0.8;
const MIN_SCAN_VS_WC: f64 = 0.25;
const MAX_S3_PER_RESULT: f64 = 1.01;
const MAX_RSS_MB: f64 = 150.0;
const MAX_FRAME_RATIO: f64 = 1.5;

struct Row {
    measure: String,
    ebb: String,
    baseline: String,
    ratio: String,
    target: String,
    met: Option<bool>,
}

fn row(measure: impl Into<String>, ebb: impl Into<String>) -> Row {
    Row {
        measure: measure.into(),
        ebb: ebb.into(),
        baseline: String::new(),
        ratio: String::new(),
        target: String::new(),
        met: None,
    }
}

impl Row {
    fn beside(mut self, baseline: impl Into<String>) -> Row {
        self.baseline = baseline.into();
        self
    }
    fn against(self, baseline: impl Into<String>, ratio: f64) -> Row {
        let mut r = self.beside(baseline);
        r.ratio = if ratio < 1.0 {
            format!("{ratio:.2}x")
        } else {
            format!("{ratio:.1}x")
        };
        r
    }
    fn target(mut self, target: impl Into<String>, met: bool) -> Row {
        self.target = target.into();
        self.met = Some(met);
        self
    }
}

/// 12345.6 as "12,346".
fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ms(x: f64) -> String {
    format!("{x:.0} ms")
}

fn machine() -> String {
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| std::env::consts::OS.to_string());
    let memory = super::proc_kb("/proc/meminfo", "MemTotal")
        .map(|kb| format!(", {:.0} GiB", kb / 1024.0 / 1024.0))
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{os}, {cores} cores{memory}")
}

fn per_s(x: f64) -> String {
    format!("{}/s", thousands(x))
}

fn baseline_rows(s: &SubmitFigures) -> Vec<Row> {
    match &s.baselines {
        Ok(b) => vec![
            row(
                format!(
                    "boto3, the article's loop ({} files)",
                    thousands(b.files as f64)
                ),
                per_s(b.article_loop),
            )
            .against(
                format!("{} (32 threads)", per_s(b.threads_32)),
                b.article_loop / b.threads_32,
            ),
        ],
        Err(e) => vec![row("boto3 baselines", format!("not run: {e}"))],
    }
}

fn scan_row(f: &ScanFigures) -> Row {
    let measure = format!(
        "scan {} lines ({:.0} MB), MB/s",
        thousands(f.lines as f64),
        f.bytes as f64 / 1e6
    );
    let r = row(measure, format!("{:.0} MB/s", f.ebb_mb_s));
    match &f.wc_mb_s {
        Ok(wc) => r
            .against(format!("{wc:.0} MB/s (`wc -l`)"), f.ebb_mb_s / wc)
            .target(
                format!("≥ {MIN_SCAN_VS_WC}x"),
                f.ebb_mb_s / wc >= MIN_SCAN_VS_WC,
            ),
        Err(e) => r.beside(format!("`wc -l` not measured: {e}")),
    }
}

fn inline_rows(s: &SubmitFigures) -> Vec<Row> {
    let run = &s.inline;
    let rps = run.invoke_rps;
    let measure = |vs: &str| {
        format!(
            "Ebb submit, inline ({} requests) vs {vs}",
            thousands(run.requests as f64)
        )
    };
    let boto3 = match &s.baselines {
        Ok(b) => row(measure("boto3"), per_s(rps))
            .against(
                format!("{} (boto3, 32 threads, inline)", per_s(b.threads_32_inline)),
                rps / b.threads_32_inline,
            )
            .target(
                format!("≥ {MIN_VS_BOTO3:.0}x"),
                rps / b.threads_32_inline >= MIN_VS_BOTO3,
            ),
        Err(_) => row(measure("boto3"), per_s(rps)),
    };
    let ceiling = match &s.ceiling {
        Ok(c) => row(measure("the local cloud's ceiling"), per_s(rps))
            .against(
                format!(
                    "{} (signed requests, {} raw keep-alive connections)",
                    per_s(c.rps),
                    c.connections
                ),
                rps / c.rps,
            )
            .target(
                format!("≥ {MIN_VS_CEILING}x"),
                rps / c.rps >= MIN_VS_CEILING,
            ),
        Err(e) => row(measure("the local cloud's ceiling"), per_s(rps))
            .beside(format!("not measured: {e}")),
    };
    vec![boto3, ceiling]
}

fn upload_row(s: &SubmitFigures) -> Row {
    let run = &s.uploads;
    let r = row(
        format!(
            "Ebb submit, every input uploaded ({} requests)",
            thousands(run.requests as f64)
        ),
        per_s(run.invoke_rps),
    );
    match &s.baselines {
        Ok(b) => r
            .against(
                format!(
                    "{} (boto3, 32 threads, upload then invoke)",
                    per_s(b.threads_32)
                ),
                run.invoke_rps / b.threads_32,
            )
            .target(
                format!("≥ {MIN_VS_BOTO3:.0}x"),
                run.invoke_rps / b.threads_32 >= MIN_VS_BOTO3,
            ),
        Err(_) => r,
    }
}

/// Every request answered (its output or its failure recorded): nothing lost.
fn answered_row(run: &Run, how: &str) -> Row {
    let failed = match (&run.top_error, run.failed) {
        (_, 0) => String::new(),
        (Some(e), n) => format!(", {} failed ({e})", thousands(f64::from(n))),
        (None, n) => format!(", {} failed", thousands(f64::from(n))),
    };
    row(
        format!(
            "every request answered and recorded, {how} ({} requests)",
            thousands(run.requests as f64)
        ),
        format!(
            "{} succeeded{failed}, all in {:.0} s",
            thousands(f64::from(run.succeeded)),
            run.total_s
        ),
    )
    .target(
        "none lost",
        (run.succeeded + run.failed) as usize == run.requests,
    )
}

fn collection_rows(s: &SubmitFigures) -> Vec<Row> {
    let (i, u) = (&s.inline, &s.uploads);
    let mut rows = vec![
        row(
            format!(
                "S3 requests per collected result ({} results)",
                thousands(f64::from(i.succeeded))
            ),
            format!("{:.3}", i.s3_per_result),
        )
        .target(
            format!("≤ {MAX_S3_PER_RESULT}"),
            i.s3_per_result <= MAX_S3_PER_RESULT,
        ),
        answered_row(i, "inline"),
        answered_row(u, "every input uploaded"),
    ];
    let lat = &s.latency_ms;
    let at = |q: f64| lat.get(((lat.len() as f64 * q).ceil() as usize).saturating_sub(1));
    if let (Some(p50), Some(p99)) = (at(0.5), at(0.99)) {
        rows.push(row(
            format!(
                "result visible: submit to result recorded, p50 / p99 ({} single requests)",
                lat.len()
            ),
            format!("{p50:.0} / {p99:.0} ms"),
        ));
    }
    rows
}

fn memory_rows(f: &Figures) -> Vec<Row> {
    let n = thousands(f.scan.lines as f64);
    let peak = match f.peak_rss_mb {
        Some(mb) => row(
            format!("peak memory (RSS) of Ebb, {n}-line job from scan to export"),
            format!("{mb:.0} MB"),
        )
        .target(format!("≤ {MAX_RSS_MB:.0} MB"), mb <= MAX_RSS_MB),
        None => row("peak memory (RSS)", "not measured (no /proc)"),
    };
    let store = match &f.export.store_bytes_per_request {
        Ok(b) => row(
            "job store per request, beyond the output text",
            format!("{b:.0} bytes"),
        ),
        Err(e) => row("job store per request", format!("not measured: {e}")),
    };
    vec![peak, store]
}

fn export_rows(f: &Figures) -> Vec<Row> {
    f.export
        .written
        .iter()
        .map(|w| match w {
            Ok(w) => {
                let r = row(
                    format!(
                        "export {} rows: {} ({:.0} MB)",
                        thousands(w.rows as f64),
                        w.what,
                        w.bytes as f64 / 1e6
                    ),
                    format!("{} rows/s", thousands(w.rows_s)),
                );
                match &w.cp_rows_s {
                    Ok(cp) => r.against(
                        format!("{} rows/s (`cp` of the same bytes)", thousands(*cp)),
                        w.rows_s / cp,
                    ),
                    Err(e) => r.beside(format!("`cp` not measured: {e}")),
                }
            }
            Err(e) => row("export", format!("failed: {e}")),
        })
        .collect()
}

fn all_rows(f: &Figures) -> Vec<Row> {
    let mut rows = baseline_rows(&f.submit);
    rows.push(scan_row(&f.scan));
    rows.extend(inline_rows(&f.submit));
    rows.push(upload_row(&f.submit));
    rows.extend(collection_rows(&f.submit));
    rows.extend(memory_rows(f));
    rows.extend(export_rows(f));
    rows
}

fn table_rows(t: &TableFigures) -> Vec<Row> {
    let (b, l) = (&t.baseline, &t.large);
    let n = thousands(l.rows as f64);
    let base = |x: f64| format!("{} (100 rows)", ms(x));
    let ratio = |x: f64, y: f64| x / y.max(1.0);
    vec![
        row(format!("table: open a {n}-row job"), ms(l.open_ms))
            .against(base(b.open_ms), ratio(l.open_ms, b.open_ms)),
        row(
            "table: frame while scrolling 10 rows a frame (p50 / p95)",
            format!("{:.0} / {:.0} ms", l.frame_p50_ms, l.frame_p95_ms),
        )
        .against(base(b.frame_p95_ms), ratio(l.frame_p95_ms, b.frame_p95_ms))
        .target(
            format!("p95 ≤ {MAX_FRAME_RATIO}x"),
            l.frame_p95_ms <= MAX_FRAME_RATIO * b.frame_p95_ms.max(1.0),
        ),
        row(
            "table: frames showing a row not yet loaded",
            format!("{} of {}", l.blank_frames, l.frames),
        )
        .beside(format!("{} of {} (100 rows)", b.blank_frames, b.frames)),
        row(
            "table: jump anywhere, rows shown (p50 / max)",
            format!("{:.0} / {:.0} ms", l.jump_p50_ms, l.jump_max_ms),
        )
        .against(base(b.jump_p50_ms), ratio(l.jump_p50_ms, b.jump_p50_ms)),
        row(
            format!(
                "table: search a file name ({} rows match)",
                thousands(l.search_rows as f64)
            ),
            ms(l.search_ms),
        )
        .against(base(b.search_ms), ratio(l.search_ms, b.search_ms)),
        row("table: row elements in the page", l.dom_rows.to_string())
            .against(
                format!("{} (100 rows)", b.dom_rows),
                f64::from(l.dom_rows) / f64::from(b.dom_rows.max(1)),
            )
            .target("same as 100 rows", l.dom_rows <= b.dom_rows),
        memory_row(t),
        row(
            "app start to first screen drawn (first start of the run)",
            ms(b.start_ms),
        )
        .against(
            format!("{} (second start)", ms(l.start_ms)),
            ratio(b.start_ms, l.start_ms),
        ),
    ]
}

/// The webview's memory after scrolling each table end to end.
fn memory_row(t: &TableFigures) -> Row {
    let (b, l) = (&t.baseline, &t.large);
    let measure = format!(
        "table: webview memory (RSS) after scrolling a {}-row job end to end ({} stops)",
        thousands(l.rows as f64),
        l.long_scroll_steps
    );
    match (l.webview_rss_mb, b.webview_rss_mb) {
        (Some(large), Some(base)) => row(measure, format!("{large:.0} MB"))
            .against(format!("{base:.0} MB (100 rows)"), large / base.max(1.0)),
        _ => row(measure, "not measured (no web process found in /proc)"),
    }
}

pub fn render(
    f: &Figures,
    table: &Result<TableFigures, String>,
    models: &[ModelFigures],
) -> String {
    let mut rows = all_rows(f);
    match table {
        Ok(t) => rows.extend(table_rows(t)),
        Err(e) => rows.push(row("desktop results table", format!("not measured: {e}"))),
    }
    rows.extend(models.iter().map(model_row));
    let heading = "local cloud in its own process (builtin model, 4 instances)";
    markdown(heading, &rows)
}

/// Only the models' rows (`ebb bench --models-only`).
pub fn render_models(models: &[ModelFigures]) -> String {
    let rows: Vec<Row> = models.iter().map(model_row).collect();
    markdown(
        "local mode's real models, greedy generation on the CPU",
        &rows,
    )
}

/// Tokens per second of one model against transformers with as many threads.
fn model_row(m: &ModelFigures) -> Row {
    let measure = format!("tokens/s, {} ({} thread(s))", m.name, m.threads);
    let r = match &m.ebb {
        Ok(tps) => row(measure, format!("{tps:.1} tokens/s")),
        Err(e) => return row(measure, format!("not measured: {e}")),
    };
    match (&m.ebb, &m.transformers) {
        (Ok(ebb), Ok((tps, version))) => {
            r.against(format!("{tps:.1} tokens/s ({version})"), ebb / tps)
        }
        (_, Err(e)) => r.beside(format!("missing: {e}")),
        _ => r,
    }
}

fn markdown(heading: &str, rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Ebb {} benchmarks — {} — {heading}\n",
        env!("CARGO_PKG_VERSION"),
        machine()
    );
    let _ = writeln!(
        out,
        "| measure | Ebb | baseline (same run) | ratio | target | met |"
    );
    let _ = writeln!(out, "| --- | ---: | ---: | ---: | --- | --- |");
    for r in rows {
        let met = match r.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "",
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            r.measure, r.ebb, r.baseline, r.ratio, r.target, met
        );
    }
    let missed = rows.iter().filter(|r| r.met == Some(false)).count();
    let _ = writeln!(
        out,
        "\n{} of {} targets met.",
        rows.iter().filter(|r| r.met == Some(true)).count(),
        rows.iter().filter(|r| r.met.is_some()).count()
    );
    if missed > 0 {
        let _ = writeln!(out, "{missed} missed: see the rows marked **no**.");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(3021.4), "3,021");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
    }
}
