//! What the Home screen shows first: the endpoints being paid for, the jobs under way, and, in
//! local mode, the three steps of the seed article's workflow (deploy the seed preset, submit
//! the demo folder, autoscale). Every step is read from the cloud and the job store as they
//! are now, never remembered, so a restart shows the same.

use serde::Serialize;

use crate::deploy::endpoints::EndpointSummary;
use crate::jobs::{JobState, JobSummary};
use crate::loadtest::LoadTestSpec;
use crate::scaling::spec::{ScalingSpec, WAKE_POLICY};
use crate::scaling::status::ScalingStatus;

/// The guide's load test: enough requests to see on the charts, short enough to wait for.
pub const GUIDE_LOAD_RATE: f64 = 5.0;
pub const GUIDE_LOAD_SECONDS: u32 = 20;

/// Where one step of the guide stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum StepState {
    /// Not done, and nothing of it under way.
    Todo,
    /// Under way: an endpoint starting, a job sending or collecting (or paused).
    Working,
    Done,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Step {
    pub state: StepState,
    /// What is there now, or what the step will do, in one sentence.
    pub detail: String,
    /// Whether its action can run now: what it needs is there and it is still to do.
    pub ready: bool,
}

/// The three steps, with what they work on.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Guide {
    /// Step 1's endpoint, which steps 2 and 3 use.
    pub endpoint: Option<String>,
    /// Step 2's job: the newest finished one, else the newest under way.
    pub job: Option<JobSummary>,
    pub deploy: Step,
    pub submit: Step,
    pub autoscale: Step,
    /// What step 3 applies to the endpoint: the seed autoscaling with scale from zero.
    pub scaling: Option<ScalingSpec>,
    /// What step 3 then sends, to see the endpoint work.
    pub load_test: Option<LoadTestSpec>,
}

/// Everything the Home screen shows, in one answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Overview {
    /// Endpoints in the region, whatever their status.
    pub endpoints: u32,
    /// Endpoints with instances running, i.e. being paid for.
    pub running: Vec<EndpointSummary>,
    /// Their hourly cost together (the known prices).
    pub usd_per_hour: f64,
    /// Jobs in the store.
    pub jobs: u32,
    /// Jobs sending, collecting or paused, newest first.
    pub unfinished: Vec<JobSummary>,
    /// The three steps; local mode only.
    pub guide: Option<Guide>,
}

/// An endpoint taking requests: InService, or updating (scaling) after it was.
pub fn serving(status: &str) -> bool {
    matches!(status, "InService" | "Updating" | "SystemUpdating")
}

/// The endpoint the guide works with: an async endpoint serving or being created; serving
/// first, then the one the newest job used (so the steps stay on one endpoint), then one Ebb
/// created, then the newest.
pub fn guide_endpoint<'a>(
    endpoints: &'a [EndpointSummary],
    jobs: &[JobSummary],
) -> Option<&'a EndpointSummary> {
    endpoints
        .iter()
        .filter(|e| e.is_async && (serving(&e.status) || e.status == "Creating"))
        .min_by_key(|e| {
            let used = jobs.iter().position(|j| j.endpoint == e.name);
            (
                !serving(&e.status),
                used.unwrap_or(usize::MAX),
                !e.created_by_ebb,
                e.age_s,
            )
        })
}

fn step(state: StepState, ready: bool, detail: String) -> Step {
    Step {
        state,
        detail,
        ready,
    }
}

fn instances(n: u32) -> String {
    match n {
        0 => "no instance running (scaled to zero)".into(),
        1 => "1 instance".into(),
        n => format!("{n} instances"),
    }
}

