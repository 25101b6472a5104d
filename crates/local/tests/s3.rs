//! S3 through aws-sdk-s3 against the local cloud.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};

#[tokio::test]
async fn buckets_objects_ranges_and_deletes() {
    let c = common::start(1.0).await;
    let s3 = c.s3();
    // Local mode's own bucket exists from the start.
    let buckets = s3.list_buckets().send().await.unwrap();
    let names: Vec<_> = buckets.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, [ebb_local::default_bucket().as_str()]);

    s3.create_bucket().bucket("data-1").send().await.unwrap();
    s3.head_bucket().bucket("data-1").send().await.unwrap();
    let again = s3
        .create_bucket()
        .bucket("data-1")
        .send()
        .await
        .unwrap_err();
    assert!(format!("{:?}", again.into_service_error()).contains("BucketAlreadyOwnedByYou"));
    let missing = s3
        .head_bucket()
        .bucket("nope-bucket")
        .send()
        .await
        .unwrap_err();
    assert!(missing.into_service_error().is_not_found());

    s3.put_object()
        .bucket("data-1")
        .key("in/a.jsonl")
        .content_type("application/json")
        .body(ByteStream::from_static(b"0123456789"))
        .send()
        .await
        .unwrap();
    let got = s3
        .get_object()
        .bucket("data-1")
        .key("in/a.jsonl")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_type(), Some("application/json"));
    assert_eq!(
        &got.body.collect().await.unwrap().into_bytes()[..],
        b"0123456789"
    );
    let part = s3
        .get_object()
        .bucket("data-1")
        .key("in/a.jsonl")
        .range("bytes=2-4")
        .send()
        .await
        .unwrap();
    assert_eq!(part.content_range(), Some("bytes 2-4/10"));
    assert_eq!(&part.body.collect().await.unwrap().into_bytes()[..], b"234");
    let head = s3
        .head_object()
        .bucket("data-1")
        .key("in/a.jsonl")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(10));
    let err = s3
        .get_object()
        .bucket("data-1")
        .key("in/none")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_no_such_key());

    for k in ["in/b", "in/sub/c", "out/d"] {
        put(&s3, "data-1", k, b"x").await;
    }
    let listed = s3
        .list_objects_v2()
        .bucket("data-1")
        .prefix("in/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let keys = key_names(listed.contents());
    assert_eq!(keys, ["in/a.jsonl", "in/b"]);
    let prefixes = prefix_names(listed.common_prefixes());
    assert_eq!(prefixes, ["in/sub/"]);
    // Paging through everything with max-keys 1 sees each key exactly once.
    let mut all = Vec::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket("data-1")
        .max_keys(1)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        all.extend(
            page.unwrap()
                .contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
    }
    assert_eq!(all, ["in/a.jsonl", "in/b", "in/sub/c", "out/d"]);
    let after = s3
        .list_objects_v2()
        .bucket("data-1")
        .start_after("in/sub/c")
        .send()
        .await
        .unwrap();
    assert_eq!(after.key_count(), Some(1));

    s3.delete_object()
        .bucket("data-1")
        .key("out/d")
        .send()
        .await
        .unwrap();
    let many = s3
        .delete_objects()
        .bucket("data-1")
        .delete(
            Delete::builder()
                .objects(ObjectIdentifier::builder().key("in/b").build().unwrap())
                .objects(ObjectIdentifier::builder().key("in/sub/c").build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(many.deleted().len(), 2);
    let left = s3.list_objects_v2().bucket("data-1").send().await.unwrap();
    assert_eq!(left.key_count(), Some(1));
    c.cloud.stop().await;
}

#[tokio::test]
async fn multipart_upload_assembles_parts_in_order() {
    let c = common::start(1.0).await;
    let s3 = c.s3();
    s3.create_bucket().bucket("mp-1").send().await.unwrap();
    let id = start_upload(&s3, "mp-1", "big.bin").await;
    let part1 = vec![b'a'; 5 * 1024 * 1024];
    let part2 = b"tail".to_vec();
    let parts = upload_parts(&s3, "mp-1", "big.bin", &id, [part1.clone(), part2.clone()]).await;
    let done = complete(&s3, "mp-1", "big.bin", &id, parts)
        .send()
        .await
        .unwrap();
    assert!(
        done.e_tag().unwrap().ends_with("-2\""),
        "{:?}",
        done.e_tag()
    );
    let bytes = get_bytes(&s3, "mp-1", "big.bin").await;
    assert_eq!(bytes.len(), part1.len() + part2.len());
    assert!(bytes.ends_with(b"atail"));
    // An aborted upload is gone.
    let other = start_upload(&s3, "mp-1", "x").await;
    s3.abort_multipart_upload()
        .bucket("mp-1")
        .key("x")
        .upload_id(&other)
        .send()
        .await
        .unwrap();
    let err = s3
        .upload_part()
        .bucket("mp-1")
        .key("x")
        .upload_id(&other)
        .part_number(1)
        .body(ByteStream::from_static(b"z"))
        .send()
        .await
        .unwrap_err();
    assert!(format!("{:?}", err.into_service_error()).contains("NoSuchUpload"));
    c.cloud.stop().await;
}

#[tokio::test]
async fn dot_dot_keys_stay_literal_keys_of_their_own_bucket() {
    let c = common::start(1.0).await;
    let s3 = c.s3();
    s3.create_bucket().bucket("bucket-a").send().await.unwrap();
    s3.create_bucket()
        .bucket("other-bucket")
        .send()
        .await
        .unwrap();
    for key in ["../other-bucket/x", "/leading", "ünï 🙂/x"] {
        put(&s3, "bucket-a", key, b"v").await;
    }
    let other = s3
        .list_objects_v2()
        .bucket("other-bucket")
        .send()
        .await
        .unwrap();
    assert_eq!(other.key_count(), Some(0), "{:?}", other.contents());
    let mine = s3
        .list_objects_v2()
        .bucket("bucket-a")
        .send()
        .await
        .unwrap();
    let keys = key_names(mine.contents());
    assert_eq!(keys, ["../other-bucket/x", "/leading", "ünï 🙂/x"]);
    assert_eq!(
        &get_bytes(&s3, "bucket-a", "../other-bucket/x").await[..],
        b"v"
    );
    c.cloud.stop().await;
}

#[tokio::test]
async fn unsigned_s3_requests_are_refused() {
    let c = common::start(1.0).await;
    let url = format!("{}/{}/k", c.url(), ebb_local::default_bucket());
    let status = raw_put(&url).await;
    assert_eq!(status, 403);
    c.cloud.stop().await;
}

/// A bare HTTP PUT with no signature.
async fn raw_put(url: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let request = format!(
        "PUT /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response.split(' ').nth(1).unwrap().parse().unwrap()
}

/// A key with the characters `EncodingType=url` exists for: `+`, a space and a `%` escape.
const TRICKY_KEY: &str = "a+b c%2Bd";

/// Puts `body` at `key`.
async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &'static [u8]) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from_static(body))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn listings_percent_encode_keys_only_when_asked() {
    use aws_sdk_s3::types::EncodingType;
    let c = common::start(1.0).await;
    let s3 = c.s3();
    s3.create_bucket().bucket("enc-1").send().await.unwrap();
    put(&s3, "enc-1", TRICKY_KEY, b"x").await;
    put(&s3, "enc-1", "dir x/y", b"x").await;
    let plain = s3.list_objects_v2().bucket("enc-1").send().await.unwrap();
    let keys = key_names(plain.contents());
    assert_eq!(keys, [TRICKY_KEY, "dir x/y"]);
    assert_eq!(plain.encoding_type(), None);

    let encoded = s3
        .list_objects_v2()
        .bucket("enc-1")
        .encoding_type(EncodingType::Url)
        .delimiter("/")
        .send()
        .await
        .unwrap();
    assert_eq!(encoded.encoding_type(), Some(&EncodingType::Url));
    let keys = key_names(encoded.contents());
    assert_eq!(keys, ["a%2Bb%20c%252Bd"]);
    let prefixes = prefix_names(encoded.common_prefixes());
    assert_eq!(prefixes, ["dir%20x/"]);

    // Version 1 encodes its keys and markers too.
    let v1 = s3
        .list_objects()
        .bucket("enc-1")
        .encoding_type(EncodingType::Url)
        .marker(" ")
        .send()
        .await
        .unwrap();
    let keys = key_names(v1.contents());
    assert_eq!(keys, ["a%2Bb%20c%252Bd", "dir%20x/y"]);
    assert_eq!(v1.marker(), Some("%20"));
    // S3 knows one encoding; a token it did not hand out is refused, not read as "start".
    let bogus = s3
        .list_objects_v2()
        .bucket("enc-1")
        .encoding_type(EncodingType::from("base64"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&bogus), Some("InvalidArgument"));
    let bad_token = s3
        .list_objects_v2()
        .bucket("enc-1")
        .continuation_token("not-a-token")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&bad_token), Some("InvalidArgument"));
    c.cloud.stop().await;
}

