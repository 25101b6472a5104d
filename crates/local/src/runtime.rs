//! SageMaker Runtime (restJson1): InvokeEndpointAsync and InvokeEndpoint.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};
use serde_json::json;

use crate::constraints::{Member, Violations};
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

/// A random (version 4) UUID, as AWS gives inference ids, activity ids and policy ARNs.
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
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
    aws_like: bool,
) -> Response<Body> {
    let route = path
        .strip_prefix("/endpoints/")
        .and_then(|rest| rest.rsplit_once('/'))
        .map(|(name, action)| (decode(name), action));
    let result = match route {
        Some((name, "async-invocations")) => {
            invoke_async(sagemaker, &name, headers, body, aws_like)
        }
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

/// A header's value as sent, even when it is not visible ASCII (so the ASCII-only
/// constraints can report it rather than treat it as absent).
fn raw_header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

const INPUT_LOCATION_PATTERN: &str = "^(https|s3)://([^/]+)/?(.*)$";
const EXTENSION_PATTERN: &str = "^(?!s3:|https:)[a-zA-Z0-9!_.*'()/-]+$";
const FILENAME_PATTERN: &str = "^(?!.*\\..*\\.)[a-zA-Z0-9][a-zA-Z0-9-_\\.]*$";
const ENDPOINT_NAME_PATTERN: &str = "^[a-zA-Z0-9](-*[a-zA-Z0-9])*";

fn matches_input_location(v: &str) -> bool {
    let rest = v
        .strip_prefix("https://")
        .or_else(|| v.strip_prefix("s3://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/') && !r.contains('\n'))
}

fn matches_extension(v: &str) -> bool {
    !v.starts_with("s3:")
        && !v.starts_with("https:")
        && !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!_.*'()/-".contains(&b))
}

fn matches_filename(v: &str) -> bool {
    let mut bytes = v.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && v.matches('.').count() <= 1
}

fn matches_endpoint_name(v: &str) -> bool {
    v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && v.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && !v.ends_with('-')
}

/// `\A\S[\p{Print}]*\z`: a non-blank first character, then printable ASCII.
fn matches_inference_id(v: &str) -> bool {
    v.chars().next().is_some_and(|c| !c.is_whitespace())
        && v.chars().skip(1).all(|c| (' '..='~').contains(&c))
}

/// The integer headers: their value (when it is a number) and range.
fn check_seconds(
    v: &mut Violations,
    headers: &HeaderMap,
    (header, member): (&str, &str),
    range: std::ops::RangeInclusive<u64>,
) -> Result<(), ApiError> {
    let Some(raw) = raw_header(headers, header) else {
        return Ok(());
    };
    let n: i64 = raw.trim().parse().map_err(|_| {
        validation(format!(
            "Value '{raw}' at '{}' is not a valid integer.",
            crate::constraints::member_name(member)
        ))
    })?;
    v.range(
        Member::new(member, &raw),
        n,
        *range.start() as i64,
        *range.end() as i64,
    );
    Ok(())
}

/// A string header's constraints in the service model: its member name, `@pattern` (quoted
/// in messages, checked by `matches`) and `@length` bounds.
struct StringHeader {
    header: &'static str,
    member: &'static str,
    pattern: &'static str,
    matches: fn(&str) -> bool,
    length: (usize, usize),
}

const STRING_HEADERS: [StringHeader; 4] = [
    StringHeader {
        header: "x-amzn-sagemaker-inference-id",
        member: "InferenceId",
        pattern: "\\A\\S[\\p{Print}]*\\z",
        matches: matches_inference_id,
        length: (1, 64),
    },
    StringHeader {
        header: "x-amzn-sagemaker-inputlocation",
        member: "InputLocation",
        pattern: INPUT_LOCATION_PATTERN,
        matches: matches_input_location,
        length: (1, 1024),
    },
    StringHeader {
        header: "x-amzn-sagemaker-s3outputpathextension",
        member: "S3OutputPathExtension",
        pattern: EXTENSION_PATTERN,
        matches: matches_extension,
        length: (1, 512),
    },
    StringHeader {
        header: "x-amzn-sagemaker-filename",
        member: "Filename",
        pattern: FILENAME_PATTERN,
        matches: matches_filename,
        length: (1, 32),
    },
];

/// ContentType, Accept and CustomAttributes (sensitive): ASCII, at most 1024 characters.
fn check_ascii_headers(v: &mut Violations, headers: &HeaderMap) {
    for (header, member, sensitive) in [
        ("x-amzn-sagemaker-content-type", "ContentType", false),
        ("x-amzn-sagemaker-accept", "Accept", false),
        (
            "x-amzn-sagemaker-custom-attributes",
            "CustomAttributes",
            true,
        ),
    ] {
        if let Some(value) = raw_header(headers, header) {
            let m = Member {
                name: member,
                value: &value,
                sensitive,
            };
            v.pattern(m, "\\p{ASCII}*", value.is_ascii());
            v.length(m, 0, 1024);
        }
    }
}

/// Every constraint the SageMaker Runtime service model (botocore `sagemaker-runtime`
/// 2017-05-13, InvokeEndpointAsyncInput) puts on InvokeEndpointAsync's inputs, checked as
/// AWS checks them: all violations in one ValidationError (see [`Violations`]).
fn check_async_input(name: &str, headers: &HeaderMap, body_len: usize) -> Result<(), ApiError> {
    let mut v = Violations::default();
    let endpoint = Member::new("EndpointName", name);
    v.pattern(endpoint, ENDPOINT_NAME_PATTERN, matches_endpoint_name(name));
    v.length(endpoint, 0, 63);
    check_ascii_headers(&mut v, headers);
    for h in &STRING_HEADERS {
        if let Some(value) = raw_header(headers, h.header) {
            let m = Member::new(h.member, &value);
            v.length(m, h.length.0, h.length.1);
            v.pattern(m, h.pattern, (h.matches)(&value));
        }
    }
    let ttl = ("x-amzn-sagemaker-requestttlseconds", "RequestTTLSeconds");
    check_seconds(&mut v, headers, ttl, TTL_RANGE)?;
    let timeout = (
        "x-amzn-sagemaker-invocationtimeoutseconds",
        "InvocationTimeoutSeconds",
    );
    check_seconds(&mut v, headers, timeout, TIMEOUT_RANGE)?;
    v.length_of(Member::sensitive("Body", ""), body_len, 0, MAX_INLINE_BODY);
    match v.message() {
        Some(message) => Err(validation(message)),
        None => Ok(()),
    }
}

/// Where a request's output and failure objects go: under the configured paths (plus
/// S3OutputPathExtension), the output named `Filename` or `<id>.out`. The failure is
/// `<id>-error.out`, or in the AWS-like mode always so, even with a `Filename`: SageMaker
/// documents only that it returns FailureLocation, not how the object is named, so a client
/// must use the returned location.
/// See <https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpointAsync.html>.
fn locations(
    paths: &crate::sagemaker::AsyncOutput,
    headers: &HeaderMap,
    aws_like: bool,
) -> (S3Uri, Option<S3Uri>) {
    let extension = header(headers, "x-amzn-sagemaker-s3outputpathextension");
    let filename = header(headers, "x-amzn-sagemaker-filename");
    let id = new_id();
    let under = |base: &S3Uri| match extension {
        Some(ext) => base.join(ext.trim_matches('/')),
        None => base.clone(),
    };
    let output = under(&paths.output).join(
        filename
            .map_or(format!("{id}.out"), str::to_string)
            .as_str(),
    );
    let failure_name = match filename {
        Some(name) if !aws_like => name.to_string(),
        _ => format!("{id}-error.out"),
    };
    let failure = paths
        .failure
        .as_ref()
        .map(|f| under(f).join(failure_name.as_str()));
    (output, failure)
}

fn invoke_async(
    sagemaker: &Arc<SageMaker>,
    name: &str,
    headers: &HeaderMap,
    body: Bytes,
    aws_like: bool,
) -> Result<Response<Body>, ApiError> {
    check_async_input(name, headers, body.len())?;
    let input_location = header(headers, "x-amzn-sagemaker-inputlocation");
    let input = match (input_location, body.is_empty()) {
        (Some(_), false) => {
            return Err(validation(
                "Provide either InputLocation or an inline Body, not both.",
            ));
        }
        (None, true) => {
            return Err(validation(
                "Provide InputLocation (an s3:// or https:// S3 object URL) or an inline Body.",
            ));
        }
        (Some(loc), true) => Input::S3(S3Uri::from_input_location(loc).ok_or_else(|| {
            validation(format!(
                "Could not read an S3 bucket and key from InputLocation {loc}."
            ))
        })?),
        (None, false) => Input::Inline(body),
    };
    let ttl = header(headers, "x-amzn-sagemaker-requestttlseconds")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_TTL);
    let timeout = header(headers, "x-amzn-sagemaker-invocationtimeoutseconds")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_TIMEOUT);
    let inference_id =
        header(headers, "x-amzn-sagemaker-inference-id").map_or_else(new_id, str::to_string);
    let (sim, paths) = sagemaker.async_target(name)?;
    let (output, failure) = locations(&paths, headers, aws_like);
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
    let backend = sim.backend();
    let run = backend.invoke(sim.clock(), body, content_type, accept);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            let name = http::HeaderName::from_bytes(k.as_bytes()).unwrap();
            h.insert(name, http::HeaderValue::from_bytes(v).unwrap());
        }
        h
    }

    fn check(pairs: &[(&str, &[u8])]) -> Option<String> {
        check_async_input("ep", &headers(pairs), 0).err().map(|e| {
            assert_eq!(e.code, "ValidationError");
            e.message
        })
    }

    #[test]
    fn each_header_is_held_to_its_constraints() {
        assert_eq!(
            check(&[("x-amzn-sagemaker-inputlocation", b"s3://b/k")]),
            None
        );
        for (header, value, wanted) in [
            (
                "x-amzn-sagemaker-content-type",
                "caf\u{e9}".as_bytes(),
                "at 'contentType' failed to satisfy constraint: Member must satisfy regular expression pattern: \\p{ASCII}*",
            ),
            (
                "x-amzn-sagemaker-accept",
                "x".repeat(1025).as_bytes(),
                "at 'accept' failed to satisfy constraint: Member must have length less than or equal to 1024",
            ),
            (
                "x-amzn-sagemaker-inference-id",
                b" lead",
                "at 'inferenceId' failed to satisfy constraint: Member must satisfy regular expression pattern",
            ),
            (
                "x-amzn-sagemaker-inputlocation",
                b"ftp://b/k",
                "at 'inputLocation' failed to satisfy constraint: Member must satisfy regular expression pattern: ^(https|s3)://([^/]+)/?(.*)$",
            ),
            (
                "x-amzn-sagemaker-s3outputpathextension",
                b"https://x",
                "at 's3OutputPathExtension'",
            ),
            (
                "x-amzn-sagemaker-s3outputpathextension",
                "a".repeat(513).as_bytes(),
                "Member must have length less than or equal to 512",
            ),
            ("x-amzn-sagemaker-filename", b"-x", "at 'filename'"),
            (
                "x-amzn-sagemaker-filename",
                "f".repeat(33).as_bytes(),
                "Member must have length less than or equal to 32",
            ),
            (
                "x-amzn-sagemaker-requestttlseconds",
                b"21601",
                "Member must have value less than or equal to 21600",
            ),
            (
                "x-amzn-sagemaker-invocationtimeoutseconds",
                b"0",
                "Member must have value greater than or equal to 1",
            ),
        ] {
            let got = check(&[(header, value)]).unwrap_or_default();
            assert!(
                got.starts_with("1 validation error detected: Value"),
                "{header}: {got}"
            );
            assert!(got.contains(wanted), "{header}: {got}");
        }
        let big = check_async_input("ep", &HeaderMap::new(), MAX_INLINE_BODY + 1).unwrap_err();
        assert!(big.message.ends_with("Value at 'body' failed to satisfy constraint: Member must have length less than or equal to 128000"), "{}", big.message);
        let name = check_async_input("bad_name", &HeaderMap::new(), 1).unwrap_err();
        assert!(
            name.message.contains("at 'endpointName'"),
            "{}",
            name.message
        );
    }
}
