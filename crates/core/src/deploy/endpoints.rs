//! Every endpoint in the region, with what a user needs at a glance.

use serde::Serialize;

use super::run::{CREATED_BY_KEY, CREATED_BY_VALUE};
use crate::aws_errors::{self, Context};
use crate::catalog::instances;
use crate::cloud::Clients;
use crate::error::Error;

#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct EndpointSummary {
    pub name: String,
    pub status: String,
    pub failure_reason: Option<String>,
    pub config_name: String,
    pub instance_type: Option<String>,
    pub current_instances: u32,
    pub desired_instances: u32,
    pub is_async: bool,
    pub output_path: Option<String>,
    pub failure_path: Option<String>,
    /// Seconds since the endpoint was created.
    pub age_s: u32,
    /// Current instances x the instance type's hourly price, when known.
    pub usd_per_hour: Option<f64>,
    /// Where that price comes from (the AWS Price List, or Ebb's bundled estimate).
    pub price_source: Option<crate::pricing::PriceSource>,
    pub created_by_ebb: bool,
}

pub async fn list(clients: &Clients, ctx: Context<'_>) -> Result<Vec<EndpointSummary>, Error> {
    let sm = &clients.sagemaker;
    let mut names: Vec<String> = Vec::new();
    let mut pages = sm.list_endpoints().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_errors::failed(&e, ctx, "sagemaker:ListEndpoints"))?;
        names.extend(
            page.endpoints()
                .iter()
                .filter_map(|e| e.endpoint_name().map(str::to_string)),
        );
    }
    let mut out = Vec::new();
    for name in names {
        out.push(describe(clients, ctx, &name).await?);
    }
    Ok(out)
}

pub async fn describe(
    clients: &Clients,
    ctx: Context<'_>,
    name: &str,
) -> Result<EndpointSummary, Error> {
    let sm = &clients.sagemaker;
    let d = sm
        .describe_endpoint()
        .endpoint_name(name)
        .send()
        .await
        .map_err(|e| aws_errors::failed(&e, ctx, "sagemaker:DescribeEndpoint"))?;
    let config_name = d.endpoint_config_name().unwrap_or_default().to_string();
    let config = sm
        .describe_endpoint_config()
        .endpoint_config_name(&config_name)
        .send()
        .await
        .ok();
    let variant = d.production_variants().first();
    let current = variant
        .and_then(|v| v.current_instance_count())
        .unwrap_or(0)
        .max(0) as u32;
    let desired = variant
        .and_then(|v| v.desired_instance_count())
        .unwrap_or(0)
        .max(0) as u32;
    let instance_type = config
        .as_ref()
        .and_then(|c| c.production_variants().first())
        .and_then(|v| v.instance_type())
        .map(|t| t.as_str().to_string());
    // The endpoint's copy of the async config, else its config's (some emulators omit the
    // former).
    let output = d
        .async_inference_config()
        .and_then(|a| a.output_config())
        .or_else(|| {
            config
                .as_ref()
                .and_then(|c| c.async_inference_config())
                .and_then(|a| a.output_config())
        });
    let is_async = d.async_inference_config().is_some()
        || config
            .as_ref()
            .is_some_and(|c| c.async_inference_config().is_some());
    let tags = match d.endpoint_arn() {
        Some(arn) => sm.list_tags().resource_arn(arn).send().await.ok(),
        None => None,
    };
    let created_by_ebb = tags.is_some_and(|t| {
        t.tags()
            .iter()
            .any(|t| t.key() == Some(CREATED_BY_KEY) && t.value() == Some(CREATED_BY_VALUE))
    });
    let age_s = d
        .creation_time()
        .and_then(|t| {
            let now = super::now_s();
            u32::try_from(now - t.secs()).ok()
        })
        .unwrap_or(0);
    Ok(EndpointSummary {
        name: name.to_string(),
        status: d
            .endpoint_status()
            .map_or("unknown".into(), |s| s.as_str().to_string()),
        failure_reason: d.failure_reason().map(str::to_string),
        config_name,
        usd_per_hour: instance_type
            .as_deref()
            .and_then(instances::find)
            .map(|i| i.usd_per_hour * f64::from(current)),
        price_source: instance_type
            .as_deref()
            .and_then(instances::find)
            .map(|_| crate::pricing::PriceSource::Estimate),
        instance_type,
        current_instances: current,
        desired_instances: desired,
        is_async,
        output_path: output.and_then(|o| o.s3_output_path()).map(str::to_string),
        failure_path: output.and_then(|o| o.s3_failure_path()).map(str::to_string),
        age_s,
        created_by_ebb,
    })
}
