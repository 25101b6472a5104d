//! `s3://bucket/key` locations as SageMaker takes and returns them.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Uri {
    pub bucket: String,
    pub key: String,
}

impl S3Uri {
    pub fn parse(uri: &str) -> Option<S3Uri> {
        let rest = uri.strip_prefix("s3://")?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        crate::s3::store::valid_bucket_name(bucket).then(|| S3Uri {
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }

    /// An InvokeEndpointAsync `InputLocation`: `s3://bucket/key`, or an object URL of S3 in
    /// virtual-hosted style (`https://bucket.s3.region.amazonaws.com/key`) or path style
    /// (`https://s3.region.amazonaws.com/bucket/key`), whose key is percent-decoded. The
    /// service model allows `^(https|s3)://([^/]+)/?(.*)$` (SageMaker Runtime API reference,
    /// InvokeEndpointAsync); `None` when no bucket can be read from it.
    pub fn from_input_location(location: &str) -> Option<S3Uri> {
        if location.starts_with("s3://") {
            return S3Uri::parse(location);
        }
        let rest = location.strip_prefix("https://")?;
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let host = host.to_ascii_lowercase();
        let host = host.strip_suffix(".amazonaws.com")?;
        let (bucket, key) = if is_s3_host(host) {
            path.split_once('/').unwrap_or((path, ""))
        } else {
            let (bucket, service) = host.split_once(".s3")?;
            let service = format!("s3{service}");
            if !is_s3_host(&service) {
                return None;
            }
            // The bucket is part of the host, which is case-insensitive.
            return S3Uri::with_key(bucket, path);
        };
        S3Uri::with_key(bucket, key)
    }

    fn with_key(bucket: &str, encoded_key: &str) -> Option<S3Uri> {
        let key = percent_encoding::percent_decode_str(encoded_key)
            .decode_utf8()
            .ok()?
            .into_owned();
        crate::s3::store::valid_bucket_name(bucket).then(|| S3Uri {
            bucket: bucket.to_string(),
            key,
        })
    }

    /// This location with `name` appended as a path segment.
    pub fn join(&self, name: &str) -> S3Uri {
        let key = match self.key.trim_end_matches('/') {
            "" => name.to_string(),
            base => format!("{base}/{name}"),
        };
        S3Uri {
            bucket: self.bucket.clone(),
            key,
        }
    }
}

/// `s3`, `s3.<region>`, `s3-<region>` or `s3.dualstack.<region>`: S3's own host names (before
/// `.amazonaws.com`).
fn is_s3_host(host: &str) -> bool {
    let region_ok =
        |r: &str| !r.is_empty() && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    match host.strip_prefix("s3") {
        Some("") => true,
        Some(rest) => match rest.strip_prefix('.') {
            Some(r) => region_ok(r.strip_prefix("dualstack.").unwrap_or(r)),
            None => rest.strip_prefix('-').is_some_and(region_ok),
        },
        None => false,
    }
}

impl std::fmt::Display for S3Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_joins() {
        let u = S3Uri::parse("s3://b-1/async-llm-output/output").unwrap();
        assert_eq!(
            u.join("x.out").to_string(),
            "s3://b-1/async-llm-output/output/x.out"
        );
        assert_eq!(S3Uri::parse("s3://b-1").unwrap().join("y").key, "y");
        assert!(S3Uri::parse("https://b-1/x").is_none());
        assert!(S3Uri::parse("s3://Bad_Bucket/x").is_none());
    }

    #[test]
    fn input_locations_may_be_object_urls() {
        let want = S3Uri {
            bucket: "my-bucket".into(),
            key: "in/a b.json".into(),
        };
        for url in [
            "s3://my-bucket/in/a b.json",
            "https://my-bucket.s3.us-east-1.amazonaws.com/in/a%20b.json",
            "https://my-bucket.s3.amazonaws.com/in/a%20b.json",
            "https://my-bucket.s3-us-west-2.amazonaws.com/in/a%20b.json",
            "https://s3.us-east-1.amazonaws.com/my-bucket/in/a%20b.json",
            "https://s3.amazonaws.com/my-bucket/in/a%20b.json",
        ] {
            assert_eq!(
                S3Uri::from_input_location(url).as_ref(),
                Some(&want),
                "{url}"
            );
        }
        for bad in [
            "http://my-bucket.s3.amazonaws.com/x",
            "https://example.com/my-bucket/x",
            "https://my-bucket.ec2.amazonaws.com/x",
            "https://s3.us-east-1.amazonaws.com/",
        ] {
            assert_eq!(S3Uri::from_input_location(bad), None, "{bad}");
        }
    }
}