#[tokio::test]
async fn empty_delimiter_is_not_echoed_and_v1_always_answers_its_marker() {
    let c = common::start(1.0).await;
    let s3 = c.s3();
    s3.create_bucket().bucket("delim-1").send().await.unwrap();
    put(&s3, "delim-1", "a/b", b"x").await;
    let v2 = s3
        .list_objects_v2()
        .bucket("delim-1")
        .delimiter("")
        .send()
        .await
        .unwrap();
    assert_eq!(v2.delimiter(), None);
    assert_eq!(v2.key_count(), Some(1));
    let v1 = s3
        .list_objects()
        .bucket("delim-1")
        .delimiter("")
        .send()
        .await
        .unwrap();
    assert_eq!(v1.delimiter(), None);
    assert_eq!(v1.marker(), Some(""));
    assert_eq!(
        v1.contents()[0].owner().and_then(|o| o.id()),
        Some("000000000000")
    );
    c.cloud.stop().await;
}

#[tokio::test]
async fn fetch_owner_adds_owners_to_list_objects_v2() {
    let c = common::start(1.0).await;
    let s3 = c.s3();
    s3.create_bucket().bucket("owner-1").send().await.unwrap();
    put(&s3, "owner-1", "k", b"x").await;
    let without = s3.list_objects_v2().bucket("owner-1").send().await.unwrap();
    assert!(without.contents()[0].owner().is_none());
    let with = s3
        .list_objects_v2()
        .bucket("owner-1")
        .fetch_owner(true)
        .send()
        .await
        .unwrap();
    let owner = with.contents()[0].owner().expect("an owner");
    assert_eq!(owner.id(), Some("000000000000"));
    c.cloud.stop().await;
}

