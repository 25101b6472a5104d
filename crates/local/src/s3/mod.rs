//! S3 on `s3s`: the wire protocol (XML, SigV4, chunked uploads) is s3s's; storage is ours.

mod listing;
pub mod store;
mod wire;

use std::sync::Arc;

use futures::StreamExt;
use s3s::dto::*;
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use listing::{
    NULL_VERSION, UploadsQuery, common_prefixes, encode_page, multipart_entry, object_version,
    uploads_page,
};
use store::{ListQuery, ObjectMeta, PutOptions, Store, StoreError};
use wire::{KeyEncoding, ReadConditions};

/// The account a signed S3 request acts as, put in the request's extensions by
/// [`BucketOwners`] for the handlers (CreateBucket, ListBuckets).
#[derive(Debug, Clone)]
struct CallerAccount(String);

/// The account of the request's signer (the local account when none was recorded).
fn caller_account(extensions: &http::Extensions) -> String {
    extensions
        .get::<CallerAccount>()
        .map_or_else(|| crate::ACCOUNT_ID.to_string(), |a| a.0.clone())
}

/// S3's access check, after s3s verified the signature: records which account the key acts
/// as, and holds the bucket owner condition. A request carrying `x-amz-expected-bucket-owner`
/// on a bucket another account owns is refused with 403 AccessDenied, as S3 does
/// (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-owner-condition.html>).
/// Without that header a bucket of another account is open to every local key, as a
/// stranger's bucket with a public policy is: the condition is what tells them apart.
pub struct BucketOwners {
    pub store: Arc<Store>,
    pub sessions: Arc<crate::sessions::Sessions>,
}

#[async_trait::async_trait]
impl s3s::access::S3Access for BucketOwners {
    async fn check(&self, cx: &mut s3s::access::S3AccessContext<'_>) -> S3Result<()> {
        let Some(credentials) = cx.credentials() else {
            return Err(s3s::s3_error!(AccessDenied, "Signature is required"));
        };
        let account = self.sessions.account(&credentials.access_key);
        let bucket = match cx.s3_path() {
            s3s::path::S3Path::Root => None,
            s3s::path::S3Path::Bucket { bucket } | s3s::path::S3Path::Object { bucket, .. } => {
                Some(bucket.to_string())
            }
        };
        let expected = cx
            .headers()
            .get("x-amz-expected-bucket-owner")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        cx.extensions_mut().insert(CallerAccount(account));
        let (Some(bucket), Some(expected)) = (bucket, expected) else {
            return Ok(());
        };
        // An unknown bucket is left to the operation, which answers NoSuchBucket.
        match self.store.bucket_owner(&bucket).map_err(s3_err)? {
            Some(owner) if owner != expected => {
                tracing::info!(bucket, owner, expected, "refused: bucket owner condition");
                Err(s3s::s3_error!(AccessDenied, "Access Denied"))
            }
            _ => Ok(()),
        }
    }
}

/// The s3s trait implementation over [`Store`].
pub struct LocalS3 {
    store: Arc<Store>,
}

/// One page of a listing in S3's types: objects, common prefixes, resume token.
struct Page {
    contents: Vec<Object>,
    common_prefixes: Vec<CommonPrefix>,
    next_token: Option<String>,
    /// The last key or prefix on the page (ListObjects v1's `NextMarker`).
    last: Option<String>,
}

impl LocalS3 {
    pub fn new(store: Arc<Store>) -> LocalS3 {
        LocalS3 { store }
    }

    fn page(&self, bucket: &str, query: &ListQuery<'_>) -> S3Result<Page> {
        let listing = self.store.list(bucket, query).map_err(s3_err)?;
        let last_key = listing.objects.last().map(|o| o.key.clone());
        let last = last_key.max(listing.common_prefixes.last().cloned());
        Ok(Page {
            contents: listing.objects.iter().map(object_entry).collect(),
            common_prefixes: listing
                .common_prefixes
                .into_iter()
                .map(|p| CommonPrefix { prefix: Some(p) })
                .collect(),
            next_token: listing.next_token,
            last,
        })
    }
}

