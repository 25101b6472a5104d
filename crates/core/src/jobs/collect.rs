//! Collecting results: one listing of the job's output and failure prefixes finds many results
//! at once (result names start with the request's position, so each listing starts after the
//! oldest request still waiting), then one GET per result. Results written elsewhere (moto
//! writes to its own bucket) are fetched from their own locations, with backoff.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;

use super::store::{JobRow, Outcome, Store, Waiting};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::http::Response;

use crate::aws_errors::{self, Context};
use crate::bucket_owner;
use crate::deploy::invoke::split;
use crate::error::Error;

const GET_CONCURRENCY: usize = 32;
/// How far behind the newest result a listing starts: results land roughly in order, within
/// about the endpoint's concurrency of each other.
const LOOKBACK: i64 = 2_000;
/// A full listing from the oldest waiting request, for stragglers: at first this often, then
/// less and less while it finds nothing (a request that never gets a result — no failure path
/// — must not make every listing start from the beginning).
const SWEEP_FIRST: Duration = Duration::from_secs(30);
const SWEEP_MOST: Duration = Duration::from_secs(30 * 60);
/// Extra time past TTL + timeout before a request without any result is declared lost.
const LOST_AFTER_S: i64 = 300;
/// SageMaker's default RequestTTLSeconds.
const DEFAULT_TTL_S: i64 = 6 * 3600;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Output,
    Failure,
}

pub struct Collect<'a> {
    pub s3: aws_sdk_s3::Client,
    pub store: &'a Store,
    pub job: &'a JobRow,
    pub ctx: Context<'a>,
    /// The caller's account: the expected owner of the output and failure buckets.
    account: &'a str,
    /// Results found by this run.
    pub collected: AtomicU32,
    /// S3 calls made by this run (LIST, GET), for the requests-per-result figure.
    pub s3_calls: AtomicU32,
    /// Next direct check of a result outside the job's prefixes: when, and the current gap.
    direct: std::sync::Mutex<HashMap<i64, (Instant, Duration)>>,
    /// The newest request position with a result seen by this run.
    newest: std::sync::atomic::AtomicI64,
    /// Bucket and key prefix of the job's results: outputs, then failures (when configured).
    prefixes: Vec<(Kind, String, String)>,
    /// When the next full listing is due, and the gap after it.
    sweep: std::sync::Mutex<(Instant, Duration)>,
}

/// Waiting requests one pass considers at most (its window): results land roughly in
/// position order, so a window from just behind the newest result holds those that can have
/// landed since the last pass, and a pass over a million-request job reads a few thousand rows.
const WINDOW: u32 = 10_000;

/// The request position a pass's window starts at: on a sweep, the oldest waiting request;
/// else `LOOKBACK` behind the newest result (requests waiting before that are stragglers,
/// which the sweeps look for).
fn window_from(newest: i64, sweep: bool) -> i64 {
    if sweep { 0 } else { (newest - LOOKBACK).max(0) }
}

/// Where SageMaker said the request's output or failure will be (`s3://bucket/key`).
fn location(w: &Waiting, kind: Kind) -> Option<&str> {
    match kind {
        Kind::Output => Some(w.output.as_str()).filter(|l| !l.is_empty()),
        Kind::Failure => w.failure.as_deref(),
    }
}

/// The key of `location` when it lies in `bucket` under `prefix`.
fn in_prefix<'l>(location: &'l str, bucket: &str, prefix: &str) -> Option<&'l str> {
    let (b, key) = split(location)?;
    (b == bucket && key.starts_with(prefix)).then_some(key)
}

/// `s3://bucket/path` -> (bucket, `path/<job>/`).
fn job_prefix(path: &str, job: &str) -> Option<(String, String)> {
    let (bucket, key) = split(path).or_else(|| path.strip_prefix("s3://").map(|b| (b, "")))?;
    let key = key.trim_matches('/');
    let prefix = if key.is_empty() {
        format!("{job}/")
    } else {
        format!("{key}/{job}/")
    };
    Some((bucket.to_string(), prefix))
}

impl<'a> Collect<'a> {
    pub fn new(
        s3: aws_sdk_s3::Client,
        store: &'a Store,
        job: &'a JobRow,
        (ctx, account): (Context<'a>, &'a str),
    ) -> Self {
        Collect {
            s3,
            store,
            job,
            ctx,
            account,
            collected: AtomicU32::new(0),
            s3_calls: AtomicU32::new(0),
            direct: std::sync::Mutex::new(HashMap::new()),
            prefixes: [
                (Kind::Output, Some(job.output_path.as_str())),
                (Kind::Failure, job.failure_path.as_deref()),
            ]
            .into_iter()
            .filter_map(|(kind, path)| {
                let (bucket, prefix) = job_prefix(path?, &job.id)?;
                Some((kind, bucket, prefix))
            })
            .collect(),
            newest: std::sync::atomic::AtomicI64::new(-1),
            // The first pass of a run is a sweep.
            sweep: std::sync::Mutex::new((Instant::now(), SWEEP_FIRST)),
        }
    }

