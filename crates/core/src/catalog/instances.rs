//! GPU instance types for LLM endpoints: family, accelerators per instance (the `SM_NUM_GPUS`
//! default), accelerator model and memory, whether SageMaker's Hugging Face TGI image runs there,
//! and an hourly price estimate.
//!
//! Prices are SageMaker real-time/async inference, us-east-1, on demand, from AWS's SageMaker
//! pricing page (<https://aws.amazon.com/sagemaker/pricing/>); the g6e, p4de, p5 and inf2 rows
//! and the g4dn/g5/g6 sizes beyond the first few were added in November 2026 as approximate
//! figures of that page, not re-read from it then. They are estimates for planning, not a bill: AWS changes
//! them and they differ per region, which is why the picker asks the Price List first
//! ([`crate::pricing`]) and marks these as estimates.
//!
//! Accelerator memory is in GB per accelerator, the nominal figure AWS lists for the instance
//! type (<https://aws.amazon.com/ec2/instance-types/>); the fit check's headroom
//! ([`crate::deploy::fit`]) covers the difference to what the driver makes usable.

#[derive(Debug, Clone, PartialEq)]
pub struct InstanceInfo {
    pub name: &'static str,
    /// The instance family, e.g. `g5` (the part between `ml.` and the size).
    pub family: &'static str,
    /// Accelerators per instance: GPUs, or Inferentia chips on inf2.
    pub gpus: u32,
    pub gpu: &'static str,
    /// Memory of one accelerator, GB.
    pub gpu_memory_gb: u32,
    /// Estimated USD per instance-hour.
    pub usd_per_hour: f64,
    /// Why SageMaker's Hugging Face TGI image (the one Ebb deploys) cannot run here; `None`
    /// where it can.
    pub unsupported: Option<&'static str>,
}

/// inf2 and trn1 run TGI only through the Neuron build of the image (optimum-neuron), with
/// models compiled for Neuron; Ebb deploys the CUDA image.
const NEURON: &str =
    "Inferentia needs the Neuron build of TGI (optimum-neuron), which Ebb does not deploy";

const fn i(
    name: &'static str,
    family: &'static str,
    (gpus, gpu, gpu_memory_gb): (u32, &'static str, u32),
    usd_per_hour: f64,
) -> InstanceInfo {
    InstanceInfo {
        name,
        family,
        gpus,
        gpu,
        gpu_memory_gb,
        usd_per_hour,
        unsupported: None,
    }
}

const fn neuron(name: &'static str, chips: u32, usd_per_hour: f64) -> InstanceInfo {
    InstanceInfo {
        name,
        family: "inf2",
        gpus: chips,
        gpu: "Inferentia2",
        gpu_memory_gb: 32,
        usd_per_hour,
        unsupported: Some(NEURON),
    }
}

const T4: (u32, &str, u32) = (1, "T4", 16);
const A10G: (u32, &str, u32) = (1, "A10G", 24);
const L4: (u32, &str, u32) = (1, "L4", 24);
const L40S: (u32, &str, u32) = (1, "L40S", 48);

/// `n` accelerators of `one`'s kind.
const fn x(n: u32, one: (u32, &'static str, u32)) -> (u32, &'static str, u32) {
    (n, one.1, one.2)
}

pub const INSTANCES: &[InstanceInfo] = &[
    i("ml.g4dn.xlarge", "g4dn", T4, 0.736),
    i("ml.g4dn.2xlarge", "g4dn", T4, 0.94),
    i("ml.g4dn.4xlarge", "g4dn", T4, 1.505),
    i("ml.g4dn.8xlarge", "g4dn", T4, 2.72),
    i("ml.g4dn.12xlarge", "g4dn", x(4, T4), 4.89),
    i("ml.g4dn.16xlarge", "g4dn", T4, 5.44),
    i("ml.g5.xlarge", "g5", A10G, 1.41),
    i("ml.g5.2xlarge", "g5", A10G, 1.515),
    i("ml.g5.4xlarge", "g5", A10G, 2.03),
    i("ml.g5.8xlarge", "g5", A10G, 3.06),
    i("ml.g5.12xlarge", "g5", x(4, A10G), 7.09),
    i("ml.g5.16xlarge", "g5", A10G, 4.6),
    i("ml.g5.24xlarge", "g5", x(4, A10G), 10.18),
    i("ml.g5.48xlarge", "g5", x(8, A10G), 20.36),
    i("ml.g6.xlarge", "g6", L4, 1.01),
    i("ml.g6.2xlarge", "g6", L4, 1.222),
    i("ml.g6.4xlarge", "g6", L4, 1.655),
    i("ml.g6.8xlarge", "g6", L4, 2.519),
    i("ml.g6.12xlarge", "g6", x(4, L4), 5.28),
    i("ml.g6.16xlarge", "g6", L4, 4.246),
    i("ml.g6.24xlarge", "g6", x(4, L4), 6.705),
    i("ml.g6.48xlarge", "g6", x(8, L4), 16.6),
    i("ml.g6e.xlarge", "g6e", L40S, 2.3),
    i("ml.g6e.2xlarge", "g6e", L40S, 2.774),
    i("ml.g6e.4xlarge", "g6e", L40S, 3.72),
    i("ml.g6e.8xlarge", "g6e", L40S, 5.612),
    i("ml.g6e.12xlarge", "g6e", x(4, L40S), 13.124),
    i("ml.g6e.16xlarge", "g6e", L40S, 9.4),
    i("ml.g6e.24xlarge", "g6e", x(4, L40S), 16.45),
    i("ml.g6e.48xlarge", "g6e", x(8, L40S), 37.61),
    i("ml.p3.2xlarge", "p3", (1, "V100", 16), 3.825),
    i("ml.p4d.24xlarge", "p4d", (8, "A100", 40), 37.69),
    i("ml.p4de.24xlarge", "p4de", (8, "A100", 80), 47.11),
    i("ml.p5.48xlarge", "p5", (8, "H100", 80), 113.07),
    neuron("ml.inf2.xlarge", 1, 0.99),
    neuron("ml.inf2.8xlarge", 1, 2.36),
    neuron("ml.inf2.24xlarge", 6, 7.82),
    neuron("ml.inf2.48xlarge", 12, 15.64),
];

pub fn find(name: &str) -> Option<&'static InstanceInfo> {
    INSTANCES.iter().find(|i| i.name == name)
}

impl InstanceInfo {
    /// Memory of all the instance's accelerators, GB.
    pub fn total_memory_gb(&self) -> u32 {
        self.gpus * self.gpu_memory_gb
    }
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

    #[test]
    fn every_row_is_well_formed_and_names_its_family() {
        for info in INSTANCES {
            assert!(valid_shape(info.name), "{}", info.name);
            assert_eq!(
                info.name.split('.').nth(1),
                Some(info.family),
                "{}",
                info.name
            );
            assert!(info.gpus > 0 && info.gpu_memory_gb > 0 && info.usd_per_hour > 0.0);
        }
        let names: std::collections::BTreeSet<_> = INSTANCES.iter().map(|i| i.name).collect();
        assert_eq!(names.len(), INSTANCES.len(), "no instance type twice");
        assert_eq!(
            find("ml.g5.12xlarge").map(InstanceInfo::total_memory_gb),
            Some(96)
        );
        assert!(find("ml.inf2.xlarge").and_then(|i| i.unsupported).is_some());
        assert!(find("ml.p5.48xlarge").is_some_and(|i| i.unsupported.is_none()));
    }
}
