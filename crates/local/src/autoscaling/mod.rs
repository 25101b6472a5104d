//! Application Auto Scaling (awsJson1_1, `AnyScaleFrontendService.*`) for SageMaker endpoint
//! variants: scalable targets, scaling policies (target tracking creates its own CloudWatch
//! alarms, as AWS does) and the activity history, validated as AWS validates them. The
//! policies act in `scaler` when their alarms fire.

mod scaler;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::cloudwatch::{CloudWatch, alarm_arn};
use crate::sagemaker::SageMaker;
use crate::sagemaker::api::{ApiError, ApiResult, now_epoch, optional_str, required_str};
use crate::sim::clock::Clock;

pub const NAMESPACE: &str = "sagemaker";
pub const DIMENSION: &str = "sagemaker:variant:DesiredInstanceCount";
const SERVICE_ROLE: &str = "arn:aws:iam::000000000000:role/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint";

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// By resource id (one namespace and dimension here).
    targets: BTreeMap<String, Value>,
    /// By resource id, then policy name.
    policies: BTreeMap<String, BTreeMap<String, Value>>,
    /// StartTime/EndTime in simulated seconds (see [`Clock`]).
    #[serde(default)]
    activities: Vec<Value>,
    /// The epoch simulated instant 0 was shown at when saved, to carry activity times over a
    /// restart (whose simulated time starts again at 0).
    #[serde(default)]
    sim_epoch: f64,
}

pub struct AutoScaling {
    file: PathBuf,
    state: Mutex<State>,
    cloudwatch: Arc<CloudWatch>,
    sagemaker: Arc<SageMaker>,
    clock: Clock,
    cooldowns: Mutex<scaler::Cooldowns>,
}

fn validation(message: impl Into<String>) -> ApiError {
    ApiError::validation(message)
}

fn object_not_found(message: String) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        code: "ObjectNotFoundException",
        message,
    }
}

/// `endpoint/<name>/variant/<variant>` -> (name, variant).
fn parse_resource_id(id: &str) -> Option<(&str, &str)> {
    let rest = id.strip_prefix("endpoint/")?;
    let (endpoint, variant) = rest.split_once("/variant/")?;
    (!endpoint.is_empty() && !variant.is_empty() && !variant.contains('/'))
        .then_some((endpoint, variant))
}

fn capacity(input: &Value, field: &str) -> Result<Option<i64>, ApiError> {
    match input.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_i64() {
            Some(n) if n >= 0 => Ok(Some(n)),
            _ => Err(validation(format!(
                "{field} must be a whole number of at least 0."
            ))),
        },
    }
}

