//! An endpoint's job data in S3 (its async output and failure paths, the test pane's inputs),
//! counted for the teardown confirmation and deleted only when asked.

use serde::{Deserialize, Serialize};

use super::invoke::split;
use crate::aws_errors::{self, Context};
use crate::bucket_owner;
use crate::cloud::Clients;
use crate::error::Error;

/// One S3 prefix and what is under it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct DataPrefix {
    /// `s3://bucket/key-prefix`.
    pub uri: String,
    pub objects: u32,
    pub bytes: f64,
    /// Set when the prefix is kept: another endpoint writes there too.
    pub kept_because: Option<String>,
}

/// The folder, under Ebb's prefix, of the test pane's inputs for `endpoint`: a folder of its
/// own, so no other endpoint's inputs are under it (`test-{endpoint}-` also matched the inputs
/// of `{endpoint}-2`).
pub fn test_inputs(endpoint: &str) -> String {
    format!("input/test/{endpoint}/")
}

/// The folder, under Ebb's prefix, of the load test's request for `endpoint`.
pub fn loadtest_inputs(endpoint: &str) -> String {
    format!("input/loadtest/{endpoint}/")
}

/// A path as a listing prefix: `s3://b/out` covers `out/...`, not `output-2/...`.
fn as_prefix(path: &str) -> String {
    if path.ends_with('/') {
        path.to_string()
    } else {
        format!("{path}/")
    }
}

fn overlaps(a: &str, b: &str) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// Async output and failure paths of every other endpoint, every page of ListEndpoints. It
/// fails closed: a listing or a Describe that fails (throttled, not allowed) is an error, since
/// reading it as "no other endpoint" would delete data another endpoint writes to. An endpoint
/// deleted between the list and its Describe is skipped.
async fn others_paths(
    clients: &Clients,
    ctx: Context<'_>,
    endpoint: &str,
) -> Result<Vec<(String, String)>, Error> {
    let sm = &clients.sagemaker;
    let mut listed = sm.list_endpoints().into_paginator().items().send();
    let mut paths = Vec::new();
    while let Some(e) = listed.next().await {
        let e = e.map_err(|e| aws_errors::failed(&e, ctx, "sagemaker:ListEndpoints"))?;
        let Some(name) = e.endpoint_name().filter(|n| *n != endpoint) else {
            continue;
        };
        let d = match sm.describe_endpoint().endpoint_name(name).send().await {
            Ok(d) => d,
            Err(e) if aws_errors::is_not_found(&e) => continue,
            Err(e) => return Err(aws_errors::failed(&e, ctx, "sagemaker:DescribeEndpoint")),
        };
        if let Some(out) = d.async_inference_config().and_then(|a| a.output_config()) {
            for p in [out.s3_output_path(), out.s3_failure_path()]
                .into_iter()
                .flatten()
            {
                paths.push((name.to_string(), as_prefix(p)));
            }
        }
    }
    Ok(paths)
}

/// Counts what is under each path and marks the ones shared with another endpoint as kept.
pub async fn plan(
    clients: &Clients,
    ctx: Context<'_>,
    endpoint: &str,
    paths: &[String],
) -> Result<Vec<DataPrefix>, Error> {
    let others = others_paths(clients, ctx, endpoint).await?;
    let account = bucket_owner::account(clients, ctx).await?;
    let mut out = Vec::new();
    for path in paths {
        let uri = as_prefix(path);
        let Some((bucket, prefix)) = split(&uri) else {
            continue;
        };
        let (mut objects, mut bytes) = (0u32, 0f64);
        let mut pages = clients
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .set_expected_bucket_owner(bucket_owner::expected(&account))
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = match page {
                Ok(p) => p,
                Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_bucket()) => break,
                Err(e) => {
                    let owner = (bucket, account.as_str());
                    let action = "s3:ListBucket";
                    return Err(bucket_owner::refusal(&clients.s3, owner, &e, ctx, action).await);
                }
            };
            for o in page.contents() {
                objects += 1;
                bytes += o.size().unwrap_or(0) as f64;
            }
        }
        let kept_because = others
            .iter()
            .find(|(_, p)| overlaps(p, &uri))
            .map(|(name, p)| format!("endpoint {name} also writes under {p}"));
        out.push(DataPrefix {
            uri,
            objects,
            bytes,
            kept_because,
        });
    }
    Ok(out)
}

/// Deletes every object under `data.uri`; returns how many went.
pub async fn delete(clients: &Clients, ctx: Context<'_>, data: &DataPrefix) -> Result<u32, Error> {
    use aws_sdk_s3::types::{Delete, ObjectIdentifier};
    let Some((bucket, prefix)) = split(&data.uri) else {
        return Ok(0);
    };
    let account = bucket_owner::account(clients, ctx).await?;
    let owner = (bucket, account.as_str());
    let mut deleted = 0u32;
    loop {
        // Always the first page: what was deleted is gone from the listing.
        let page = match clients
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .set_expected_bucket_owner(bucket_owner::expected(&account))
            .prefix(prefix)
            .send()
            .await
        {
            Ok(p) => p,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_bucket()) => {
                return Ok(deleted);
            }
            Err(e) => {
                let action = "s3:ListBucket";
                return Err(bucket_owner::refusal(&clients.s3, owner, &e, ctx, action).await);
            }
        };
        let keys: Vec<ObjectIdentifier> = page
            .contents()
            .iter()
            .filter_map(|o| o.key())
            .filter_map(|k| ObjectIdentifier::builder().key(k).build().ok())
            .collect();
        if keys.is_empty() {
            return Ok(deleted);
        }
        let count = keys.len() as u32;
        let request = Delete::builder()
            .set_objects(Some(keys))
            .quiet(true)
            .build()
            .map_err(|e| Error::InvalidRequest(e.to_string()))?;
        let result = clients
            .s3
            .delete_objects()
            .bucket(bucket)
            .set_expected_bucket_owner(bucket_owner::expected(&account))
            .delete(request)
            .send()
            .await;
        let result = match result {
            Ok(r) => r,
            Err(e) => {
                let action = "s3:DeleteObject";
                return Err(bucket_owner::refusal(&clients.s3, owner, &e, ctx, action).await);
            }
        };
        if let Some(err) = result.errors().first() {
            return Err(Error::Aws {
                summary: format!(
                    "S3 refused to delete {} of {count} objects under {}: {} ({})",
                    result.errors().len(),
                    data.uri,
                    err.message().unwrap_or("no reason given"),
                    err.key().unwrap_or_default()
                ),
                advice: Some("Check that your role may s3:DeleteObject in that bucket, then re-run the teardown.".into()),
                detail: Some(format!("{} — {}", err.code().unwrap_or("no code"), err.message().unwrap_or_default())),
            });
        }
        deleted += count;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_covers_its_folder_only() {
        assert_eq!(
            as_prefix("s3://b/async-llm-output/output"),
            "s3://b/async-llm-output/output/"
        );
        assert!(overlaps("s3://b/x/output/", "s3://b/x/"));
        assert!(!overlaps("s3://b/x/output/", "s3://b/x/output-2/"));
    }
}
