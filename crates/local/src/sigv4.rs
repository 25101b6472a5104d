//! AWS Signature Version 4 verification for requests signed with the `Authorization` header.
//!
//! The canonical request is rebuilt from the request as received (its body hashed here);
//! the signing key and signature come from the `aws-sigv4` crate, the AWS SDK's own signer.
//! See <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html>.

use std::time::{Duration, SystemTime};

use aws_sigv4::sign::v4;
use http::{HeaderMap, StatusCode};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

use crate::Credentials;

/// Characters SigV4 leaves unencoded: A-Z a-z 0-9 - _ . ~
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
const UNRESERVED_AND_SLASH: &AsciiSet = &UNRESERVED.remove(b'/');

/// Why a request was refused; `code` is the AWS error code clients expect, `status` the
/// HTTP status AWS answers it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

/// A refusal of who signed (403).
fn reject(code: &'static str, message: impl Into<String>) -> Rejection {
    Rejection {
        status: StatusCode::FORBIDDEN,
        code,
        message: message.into(),
    }
}

/// The parts of a request the signature covers.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// The path exactly as sent on the wire (still percent-encoded).
    pub raw_path: &'a str,
    pub raw_query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

struct AuthHeader<'a> {
    access_key: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse_auth(value: &str) -> Result<AuthHeader<'_>, Rejection> {
    let rest = value
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(|| reject("IncompleteSignature", "only AWS4-HMAC-SHA256 is supported"))?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=').unwrap_or(("", ""));
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => signature = Some(v),
            _ => {}
        }
    }
    let (Some(credential), Some(signed), Some(signature)) = (credential, signed, signature) else {
        return Err(reject(
            "IncompleteSignature",
            "the Authorization header lacks Credential, SignedHeaders or Signature",
        ));
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key, date, region, service, "aws4_request"] = scope.as_slice() else {
        return Err(reject(
            "IncompleteSignature",
            format!("malformed credential scope `{credential}`"),
        ));
    };
    Ok(AuthHeader {
        access_key,
        date,
        region,
        service,
        signed_headers: signed.split(';').collect(),
        signature,
    })
}

fn canonical_query(raw: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> = raw
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let enc = |s: &str| {
                let decoded = percent_decode_str(&s.replace('+', "%20"))
                    .decode_utf8_lossy()
                    .into_owned();
                utf8_percent_encode(&decoded, UNRESERVED).to_string()
            };
            (enc(k), enc(v))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn canonical_header_value(headers: &HeaderMap, name: &str) -> String {
    headers
        .get_all(name)
        .iter()
        .map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The access key a request is signed with: from the `Authorization` header's credential
/// scope, or a presigned URL's `X-Amz-Credential`; `None` when unsigned.
pub fn access_key(headers: &HeaderMap, raw_query: Option<&str>) -> Option<String> {
    let from_header = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("Credential=").nth(1))
        .map(str::to_string);
    let from_query = || {
        raw_query?.split('&').find_map(|p| {
            let v = p.strip_prefix("X-Amz-Credential=")?;
            Some(percent_decode_str(v).decode_utf8_lossy().into_owned())
        })
    };
    let credential = from_header.or_else(from_query)?;
    credential.split('/').next().map(str::to_string)
}

/// The session token sent with a request (header, or a presigned URL's query).
pub fn session_token(headers: &HeaderMap, raw_query: Option<&str>) -> Option<String> {
    let from_header = headers
        .get("x-amz-security-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    from_header.or_else(|| {
        raw_query?.split('&').find_map(|p| {
            let v = p.strip_prefix("X-Amz-Security-Token=")?;
            Some(percent_decode_str(v).decode_utf8_lossy().into_owned())
        })
    })
}