fn s3_err(e: StoreError) -> S3Error {
    let code = match &e {
        StoreError::NoSuchBucket(_) => S3ErrorCode::NoSuchBucket,
        StoreError::NoSuchKey(_) => S3ErrorCode::NoSuchKey,
        StoreError::BucketExists(_) => S3ErrorCode::BucketAlreadyOwnedByYou,
        StoreError::BucketNotEmpty(_) => S3ErrorCode::BucketNotEmpty,
        StoreError::InvalidBucketName(_) => S3ErrorCode::InvalidBucketName,
        StoreError::NoSuchUpload(_) => S3ErrorCode::NoSuchUpload,
        StoreError::InvalidPart(_) => S3ErrorCode::InvalidPart,
        StoreError::InvalidPartOrder => S3ErrorCode::InvalidPartOrder,
        StoreError::Body(_) => S3ErrorCode::IncompleteBody,
        StoreError::EntityTooSmall(_) => S3ErrorCode::EntityTooSmall,
        StoreError::PreconditionFailed => S3ErrorCode::PreconditionFailed,
        StoreError::InvalidToken => S3ErrorCode::InvalidArgument,
        StoreError::Io(_) | StoreError::Unreadable { .. } => S3ErrorCode::InternalError,
    };
    if matches!(e, StoreError::Io(_) | StoreError::Unreadable { .. }) {
        tracing::error!("local S3 storage error: {e}");
    }
    S3Error::with_message(code, e.to_string())
}

fn etag(meta: &ObjectMeta) -> ETag {
    ETag::Strong(meta.etag.clone())
}

fn put_options(content_type: Option<String>, metadata: Option<Metadata>) -> PutOptions {
    PutOptions {
        content_type,
        metadata: metadata.unwrap_or_default().into_iter().collect(),
        ..Default::default()
    }
}

/// The object's owner: the local account.
fn owner() -> Owner {
    account_owner(crate::ACCOUNT_ID)
}

fn account_owner(account: &str) -> Owner {
    Owner {
        display_name: Some("ebb-local".into()),
        id: Some(account.into()),
    }
}

fn object_entry(meta: &ObjectMeta) -> Object {
    Object {
        key: Some(meta.key.clone()),
        size: Some(meta.size as i64),
        e_tag: Some(etag(meta)),
        last_modified: Some(meta.last_modified().into()),
        storage_class: Some(ObjectStorageClass::from_static(
            ObjectStorageClass::STANDARD,
        )),
        ..Default::default()
    }
}

fn max_keys(requested: Option<i32>) -> usize {
    requested.map_or(1000, |n| n.clamp(0, 1000) as usize)
}

/// S3 sends `Delimiter` back only when one was given: an empty one is no delimiter.
fn delimiter(requested: Option<String>) -> Option<String> {
    requested.filter(|d| !d.is_empty())
}

/// What every listing is asked alike: a prefix, a delimiter, a page size and a key encoding.
struct ListArgs {
    prefix: String,
    delimiter: Option<String>,
    max: usize,
    enc: KeyEncoding,
}

impl ListArgs {
    /// Reads a listing's common parameters; an `EncodingType` other than `url` is refused.
    fn new(
        prefix: Option<String>,
        delimiter: Option<String>,
        max: Option<i32>,
        encoding: Option<&EncodingType>,
    ) -> S3Result<Self> {
        Ok(Self {
            prefix: prefix.unwrap_or_default(),
            delimiter: self::delimiter(delimiter),
            max: max_keys(max),
            enc: KeyEncoding::new(encoding)?,
        })
    }

    /// The store's query for the page after `start_after`, or at `continuation`.
    fn query<'a>(
        &'a self,
        start_after: Option<&'a str>,
        continuation: Option<&'a str>,
    ) -> ListQuery<'a> {
        ListQuery {
            prefix: &self.prefix,
            delimiter: self.delimiter.as_deref(),
            start_after,
            continuation,
            max_keys: self.max,
        }
    }
}

