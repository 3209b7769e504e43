//! The live feed: keeps production traffic arriving while the demo console is open.
//!
//! The demo runs the OTLP/HTTP receiver ([`crate::collect`]) on a loopback port, and the
//! feed posts a few traces a second to it as OTLP/JSON, the way an application's
//! exporter would: the demo exercises the same path as real traffic.
//!
//! Every request is routed by the workflow server's routing ([`super::routing`]): after
//! a rollback to v2, v3 gets no more traffic. Production served before the console
//! opened, so the feed starts with the last half hour at its live rate: a 5 % canary
//! then has about 270 requests in a 30-minute window at once, enough for its refusal
//! rate to mean something (the week's own last half hour, at the quiet hour, holds
//! only a dozen v3 requests).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use color_eyre::eyre::Result;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::routing::{self, Routing};
use super::traffic;
use super::workflow;
use crate::collect::{self, Options, Receiver, ReceiverStats};
use crate::store;
use crate::workspace::Workspace;

const TICK: Duration = Duration::from_millis(1000);
/// Requests per tick are drawn from 1..=MAX_PER_TICK...
const MAX_PER_TICK: u64 = 5;
/// ...so the live rate is three a second on average.
const PER_SEC: u64 = 3;
/// The traffic posted on start, before the live edge (the demo plan's window).
pub const BACKFILL: Duration = Duration::from_secs(30 * 60);
/// Traces per post while backfilling, as a Collector batch would hold.
const BATCH: usize = 64;

/// The receiver and the feed posting to it; both stop when told or dropped.
pub struct LiveFeed {
    addr: SocketAddr,
    stats: Arc<collect::Stats>,
    stop_feed: CancellationToken,
    stop_receiver: CancellationToken,
    feed: Option<JoinHandle<()>>,
    receiver: Option<JoinHandle<std::io::Result<ReceiverStats>>>,
}

impl LiveFeed {
    /// Starts the receiver on a free loopback port and the feed, both on `runtime`;
    /// returns once the backfill is committed. The feed routes by `routing`.
    pub fn start(
        runtime: &Runtime,
        ws: &Workspace,
        seed: u64,
        routing: routing::Shared,
    ) -> Result<Self> {
        let writer = store::open_writer(&ws.db_path)?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        let options = Options {
            source: super::SOURCE.to_string(),
            ..Options::default()
        };
        let receiver = Receiver::new(writer, &ws.config, options);
        let stats = receiver.stats();
        let stop_receiver = CancellationToken::new();
        let receiver =
            runtime.spawn(receiver.serve(listener, stop_receiver.clone().cancelled_owned()));
        let stop_feed = CancellationToken::new();
        let mut feed = Feed {
            client: client()?,
            url: format!("http://{addr}/v1/traces"),
            // A seed of its own per start, so reopening the demo adds new traces.
            rng: ChaCha8Rng::seed_from_u64(seed ^ crate::clock::now_ns() as u64),
            routing,
            served: 0,
        };
        runtime.block_on(feed.backfill(crate::clock::now_ns()));
        let feed = runtime.spawn(feed.run(stop_feed.clone()));
        Ok(Self {
            addr,
            stats,
            stop_feed,
            stop_receiver,
            feed: Some(feed),
            receiver: Some(receiver),
        })
    }

    /// Where the receiver listens; other exporters may send to it too.
    pub fn endpoint(&self) -> String {
        format!("http://{}/v1/traces", self.addr)
    }

    /// The receiver's counters.
    pub fn stats(&self) -> Arc<collect::Stats> {
        Arc::clone(&self.stats)
    }

    /// Stops the feed, then the receiver once what it accepted is committed.
    pub fn stop(mut self, runtime: &Runtime) {
        self.stop_feed.cancel();
        if let Some(feed) = self.feed.take() {
            let _ = runtime.block_on(feed);
        }
        self.stop_receiver.cancel();
        if let Some(receiver) = self.receiver.take() {
            let _ = runtime.block_on(receiver);
        }
    }
}

impl Drop for LiveFeed {
    fn drop(&mut self) {
        self.stop_feed.cancel();
        self.stop_receiver.cancel();
    }
}

fn client() -> Result<reqwest::Client> {
    // Loopback only: no proxy from the environment.
    Ok(reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()?)
}

/// The feed's state: where it posts, its randomness, and how many requests it routed
/// (the routing is deterministic in that count).
struct Feed {
    client: reqwest::Client,
    url: String,
    rng: ChaCha8Rng,
    routing: routing::Shared,
    served: u64,
}

impl Feed {
    /// A request at `start_ns` on the release the current routing picks.
    fn request(&mut self, routing: &Routing, start_ns: i64) -> traffic::Request {
        let release = workflow::release(routing.pick(self.served)).expect("routing names releases");
        self.served += 1;
        traffic::request(&mut self.rng, release, start_ns)
    }

    /// Posts the [`BACKFILL`] before `now_ns` at the live rate, evenly spaced.
    async fn backfill(&mut self, now_ns: i64) {
        let total = BACKFILL.as_secs() * PER_SEC;
        let step_ns = BACKFILL.as_nanos() as i64 / total as i64;
        let routing = routing::current(&self.routing);
        let mut batch = Vec::with_capacity(BATCH);
        for i in 0..total as i64 {
            let start_ns = now_ns - BACKFILL.as_nanos() as i64 + i * step_ns;
            batch.push(self.request(&routing, start_ns));
            if batch.len() == BATCH || i + 1 == total as i64 {
                self.post(&std::mem::take(&mut batch), 20).await;
            }
        }
    }

    /// Posts live traffic every tick until stopped.
    async fn run(mut self, stop: CancellationToken) {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(TICK) => {}
            }
            let now = crate::clock::now_ns();
            // Read once per tick: a switch applies from the next tick on.
            let routing = routing::current(&self.routing);
            let n = self.rng.random_range(1..=MAX_PER_TICK) as i64;
            let requests: Vec<traffic::Request> = (0..n)
                .map(|i| self.request(&routing, now - i * 150_000_000))
                .collect();
            // A refused or failed post (the cache busy for a moment) only skips this tick.
            self.post(&requests, 1).await;
        }
    }

    /// One OTLP/JSON export; a busy receiver (503) is asked again, up to `attempts`.
    async fn post(&mut self, requests: &[traffic::Request], attempts: u32) {
        let mut body = Vec::new();
        if traffic::write_line(&mut body, &mut self.rng, requests).is_err() {
            return;
        }
        for _ in 0..attempts {
            let sent = self
                .client
                .post(&self.url)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await;
            if sent.is_ok_and(|r| r.status() != reqwest::StatusCode::SERVICE_UNAVAILABLE) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
