//! Sending one replay call: a timeout per attempt, retries on timeouts, connection
//! errors, 5xx and 429 with exponential backoff (a `Retry-After` in seconds wins), and
//! a concurrency limit per target.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::sync::Semaphore;

use super::target::Call;
use crate::http::{MAX_RETRY_AFTER, retry_after, root_cause as root, snippet};

/// How one target is called.
#[derive(Debug, Clone)]
pub struct Policy {
    pub timeout: Duration,
    pub retries: u32,
    pub backoff: Duration,
    pub limit: Arc<Semaphore>,
}

impl Policy {
    pub fn from_config(t: &crate::config::ReplayTarget) -> Self {
        Self {
            timeout: Duration::from_millis(t.timeout_ms),
            retries: t.retries,
            backoff: Duration::from_millis(t.backoff_ms),
            limit: Arc::new(Semaphore::new(t.concurrency.max(1))),
        }
    }
}

/// A successful response body and what it took to get it.
#[derive(Debug)]
pub struct Reply {
    pub body: Vec<u8>,
    /// Round trip of the attempt that succeeded.
    pub elapsed: Duration,
    pub attempts: u32,
}

/// A call that failed for good.
#[derive(Debug)]
pub struct Failure {
    pub error: String,
    pub attempts: u32,
}

/// One attempt's outcome: done, or worth retrying after an optional server-given delay.
enum Attempt {
    Done(Result<Vec<u8>, String>),
    Retry(String, Option<Duration>),
}

/// Makes the call, retrying as the policy says. `api_key` goes in a bearer header and
/// nowhere else; a gateway that echoes it back has it masked (`crate::secret`) before
/// the error is stored or reported.
pub async fn send(
    client: &reqwest::Client,
    call: &Call,
    api_key: Option<&str>,
    policy: &Policy,
) -> Result<Reply, Failure> {
    send_unscrubbed(client, call, api_key, policy)
        .await
        .map_err(|f| Failure {
            error: crate::secret::scrub_owned(f.error),
            attempts: f.attempts,
        })
}

async fn send_unscrubbed(
    client: &reqwest::Client,
    call: &Call,
    api_key: Option<&str>,
    policy: &Policy,
) -> Result<Reply, Failure> {
    let _permit = policy.limit.acquire().await.map_err(|_| Failure {
        error: "replay target closed".into(),
        attempts: 0,
    })?;
    let mut delay = policy.backoff;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let started = Instant::now();
        let last = attempts > policy.retries;
        match attempt(client, call, api_key, policy.timeout).await {
            Attempt::Done(Ok(body)) => {
                return Ok(Reply {
                    body,
                    elapsed: started.elapsed(),
                    attempts,
                });
            }
            Attempt::Done(Err(error)) => return Err(Failure { error, attempts }),
            Attempt::Retry(error, _) if last => {
                let error = if attempts > 1 {
                    format!("{error} (after {attempts} attempts)")
                } else {
                    error
                };
                return Err(Failure { error, attempts });
            }
            Attempt::Retry(_, Some(after)) if after > MAX_RETRY_AFTER => {
                return Err(Failure {
                    error: format!("target asked to retry after {}s", after.as_secs()),
                    attempts,
                });
            }
            Attempt::Retry(_, after) => {
                tokio::time::sleep(after.unwrap_or(delay)).await;
                delay *= 2;
            }
        }
    }
}

async fn attempt(
    client: &reqwest::Client,
    call: &Call,
    api_key: Option<&str>,
    timeout: Duration,
) -> Attempt {
    let mut req = client.post(&call.url).json(&call.body).timeout(timeout);
    for (k, v) in &call.headers {
        req = req.header(k, v);
    }
    if let Some(key) = api_key {
        req = req.bearer_auth(key);
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) if e.is_timeout() => {
            return Attempt::Retry(format!("timed out after {} ms", timeout.as_millis()), None);
        }
        Err(e) if e.is_connect() || e.is_request() => {
            return Attempt::Retry(format!("cannot reach {}: {}", call.url, root(&e)), None);
        }
        Err(e) => return Attempt::Done(Err(root(&e))),
    };
    let status = resp.status();
    let retry_after = retry_after(resp.headers());
    let body = match resp.bytes().await {
        Ok(b) => b.to_vec(),
        Err(e) if e.is_timeout() => {
            return Attempt::Retry(format!("timed out after {} ms", timeout.as_millis()), None);
        }
        Err(e) => return Attempt::Retry(format!("reading the response: {}", root(&e)), None),
    };
    if status.is_success() {
        return Attempt::Done(Ok(body));
    }
    let error = format!("HTTP {}: {}", status.as_u16(), snippet(&body));
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        Attempt::Retry(error, retry_after)
    } else {
        Attempt::Done(Err(error))
    }
}
