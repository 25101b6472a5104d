//! The test pane: one TGI request uploaded to S3, InvokeEndpointAsync, then the output or the
//! failure when it lands.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::aws_errors::{self, Context};
use crate::bucket_owner;
use crate::cloud::Clients;
use crate::error::Error;

/// The seed request's parameters (../shared/seed/WORKFLOW.md).
pub fn seed_parameters() -> serde_json::Value {
    serde_json::json!({
        "early_stopping": true,
        "length_penalty": 2.0,
        "max_new_tokens": 50,
        "temperature": 1,
        "min_length": 10,
        "no_repeat_ngram_size": 3
    })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct InvokeRequest {
    pub endpoint: String,
    pub prompt: String,
    /// TGI parameters as JSON text (an object); `None` uses the seed's.
    pub parameters: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct InvokeResult {
    pub inference_id: Option<String>,
    pub input_location: String,
    pub output_location: Option<String>,
    pub failure_location: Option<String>,
    /// The result body, once it landed (when waiting).
    pub output: Option<String>,
    pub failure: Option<String>,
}

/// `s3://bucket/key` -> (bucket, key).
pub(crate) fn split(uri: &str) -> Option<(&str, &str)> {
    uri.strip_prefix("s3://")?.split_once('/')
}

/// Puts one JSON request body in S3 (with the content type the article insists on) and
/// returns its `s3://` location.
pub(crate) async fn put_input(
    clients: &Clients,
    ctx: Context<'_>,
    bucket: &str,
    key: &str,
    body: String,
) -> Result<String, Error> {
    let account = bucket_owner::account(clients, ctx).await?;
    let put = clients
        .s3
        .put_object()
        .bucket(bucket)
        .set_expected_bucket_owner(bucket_owner::expected(&account))
        .key(key)
        .content_type("application/json")
        .body(body.into_bytes().into())
        .send()
        .await;
    if let Err(e) = put {
        let owner = (bucket, account.as_str());
        return Err(bucket_owner::refusal(&clients.s3, owner, &e, ctx, "s3:PutObject").await);
    }
    Ok(format!("s3://{bucket}/{key}"))
}

/// Uploads the request under `<prefix>/input/` and invokes the endpoint.
pub async fn submit(
    clients: &Clients,
    ctx: Context<'_>,
    (bucket, prefix): (&str, &str),
    request: &InvokeRequest,
    stamp: &str,
) -> Result<InvokeResult, Error> {
    let parameters = match request.parameters.as_deref() {
        None => seed_parameters(),
        Some(text) => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(v) if v.is_object() => v,
            Ok(_) => {
                return Err(Error::InvalidRequest(
                    "the parameters must be a JSON object, e.g. {\"max_new_tokens\": 50}".into(),
                ));
            }
            Err(e) => {
                return Err(Error::InvalidRequest(format!(
                    "the parameters are not valid JSON: {e}"
                )));
            }
        },
    };
    if request.prompt.trim().is_empty() {
        return Err(Error::InvalidRequest("the prompt is empty".into()));
    }
    let body = serde_json::json!({ "inputs": request.prompt, "parameters": parameters });
    send_body(
        clients,
        ctx,
        (bucket, prefix),
        &request.endpoint,
        &body,
        stamp,
    )
    .await
}

/// Uploads `body` under `<prefix>/input/` (the endpoint's test inputs, which teardown
/// removes) and invokes `endpoint` asynchronously with it.
pub(crate) async fn send_body(
    clients: &Clients,
    ctx: Context<'_>,
    (bucket, prefix): (&str, &str),
    endpoint: &str,
    body: &serde_json::Value,
    stamp: &str,
) -> Result<InvokeResult, Error> {
    let key = format!(
        "{}/{}{stamp}.json",
        prefix.trim_matches('/'),
        super::data::test_inputs(endpoint)
    );
    let input_location = put_input(clients, ctx, bucket, &key, body.to_string()).await?;
    let r = clients
        .runtime
        .invoke_endpoint_async()
        .endpoint_name(endpoint)
        .input_location(&input_location)
        .content_type("application/json")
        .accept("application/json")
        .send()
        .await
        .map_err(|e| aws_errors::failed(&e, ctx, "sagemaker:InvokeEndpointAsync"))?;
    Ok(InvokeResult {
        inference_id: r.inference_id().map(str::to_string),
        input_location,
        output_location: r.output_location().map(str::to_string),
        failure_location: r.failure_location().map(str::to_string),
        output: None,
        failure: None,
    })
}

/// The object at `uri`, `None` while it does not exist (`NoSuchKey`).
///
/// # Errors
/// Any other `s3:GetObject` error (access, throttling after retries, network), and a body
/// that breaks off.
pub(crate) async fn fetch(
    clients: &Clients,
    ctx: Context<'_>,
    uri: Option<&str>,
) -> Result<Option<String>, Error> {
    let Some((bucket, key)) = uri.and_then(split) else {
        return Ok(None);
    };
    let account = bucket_owner::account(clients, ctx).await?;
    let got = clients
        .s3
        .get_object()
        .bucket(bucket)
        .set_expected_bucket_owner(bucket_owner::expected(&account))
        .key(key)
        .send()
        .await;
    let got = match got {
        Ok(got) => got,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
        Err(e) => return Err(aws_errors::failed(&e, ctx, "s3:GetObject")),
    };
    let bytes = got
        .body
        .collect()
        .await
        .map_err(|e| Error::Aws {
            summary: format!(
                "the result at {} broke off while it was read: {e}",
                uri.unwrap_or_default()
            ),
            advice: Some("Try again; S3 keeps the object.".into()),
            detail: None,
        })?
        .into_bytes();
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// Polls the output and failure locations until one appears or `limit` passes.
pub async fn wait(
    clients: &Clients,
    ctx: Context<'_>,
    mut result: InvokeResult,
    limit: Duration,
    poll: Duration,
) -> Result<InvokeResult, Error> {
    let started = Instant::now();
    loop {
        if let Some(out) = fetch(clients, ctx, result.output_location.as_deref()).await? {
            result.output = Some(out);
            return Ok(result);
        }
        if let Some(failure) = fetch(clients, ctx, result.failure_location.as_deref()).await? {
            result.failure = Some(failure);
            return Ok(result);
        }
        if started.elapsed() >= limit {
            return Err(Error::Timeout(format!(
                "no result at {} after {} s; it may still come (the endpoint may be scaling up)",
                result
                    .output_location
                    .as_deref()
                    .unwrap_or("the output path"),
                limit.as_secs()
            )));
        }
        tokio::time::sleep(poll).await;
    }
}
