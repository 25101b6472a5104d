//! The user's bucket is the user's: every S3 call on the job bucket and on an endpoint's
//! output and failure buckets names the caller's account as the expected owner
//! (`ExpectedBucketOwner`), so a bucket of the same name in another account, which anyone
//! can create where the user never did, is refused rather than written to or read from. See
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-owner-condition.html>.

use aws_sdk_s3::error::SdkError;
use aws_smithy_runtime_api::http::Response;

use crate::aws_errors::{self, Context};
use crate::cloud::Clients;
use crate::error::Error;

/// The caller's account (cached per connection), or the engine error when STS cannot say.
pub async fn account(clients: &Clients, ctx: Context<'_>) -> Result<String, Error> {
    let action = "sts:GetCallerIdentity";
    clients
        .account()
        .await
        .map_err(|e| aws_errors::failed(&e, ctx, action))
}

/// The error for an S3 call on `bucket` that failed: [`Error::BucketNotYours`] when the
/// bucket is another account's, else AWS's refusal explained for `action`.
pub async fn refusal<E>(
    s3: &aws_sdk_s3::Client,
    (bucket, account): (&str, &str),
    err: &SdkError<E, Response>,
    ctx: Context<'_>,
    action: &str,
) -> Error
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    if is_forbidden(err) && another_account(s3, bucket, account).await {
        return not_yours(bucket, account);
    }
    aws_errors::failed(err, ctx, action)
}

/// Whether a call was refused with HTTP 403, which is how S3 answers a bucket owner condition
/// that does not hold (and also a permission the identity lacks).
pub fn is_forbidden<E>(err: &SdkError<E, Response>) -> bool {
    err.raw_response()
        .is_some_and(|r| r.status().as_u16() == 403)
}

/// The bucket of an `s3://bucket/key` URI (`None` for anything else).
pub fn bucket_of(uri: &str) -> Option<&str> {
    let rest = uri.strip_prefix("s3://")?;
    let bucket = rest.split('/').next()?;
    (!bucket.is_empty()).then_some(bucket)
}

/// After a 403 on a call that named `account` as the owner of `bucket`: whether the bucket
/// belongs to another account. S3 answers the same 403 to a missing permission, so this asks
/// twice: HeadBucket with the condition refused and without it answered means the owner is
/// the difference (both need the same permission, s3:ListBucket). A stranger's bucket that
/// refuses both stays an access refusal.
pub async fn another_account(s3: &aws_sdk_s3::Client, bucket: &str, account: &str) -> bool {
    if account.is_empty() {
        return false;
    }
    let with = s3
        .head_bucket()
        .bucket(bucket)
        .expected_bucket_owner(account)
        .send()
        .await;
    match with {
        Err(e) if is_forbidden(&e) => s3.head_bucket().bucket(bucket).send().await.is_ok(),
        _ => false,
    }
}

/// The `ExpectedBucketOwner` to send: the account, when one is known.
pub fn expected(account: &str) -> Option<String> {
    (!account.is_empty()).then(|| account.to_string())
}

/// The error for `bucket`, found to belong to another account than `account`.
pub fn not_yours(bucket: &str, account: &str) -> Error {
    Error::BucketNotYours {
        bucket: bucket.to_string(),
        account: account.to_string(),
    }
}

/// Refuses `bucket` when it belongs to another account than `account`; any other answer
/// (the user's bucket, a missing one, no permission to ask) is left to the calls that follow,
/// which report it in their own words.
pub async fn ensure_owned(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    account: &str,
) -> Result<(), Error> {
    if another_account(s3, bucket, account).await {
        return Err(not_yours(bucket, account));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_of_an_s3_uri() {
        assert_eq!(bucket_of("s3://b-1/out/x.out"), Some("b-1"));
        assert_eq!(bucket_of("s3://b-1"), Some("b-1"));
        assert_eq!(bucket_of("s3:///x"), None);
        assert_eq!(bucket_of("https://b-1.s3.amazonaws.com/x"), None);
    }

    #[test]
    fn the_sentence_names_the_bucket_and_the_account() {
        let said = not_yours("sagemaker-us-east-1-000000000000", "123456789012").to_string();
        assert_eq!(
            said,
            "the bucket s3://sagemaker-us-east-1-000000000000 belongs to another AWS account, not yours (123456789012): choose a bucket you own in Settings"
        );
    }
}