/// Step 1: done once the guide's endpoint serves.
pub fn deploy_step(chosen: Option<&EndpointSummary>, endpoints: &[EndpointSummary]) -> Step {
    match chosen {
        Some(e) if serving(&e.status) => step(
            StepState::Done,
            false,
            format!(
                "{} is {} with {}.",
                e.name,
                e.status,
                instances(e.current_instances)
            ),
        ),
        Some(e) => step(
            StepState::Working,
            false,
            format!("{} is {}…", e.name, e.status),
        ),
        None => {
            let failed = endpoints.iter().find(|e| e.status == "Failed");
            let detail = match failed {
                Some(f) => format!(
                    "{} failed ({}); deploy again, or tear it down on Endpoints.",
                    f.name,
                    f.failure_reason.as_deref().unwrap_or("no reason given")
                ),
                None => {
                    "Deploys the article's flan-t5-xxl async endpoint (the Seed preset).".into()
                }
            };
            step(StepState::Todo, true, detail)
        }
    }
}

fn counts(j: &JobSummary) -> String {
    format!(
        "{}: {} succeeded, {} failed of {} requests.",
        j.id, j.succeeded, j.failed, j.total
    )
}

/// Step 2: done once a job finished; else under way while one is unfinished. Returns the job
/// it is about.
pub fn submit_step(
    serving_endpoint: Option<&str>,
    jobs: &[JobSummary],
) -> (Step, Option<JobSummary>) {
    // Only jobs on step 1's endpoint: one on an endpoint torn down since does not count.
    let jobs: Vec<&JobSummary> = jobs
        .iter()
        .filter(|j| serving_endpoint == Some(j.endpoint.as_str()))
        .collect();
    if let Some(done) = jobs.iter().find(|j| j.state == JobState::Done) {
        return (
            step(StepState::Done, false, counts(done)),
            Some((*done).clone()),
        );
    }
    if let Some(j) = jobs.iter().find(|j| !j.state.is_final()) {
        let detail = match (j.state, j.note.as_deref()) {
            (JobState::Paused, Some(note)) => format!("{} is paused: {note}", j.id),
            (JobState::Paused, None) => format!("{} is paused; resume it on Jobs.", j.id),
            _ => format!(
                "{}: {} of {} results in…",
                j.id,
                j.succeeded + j.failed,
                j.total
            ),
        };
        return (step(StepState::Working, false, detail), Some((*j).clone()));
    }
    let detail = match serving_endpoint {
        Some(name) => format!("Sends the demo folder (the article's 19 requests) to {name}."),
        None => "Needs step 1's endpoint.".into(),
    };
    (
        step(StepState::Todo, serving_endpoint.is_some(), detail),
        None,
    )
}

/// Step 3: done once the endpoint can scale to and from zero on its queue (the seed
/// autoscaling, or any with a minimum of 0 and the wake-up policy); the text says what it did
/// last, or, before anything happened, when it will act. `scaling` is what is in place, or why
/// it could not be read.
pub fn autoscale_step(
    serving_endpoint: Option<&str>,
    scaling: Option<Result<&ScalingStatus, &str>>,
) -> Step {
    let (Some(name), Some(scaling)) = (serving_endpoint, scaling) else {
        return step(StepState::Todo, false, "Needs step 1's endpoint.".into());
    };
    let status = match scaling {
        Ok(status) => status,
        Err(why) => {
            return step(
                StepState::Todo,
                true,
                format!("Could not read {name}'s autoscaling: {why}"),
            );
        }
    };
    let wakes = status.policies.iter().any(|p| p.name == WAKE_POLICY);
    match status.bounds {
        Some((0, max)) if wakes => {
            let latest = status
                .activities
                .first()
                .map(|a| {
                    let what = a.description.trim_end_matches('.');
                    format!(" Latest scaling activity: {what}.")
                })
                .unwrap_or_else(|| {
                    " Nothing has scaled yet: target tracking adds instances once the backlog per \
                     instance stays above its target for 3 minutes, and goes to zero after 15 quiet \
                     minutes (watch it on Scaling & metrics)."
                        .to_string()
                });
            step(
                StepState::Done,
                false,
                format!(
                    "{name} scales between 0 and {max} instances on its queue and wakes from zero; {} now.{latest}",
                    instances(status.endpoint.current_instances)
                ),
            )
        }
        Some((min, max)) => step(
            StepState::Todo,
            true,
            format!(
                "{name} autoscales between {min} and {max} but never wakes from zero; this applies the seed's (0 to 5, wakes from zero)."
            ),
        ),
        None => step(
            StepState::Todo,
            true,
            format!(
                "Applies the seed autoscaling to {name} (0 to 5 instances on the queue, wakes from zero), sends {} requests over {GUIDE_LOAD_SECONDS} s and opens the charts.",
                guide_load_test(name).planned()
            ),
        ),
    }
}

