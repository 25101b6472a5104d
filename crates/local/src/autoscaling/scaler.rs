//! Scaling policies acting, as Application Auto Scaling does when CloudWatch invokes them:
//! target tracking sets capacity to `ceil(current * metric / target)` (so it never wakes a
//! variant at zero), within ScaleOutCooldown / ScaleInCooldown; step scaling applies the step
//! its alarm's breach falls in, once per Cooldown. Every change is a scaling activity that
//! says what and why, and completes when the endpoint has applied it.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{AutoScaling, DIMENSION, NAMESPACE, parse_resource_id};
use crate::cloudwatch::evaluate::Fired;
use crate::sagemaker::capacity::Capacity;

/// SageMaker's default cooldown, in seconds, where a policy sets none.
const DEFAULT_COOLDOWN: f64 = 300.0;
/// Activities kept (oldest dropped first).
const MAX_ACTIVITIES: usize = 1000;

/// When each policy last scaled (simulated instants), by policy ARN.
#[derive(Debug, Default)]
pub(super) struct Cooldowns {
    scale_out: HashMap<String, f64>,
    scale_in: HashMap<String, f64>,
}

impl Cooldowns {
    fn cooling(map: &HashMap<String, f64>, arn: &str, seconds: f64, now: f64) -> bool {
        map.get(arn).is_some_and(|at| now < at + seconds)
    }
}

fn seconds(config: &Value, field: &str) -> f64 {
    config[field].as_f64().unwrap_or(DEFAULT_COOLDOWN)
}

/// Target tracking's new capacity for an alarm of its own, if it changes anything.
fn track(
    config: &Value,
    fired: &Fired,
    current: i64,
    cooldowns: &Cooldowns,
    arn: &str,
    now: f64,
) -> Option<i64> {
    let target = config["TargetValue"].as_f64().filter(|t| *t > 0.0)?;
    let value = fired.value?;
    let wanted = (current as f64 * value / target).ceil() as i64;
    if fired.alarm.contains("-AlarmHigh-") {
        let cooling = Cooldowns::cooling(
            &cooldowns.scale_out,
            arn,
            seconds(config, "ScaleOutCooldown"),
            now,
        );
        (wanted > current && !cooling).then_some(wanted)
    } else {
        let cooling = Cooldowns::cooling(
            &cooldowns.scale_in,
            arn,
            seconds(config, "ScaleInCooldown"),
            now,
        );
        let disabled = config["DisableScaleIn"].as_bool().unwrap_or(false);
        (wanted < current && !cooling && !disabled).then_some(wanted)
    }
}

/// The step whose bounds hold `diff` (value minus threshold): lower bound inclusive above the
/// threshold, upper bound inclusive below it, as Application Auto Scaling reads them.
fn step_for(steps: &[Value], diff: f64) -> Option<i64> {
    steps
        .iter()
        .find(|s| {
            let lower = s["MetricIntervalLowerBound"].as_f64();
            let upper = s["MetricIntervalUpperBound"].as_f64();
            if diff >= 0.0 {
                lower.is_none_or(|l| diff >= l) && upper.is_none_or(|u| diff < u)
            } else {
                lower.is_none_or(|l| diff > l) && upper.is_none_or(|u| diff <= u)
            }
        })
        .and_then(|s| s["ScalingAdjustment"].as_i64())
}

/// Step scaling's new capacity, if the alarm's breach falls in a step and the policy is not
/// cooling down.
fn step(
    config: &Value,
    fired: &Fired,
    current: i64,
    cooldowns: &Cooldowns,
    arn: &str,
    now: f64,
) -> Option<i64> {
    let cooldown = seconds(config, "Cooldown");
    if Cooldowns::cooling(&cooldowns.scale_out, arn, cooldown, now)
        || Cooldowns::cooling(&cooldowns.scale_in, arn, cooldown, now)
    {
        return None;
    }
    let steps = config["StepAdjustments"].as_array()?;
    let adjustment = step_for(steps, fired.value? - fired.threshold)?;
    let new = match config["AdjustmentType"].as_str()? {
        "ExactCapacity" => adjustment,
        "PercentChangeInCapacity" => {
            let mut delta = (current as f64 * adjustment as f64 / 100.0).trunc() as i64;
            if delta == 0 {
                delta = adjustment.signum();
            }
            let least = config["MinAdjustmentMagnitude"].as_i64().unwrap_or(0);
            if delta.abs() < least {
                delta = delta.signum() * least;
            }
            current + delta
        }
        _ => current + adjustment,
    };
    (new != current).then_some(new)
}

