//! The live feed: keeps production traffic arriving while the demo console is open.
//!
//! A thread of its own owns a writer connection and imports a few traces a second
//! through the same importer as files use, so the console's refresh shows them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use color_eyre::eyre::Result;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::traffic::{self, CANARY_SHARE};
use super::workflow;
use crate::config::Config;
use crate::ingest::Importer;
use crate::store::{self, Writer};
use crate::workspace::Workspace;

const TICK: Duration = Duration::from_millis(1000);

/// A running feed; stops when told or dropped.
pub struct LiveFeed {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl LiveFeed {
    pub fn start(ws: &Workspace, seed: u64) -> Result<Self> {
        let writer = store::open_writer(&ws.db_path)?;
        let config = ws.config.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("relops-live-feed".into())
            .spawn(move || run(writer, &config, seed, &flag))?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }

    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for LiveFeed {
    fn drop(&mut self) {
        self.halt();
    }
}

fn run(mut writer: Writer, config: &Config, seed: u64, stop: &AtomicBool) {
    // A seed of its own per start, so reopening the demo adds new traces.
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ crate::clock::now_ns() as u64);
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(TICK);
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
        let mut line = Vec::new();
        if traffic::write_line(&mut line, &mut rng, &requests).is_err() {
            continue;
        }
        let mut importer = Importer::new(&mut writer, config, super::SOURCE);
        // A failed write (e.g. the cache is locked for a moment) only skips this tick.
        let _ = importer.import_reader(line.as_slice(), "live feed");
    }
}
