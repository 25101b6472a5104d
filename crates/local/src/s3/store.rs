//! Buckets and objects on disk.
//!
//! An object's file name is the SHA-256 of its key, never the key itself, so a key such as
//! `../other-bucket/x` or `/etc/passwd` is just a literal key of its own bucket and cannot
//! name a file outside that bucket's folder. The key is kept in a metadata file beside the data.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::io::AsyncWriteExt;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the bucket `{0}` does not exist")]
    NoSuchBucket(String),
    #[error("the key `{0}` does not exist")]
    NoSuchKey(String),
    #[error("the bucket `{0}` already exists")]
    BucketExists(String),
    #[error("the bucket `{0}` is not empty")]
    BucketNotEmpty(String),
    #[error("`{0}` is not a valid bucket name")]
    InvalidBucketName(String),
    #[error("the multipart upload `{0}` does not exist")]
    NoSuchUpload(String),
    #[error("{0}")]
    InvalidPart(String),
    #[error("the parts must be listed once each, in ascending part-number order")]
    InvalidPartOrder,
    #[error("could not read the upload: {0}")]
    Body(String),
    #[error("part {0} is smaller than the 5 MiB minimum allowed for all but the last part")]
    EntityTooSmall(i32),
    #[error("the object's current state does not meet the request's precondition")]
    PreconditionFailed,
    #[error("the continuation token provided is incorrect")]
    InvalidToken,
    #[error("storage error: {0}")]
    Io(#[from] io::Error),
    /// A bucket's or an object's saved description exists but cannot be read (at open).
    #[error("{path} cannot be read: {reason}")]
    Unreadable { path: PathBuf, reason: String },
}

/// A listing's resume token: the hex of the last name a page returned. One that is not
/// such a token is refused, so a client never silently restarts from the beginning.
pub fn decode_token(token: &str) -> Result<String, StoreError> {
    hex::decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or(StoreError::InvalidToken)
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    pub key: String,
    pub size: u64,
    /// Hex MD5 of the content, or `<md5 of part md5s>-<parts>` for multipart objects.
    pub etag: String,
    pub content_type: Option<String>,
    pub last_modified_ms: u64,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub headers: ContentHeaders,
}

/// The standard HTTP headers S3 keeps with an object and returns on GET and HEAD.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentHeaders {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    /// `Expires`, as Unix seconds (an HTTP date has no finer unit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_s: Option<i64>,
}

impl ObjectMeta {
    pub fn last_modified(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.last_modified_ms)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct BucketFile {
    name: String,
    created_ms: u64,
    /// The owning account; buckets made before owners were kept are the local account's.
    #[serde(default = "local_account")]
    owner: String,
}

fn local_account() -> String {
    crate::ACCOUNT_ID.to_string()
}

#[derive(Debug)]
struct Bucket {
    created_ms: u64,
    owner: String,
    objects: BTreeMap<String, ObjectMeta>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Upload {
    bucket: String,
    key: String,
    content_type: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    #[serde(default)]
    headers: ContentHeaders,
    #[serde(default)]
    initiated_ms: u64,
}

/// What a write brings besides the bytes.
#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    pub content_type: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub headers: ContentHeaders,
    pub condition: WriteCondition,
}

/// A conditional write's precondition, checked when the object is published (`If-Match`,
/// `If-None-Match`; <https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html>).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum WriteCondition {
    #[default]
    Always,
    /// Write only over an existing object with this ETag (`None`: any existing object).
    IfMatch(Option<String>),
    /// Write only if no object has this ETag (`None`: only if there is no object at all).
    IfNoneMatch(Option<String>),
}

impl WriteCondition {
    /// Whether a write may replace `current` (the object now under the key, if any).
    fn check(&self, key: &str, current: Option<&ObjectMeta>) -> Result<(), StoreError> {
        match (self, current) {
            (WriteCondition::Always, _) => Ok(()),
            // S3 answers NoSuchKey when If-Match names an object that is not there.
            (WriteCondition::IfMatch(_), None) => Err(StoreError::NoSuchKey(key.to_string())),
            (WriteCondition::IfMatch(Some(e)), Some(m)) if *e != m.etag => {
                Err(StoreError::PreconditionFailed)
            }
            (WriteCondition::IfMatch(_), Some(_)) => Ok(()),
            (WriteCondition::IfNoneMatch(None), Some(_)) => Err(StoreError::PreconditionFailed),
            (WriteCondition::IfNoneMatch(Some(e)), Some(m)) if *e == m.etag => {
                Err(StoreError::PreconditionFailed)
            }
            (WriteCondition::IfNoneMatch(_), _) => Ok(()),
        }
    }
}

