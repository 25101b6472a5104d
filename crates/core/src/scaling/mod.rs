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

/// Every scaling policy of `resource_id` in the SageMaker namespace, read to the last page of
/// DescribeScalingPolicies and matched by id here too (not every implementation filters by
/// `ResourceId`).
///
/// # Errors
/// The call's AWS error; a refusal is never read as "no policies".
pub(crate) async fn policies_of(
    clients: &crate::cloud::Clients,
    ctx: crate::aws_errors::Context<'_>,
    resource_id: &str,
) -> Result<Vec<aws_sdk_applicationautoscaling::types::ScalingPolicy>, crate::error::Error> {
    let policies: Vec<_> = clients
        .autoscaling
        .describe_scaling_policies()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Sagemaker)
        .resource_id(resource_id)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| {
            crate::aws_errors::failed(&e, ctx, "application-autoscaling:DescribeScalingPolicies")
        })?;
    Ok(policies
        .into_iter()
        .filter(|p| p.resource_id() == resource_id)
        .collect())
}