#[tokio::test]
async fn standard_headers_are_kept_with_the_object() {
    use aws_sdk_s3::primitives::DateTime;
    let c = common::start(1.0).await;
    let s3 = c.s3();
    s3.create_bucket().bucket("hdr-1").send().await.unwrap();
    let expires = DateTime::from_secs(2_000_000_000);
    s3.put_object()
        .bucket("hdr-1")
        .key("k")
        .cache_control("max-age=60")
        .content_disposition("attachment; filename=\"k.txt\"")
        .content_encoding("identity")
        .content_language("en")
        .expires(expires)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let got = s3
        .get_object()
        .bucket("hdr-1")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(got.cache_control(), Some("max-age=60"));
    assert_eq!(
        got.content_disposition(),
        Some("attachment; filename=\"k.txt\"")
    );
    assert_eq!(got.content_encoding(), Some("identity"));
    assert_eq!(got.content_language(), Some("en"));
    assert_eq!(got.expires_string(), Some("Wed, 18 May 2033 03:33:20 GMT"));
    let head = s3
        .head_object()
        .bucket("hdr-1")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(head.cache_control(), Some("max-age=60"));
    assert_eq!(head.expires_string(), Some("Wed, 18 May 2033 03:33:20 GMT"));
    // A GET can override them for its own answer.
    let overridden = s3
        .get_object()
        .bucket("hdr-1")
        .key("k")
        .response_cache_control("no-cache")
        .send()
        .await
        .unwrap();
    assert_eq!(overridden.cache_control(), Some("no-cache"));
    // A multipart upload keeps what CreateMultipartUpload was given.
    let up = s3
        .create_multipart_upload()
        .bucket("hdr-1")
        .key("m")
        .cache_control("max-age=5")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let parts = upload_parts(&s3, "hdr-1", "m", id, [b"p".to_vec()]).await;
    complete(&s3, "hdr-1", "m", id, parts).send().await.unwrap();
    let head = s3
        .head_object()
        .bucket("hdr-1")
        .key("m")
        .send()
        .await
        .unwrap();
    assert_eq!(head.cache_control(), Some("max-age=5"));
    c.cloud.stop().await;
}

