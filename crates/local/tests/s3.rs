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
        s3.put_object()
            .bucket("data-1")
            .key(k)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    let listed = s3
        .list_objects_v2()
        .bucket("data-1")
        .prefix("in/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["in/a.jsonl", "in/b"]);
    let prefixes: Vec<_> = listed
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
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
    let upload = s3
        .create_multipart_upload()
        .bucket("mp-1")
        .key("big.bin")
        .send()
        .await
        .unwrap();
    let id = upload.upload_id().unwrap();
    let part1 = vec![b'a'; 5 * 1024 * 1024];
    let part2 = b"tail".to_vec();
    let mut parts = Vec::new();
    for (n, data) in [(1, part1.clone()), (2, part2.clone())] {
        let out = s3
            .upload_part()
            .bucket("mp-1")
            .key("big.bin")
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
    let done = s3
        .complete_multipart_upload()
        .bucket("mp-1")
        .key("big.bin")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(
        done.e_tag().unwrap().ends_with("-2\""),
        "{:?}",
        done.e_tag()
    );
    let body = s3
        .get_object()
        .bucket("mp-1")
        .key("big.bin")
        .send()
        .await
        .unwrap();
    let bytes = body.body.collect().await.unwrap().into_bytes();
    assert_eq!(bytes.len(), part1.len() + part2.len());
    assert!(bytes.ends_with(b"atail"));
    // An aborted upload is gone.
    let other = s3
        .create_multipart_upload()
        .bucket("mp-1")
        .key("x")
        .send()
        .await
        .unwrap();
    s3.abort_multipart_upload()
        .bucket("mp-1")
        .key("x")
        .upload_id(other.upload_id().unwrap())
        .send()
        .await
        .unwrap();
    let err = s3
        .upload_part()
        .bucket("mp-1")
        .key("x")
        .upload_id(other.upload_id().unwrap())
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
        s3.put_object()
            .bucket("bucket-a")
            .key(key)
            .body(ByteStream::from_static(b"v"))
            .send()
            .await
            .unwrap();
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
    let keys: Vec<_> = mine.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["../other-bucket/x", "/leading", "ünï 🙂/x"]);
    let got = s3
        .get_object()
        .bucket("bucket-a")
        .key("../other-bucket/x")
        .send()
        .await
        .unwrap();
    assert_eq!(&got.body.collect().await.unwrap().into_bytes()[..], b"v");
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
