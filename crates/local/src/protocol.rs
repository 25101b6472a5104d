//! Which AWS wire protocol a request speaks, and how each one spells an error.

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Form-encoded `Action=` requests answered in XML (STS).
    Query,
    /// `X-Amz-Target` JSON (SageMaker, Application Auto Scaling, CloudWatch JSON 1.0).
    Json,
    /// Smithy RPC v2 CBOR (`aws-sdk-cloudwatch`).
    Cbor,
    /// REST JSON under `/endpoints/` (SageMaker Runtime).
    RestJson,
    /// Everything else is S3's REST-XML.
    S3,
}

pub fn detect(method: &http::Method, path: &str, headers: &HeaderMap) -> Protocol {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    if headers.contains_key("x-amz-target") {
        Protocol::Json
    } else if path.starts_with("/service/") && header("smithy-protocol") == "rpc-v2-cbor" {
        Protocol::Cbor
    } else if path.starts_with("/endpoints/") {
        Protocol::RestJson
    } else if method == http::Method::POST
        && path == "/"
        && header("content-type").starts_with("application/x-www-form-urlencoded")
    {
        Protocol::Query
    } else {
        Protocol::S3
    }
}

/// Every response body; S3 answers stream, the rest are whole buffers.
pub type Body = s3s::Body;

fn escape_xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An AWS-shaped error in the request's own protocol, so SDK error handling works unchanged.
pub fn error(
    protocol: Protocol,
    status: StatusCode,
    code: &str,
    message: &str,
    request_id: &str,
) -> Response<Body> {
    let (content_type, body) = match protocol {
        Protocol::Query => (
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
                escape_xml(code),
                escape_xml(message)
            ),
        ),
        Protocol::S3 => (
            "application/xml",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message><RequestId>{request_id}</RequestId></Error>",
                escape_xml(code),
                escape_xml(message)
            ),
        ),
        Protocol::Json | Protocol::RestJson => (
            "application/x-amz-json-1.1",
            serde_json::json!({ "__type": code, "message": message }).to_string(),
        ),
        Protocol::Cbor => {
            let body = serde_json::json!({ "__type": code, "message": message });
            return with_error_headers(
                answer(
                    Bytes::from(crate::cloudwatch::cbor::encode(&body)),
                    "application/cbor",
                    request_id,
                ),
                protocol,
                status,
                code,
            );
        }
    };
    let response = answer(Bytes::from(body), content_type, request_id);
    with_error_headers(response, protocol, status, code)
}

fn with_error_headers(
    mut response: Response<Body>,
    protocol: Protocol,
    status: StatusCode,
    code: &str,
) -> Response<Body> {
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if protocol == Protocol::Cbor {
        headers.insert(
            "smithy-protocol",
            http::HeaderValue::from_static("rpc-v2-cbor"),
        );
    }
    if let Ok(v) = http::HeaderValue::from_str(code) {
        headers.insert("x-amzn-errortype", v);
    }
    // Query-compatible services (CloudWatch) take the code from here; others ignore it.
    let fault = if status.is_server_error() {
        "Receiver"
    } else {
        "Sender"
    };
    if let Ok(v) = http::HeaderValue::from_str(&format!("{code};{fault}")) {
        headers.insert("x-amzn-query-error", v);
    }
    response
}

/// An awsJson 1.1 answer.
pub fn json(body: &serde_json::Value, request_id: &str) -> Response<Body> {
    answer(
        Bytes::from(body.to_string()),
        "application/x-amz-json-1.1",
        request_id,
    )
}

/// An awsJson 1.0 answer (CloudWatch for boto3).
pub fn json10(body: &serde_json::Value, request_id: &str) -> Response<Body> {
    answer(
        Bytes::from(body.to_string()),
        "application/x-amz-json-1.0",
        request_id,
    )
}

/// A Smithy RPC v2 CBOR answer (CloudWatch for the Rust SDK).
pub fn cbor(body: &serde_json::Value, request_id: &str) -> Response<Body> {
    let mut response = answer(
        Bytes::from(crate::cloudwatch::cbor::encode(body)),
        "application/cbor",
        request_id,
    );
    response.headers_mut().insert(
        "smithy-protocol",
        http::HeaderValue::from_static("rpc-v2-cbor"),
    );
    response
}

fn answer(body: Bytes, content_type: &'static str, request_id: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    if let Ok(v) = http::HeaderValue::from_str(request_id) {
        response.headers_mut().insert("x-amzn-requestid", v.clone());
        response.headers_mut().insert("x-amz-request-id", v);
    }
    response
}

pub fn xml(status: StatusCode, body: String, request_id: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/xml"),
    );
    if let Ok(v) = http::HeaderValue::from_str(request_id) {
        response.headers_mut().insert("x-amzn-requestid", v);
    }
    response
}
