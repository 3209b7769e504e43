//! Sending what the outbox owes, one file per kind for the body. A notifier that keeps
//! failing backs off on its own; it never holds up the cycle or the other notifiers.

pub mod alertmanager;
pub mod pagerduty;
pub mod slack;
pub mod webhook;

use std::time::Duration;

use super::outbox::{self, Queued};
use crate::config::guard::{Notify, NotifyKind, PAGERDUTY_EVENTS};

/// A notifier with its secrets read from the environment.
#[derive(Clone)]
pub struct Ready {
    pub notify: Notify,
    url: String,
    secret: Option<String>,
}

impl std::fmt::Debug for Ready {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ready")
            .field("notifier", &self.notify.name)
            .finish_non_exhaustive()
    }
}

impl Ready {
    /// Reads the variables `n` names; the error names the key and the variable.
    pub fn new(n: &Notify) -> Result<Self, (&'static str, String)> {
        let read = |key: &'static str, var: &str| {
            std::env::var(var)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or((key, format!("the environment variable {var} is not set")))
        };
        let url = match (&n.url_env, &n.url, n.kind) {
            (Some(var), _, _) => read("url_env", var)?,
            (None, Some(url), _) => url.clone(),
            (None, None, NotifyKind::Pagerduty) => PAGERDUTY_EVENTS.into(),
            (None, None, _) => return Err(("url", "no url".into())),
        };
        crate::config::http_url(&url).map_err(|_| {
            (
                "url_env",
                "the URL it holds is not an http(s) URL".to_string(),
            )
        })?;
        let secret = n
            .secret_env
            .as_deref()
            .map(|v| read("secret_env", v))
            .transpose()?;
        // A webhook URL from the environment is itself a credential (Slack's is), and
        // its path is the secret part: a peer echoing the request line shows only that.
        if n.url_env.is_some() {
            crate::secret::register(&url);
            if let Ok(u) = reqwest::Url::parse(&url) {
                crate::secret::register(u.path());
                if let Some(q) = u.query() {
                    crate::secret::register(q);
                }
            }
        }
        if let Some(s) = &secret {
            crate::secret::register(s);
        }
        Ok(Self {
            notify: n.clone(),
            url,
            secret,
        })
    }
}

/// How one request went.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Sent,
    /// Worth another try after `after`.
    Retry {
        after: Duration,
        error: String,
    },
    /// The peer rejected the notification; another try would be rejected too.
    Refused(String),
}

/// The wait before attempt `attempts + 1`: 5 s doubling to 5 min.
pub fn backoff(attempts: u32) -> Duration {
    Duration::from_secs((5u64 << attempts.min(6)).min(300))
}

/// Sends what `n` owes now, oldest first; records each outcome. Stops at the first
/// retry so the order holds. The number sent.
pub async fn flush(
    conn: &rusqlite::Connection,
    client: &reqwest::Client,
    n: &Ready,
    workspace: &str,
    hold_ns: i64,
) -> Result<usize, String> {
    let now = crate::clock::wall_ns();
    let owed = outbox::due(conn, &n.notify.name, now).map_err(|e| e.to_string())?;
    if owed.is_empty() {
        return Ok(0);
    }
    // Alertmanager takes the whole set in one request; the others one at a time.
    let batches: Vec<&[Queued]> = if n.notify.kind == NotifyKind::Alertmanager {
        vec![&owed[..]]
    } else {
        owed.chunks(1).collect()
    };
    let mut sent = 0;
    for batch in batches {
        let ids: Vec<i64> = batch.iter().map(|q| q.id).collect();
        let outcome = send(client, n, batch, workspace, hold_ns).await;
        let now = crate::clock::wall_ns();
        let db = |e: rusqlite::Error| e.to_string();
        match outcome {
            Outcome::Sent => {
                outbox::sent(conn, &ids, now).map_err(db)?;
                sent += ids.len();
            }
            Outcome::Refused(error) => outbox::failed(conn, &ids, &error, now).map_err(db)?,
            Outcome::Retry { after, error } => {
                let after = after.max(backoff(batch[0].attempts));
                outbox::retry(conn, &ids, &error, now, after.as_nanos() as i64).map_err(db)?;
                tracing::warn!(notifier = %n.notify.name, %error, retry_in_s = after.as_secs(), "notification not delivered");
                break;
            }
        }
    }
    Ok(sent)
}

