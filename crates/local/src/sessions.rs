//! Temporary credentials: STS GetSessionToken / AssumeRole hand out an access key, secret
//! and session token that stop working after `DurationSeconds` (simulated time, so a
//! sped-up cloud lets them expire within a test). A session belongs to an account: the
//! local one, or for AssumeRole the account of the role's ARN, which is how a test acts as
//! another local account (say, to own a bucket that is not the user's).

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use crate::Credentials;
use crate::sim::clock::Clock;

/// One set of temporary credentials (`Debug` leaves the secret and the token out).
#[derive(Clone)]
pub struct Session {
    pub credentials: Credentials,
    /// What clients send as `x-amz-security-token`.
    pub token: String,
    /// The simulated instant (see [`Clock::now`]) from which calls are refused.
    pub expires_at: f64,
    /// The 12-digit account the session acts as.
    pub account: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("credentials", &self.credentials)
            .field("token", &crate::REDACTED)
            .field("expires_at", &self.expires_at)
            .field("account", &self.account)
            .finish()
    }
}

/// Why a call signed with temporary credentials is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The credentials ran out.
    Expired,
    /// The session token is missing or not the one issued with the key.
    WrongToken,
}

/// The temporary credentials issued so far, by access key id.
#[derive(Default)]
pub struct Sessions {
    issued: RwLock<HashMap<String, Session>>,
}

impl Sessions {
    /// Issues credentials of `account` valid for `duration` of simulated time from now.
    pub fn issue(&self, clock: &Clock, duration: Duration, account: &str) -> Session {
        use rand::distr::{Alphanumeric, SampleString};
        let mut credentials = Credentials::generate();
        // AWS marks temporary keys with ASIA, long-lived ones with AKIA.
        credentials.access_key_id = format!("ASIA{}", &credentials.access_key_id[4..]);
        let session = Session {
            credentials,
            token: Alphanumeric.sample_string(&mut rand::rng(), 120),
            expires_at: clock.now() + duration.as_secs_f64(),
            account: account.to_string(),
        };
        if let Ok(mut issued) = self.issued.write() {
            issued.insert(session.credentials.access_key_id.clone(), session.clone());
        }
        session
    }

    /// For an access key that was issued here: its credentials while valid, else why not.
    /// `None` when the key is not a temporary one.
    pub fn check(
        &self,
        clock: &Clock,
        access_key: &str,
        token: Option<&str>,
    ) -> Option<Result<Credentials, Refused>> {
        let issued = self.issued.read().ok()?;
        let session = issued.get(access_key)?;
        Some(if token != Some(session.token.as_str()) {
            Err(Refused::WrongToken)
        } else if clock.now() >= session.expires_at {
            Err(Refused::Expired)
        } else {
            Ok(session.credentials.clone())
        })
    }

    /// The account a key acts as: an issued key's session's, else the local account (the
    /// local cloud's own keys; signatures were checked before this is asked).
    pub fn account(&self, access_key: &str) -> String {
        self.issued
            .read()
            .ok()
            .and_then(|issued| issued.get(access_key).map(|s| s.account.clone()))
            .unwrap_or_else(|| crate::ACCOUNT_ID.to_string())
    }

    /// The secret of an issued key, expired or not (S3's signature check needs it).
    pub fn secret(&self, access_key: &str) -> Option<String> {
        let issued = self.issued.read().ok()?;
        issued
            .get(access_key)
            .map(|s| s.credentials.secret_access_key.clone())
    }
}

/// The keys S3 signatures are checked against: the local cloud's own and any issued here.
pub struct S3Keys {
    pub credentials: Credentials,
    pub sessions: std::sync::Arc<Sessions>,
}

#[async_trait::async_trait]
impl s3s::auth::S3Auth for S3Keys {
    async fn get_secret_key(&self, access_key: &str) -> s3s::S3Result<s3s::auth::SecretKey> {
        if access_key == self.credentials.access_key_id {
            return Ok(self.credentials.secret_access_key.clone().into());
        }
        match self.sessions.secret(access_key) {
            Some(secret) => Ok(secret.into()),
            None => Err(s3s::s3_error!(InvalidAccessKeyId)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_work_until_they_expire() {
        let clock = Clock::new(1.0);
        let sessions = Sessions::default();
        let s = sessions.issue(&clock, Duration::ZERO, crate::ACCOUNT_ID);
        let key = s.credentials.access_key_id.as_str();
        assert!(key.starts_with("ASIA"));
        assert_eq!(
            sessions.check(&clock, key, Some(&s.token)),
            Some(Err(Refused::Expired))
        );
        assert_eq!(
            sessions.check(&clock, key, None),
            Some(Err(Refused::WrongToken))
        );
        let long = sessions.issue(&clock, Duration::from_secs(3600), "111111111111");
        let key = long.credentials.access_key_id.as_str();
        assert_eq!(
            sessions.check(&clock, key, Some(&long.token)),
            Some(Ok(long.credentials.clone()))
        );
        assert!(sessions.check(&clock, "AKIAOTHER", None).is_none());
        assert_eq!(sessions.account(key), "111111111111");
        assert_eq!(sessions.account("AKIAOTHER"), crate::ACCOUNT_ID);
        let shown = format!("{long:?}");
        assert!(!shown.contains(&long.token), "{shown}");
        assert!(
            !shown.contains(&long.credentials.secret_access_key),
            "{shown}"
        );
    }
}
