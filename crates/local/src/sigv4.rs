//! AWS Signature Version 4 verification for requests signed with the `Authorization` header.

use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};

use crate::Credentials;

/// Characters SigV4 leaves unencoded: A-Z a-z 0-9 - _ . ~
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
const UNRESERVED_AND_SLASH: &AsciiSet = &UNRESERVED.remove(b'/');

/// Why a request was refused; `code` is the AWS error code clients expect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: &'static str,
    pub message: String,
}

fn reject(code: &'static str, message: impl Into<String>) -> Rejection {
    Rejection {
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

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
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

/// Checks the signature; returns the signing service name (`s3`, `sts`, `sagemaker`, ...).
pub fn verify(req: &SignedRequest<'_>, creds: &Credentials) -> Result<String, Rejection> {
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
    let amz_date = req
        .headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| reject("IncompleteSignature", "the x-amz-date header is missing"))?;
    let payload_hash = match req
        .headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
    {
        Some(h) => h.to_string(),
        None => hex::encode(Sha256::digest(req.body)),
    };
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
    let canonical_request = format!(
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
    );
    let scope = format!(
        "{}/{}/{}/aws4_request",
        auth.date, auth.region, auth.service
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let mut key = hmac(
        format!("AWS4{}", creds.secret_access_key).as_bytes(),
        auth.date.as_bytes(),
    );
    for part in [auth.region, auth.service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let expected = hex::encode(hmac(&key, string_to_sign.as_bytes()));
    if expected != auth.signature {
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
            verify(&req, &creds).unwrap_err().code,
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
            verify(&req, &creds).unwrap_err().code,
            "InvalidClientTokenId"
        );
    }
}