/// Step 3's load test on `endpoint`: the seed's request, briefly.
pub fn guide_load_test(endpoint: &str) -> LoadTestSpec {
    LoadTestSpec {
        endpoint: endpoint.to_string(),
        rate: GUIDE_LOAD_RATE,
        duration_s: GUIDE_LOAD_SECONDS,
        payload: None,
    }
}

/// The three steps from the endpoints, the jobs (newest first) and the guide endpoint's
/// autoscaling (None when no endpoint serves).
pub fn guide(
    endpoints: &[EndpointSummary],
    jobs: &[JobSummary],
    scaling: Option<Result<&ScalingStatus, &str>>,
) -> Guide {
    let chosen = guide_endpoint(endpoints, jobs);
    let serving_name = chosen
        .filter(|e| serving(&e.status))
        .map(|e| e.name.as_str());
    let (submit, job) = submit_step(serving_name, jobs);
    Guide {
        endpoint: chosen.map(|e| e.name.clone()),
        job,
        deploy: deploy_step(chosen, endpoints),
        submit,
        autoscale: autoscale_step(serving_name, scaling),
        scaling: serving_name.map(ScalingSpec::seed),
        load_test: serving_name.map(guide_load_test),
    }
}

/// The at-a-glance part: what runs (and costs) and which jobs are unfinished.
pub fn summarize(
    endpoints: Vec<EndpointSummary>,
    jobs: Vec<JobSummary>,
    guide: Option<Guide>,
) -> Overview {
    let total = endpoints.len() as u32;
    let running: Vec<EndpointSummary> = endpoints
        .into_iter()
        .filter(|e| e.current_instances > 0)
        .collect();
    let usd_per_hour = running.iter().filter_map(|e| e.usd_per_hour).sum();
    Overview {
        endpoints: total,
        running,
        usd_per_hour,
        jobs: jobs.len() as u32,
        unfinished: jobs.into_iter().filter(|j| !j.state.is_final()).collect(),
        guide,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scaling::status::{ActivityView, PolicyView};

    fn endpoint(name: &str, status: &str, age_s: u32) -> EndpointSummary {
        EndpointSummary {
            name: name.into(),
            status: status.into(),
            failure_reason: None,
            config_name: format!("{name}-cfg"),
            instance_type: Some("ml.g5.12xlarge".into()),
            current_instances: 1,
            desired_instances: 1,
            is_async: true,
            output_path: None,
            failure_path: None,
            age_s,
            usd_per_hour: Some(7.09),
            price_source: None,
            created_by_ebb: true,
        }
    }

    fn job(id: &str, endpoint: &str, state: JobState) -> JobSummary {
        JobSummary {
            id: id.into(),
            endpoint: endpoint.into(),
            created_at: 0.0,
            finished_at: None,
            state,
            note: None,
            total: 19,
            pending: 0,
            invoked: 0,
            succeeded: if state == JobState::Done { 18 } else { 4 },
            failed: u32::from(state == JobState::Done),
            retried: 0,
            expired: 0,
            cancelled: 0,
            parent: None,
            cancel: None,
            top_error: None,
            first_result_at: None,
            last_result_at: None,
            headline: String::new(),
        }
    }

    fn scaling(bounds: Option<(i32, i32)>, policies: &[&str]) -> ScalingStatus {
        ScalingStatus {
            endpoint: endpoint("seed", "InService", 60),
            bounds,
            policies: policies
                .iter()
                .map(|p| PolicyView {
                    name: (*p).into(),
                    policy_type: String::new(),
                    summary: String::new(),
                    alarms: Vec::new(),
                })
                .collect(),
            activities: vec![ActivityView {
                start_ms: 0.0,
                end_ms: None,
                description: "Setting desired instance count to 0.".into(),
                cause: String::new(),
                status: "Successful".into(),
                message: None,
            }],
            findings: Vec::new(),
            spec: None,
            warnings: Vec::new(),
        }
    }

    #[test]
    fn the_guide_endpoint_serves_is_async_and_is_the_one_jobs_went_to() {
        let mut realtime = endpoint("realtime", "InService", 1);
        realtime.is_async = false;
        let eps = vec![
            realtime,
            endpoint("starting", "Creating", 2),
            endpoint("old", "InService", 500),
            endpoint("new", "InService", 100),
        ];
        // Serving beats starting; newest first among equals.
        assert_eq!(
            guide_endpoint(&eps, &[]).map(|e| e.name.as_str()),
            Some("new")
        );
        // The endpoint the newest job used keeps steps 2 and 3 on it.
        let jobs = [
            job("j2", "old", JobState::Done),
            job("j1", "new", JobState::Done),
        ];
        assert_eq!(
            guide_endpoint(&eps, &jobs).map(|e| e.name.as_str()),
            Some("old")
        );
        // Scaling (Updating) still counts as serving; Failed and Deleting do not count.
        let eps = vec![
            endpoint("gone", "Deleting", 1),
            endpoint("busy", "Updating", 9),
        ];
        assert_eq!(
            guide_endpoint(&eps, &[]).map(|e| e.name.as_str()),
            Some("busy")
        );
        assert_eq!(guide_endpoint(&[endpoint("x", "Failed", 1)], &[]), None);
    }

    #[test]
    fn step_one_is_done_once_an_endpoint_serves_and_says_why_not_otherwise() {
        let creating = endpoint("seed", "Creating", 1);
        let s = deploy_step(Some(&creating), std::slice::from_ref(&creating));
        assert_eq!((s.state, s.ready), (StepState::Working, false));
        let serving = endpoint("seed", "InService", 1);
        let s = deploy_step(Some(&serving), &[]);
        assert_eq!(s.state, StepState::Done);
        assert_eq!(s.detail, "seed is InService with 1 instance.");
        let mut failed = endpoint("bad", "Failed", 1);
        failed.failure_reason = Some("image not found".into());
        let s = deploy_step(None, &[failed]);
        assert_eq!((s.state, s.ready), (StepState::Todo, true));
        assert!(
            s.detail.contains("bad failed (image not found)"),
            "{}",
            s.detail
        );
    }

    #[test]
    fn step_two_is_done_once_a_job_finished_and_shows_its_counts() {
        let (s, j) = submit_step(None, &[]);
        assert_eq!((s.state, s.ready, j), (StepState::Todo, false, None));
        let (s, _) = submit_step(Some("seed"), &[]);
        assert!(s.ready && s.detail.contains("to seed"), "{}", s.detail);
        let running = job("j2", "seed", JobState::Collecting);
        let (s, j) = submit_step(Some("seed"), std::slice::from_ref(&running));
        assert_eq!((s.state, j), (StepState::Working, Some(running.clone())));
        assert_eq!(s.detail, "j2: 4 of 19 results in…");
        // A finished job counts even while a newer one runs.
        let done = job("j1", "seed", JobState::Done);
        let (s, j) = submit_step(Some("seed"), &[running, done.clone()]);
        assert_eq!((s.state, j), (StepState::Done, Some(done)));
        assert_eq!(s.detail, "j1: 18 succeeded, 1 failed of 19 requests.");
        // A cancelled job is neither.
        let (s, _) = submit_step(Some("seed"), &[job("j", "seed", JobState::Cancelled)]);
        assert_eq!(s.state, StepState::Todo);
        // A job on another endpoint (one torn down since) does not count for this one.
        let elsewhere = job("j0", "gone", JobState::Done);
        let (s, j) = submit_step(Some("seed"), std::slice::from_ref(&elsewhere));
        assert_eq!((s.state, j), (StepState::Todo, None));
        let (s, _) = submit_step(None, &[elsewhere]);
        assert_eq!(s.state, StepState::Todo);
    }

    #[test]
    fn step_three_is_done_once_the_endpoint_scales_to_and_from_zero() {
        assert!(!autoscale_step(None, None).ready);
        let none = scaling(None, &[]);
        let s = autoscale_step(Some("seed"), Some(Ok(&none)));
        assert_eq!((s.state, s.ready), (StepState::Todo, true));
        assert!(
            s.detail.contains("sends 100 requests over 20 s"),
            "{}",
            s.detail
        );
        // Minimum 0 without the wake-up policy would stay at zero for good: not done.
        let no_wake = scaling(Some((0, 5)), &["Invocations-ScalingPolicy"]);
        assert_eq!(
            autoscale_step(Some("seed"), Some(Ok(&no_wake))).state,
            StepState::Todo
        );
        let min_one = scaling(Some((1, 5)), &["Invocations-ScalingPolicy", WAKE_POLICY]);
        assert_eq!(
            autoscale_step(Some("seed"), Some(Ok(&min_one))).state,
            StepState::Todo
        );
        let seed = scaling(Some((0, 5)), &["Invocations-ScalingPolicy", WAKE_POLICY]);
        let s = autoscale_step(Some("seed"), Some(Ok(&seed)));
        assert_eq!(s.state, StepState::Done);
        assert!(s.detail.contains("between 0 and 5"), "{}", s.detail);
        assert!(
            s.detail
                .ends_with("Latest scaling activity: Setting desired instance count to 0."),
            "{}",
            s.detail
        );
        let s = autoscale_step(Some("seed"), Some(Err("access denied")));
        assert!(
            s.ready && s.detail.contains("access denied"),
            "{}",
            s.detail
        );
    }

    #[test]
    fn the_guide_works_on_one_endpoint_and_offers_the_seed_scaling_and_a_short_load() {
        let eps = [endpoint("seed", "InService", 5)];
        let g = guide(&eps, &[], Some(Ok(&scaling(None, &[]))));
        assert_eq!(g.endpoint.as_deref(), Some("seed"));
        assert_eq!(g.scaling, Some(ScalingSpec::seed("seed")));
        let load = g.load_test.expect("a load test");
        assert!(load.problems().is_empty());
        assert_eq!(load.planned(), 100);
        // Nothing serving yet: no scaling, no load, only step 1 to do.
        let g = guide(&[endpoint("seed", "Creating", 1)], &[], None);
        assert_eq!((g.scaling, g.load_test), (None, None));
        assert_eq!(g.deploy.state, StepState::Working);
        assert!(!g.submit.ready && !g.autoscale.ready);
    }

    #[test]
    fn at_a_glance_counts_what_runs_and_what_is_unfinished() {
        let mut idle = endpoint("zero", "InService", 1);
        idle.current_instances = 0;
        idle.usd_per_hour = Some(0.0);
        let mut two = endpoint("two", "InService", 1);
        two.usd_per_hour = Some(14.18);
        let jobs = vec![
            job("a", "two", JobState::Submitting),
            job("b", "two", JobState::Done),
            job("c", "two", JobState::Paused),
        ];
        let o = summarize(vec![idle, two], jobs, None);
        assert_eq!(o.endpoints, 2);
        assert_eq!(
            o.running
                .iter()
                .map(|e| e.name.as_str())
                .collect::<Vec<_>>(),
            ["two"]
        );
        assert!((o.usd_per_hour - 14.18).abs() < 1e-9);
        assert_eq!(o.jobs, 3);
        assert_eq!(
            o.unfinished
                .iter()
                .map(|j| j.id.as_str())
                .collect::<Vec<_>>(),
            ["a", "c"]
        );
    }
}
