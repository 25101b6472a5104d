//! The awsJson1_1 request/response plumbing shared by the SageMaker and Runtime handlers.

use http::StatusCode;
use serde_json::Value;

/// An AWS error in a JSON protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    /// SageMaker answers nearly every bad request, including "not found", this way.
    pub fn validation(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "ValidationException",
            message: message.into(),
        }
    }

    pub fn limit(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "ResourceLimitExceeded",
            message: message.into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "InternalFailure",
            message: message.into(),
        }
    }
}

pub type ApiResult = Result<Value, ApiError>;

pub fn required_str<'a>(input: &'a Value, field: &str) -> Result<&'a str, ApiError> {
    match input.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) | None | Some(Value::Null) => Err(ApiError::validation(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            lower_first(field)
        ))),
        Some(_) => Err(ApiError::validation(format!(
            "1 validation error detected: '{}' must be a string",
            lower_first(field)
        ))),
    }
}

pub fn optional_str<'a>(input: &'a Value, field: &str) -> Option<&'a str> {
    input.get(field).and_then(Value::as_str)
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// SageMaker resource names: `^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}`.
pub fn check_name(field: &str, name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::validation(format!(
            "1 validation error detected: Value '{name}' at '{}' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){{0,62}}",
            lower_first(field)
        )))
    }
}

pub fn now_epoch() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

pub fn arn(kind: &str, name: &str) -> String {
    format!(
        "arn:aws:sagemaker:{}:{}:{kind}/{}",
        crate::REGION,
        crate::ACCOUNT_ID,
        name.to_ascii_lowercase()
    )
}

/// Paging for List* calls: `NextToken` is the offset into the sorted list.
pub fn page(items: Vec<Value>, input: &Value, default_max: usize) -> (Vec<Value>, Option<String>) {
    page_by(items, input, "MaxResults", default_max)
}

/// [`page`] for services that call the page size something else (CloudWatch: `MaxRecords`).
pub fn page_by(
    items: Vec<Value>,
    input: &Value,
    max_field: &str,
    default_max: usize,
) -> (Vec<Value>, Option<String>) {
    let start = optional_str(input, "NextToken")
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(0);
    let max = input
        .get(max_field)
        .and_then(Value::as_u64)
        .map_or(default_max, |m| m.clamp(1, 100) as usize);
    let end = (start + max).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    (items.into_iter().skip(start).take(max).collect(), next)
}
