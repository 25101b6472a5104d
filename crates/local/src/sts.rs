//! STS (awsQuery): GetCallerIdentity, so identity checks and default bucket names work
//! locally; GetSessionToken and AssumeRole, which hand out temporary credentials that
//! expire (see [`crate::sessions`]). AssumeRole into a role of another 12-digit account
//! gives that account's credentials: the local cloud's way to a second account.

use std::time::Duration;

use http::StatusCode;

use crate::protocol::{self, Body, Protocol};
use crate::sessions::{Session, Sessions};
use crate::sim::clock::Clock;

const XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// What STS needs to answer: who calls, and where temporary credentials are kept.
pub struct Issuer<'a> {
    pub sessions: &'a Sessions,
    pub clock: &'a Clock,
    /// The account of the calling key.
    pub caller_account: String,
}

/// One form parameter of the request body, decoded.
fn param(form: &str, name: &str) -> Option<String> {
    form.split('&').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k == name).then(|| {
            percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

fn error(status: StatusCode, code: &str, message: &str, request_id: &str) -> http::Response<Body> {
    protocol::error(Protocol::Query, status, code, message, request_id)
}

/// Answers one STS call.
pub fn handle(body: &[u8], request_id: &str, issuer: Issuer<'_>) -> http::Response<Body> {
    let form = String::from_utf8_lossy(body);
    let action = param(&form, "Action").unwrap_or_default();
    match action.as_str() {
        "GetCallerIdentity" => protocol::xml(
            StatusCode::OK,
            format!(
                "<GetCallerIdentityResponse xmlns=\"{XMLNS}\"><GetCallerIdentityResult><Arn>arn:aws:iam::{acct}:user/ebb-local</Arn><UserId>AIDAEBBLOCALUSER0000</UserId><Account>{acct}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></GetCallerIdentityResponse>",
                acct = issuer.caller_account
            ),
            request_id,
        ),
        action @ ("GetSessionToken" | "AssumeRole") => {
            temporary(action, &form, request_id, &issuer)
        }
        other => error(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            &format!("the local cloud does not implement the STS action `{other}`"),
            request_id,
        ),
    }
}

/// `DurationSeconds`' default and range: GetSessionToken 43200 in 900..=129600, AssumeRole
/// 3600 in 900..=43200.
/// See <https://docs.aws.amazon.com/STS/latest/APIReference/API_GetSessionToken.html> and
/// <https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html>.
fn duration(action: &str, form: &str) -> Result<Duration, String> {
    let (default, max) = if action == "AssumeRole" {
        (3600, 43_200)
    } else {
        (43_200, 129_600)
    };
    let Some(raw) = param(form, "DurationSeconds") else {
        return Ok(Duration::from_secs(default));
    };
    let seconds: i64 = raw
        .trim()
        .parse()
        .map_err(|_| format!("Value '{raw}' at 'durationSeconds' is not a valid integer."))?;
    let constraint = if seconds < 900 {
        "greater than or equal to 900".to_string()
    } else if seconds > max {
        format!("less than or equal to {max}")
    } else {
        return Ok(Duration::from_secs(seconds as u64));
    };
    Err(format!(
        "1 validation error detected: Value '{seconds}' at 'durationSeconds' failed to satisfy constraint: Member must have value {constraint}"
    ))
}

fn temporary(
    action: &str,
    form: &str,
    request_id: &str,
    issuer: &Issuer<'_>,
) -> http::Response<Body> {
    let invalid = |m: &str| error(StatusCode::BAD_REQUEST, "ValidationError", m, request_id);
    let lasts = match duration(action, form) {
        Ok(d) => d,
        Err(message) => return invalid(&message),
    };
    let role = if action == "AssumeRole" {
        let (Some(arn), Some(name)) = (param(form, "RoleArn"), param(form, "RoleSessionName"))
        else {
            return invalid("AssumeRole needs RoleArn and RoleSessionName.");
        };
        Some((arn, name))
    } else {
        None
    };
    // AssumeRole acts as the role's account; GetSessionToken as the caller's.
    let account = match &role {
        Some((arn, _)) => role_account(arn).unwrap_or(crate::ACCOUNT_ID),
        None => &issuer.caller_account,
    };
    let session = issuer.sessions.issue(issuer.clock, lasts, account);
    let expiration = iso8601(issuer.clock.epoch_of(session.expires_at));
    let user = role.map_or_else(String::new, |(arn, name)| {
        let role_name = arn.rsplit('/').next().unwrap_or_default().to_string();
        format!(
            "<AssumedRoleUser><AssumedRoleId>AROAEBBLOCALROLE0000:{name}</AssumedRoleId><Arn>arn:aws:sts::{}:assumed-role/{role_name}/{name}</Arn></AssumedRoleUser>",
            session.account
        )
    });
    protocol::xml(
        StatusCode::OK,
        format!(
            "<{action}Response xmlns=\"{XMLNS}\"><{action}Result>{}{user}</{action}Result><ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>",
            credentials_xml(&session, &expiration)
        ),
        request_id,
    )
}

/// The account of a role ARN (`arn:aws:iam::123456789012:role/Name`), if it names one.
fn role_account(arn: &str) -> Option<&str> {
    let account = arn.split(':').nth(4)?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then_some(account)
}

fn credentials_xml(session: &Session, expiration: &str) -> String {
    format!(
        "<Credentials><AccessKeyId>{}</AccessKeyId><SecretAccessKey>{}</SecretAccessKey><SessionToken>{}</SessionToken><Expiration>{expiration}</Expiration></Credentials>",
        session.credentials.access_key_id, session.credentials.secret_access_key, session.token
    )
}

/// Epoch seconds as `YYYY-MM-DDThh:mm:ssZ`.
fn iso8601(epoch: f64) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from_unix_timestamp(epoch as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .format(FORMAT)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_held_to_sts_ranges() {
        assert_eq!(
            duration("GetSessionToken", "Action=GetSessionToken"),
            Ok(Duration::from_secs(43_200))
        );
        assert_eq!(
            duration("AssumeRole", "DurationSeconds=900"),
            Ok(Duration::from_secs(900))
        );
        let short = duration("AssumeRole", "DurationSeconds=899").unwrap_err();
        assert!(short.ends_with("Member must have value greater than or equal to 900"));
        let long = duration("AssumeRole", "DurationSeconds=43201").unwrap_err();
        assert!(long.ends_with("less than or equal to 43200"), "{long}");
        assert_eq!(iso8601(0.0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn a_role_arn_names_its_account() {
        assert_eq!(
            role_account("arn:aws:iam::111111111111:role/Stranger"),
            Some("111111111111")
        );
        assert_eq!(role_account("arn:aws:iam::12:role/Short"), None);
        assert_eq!(role_account("not-an-arn"), None);
    }
}
