//! Every endpoint in the region, with what a user needs at a glance.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_sagemaker::operation::describe_endpoint_config::DescribeEndpointConfigOutput;
use futures::{StreamExt, TryStreamExt, stream};
use serde::Serialize;

use super::run::{CREATED_BY_KEY, CREATED_BY_VALUE};
use crate::aws_errors::{self, Context};
use crate::catalog::instances;
use crate::cloud::Clients;
use crate::error::Error;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
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

/// DescribeEndpoint calls in flight at once while listing: SageMaker's control-plane rates are
/// low, and a user with 30 endpoints should not be throttled by a refresh.
const DESCRIBE_AT_ONCE: usize = 4;

/// How long a described endpoint config and an endpoint's "created by Ebb" tag are reused.
/// Configs cannot be changed once created (SageMaker has no UpdateEndpointConfig) and Ebb's tag
/// stays; the expiry only covers one deleted and made again under the same name.
const REUSE_FOR: Duration = Duration::from_secs(600);

/// What [`describe`] reuses between refreshes, kept with the clients of one target.
#[derive(Debug, Clone, Default)]
pub struct DescribeCache {
    configs: Reused<Option<DescribeEndpointConfigOutput>>,
    created_by_ebb: Reused<bool>,
}

/// Values by name with when each was read; shared by the clones of one target's clients.
type Reused<V> = Arc<Mutex<HashMap<String, (Instant, V)>>>;

fn fresh<V: Clone>(map: &Mutex<HashMap<String, (Instant, V)>>, key: &str) -> Option<V> {
    let map = map.lock().ok()?;
    map.get(key)
        .filter(|(at, _)| at.elapsed() < REUSE_FOR)
        .map(|(_, v)| v.clone())
}

fn keep<V>(map: &Mutex<HashMap<String, (Instant, V)>>, key: &str, value: V) {
    if let Ok(mut map) = map.lock() {
        map.insert(key.to_string(), (Instant::now(), value));
    }
}

/// Every endpoint in the region (every page of ListEndpoints), described a few at a time. One
/// deleted between the list and its Describe is left out, not an error.
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
    let described: Vec<Option<EndpointSummary>> = stream::iter(names)
        .map(|name| async move { describe_if_present(clients, ctx, &name).await })
        .buffered(DESCRIBE_AT_ONCE)
        .try_collect()
        .await?;
    Ok(described.into_iter().flatten().collect())
}

/// [`describe`], or `None` when SageMaker says the endpoint does not exist (any more).
pub async fn describe_if_present(
    clients: &Clients,
    ctx: Context<'_>,
    name: &str,
) -> Result<Option<EndpointSummary>, Error> {
    match describe(clients, ctx, name).await {
        Ok(s) => Ok(Some(s)),
        Err(Error::EndpointNotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The endpoint's config, described once per [`REUSE_FOR`]; `None` when it was deleted (an
/// endpoint keeps running on a deleted config).
async fn endpoint_config(
    clients: &Clients,
    ctx: Context<'_>,
    name: &str,
) -> Result<Option<DescribeEndpointConfigOutput>, Error> {
    let cache = &clients.described.configs;
    if let Some(found) = fresh(cache, name) {
        return Ok(found);
    }
    let found = match clients
        .sagemaker
        .describe_endpoint_config()
        .endpoint_config_name(name)
        .send()
        .await
    {
        Ok(c) => Some(c),
        Err(e) if aws_errors::is_not_found(&e) => None,
        Err(e) => {
            return Err(aws_errors::failed(
                &e,
                ctx,
                "sagemaker:DescribeEndpointConfig",
            ));
        }
    };
    keep(cache, name, found.clone());
    Ok(found)
}

/// Whether the endpoint carries Ebb's tag, read once per [`REUSE_FOR`]. Tags are a nicety of
/// the list: a refused ListTags reads as "not Ebb's" rather than failing the whole list.
async fn created_by_ebb(clients: &Clients, arn: Option<&str>) -> bool {
    let Some(arn) = arn else { return false };
    let cache = &clients.described.created_by_ebb;
    if let Some(found) = fresh(cache, arn) {
        return found;
    }
    let Ok(tags) = clients.sagemaker.list_tags().resource_arn(arn).send().await else {
        return false;
    };
    let ours = tags
        .tags()
        .iter()
        .any(|t| t.key() == Some(CREATED_BY_KEY) && t.value() == Some(CREATED_BY_VALUE));
    keep(cache, arn, ours);
    ours
}

/// One endpoint at a glance. [`Error::EndpointNotFound`] when it does not exist.
pub async fn describe(
    clients: &Clients,
    ctx: Context<'_>,
    name: &str,
) -> Result<EndpointSummary, Error> {
    let sm = &clients.sagemaker;
    let d = match sm.describe_endpoint().endpoint_name(name).send().await {
        Ok(d) => d,
        Err(e) if aws_errors::is_not_found(&e) => {
            return Err(Error::EndpointNotFound(name.to_string()));
        }
        Err(e) => return Err(aws_errors::failed(&e, ctx, "sagemaker:DescribeEndpoint")),
    };
    let config_name = d.endpoint_config_name().unwrap_or_default().to_string();
    let config = endpoint_config(clients, ctx, &config_name).await?;
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
    let created_by_ebb = created_by_ebb(clients, d.endpoint_arn()).await;
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
