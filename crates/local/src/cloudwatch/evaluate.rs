//! Alarm evaluation, as CloudWatch does it once per period: the last `EvaluationPeriods`
//! complete periods are aggregated with the alarm's statistic; `DatapointsToAlarm` breaching
//! ones put it in ALARM; missing periods count as `TreatMissingData` says. An alarm in ALARM
//! invokes its Auto Scaling actions every period it stays there, as CloudWatch does for
//! scaling policies.

use serde_json::{Value, json};

use super::CloudWatch;
use super::metrics::MetricKey;
use crate::sagemaker::api::now_epoch;

/// An alarm in ALARM after an evaluation, and what it saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Fired {
    pub alarm: String,
    /// The ARNs in its AlarmActions.
    pub actions: Vec<String>,
    /// The newest datapoint, if any.
    pub value: Option<f64>,
    pub threshold: f64,
}

fn breaches(operator: &str, value: f64, threshold: f64) -> bool {
    match operator {
        "GreaterThanOrEqualToThreshold" => value >= threshold,
        "GreaterThanThreshold" => value > threshold,
        "LessThanThreshold" => value < threshold,
        "LessThanOrEqualToThreshold" => value <= threshold,
        _ => false,
    }
}

/// The state an alarm moves to, and why, from its datapoints (newest first).
fn judge(alarm: &Value, points: &[Option<f64>], current: &str) -> (String, String) {
    let threshold = alarm["Threshold"].as_f64().unwrap_or(0.0);
    let operator = alarm["ComparisonOperator"].as_str().unwrap_or_default();
    let needed = alarm["DatapointsToAlarm"]
        .as_u64()
        .or_else(|| alarm["EvaluationPeriods"].as_u64())
        .unwrap_or(1) as usize;
    let treat = alarm["TreatMissingData"].as_str().unwrap_or("missing");
    let present: Vec<f64> = points.iter().flatten().copied().collect();
    let missing = points.len() - present.len();
    if present.is_empty() {
        let reason = format!("No datapoints in the last {} periods", points.len());
        return match treat {
            "breaching" if missing >= needed => ("ALARM".into(), reason),
            "notBreaching" | "breaching" => ("OK".into(), reason),
            "ignore" => (current.to_string(), reason),
            _ => ("INSUFFICIENT_DATA".into(), reason),
        };
    }
    let mut breaching = present
        .iter()
        .filter(|v| breaches(operator, **v, threshold))
        .count();
    if treat == "breaching" {
        breaching += missing;
    }
    let shown: Vec<String> = present.iter().map(|v| format!("{v}")).collect();
    let relation =
        operator
            .trim_end_matches("Threshold")
            .chars()
            .fold(String::new(), |mut s, c| {
                if c.is_uppercase() && !s.is_empty() {
                    s.push(' ');
                }
                s.push(c.to_ascii_lowercase());
                s
            });
    if breaching >= needed {
        (
            "ALARM".into(),
            format!(
                "Threshold Crossed: {breaching} of the last {} datapoints [{}] were {relation} the threshold ({threshold}).",
                points.len(),
                shown.join(", ")
            ),
        )
    } else {
        (
            "OK".into(),
            format!(
                "Threshold Crossed: {breaching} of the last {} datapoints [{}] were {relation} the threshold ({threshold}); {needed} are needed to alarm.",
                points.len(),
                shown.join(", ")
            ),
        )
    }
}

