//! Fault injection for tests: per service (and optionally operation), a share of requests
//! fails or is throttled, and every matching request can be slowed down. Faults after
//! acceptance (`lost`, `error-after`) let the request take effect, then lose or spoil its
//! answer, so a client's retry really does the work twice.

use std::sync::RwLock;
use std::time::Duration;

/// One rule. `service` is `s3`, `sagemaker`, `runtime`, `sts`, `cloudwatch`,
/// `autoscaling` or `*`; `operation` (e.g. `InvokeEndpointAsync`, or an HTTP method for S3)
/// narrows it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Fault {
    pub service: String,
    pub operation: Option<String>,
    /// Share of requests answered with a server error, 0.0..=1.0.
    pub error_rate: f64,
    /// Share of requests answered with a throttling error, 0.0..=1.0.
    pub throttle_rate: f64,
    pub latency: Duration,
    /// Every matching request is refused with this AWS error code (e.g. AccessDeniedException).
    pub code: Option<String>,
    /// Share of requests served, whose answer is then dropped (the connection closes).
    pub lost_rate: f64,
    /// Share of requests served, then answered with a server error (HTTP 500).
    pub error_after_rate: f64,
}

/// What to do with the answer of a request that was served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Close the connection without answering.
    Lost,
    /// Answer a server error instead.
    Error,
}

/// What to do with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Injected {
    Error,
    Throttle,
    /// An AWS error of this code.
    Code(String),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("fault `{spec}`: {reason}")]
pub struct FaultParseError {
    spec: String,
    reason: String,
}

impl Fault {
    /// Parses `SERVICE[:OPERATION]=error:RATE,throttle:RATE,lost:RATE,error-after:RATE,`
    /// `latency:MS,code:NAME` (any subset); rates are shares between 0 and 1.
    ///
    /// # Errors
    /// [`FaultParseError`] naming the first part that is not understood.
    pub fn parse(spec: &str) -> Result<Fault, FaultParseError> {
        let bad = |reason: &str| FaultParseError {
            spec: spec.to_string(),
            reason: reason.to_string(),
        };
        let (target, settings) = spec.split_once('=').ok_or_else(|| {
            bad("expected SERVICE[:OPERATION]=error:RATE,throttle:RATE,lost:RATE,error-after:RATE,latency:MS,code:NAME")
        })?;
        let (service, operation) = match target.split_once(':') {
            Some((s, op)) => (s, Some(op.to_string())),
            None => (target, None),
        };
        const SERVICES: &[&str] = &[
            "s3",
            "sagemaker",
            "runtime",
            "sts",
            "cloudwatch",
            "autoscaling",
            "*",
        ];
        if !SERVICES.contains(&service) {
            return Err(bad(&format!(
                "unknown service `{service}`; use one of {}",
                SERVICES.join(", ")
            )));
        }
        let mut fault = Fault {
            service: service.to_string(),
            operation,
            ..Fault::default()
        };
        for part in settings.split(',').filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once(':')
                .ok_or_else(|| bad(&format!("`{part}` should be KEY:VALUE")))?;
            let rate = || {
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|r| (0.0..=1.0).contains(r))
                    .ok_or_else(|| {
                        bad(&format!(
                            "{key} must be a rate between 0 and 1, not `{value}`"
                        ))
                    })
            };
            match key {
                "error" => fault.error_rate = rate()?,
                "throttle" => fault.throttle_rate = rate()?,
                "lost" => fault.lost_rate = rate()?,
                "error-after" => fault.error_after_rate = rate()?,
                "code" if !value.is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric()) => {
                    fault.code = Some(value.to_string());
                }
                "code" => return Err(bad(&format!("`{value}` is not an AWS error code"))),
                "latency" => {
                    fault.latency = Duration::from_millis(value.parse().map_err(|_| {
                        bad(&format!("latency must be milliseconds, not `{value}`"))
                    })?)
                }
                other => {
                    return Err(bad(&format!(
                        "unknown setting `{other}`; use error, throttle, lost, error-after, latency or code"
                    )));
                }
            }
        }
        Ok(fault)
    }

    fn matches(&self, service: &str, operation: &str) -> bool {
        (self.service == "*" || self.service == service)
            && self
                .operation
                .as_deref()
                .is_none_or(|op| op.eq_ignore_ascii_case(operation))
    }
}

