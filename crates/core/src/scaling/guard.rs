//! The cost guard: async endpoints paying for instances while nothing waits, with nothing in
//! place to take them to zero. Idle means no backlog in any minute of the last scale-in
//! cooldown (10 minutes when there is no autoscaling).

use serde::Serialize;

use crate::deploy::endpoints::EndpointSummary;
use crate::metrics::Series;

/// Idle time after which an endpoint without autoscaling is flagged.
pub const DEFAULT_IDLE_S: i32 = 600;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct IdleEndpoint {
    pub endpoint: String,
    pub instances: u32,
    pub usd_per_hour: Option<f64>,
    /// Minutes without a request.
    pub idle_minutes: u32,
    /// The warning, in one sentence.
    pub message: String,
}

/// Whether `backlog` (ApproximateBacklogSize, oldest first) shows no request since
/// `end_ms - window_s`, with data reaching back that far.
pub fn idle_since(backlog: &Series, end_ms: f64, window_s: i32) -> bool {
    let since = end_ms - f64::from(window_s) * 1000.0;
    let covered = backlog.times_ms.first().is_some_and(|t| *t <= since);
    covered
        && backlog
            .times_ms
            .iter()
            .zip(&backlog.values)
            .filter(|(t, _)| **t >= since)
            .all(|(_, v)| *v <= 0.0)
}

/// The warning for an idle endpoint given its scaling bounds, or None when autoscaling will
/// take it to zero by itself (or it has no instances).
pub fn warn(
    e: &EndpointSummary,
    bounds: Option<(i32, i32)>,
    window_s: i32,
) -> Option<IdleEndpoint> {
    if e.current_instances == 0 {
        return None;
    }
    let cost = e
        .usd_per_hour
        .map(|c| format!(" (about ${c:.2} an hour)"))
        .unwrap_or_default();
    let minutes = (window_s / 60).max(1) as u32;
    let why = match bounds {
        None => "and no autoscaling to take it to zero".to_string(),
        Some((min, _)) if min > 0 => {
            format!("but its minimum is {min}, so it never scales to zero")
        }
        Some(_) => return None,
    };
    Some(IdleEndpoint {
        endpoint: e.name.clone(),
        instances: e.current_instances,
        usd_per_hour: e.usd_per_hour,
        idle_minutes: minutes,
        message: format!(
            "{} has {} instance(s){cost} and no request for {minutes} minutes, {why}.",
            e.name, e.current_instances
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backlog(values: &[f64]) -> Series {
        // One point a minute, the newest at 60 minutes.
        let n = values.len();
        Series {
            name: "ApproximateBacklogSize".into(),
            statistic: "Maximum".into(),
            meaning: String::new(),
            times_ms: (0..n)
                .map(|i| 3_600_000.0 - (n - 1 - i) as f64 * 60_000.0)
                .collect(),
            values: values.to_vec(),
        }
    }

    fn endpoint(instances: u32) -> EndpointSummary {
        EndpointSummary {
            name: "flan".into(),
            status: "InService".into(),
            failure_reason: None,
            config_name: "flan".into(),
            instance_type: Some("ml.g5.12xlarge".into()),
            current_instances: instances,
            desired_instances: instances,
            is_async: true,
            output_path: None,
            failure_path: None,
            age_s: 0,
            usd_per_hour: Some(7.09 * f64::from(instances)),
            price_source: None,
            created_by_ebb: true,
        }
    }

    #[test]
    fn idle_needs_ten_quiet_minutes_of_data() {
        assert!(idle_since(&backlog(&[0.0; 12]), 3_600_000.0, 600));
        let mut busy = vec![0.0; 12];
        busy[11] = 3.0;
        assert!(!idle_since(&backlog(&busy), 3_600_000.0, 600));
        // Five minutes of data cannot show ten idle ones.
        assert!(!idle_since(&backlog(&[0.0; 5]), 3_600_000.0, 600));
    }

    #[test]
    fn only_endpoints_nothing_will_take_to_zero_are_flagged() {
        let w = warn(&endpoint(2), None, 600).unwrap();
        assert!(w.message.contains("no autoscaling"), "{}", w.message);
        assert!(w.message.contains("$14.18 an hour"), "{}", w.message);
        let w = warn(&endpoint(1), Some((1, 5)), 600).unwrap();
        assert!(w.message.contains("minimum is 1"), "{}", w.message);
        assert_eq!(warn(&endpoint(1), Some((0, 5)), 600), None);
        assert_eq!(warn(&endpoint(0), None, 600), None);
    }
}