impl CloudWatch {
    /// Evaluates every alarm whose period has ended since its last evaluation, at simulated
    /// instant `now`. Returns the alarms in ALARM with actions enabled.
    pub fn evaluate(&self, now: f64) -> Vec<Fired> {
        let Ok(mut alarms) = self.alarms.lock() else {
            return Vec::new();
        };
        let Ok(mut evaluated) = self.evaluated.lock() else {
            return Vec::new();
        };
        evaluated.retain(|name, _| alarms.contains_key(name));
        let mut fired = Vec::new();
        let mut changed = false;
        for (name, alarm) in alarms.iter_mut() {
            let Some(period) = alarm["Period"].as_u64().filter(|p| *p > 0) else {
                continue; // Metric math alarms are kept but not evaluated here.
            };
            let Some(statistic) = alarm["Statistic"].as_str().map(str::to_string) else {
                continue;
            };
            let period = period as f64;
            let bucket = (now / period).floor() as i64;
            if evaluated.get(name) == Some(&bucket) {
                continue;
            }
            evaluated.insert(name.clone(), bucket);
            let key = MetricKey {
                namespace: alarm["Namespace"].as_str().unwrap_or_default().to_string(),
                name: alarm["MetricName"].as_str().unwrap_or_default().to_string(),
                dimensions: super::metrics::dimensions_of(&alarm["Dimensions"]),
            };
            let end = bucket as f64 * period;
            let count = alarm["EvaluationPeriods"].as_u64().unwrap_or(1).max(1);
            let points: Vec<Option<f64>> = (0..count)
                .map(|k| {
                    let stop = end - k as f64 * period;
                    self.metrics
                        .window(&key, stop - period, stop)
                        .and_then(|s| s.stat(&statistic))
                })
                .collect();
            let current = alarm["StateValue"]
                .as_str()
                .unwrap_or("INSUFFICIENT_DATA")
                .to_string();
            let (state, reason) = judge(alarm, &points, &current);
            if state != current {
                tracing::info!(alarm = %name, from = %current, to = %state, "{reason}");
                let at = now_epoch();
                alarm["StateValue"] = json!(state);
                alarm["StateReason"] = json!(reason);
                alarm["StateUpdatedTimestamp"] = json!(at);
                alarm["StateTransitionedTimestamp"] = json!(at);
                changed = true;
            }
            if state == "ALARM" && alarm["ActionsEnabled"].as_bool().unwrap_or(true) {
                fired.push(Fired {
                    alarm: name.clone(),
                    actions: super::actions(alarm, "AlarmActions")
                        .map(str::to_string)
                        .collect(),
                    value: points.iter().flatten().next().copied(),
                    threshold: alarm["Threshold"].as_f64().unwrap_or(0.0),
                });
            }
        }
        if changed && let Err(e) = self.save(&alarms) {
            tracing::warn!("{}", e.message);
        }
        fired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alarm(operator: &str, evaluation: u64, to_alarm: u64, missing: &str) -> Value {
        json!({ "Threshold": 5.0, "ComparisonOperator": operator, "EvaluationPeriods": evaluation,
            "DatapointsToAlarm": to_alarm, "TreatMissingData": missing })
    }

    #[test]
    fn datapoints_to_alarm_and_missing_data_decide_the_state() {
        let high = alarm("GreaterThanThreshold", 3, 2, "missing");
        let state = |a: &Value, p: &[Option<f64>], current: &str| judge(a, p, current).0;
        assert_eq!(state(&high, &[Some(9.0), None, Some(7.0)], "OK"), "ALARM");
        assert_eq!(
            state(&high, &[Some(9.0), Some(1.0), Some(5.0)], "ALARM"),
            "OK"
        );
        assert_eq!(state(&high, &[None, None, None], "OK"), "INSUFFICIENT_DATA");
        let ignore = alarm("GreaterThanThreshold", 3, 2, "ignore");
        assert_eq!(state(&ignore, &[None, None, None], "ALARM"), "ALARM");
        let breaching = alarm("GreaterThanThreshold", 3, 2, "breaching");
        assert_eq!(state(&breaching, &[None, Some(6.0), None], "OK"), "ALARM");
        let low = alarm("LessThanThreshold", 2, 2, "notBreaching");
        assert_eq!(state(&low, &[None, None], "ALARM"), "OK");
        let (s, reason) = judge(&low, &[Some(1.0), Some(2.0)], "OK");
        assert_eq!(s, "ALARM");
        assert!(reason.contains("less than the threshold (5)"), "{reason}");
    }
}
