//! GET with the manners a production API expects: a timeout per attempt, retries on
//! timeouts, connection errors, 5xx and 429 with exponential backoff and jitter, and
//! `Retry-After` honoured. Credentials come from environment variables and appear in
//! no message.

use std::time::Duration;

use rand::RngExt;
use reqwest::StatusCode;

use super::{PullError, SourceConfig};
use crate::http::{MAX_RETRY_AFTER, retry_after, root_cause, snippet};
pub use crate::secret::Secret;

/// How requests authenticate.
#[derive(Debug, Clone)]
pub enum Credentials {
    None,
    Bearer(Secret),
    Basic { user: Secret, password: Secret },
}

impl Credentials {
    /// From a source's `auth` table: Basic when both key names are given, else a
    /// bearer token when one is named.
    pub fn from_config(config: &SourceConfig) -> Result<Self, String> {
        let a = &config.auth;
        match (&a.public_key_env, &a.secret_key_env, &a.token_env) {
            (Some(user), Some(password), _) => {
                let (user, password) = (Secret::from_env(user)?, Secret::from_env(password)?);
                crate::secret::register_basic(user.expose(), password.expose());
                Ok(Self::Basic { user, password })
            }
            (_, _, Some(token)) => Ok(Self::Bearer(Secret::from_env(token)?)),
            _ => Ok(Self::None),
        }
    }
}

/// A response that came back, whatever its status (retryable ones were retried).
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub body: Vec<u8>,
}

impl Response {
    /// The body of a 2xx; otherwise an error that says what the operator can do.
    pub fn ok(self) -> Result<Vec<u8>, PullError> {
        if self.status.is_success() {
            return Ok(self.body);
        }
        let detail = snippet(&self.body);
        Err(match self.status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => PullError::Refused(format!(
                "HTTP {}: the credentials were refused; check the environment variables \
                 named in [source.auth]: {detail}",
                self.status.as_u16()
            )),
            StatusCode::NOT_FOUND => PullError::Refused(format!(
                "HTTP 404: not found; check `endpoint` and `project`: {detail}"
            )),
            s => PullError::Refused(format!("HTTP {}: {detail}", s.as_u16())),
        })
    }
}

/// A source's HTTP client and retry policy.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    credentials: Credentials,
    timeout: Duration,
    retries: u32,
    backoff: Duration,
}

impl Fetcher {
    pub fn new(config: &SourceConfig) -> Result<Self, String> {
        let credentials = Credentials::from_config(config)?;
        Ok(Self {
            client: reqwest::Client::builder()
                .user_agent(concat!("relops/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| format!("cannot build an HTTP client: {e}"))?,
            credentials,
            timeout: Duration::from_millis(config.timeout_ms),
            retries: config.retries,
            backoff: Duration::from_millis(config.backoff_ms.max(1)),
        })
    }

    /// Takes any secret out of an error's text: a server may echo what it was sent.
    pub fn scrub(&self, e: PullError) -> PullError {
        scrub(e)
    }

    /// GETs `url` with `query`, retrying as the policy says. Errors carry no secret.
    pub async fn get(&self, url: &str, query: &[(&str, String)]) -> Result<Response, PullError> {
        self.get_raw(url, query).await.map_err(|e| self.scrub(e))
    }

    async fn get_raw(&self, url: &str, query: &[(&str, String)]) -> Result<Response, PullError> {
        let mut delay = self.backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (error, after) = match self.attempt(url, query).await {
                Ok(r) => return Ok(r),
                Err(retry) => retry,
            };
            if attempt > self.retries {
                let tries = if attempt > 1 {
                    format!(" (after {attempt} attempts)")
                } else {
                    String::new()
                };
                return Err(PullError::Unavailable(format!("{error}{tries}")));
            }
            let wait = match after {
                Some(a) if a > MAX_RETRY_AFTER => {
                    return Err(PullError::Unavailable(format!(
                        "{error}; the source asked to retry after {} s",
                        a.as_secs()
                    )));
                }
                Some(a) => a,
                None => jitter(delay),
            };
            tokio::time::sleep(wait).await;
            delay = delay.saturating_mul(2);
        }
    }

    /// One attempt: a response worth keeping, or why to retry and when.
    async fn attempt(
        &self,
        url: &str,
        query: &[(&str, String)],
    ) -> Result<Response, (String, Option<Duration>)> {
        let mut req = self.client.get(url).query(query).timeout(self.timeout);
        req = match &self.credentials {
            Credentials::None => req,
            Credentials::Bearer(t) => req.bearer_auth(t.expose()),
            Credentials::Basic { user, password } => {
                req.basic_auth(user.expose(), Some(password.expose()))
            }
        };
        let timed_out = || format!("timed out after {} ms", self.timeout.as_millis());
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return Err((timed_out(), None)),
            Err(e) => return Err((format!("cannot reach {url}: {}", root_cause(&e)), None)),
        };
        let status = resp.status();
        let after = retry_after(resp.headers());
        let body = match resp.bytes().await {
            Ok(b) => b.to_vec(),
            Err(e) if e.is_timeout() => return Err((timed_out(), None)),
            Err(e) => {
                return Err((format!("reading the response: {}", root_cause(&e)), None));
            }
        };
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Err((
                format!("HTTP {}: {}", status.as_u16(), snippet(&body)),
                after,
            ));
        }
        Ok(Response { status, body })
    }
}

/// `e` with every registered secret masked (`crate::secret`).
fn scrub(e: PullError) -> PullError {
    use crate::secret::scrub_owned as clean;
    match e {
        PullError::Unavailable(m) => PullError::Unavailable(clean(m)),
        PullError::Malformed(m) => PullError::Malformed(clean(m)),
        PullError::Refused(m) => PullError::Refused(clean(m)),
        PullError::Looping(m) => PullError::Looping(clean(m)),
    }
}

/// Full jitter on the upper half: many clients that failed together retry apart.
fn jitter(delay: Duration) -> Duration {
    let ms = delay.as_millis().max(2) as u64;
    Duration::from_millis(rand::rng().random_range(ms / 2..=ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints() {
        let s = Secret::new("hunter2".into());
        assert_eq!(format!("{s:?}"), "Secret(***)");
        let c = Credentials::Bearer(s);
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn a_missing_variable_is_named() {
        let err = Secret::from_env("RELOPS_TEST_SURELY_UNSET_VAR").unwrap_err();
        assert!(err.contains("RELOPS_TEST_SURELY_UNSET_VAR"), "{err}");
    }

    #[test]
    fn echoed_credentials_are_scrubbed_from_errors() {
        crate::secret::register_basic("pk-lf-1", "sk-lf-secret");
        // RFC 7617's encoding of pk-lf-1:sk-lf-secret, as a server might echo the header.
        let e = scrub(PullError::Refused(
            "HTTP 401: Basic cGstbGYtMTpzay1sZi1zZWNyZXQ= sk-lf-secret".into(),
        ));
        assert_eq!(e, PullError::Refused("HTTP 401: Basic ***= ***".into()));
    }

    #[test]
    fn jitter_stays_within_the_delay() {
        for _ in 0..100 {
            let d = jitter(Duration::from_millis(400));
            assert!((200..=400).contains(&d.as_millis()), "{d:?}");
        }
    }

    #[test]
    fn refusals_say_what_to_check() {
        let r = Response {
            status: StatusCode::UNAUTHORIZED,
            body: b"nope".to_vec(),
        };
        let e = r.ok().unwrap_err().to_string();
        assert!(e.contains("credentials") && e.contains("nope"), "{e}");
    }
}