/// DeleteObjects takes at most this many keys
/// (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html>).
const MAX_DELETE_KEYS: usize = 1000;

/// Streams `range` of a file in chunks, so large objects are never held in memory.
fn file_stream(
    path: std::path::PathBuf,
    range: std::ops::Range<u64>,
) -> impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + Sync + 'static {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    const CHUNK: u64 = 256 * 1024;
    futures::stream::try_unfold(
        (None::<tokio::fs::File>, range.start, range.end),
        move |(file, pos, end)| {
            let path = path.clone();
            async move {
                if pos >= end {
                    return Ok(None);
                }
                let want = (end - pos).min(CHUNK) as usize;
                if file.is_none() && pos + want as u64 >= end {
                    // The whole (small) range at once, in place: one open and one read,
                    // without the runtime's file threads (a job's results are small).
                    use std::os::unix::fs::FileExt;
                    let mut buf = vec![0u8; want];
                    std::fs::File::open(&path)?.read_exact_at(&mut buf, pos)?;
                    return Ok(Some((bytes::Bytes::from(buf), (None, end, end))));
                }
                let mut file = match file {
                    Some(f) => f,
                    None => {
                        let mut f = tokio::fs::File::open(&path).await?;
                        f.seek(std::io::SeekFrom::Start(pos)).await?;
                        f
                    }
                };
                let mut buf = vec![0u8; want];
                file.read_exact(&mut buf).await?;
                Ok(Some((
                    bytes::Bytes::from(buf),
                    (Some(file), pos + want as u64, end),
                )))
            }
        },
    )
}

