//! What the user asks for when they autoscale an endpoint, the seed preset, and the checks
//! that refuse settings that cannot work and warn about ones that likely will not.

use serde::{Deserialize, Serialize};

use crate::deploy::endpoints::EndpointSummary;

/// The seed's target-tracking policy name (WORKFLOW.md part 3).
pub const TRACKING_POLICY: &str = "Invocations-ScalingPolicy";
/// The scale-from-zero step policy, as AWS's async-inference guide names it.
pub const WAKE_POLICY: &str = "HasBacklogWithoutCapacity-ScalingPolicy";
/// The metric target tracking follows.
pub const TRACKED_METRIC: &str = "ApproximateBacklogSizePerInstance";
/// The metric the scale-from-zero alarm watches.
pub const WAKE_METRIC: &str = "HasBacklogWithoutCapacity";
pub const NAMESPACE: &str = "AWS/SageMaker";
/// The longest cooldown Application Auto Scaling accepts (one year).
const MAX_COOLDOWN: i32 = 31_536_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ScalingSpec {
    pub endpoint: String,
    pub variant: String,
    pub min: i32,
    pub max: i32,
    /// Target backlog per instance.
    pub target: f64,
    /// Seconds.
    pub scale_in_cooldown: i32,
    pub scale_out_cooldown: i32,
    /// A step policy (+1 instance) on a HasBacklogWithoutCapacity alarm, so that requests
    /// arriving at an endpoint sitting at zero wake it. Used only when `min` is 0.
    pub scale_from_zero: bool,
}

impl ScalingSpec {
    /// WORKFLOW.md part 3: min 0, max 5, target 5.0, cooldowns in 600 / out 100, plus the
    /// scale-from-zero policy that recipe lacks.
    pub fn seed(endpoint: &str) -> ScalingSpec {
        ScalingSpec {
            endpoint: endpoint.to_string(),
            variant: "AllTraffic".into(),
            min: 0,
            max: 5,
            target: 5.0,
            scale_in_cooldown: 600,
            scale_out_cooldown: 100,
            scale_from_zero: true,
        }
    }

    pub fn resource_id(&self) -> String {
        super::resource_id(&self.endpoint, &self.variant)
    }

    /// The alarm that wakes the endpoint from zero.
    pub fn wake_alarm(&self) -> String {
        format!("{}-{WAKE_METRIC}", self.endpoint)
    }