#[derive(Debug, Default)]
pub struct Faults {
    rules: RwLock<Vec<Fault>>,
}

impl Faults {
    pub fn set(&self, rules: Vec<Fault>) {
        if let Ok(mut r) = self.rules.write() {
            *r = rules;
        }
    }

    /// Sleeps for any configured latency, then decides whether this request fails.
    pub async fn apply(&self, service: &str, operation: &str) -> Option<Injected> {
        let matching: Vec<Fault> = self
            .rules
            .read()
            .map(|r| {
                r.iter()
                    .filter(|f| f.matches(service, operation))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        if matching.is_empty() {
            return None;
        }
        let latency: Duration = matching.iter().map(|f| f.latency).sum();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        use rand::Rng;
        let mut rng = rand::rng();
        for f in &matching {
            if let Some(code) = &f.code {
                return Some(Injected::Code(code.clone()));
            }
            if f.throttle_rate > 0.0 && rng.random_bool(f.throttle_rate) {
                return Some(Injected::Throttle);
            }
            if f.error_rate > 0.0 && rng.random_bool(f.error_rate) {
                return Some(Injected::Error);
            }
        }
        None
    }

    /// For a request that was served: whether its answer is lost or replaced by an error.
    pub fn after(&self, service: &str, operation: &str) -> Option<After> {
        use rand::Rng;
        let rules = self.rules.read().ok()?;
        let mut rng = rand::rng();
        rules
            .iter()
            .filter(|f| f.matches(service, operation))
            .find_map(|f| {
                if f.lost_rate > 0.0 && rng.random_bool(f.lost_rate) {
                    Some(After::Lost)
                } else if f.error_after_rate > 0.0 && rng.random_bool(f.error_after_rate) {
                    Some(After::Error)
                } else {
                    None
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs_and_names_mistakes() {
        let f = Fault::parse("runtime:InvokeEndpointAsync=throttle:0.5,latency:20").unwrap();
        assert_eq!(f.service, "runtime");
        assert_eq!(f.operation.as_deref(), Some("InvokeEndpointAsync"));
        assert_eq!(f.throttle_rate, 0.5);
        assert_eq!(f.latency, Duration::from_millis(20));
        assert!(f.matches("runtime", "invokeendpointasync"));
        assert!(!f.matches("runtime", "InvokeEndpoint"));
        let e = Fault::parse("s4=error:0.1").unwrap_err().to_string();
        assert!(e.contains("unknown service `s4`"), "{e}");
        let e = Fault::parse("s3=error:2").unwrap_err().to_string();
        assert!(e.contains("between 0 and 1"), "{e}");
        let f = Fault::parse("sagemaker:ListEndpoints=code:AccessDeniedException").unwrap();
        assert_eq!(f.code.as_deref(), Some("AccessDeniedException"));
        assert!(Fault::parse("s3=code:a b").is_err());
        let f = Fault::parse("runtime:InvokeEndpointAsync=lost:0.05,error-after:0.1").unwrap();
        assert_eq!((f.lost_rate, f.error_after_rate), (0.05, 0.1));
    }

    #[tokio::test]
    async fn certain_faults_always_fire() {
        let faults = Faults::default();
        faults.set(vec![Fault::parse("sagemaker=error:1").unwrap()]);
        assert_eq!(
            faults.apply("sagemaker", "ListEndpoints").await,
            Some(Injected::Error)
        );
        assert_eq!(faults.apply("s3", "GET").await, None);
        faults.set(vec![Fault::parse("runtime=lost:1").unwrap()]);
        assert_eq!(faults.apply("runtime", "InvokeEndpointAsync").await, None);
        assert_eq!(
            faults.after("runtime", "InvokeEndpointAsync"),
            Some(After::Lost)
        );
    }
}
