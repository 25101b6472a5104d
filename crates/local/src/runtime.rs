//! SageMaker Runtime (restJson1): InvokeEndpointAsync and InvokeEndpoint.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};
use serde_json::json;

use crate::protocol::{self, Body, Protocol};
use crate::sagemaker::SageMaker;
use crate::sagemaker::api::ApiError;
use crate::sim::endpoint::{Input, Job};
use crate::sim::s3uri::S3Uri;

/// The inline `Body` limit of InvokeEndpointAsync.
pub const MAX_INLINE_BODY: usize = 128_000;
const DEFAULT_TTL: u64 = 6 * 3600;
const TTL_RANGE: std::ops::RangeInclusive<u64> = 60..=21_600;
const DEFAULT_TIMEOUT: u64 = 900;
const TIMEOUT_RANGE: std::ops::RangeInclusive<u64> = 1..=3600;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
}

fn validation(message: impl Into<String>) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        code: "ValidationError",
        message: message.into(),
    }
}

/// The runtime service spells SageMaker's ValidationException as ValidationError.
fn runtime_error(e: ApiError) -> ApiError {
    if e.code == "ValidationException" {
        validation(e.message)
    } else {
        e
    }
}

/// A whole-seconds parameter sent in header `name`, reported to the user as `field`.
fn seconds(
    headers: &HeaderMap,
    (name, field): (&str, &str),
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ApiError> {
    match header(headers, name) {
        None => Ok(default),
        Some(v) => match v.parse::<u64>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(validation(format!(
                "{field} must be a whole number of seconds between {} and {}, not `{v}`.",
                range.start(),
                range.end()
            ))),
        },
    }
}