/// One multipart upload in progress (ListMultipartUploads).
#[derive(Debug, Clone)]
pub struct UploadEntry {
    pub key: String,
    pub upload_id: String,
    pub initiated: SystemTime,
}

/// S3's smallest part, for every part but the last
/// (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html>).
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

/// One page of a ListObjectsV2 answer.
#[derive(Debug, Default)]
pub struct Listing {
    pub objects: Vec<ObjectMeta>,
    pub common_prefixes: Vec<String>,
    pub next_token: Option<String>,
}

pub struct ListQuery<'a> {
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    pub start_after: Option<&'a str>,
    pub continuation: Option<&'a str>,
    pub max_keys: usize,
}

pub struct Store {
    root: PathBuf,
    buckets: RwLock<BTreeMap<String, Bucket>>,
}

/// S3's bucket naming rules, checked here too so that no name can become a path step.
pub fn valid_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric()
        && !name.contains("..")
}

fn key_file(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A unique name for a temporary file or an upload id: a random UUID as 32 hex digits.
fn random_name() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A saved description: `None` when the file is missing; an error naming the file when it exists
/// but cannot be read, rather than a bucket or object silently left out of the index.
fn read_saved<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, StoreError> {
    let unreadable = |reason: String| StoreError::Unreadable {
        path: path.to_path_buf(),
        reason,
    };
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| unreadable(e.to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(unreadable(e.to_string())),
    }
}

/// Bodies up to this size are written in one step, in place (see `Store::spool_small`).
const SMALL_OBJECT: usize = 1024 * 1024;

fn lock_poisoned() -> io::Error {
    io::Error::other("store index lock poisoned")
}

impl Store {
    /// Opens (or creates) the store under `root`, loading the index of what is on disk.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        for dir in ["buckets", "uploads", "tmp"] {
            std::fs::create_dir_all(root.join(dir))?;
        }
        let mut buckets = BTreeMap::new();
        for entry in std::fs::read_dir(root.join("buckets"))? {
            let dir = entry?.path();
            // A folder without bucket.json is a bucket whose creation never finished.
            let Some(file) = read_saved::<BucketFile>(&dir.join("bucket.json"))? else {
                continue;
            };
            let mut objects = BTreeMap::new();
            if let Ok(entries) = std::fs::read_dir(dir.join("objects")) {
                for entry in entries.flatten() {
                    let path = entry.path();
                    if path.extension().is_some_and(|e| e == "json")
                        && let Some(meta) = read_saved::<ObjectMeta>(&path)?
                    {
                        objects.insert(meta.key.clone(), meta);
                    }
                }
            }
            buckets.insert(
                file.name,
                Bucket {
                    created_ms: file.created_ms,
                    owner: file.owner,
                    objects,
                },
            );
        }
        Ok(Store {
            root: root.to_path_buf(),
            buckets: RwLock::new(buckets),
        })
    }

    fn bucket_dir(&self, bucket: &str) -> PathBuf {
        self.root.join("buckets").join(bucket)
    }

    fn object_path(&self, bucket: &str, key: &str) -> PathBuf {
        self.bucket_dir(bucket)
            .join("objects")
            .join(format!("{}.data", key_file(key)))
    }

    fn meta_path(&self, bucket: &str, key: &str) -> PathBuf {
        self.bucket_dir(bucket)
            .join("objects")
            .join(format!("{}.json", key_file(key)))
    }

    fn check_name(bucket: &str) -> Result<(), StoreError> {
        if valid_bucket_name(bucket) {
            Ok(())
        } else {
            Err(StoreError::InvalidBucketName(bucket.to_string()))
        }
    }

    /// Creates `bucket`, owned by the 12-digit account `owner`.
    pub fn create_bucket(&self, bucket: &str, owner: &str) -> Result<(), StoreError> {
        Self::check_name(bucket)?;
        let mut buckets = self.buckets.write().map_err(|_| lock_poisoned())?;
        if buckets.contains_key(bucket) {
            return Err(StoreError::BucketExists(bucket.to_string()));
        }
        let dir = self.bucket_dir(bucket);
        std::fs::create_dir_all(dir.join("objects"))?;
        let created_ms = millis(SystemTime::now());
        let file = BucketFile {
            name: bucket.to_string(),
            created_ms,
            owner: owner.to_string(),
        };
        write_atomic(
            &dir.join("bucket.json"),
            &serde_json::to_vec(&file).map_err(io::Error::other)?,
        )?;
        buckets.insert(
            bucket.to_string(),
            Bucket {
                created_ms,
                owner: owner.to_string(),
                objects: BTreeMap::new(),
            },
        );
        Ok(())
    }

    /// Creates the bucket unless it exists (local mode's own bucket at start-up), owned by
    /// the local account.
    pub fn ensure_bucket(&self, bucket: &str) -> Result<(), StoreError> {
        match self.create_bucket(bucket, crate::ACCOUNT_ID) {
            Ok(()) | Err(StoreError::BucketExists(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub fn has_bucket(&self, bucket: &str) -> Result<bool, StoreError> {
        Ok(self
            .buckets
            .read()
            .map_err(|_| lock_poisoned())?
            .contains_key(bucket))
    }

    /// The account that owns `bucket`; `None` when there is no such bucket.
    pub fn bucket_owner(&self, bucket: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .buckets
            .read()
            .map_err(|_| lock_poisoned())?
            .get(bucket)
            .map(|b| b.owner.clone()))
    }

    /// The names of `owner`'s buckets with their creation times.
    pub fn list_buckets(&self, owner: &str) -> Result<Vec<(String, SystemTime)>, StoreError> {
        Ok(self
            .buckets
            .read()
            .map_err(|_| lock_poisoned())?
            .iter()
            .filter(|(_, b)| b.owner == owner)
            .map(|(name, b)| {
                (
                    name.clone(),
                    UNIX_EPOCH + Duration::from_millis(b.created_ms),
                )
            })
            .collect())
    }

    pub fn delete_bucket(&self, bucket: &str) -> Result<(), StoreError> {
        let mut buckets = self.buckets.write().map_err(|_| lock_poisoned())?;
        match buckets.get(bucket) {
            None => return Err(StoreError::NoSuchBucket(bucket.to_string())),
            Some(b) if !b.objects.is_empty() => {
                return Err(StoreError::BucketNotEmpty(bucket.to_string()));
            }
            Some(_) => {}
        }
        std::fs::remove_dir_all(self.bucket_dir(bucket))?;
        buckets.remove(bucket);
        Ok(())
    }

    pub fn head(&self, bucket: &str, key: &str) -> Result<ObjectMeta, StoreError> {
        let buckets = self.buckets.read().map_err(|_| lock_poisoned())?;
        let b = buckets
            .get(bucket)
            .ok_or_else(|| StoreError::NoSuchBucket(bucket.to_string()))?;
        b.objects
            .get(key)
            .cloned()
            .ok_or_else(|| StoreError::NoSuchKey(key.to_string()))
    }

    /// The object's metadata and the path of its bytes (read by the caller).
    pub fn open_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<(ObjectMeta, PathBuf), StoreError> {
        let meta = self.head(bucket, key)?;
        Ok((meta, self.object_path(bucket, key)))
    }

    /// The whole object in memory (requests and results are small).
    pub async fn read(&self, bucket: &str, key: &str) -> Result<(ObjectMeta, Bytes), StoreError> {
        let (meta, path) = self.open_object(bucket, key)?;
        let data = tokio::fs::read(path).await?;
        Ok((meta, Bytes::from(data)))
    }

    /// Writes a body held in memory into a temporary file, returning its path, size and MD5.
    /// Done in place, without the runtime's file threads: for the small objects of a job
    /// (requests and results) the hand-offs cost more than the writing.
    fn spool_small(&self, body: &[u8]) -> Result<(PathBuf, u64, [u8; 16]), StoreError> {
        let tmp = self.root.join("tmp").join(random_name());
        // Not synced, as in `spool`.
        if let Err(e) = std::fs::write(&tmp, body) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.into());
        }
        Ok((tmp, body.len() as u64, Md5::digest(body).into()))
    }

    /// Streams bytes into a temporary file, after `head` (what was read of them already),
    /// returning its path, size and MD5.
    async fn spool<S, E>(
        &self,
        head: Bytes,
        mut body: S,
    ) -> Result<(PathBuf, u64, [u8; 16]), StoreError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let tmp = self.root.join("tmp").join(random_name());
        let mut file = tokio::fs::File::create(&tmp).await?;
        let mut md5 = Md5::new();
        let mut size = 0u64;
        let result: Result<(), StoreError> = async {
            md5.update(&head);
            size += head.len() as u64;
            file.write_all(&head).await?;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| StoreError::Body(e.to_string()))?;
                md5.update(&chunk);
                size += chunk.len() as u64;
                file.write_all(&chunk).await?;
            }
            // Flushed, not synced: an object survives the local cloud being killed (the data
            // is in the OS's cache before the rename publishes it); a sync per object would
            // only guard against the machine crashing, at a disk flush per request.
            file.flush().await?;
            Ok(())
        }
        .await;
        if let Err(e) = result {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
        Ok((tmp, size, md5.finalize().into()))
    }

    fn commit(
        &self,
        bucket: &str,
        key: &str,
        tmp: &Path,
        size: u64,
        etag: String,
        options: PutOptions,
    ) -> Result<ObjectMeta, StoreError> {
        let mut buckets = self.buckets.write().map_err(|_| lock_poisoned())?;
        let Some(b) = buckets.get_mut(bucket) else {
            let _ = std::fs::remove_file(tmp);
            return Err(StoreError::NoSuchBucket(bucket.to_string()));
        };
        if let Err(e) = options.condition.check(key, b.objects.get(key)) {
            let _ = std::fs::remove_file(tmp);
            return Err(e);
        }
        let meta = ObjectMeta {
            key: key.to_string(),
            size,
            etag,
            content_type: options.content_type,
            last_modified_ms: millis(SystemTime::now()),
            metadata: options.metadata,
            headers: options.headers,
        };
        std::fs::rename(tmp, self.object_path(bucket, key))?;
        write_atomic(
            &self.meta_path(bucket, key),
            &serde_json::to_vec(&meta).map_err(io::Error::other)?,
        )?;
        b.objects.insert(key.to_string(), meta.clone());
        Ok(meta)
    }

    pub async fn put_stream<S, E>(
        &self,
        bucket: &str,
        key: &str,
        mut body: S,
        options: PutOptions,
    ) -> Result<ObjectMeta, StoreError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        if !self.has_bucket(bucket)? {
            return Err(StoreError::NoSuchBucket(bucket.to_string()));
        }
        // Small bodies are gathered and written at once; larger ones stream to disk.
        let mut head = Vec::new();
        while head.len() <= SMALL_OBJECT {
            match body.next().await {
                Some(chunk) => {
                    head.extend_from_slice(&chunk.map_err(|e| StoreError::Body(e.to_string()))?)
                }
                None => return self.put(bucket, key, Bytes::from(head), options).await,
            }
        }
        let (tmp, size, md5) = self.spool(Bytes::from(head), body).await?;
        self.commit(bucket, key, &tmp, size, hex::encode(md5), options)
    }

    pub async fn put(
        &self,
        bucket: &str,
        key: &str,
        data: Bytes,
        options: PutOptions,
    ) -> Result<ObjectMeta, StoreError> {
        if !self.has_bucket(bucket)? {
            return Err(StoreError::NoSuchBucket(bucket.to_string()));
        }
        if data.len() > SMALL_OBJECT {
            let body = futures::stream::iter([Ok::<_, io::Error>(data)]);
            let (tmp, size, md5) = self.spool(Bytes::new(), body).await?;
            return self.commit(bucket, key, &tmp, size, hex::encode(md5), options);
        }
        let (tmp, size, md5) = self.spool_small(&data)?;
        self.commit(bucket, key, &tmp, size, hex::encode(md5), options)
    }

    /// Deleting a missing key succeeds, as in S3.
    pub fn delete(&self, bucket: &str, key: &str) -> Result<(), StoreError> {
        let mut buckets = self.buckets.write().map_err(|_| lock_poisoned())?;
        let b = buckets
            .get_mut(bucket)
            .ok_or_else(|| StoreError::NoSuchBucket(bucket.to_string()))?;
        if b.objects.remove(key).is_some() {
            let _ = std::fs::remove_file(self.meta_path(bucket, key));
            let _ = std::fs::remove_file(self.object_path(bucket, key));
        }
        Ok(())
    }

    /// ListObjectsV2 semantics: keys in UTF-8 byte order, common prefixes rolled up under a
    /// delimiter, both counted against `max_keys`.
    pub fn list(&self, bucket: &str, q: &ListQuery<'_>) -> Result<Listing, StoreError> {
        let buckets = self.buckets.read().map_err(|_| lock_poisoned())?;
        let b = buckets
            .get(bucket)
            .ok_or_else(|| StoreError::NoSuchBucket(bucket.to_string()))?;
        // The token is the hex of the last key or common prefix returned.
        let resume = q
            .continuation
            .filter(|t| !t.is_empty())
            .map(decode_token)
            .transpose()?;
        let after = match (resume.as_deref(), q.start_after) {
            (Some(t), _) => Some(t.to_string()),
            (None, Some(s)) => Some(s.to_string()),
            (None, None) => None,
        };
        let mut listing = Listing::default();
        let mut last: Option<String> = None;
        let mut count = 0usize;
        for (key, meta) in b.objects.range::<String, _>((
            match &after {
                Some(a) => std::ops::Bound::Excluded(a.clone()),
                None => std::ops::Bound::Unbounded,
            },
            std::ops::Bound::Unbounded,
        )) {
            if !key.starts_with(q.prefix) {
                if key.as_str() > q.prefix {
                    break;
                }
                continue;
            }
            let rolled = q.delimiter.filter(|d| !d.is_empty()).and_then(|d| {
                key[q.prefix.len()..]
                    .find(d)
                    .map(|i| key[..q.prefix.len() + i + d.len()].to_string())
            });
            if let Some(cp) = &rolled {
                // Skip the rest of a prefix already returned (also across pages).
                if listing.common_prefixes.last() == Some(cp)
                    || after.as_deref().is_some_and(|a| a.starts_with(cp.as_str()))
                {
                    continue;
                }
            }
            if count == q.max_keys {
                listing.next_token = last.as_ref().map(hex::encode);
                break;
            }
            count += 1;
            match rolled {
                Some(cp) => {
                    last = Some(cp.clone());
                    listing.common_prefixes.push(cp);
                }
                None => {
                    last = Some(key.clone());
                    listing.objects.push(meta.clone());
                }
            }
        }
        Ok(listing)
    }

    pub fn create_upload(
        &self,
        bucket: &str,
        key: &str,
        options: PutOptions,
    ) -> Result<String, StoreError> {
        if !self.has_bucket(bucket)? {
            return Err(StoreError::NoSuchBucket(bucket.to_string()));
        }
        let id = random_name();
        let dir = self.root.join("uploads").join(&id);
        std::fs::create_dir_all(&dir)?;
        let upload = Upload {
            bucket: bucket.to_string(),
            key: key.to_string(),
            content_type: options.content_type,
            metadata: options.metadata,
            headers: options.headers,
            initiated_ms: millis(SystemTime::now()),
        };
        write_atomic(
            &dir.join("upload.json"),
            &serde_json::to_vec(&upload).map_err(io::Error::other)?,
        )?;
        Ok(id)
    }

    fn upload(&self, bucket: &str, key: &str, id: &str) -> Result<(PathBuf, Upload), StoreError> {
        let missing = || StoreError::NoSuchUpload(id.to_string());
        if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(missing());
        }
        let dir = self.root.join("uploads").join(id);
        let text = std::fs::read(dir.join("upload.json")).map_err(|_| missing())?;
        let upload: Upload = serde_json::from_slice(&text).map_err(|_| missing())?;
        if upload.bucket != bucket || upload.key != key {
            return Err(missing());
        }
        Ok((dir, upload))
    }

    pub async fn put_part<S, E>(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
        part: i32,
        body: S,
    ) -> Result<String, StoreError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        if !(1..=10_000).contains(&part) {
            return Err(StoreError::InvalidPart(format!(
                "part number {part} is outside 1..=10000"
            )));
        }
        let (dir, _) = self.upload(bucket, key, id)?;
        let (tmp, _, md5) = self.spool(Bytes::new(), body).await?;
        std::fs::rename(&tmp, dir.join(format!("part-{part}")))?;
        let etag = hex::encode(md5);
        write_atomic(&dir.join(format!("part-{part}.etag")), etag.as_bytes())?;
        Ok(etag)
    }

    pub async fn complete_upload(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
        parts: &[(i32, Option<String>)],
    ) -> Result<ObjectMeta, StoreError> {
        let (dir, upload) = self.upload(bucket, key, id)?;
        if parts.is_empty() {
            return Err(StoreError::InvalidPart("the upload lists no parts".into()));
        }
        if parts.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(StoreError::InvalidPartOrder);
        }
        let tmp = self.root.join("tmp").join(random_name());
        let mut out = tokio::fs::File::create(&tmp).await?;
        let mut md5s = Md5::new();
        let mut size = 0u64;
        for (i, (n, etag)) in parts.iter().enumerate() {
            let stored = std::fs::read_to_string(dir.join(format!("part-{n}.etag")))
                .map_err(|_| StoreError::InvalidPart(format!("part {n} was never uploaded")))?;
            if let Some(etag) = etag
                && etag.trim_matches('"') != stored
            {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(StoreError::InvalidPart(format!(
                    "part {n}'s ETag does not match the uploaded part"
                )));
            }
            let part_path = dir.join(format!("part-{n}"));
            if i + 1 < parts.len() && std::fs::metadata(&part_path)?.len() < MIN_PART_SIZE {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(StoreError::EntityTooSmall(*n));
            }
            md5s.update(hex::decode(&stored).unwrap_or_default());
            let mut part = tokio::fs::File::open(part_path).await?;
            size += tokio::io::copy(&mut part, &mut out).await?;
        }
        out.flush().await?;
        drop(out);
        let etag = format!("{}-{}", hex::encode(md5s.finalize()), parts.len());
        let meta = self.commit(
            bucket,
            key,
            &tmp,
            size,
            etag,
            PutOptions {
                content_type: upload.content_type,
                metadata: upload.metadata,
                headers: upload.headers,
                condition: WriteCondition::Always,
            },
        )?;
        let _ = std::fs::remove_dir_all(&dir);
        Ok(meta)
    }

    /// The multipart uploads in progress in `bucket`, by key then initiation time, as
    /// ListMultipartUploads orders them.
    pub fn list_uploads(&self, bucket: &str) -> Result<Vec<UploadEntry>, StoreError> {
        if !self.has_bucket(bucket)? {
            return Err(StoreError::NoSuchBucket(bucket.to_string()));
        }
        let mut uploads = Vec::new();
        for entry in std::fs::read_dir(self.root.join("uploads"))?.flatten() {
            let file = entry.path().join("upload.json");
            let Ok(text) = std::fs::read(&file) else {
                continue;
            };
            let Ok(upload) = serde_json::from_slice::<Upload>(&text) else {
                continue;
            };
            if upload.bucket != bucket {
                continue;
            }
            uploads.push(UploadEntry {
                key: upload.key,
                upload_id: entry.file_name().to_string_lossy().into_owned(),
                initiated: UNIX_EPOCH + Duration::from_millis(upload.initiated_ms),
            });
        }
        // Uploads started in the same millisecond keep one order, by ID, across pages.
        uploads.sort_by(|a, b| {
            (&a.key, a.initiated, &a.upload_id).cmp(&(&b.key, b.initiated, &b.upload_id))
        });
        Ok(uploads)
    }

    pub fn abort_upload(&self, bucket: &str, key: &str, id: &str) -> Result<(), StoreError> {
        let (dir, _) = self.upload(bucket, key, id)?;
        std::fs::remove_dir_all(dir)?;
        Ok(())
    }
}

