//! Validation of settings values, with messages that say what is wrong and how to fix it.

use serde::Serialize;

use crate::regions;
use crate::settings::{SettingKey, Settings};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct FieldError {
    pub key: SettingKey,
    pub message: String,
}

impl FieldError {
    pub fn new(key: SettingKey, message: impl Into<String>) -> Self {
        FieldError {
            key,
            message: message.into(),
        }
    }
}

/// Every problem in `s`, one per key at most, in key order.
pub fn settings(s: &Settings) -> Vec<FieldError> {
    let checks: [(SettingKey, Option<String>); 6] = [
        (
            SettingKey::Profile,
            s.profile.as_deref().and_then(profile_name),
        ),
        (SettingKey::Region, s.region.as_deref().and_then(region)),
        (
            SettingKey::EndpointUrl,
            s.endpoint_url.as_deref().and_then(endpoint_url),
        ),
        (
            SettingKey::RoleArn,
            s.role_arn.as_deref().and_then(role_arn),
        ),
        (SettingKey::Bucket, s.bucket.as_deref().and_then(bucket)),
        (SettingKey::Prefix, prefix(&s.prefix)),
    ];
    checks
        .into_iter()
        .filter_map(|(key, msg)| msg.map(|m| FieldError::new(key, m)))
        .collect()
}

fn profile_name(p: &str) -> Option<String> {
    if p.chars().any(|c| c.is_whitespace() || c == '[' || c == ']') {
        return Some(format!(
            "`{p}` is not a profile name: names cannot contain spaces or brackets"
        ));
    }
    None
}

pub fn region(r: &str) -> Option<String> {
    if regions::is_known(r) {
        return None;
    }
    Some(match regions::closest(r) {
        Some(near) => format!("`{r}` is not an AWS region; did you mean `{near}`?"),
        None => {
            format!("`{r}` is not an AWS region; use a code such as `us-east-1` or `eu-west-1`")
        }
    })
}

pub fn endpoint_url(u: &str) -> Option<String> {
    match url::Url::parse(u) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.has_host() => {
            (parsed.query().is_some() || parsed.fragment().is_some())
                .then(|| format!("`{u}` has a query or fragment; give just scheme, host and port"))
        }
        Ok(_) => Some(format!(
            "`{u}` is not an http(s) URL; write it like `http://127.0.0.1:5000`"
        )),
        Err(e) => Some(format!(
            "`{u}` is not a URL ({e}); write it like `https://sagemaker.example.com` or `http://127.0.0.1:5000`"
        )),
    }
}

/// `arn:<partition>:iam::<12-digit account>:role/<optional path/>name`.
pub fn role_arn(arn: &str) -> Option<String> {
    const SHAPE: &str = "a role ARN looks like `arn:aws:iam::123456789012:role/SageMakerExecutionRole` (IAM console → Roles → the role → ARN)";
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [scheme, partition, service, region, account, resource] = parts.as_slice() else {
        return Some(format!("`{arn}` is not an ARN: {SHAPE}"));
    };
    if *scheme != "arn" || !matches!(*partition, "aws" | "aws-cn" | "aws-us-gov") {
        return Some(format!("`{arn}` is not an ARN: {SHAPE}"));
    }
    if *service != "iam" || !region.is_empty() {
        return Some(format!("`{arn}` is not an IAM ARN: {SHAPE}"));
    }
    if account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) {
        return Some(format!(
            "the account id `{account}` must be 12 digits: {SHAPE}"
        ));
    }
    let Some(name_path) = resource.strip_prefix("role/") else {
        return Some(format!(
            "`{resource}` is not a role (the ARN must contain `:role/`; a user or policy ARN will not work): {SHAPE}"
        ));
    };
    let name = name_path.rsplit('/').next().unwrap_or_default();
    let allowed = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c);
    if name.is_empty() || name.len() > 64 || !name.chars().all(allowed) {
        return Some(format!(
            "the role name `{name}` must be 1-64 letters, digits or + = , . @ _ -"
        ));
    }
    None
}