/// Why a step policy's alarm changed nothing: its breach (value minus threshold) lies in
/// none of the policy's steps. Worded as Application Auto Scaling reports it.
fn no_step(config: &Value, fired: &Fired) -> Option<String> {
    let value = fired.value?;
    let steps = config["StepAdjustments"].as_array()?;
    step_for(steps, value - fired.threshold).is_none().then(|| {
        format!(
            "No step adjustment found for metric value [{value}] and breach threshold [{}]",
            fired.threshold
        )
    })
}

fn cause(fired: &Fired, policy: &Value) -> String {
    format!(
        "monitor alarm {} in state ALARM triggered policy {}",
        fired.alarm,
        policy["PolicyName"].as_str().unwrap_or_default()
    )
}

fn activity(id: &str, to: i64, cause: String, now: f64) -> Value {
    json!({
        "ActivityId": crate::runtime::new_id(),
        "ServiceNamespace": NAMESPACE,
        "ResourceId": id,
        "ScalableDimension": DIMENSION,
        "Description": format!("Setting desired instance count to {to}."),
        "Cause": cause,
        "StartTime": now,
        "StatusCode": "InProgress",
        "StatusMessage": "Waiting for the endpoint to apply the new instance count.",
        "_Desired": to,
    })
}

impl AutoScaling {
    /// Runs the policies named by alarms in ALARM at simulated instant `now`, then closes
    /// finished activities and holds every target within its bounds.
    pub fn act(&self, fired: &[Fired], now: f64) {
        for f in fired {
            for arn in &f.actions {
                self.run_policy(arn, f, now);
            }
        }
        self.settle(now);
    }