/// How far a request's `X-Amz-Date` may be from the server's clock, as AWS allows
/// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/signing-elements.html>).
pub const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// Parses SigV4's basic ISO 8601 timestamp (`20260101T120000Z`).
fn parse_amz_date(value: &str) -> Option<OffsetDateTime> {
    let b = value.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| value.get(range)?.parse::<u32>().ok();
    let month = Month::try_from(u8::try_from(num(4..6)?).ok()?).ok()?;
    let date =
        Date::from_calendar_date(i32::try_from(num(0..4)?).ok()?, month, num(6..8)? as u8).ok()?;
    let time = Time::from_hms(num(9..11)? as u8, num(11..13)? as u8, num(13..15)? as u8).ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_utc())
}

/// `t` in SigV4's basic ISO 8601 form.
fn amz_date(t: OffsetDateTime) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] =
        time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    t.format(FORMAT).unwrap_or_default()
}

/// Refuses a request dated more than [`MAX_SKEW`] from `now`, in the words AWS's JSON and
/// Query services use: InvalidSignatureException (400), or SignatureDoesNotMatch (403) from
/// STS. (S3 says RequestTimeTooSkewed; s3s checks S3's requests itself.)
fn check_skew(
    sent: &str,
    at: OffsetDateTime,
    now: SystemTime,
    service: &str,
) -> Result<(), Rejection> {
    let now = OffsetDateTime::from(now);
    let message = if at < now - MAX_SKEW {
        format!(
            "Signature expired: {sent} is now earlier than {} ({} - 15 min.)",
            amz_date(now - MAX_SKEW),
            amz_date(now)
        )
    } else if at > now + MAX_SKEW {
        format!(
            "Signature not yet current: {sent} is still later than {} ({} + 15 min.)",
            amz_date(now + MAX_SKEW),
            amz_date(now)
        )
    } else {
        return Ok(());
    };
    Err(if service == "sts" {
        reject("SignatureDoesNotMatch", message)
    } else {
        Rejection {
            status: StatusCode::BAD_REQUEST,
            ..reject("InvalidSignatureException", message)
        }
    })
}

/// Equality of two signatures in time that does not depend on where they differ.
fn same_signature(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// The SHA-256 of the body, hex; refused when the client's `x-amz-content-sha256` names
/// another: the signature covers the body itself, never a hash the client merely claims.
fn payload_hash(req: &SignedRequest<'_>) -> Result<String, Rejection> {
    let computed = hex::encode(Sha256::digest(req.body));
    let claimed = req.headers.get("x-amz-content-sha256");
    match claimed.map(|v| v.to_str().unwrap_or_default()) {
        Some(claimed) if !claimed.eq_ignore_ascii_case(&computed) => Err(Rejection {
            status: StatusCode::BAD_REQUEST,
            ..reject(
                "XAmzContentSHA256Mismatch",
                "the x-amz-content-sha256 header is not the SHA-256 of the request body",
            )
        }),
        _ => Ok(computed),
    }
}

/// The canonical request of SigV4 (path, sorted query, the signed headers, payload hash).
fn canonical_request(req: &SignedRequest<'_>, auth: &AuthHeader<'_>, payload_hash: &str) -> String {
    // S3 signs the path as sent; every other service encodes it once more.
    let canonical_uri = if auth.service == "s3" {
        req.raw_path.to_string()
    } else {
        utf8_percent_encode(req.raw_path, UNRESERVED_AND_SLASH).to_string()
    };
    let canonical_headers: String = auth
        .signed_headers
        .iter()
        .map(|name| format!("{name}:{}\n", canonical_header_value(req.headers, name)))
        .collect();
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        if canonical_uri.is_empty() {
            "/"
        } else {
            &canonical_uri
        },
        canonical_query(req.raw_query),
        canonical_headers,
        auth.signed_headers.join(";"),
        payload_hash
    )
}