/// Write-then-rename, so a crash never leaves a half-written metadata file.
fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", random_name()));
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(prefix: &str, delimiter: Option<&'static str>, max: usize) -> ListQuery<'static> {
        ListQuery {
            prefix: Box::leak(prefix.to_string().into_boxed_str()),
            delimiter,
            start_after: None,
            continuation: None,
            max_keys: max,
        }
    }

    #[tokio::test]
    async fn hostile_keys_stay_inside_their_bucket() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.create_bucket("a-bucket", crate::ACCOUNT_ID).unwrap();
        store
            .create_bucket("other-bucket", crate::ACCOUNT_ID)
            .unwrap();
        for key in [
            "../other-bucket/x",
            "/etc/passwd",
            "a/../../b",
            "ünï/ｃｏｄｅ 🙂",
        ] {
            store
                .put(
                    "a-bucket",
                    key,
                    Bytes::from(key.to_string()),
                    PutOptions::default(),
                )
                .await
                .unwrap();
            let (_, data) = store.read("a-bucket", key).await.unwrap();
            assert_eq!(&data[..], key.as_bytes());
        }
        assert!(matches!(
            store.head("other-bucket", "x"),
            Err(StoreError::NoSuchKey(_))
        ));
        // Every file written lives under a-bucket's own folder.
        let other = std::fs::read_dir(dir.path().join("buckets/other-bucket/objects"))
            .unwrap()
            .count();
        assert_eq!(other, 0);
        // Reopening rebuilds the index from disk with the literal keys.
        let reopened = Store::open(dir.path()).unwrap();
        let all = reopened.list("a-bucket", &q("", None, 1000)).unwrap();
        assert_eq!(all.objects.len(), 4);
        assert!(all.objects.iter().any(|o| o.key == "../other-bucket/x"));
        assert!(matches!(
            store.create_bucket("../x", crate::ACCOUNT_ID),
            Err(StoreError::InvalidBucketName(_))
        ));
    }

    #[test]
    fn buckets_keep_their_owner_across_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.create_bucket("mine", crate::ACCOUNT_ID).unwrap();
        store.create_bucket("theirs", "111111111111").unwrap();
        // A bucket written before owners were kept is the local account's.
        let old = dir.path().join("buckets/older");
        std::fs::create_dir_all(old.join("objects")).unwrap();
        std::fs::write(
            old.join("bucket.json"),
            br#"{"name":"older","created_ms":1}"#,
        )
        .unwrap();
        let store = Store::open(dir.path()).unwrap();
        let owner = |b: &str| store.bucket_owner(b).unwrap();
        assert_eq!(owner("mine").as_deref(), Some(crate::ACCOUNT_ID));
        assert_eq!(owner("theirs").as_deref(), Some("111111111111"));
        assert_eq!(owner("older").as_deref(), Some(crate::ACCOUNT_ID));
        assert_eq!(owner("none"), None);
        let names = |a: &str| -> Vec<String> {
            store
                .list_buckets(a)
                .unwrap()
                .into_iter()
                .map(|(n, _)| n)
                .collect()
        };
        assert_eq!(names(crate::ACCOUNT_ID), ["mine", "older"]);
        assert_eq!(names("111111111111"), ["theirs"]);
    }

    #[tokio::test]
    async fn listing_pages_and_rolls_up_prefixes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.create_bucket("b-1", crate::ACCOUNT_ID).unwrap();
        for key in ["in/1", "in/2", "in/sub/3", "in/sub/4", "out/5", "top"] {
            store
                .put("b-1", key, Bytes::from_static(b"x"), PutOptions::default())
                .await
                .unwrap();
        }
        let l = store.list("b-1", &q("in/", Some("/"), 1000)).unwrap();
        let keys: Vec<_> = l.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["in/1", "in/2"]);
        assert_eq!(l.common_prefixes, ["in/sub/"]);
        let root = store.list("b-1", &q("", Some("/"), 1000)).unwrap();
        assert_eq!(root.common_prefixes, ["in/", "out/"]);
        assert_eq!(root.objects.len(), 1);
        // Paging two at a time visits every key once.
        let mut seen = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = store
                .list(
                    "b-1",
                    &ListQuery {
                        continuation: token.as_deref(),
                        ..q("", None, 2)
                    },
                )
                .unwrap();
            seen.extend(page.objects.into_iter().map(|o| o.key));
            match page.next_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        assert_eq!(seen.len(), 6);
        let after = store
            .list(
                "b-1",
                &ListQuery {
                    start_after: Some("in/sub/4"),
                    ..q("", None, 1000)
                },
            )
            .unwrap();
        assert_eq!(after.objects.len(), 2);
    }
}
