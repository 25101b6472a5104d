//! Building the entries of S3's listings: objects, versions and multipart uploads.

use s3s::dto::{
    CommonPrefix, Initiator, MultipartUpload, ObjectVersion, ObjectVersionStorageClass,
    StorageClass,
};

use super::store::{ObjectMeta, UploadEntry};
use super::wire::KeyEncoding;
use super::{Page, etag, owner};

/// The version ID S3 gives an object written while the bucket was unversioned.
pub const NULL_VERSION: &str = "null";

/// Encodes a page's keys and prefixes as asked, and adds owners when asked for them.
pub fn encode_page(page: &mut Page, enc: KeyEncoding, with_owner: bool) {
    for object in &mut page.contents {
        object.key = enc.apply_opt(object.key.take());
        if with_owner {
            object.owner = Some(owner());
        }
    }
    for prefix in &mut page.common_prefixes {
        prefix.prefix = enc.apply_opt(prefix.prefix.take());
    }
}

pub fn common_prefixes(prefixes: Vec<String>, enc: KeyEncoding) -> Vec<CommonPrefix> {
    prefixes
        .into_iter()
        .map(|p| CommonPrefix {
            prefix: Some(enc.apply(p)),
        })
        .collect()
}

/// An unversioned object as ListObjectVersions shows it: its only, latest version.
pub fn object_version(meta: &ObjectMeta, enc: KeyEncoding) -> ObjectVersion {
    ObjectVersion {
        key: Some(enc.apply(meta.key.clone())),
        version_id: Some(NULL_VERSION.to_string()),
        is_latest: Some(true),
        size: Some(meta.size as i64),
        e_tag: Some(etag(meta)),
        last_modified: Some(meta.last_modified().into()),
        owner: Some(owner()),
        storage_class: Some(ObjectVersionStorageClass::from_static(
            ObjectVersionStorageClass::STANDARD,
        )),
        ..Default::default()
    }
}

pub fn multipart_entry(upload: UploadEntry, enc: KeyEncoding) -> MultipartUpload {
    let me = owner();
    MultipartUpload {
        key: Some(enc.apply(upload.key)),
        upload_id: Some(upload.upload_id),
        initiated: Some(upload.initiated.into()),
        initiator: Some(Initiator {
            display_name: me.display_name.clone(),
            id: me.id.clone(),
        }),
        owner: Some(me),
        storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
        ..Default::default()
    }
}

/// What ListMultipartUploads asks for.
pub struct UploadsQuery<'a> {
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    pub key_marker: Option<&'a str>,
    pub upload_id_marker: Option<&'a str>,
    pub max: usize,
}

/// One page of uploads: the uploads, the prefixes rolled up under the delimiter, and the
/// key and upload ID to resume after when the page is cut.
#[derive(Default)]
pub struct UploadsPage {
    pub uploads: Vec<UploadEntry>,
    pub common_prefixes: Vec<String>,
    pub next: Option<(String, String)>,
}

/// Whether an upload comes after the markers. S3 ignores the upload ID marker without a key
/// marker; with both, uploads of the marker's key after that upload ID are listed too.
fn after_markers(upload: &UploadEntry, all: &[UploadEntry], q: &UploadsQuery<'_>) -> bool {
    let Some(key_marker) = q.key_marker else {
        return true;
    };
    if upload.key.as_str() != key_marker {
        return upload.key.as_str() > key_marker;
    }
    let Some(id_marker) = q.upload_id_marker else {
        return false;
    };
    // Uploads of one key are in initiation order: those after the marker's upload follow it.
    let same_key = all.iter().filter(|u| u.key == upload.key);
    same_key
        .skip_while(|u| u.upload_id != id_marker)
        .skip(1)
        .any(|u| u.upload_id == upload.upload_id)
}

/// Pages `all` (sorted by key, then initiation) as ListMultipartUploads does.
pub fn uploads_page(all: &[UploadEntry], q: &UploadsQuery<'_>) -> UploadsPage {
    let mut page = UploadsPage::default();
    let mut last: Option<(String, String)> = None;
    let mut count = 0usize;
    for upload in all {
        if !upload.key.starts_with(q.prefix) || !after_markers(upload, all, q) {
            continue;
        }
        let rolled = q.delimiter.and_then(|d| {
            upload.key[q.prefix.len()..]
                .find(d)
                .map(|i| upload.key[..q.prefix.len() + i + d.len()].to_string())
        });
        if rolled.is_some() && page.common_prefixes.last() == rolled.as_ref() {
            continue;
        }
        if count == q.max {
            page.next = last;
            break;
        }
        count += 1;
        match rolled {
            Some(cp) => {
                last = Some((cp.clone(), String::new()));
                page.common_prefixes.push(cp);
            }
            None => {
                last = Some((upload.key.clone(), upload.upload_id.clone()));
                page.uploads.push(upload.clone());
            }
        }
    }
    page
}