/// Checks a request signed with the `Authorization` header: the key is `creds`', the date
/// within [`MAX_SKEW`] of `now` (the real wall clock, never the simulated one), the body the
/// one signed, and the signature the one `aws-sigv4` computes. Returns the signing service
/// name (`sts`, `sagemaker`, ...). Not for S3's streaming uploads (s3s checks those).
pub fn verify(
    req: &SignedRequest<'_>,
    creds: &Credentials,
    now: SystemTime,
) -> Result<String, Rejection> {
    let Some(auth) = req.headers.get(http::header::AUTHORIZATION) else {
        return Err(reject(
            "MissingAuthenticationToken",
            "the request is not signed; the local cloud accepts only requests signed with its credentials (see `ebb local env`)",
        ));
    };
    let auth = parse_auth(auth.to_str().unwrap_or_default())?;
    if auth.access_key != creds.access_key_id {
        return Err(reject(
            "InvalidClientTokenId",
            format!(
                "the access key `{}` is not this local cloud's; use the keys `ebb local env` prints",
                auth.access_key
            ),
        ));
    }
    let sent = req
        .headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| reject("IncompleteSignature", "the x-amz-date header is missing"))?;
    let at = parse_amz_date(sent).ok_or_else(|| {
        reject(
            "IncompleteSignature",
            format!("the x-amz-date `{sent}` is not of the form YYYYMMDDTHHMMSSZ"),
        )
    })?;
    if !sent.starts_with(auth.date) {
        return Err(reject(
            "SignatureDoesNotMatch",
            format!(
                "the credential scope's date {} is not the day of x-amz-date {sent}",
                auth.date
            ),
        ));
    }
    check_skew(sent, at, now, auth.service)?;
    let payload_hash = payload_hash(req)?;
    let canonical_request = canonical_request(req, &auth, &payload_hash);
    let scope = format!(
        "{}/{}/{}/aws4_request",
        auth.date, auth.region, auth.service
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{sent}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let key = v4::generate_signing_key(
        &creds.secret_access_key,
        at.into(),
        auth.region,
        auth.service,
    );
    let expected = v4::calculate_signature(key, string_to_sign.as_bytes());
    if !same_signature(&expected, auth.signature) {
        tracing::debug!(%canonical_request, "signature mismatch");
        return Err(reject(
            "SignatureDoesNotMatch",
            "the request signature does not match; check the secret access key",
        ));
    }
    Ok(auth.service.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_is_sorted_and_encoded_like_sigv4() {
        assert_eq!(
            canonical_query(Some("b=2&a=x y&list-type=2&prefix=a%2Fb")),
            "a=x%20y&b=2&list-type=2&prefix=a%2Fb"
        );
        assert_eq!(canonical_query(None), "");
    }

    #[test]
    fn unsigned_and_foreign_keys_are_refused() {
        let creds = Credentials::generate();
        let headers = HeaderMap::new();
        let req = SignedRequest {
            method: "POST",
            raw_path: "/",
            raw_query: None,
            headers: &headers,
            body: b"",
        };
        assert_eq!(
            verify(&req, &creds, SystemTime::now()).unwrap_err().code,
            "MissingAuthenticationToken"
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            "AWS4-HMAC-SHA256 Credential=AKIAOTHER/20260101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=00"
                .parse()
                .unwrap(),
        );
        let req = SignedRequest {
            headers: &headers,
            ..req
        };
        assert_eq!(
            verify(&req, &creds, SystemTime::now()).unwrap_err().code,
            "InvalidClientTokenId"
        );
    }

    const STS_BODY: &[u8] = b"Action=GetCallerIdentity&Version=2011-06-15";

    /// A request to `service` signed by the AWS SDK's signer at `at`, its body `body`;
    /// with `hash_header`, it also sends (and signs) `x-amz-content-sha256`.
    fn signed(
        creds: &Credentials,
        service: &str,
        at: SystemTime,
        body: &[u8],
        hash_header: bool,
    ) -> http::Request<Vec<u8>> {
        use aws_sigv4::http_request::{
            PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign,
        };
        let mut request = http::Request::post("http://127.0.0.1:4566/")
            .header("host", "127.0.0.1:4566")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_vec())
            .unwrap();
        let identity = aws_credential_types::Credentials::new(
            &creds.access_key_id,
            &creds.secret_access_key,
            None,
            None,
            "test",
        )
        .into();
        let mut settings = SigningSettings::default();
        if hash_header {
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        }
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(crate::REGION)
            .name(service)
            .time(at)
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let headers = request
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_str().unwrap()));
        let signable = SignableRequest::new(
            "POST",
            "http://127.0.0.1:4566/",
            headers,
            SignableBody::Bytes(body),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        instructions.apply_to_request_http1x(&mut request);
        request
    }

    fn check(request: &http::Request<Vec<u8>>, creds: &Credentials) -> Result<String, Rejection> {
        let req = SignedRequest {
            method: request.method().as_str(),
            raw_path: request.uri().path(),
            raw_query: request.uri().query(),
            headers: request.headers(),
            body: request.body(),
        };
        verify(&req, creds, SystemTime::now())
    }

    #[test]
    fn a_request_the_sdk_signer_signed_passes() {
        let creds = Credentials::generate();
        for hash_header in [false, true] {
            let request = signed(&creds, "sts", SystemTime::now(), STS_BODY, hash_header);
            assert_eq!(check(&request, &creds).unwrap(), "sts");
        }
    }

    #[test]
    fn a_body_swapped_after_signing_is_refused() {
        let creds = Credentials::generate();
        let swapped = b"Action=GetCallerIdentity&Version=2011-06-16".to_vec();
        let mut request = signed(&creds, "sagemaker", SystemTime::now(), STS_BODY, false);
        *request.body_mut() = swapped.clone();
        let refused = check(&request, &creds).unwrap_err();
        assert_eq!(refused.code, "SignatureDoesNotMatch", "{refused:?}");
        // The signed hash header of the old body does not make the new body pass.
        let mut request = signed(&creds, "sagemaker", SystemTime::now(), STS_BODY, true);
        *request.body_mut() = swapped;
        let refused = check(&request, &creds).unwrap_err();
        assert_eq!(refused.code, "XAmzContentSHA256Mismatch", "{refused:?}");
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn a_request_dated_20_minutes_off_is_refused() {
        let creds = Credentials::generate();
        let twenty = Duration::from_secs(20 * 60);
        let past = SystemTime::now() - twenty;
        let refused = check(&signed(&creds, "sagemaker", past, b"{}", false), &creds).unwrap_err();
        assert_eq!(refused.code, "InvalidSignatureException", "{refused:?}");
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        let sent = amz_date(OffsetDateTime::from(past));
        assert!(
            refused
                .message
                .starts_with(&format!("Signature expired: {sent} is now earlier than")),
            "{refused:?}"
        );
        let refused = check(&signed(&creds, "sts", past, STS_BODY, false), &creds).unwrap_err();
        assert_eq!(refused.code, "SignatureDoesNotMatch", "{refused:?}");
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        let future = SystemTime::now() + twenty;
        let refused = check(&signed(&creds, "sts", future, STS_BODY, false), &creds).unwrap_err();
        assert!(
            refused.message.starts_with("Signature not yet current"),
            "{refused:?}"
        );
        // 14 minutes off is within AWS's window.
        let near = SystemTime::now() - Duration::from_secs(14 * 60);
        assert!(check(&signed(&creds, "sts", near, STS_BODY, false), &creds).is_ok());
    }

    #[test]
    fn amz_dates_round_trip() {
        let t = parse_amz_date("20260229T235960Z");
        assert!(t.is_none(), "2026 has no 29 February");
        let t = parse_amz_date("20240229T235959Z").unwrap();
        assert_eq!(amz_date(t), "20240229T235959Z");
        assert!(parse_amz_date("2024-02-29T23:59:59Z").is_none());
    }
}