#[tokio::test]
async fn delete_objects_refuses_more_than_a_thousand_keys() {
    let c = common::start(1.0).await;
    let s3 = c.s3();
    s3.create_bucket().bucket("del-1").send().await.unwrap();
    let objects: Vec<_> = (0..1001)
        .map(|i| {
            ObjectIdentifier::builder()
                .key(format!("k{i}"))
                .build()
                .unwrap()
        })
        .collect();
    let err = s3
        .delete_objects()
        .bucket("del-1")
        .delete(
            Delete::builder()
                .set_objects(Some(objects))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    let err = err.into_service_error();
    assert_eq!(code(&err), Some("MalformedXML"), "{err:?}");
    c.cloud.stop().await;
}

#[tokio::test]
async fn list_multipart_uploads_shows_uploads_in_progress() {
    let c = common::start(1.0).await;
    let s3 = c.s3();
    s3.create_bucket().bucket("mpl-1").send().await.unwrap();
    let mut ids = Vec::new();
    for key in ["a/1", "a/2", "b", "b"] {
        let up = s3
            .create_multipart_upload()
            .bucket("mpl-1")
            .key(key)
            .send()
            .await
            .unwrap();
        ids.push(up.upload_id().unwrap().to_string());
    }
    let all = s3
        .list_multipart_uploads()
        .bucket("mpl-1")
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = all.uploads().iter().filter_map(|u| u.key()).collect();
    assert_eq!(keys, ["a/1", "a/2", "b", "b"]);
    assert_eq!(all.is_truncated(), Some(false));
    let rolled = s3
        .list_multipart_uploads()
        .bucket("mpl-1")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let prefixes = prefix_names(rolled.common_prefixes());
    assert_eq!(prefixes, ["a/"]);
    assert_eq!(rolled.uploads().len(), 2);
    // Paging one at a time visits each upload once, through both markers.
    let mut seen = Vec::new();
    let (mut key_marker, mut id_marker) = (None::<String>, None::<String>);
    loop {
        let page = s3
            .list_multipart_uploads()
            .bucket("mpl-1")
            .max_uploads(1)
            .set_key_marker(key_marker.clone())
            .set_upload_id_marker(id_marker.clone())
            .send()
            .await
            .unwrap();
        seen.extend(
            page.uploads()
                .iter()
                .filter_map(|u| u.upload_id().map(str::to_string)),
        );
        if page.is_truncated() != Some(true) {
            break;
        }
        key_marker = page.next_key_marker().map(str::to_string);
        id_marker = page.next_upload_id_marker().map(str::to_string);
    }
    assert_eq!(seen[..2], ids[..2]);
    let (mut seen_sorted, mut ids_sorted) = (seen.clone(), ids.clone());
    seen_sorted.sort();
    ids_sorted.sort();
    assert_eq!(seen_sorted, ids_sorted);
    // A completed or aborted upload is no longer listed.
    s3.abort_multipart_upload()
        .bucket("mpl-1")
        .key("a/1")
        .upload_id(&ids[0])
        .send()
        .await
        .unwrap();
    let left = s3
        .list_multipart_uploads()
        .bucket("mpl-1")
        .prefix("a/")
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = left.uploads().iter().filter_map(|u| u.key()).collect();
    assert_eq!(keys, ["a/2"]);
    c.cloud.stop().await;
}

#[tokio::test]
async fn list_object_versions_shows_each_object_as_its_null_version() {
    let c = common::start(1.0).await;
    let s3 = c.s3();
    s3.create_bucket().bucket("ver-1").send().await.unwrap();
    for key in ["x/1", "x/2", "y"] {
        put(&s3, "ver-1", key, b"abc").await;
    }
    let all = s3
        .list_object_versions()
        .bucket("ver-1")
        .send()
        .await
        .unwrap();
    let versions: Vec<_> = all
        .versions()
        .iter()
        .map(|v| (v.key().unwrap(), v.version_id().unwrap(), v.is_latest()))
        .collect();
    assert_eq!(
        versions,
        [
            ("x/1", "null", Some(true)),
            ("x/2", "null", Some(true)),
            ("y", "null", Some(true))
        ]
    );
    assert_eq!(all.versions()[0].size(), Some(3));
    assert!(all.delete_markers().is_empty());
    let page = s3
        .list_object_versions()
        .bucket("ver-1")
        .max_keys(1)
        .key_marker("x/1")
        .send()
        .await
        .unwrap();
    assert_eq!(page.versions()[0].key(), Some("x/2"));
    assert_eq!(page.is_truncated(), Some(true));
    assert_eq!(page.next_key_marker(), Some("x/2"));
    assert_eq!(page.next_version_id_marker(), Some("null"));
    c.cloud.stop().await;
}

#[tokio::test]
async fn list_buckets_pages_by_max_buckets_and_filters_by_prefix() {
    let c = common::start(1.0).await;
    let s3 = c.s3();
    for name in ["lb-a", "lb-b", "lb-c"] {
        s3.create_bucket().bucket(name).send().await.unwrap();
    }
    let mut seen = Vec::new();
    let mut token = None::<String>;
    loop {
        let page = s3
            .list_buckets()
            .prefix("lb-")
            .max_buckets(2)
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap();
        assert!(page.buckets().len() <= 2);
        seen.extend(
            page.buckets()
                .iter()
                .filter_map(|b| b.name().map(str::to_string)),
        );
        match page.continuation_token() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, ["lb-a", "lb-b", "lb-c"]);
    c.cloud.stop().await;
}

#[tokio::test]
async fn conditional_reads_and_writes_follow_their_preconditions() {
    use aws_sdk_s3::primitives::DateTime;
    let c = common::start(1.0).await;
    let s3 = c.s3();
    s3.create_bucket().bucket("cond-1").send().await.unwrap();
    let etag = s3
        .put_object()
        .bucket("cond-1")
        .key("k")
        .body(ByteStream::from_static(b"one"))
        .send()
        .await
        .unwrap()
        .e_tag()
        .unwrap()
        .to_string();
    let get = || s3.get_object().bucket("cond-1").key("k");
    get().if_match(&etag).send().await.unwrap();
    assert_eq!(
        status(get().if_match("\"0\"").send().await.unwrap_err()),
        Some(412)
    );
    assert_eq!(
        status(get().if_none_match(&etag).send().await.unwrap_err()),
        Some(304)
    );
    get().if_none_match("\"0\"").send().await.unwrap();
    let past = DateTime::from_secs(1_000_000_000);
    let future = DateTime::from_secs(4_000_000_000);
    get().if_modified_since(past).send().await.unwrap();
    assert_eq!(
        status(get().if_modified_since(future).send().await.unwrap_err()),
        Some(304)
    );
    get().if_unmodified_since(future).send().await.unwrap();
    assert_eq!(
        status(get().if_unmodified_since(past).send().await.unwrap_err()),
        Some(412)
    );
    let head = s3.head_object().bucket("cond-1").key("k").if_match("\"0\"");
    assert_eq!(status(head.send().await.unwrap_err()), Some(412));

    // Writes: If-None-Match "*" creates only; If-Match replaces only the named version.
    let write = |key: &str| {
        s3.put_object()
            .bucket("cond-1")
            .key(key)
            .body(ByteStream::from_static(b"two"))
    };
    assert_eq!(
        status(write("k").if_none_match("*").send().await.unwrap_err()),
        Some(412)
    );
    write("new").if_none_match("*").send().await.unwrap();
    assert_eq!(
        status(write("k").if_match("\"0\"").send().await.unwrap_err()),
        Some(412)
    );
    assert_eq!(
        status(write("none").if_match(&etag).send().await.unwrap_err()),
        Some(404)
    );
    write("k").if_match(&etag).send().await.unwrap();
    let body = get().send().await.unwrap().body.collect().await.unwrap();
    assert_eq!(&body.into_bytes()[..], b"two");
    c.cloud.stop().await;
}

#[tokio::test]
async fn parts_below_five_mib_are_refused_except_the_last() {
    let c = common::start(1.0).await;
    let s3 = c.s3();
    s3.create_bucket().bucket("small-1").send().await.unwrap();
    let id = start_upload(&s3, "small-1", "k").await;
    let parts = upload_parts(
        &s3,
        "small-1",
        "k",
        &id,
        [b"tiny".to_vec(), b"tiny".to_vec()],
    )
    .await;
    let err = complete(&s3, "small-1", "k", &id, parts)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&err), Some("EntityTooSmall"), "{err:?}");
    // Parts out of order are refused with S3's own code for it.
    let out_of_order = vec![
        CompletedPart::builder().part_number(2).build(),
        CompletedPart::builder().part_number(1).build(),
    ];
    let err = complete(&s3, "small-1", "k", &id, out_of_order)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&err), Some("InvalidPartOrder"), "{err:?}");
    c.cloud.stop().await;
}