    /// One look for results; returns (found, still waiting).
    pub async fn pass(&self) -> Result<(usize, usize), Error> {
        let sweeping = self.sweep.lock().is_ok_and(|s| s.0 <= Instant::now());
        let from = window_from(self.newest.load(Ordering::Relaxed), sweeping);
        let waiting = self.store.waiting_from(&self.job.id, from, WINDOW).await?;
        let Some(start) = waiting.first().map(|w| w.seq) else {
            // Only stragglers before the window (or nothing) wait: the sweeps look for them.
            let left = self.store.any_waiting(&self.job.id).await?;
            return Ok((0, usize::from(left)));
        };
        let by_seq: HashMap<i64, Waiting> = waiting.into_iter().map(|w| (w.seq, w)).collect();
        let mut found: Vec<(i64, Kind, String, String)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (kind, bucket, prefix) in &self.prefixes {
            // The keys SageMaker answered for each request, not names Ebb guessed: a failure's
            // object is where FailureLocation says, whatever its name.
            let wanted: HashMap<&str, i64> = by_seq
                .values()
                .filter(|w| w.seq >= start)
                .filter_map(|w| Some((location(w, *kind)?, w.seq)))
                .filter_map(|(l, seq)| Some((in_prefix(l, bucket, prefix)?, seq)))
                .collect();
            for (seq, key) in self.list_wanted(bucket, prefix, &wanted).await? {
                if seen.insert(seq) {
                    found.push((seq, *kind, bucket.clone(), key));
                }
            }
        }
        if let Some(max) = found.iter().map(|f| f.0).max() {
            self.newest.fetch_max(max, Ordering::Relaxed);
        }
        if sweeping && let Ok(mut s) = self.sweep.lock() {
            // A sweep that found stragglers (results before the usual start) comes back soon.
            let usual = window_from(self.newest.load(Ordering::Relaxed), false);
            let stragglers = found.iter().any(|f| f.0 < usual);
            s.1 = if stragglers {
                SWEEP_FIRST
            } else {
                (s.1 * 2).min(SWEEP_MOST)
            };
            s.0 = Instant::now() + s.1;
        }
        let now = crate::deploy::now_s();
        let mut outcomes = Vec::new();
        // Results outside the job's prefixes, and requests that can no longer get one.
        let lost_after = self
            .job
            .settings
            .request_ttl_s
            .map_or(DEFAULT_TTL_S, i64::from)
            + i64::from(self.job.settings.invocation_timeout_s)
            + LOST_AFTER_S;
        let mut direct_checks = Vec::new();
        {
            let mut direct = self.direct.lock().unwrap_or_else(|p| p.into_inner());
            for w in by_seq.values() {
                if seen.contains(&w.seq) {
                    continue;
                }
                if w.invoked_at > 0 && now - w.invoked_at > lost_after {
                    outcomes.push(Outcome::Expired {
                        seq: w.seq,
                        error: format!(
                            "no output or failure appeared within {lost_after} s of the invocation (request TTL + invocation timeout + 5 min)"
                        ),
                    });
                    continue;
                }
                // Listed above when each of its locations is under one of the job's prefixes.
                let outside: Vec<(Kind, &str)> = [Kind::Output, Kind::Failure]
                    .into_iter()
                    .filter_map(|kind| Some((kind, location(w, kind)?)))
                    .filter(|(kind, l)| !self.listed(*kind, l))
                    .collect();
                if outside.is_empty() {
                    continue;
                }
                let entry = direct
                    .entry(w.seq)
                    .or_insert((Instant::now(), Duration::from_millis(500)));
                if entry.0 <= Instant::now() {
                    entry.1 = (entry.1 * 2).min(Duration::from_secs(30));
                    entry.0 = Instant::now() + entry.1;
                    for (kind, loc) in outside {
                        if let Some((bucket, key)) = split(loc) {
                            direct_checks.push((w.seq, kind, bucket.to_string(), key.to_string()));
                        }
                    }
                }
            }
        }
        // Direct checks: a missing object just means "not yet".
        found.extend(direct_checks);
        let fetched: Vec<Option<Outcome>> = futures::stream::iter(found)
            .map(|(seq, kind, bucket, key)| self.fetch(seq, kind, bucket, key))
            .buffer_unordered(GET_CONCURRENCY)
            .collect()
            .await;
        let mut done = std::collections::HashSet::new();
        for o in fetched.into_iter().flatten() {
            let seq = match &o {
                Outcome::Succeeded { seq, .. }
                | Outcome::Failed { seq, .. }
                | Outcome::Expired { seq, .. } => *seq,
                _ => continue,
            };
            if done.insert(seq) {
                if let Ok(mut d) = self.direct.lock() {
                    d.remove(&seq);
                }
                outcomes.push(o);
            }
        }
        let new = outcomes.len();
        self.collected.fetch_add(new as u32, Ordering::Relaxed);
        self.store.record(&self.job.id, outcomes).await?;
        let mut left = by_seq.len().saturating_sub(new);
        if left == 0 {
            // Requests outside the window may still wait.
            left = usize::from(self.store.any_waiting(&self.job.id).await?);
        }
        Ok((new, left))
    }