async fn send(
    client: &reqwest::Client,
    n: &Ready,
    batch: &[Queued],
    workspace: &str,
    hold_ns: i64,
) -> Outcome {
    let now = crate::clock::wall_ns();
    let base = n.url.trim_end_matches('/');
    let (url, body) = match n.notify.kind {
        NotifyKind::Alertmanager => (
            format!("{base}/api/v2/alerts"),
            alertmanager::body(batch, workspace, now, hold_ns),
        ),
        NotifyKind::Webhook => (n.url.clone(), webhook::body(&batch[0], workspace, now)),
        NotifyKind::Slack => (n.url.clone(), slack::body(&batch[0], workspace)),
        NotifyKind::Pagerduty => (
            n.url.clone(),
            pagerduty::body(
                &batch[0],
                workspace,
                n.secret.as_deref().unwrap_or_default(),
            ),
        ),
    };
    let bytes = serde_json::to_vec(&body).expect("a body serialises");
    let mut req = client
        .post(&url)
        .timeout(Duration::from_secs(n.notify.timeout.as_secs()))
        .header(reqwest::header::CONTENT_TYPE, "application/json");
    if let (NotifyKind::Webhook, Some(key)) = (n.notify.kind, &n.secret) {
        req = req.header(
            webhook::SIGNATURE_HEADER,
            webhook::signature(key.as_bytes(), &bytes),
        );
    }
    match req.body(bytes).send().await {
        Ok(resp) => judge(n, resp).await,
        Err(e) => Outcome::Retry {
            after: Duration::ZERO,
            error: crate::secret::scrub_owned(format!(
                "{}: {}",
                n.notify.name,
                crate::http::root_cause(&e)
            )),
        },
    }
}

/// 2xx sent; 408, 429 and 5xx retried (after Retry-After when given); others refused.
async fn judge(n: &Ready, resp: reqwest::Response) -> Outcome {
    let status = resp.status();
    if status.is_success() {
        return Outcome::Sent;
    }
    let after = crate::http::retry_after(resp.headers())
        .map_or(Duration::ZERO, |d| d.min(Duration::from_secs(3600)));
    let body = resp.bytes().await.unwrap_or_default();
    let error = crate::secret::scrub_owned(format!(
        "{}: HTTP {status}: {}",
        n.notify.name,
        crate::http::snippet(&body)
    ));
    if status.as_u16() == 429 || status.as_u16() == 408 || status.is_server_error() {
        Outcome::Retry { after, error }
    } else {
        Outcome::Refused(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A peer that answers 400 with everything it was sent (request line, headers, body)
    /// as the body, like a gateway that echoes a bad request.
    async fn echo_peer() -> std::net::SocketAddr {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut got = Vec::new();
                let mut buf = [0u8; 8192];
                while let Ok(n @ 1..) = s.read(&mut buf).await {
                    got.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&got);
                    let Some((head, body)) = text.split_once("\r\n\r\n") else {
                        continue;
                    };
                    let want = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if body.len() >= want {
                        break;
                    }
                }
                let reply = format!(
                    "HTTP/1.1 400 Bad Request\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
                    got.len(),
                    String::from_utf8_lossy(&got)
                );
                let _ = s.write_all(reply.as_bytes()).await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_peer_echoing_the_routing_key_and_the_secret_url_leaves_no_trace_of_them() {
        let addr = echo_peer().await;
        let url = format!("http://{addr}/hook/T0/B0/url-canary-5150");
        let key = "pd-routing-canary-4242";
        // SAFETY: variables no other test reads.
        unsafe {
            std::env::set_var("RELOPS_TEST_NOTIFY_URL", &url);
            std::env::set_var("RELOPS_TEST_NOTIFY_KEY", key);
        }
        let notify: Notify = toml::from_str(
            "name = \"pager\"\nkind = \"pagerduty\"\nurl_env = \"RELOPS_TEST_NOTIFY_URL\"\n\
             secret_env = \"RELOPS_TEST_NOTIFY_KEY\"\nmin_severity = \"info\"\n",
        )
        .unwrap();
        let ready = Ready::new(&notify).unwrap();
        let conn = crate::store::memory();
        let alert = crate::guard::alert::Alert::new(
            crate::guard::alert::names::TRIGGER_FIRED,
            crate::config::guard::Severity::Critical,
            &[("rollout", "1")],
            0,
        );
        outbox::reconcile(&conn, std::slice::from_ref(&notify), &[alert], 0).unwrap();
        let client = reqwest::Client::new();
        assert_eq!(flush(&conn, &client, &ready, "ws", 0).await.unwrap(), 0);
        let stored = outbox::backlog(&conn, &notify).unwrap().last_error.unwrap();
        assert!(
            stored.contains("HTTP 400") && stored.contains("***"),
            "{stored}"
        );
        for canary in [key, "url-canary-5150", url.as_str()] {
            assert!(!stored.contains(canary), "{canary} in {stored}");
        }
    }

    #[test]
    fn backoff_doubles_to_five_minutes() {
        assert_eq!(backoff(0), Duration::from_secs(5));
        assert_eq!(backoff(1), Duration::from_secs(10));
        assert_eq!(backoff(9), Duration::from_secs(300));
    }
}