    fn run_policy(&self, arn: &str, fired: &Fired, now: f64) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let Some(policy) = state
            .policies
            .values()
            .flat_map(|p| p.values())
            .find(|p| p["PolicyARN"] == arn)
            .cloned()
        else {
            return; // Not a scaling policy of this cloud (or since deleted).
        };
        let id = policy["ResourceId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let Some(target) = state.targets.get(&id).cloned() else {
            return;
        };
        let Some((endpoint, variant)) = parse_resource_id(&id) else {
            return;
        };
        let Some(Capacity {
            desired,
            in_service: true,
            ..
        }) = self.sagemaker.capacity(endpoint, variant)
        else {
            return; // Creating or updating: the alarm invokes the policy again next period.
        };
        let current = i64::from(desired);
        if policy["PolicyType"] == "StepScaling"
            && let Some(message) = no_step(&policy["StepScalingPolicyConfiguration"], fired)
        {
            self.record_no_step(
                &mut state,
                (&id, current),
                cause(fired, &policy),
                message,
                now,
            );
            return;
        }
        let Ok(mut cooldowns) = self.cooldowns.lock() else {
            return;
        };
        let wanted = match policy["PolicyType"].as_str() {
            Some("TargetTrackingScaling") => track(
                &policy["TargetTrackingScalingPolicyConfiguration"],
                fired,
                current,
                &cooldowns,
                arn,
                now,
            ),
            Some("StepScaling") => step(
                &policy["StepScalingPolicyConfiguration"],
                fired,
                current,
                &cooldowns,
                arn,
                now,
            ),
            _ => None,
        };
        let Some(wanted) = wanted else { return };
        let (min, max) = bounds(&target);
        let new = wanted.clamp(min, max);
        let suspended = &target["SuspendedState"];
        let out = new > current;
        if new == current
            || (out && suspended["DynamicScalingOutSuspended"] == true)
            || (!out && suspended["DynamicScalingInSuspended"] == true)
        {
            return;
        }
        if out {
            cooldowns.scale_out.insert(arn.to_string(), now);
        } else {
            cooldowns.scale_in.insert(arn.to_string(), now);
        }
        drop(cooldowns);
        self.apply(&mut state, &id, new, cause(fired, &policy), now);
    }

    /// Asks SageMaker for `to` instances and records the activity.
    fn apply(&self, state: &mut super::State, id: &str, to: i64, cause: String, now: f64) {
        let Some((endpoint, variant)) = parse_resource_id(id) else {
            return;
        };
        tracing::info!(resource = %id, to, "{cause}");
        let mut record = activity(id, to, cause, now);
        let asked = self.sagemaker.handle(
            "UpdateEndpointWeightsAndCapacities",
            &json!({ "EndpointName": endpoint, "DesiredWeightsAndCapacities": [
                { "VariantName": variant, "DesiredInstanceCount": to } ] }),
        );
        if let Err(e) = asked {
            record["StatusCode"] = json!("Failed");
            record["StatusMessage"] = json!(format!(
                "Failed to set desired instance count to {to}. Reason: {}",
                e.message
            ));
            record["EndTime"] = json!(now);
        }
        self.push_activity(state, record);
    }

    /// Keeps an activity (the oldest go past [`MAX_ACTIVITIES`]) and saves.
    fn push_activity(&self, state: &mut super::State, record: Value) {
        state.activities.push(record);
        if state.activities.len() > MAX_ACTIVITIES {
            let excess = state.activities.len() - MAX_ACTIVITIES;
            state.activities.drain(..excess);
        }
        if let Err(e) = self.save(state) {
            tracing::warn!("{}", e.message);
        }
    }

    /// Records that a step policy ran and changed nothing, once while the same alarm keeps
    /// invoking it with a breach outside its steps (CloudWatch invokes it every period).
    fn record_no_step(
        &self,
        state: &mut super::State,
        (id, current): (&str, i64),
        cause: String,
        message: String,
        now: f64,
    ) {
        let last = state
            .activities
            .iter()
            .rev()
            .find(|a| a["ResourceId"] == id);
        if last.is_some_and(|a| a["Cause"] == cause.as_str() && a["StatusCode"] == "Failed") {
            return;
        }
        tracing::info!(resource = %id, "{message}");
        let mut record = activity(id, current, cause, now);
        record["Description"] = json!(format!(
            "Leaving desired instance count at {current}: the alarm's breach is in no step adjustment."
        ));
        record["StatusCode"] = json!("Failed");
        record["StatusMessage"] = json!(message);
        record["EndTime"] = json!(now);
        self.push_activity(state, record);
    }

    /// Marks activities done once their endpoint has applied them, and brings targets whose
    /// capacity is outside [min, max] back within it (as registering new bounds does on AWS).
    fn settle(&self, now: f64) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let mut changed = false;
        for a in state
            .activities
            .iter_mut()
            .filter(|a| a["StatusCode"] == "InProgress")
        {
            let id = a["ResourceId"].as_str().unwrap_or_default();
            let Some((endpoint, variant)) = parse_resource_id(id) else {
                continue;
            };
            let done = match self.sagemaker.capacity(endpoint, variant) {
                Some(c) => c.in_service && a["_Desired"].as_u64() == Some(u64::from(c.current)),
                None => true,
            };
            if done {
                let to = a["_Desired"].as_i64().unwrap_or_default();
                a["StatusCode"] = json!("Successful");
                a["StatusMessage"] = json!(format!(
                    "Successfully set desired instance count to {to}. Change successfully fulfilled by sagemaker."
                ));
                a["EndTime"] = json!(now);
                changed = true;
            }
        }
        let targets: Vec<(String, Value)> = state
            .targets
            .iter()
            .map(|(id, t)| (id.clone(), t.clone()))
            .collect();
        for (id, target) in targets {
            let Some((endpoint, variant)) = parse_resource_id(&id) else {
                continue;
            };
            let Some(c) = self.sagemaker.capacity(endpoint, variant) else {
                continue;
            };
            let (min, max) = bounds(&target);
            let desired = i64::from(c.desired);
            if !c.in_service || (min..=max).contains(&desired) {
                continue;
            }
            let (to, cause) = if desired < min {
                (min, format!("minimum capacity was set to {min}"))
            } else {
                (max, format!("maximum capacity was set to {max}"))
            };
            self.apply(&mut state, &id, to, cause, now);
            changed = false; // `apply` saved the whole state.
        }
        if changed && let Err(e) = self.save(&mut state) {
            tracing::warn!("{}", e.message);
        }
    }
}

