//! Autoscaling around an endpoint: Application Auto Scaling targets and policies, and the
//! CloudWatch alarms that drive them.

pub mod alarms;
pub mod apply;
pub mod guard;
pub mod inventory;
pub mod keep;
pub mod spec;
pub mod status;

/// Application Auto Scaling's name for a SageMaker endpoint variant.
pub fn resource_id(endpoint: &str, variant: &str) -> String {
    format!("endpoint/{endpoint}/variant/{variant}")
}
