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
}