fn bounds(target: &Value) -> (i64, i64) {
    let min = target["MinCapacity"].as_i64().unwrap_or(0);
    (min, target["MaxCapacity"].as_i64().unwrap_or(min).max(min))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fired(alarm: &str, value: f64, threshold: f64) -> Fired {
        Fired {
            alarm: alarm.into(),
            actions: Vec::new(),
            value: Some(value),
            threshold,
        }
    }

    #[test]
    fn target_tracking_is_proportional_never_wakes_zero_and_respects_cooldowns() {
        let config = json!({ "TargetValue": 5.0, "ScaleOutCooldown": 100, "ScaleInCooldown": 600 });
        let mut cd = Cooldowns::default();
        let high = fired("TargetTracking-x-AlarmHigh-1", 23.0, 5.0);
        assert_eq!(track(&config, &high, 1, &cd, "p", 0.0), Some(5));
        assert_eq!(track(&config, &high, 0, &cd, "p", 0.0), None);
        cd.scale_out.insert("p".into(), 0.0);
        assert_eq!(track(&config, &high, 2, &cd, "p", 99.0), None);
        assert_eq!(track(&config, &high, 2, &cd, "p", 100.0), Some(10));
        let low = fired("TargetTracking-x-AlarmLow-1", 0.0, 4.5);
        assert_eq!(track(&config, &low, 5, &cd, "p", 0.0), Some(0));
        cd.scale_in.insert("p".into(), 0.0);
        assert_eq!(track(&config, &low, 3, &cd, "p", 599.0), None);
        let mut no_in = config.clone();
        no_in["DisableScaleIn"] = json!(true);
        assert_eq!(track(&no_in, &low, 3, &cd, "p", 9999.0), None);
    }

    #[test]
    fn a_breach_outside_every_step_is_reported() {
        let config = json!({ "StepAdjustments": [
            { "MetricIntervalLowerBound": 0, "ScalingAdjustment": 1 } ] });
        assert_eq!(no_step(&config, &fired("a", 2.0, 1.0)), None);
        assert_eq!(
            no_step(&config, &fired("a", 0.0, 1.0)).as_deref(),
            Some("No step adjustment found for metric value [0] and breach threshold [1]")
        );
    }

    #[test]
    fn step_scaling_picks_the_step_of_the_breach() {
        let config = json!({ "AdjustmentType": "ChangeInCapacity", "Cooldown": 300, "StepAdjustments": [
            { "MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 10, "ScalingAdjustment": 1 },
            { "MetricIntervalLowerBound": 10, "ScalingAdjustment": 3 } ] });
        let mut cd = Cooldowns::default();
        assert_eq!(
            step(&config, &fired("a", 1.0, 1.0), 0, &cd, "s", 0.0),
            Some(1)
        );
        assert_eq!(
            step(&config, &fired("a", 20.0, 1.0), 2, &cd, "s", 0.0),
            Some(5)
        );
        cd.scale_out.insert("s".into(), 0.0);
        assert_eq!(
            step(&config, &fired("a", 1.0, 1.0), 1, &cd, "s", 200.0),
            None
        );
        let percent = json!({ "AdjustmentType": "PercentChangeInCapacity", "MinAdjustmentMagnitude": 2,
            "StepAdjustments": [{ "MetricIntervalLowerBound": 0, "ScalingAdjustment": 10 }] });
        assert_eq!(
            step(
                &percent,
                &fired("a", 2.0, 1.0),
                4,
                &Cooldowns::default(),
                "s",
                0.0
            ),
            Some(6)
        );
        let exact = json!({ "AdjustmentType": "ExactCapacity",
            "StepAdjustments": [{ "MetricIntervalUpperBound": 0, "ScalingAdjustment": 0 }] });
        assert_eq!(
            step(
                &exact,
                &fired("a", 0.0, 1.0),
                3,
                &Cooldowns::default(),
                "s",
                0.0
            ),
            Some(0)
        );
    }
}