    /// Whether the scale-from-zero policy and alarm are part of this spec.
    pub fn wakes_from_zero(&self) -> bool {
        self.scale_from_zero && self.min == 0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
// One TypeScript name per type: the scan's problems have a `Severity` too.
#[cfg_attr(feature = "specta", specta(rename = "FindingSeverity"))]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Cannot work: nothing is applied while one is present.
    Error,
    /// Works, but likely not as meant.
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Finding {
    /// The form field it is about (`min`, `max`, `target`, …), or `policy` for one in place.
    pub field: String,
    pub severity: Severity,
    pub message: String,
}

fn finding(field: &str, severity: Severity, message: impl Into<String>) -> Finding {
    Finding {
        field: field.into(),
        severity,
        message: message.into(),
    }
}

/// Every problem with `spec` for `endpoint` (as described now), errors first.
pub fn check(spec: &ScalingSpec, endpoint: &EndpointSummary) -> Vec<Finding> {
    let mut out = check_values(spec);
    out.extend(check_against(spec, endpoint));
    out.sort_by_key(|f| f.severity != Severity::Error);
    out
}

/// Problems with the values alone, found before any call to AWS.
pub fn check_values(spec: &ScalingSpec) -> Vec<Finding> {
    use Severity::Error;
    let mut out = Vec::new();
    if spec.min < 0 {
        out.push(finding(
            "min",
            Error,
            "Minimum instances cannot be negative.",
        ));
    }
    if spec.max < 1 {
        out.push(finding(
            "max",
            Error,
            "Maximum instances must be at least 1, or the endpoint can never serve a request.",
        ));
    }
    if spec.min > spec.max {
        out.push(finding(
            "max",
            Error,
            format!(
                "Maximum instances ({}) cannot be below minimum instances ({}).",
                spec.max, spec.min
            ),
        ));
    }
    if !(spec.target.is_finite() && spec.target > 0.0) {
        out.push(finding(
            "target",
            Error,
            "The target backlog per instance must be a number greater than 0.",
        ));
    }
    for (field, value) in [
        ("scale_in_cooldown", spec.scale_in_cooldown),
        ("scale_out_cooldown", spec.scale_out_cooldown),
    ] {
        if !(0..=MAX_COOLDOWN).contains(&value) {
            out.push(finding(
                field,
                Error,
                format!("Cooldowns are between 0 and {MAX_COOLDOWN} seconds, not {value}."),
            ));
        }
    }
    out
}

/// Problems with the values for this endpoint as it is now.
fn check_against(spec: &ScalingSpec, endpoint: &EndpointSummary) -> Vec<Finding> {
    use Severity::{Error, Warning};
    let mut out = Vec::new();
    if spec.min == 0 && !endpoint.is_async {
        out.push(finding(
            "min",
            Error,
            format!(
                "{} is a real-time endpoint: only asynchronous endpoints can scale to zero. Set minimum instances to 1 or more.",
                endpoint.name
            ),
        ));
    }
    if endpoint.status != "InService" {
        out.push(finding(
            "endpoint",
            Error,
            format!(
                "{} is {}; autoscaling can be set once it is InService.",
                endpoint.name, endpoint.status
            ),
        ));
    }
    let current = i64::from(endpoint.desired_instances);
    if spec.max >= 1 && current > i64::from(spec.max) {
        out.push(finding(
            "max",
            Warning,
            format!(
                "The endpoint has {current} instances now, above the maximum of {}: it will be scaled in to {} at once.",
                spec.max, spec.max
            ),
        ));
    }
    if spec.min == 0 && endpoint.is_async && !spec.scale_from_zero {
        out.push(finding(
            "scale_from_zero",
            Warning,
            "Without scale from zero, an endpoint that reaches 0 instances stays there: target tracking alone never wakes it, and requests wait until their TTL runs out.",
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(is_async: bool, desired: u32) -> EndpointSummary {
        EndpointSummary {
            name: "flan".into(),
            status: "InService".into(),
            failure_reason: None,
            config_name: "flan".into(),
            instance_type: Some("ml.g5.12xlarge".into()),
            current_instances: desired,
            desired_instances: desired,
            is_async,
            output_path: None,
            failure_path: None,
            age_s: 0,
            usd_per_hour: None,
            price_source: None,
            created_by_ebb: true,
        }
    }

    fn fields(findings: &[Finding], severity: Severity) -> Vec<&str> {
        findings
            .iter()
            .filter(|f| f.severity == severity)
            .map(|f| f.field.as_str())
            .collect()
    }

    #[test]
    fn the_seed_preset_is_the_articles_part_three_and_passes() {
        let seed = ScalingSpec::seed("flan");
        assert_eq!(
            (
                seed.min,
                seed.max,
                seed.target,
                seed.scale_in_cooldown,
                seed.scale_out_cooldown
            ),
            (0, 5, 5.0, 600, 100)
        );
        assert_eq!(seed.resource_id(), "endpoint/flan/variant/AllTraffic");
        assert!(check(&seed, &endpoint(true, 1)).is_empty());
    }

    #[test]
    fn settings_that_cannot_work_are_refused_and_doubtful_ones_warned() {
        let mut bad = ScalingSpec::seed("flan");
        bad.min = 3;
        bad.max = 2;
        bad.target = 0.0;
        bad.scale_in_cooldown = -1;
        let found = check(&bad, &endpoint(true, 1));
        assert_eq!(
            fields(&found, Severity::Error),
            ["max", "target", "scale_in_cooldown"]
        );
        // Zero is for async endpoints only.
        let seed = ScalingSpec::seed("flan");
        let found = check(&seed, &endpoint(false, 1));
        assert_eq!(fields(&found, Severity::Error), ["min"]);
        assert!(found[0].message.contains("real-time endpoint"));
        // Max below what runs now, and min 0 without a way back up.
        let mut risky = ScalingSpec::seed("flan");
        risky.max = 2;
        risky.scale_from_zero = false;
        let found = check(&risky, &endpoint(true, 4));
        assert_eq!(
            fields(&found, Severity::Warning),
            ["max", "scale_from_zero"]
        );
        assert!(found[0].message.contains("4 instances now"), "{found:?}");
    }
}