    /// Whether a location of `kind` is under the job's listed prefix for that kind.
    fn listed(&self, kind: Kind, location: &str) -> bool {
        self.prefixes
            .iter()
            .any(|(k, b, p)| *k == kind && in_prefix(location, b, p).is_some())
    }

    /// Lists `bucket/prefix` from just before the smallest wanted key and returns the wanted
    /// ones found, as (seq, key). Throttling or a server error ends the listing early: what was
    /// found stands, and the next pass looks again.
    async fn list_wanted(
        &self,
        bucket: &str,
        prefix: &str,
        wanted: &HashMap<&str, i64>,
    ) -> Result<Vec<(i64, String)>, Error> {
        let (Some(first), Some(last)) = (wanted.keys().min(), wanted.keys().max()) else {
            return Ok(Vec::new());
        };
        // A proper prefix of the first wanted key (cut on a character boundary) sorts just
        // before it.
        let cut = first.char_indices().last().map_or(0, |(i, _)| i);
        let start_after = &first[..cut];
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .set_expected_bucket_owner(bucket_owner::expected(self.account))
            .prefix(prefix)
            .start_after(start_after)
            .into_paginator()
            .send();
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            self.s3_calls.fetch_add(1, Ordering::Relaxed);
            let page = match page {
                Ok(p) => p,
                Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_bucket()) => break,
                Err(e) if aws_errors::is_credentials_failure(&e) => {
                    return Err(aws_errors::session_ended(&e, self.ctx));
                }
                Err(e) if aws_errors::is_transient(&e) => {
                    let action = "s3:ListBucket";
                    let why = aws_errors::explain(&e, Context { action, ..self.ctx });
                    tracing::warn!("listing results again later: {}", why.summary);
                    break;
                }
                Err(e) => return Err(self.list_refused(&e, bucket).await),
            };
            for key in page.contents().iter().filter_map(|o| o.key()) {
                if let Some(seq) = wanted.get(key) {
                    found.push((*seq, key.to_string()));
                }
            }
            // Keys come in UTF-8 binary order (ListObjectsV2's documented order): past the
            // last wanted key, the rest of the prefix holds nothing this pass looks for.
            let past = page.contents().last().and_then(|o| o.key());
            if past.is_some_and(|k| k >= *last) {
                break;
            }
        }
        Ok(found)
    }

    /// A listing refused for good: another account's bucket, or as AWS explained it.
    async fn list_refused<E>(&self, e: &SdkError<E, Response>, bucket: &str) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        if bucket_owner::is_forbidden(e)
            && bucket_owner::another_account(&self.s3, bucket, self.account).await
        {
            return bucket_owner::not_yours(bucket, self.account);
        }
        aws_errors::failed(e, self.ctx, "s3:ListBucket")
    }

    async fn fetch(&self, seq: i64, kind: Kind, bucket: String, key: String) -> Option<Outcome> {
        self.s3_calls.fetch_add(1, Ordering::Relaxed);
        let got = self
            .s3
            .get_object()
            .bucket(&bucket)
            .set_expected_bucket_owner(bucket_owner::expected(self.account))
            .key(&key)
            .send()
            .await;
        let body = match got {
            Ok(o) => o.body.collect().await.ok()?.into_bytes(),
            Err(e) => {
                if !e.as_service_error().is_some_and(|s| s.is_no_such_key()) {
                    let why = aws_errors::explain(
                        &e,
                        Context {
                            action: "s3:GetObject",
                            ..self.ctx
                        },
                    );
                    tracing::warn!(seq, key, "reading this result again later: {}", why.summary);
                }
                return None;
            }
        };
        Some(match kind {
            Kind::Output => Outcome::Succeeded {
                seq,
                result: super::result_text(&body),
                answer: super::full_answer(&body),
            },
            Kind::Failure => Outcome::Failed {
                seq,
                error: String::from_utf8_lossy(&body).into_owned(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_start_near_the_newest_result_except_on_a_sweep() {
        assert_eq!(window_from(10_000, false), 10_000 - LOOKBACK);
        assert_eq!(window_from(10_000, true), 0);
        // Nothing found yet: from the first request.
        assert_eq!(window_from(-1, false), 0);
        assert_eq!(window_from(LOOKBACK - 1, false), 0);
    }

    #[test]
    fn a_jobs_results_sit_under_one_prefix_per_path() {
        assert_eq!(
            job_prefix("s3://b/async-llm-output/output", "job-1"),
            Some(("b".into(), "async-llm-output/output/job-1/".into()))
        );
        assert_eq!(
            job_prefix("s3://b/out/", "j"),
            Some(("b".into(), "out/j/".into()))
        );
        assert_eq!(job_prefix("s3://b", "j"), Some(("b".into(), "j/".into())));
    }
}