impl AutoScaling {
    /// The targets, policies and activities saved in `autoscaling.json` in the data folder.
    /// Errors: [`crate::Error::State`] when that file exists but cannot be read.
    pub fn open(
        data_dir: &std::path::Path,
        cloudwatch: Arc<CloudWatch>,
        sagemaker: Arc<SageMaker>,
    ) -> Result<AutoScaling, crate::Error> {
        let file = data_dir.join("autoscaling.json");
        let clock = sagemaker.clock().clone();
        let mut state: State =
            crate::persist::load(&file, "Application Auto Scaling targets and policies")?;
        // Earlier activities keep the epoch times they were last shown at.
        let shift = state.sim_epoch - clock.epoch_of(0.0);
        for a in &mut state.activities {
            for field in ["StartTime", "EndTime"] {
                if let Some(t) = a[field].as_f64() {
                    a[field] = json!(t + shift);
                }
            }
        }
        Ok(AutoScaling {
            state: Mutex::new(state),
            file,
            cloudwatch,
            sagemaker,
            clock,
            cooldowns: Mutex::default(),
        })
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, ApiError> {
        self.state
            .lock()
            .map_err(|_| ApiError::internal("the local Application Auto Scaling lock is poisoned"))
    }

    fn save(&self, state: &mut State) -> Result<(), ApiError> {
        state.sim_epoch = self.clock.epoch_of(0.0);
        crate::persist::save(&self.file, state)
            .map_err(|e| ApiError::internal(format!("could not save {}: {e}", self.file.display())))
    }

    pub fn handle(&self, op: &str, input: &Value) -> ApiResult {
        match op {
            "RegisterScalableTarget" => self.register(input),
            "DescribeScalableTargets" => self.describe_targets(input),
            "DeregisterScalableTarget" => self.deregister(input),
            "PutScalingPolicy" => self.put_policy(input),
            "DescribeScalingPolicies" => self.describe_policies(input),
            "DeleteScalingPolicy" => self.delete_policy(input),
            "DescribeScalingActivities" => self.describe_activities(input),
            other => Err(ApiError {
                status: StatusCode::BAD_REQUEST,
                code: "UnknownOperationException",
                message: format!(
                    "the local cloud does not implement Application Auto Scaling {other}"
                ),
            }),
        }
    }

    /// Checks namespace, dimension and resource id, and returns the resource id.
    fn target_key<'a>(&self, input: &'a Value) -> Result<&'a str, ApiError> {
        let namespace = required_str(input, "ServiceNamespace")?;
        if namespace != NAMESPACE {
            return Err(validation(format!(
                "The local cloud scales SageMaker endpoint variants only (ServiceNamespace `sagemaker`), not `{namespace}`."
            )));
        }
        let id = required_str(input, "ResourceId")?;
        if parse_resource_id(id).is_none() {
            return Err(validation(format!(
                "Unsupported resource ID `{id}`: a SageMaker variant is `endpoint/<endpoint name>/variant/<variant name>`."
            )));
        }
        let dimension = required_str(input, "ScalableDimension")?;
        if dimension != DIMENSION {
            return Err(validation(format!(
                "Unsupported scalable dimension `{dimension}` for namespace sagemaker: use `{DIMENSION}`."
            )));
        }
        Ok(id)
    }

    fn no_target(id: &str) -> ApiError {
        object_not_found(format!(
            "No scalable target registered for service namespace: {NAMESPACE}, resource ID: {id}, scalable dimension: {DIMENSION}"
        ))
    }

    fn register(&self, input: &Value) -> ApiResult {
        let id = self.target_key(input)?;
        let (endpoint, variant) = parse_resource_id(id).unwrap_or_default();
        if !self.sagemaker.has_variant(endpoint, variant) {
            return Err(validation(format!(
                "The endpoint variant `{variant}` of endpoint `{endpoint}` does not exist."
            )));
        }
        let min = capacity(input, "MinCapacity")?;
        let max = capacity(input, "MaxCapacity")?;
        let mut state = self.lock()?;
        let existing = state.targets.get(id).cloned();
        let (min, max) = match (&existing, min, max) {
            (_, Some(min), Some(max)) => (min, max),
            (Some(t), min, max) => (
                min.unwrap_or(t["MinCapacity"].as_i64().unwrap_or(0)),
                max.unwrap_or(t["MaxCapacity"].as_i64().unwrap_or(0)),
            ),
            (None, _, _) => {
                return Err(validation(
                    "MinCapacity and MaxCapacity are required to register a new scalable target.",
                ));
            }
        };
        if min > max {
            return Err(validation(format!(
                "Minimum capacity ({min}) cannot be greater than maximum capacity ({max})."
            )));
        }
        let arn = existing
            .as_ref()
            .and_then(|t| t["ScalableTargetARN"].as_str().map(str::to_string))
            .unwrap_or_else(|| {
                format!(
                    "arn:aws:application-autoscaling:{}:{}:scalable-target/{}",
                    crate::REGION,
                    crate::ACCOUNT_ID,
                    crate::runtime::new_id().replace('-', "")
                )
            });
        let target = json!({
            "ServiceNamespace": NAMESPACE,
            "ResourceId": id,
            "ScalableDimension": DIMENSION,
            "MinCapacity": min,
            "MaxCapacity": max,
            "RoleARN": SERVICE_ROLE,
            "CreationTime": existing.as_ref().map_or(json!(now_epoch()), |t| t["CreationTime"].clone()),
            "SuspendedState": input.get("SuspendedState").cloned().unwrap_or_else(|| json!({
                "DynamicScalingInSuspended": false,
                "DynamicScalingOutSuspended": false,
                "ScheduledScalingSuspended": false,
            })),
            "ScalableTargetARN": arn,
        });
        state.targets.insert(id.to_string(), target);
        self.save(&mut state)?;
        Ok(json!({ "ScalableTargetARN": arn }))
    }

    fn describe_targets(&self, input: &Value) -> ApiResult {
        let namespace = required_str(input, "ServiceNamespace")?;
        let ids: Vec<&str> = input
            .get("ResourceIds")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let state = self.lock()?;
        let targets: Vec<Value> = state
            .targets
            .values()
            .filter(|_| namespace == NAMESPACE)
            .filter(|t| ids.is_empty() || ids.iter().any(|id| t["ResourceId"] == *id))
            .cloned()
            .collect();
        Ok(paged("ScalableTargets", targets, input))
    }

    fn deregister(&self, input: &Value) -> ApiResult {
        let id = self.target_key(input)?;
        let mut state = self.lock()?;
        if state.targets.remove(id).is_none() {
            return Err(Self::no_target(id));
        }
        // Deregistering deletes the target's policies, and with them target tracking's alarms.
        let policies = state.policies.remove(id).unwrap_or_default();
        let owned: Vec<String> = policies.values().flat_map(owned_alarms).collect();
        self.cloudwatch.remove_owned(&owned)?;
        self.save(&mut state)?;
        Ok(json!({}))
    }

    fn put_policy(&self, input: &Value) -> ApiResult {
        let id = self.target_key(input)?;
        let name = required_str(input, "PolicyName")?;
        if name.len() > 256 || name.contains(':') || name.contains('/') {
            return Err(validation(format!(
                "PolicyName `{name}` must be at most 256 characters without `:` or `/`."
            )));
        }
        let policy_type = optional_str(input, "PolicyType").unwrap_or("StepScaling");
        let mut state = self.lock()?;
        if !state.targets.contains_key(id) {
            return Err(Self::no_target(id));
        }
        let previous = state.policies.get(id).and_then(|p| p.get(name)).cloned();
        let arn = previous
            .as_ref()
            .and_then(|p| p["PolicyARN"].as_str().map(str::to_string))
            .unwrap_or_else(|| {
                format!(
                    "arn:aws:autoscaling:{}:{}:scalingPolicy:{}:resource/{NAMESPACE}/{id}:policyName/{name}",
                    crate::REGION,
                    crate::ACCOUNT_ID,
                    crate::runtime::new_id()
                )
            });
        let mut policy = json!({
            "PolicyARN": arn,
            "PolicyName": name,
            "ServiceNamespace": NAMESPACE,
            "ResourceId": id,
            "ScalableDimension": DIMENSION,
            "PolicyType": policy_type,
            "Alarms": [],
            "CreationTime": previous.as_ref().map_or(json!(now_epoch()), |p| p["CreationTime"].clone()),
        });
        match policy_type {
            "TargetTrackingScaling" => {
                let config = input
                    .get("TargetTrackingScalingPolicyConfiguration")
                    .filter(|c| c.is_object())
                    .ok_or_else(|| {
                        validation("TargetTrackingScalingPolicyConfiguration is required for a TargetTrackingScaling policy.")
                    })?;
                check_target_tracking(config)?;
                policy["TargetTrackingScalingPolicyConfiguration"] = config.clone();
                let alarms = self.target_tracking_alarms(id, &arn, config)?;
                policy["Alarms"] = json!(alarms);
            }
            "StepScaling" => {
                let config = input
                    .get("StepScalingPolicyConfiguration")
                    .filter(|c| c.is_object())
                    .ok_or_else(|| {
                        validation(
                            "StepScalingPolicyConfiguration is required for a StepScaling policy.",
                        )
                    })?;
                check_step(config)?;
                policy["StepScalingPolicyConfiguration"] = config.clone();
            }
            other => {
                return Err(validation(format!(
                    "PolicyType `{other}` is not supported for SageMaker: use TargetTrackingScaling or StepScaling."
                )));
            }
        }
        if let Some(old) = &previous {
            self.cloudwatch.remove_owned(&owned_alarms(old))?;
        }
        let alarms = policy["Alarms"].clone();
        state
            .policies
            .entry(id.to_string())
            .or_default()
            .insert(name.to_string(), policy);
        self.save(&mut state)?;
        Ok(json!({ "PolicyARN": arn, "Alarms": alarms }))
    }

    /// Target tracking's high and low alarms, named and shaped as AWS makes them.
    fn target_tracking_alarms(
        &self,
        id: &str,
        policy_arn: &str,
        config: &Value,
    ) -> Result<Vec<Value>, ApiError> {
        let target = config["TargetValue"].as_f64().unwrap_or(0.0);
        let (endpoint, variant) = parse_resource_id(id).unwrap_or_default();
        let metric = match config
            .get("CustomizedMetricSpecification")
            .filter(|m| m.is_object())
        {
            Some(m) => json!({
                "MetricName": m["MetricName"], "Namespace": m["Namespace"],
                "Statistic": m.get("Statistic").cloned().unwrap_or(json!("Average")),
                "Dimensions": m.get("Dimensions").cloned().unwrap_or(json!([])),
            }),
            None => json!({
                "MetricName": "InvocationsPerInstance", "Namespace": "AWS/SageMaker",
                "Statistic": "Sum",
                "Dimensions": [
                    { "Name": "EndpointName", "Value": endpoint },
                    { "Name": "VariantName", "Value": variant },
                ],
            }),
        };
        let scale_in = !config["DisableScaleIn"].as_bool().unwrap_or(false);
        let mut made = Vec::new();
        let suffix = crate::runtime::new_id();
        for (high, wanted) in [(true, true), (false, scale_in)] {
            if !wanted {
                continue;
            }
            let kind = if high { "AlarmHigh" } else { "AlarmLow" };
            let name = format!("TargetTracking-{id}-{kind}-{suffix}");
            let mut alarm = metric.clone();
            alarm["AlarmName"] = json!(name);
            alarm["AlarmDescription"] = json!(format!(
                "DO NOT EDIT OR DELETE. For TargetTrackingScaling policy {policy_arn}."
            ));
            alarm["AlarmActions"] = json!([policy_arn]);
            alarm["Period"] = json!(60);
            alarm["EvaluationPeriods"] = json!(if high { 3 } else { 15 });
            alarm["DatapointsToAlarm"] = alarm["EvaluationPeriods"].clone();
            alarm["Threshold"] = json!(if high { target } else { target * 0.9 });
            alarm["ComparisonOperator"] = json!(if high {
                "GreaterThanThreshold"
            } else {
                "LessThanThreshold"
            });
            self.cloudwatch.put_metric_alarm(&alarm)?;
            made.push(json!({ "AlarmName": name, "AlarmARN": alarm_arn(&name) }));
        }
        Ok(made)
    }

    fn describe_policies(&self, input: &Value) -> ApiResult {
        let namespace = required_str(input, "ServiceNamespace")?;
        let resource = optional_str(input, "ResourceId");
        let names: Vec<&str> = input
            .get("PolicyNames")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let state = self.lock()?;
        let policies: Vec<Value> = state
            .policies
            .iter()
            .filter(|_| namespace == NAMESPACE)
            .filter(|(id, _)| resource.is_none_or(|r| r == id.as_str()))
            .flat_map(|(_, p)| p.values())
            .filter(|p| names.is_empty() || names.iter().any(|n| p["PolicyName"] == *n))
            .map(|p| {
                let mut p = p.clone();
                // A step policy's alarms are those whose actions name it.
                if p["PolicyType"] == "StepScaling" {
                    let arn = p["PolicyARN"].as_str().unwrap_or_default().to_string();
                    p["Alarms"] = json!(
                        self.cloudwatch
                            .alarms_acting_on(&arn)
                            .into_iter()
                            .map(|n| json!({ "AlarmName": n, "AlarmARN": alarm_arn(&n) }))
                            .collect::<Vec<_>>()
                    );
                }
                p
            })
            .collect();
        Ok(paged("ScalingPolicies", policies, input))
    }

    fn delete_policy(&self, input: &Value) -> ApiResult {
        let id = self.target_key(input)?;
        let name = required_str(input, "PolicyName")?;
        let mut state = self.lock()?;
        let removed = state.policies.get_mut(id).and_then(|p| p.remove(name));
        let Some(policy) = removed else {
            return Err(object_not_found(format!(
                "No scaling policy found for service namespace: {NAMESPACE}, resource ID: {id}, scalable dimension: {DIMENSION}, policy name: {name}"
            )));
        };
        self.cloudwatch.remove_owned(&owned_alarms(&policy))?;
        self.save(&mut state)?;
        Ok(json!({}))
    }

    fn describe_activities(&self, input: &Value) -> ApiResult {
        required_str(input, "ServiceNamespace")?;
        let resource = optional_str(input, "ResourceId");
        let state = self.lock()?;
        let activities: Vec<Value> = state
            .activities
            .iter()
            .rev()
            .filter(|a| resource.is_none_or(|r| a["ResourceId"] == r))
            .map(|a| {
                let mut shown = a.clone();
                if let Some(fields) = shown.as_object_mut() {
                    fields.retain(|k, _| !k.starts_with('_'));
                    for field in ["StartTime", "EndTime"] {
                        if let Some(t) = fields.get(field).and_then(Value::as_f64) {
                            fields.insert(field.into(), json!(self.clock.epoch_of(t)));
                        }
                    }
                }
                shown
            })
            .collect();
        Ok(paged("ScalingActivities", activities, input))
    }
}

