//! Turns AWS SDK errors into one plain sentence and the advice that fixes it.

use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::display::DisplayErrorContext;

/// An AWS failure, explained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explained {
    pub summary: String,
    pub advice: Option<String>,
    /// The full error chain, for the "details" view.
    pub detail: String,
    /// HTTP status, when the service answered.
    pub status: Option<u16>,
}

/// The engine error for a failed call: explained, with the IAM `action` it needed.
pub fn failed<E>(err: &SdkError<E, Response>, ctx: Context<'_>, action: &str) -> crate::Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let x = explain(err, Context { action, ..ctx });
    crate::Error::Aws {
        summary: x.summary,
        advice: x.advice,
        detail: Some(x.detail),
    }
}

/// Whether SageMaker said the resource does not exist. It answers a ValidationException whose
/// message starts "Could not find" (DescribeEndpoint, DescribeEndpointConfig, DescribeModel),
/// not a not-found code.
pub fn is_not_found<E>(err: &SdkError<E, Response>) -> bool
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    matches!(err, SdkError::ServiceError(_))
        && err.code() == Some("ValidationException")
        && err.message().is_some_and(|m| m.contains("Could not find"))
}

/// Whether the call was never sent because the credentials provider failed: an SSO session or
/// temporary credentials that expired and cannot be renewed, a `credential_process` that fails.
/// The SDK reports those as a dispatch failure, like a dropped connection, but no retry can
/// fix them. Found by the provider's error type in the error's source chain.
pub fn is_credentials_failure<E>(err: &SdkError<E, Response>) -> bool
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_credential_types::provider::error::{CredentialsError, TokenError};
    if !matches!(err, SdkError::DispatchFailure(_)) {
        return false;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.is::<CredentialsError>() || e.is::<TokenError>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// The error for a job that must stop because its credentials ran out mid-way: what happened
/// and the command that fixes it, then resume (nothing is lost; unsent requests stay pending).
pub fn session_ended<E>(err: &SdkError<E, Response>, ctx: Context<'_>) -> crate::Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let whose = ctx.profile.map_or("Your AWS session".to_string(), |p| {
        format!("Your AWS session for profile {p}")
    });
    crate::Error::Aws {
        summary: format!("{whose} expired or could not be renewed"),
        advice: Some(format!(
            "run `{}` (or refresh your credentials), then resume the job",
            ctx.login_command()
        )),
        detail: Some(DisplayErrorContext(err).to_string()),
    }
}

/// Whether trying again later may work: throttling, a server error, a timeout or a dropped
/// connection (not a refusal of who you are or of what you asked).
pub fn is_transient<E>(err: &SdkError<E, Response>) -> bool
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        // Not sent because no credentials could be had: only signing in again helps.
        SdkError::DispatchFailure(_) if is_credentials_failure(err) => false,
        // No answer, or an answer that could not be read: the next try may get through.
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(_) => {
            let code = err.code().unwrap_or_default();
            code.contains("Throttl")
                || matches!(
                    code,
                    "TooManyRequestsException"
                        | "SlowDown"
                        | "RequestTimeout"
                        | "InternalError"
                        | "InternalFailure"
                        | "InternalDependencyException"
                        | "ServiceUnavailable"
                )
                || err
                    .raw_response()
                    .is_some_and(|r| r.status().as_u16() >= 500)
        }
        _ => false,
    }
}

/// What the explanation may mention: the action tried and how the user is connected.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The IAM action, e.g. `sagemaker:ListEndpoints`.
    pub action: &'a str,
    pub profile: Option<&'a str>,
    pub region: Option<&'a str>,
    pub endpoint: Option<&'a str>,
}

impl Context<'_> {
    fn login_command(&self) -> String {
        match self.profile {
            Some(p) => format!("aws sso login --profile {p}"),
            None => "aws sso login".into(),
        }
    }

    fn where_to(&self) -> String {
        match (self.endpoint, self.region) {
            (Some(url), _) => url.to_string(),
            (None, Some(r)) => format!("AWS in {r}"),
            (None, None) => "AWS".into(),
        }
    }
}

pub fn explain<E>(err: &SdkError<E, Response>, ctx: Context<'_>) -> Explained
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let detail = DisplayErrorContext(err).to_string();
    let status = err.raw_response().map(|r| r.status().as_u16());
    let (summary, advice) = match err {
        SdkError::ServiceError(_) | SdkError::ResponseError(_) => {
            by_code(err.code(), err.message(), status, ctx)
        }
        SdkError::TimeoutError(_) => (
            format!("{} did not answer in time", ctx.where_to()),
            Some("Check your network connection, VPN or proxy, and that the endpoint URL and region are right.".into()),
        ),
        SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_) => {
            not_sent(&detail, ctx)
        }
        _ => (format!("{} failed", ctx.action), None),
    };
    Explained {
        summary,
        advice,
        detail,
        status,
    }
}