#[async_trait::async_trait]
impl S3 for LocalS3 {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let owner = caller_account(&req.extensions);
        match self.store.create_bucket(&req.input.bucket, &owner) {
            // The name is taken by another account: S3's BucketAlreadyExists.
            Err(StoreError::BucketExists(_))
                if self.store.bucket_owner(&req.input.bucket).map_err(s3_err)? != Some(owner) =>
            {
                return Err(s3s::s3_error!(BucketAlreadyExists));
            }
            result => result.map_err(s3_err)?,
        }
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{}", req.input.bucket)),
        }))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        if !self.store.has_bucket(&req.input.bucket).map_err(s3_err)? {
            return Err(s3_err(StoreError::NoSuchBucket(req.input.bucket)));
        }
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(crate::REGION.to_string()),
            ..Default::default()
        }))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        if !self.store.has_bucket(&req.input.bucket).map_err(s3_err)? {
            return Err(s3_err(StoreError::NoSuchBucket(req.input.bucket)));
        }
        // us-east-1 buckets report an empty location constraint, as in S3.
        Ok(S3Response::new(GetBucketLocationOutput::default()))
    }

    /// ListBuckets pages by `MaxBuckets` and `ContinuationToken`, and filters by `Prefix`
    /// (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListBuckets.html>).
    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let account = caller_account(&req.extensions);
        let input = req.input;
        let max = input
            .max_buckets
            .map_or(10_000, |n| n.clamp(1, 10_000) as usize);
        let prefix = input.prefix.clone().unwrap_or_default();
        // The token is the hex of the last bucket name returned.
        let after = input
            .continuation_token
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(store::decode_token)
            .transpose()
            .map_err(s3_err)?;
        let mut names = self
            .store
            .list_buckets(&account)
            .map_err(s3_err)?
            .into_iter()
            .filter(|(name, _)| name.starts_with(&prefix))
            .filter(|(name, _)| after.as_ref().is_none_or(|a| name > a));
        let buckets: Vec<Bucket> = names
            .by_ref()
            .take(max)
            .map(|(name, created)| Bucket {
                name: Some(name),
                creation_date: Some(created.into()),
                bucket_region: Some(crate::REGION.to_string()),
            })
            .collect();
        let more = names.next().is_some();
        let continuation_token = buckets
            .last()
            .and_then(|b| b.name.as_ref())
            .filter(|_| more)
            .map(hex::encode);
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(account_owner(&account)),
            continuation_token,
            prefix: input.prefix,
        }))
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.store
            .delete_bucket(&req.input.bucket)
            .map_err(s3_err)?;
        Ok(S3Response::new(DeleteBucketOutput::default()))
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let input = req.input;
        let mut options = put_options(input.content_type, input.metadata);
        options.headers = wire::content_headers(
            input.cache_control,
            input.content_disposition,
            input.content_encoding,
            input.content_language,
            input.expires,
        );
        options.condition =
            wire::write_condition(input.if_match.as_ref(), input.if_none_match.as_ref());
        let meta = match input.body {
            Some(body) => {
                self.store
                    .put_stream(&input.bucket, &input.key, body, options)
                    .await
            }
            None => {
                self.store
                    .put(&input.bucket, &input.key, bytes::Bytes::new(), options)
                    .await
            }
        }
        .map_err(s3_err)?;
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(etag(&meta)),
            ..Default::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        let (meta, path) = self
            .store
            .open_object(&input.bucket, &input.key)
            .map_err(s3_err)?;
        ReadConditions {
            if_match: input.if_match.as_ref(),
            if_none_match: input.if_none_match.as_ref(),
            if_modified_since: input.if_modified_since.as_ref(),
            if_unmodified_since: input.if_unmodified_since.as_ref(),
        }
        .check(&meta)?;
        let (range, content_range) = match input.range {
            None => (0..meta.size, None),
            Some(r) => {
                let range = r.check(meta.size).map_err(|_| {
                    S3Error::with_message(
                        S3ErrorCode::InvalidRange,
                        format!("the range is outside the object's {} bytes", meta.size),
                    )
                })?;
                let header = format!(
                    "bytes {}-{}/{}",
                    range.start,
                    range.end.saturating_sub(1),
                    meta.size
                );
                (range, Some(header))
            }
        };
        let length = range.end - range.start;
        Ok(S3Response::new(GetObjectOutput {
            body: Some(StreamingBlob::wrap(file_stream(path, range))),
            content_length: Some(length as i64),
            content_range,
            accept_ranges: Some("bytes".into()),
            content_type: input.response_content_type.or(meta.content_type.clone()),
            cache_control: input
                .response_cache_control
                .or(meta.headers.cache_control.clone()),
            content_disposition: input
                .response_content_disposition
                .or(meta.headers.content_disposition.clone()),
            content_encoding: input
                .response_content_encoding
                .or(meta.headers.content_encoding.clone()),
            content_language: input
                .response_content_language
                .or(meta.headers.content_language.clone()),
            expires: input.response_expires.or(wire::expires(&meta.headers)),
            e_tag: Some(etag(&meta)),
            last_modified: Some(meta.last_modified().into()),
            metadata: Some(meta.metadata.clone().into_iter().collect()),
            ..Default::default()
        }))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        let meta = self.store.head(&input.bucket, &input.key).map_err(s3_err)?;
        ReadConditions {
            if_match: input.if_match.as_ref(),
            if_none_match: input.if_none_match.as_ref(),
            if_modified_since: input.if_modified_since.as_ref(),
            if_unmodified_since: input.if_unmodified_since.as_ref(),
        }
        .check(&meta)?;
        Ok(S3Response::new(HeadObjectOutput {
            content_length: Some(meta.size as i64),
            content_type: meta.content_type.clone(),
            cache_control: meta.headers.cache_control.clone(),
            content_disposition: meta.headers.content_disposition.clone(),
            content_encoding: meta.headers.content_encoding.clone(),
            content_language: meta.headers.content_language.clone(),
            expires: wire::expires(&meta.headers),
            accept_ranges: Some("bytes".into()),
            e_tag: Some(etag(&meta)),
            last_modified: Some(meta.last_modified().into()),
            metadata: Some(meta.metadata.clone().into_iter().collect()),
            ..Default::default()
        }))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.store
            .delete(&req.input.bucket, &req.input.key)
            .map_err(s3_err)?;
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let input = req.input;
        if !self.store.has_bucket(&input.bucket).map_err(s3_err)? {
            return Err(s3_err(StoreError::NoSuchBucket(input.bucket)));
        }
        if input.delete.objects.len() > MAX_DELETE_KEYS {
            return Err(S3Error::with_message(
                S3ErrorCode::MalformedXML,
                format!("a DeleteObjects request takes at most {MAX_DELETE_KEYS} keys"),
            ));
        }
        let quiet = input.delete.quiet.unwrap_or(false);
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for object in input.delete.objects {
            match self.store.delete(&input.bucket, &object.key) {
                Ok(()) if !quiet => deleted.push(DeletedObject {
                    key: Some(object.key),
                    ..Default::default()
                }),
                Ok(()) => {}
                Err(e) => errors.push(Error {
                    code: Some("InternalError".into()),
                    message: Some(e.to_string()),
                    key: Some(object.key),
                    version_id: None,
                }),
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: (!errors.is_empty()).then_some(errors),
            ..Default::default()
        }))
    }

    /// ListObjectsV2 (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html>).
    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let args = ListArgs::new(
            input.prefix,
            input.delimiter,
            input.max_keys,
            input.encoding_type.as_ref(),
        )?;
        let query = args.query(
            input.start_after.as_deref(),
            input.continuation_token.as_deref(),
        );
        let mut page = self.page(&input.bucket, &query)?;
        let enc = args.enc;
        let key_count = (page.contents.len() + page.common_prefixes.len()) as i32;
        let fetch_owner = input.fetch_owner.unwrap_or(false);
        encode_page(&mut page, enc, fetch_owner);
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(enc.apply(args.prefix)),
            delimiter: enc.apply_opt(args.delimiter),
            max_keys: Some(args.max as i32),
            key_count: Some(key_count),
            continuation_token: input.continuation_token,
            start_after: enc.apply_opt(input.start_after),
            is_truncated: Some(page.next_token.is_some()),
            next_continuation_token: page.next_token,
            contents: Some(page.contents),
            common_prefixes: Some(page.common_prefixes),
            encoding_type: enc.echo(),
            ..Default::default()
        }))
    }

    /// ListObjects, version 1 (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjects.html>).
    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = req.input;
        let args = ListArgs::new(
            input.prefix,
            input.delimiter,
            input.max_keys,
            input.encoding_type.as_ref(),
        )?;
        let mut page = self.page(&input.bucket, &args.query(input.marker.as_deref(), None))?;
        let enc = args.enc;
        let truncated = page.next_token.is_some();
        // V1 clients page with the last key or prefix as the next marker.
        let next_marker = page.last.take().filter(|_| truncated);
        // Version 1 always lists its objects' owners.
        encode_page(&mut page, enc, true);
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket),
            // Version 1 sends the prefix back as given: clients (botocore) decode only the
            // delimiter, markers, keys and common prefixes of its answer.
            prefix: Some(args.prefix),
            delimiter: enc.apply_opt(args.delimiter),
            // The marker is always answered, empty when none was given.
            marker: Some(enc.apply(input.marker.unwrap_or_default())),
            max_keys: Some(args.max as i32),
            is_truncated: Some(truncated),
            next_marker: enc.apply_opt(next_marker),
            contents: Some(page.contents),
            common_prefixes: Some(page.common_prefixes),
            encoding_type: enc.echo(),
            ..Default::default()
        }))
    }

    /// On a bucket that was never versioned, S3 lists each object as its one version, with the
    /// version ID `null` (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectVersions.html>).
    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        let input = req.input;
        let args = ListArgs::new(
            input.prefix,
            input.delimiter,
            input.max_keys,
            input.encoding_type.as_ref(),
        )?;
        let listing = self
            .store
            .list(
                &input.bucket,
                &args.query(input.key_marker.as_deref(), None),
            )
            .map_err(s3_err)?;
        let enc = args.enc;
        let truncated = listing.next_token.is_some();
        let last_key = listing.objects.last().map(|o| o.key.clone());
        let next_key = last_key
            .max(listing.common_prefixes.last().cloned())
            .filter(|_| truncated);
        let versions = listing
            .objects
            .iter()
            .map(|meta| object_version(meta, enc))
            .collect();
        Ok(S3Response::new(ListObjectVersionsOutput {
            name: Some(input.bucket),
            prefix: Some(enc.apply(args.prefix)),
            delimiter: enc.apply_opt(args.delimiter),
            key_marker: Some(enc.apply(input.key_marker.unwrap_or_default())),
            version_id_marker: Some(input.version_id_marker.unwrap_or_default()),
            max_keys: Some(args.max as i32),
            is_truncated: Some(truncated),
            next_version_id_marker: next_key.as_ref().map(|_| NULL_VERSION.to_string()),
            next_key_marker: enc.apply_opt(next_key),
            versions: Some(versions),
            common_prefixes: Some(common_prefixes(listing.common_prefixes, enc)),
            encoding_type: enc.echo(),
            ..Default::default()
        }))
    }

    /// ListMultipartUploads (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListMultipartUploads.html>).
    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        let ListArgs {
            prefix,
            delimiter,
            max,
            enc,
        } = ListArgs::new(
            input.prefix,
            input.delimiter,
            input.max_uploads,
            input.encoding_type.as_ref(),
        )?;
        let all = self.store.list_uploads(&input.bucket).map_err(s3_err)?;
        let page = uploads_page(
            &all,
            &UploadsQuery {
                prefix: &prefix,
                delimiter: delimiter.as_deref(),
                key_marker: input.key_marker.as_deref(),
                upload_id_marker: input.upload_id_marker.as_deref(),
                max,
            },
        );
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: Some(enc.apply(prefix)),
            delimiter: enc.apply_opt(delimiter),
            key_marker: Some(enc.apply(input.key_marker.unwrap_or_default())),
            upload_id_marker: Some(input.upload_id_marker.unwrap_or_default()),
            max_uploads: Some(max as i32),
            is_truncated: Some(page.next.is_some()),
            next_key_marker: enc.apply_opt(page.next.as_ref().map(|n| n.0.clone())),
            next_upload_id_marker: page.next.map(|n| n.1),
            uploads: Some(
                page.uploads
                    .into_iter()
                    .map(|u| multipart_entry(u, enc))
                    .collect(),
            ),
            common_prefixes: Some(common_prefixes(page.common_prefixes, enc)),
            encoding_type: enc.echo(),
            ..Default::default()
        }))
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        let id = self
            .store
            .create_upload(
                &input.bucket,
                &input.key,
                PutOptions {
                    headers: wire::content_headers(
                        input.cache_control,
                        input.content_disposition,
                        input.content_encoding,
                        input.content_language,
                        input.expires,
                    ),
                    ..put_options(input.content_type, input.metadata)
                },
            )
            .map_err(s3_err)?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(id),
            ..Default::default()
        }))
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let input = req.input;
        let body = input
            .body
            .map(|b| b.boxed())
            .unwrap_or_else(|| futures::stream::empty().boxed());
        let etag = self
            .store
            .put_part(
                &input.bucket,
                &input.key,
                &input.upload_id,
                input.part_number,
                body,
            )
            .await
            .map_err(s3_err)?;
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(ETag::Strong(etag)),
            ..Default::default()
        }))
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = req.input;
        let parts: Vec<(i32, Option<String>)> = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default()
            .into_iter()
            .map(|p| {
                (
                    p.part_number.unwrap_or(0),
                    p.e_tag.map(|e| e.value().to_string()),
                )
            })
            .collect();
        let meta = self
            .store
            .complete_upload(&input.bucket, &input.key, &input.upload_id, &parts)
            .await
            .map_err(s3_err)?;
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            e_tag: Some(etag(&meta)),
            location: Some(format!("/{}/{}", input.bucket, input.key)),
            ..Default::default()
        }))
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        self.store
            .abort_upload(&input.bucket, &input.key, &input.upload_id)
            .map_err(s3_err)?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }
}
