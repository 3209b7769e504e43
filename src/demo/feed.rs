//! The live feed: keeps production traffic arriving while the demo console is open.
//!
//! The demo runs the OTLP/HTTP receiver ([`crate::collect`]) on a loopback port, and the
//! feed posts a few traces a second to it as OTLP/JSON, the way an application's
//! exporter would: the demo exercises the same path as real traffic.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use color_eyre::eyre::Result;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::traffic::{self, CANARY_SHARE};
use super::workflow;
use crate::collect::{self, Options, Receiver, ReceiverStats};
use crate::store;
use crate::workspace::Workspace;

const TICK: Duration = Duration::from_millis(1000);

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
    /// Starts the receiver on a free loopback port and the feed, both on `runtime`.
    pub fn start(runtime: &Runtime, ws: &Workspace, seed: u64) -> Result<Self> {
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
        let url = format!("http://{addr}/v1/traces");
        let feed = runtime.spawn(run(url, seed, stop_feed.clone()));
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

async fn run(url: String, seed: u64, stop: CancellationToken) {
    // Loopback only: no proxy from the environment.
    let Ok(client) = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
    else {
        return;
    };
    // A seed of its own per start, so reopening the demo adds new traces.
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ crate::clock::now_ns() as u64);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(TICK) => {}
        }
        let now = crate::clock::now_ns();
        let n = rng.random_range(1..=5);
        let requests: Vec<traffic::Request> = (0..n)
            .map(|i| {
                let release = if rng.random::<f64>() < CANARY_SHARE {
                    "v3"
                } else {
                    "v2"
                };
                let release = workflow::release(release).expect("known release");
                traffic::request(&mut rng, release, now - i * 150_000_000)
            })
            .collect();
        let mut body = Vec::new();
        if traffic::write_line(&mut body, &mut rng, &requests).is_err() {
            continue;
        }
        // A refused or failed post (the cache busy for a moment) only skips this tick.
        let _ = client
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await;
    }
}
