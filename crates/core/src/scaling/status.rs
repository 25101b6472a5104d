//! What autoscaling is in place on an endpoint, read back for the Scaling screen and
//! `ebb autoscale --show`: the target, each policy in words with its alarms and their state,
//! the activity history, and checks of what is there (a policy that can never fire is flagged).

use aws_sdk_applicationautoscaling::types::{ScalingPolicy, ServiceNamespace};
use serde::Serialize;

use super::spec::{Finding, ScalingSpec, Severity, TRACKED_METRIC, WAKE_METRIC, WAKE_POLICY};
use crate::aws_errors::{self, Context};
use crate::cloud::Clients;
use crate::deploy::endpoints::EndpointSummary;
use crate::error::Error;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct AlarmView {
    pub name: String,
    /// OK, ALARM or INSUFFICIENT_DATA.
    pub state: String,
    pub reason: String,
    /// e.g. `HasBacklogWithoutCapacity >= 1 (Average, 2 of 2 × 60 s)`.
    pub condition: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct PolicyView {
    pub name: String,
    pub policy_type: String,
    /// The policy in one sentence.
    pub summary: String,
    pub alarms: Vec<AlarmView>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ActivityView {
    /// Epoch milliseconds.
    pub start_ms: f64,
    pub end_ms: Option<f64>,
    pub description: String,
    pub cause: String,
    /// Successful, InProgress, Failed, …
    pub status: String,
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ScalingStatus {
    pub endpoint: EndpointSummary,
    /// `(min, max)` of the registered target, if any.
    pub bounds: Option<(i32, i32)>,
    pub policies: Vec<PolicyView>,
    /// Newest first.
    pub activities: Vec<ActivityView>,
    /// Problems with what is in place.
    pub findings: Vec<Finding>,
    /// What is in place as the form's values, when it is Ebb's shape (for editing).
    pub spec: Option<ScalingSpec>,
    /// What could not be read (the rest is shown).
    pub warnings: Vec<String>,
}

/// Metrics async endpoints do not publish; real-time recipes often track them.
const REAL_TIME_ONLY: &[&str] = &[
    "InvocationsPerInstance",
    "SageMakerVariantInvocationsPerInstance",
];

fn tracked_metric(p: &ScalingPolicy) -> Option<String> {
    let c = p.target_tracking_scaling_policy_configuration()?;
    if let Some(m) = c.customized_metric_specification() {
        return m.metric_name().map(str::to_string);
    }
    c.predefined_metric_specification()
        .map(|m| m.predefined_metric_type().as_str().to_string())
}

fn summary(p: &ScalingPolicy) -> String {
    if let Some(c) = p.target_tracking_scaling_policy_configuration() {
        let metric = tracked_metric(p).unwrap_or_else(|| "a metric".into());
        let stat = c
            .customized_metric_specification()
            .and_then(|m| m.statistic())
            .map(|s| format!(" ({})", s.as_str()))
            .unwrap_or_default();
        return format!(
            "Keeps {metric}{stat} near {}; waits {} s after scaling out and {} s after scaling in{}.",
            c.target_value(),
            c.scale_out_cooldown().unwrap_or(300),
            c.scale_in_cooldown().unwrap_or(300),
            if c.disable_scale_in() == Some(true) {
                "; never scales in"
            } else {
                ""
            }
        );
    }
    if let Some(c) = p.step_scaling_policy_configuration() {
        let steps: Vec<String> = c
            .step_adjustments()
            .iter()
            .map(|s| {
                let n = s.scaling_adjustment();
                match c.adjustment_type() {
                    Some(t) if t.as_str() == "ExactCapacity" => format!("set {n}"),
                    Some(t) if t.as_str() == "PercentChangeInCapacity" => format!("{n:+}%"),
                    _ => format!("{n:+} instance{}", if n.abs() == 1 { "" } else { "s" }),
                }
            })
            .collect();
        return format!(
            "When its alarm fires: {}; then waits {} s.",
            steps.join(" / "),
            c.cooldown().unwrap_or(300)
        );
    }
    "A policy of a type Ebb does not describe.".into()
}

pub(crate) fn epoch_ms(t: &aws_smithy_types::DateTime) -> f64 {
    t.secs() as f64 * 1000.0 + f64::from(t.subsec_nanos()) / 1e6
}

fn activity(a: &aws_sdk_applicationautoscaling::types::ScalingActivity) -> ActivityView {
    ActivityView {
        start_ms: epoch_ms(a.start_time()),
        end_ms: a.end_time().map(epoch_ms),
        description: a.description().to_string(),
        cause: a.cause().to_string(),
        status: a.status_code().as_str().to_string(),
        message: a.status_message().map(str::to_string),
    }
}

fn condition(a: &aws_sdk_cloudwatch::types::MetricAlarm) -> String {
    let op = match a.comparison_operator().map(|c| c.as_str()) {
        Some("GreaterThanOrEqualToThreshold") => ">=",
        Some("GreaterThanThreshold") => ">",
        Some("LessThanThreshold") => "<",
        Some("LessThanOrEqualToThreshold") => "<=",
        _ => "?",
    };
    let periods = a.evaluation_periods().unwrap_or(1);
    format!(
        "{} {op} {} ({}, {} of {} × {} s)",
        a.metric_name().unwrap_or("metric math"),
        a.threshold().unwrap_or(0.0),
        a.statistic().map_or("?", |s| s.as_str()),
        a.datapoints_to_alarm().unwrap_or(periods),
        periods,
        a.period().unwrap_or(60),
    )
}

/// Checks of policies in place against the endpoint they scale.
fn assess(
    endpoint: &EndpointSummary,
    bounds: Option<(i32, i32)>,
    policies: &[ScalingPolicy],
    views: &[PolicyView],
) -> Vec<Finding> {
    let mut out = Vec::new();
    for p in policies {
        if let Some(metric) = tracked_metric(p)
            && endpoint.is_async
            && REAL_TIME_ONLY.contains(&metric.as_str())
        {
            out.push(Finding {
                field: "policy".into(),
                severity: Severity::Error,
                message: format!(
                    "{} tracks {metric}, which asynchronous endpoints do not publish: it will never scale. Track {TRACKED_METRIC} instead (the Seed preset does).",
                    p.policy_name()
                ),
            });
        }
    }
    let watches_wake_metric = views
        .iter()
        .flat_map(|v| &v.alarms)
        .any(|a| a.condition.starts_with(WAKE_METRIC));
    if matches!(bounds, Some((0, _))) && endpoint.is_async && !watches_wake_metric {
        out.push(Finding {
            field: "scale_from_zero".into(),
            severity: Severity::Warning,
            message: format!(
                "Minimum is 0 but no policy wakes the endpoint from zero: once at 0 instances it stays there. Turn on scale from zero (an alarm on {WAKE_METRIC})."
            ),
        });
    }
    out
}

/// The form's values for what is in place, when it is Ebb's target-tracking shape.
fn as_spec(
    endpoint: &str,
    bounds: Option<(i32, i32)>,
    policies: &[ScalingPolicy],
) -> Option<ScalingSpec> {
    let (min, max) = bounds?;
    let tracking = policies
        .iter()
        .find(|p| tracked_metric(p).as_deref() == Some(TRACKED_METRIC))?
        .target_tracking_scaling_policy_configuration()?;
    Some(ScalingSpec {
        endpoint: endpoint.to_string(),
        variant: "AllTraffic".into(),
        min,
        max,
        target: tracking.target_value(),
        scale_in_cooldown: tracking.scale_in_cooldown().unwrap_or(300),
        scale_out_cooldown: tracking.scale_out_cooldown().unwrap_or(300),
        scale_from_zero: policies.iter().any(|p| p.policy_name() == WAKE_POLICY),
    })
}

/// Most activities read for a chart's window (a safety bound; a window holds far fewer).
const WINDOW_ACTIVITIES: usize = 2_000;

/// Activities the scaling view shows.
const HISTORY_LEN: usize = 50;

const ACTIVITIES_ACTION: &str = "application-autoscaling:DescribeScalingActivities";

/// The endpoint's scaling activities, newest first, page after page (a page may hold fewer
/// than asked for and still have a token), until `enough` says so after one or `most` are read.
async fn activities(
    clients: &Clients,
    endpoint: &str,
    most: usize,
    enough: impl Fn(&ActivityView) -> bool,
) -> Result<Vec<ActivityView>, ActivitiesError> {
    let mut pages = clients
        .autoscaling
        .describe_scaling_activities()
        .service_namespace(ServiceNamespace::Sagemaker)
        .resource_id(super::resource_id(endpoint, "AllTraffic"))
        .into_paginator()
        .items()
        .send();
    let mut views = Vec::new();
    while views.len() < most
        && let Some(a) = pages.next().await
    {
        let view = activity(&a?);
        let done = enough(&view);
        views.push(view);
        if done {
            break;
        }
    }
    Ok(views)
}

type ActivitiesError = aws_smithy_runtime_api::client::result::SdkError<
    aws_sdk_applicationautoscaling::operation::describe_scaling_activities::DescribeScalingActivitiesError,
    aws_smithy_runtime_api::http::Response,
>;

/// The endpoint's scaling activities from `start_ms` on, newest first, every page of them, plus
/// the last one that ended before `start_ms` (it says the count the window starts with).
pub async fn activities_since(
    clients: &Clients,
    ctx: Context<'_>,
    endpoint: &str,
    start_ms: f64,
) -> Result<Vec<ActivityView>, Error> {
    let before_window =
        |v: &ActivityView| v.status == "Successful" && v.end_ms.is_some_and(|t| t < start_ms);
    activities(clients, endpoint, WINDOW_ACTIVITIES, before_window)
        .await
        .map_err(|e| aws_errors::failed(&e, ctx, ACTIVITIES_ACTION))
}

/// The endpoint's latest [`HISTORY_LEN`] scaling activities, newest first, or why they could
/// not be read.
pub async fn history(
    clients: &Clients,
    ctx: Context<'_>,
    endpoint: &str,
) -> Result<Vec<ActivityView>, String> {
    activities(clients, endpoint, HISTORY_LEN, |_| false)
        .await
        .map_err(|e| {
            let action = ACTIVITIES_ACTION;
            aws_errors::explain(&e, Context { action, ..ctx }).summary
        })
}

pub async fn read(
    clients: &Clients,
    ctx: Context<'_>,
    endpoint: EndpointSummary,
) -> Result<ScalingStatus, Error> {
    let aas = &clients.autoscaling;
    let resource = super::resource_id(&endpoint.name, "AllTraffic");
    let targets = aas
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Sagemaker)
        .resource_ids(&resource)
        .send()
        .await
        .map_err(|e| {
            aws_errors::failed(&e, ctx, "application-autoscaling:DescribeScalableTargets")
        })?;
    let bounds = targets
        .scalable_targets()
        .first()
        .map(|t| (t.min_capacity(), t.max_capacity()));
    let policies: Vec<ScalingPolicy> = super::policies_of(clients, ctx, &resource).await?;
    let alarm_names: Vec<String> = policies
        .iter()
        .flat_map(|p| p.alarms())
        .map(|a| a.alarm_name().to_string())
        .collect();
    let alarms = super::alarms::named(clients, ctx, &alarm_names).await?;
    let views: Vec<PolicyView> = policies
        .iter()
        .map(|p| PolicyView {
            name: p.policy_name().to_string(),
            policy_type: p.policy_type().as_str().to_string(),
            summary: summary(p),
            alarms: p
                .alarms()
                .iter()
                .filter_map(|r| {
                    alarms
                        .iter()
                        .find(|a| a.alarm_name() == Some(r.alarm_name()))
                })
                .map(|a| AlarmView {
                    name: a.alarm_name().unwrap_or_default().to_string(),
                    state: a
                        .state_value()
                        .map_or("INSUFFICIENT_DATA", |s| s.as_str())
                        .to_string(),
                    reason: a.state_reason().unwrap_or_default().to_string(),
                    condition: condition(a),
                })
                .collect(),
        })
        .collect();
    let mut warnings = Vec::new();
    let activities = history(clients, ctx, &endpoint.name)
        .await
        .unwrap_or_else(|why| {
            warnings.push(format!("Could not read the scaling history: {why}"));
            Vec::new()
        });
    Ok(ScalingStatus {
        findings: assess(&endpoint, bounds, &policies, &views),
        spec: as_spec(&endpoint.name, bounds, &policies),
        endpoint,
        bounds,
        policies: views,
        activities,
        warnings,
    })
}