/// The request never got an answer: missing or expired credentials, or no connection.
fn not_sent(detail: &str, ctx: Context<'_>) -> (String, Option<String>) {
    let text = detail.to_ascii_lowercase();
    if text.contains("sso") && (text.contains("expired") || text.contains("token")) {
        return (
            "Your AWS SSO session has expired or was never started".into(),
            Some(format!("Run `{}` and try again.", ctx.login_command())),
        );
    }
    if text.contains("credential") {
        return (
            "No AWS credentials were found".into(),
            Some(match ctx.profile {
                Some(p) => format!(
                    "The profile `{p}` gave no credentials: run `aws configure --profile {p}` (or `aws sso login --profile {p}` for SSO), or pick another profile in Settings."
                ),
                None => "Run `aws configure` or `aws sso login`, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, then pick the profile in Settings.".into(),
            }),
        );
    }
    if text.contains("region") && (text.contains("missing") || text.contains("no region")) {
        return (
            "No AWS region is set".into(),
            Some("Choose a region in Settings, or set AWS_REGION.".into()),
        );
    }
    (
        format!("Could not connect to {}", ctx.where_to()),
        Some("Check your network connection, VPN or proxy, the endpoint URL, and that the region is spelled right.".into()),
    )
}

fn by_code(
    code: Option<&str>,
    message: Option<&str>,
    status: Option<u16>,
    ctx: Context<'_>,
) -> (String, Option<String>) {
    let said = message
        .filter(|m| !m.is_empty())
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    match code.unwrap_or_default() {
        "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" | "Forbidden" => (
            format!("Access denied: your identity may not call {}", ctx.action),
            Some(format!(
                "Ask your AWS administrator to allow `{}` for this identity, or choose a profile that has it.",
                ctx.action
            )),
        ),
        "ExpiredToken" | "ExpiredTokenException" | "RequestExpired" | "TokenRefreshRequired" => (
            "Your AWS credentials have expired".into(),
            Some(format!(
                "Run `{}` (SSO) or refresh your temporary credentials, then try again.",
                ctx.login_command()
            )),
        ),
        "InvalidClientTokenId" | "UnrecognizedClientException" | "InvalidAccessKeyId"
        | "SignatureDoesNotMatch" | "IncompleteSignature" => (
            format!("{} does not accept these credentials{said}", ctx.where_to()),
            Some("Check the access key and secret of this profile (`aws configure list`), or pick another profile.".into()),
        ),
        "AuthorizationHeaderMalformed" | "PermanentRedirect" | "IllegalLocationConstraintException" => (
            "The request went to the wrong region".into(),
            Some("Set the region where your resources live in Settings.".into()),
        ),
        "ThrottlingException" | "Throttling" | "TooManyRequestsException" | "SlowDown" => (
            format!("AWS is throttling {}", ctx.action),
            Some("Wait a moment and try again.".into()),
        ),
        "ValidationException" | "ValidationError" | "InvalidParameterValue"
        | "InvalidParameterValueException" | "InvalidParameterCombination" => (
            format!("AWS refused {}{said}", ctx.action),
            None,
        ),
        "ResourceLimitExceeded" => (
            format!("An AWS quota was reached{said}"),
            Some("Request a quota increase in the Service Quotas console for the limit named above.".into()),
        ),
        "" => match status {
            Some(403) => (
                format!("Access denied: your identity may not call {}", ctx.action),
                Some(format!("Allow `{}` for this identity.", ctx.action)),
            ),
            Some(s) => (format!("{} answered HTTP {s}", ctx.where_to()), None),
            None => (format!("{} failed", ctx.action), None),
        },
        other => (format!("{} failed with {other}{said}", ctx.action), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTX: Context<'static> = Context {
        action: "sagemaker:ListEndpoints",
        profile: Some("dev"),
        region: Some("us-east-1"),
        endpoint: None,
    };

    #[test]
    fn a_refused_value_is_quoted() {
        let (summary, advice) = by_code(
            Some("ValidationException"),
            Some("Could not find endpoint \"x\"."),
            Some(400),
            CTX,
        );
        assert_eq!(
            summary,
            "AWS refused sagemaker:ListEndpoints: Could not find endpoint \"x\"."
        );
        assert_eq!(advice, None);
    }

    #[test]
    fn access_denied_names_the_missing_action() {
        let (summary, advice) = by_code(Some("AccessDeniedException"), None, Some(400), CTX);
        assert!(summary.contains("sagemaker:ListEndpoints"));
        assert!(advice.unwrap().contains("`sagemaker:ListEndpoints`"));
    }

    #[test]
    fn expired_sso_session_says_how_to_log_in() {
        let (summary, advice) =
            not_sent("failed to load credentials: the SSO token has expired", CTX);
        assert!(summary.contains("SSO session"), "{summary}");
        assert!(advice.unwrap().contains("aws sso login --profile dev"));
        let (summary, _) = by_code(Some("ExpiredToken"), None, Some(403), CTX);
        assert!(summary.contains("expired"));
    }

    #[test]
    fn missing_credentials_and_unreachable_endpoint() {
        let (summary, _) = not_sent("no providers in chain provided credentials", CTX);
        assert_eq!(summary, "No AWS credentials were found");
        let ctx = Context {
            endpoint: Some("http://127.0.0.1:1"),
            ..CTX
        };
        let (summary, _) = not_sent("io error: Connection refused", ctx);
        assert_eq!(summary, "Could not connect to http://127.0.0.1:1");
    }
}
