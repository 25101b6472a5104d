//! STS (awsQuery): GetCallerIdentity, so identity checks and default bucket names work locally.

use http::StatusCode;

use crate::protocol::{self, Body, Protocol};

pub fn handle(body: &[u8], request_id: &str) -> http::Response<Body> {
    let form = String::from_utf8_lossy(body);
    let action = form
        .split('&')
        .find_map(|p| p.strip_prefix("Action="))
        .unwrap_or_default();
    match action {
        "GetCallerIdentity" => protocol::xml(
            StatusCode::OK,
            format!(
                "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult><Arn>arn:aws:iam::{acct}:user/ebb-local</Arn><UserId>AIDAEBBLOCALUSER0000</UserId><Account>{acct}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></GetCallerIdentityResponse>",
                acct = crate::ACCOUNT_ID
            ),
            request_id,
        ),
        other => protocol::error(
            Protocol::Query,
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            &format!("the local cloud does not implement the STS action `{other}`"),
            request_id,
        ),
    }
}