impl crate::sagemaker::ScalableTargets for AutoScaling {
    fn is_registered(&self, endpoint: &str, variant: &str) -> bool {
        let id = format!("endpoint/{endpoint}/variant/{variant}");
        self.state.lock().is_ok_and(|s| s.targets.contains_key(&id))
    }
}

/// Alarms that target tracking made for `policy` (a step policy owns none).
fn owned_alarms(policy: &Value) -> Vec<String> {
    if policy["PolicyType"] != "TargetTrackingScaling" {
        return Vec::new();
    }
    policy["Alarms"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["AlarmName"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn check_target_tracking(config: &Value) -> Result<(), ApiError> {
    match config.get("TargetValue").and_then(Value::as_f64) {
        Some(t) if t > 0.0 => {}
        Some(_) => return Err(validation("TargetValue must be greater than 0.")),
        None => {
            return Err(validation(
                "TargetValue is required for a target tracking policy.",
            ));
        }
    }
    let predefined = config
        .get("PredefinedMetricSpecification")
        .filter(|m| m.is_object());
    let custom = config
        .get("CustomizedMetricSpecification")
        .filter(|m| m.is_object());
    match (predefined, custom) {
        (Some(p), None) => {
            let t = required_str(p, "PredefinedMetricType")?;
            if t != "SageMakerVariantInvocationsPerInstance" {
                return Err(validation(format!(
                    "PredefinedMetricType `{t}` is not valid for SageMaker variants."
                )));
            }
        }
        (None, Some(c)) => {
            if c.get("Metrics").is_none() {
                required_str(c, "MetricName")?;
                required_str(c, "Namespace")?;
                required_str(c, "Statistic")?;
            }
        }
        _ => {
            return Err(validation(
                "Exactly one of PredefinedMetricSpecification and CustomizedMetricSpecification must be given.",
            ));
        }
    }
    for field in ["ScaleInCooldown", "ScaleOutCooldown"] {
        if let Some(v) = config.get(field)
            && !v.as_i64().is_some_and(|n| (0..=31_536_000).contains(&n))
        {
            return Err(validation(format!(
                "{field} must be between 0 and 31536000 seconds."
            )));
        }
    }
    Ok(())
}

fn check_step(config: &Value) -> Result<(), ApiError> {
    let adjustment = required_str(config, "AdjustmentType")?;
    if ![
        "ChangeInCapacity",
        "ExactCapacity",
        "PercentChangeInCapacity",
    ]
    .contains(&adjustment)
    {
        return Err(validation(format!(
            "AdjustmentType `{adjustment}` is not valid."
        )));
    }
    let steps = config
        .get("StepAdjustments")
        .and_then(Value::as_array)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| validation("StepAdjustments must list at least one step."))?;
    for s in steps {
        if s.get("ScalingAdjustment").and_then(Value::as_i64).is_none() {
            return Err(validation(
                "Every step needs a whole-number ScalingAdjustment.",
            ));
        }
    }
    let intervals: Vec<Interval> = steps.iter().map(Interval::of).collect();
    check_intervals(&intervals)
}

/// A step's bounds on the breach (metric minus threshold); `None` is -inf below, +inf above.
#[derive(Debug, Clone, Copy)]
struct Interval {
    lower: Option<f64>,
    upper: Option<f64>,
}

impl Interval {
    fn of(step: &Value) -> Interval {
        Interval {
            lower: step["MetricIntervalLowerBound"].as_f64(),
            upper: step["MetricIntervalUpperBound"].as_f64(),
        }
    }
}

/// The rules on step intervals (Application Auto Scaling API reference, StepAdjustment): a
/// bound on every step, lower below upper, at most one open end each way (and one when a
/// bound lies beyond the threshold on that side), no overlaps, no gaps. Worded as Auto
/// Scaling's ValidationException words them.
fn check_intervals(intervals: &[Interval]) -> Result<(), ApiError> {
    for i in intervals {
        match (i.lower, i.upper) {
            (None, None) => {
                return Err(validation(
                    "Both lower and upper bounds of a StepAdjustment can not be left unspecified.",
                ));
            }
            (Some(l), Some(u)) if l >= u => {
                return Err(validation(format!(
                    "LowerBound must be less than the UpperBound for StepAdjustment: [MetricIntervalLowerBound: {l}, MetricIntervalUpperBound: {u}]."
                )));
            }
            _ => {}
        }
    }
    check_open_ends(intervals)?;
    let mut sorted = intervals.to_vec();
    sorted.sort_by(|a, b| {
        let key = |i: &Interval| i.lower.unwrap_or(f64::NEG_INFINITY);
        key(a).total_cmp(&key(b))
    });
    for pair in sorted.windows(2) {
        let upper = pair[0].upper.unwrap_or(f64::INFINITY);
        let lower = pair[1].lower.unwrap_or(f64::NEG_INFINITY);
        if upper > lower {
            return Err(validation("StepAdjustment intervals can not overlap."));
        }
        if upper < lower {
            return Err(validation(
                "StepAdjustment intervals can not have gaps between them.",
            ));
        }
    }
    Ok(())
}

fn check_open_ends(intervals: &[Interval]) -> Result<(), ApiError> {
    let open_lower = intervals.iter().filter(|i| i.lower.is_none()).count();
    let open_upper = intervals.iter().filter(|i| i.upper.is_none()).count();
    if open_lower > 1 {
        return Err(validation(
            "At most one StepAdjustment may have an unspecified lower bound.",
        ));
    }
    if open_upper > 1 {
        return Err(validation(
            "At most one StepAdjustment may have an unspecified upper bound.",
        ));
    }
    if open_upper == 0 && intervals.iter().any(|i| i.upper.is_some_and(|u| u > 0.0)) {
        return Err(validation(
            "There must be a StepAdjustment with an unspecified upper bound (i.e., upper bound is null) when one StepAdjustment has a positive upper bound.",
        ));
    }
    if open_lower == 0 && intervals.iter().any(|i| i.lower.is_some_and(|l| l < 0.0)) {
        return Err(validation(
            "There must be a StepAdjustment with an unspecified lower bound (i.e., lower bound is null) when one StepAdjustment has a negative lower bound.",
        ));
    }
    Ok(())
}

/// `NextToken` is the offset into the list, as in the SageMaker handler.
fn paged(key: &str, items: Vec<Value>, input: &Value) -> Value {
    let (items, next) = crate::sagemaker::api::page(items, input, 50);
    let mut out = json!({ key: items });
    if let Some(t) = next {
        out["NextToken"] = json!(t);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_ids_name_an_endpoint_and_a_variant() {
        assert_eq!(
            parse_resource_id("endpoint/flan/variant/AllTraffic"),
            Some(("flan", "AllTraffic"))
        );
        for bad in [
            "endpoint/flan",
            "flan/variant/AllTraffic",
            "endpoint//variant/x",
            "endpoint/a/variant/b/c",
        ] {
            assert_eq!(parse_resource_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn policies_are_checked_as_aws_checks_them() {
        let ok = json!({ "TargetValue": 5.0, "CustomizedMetricSpecification": {
            "MetricName": "ApproximateBacklogSizePerInstance", "Namespace": "AWS/SageMaker",
            "Statistic": "Average" }, "ScaleInCooldown": 600, "ScaleOutCooldown": 100 });
        assert!(check_target_tracking(&ok).is_ok());
        let mut zero = ok.clone();
        zero["TargetValue"] = json!(0.0);
        assert!(
            check_target_tracking(&zero)
                .unwrap_err()
                .message
                .contains("greater than 0")
        );
        assert!(check_step(&json!({ "AdjustmentType": "ChangeInCapacity" })).is_err());
        assert!(
            check_step(&json!({ "AdjustmentType": "ChangeInCapacity",
            "StepAdjustments": [{ "MetricIntervalLowerBound": 0, "ScalingAdjustment": 1 }] }))
            .is_ok()
        );
    }

    #[test]
    fn step_intervals_must_be_bounded_contiguous_and_disjoint() {
        let check = |steps: Value| {
            check_step(&json!({ "AdjustmentType": "ChangeInCapacity", "StepAdjustments": steps }))
                .map_err(|e| e.message)
        };
        let step = |l: Option<f64>, u: Option<f64>| json!({ "MetricIntervalLowerBound": l, "MetricIntervalUpperBound": u, "ScalingAdjustment": 1 });
        assert!(
            check(json!([{ "ScalingAdjustment": 1 }]))
                .unwrap_err()
                .contains("can not be left unspecified")
        );
        assert!(
            check(json!([step(Some(0.0), Some(10.0)), step(Some(5.0), None)]))
                .unwrap_err()
                .contains("can not overlap")
        );
        assert!(
            check(json!([step(Some(0.0), Some(10.0)), step(Some(20.0), None)]))
                .unwrap_err()
                .contains("gaps")
        );
        assert!(
            check(json!([step(Some(0.0), None), step(Some(10.0), None)]))
                .unwrap_err()
                .contains("At most one")
        );
        assert!(
            check(json!([step(Some(5.0), Some(1.0))]))
                .unwrap_err()
                .contains("less than the UpperBound")
        );
        assert!(
            check(json!([step(Some(0.0), Some(10.0))]))
                .unwrap_err()
                .contains("unspecified upper bound")
        );
        assert!(
            check(json!([step(Some(-5.0), Some(0.0))]))
                .unwrap_err()
                .contains("unspecified lower bound")
        );
        assert!(
            check(json!([
                step(None, Some(0.0)),
                step(Some(0.0), Some(10.0)),
                step(Some(10.0), None)
            ]))
            .is_ok()
        );
    }
}
