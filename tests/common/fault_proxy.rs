//! A misbehaving network in front of a real peer: an HTTP proxy on loopback that
//! forwards each GET to the peer and, on a seeded schedule, serves the faults a real
//! proxy, load balancer or restarting server serves instead: 500s, 429 with
//! `Retry-After`, stalls past the client's timeout, bodies cut short (with and without
//! a `Content-Length` to tell), and a repeat of the response it served before (mid-pass
//! a repeated page, at the start of a pass the previous pass's last page, for
//! Prometheus another signal's answer). The same seed gives the same faults, request
//! by request.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy does with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward and answer what the peer answered.
    None,
    /// 500 with a short body.
    Error,
    /// 429 with `Retry-After: 1`.
    Throttle,
    /// Wait this long, then hang up without a word.
    Stall(Duration),
    /// The peer's answer with its full `Content-Length`, half the body, hang up.
    CutWithLength,
    /// Half the peer's answer with no `Content-Length`, then close: to the client a
    /// complete response whose JSON stops half-way.
    CutWithoutLength,
    /// The answer served to the request before (whole, 200), not this one's.
    Repeat,
}

/// One forwarded request, as the proxy saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub target: String,
    pub fault: Fault,
}

struct State {
    rng: u64,
    share: f64,
    stall: Duration,
    forced: VecDeque<Fault>,
    /// The last answer of the peer that was served whole: what `Repeat` serves.
    last: Option<(u16, String, Vec<u8>)>,
    seen: Vec<Seen>,
}

/// The running proxy; its thread serves until the test ends.
pub struct FaultProxy {
    pub addr: String,
    state: Arc<Mutex<State>>,
}

impl FaultProxy {
    /// Proxies to `upstream` (`http://host:port`); about `share` of the requests get a
    /// fault, drawn with `seed`; a stall lasts `stall` (set it past the client's
    /// timeout).
    pub fn start(upstream: &str, seed: u64, share: f64, stall: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = format!("http://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(Mutex::new(State {
            rng: seed.max(1),
            share,
            stall,
            forced: VecDeque::new(),
            last: None,
            seen: Vec::new(),
        }));
        let upstream = upstream.trim_end_matches('/').to_string();
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            let client = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("a client");
            for stream in listener.incoming().flatten() {
                let Some((target, headers)) = read_request(&stream) else {
                    continue;
                };
                // Decided and answered in arrival order: the schedule stays the same
                // run after run (a source's requests come one after another).
                let fault = shared.lock().unwrap().next(&target);
                serve(
                    &client, &upstream, stream, &target, &headers, fault, &shared,
                );
            }
        });
        Self { addr, state }
    }

    /// Makes the next requests get `faults`, in order, before the schedule resumes.
    pub fn force(&self, faults: &[Fault]) {
        self.state.lock().unwrap().forced.extend(faults);
    }

    /// Stops injecting faults (forced ones still apply).
    pub fn heal(&self) {
        self.state.lock().unwrap().share = 0.0;
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }
}

impl State {
    /// xorshift64*: small, seeded, the same everywhere.
    fn draw(&mut self) -> f64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn next(&mut self, target: &str) -> Fault {
        let fault = match self.forced.pop_front() {
            Some(f) => f,
            None if self.draw() >= self.share => Fault::None,
            None => match (self.draw() * 6.0) as u32 {
                0 => Fault::Error,
                1 => Fault::Throttle,
                2 => Fault::Stall(self.stall),
                3 => Fault::CutWithLength,
                4 => Fault::CutWithoutLength,
                _ => Fault::Repeat,
            },
        };
        // Nothing to repeat yet: forward.
        let fault = match (fault, &self.last) {
            (Fault::Repeat, None) => Fault::None,
            (f, _) => f,
        };
        self.seen.push(Seen {
            target: target.to_string(),
            fault,
        });
        fault
    }
}

fn read_request(stream: &TcpStream) -> Option<(String, Vec<(String, String)>)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let target = line.split_whitespace().nth(1)?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 || h.trim().is_empty() {
            return Some((target, headers));
        }
        if let Some((k, v)) = h.trim_end().split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
}

/// Headers and body in one write: a split write stalls 40 ms on Nagle.
fn reply(stream: &mut TcpStream, status: u16, content_type: &str, extra: &str, body: &[u8]) {
    let mut out = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nConnection: close\r\n{extra}\r\n"
    )
    .into_bytes();
    out.extend_from_slice(body);
    let _ = stream.write_all(&out);
    let _ = stream.flush();
}

fn serve(
    client: &reqwest::blocking::Client,
    upstream: &str,
    mut stream: TcpStream,
    target: &str,
    headers: &[(String, String)],
    fault: Fault,
    state: &Mutex<State>,
) {
    match fault {
        Fault::Error => {
            let body = br#"{"detail":"injected: internal error"}"#;
            let len = format!("Content-Length: {}\r\n", body.len());
            return reply(&mut stream, 500, "application/json", &len, body);
        }
        Fault::Throttle => {
            let extra = "Content-Length: 9\r\nRetry-After: 1\r\n";
            return reply(&mut stream, 429, "text/plain", extra, b"slow down");
        }
        Fault::Stall(d) => {
            // Hold the connection on a thread of its own: the client's retry must reach
            // the proxy meanwhile.
            std::thread::spawn(move || {
                std::thread::sleep(d);
                drop(stream);
            });
            return;
        }
        Fault::Repeat => {
            let last = state.lock().unwrap().last.clone();
            if let Some((status, content_type, body)) = last {
                let len = format!("Content-Length: {}\r\n", body.len());
                return reply(&mut stream, status, &content_type, &len, &body);
            }
        }
        _ => {}
    }
    let mut req = client.get(format!("{upstream}{target}"));
    for (k, v) in headers {
        if matches!(k.as_str(), "authorization" | "accept") {
            req = req.header(k, v);
        }
    }
    let Ok(resp) = req.send() else {
        return reply(
            &mut stream,
            502,
            "text/plain",
            "Content-Length: 3\r\n",
            b"502",
        );
    };
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let body = resp.bytes().map(|b| b.to_vec()).unwrap_or_default();
    let half = &body[..body.len() / 2];
    match fault {
        Fault::CutWithLength => {
            let len = format!("Content-Length: {}\r\n", body.len());
            reply(&mut stream, status, &content_type, &len, half)
        }
        Fault::CutWithoutLength => reply(&mut stream, status, &content_type, "", half),
        _ => {
            let len = format!("Content-Length: {}\r\n", body.len());
            reply(&mut stream, status, &content_type, &len, &body);
            if (200..300).contains(&status) {
                state.lock().unwrap().last = Some((status, content_type, body));
            }
        }
    }
}