/// A random id shaped like a UUID (inference ids, policy ARNs).
pub(crate) fn new_id() -> String {
    use rand::Rng;
    let n: u128 = rand::rng().random();
    let h = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Output names must stay one path segment of the configured prefix.
fn check_segment(field: &str, value: &str) -> Result<(), ApiError> {
    if value.is_empty() || value.len() > 1024 || value.contains("..") || value.starts_with('/') {
        return Err(validation(format!(
            "{field} `{value}` must be a relative name without `..`."
        )));
    }
    Ok(())
}

fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

pub async fn handle(
    sagemaker: &Arc<SageMaker>,
    path: &str,
    headers: &HeaderMap,
    body: Bytes,
    request_id: &str,
) -> Response<Body> {
    let route = path
        .strip_prefix("/endpoints/")
        .and_then(|rest| rest.rsplit_once('/'))
        .map(|(name, action)| (decode(name), action));
    let result = match route {
        Some((name, "async-invocations")) => invoke_async(sagemaker, &name, headers, body),
        Some((name, "invocations")) => invoke(sagemaker, &name, headers, body).await,
        _ => Err(ApiError {
            status: StatusCode::NOT_FOUND,
            code: "UnknownOperationException",
            message: format!("no SageMaker Runtime operation at {path}"),
        }),
    };
    match result {
        Ok(response) => response,
        Err(e) => {
            let e = runtime_error(e);
            protocol::error(Protocol::RestJson, e.status, e.code, &e.message, request_id)
        }
    }
}

fn invoke_async(
    sagemaker: &Arc<SageMaker>,
    name: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response<Body>, ApiError> {
    let input_location = header(headers, "x-amzn-sagemaker-inputlocation");
    let input = match (input_location, body.is_empty()) {
        (Some(_), false) => {
            return Err(validation(
                "Provide either InputLocation or an inline Body, not both.",
            ));
        }
        (None, true) => {
            return Err(validation(
                "Provide InputLocation (an s3:// URI) or an inline Body.",
            ));
        }
        (Some(loc), true) => Input::S3(S3Uri::parse(loc).ok_or_else(|| {
            validation(format!(
                "InputLocation `{loc}` must be an s3://bucket/key URI."
            ))
        })?),
        (None, false) => {
            if body.len() > MAX_INLINE_BODY {
                return Err(validation(format!(
                    "The inline Body is {} bytes; the limit is {MAX_INLINE_BODY}. Upload it to S3 and pass InputLocation instead.",
                    body.len()
                )));
            }
            Input::Inline(body)
        }
    };
    let ttl = seconds(
        headers,
        ("x-amzn-sagemaker-requestttlseconds", "RequestTTLSeconds"),
        DEFAULT_TTL,
        TTL_RANGE,
    )?;
    let timeout = seconds(
        headers,
        (
            "x-amzn-sagemaker-invocationtimeoutseconds",
            "InvocationTimeoutSeconds",
        ),
        DEFAULT_TIMEOUT,
        TIMEOUT_RANGE,
    )?;
    let inference_id = match header(headers, "x-amzn-sagemaker-inference-id") {
        Some(id) if id.len() > 64 => {
            return Err(validation("InferenceId must be at most 64 characters."));
        }
        Some(id) => id.to_string(),
        None => new_id(),
    };
    let extension = header(headers, "x-amzn-sagemaker-s3outputpathextension");
    if let Some(ext) = extension {
        check_segment("S3OutputPathExtension", ext.trim_matches('/'))?;
    }
    let filename = header(headers, "x-amzn-sagemaker-filename");
    if let Some(f) = filename {
        check_segment("Filename", f)?;
    }
    let (sim, paths) = sagemaker.async_target(name)?;
    let id = new_id();
    let place = |base: &S3Uri, default_name: String| {
        let base = match extension {
            Some(ext) => base.join(ext.trim_matches('/')),
            None => base.clone(),
        };
        base.join(filename.map_or(default_name, str::to_string).as_str())
    };
    let output = place(&paths.output, format!("{id}.out"));
    let failure = paths
        .failure
        .as_ref()
        .map(|f| place(f, format!("{id}-error.out")));
    let clock = sim.clock().clone();
    sim.enqueue(Job {
        inference_id: inference_id.clone(),
        input,
        content_type: header(headers, "x-amzn-sagemaker-content-type").map(str::to_string),
        accept: header(headers, "x-amzn-sagemaker-accept").map(str::to_string),
        output: output.clone(),
        failure: failure.clone(),
        expires_at: Instant::now() + clock.real(Duration::from_secs(ttl)),
        timeout: Duration::from_secs(timeout),
    });
    let mut response = Response::new(Body::from(Bytes::from(
        json!({ "InferenceId": inference_id }).to_string(),
    )));
    *response.status_mut() = StatusCode::ACCEPTED;
    let h = response.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = http::HeaderValue::from_str(&output.to_string()) {
        h.insert("x-amzn-sagemaker-outputlocation", v);
    }
    if let Some(f) = failure
        && let Ok(v) = http::HeaderValue::from_str(&f.to_string())
    {
        h.insert("x-amzn-sagemaker-failurelocation", v);
    }
    Ok(response)
}

async fn invoke(
    sagemaker: &Arc<SageMaker>,
    name: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response<Body>, ApiError> {
    let (sim, variant) = sagemaker.realtime_target(name)?;
    if sim.instances() == 0 {
        return Err(validation(format!(
            "Endpoint {name} has no running instances."
        )));
    }
    let content_type = header(headers, "content-type");
    let accept = header(headers, "accept");
    // Real-time invocations time out after 60 s in SageMaker.
    let run = sim
        .backend()
        .invoke(sim.clock(), body, content_type, accept);
    let answer = match tokio::time::timeout(sim.clock().real(Duration::from_secs(60)), run).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => {
            return Err(ApiError {
                status: StatusCode::FAILED_DEPENDENCY,
                code: "ModelError",
                message: format!(
                    "Received client error ({}) from primary with message \"{}\".",
                    e.status,
                    e.message()
                ),
            });
        }
        Err(_) => {
            return Err(ApiError {
                status: StatusCode::FAILED_DEPENDENCY,
                code: "ModelError",
                message: "The model did not respond within 60 seconds.".into(),
            });
        }
    };
    let mut response = Response::new(Body::from(answer.body));
    let h = response.headers_mut();
    if let Ok(v) = http::HeaderValue::from_str(&answer.content_type) {
        h.insert(http::header::CONTENT_TYPE, v);
    }
    if let Ok(v) = http::HeaderValue::from_str(&variant) {
        h.insert("x-amzn-invoked-production-variant", v);
    }
    Ok(response)
}