/// S3 general purpose bucket naming rules.
pub fn bucket(b: &str) -> Option<String> {
    let rules = "see the S3 bucket naming rules";
    if let Some(rest) = b.strip_prefix("s3://") {
        let name = rest.split('/').next().unwrap_or_default();
        return Some(format!(
            "`{b}` is an S3 URI: write only the bucket name, e.g. `{name}` (the `prefix` setting holds the folder)"
        ));
    }
    if b.len() < 3 || b.len() > 63 {
        return Some(format!(
            "`{b}` has {} characters; bucket names must be 3 to 63 characters long",
            b.len()
        ));
    }
    if let Some(c) = b
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-'))
    {
        let hint = if c.is_ascii_uppercase() {
            format!("; try `{}`", b.to_ascii_lowercase().replace('_', "-"))
        } else if c == '_' {
            format!("; try `{}`", b.replace('_', "-"))
        } else {
            String::new()
        };
        return Some(format!(
            "`{c}` is not allowed: bucket names may contain only lowercase letters, digits, dots (.) and hyphens (-){hint}"
        ));
    }
    let first = b.chars().next().unwrap_or('-');
    let last = b.chars().last().unwrap_or('-');
    if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
        return Some(format!(
            "`{b}`: bucket names must begin and end with a letter or digit"
        ));
    }
    if b.contains("..") {
        return Some(format!(
            "`{b}`: bucket names must not contain two adjacent dots"
        ));
    }
    if b.split('.').count() == 4 && b.split('.').all(|p| p.parse::<u8>().is_ok()) {
        return Some(format!(
            "`{b}`: bucket names must not look like an IP address"
        ));
    }
    for p in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if b.starts_with(p) {
            return Some(format!(
                "`{b}`: bucket names must not start with `{p}` (reserved by S3; {rules})"
            ));
        }
    }
    for s in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if b.ends_with(s) {
            return Some(format!(
                "`{b}`: bucket names must not end with `{s}` (reserved by S3; {rules})"
            ));
        }
    }
    None
}

/// The key prefix under which Ebb keeps its objects.
pub fn prefix(p: &str) -> Option<String> {
    if p.is_empty() {
        return Some("the prefix cannot be empty; the default is `async-llm-output`".into());
    }
    if p.starts_with('/') || p.ends_with('/') {
        return Some(format!(
            "`{p}`: write the prefix without a leading or trailing `/`, e.g. `async-llm-output`"
        ));
    }
    if p.len() > 512 {
        return Some("the prefix is longer than 512 characters".into());
    }
    if p.split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return Some(format!(
            "`{p}`: the prefix must not contain empty, `.` or `..` path segments"
        ));
    }
    if let Some(c) = p
        .chars()
        .find(|c| c.is_control() || "\\{}^%`[]\"<>~#|".contains(*c))
    {
        return Some(format!(
            "`{p}` contains `{}`, which S3 tools handle badly; use letters, digits, `-`, `_`, `.` and `/`",
            c.escape_default()
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_rules() {
        for ok in ["sagemaker-us-east-1-123456789012", "abc", "my.bucket-1"] {
            assert_eq!(bucket(ok), None, "{ok}");
        }
        let cases = [
            ("Bad_Bucket", "lowercase letters"),
            ("ab", "3 to 63"),
            ("-abc", "begin and end"),
            ("a..b", "adjacent dots"),
            ("192.168.1.10", "IP address"),
            ("xn--abc", "must not start"),
            ("abc-s3alias", "must not end"),
            ("s3://abc/path", "only the bucket name, e.g. `abc`"),
        ];
        for (bad, expect) in cases {
            let msg = bucket(bad).unwrap_or_default();
            assert!(msg.contains(expect), "{bad}: {msg}");
        }
        assert!(bucket("My_Bucket").unwrap().contains("try `my-bucket`"));
    }

    #[test]
    fn role_arn_rules() {
        assert_eq!(
            role_arn("arn:aws:iam::123456789012:role/SageMakerRole"),
            None
        );
        assert_eq!(
            role_arn(
                "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole-20240101T000000"
            ),
            None
        );
        let cases = [
            ("SageMakerRole", "not an ARN"),
            ("arn:aws:iam::1234:role/x", "12 digits"),
            ("arn:aws:iam::123456789012:user/bob", "not a role"),
            ("arn:aws:s3:::bucket/role/x", "not an IAM ARN"),
            ("arn:aws:iam::123456789012:role/", "role name"),
        ];
        for (bad, expect) in cases {
            let msg = role_arn(bad).unwrap_or_default();
            assert!(msg.contains(expect), "{bad}: {msg}");
        }
    }

    #[test]
    fn region_endpoint_and_prefix_rules() {
        assert_eq!(region("eu-west-1"), None);
        assert!(
            region("us-east1")
                .unwrap()
                .contains("did you mean `us-east-1`")
        );
        assert_eq!(endpoint_url("http://127.0.0.1:5000"), None);
        assert!(endpoint_url("127.0.0.1:5000").is_some());
        assert!(endpoint_url("ftp://x").unwrap().contains("http(s)"));
        assert_eq!(prefix("async-llm-output"), None);
        assert!(prefix("/out/").unwrap().contains("leading or trailing"));
        assert!(prefix("a/../b").unwrap().contains("`..`"));
    }

    #[test]
    fn settings_collects_every_problem() {
        let s = Settings {
            region: Some("moon-1".into()),
            bucket: Some("UPPER".into()),
            role_arn: Some("nope".into()),
            ..Settings::default()
        };
        let keys: Vec<_> = settings(&s).into_iter().map(|e| e.key).collect();
        assert_eq!(
            keys,
            vec![SettingKey::Region, SettingKey::RoleArn, SettingKey::Bucket]
        );
    }
}