/// Starts a multipart upload of `key` and gives its upload ID.
async fn start_upload(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> String {
    let upload = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    upload.upload_id().unwrap().to_string()
}

/// Uploads `bodies` as parts 1, 2, … of upload `id` and gives the parts to complete it with.
async fn upload_parts(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    id: &str,
    bodies: impl IntoIterator<Item = Vec<u8>>,
) -> Vec<CompletedPart> {
    let mut parts = Vec::new();
    for (n, data) in (1..).zip(bodies) {
        let out = s3
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(data))
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().unwrap())
                .build(),
        );
    }
    parts
}

/// A CompleteMultipartUpload of upload `id` with `parts`, ready to send.
fn complete(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    id: &str,
    parts: Vec<CompletedPart>,
) -> aws_sdk_s3::operation::complete_multipart_upload::builders::CompleteMultipartUploadFluentBuilder
{
    s3.complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
}

/// The whole body of object `key`.
async fn get_bytes(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> bytes::Bytes {
    let got = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    got.body.collect().await.unwrap().into_bytes()
}

/// The keys of a listing's objects, in order.
fn key_names(objects: &[aws_sdk_s3::types::Object]) -> Vec<&str> {
    objects.iter().filter_map(|o| o.key()).collect()
}

/// The common prefixes of a listing, in order.
fn prefix_names(common: &[aws_sdk_s3::types::CommonPrefix]) -> Vec<&str> {
    common.iter().filter_map(|p| p.prefix()).collect()
}

/// The S3 error code of a service error.
fn code(err: &impl aws_sdk_s3::error::ProvideErrorMetadata) -> Option<&str> {
    err.code()
}

/// The HTTP status of a failed call.
fn status<E>(
    e: aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

/// boto3 asks for `EncodingType=url` on every listing and decodes what comes back: a key
/// with `+`, a space and `%2B` must come back as it was written.
#[tokio::test]
async fn boto3_lists_keys_back_as_written() {
    let python = ebb_testkit::venv_python();
    assert!(
        python.exists(),
        "{} not found — run `bash scripts/test.sh` (it creates .venv with boto3) or set EBB_TEST_PYTHON",
        python.display()
    );
    let c = common::start(1.0).await;
    let creds = c.credentials();
    let script = r#"
import json, sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1")
s3.create_bucket(Bucket="boto-enc")
s3.put_object(Bucket="boto-enc", Key=sys.argv[2], Body=b"x")
v2 = [o["Key"] for o in s3.list_objects_v2(Bucket="boto-enc")["Contents"]]
v1 = [o["Key"] for o in s3.list_objects(Bucket="boto-enc")["Contents"]]
vs = [o["Key"] for o in s3.list_object_versions(Bucket="boto-enc")["Versions"]]
print(json.dumps({"v2": v2, "v1": v1, "versions": vs}))
"#;
    let out = tokio::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(c.url())
        .arg(TRICKY_KEY)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env("AWS_ACCESS_KEY_ID", &creds.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &creds.secret_access_key)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .await
        .expect("run python");
    let seen = ebb_testkit::json_line(&out);
    for listing in ["v2", "v1", "versions"] {
        assert_eq!(seen[listing], serde_json::json!([TRICKY_KEY]), "{seen}");
    }
    c.cloud.stop().await;
}

/// A bucket of another local account: open to the user's keys (as a stranger's public
/// bucket is) until a call carries ExpectedBucketOwner, which S3 then refuses with 403.
#[tokio::test]
async fn the_bucket_owner_condition_refuses_another_accounts_bucket() {
    const STRANGER: &str = "111111111111";
    let c = common::start(1.0).await;
    let mine = c.s3();
    let theirs = c.s3_of_account(STRANGER).await;
    theirs
        .create_bucket()
        .bucket("not-yours")
        .send()
        .await
        .unwrap();
    let listed = theirs.list_buckets().send().await.unwrap();
    let names: Vec<_> = listed.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["not-yours"]);
    assert_eq!(listed.owner().and_then(|o| o.id()), Some(STRANGER));
    let listed = mine.list_buckets().send().await.unwrap();
    assert!(
        !listed
            .buckets()
            .iter()
            .any(|b| b.name() == Some("not-yours"))
    );
    let taken = mine
        .create_bucket()
        .bucket("not-yours")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        taken.into_service_error().meta().code(),
        Some("BucketAlreadyExists")
    );

    // Without the condition the call goes through: this is the danger.
    mine.put_object()
        .bucket("not-yours")
        .key("open")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let refused = mine
        .put_object()
        .bucket("not-yours")
        .key("prompts.jsonl")
        .expected_bucket_owner(ebb_local::ACCOUNT_ID)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    let raw = refused.raw_response().map(|r| r.status().as_u16());
    assert_eq!(raw, Some(403));
    let meta = refused.into_service_error();
    assert_eq!(meta.meta().code(), Some("AccessDenied"), "{meta:?}");
    assert_eq!(meta.meta().message(), Some("Access Denied"));
    let head = mine
        .head_bucket()
        .bucket("not-yours")
        .expected_bucket_owner(ebb_local::ACCOUNT_ID)
        .send()
        .await
        .unwrap_err();
    assert_eq!(head.raw_response().map(|r| r.status().as_u16()), Some(403));
    let get = mine
        .get_object()
        .bucket("not-yours")
        .key("open")
        .expected_bucket_owner(ebb_local::ACCOUNT_ID)
        .send()
        .await
        .unwrap_err();
    assert_eq!(get.raw_response().map(|r| r.status().as_u16()), Some(403));
    let list = mine
        .list_objects_v2()
        .bucket("not-yours")
        .expected_bucket_owner(ebb_local::ACCOUNT_ID)
        .send()
        .await
        .unwrap_err();
    assert_eq!(list.raw_response().map(|r| r.status().as_u16()), Some(403));
    assert!(
        !mine
            .list_objects_v2()
            .bucket("not-yours")
            .send()
            .await
            .unwrap()
            .contents()
            .iter()
            .any(|o| o.key() == Some("prompts.jsonl")),
        "the refused upload must not land"
    );

    // The right owner passes, for the stranger's bucket and for the user's own.
    mine.head_bucket()
        .bucket("not-yours")
        .expected_bucket_owner(STRANGER)
        .send()
        .await
        .unwrap();
    mine.put_object()
        .bucket(ebb_local::default_bucket())
        .key("mine")
        .expected_bucket_owner(ebb_local::ACCOUNT_ID)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    c.stop().await;
}
