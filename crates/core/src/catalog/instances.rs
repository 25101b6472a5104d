//! GPU instance types for LLM endpoints: GPUs per instance (the `SM_NUM_GPUS` default) and an
//! hourly price estimate (SageMaker real-time/async inference, us-east-1, on demand). Prices are
//! estimates for planning, not a bill: AWS changes them and they differ per region.

#[derive(Debug, Clone, PartialEq)]
pub struct InstanceInfo {
    pub name: &'static str,
    pub gpus: u32,
    pub gpu: &'static str,
    /// Estimated USD per instance-hour.
    pub usd_per_hour: f64,
}

const fn i(name: &'static str, gpus: u32, gpu: &'static str, usd_per_hour: f64) -> InstanceInfo {
    InstanceInfo {
        name,
        gpus,
        gpu,
        usd_per_hour,
    }
}

pub const INSTANCES: &[InstanceInfo] = &[
    i("ml.g4dn.xlarge", 1, "T4", 0.736),
    i("ml.g4dn.2xlarge", 1, "T4", 0.94),
    i("ml.g4dn.12xlarge", 4, "T4", 4.89),
    i("ml.g5.xlarge", 1, "A10G", 1.41),
    i("ml.g5.2xlarge", 1, "A10G", 1.515),
    i("ml.g5.4xlarge", 1, "A10G", 2.03),
    i("ml.g5.12xlarge", 4, "A10G", 7.09),
    i("ml.g5.24xlarge", 4, "A10G", 10.18),
    i("ml.g5.48xlarge", 8, "A10G", 20.36),
    i("ml.g6.xlarge", 1, "L4", 1.01),
    i("ml.g6.12xlarge", 4, "L4", 5.28),
    i("ml.g6.48xlarge", 8, "L4", 16.6),
    i("ml.p3.2xlarge", 1, "V100", 3.825),
    i("ml.p4d.24xlarge", 8, "A100", 37.69),
];

pub fn find(name: &str) -> Option<&'static InstanceInfo> {
    INSTANCES.iter().find(|i| i.name == name)
}

/// `ml.<family>.<size>`, the shape SageMaker accepts.
pub fn valid_shape(name: &str) -> bool {
    let mut parts = name.split('.');
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some("ml"), Some(family), Some(size), None)
            if !family.is_empty()
                && family.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !size.is_empty()
                && size.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_instance_has_four_gpus_and_shapes_are_checked() {
        assert_eq!(find("ml.g5.12xlarge").map(|i| i.gpus), Some(4));
        assert!(valid_shape("ml.g5.12xlarge"));
        assert!(valid_shape("ml.inf2.xlarge"));
        assert!(!valid_shape("g5.12xlarge"));
        assert!(!valid_shape("ml.g5"));
        assert!(!valid_shape("ml.G5.12xlarge"));
    }
}
