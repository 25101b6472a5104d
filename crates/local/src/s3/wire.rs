//! What S3 puts on the wire around an object besides its bytes: listing key encoding, the
//! standard headers kept with an object, and conditional requests.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use s3s::dto::{ETag, ETagCondition, EncodingType, Timestamp};
use s3s::{S3Error, S3ErrorCode, S3Result};

use super::store::{ContentHeaders, ObjectMeta, WriteCondition};

/// Characters left as they are by `EncodingType=url`: RFC 3986's unreserved set and `/`.
const KEY_CHARS: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// A listing's `EncodingType=url`: S3 then percent-encodes the keys, prefixes, delimiter and
/// markers it sends back, and clients (boto3 asks for it on every listing) decode them
/// (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html>).
#[derive(Debug, Clone, Copy)]
pub struct KeyEncoding {
    url: bool,
}

impl KeyEncoding {
    /// `url` is the one encoding S3 knows; any other is refused as S3 refuses it.
    pub fn new(requested: Option<&EncodingType>) -> S3Result<KeyEncoding> {
        match requested.map(EncodingType::as_str) {
            None => Ok(KeyEncoding { url: false }),
            Some(EncodingType::URL) => Ok(KeyEncoding { url: true }),
            Some(other) => Err(S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                format!("Invalid Encoding Method specified in Request: `{other}`"),
            )),
        }
    }

    /// `text` as it goes into the answer.
    pub fn apply(self, text: String) -> String {
        if self.url {
            utf8_percent_encode(&text, KEY_CHARS).to_string()
        } else {
            text
        }
    }

    pub fn apply_opt(self, text: Option<String>) -> Option<String> {
        text.map(|t| self.apply(t))
    }

    /// The `EncodingType` element of the answer: present when the keys are encoded.
    pub fn echo(self) -> Option<EncodingType> {
        self.url
            .then(|| EncodingType::from_static(EncodingType::URL))
    }
}

/// The standard headers a PUT or CreateMultipartUpload brings, kept with the object
/// (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html>).
pub fn content_headers(
    cache_control: Option<String>,
    content_disposition: Option<String>,
    content_encoding: Option<String>,
    content_language: Option<String>,
    expires: Option<Timestamp>,
) -> ContentHeaders {
    ContentHeaders {
        cache_control,
        content_disposition,
        content_encoding,
        content_language,
        expires_s: expires.map(|t| time::OffsetDateTime::from(t).unix_timestamp()),
    }
}

/// The stored `Expires` as a timestamp.
pub fn expires(headers: &ContentHeaders) -> Option<Timestamp> {
    headers
        .expires_s
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .map(Timestamp::from)
}

fn etag_of(condition: &ETagCondition) -> Option<String> {
    match condition {
        ETagCondition::Any => None,
        ETagCondition::ETag(ETag::Strong(v) | ETag::Weak(v)) => Some(v.clone()),
    }
}

/// A PutObject's `If-Match` / `If-None-Match` as the store checks them
/// (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html>).
pub fn write_condition(
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> WriteCondition {
    match (if_match, if_none_match) {
        (Some(m), _) => WriteCondition::IfMatch(etag_of(m)),
        (None, Some(n)) => WriteCondition::IfNoneMatch(etag_of(n)),
        (None, None) => WriteCondition::Always,
    }
}

fn matches(condition: &ETagCondition, meta: &ObjectMeta) -> bool {
    etag_of(condition).is_none_or(|e| e == meta.etag)
}

/// The last-modified time in whole seconds, as an HTTP date carries it.
fn modified_s(meta: &ObjectMeta) -> i64 {
    (meta.last_modified_ms / 1000) as i64
}

fn seconds(t: &Timestamp) -> i64 {
    time::OffsetDateTime::from(t.clone()).unix_timestamp()
}

/// The conditional headers of a GET or HEAD, evaluated in RFC 9110's order as S3 documents
/// them (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html>): If-Match, else
/// If-Unmodified-Since, may refuse with 412; If-None-Match, else If-Modified-Since, with 304.
pub struct ReadConditions<'a> {
    pub if_match: Option<&'a ETagCondition>,
    pub if_none_match: Option<&'a ETagCondition>,
    pub if_modified_since: Option<&'a Timestamp>,
    pub if_unmodified_since: Option<&'a Timestamp>,
}

impl ReadConditions<'_> {
    pub fn check(&self, meta: &ObjectMeta) -> S3Result<()> {
        let modified = modified_s(meta);
        let precondition_ok = match (self.if_match, self.if_unmodified_since) {
            (Some(m), _) => matches(m, meta),
            (None, Some(t)) => modified <= seconds(t),
            (None, None) => true,
        };
        if !precondition_ok {
            return Err(S3Error::with_message(
                S3ErrorCode::PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold",
            ));
        }
        let changed = match (self.if_none_match, self.if_modified_since) {
            (Some(n), _) => !matches(n, meta),
            (None, Some(t)) => modified > seconds(t),
            (None, None) => true,
        };
        if !changed {
            return Err(S3Error::new(S3ErrorCode::NotModified));
        }
        Ok(())
    }
}
