//! A misbehaving HTTP peer on loopback: each request gets the reply a script picks,
//! including the faults a real network serves (errors, throttling, stalls, bodies cut
//! short). One connection per request, closed after the reply.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the peer answers.
#[derive(Debug, Clone)]
pub enum Reply {
    Json(u16, String),
    /// 429 with `Retry-After` in seconds.
    Throttle(u64),
    /// Waits this long before answering (to trip the client's timeout), then answers.
    Stall(Duration, Box<Reply>),
    /// Promises the whole body in `Content-Length`, sends half, hangs up.
    Truncated(String),
}

/// A request as the script sees it.
#[derive(Debug, Clone)]
pub struct Request {
    /// 0-based count of requests so far.
    pub n: usize,
    /// Path and query, e.g. `/v1/projects/p/spans?limit=5&cursor=c2`.
    pub target: String,
    pub headers: Vec<(String, String)>,
    /// The body, as long as `Content-Length` says.
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (panics on anything else: a sink test wants JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// A query parameter's raw value.
    pub fn param(&self, name: &str) -> Option<String> {
        let query = self.target.split_once('?')?.1;
        query.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == name).then(|| v.to_string())
        })
    }
}

/// The running peer; it stops serving when dropped (the thread ends with the test).
pub struct Scripted {
    pub addr: String,
    pub requests: Arc<Mutex<Vec<Request>>>,
}

impl Scripted {
    /// Serves `script` on a free loopback port.
    pub fn start(script: impl Fn(&Request) -> Reply + Send + 'static) -> Self {
        Self::start_at(0, script)
    }

    /// As [`Scripted::start`] on a given port (0: any free one).
    pub fn start_at(port: u16, script: impl Fn(&Request) -> Reply + Send + 'static) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind loopback");
        let addr = format!("http://{}", listener.local_addr().expect("addr"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let n = log.lock().unwrap().len();
                let Some(req) = read_request(&stream, n) else {
                    continue;
                };
                log.lock().unwrap().push(req.clone());
                let reply = script(&req);
                // Answer on its own thread: a stalled reply must not hold up retries.
                std::thread::spawn(move || answer(stream, reply));
            }
        });
        Self { addr, requests }
    }

    pub fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    /// The requests so far whose path starts with `prefix`.
    pub fn seen(&self, prefix: &str) -> Vec<Request> {
        let all = self.requests.lock().unwrap();
        all.iter()
            .filter(|r| r.target.starts_with(prefix))
            .cloned()
            .collect()
    }
}

fn read_request(stream: &TcpStream, n: usize) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let target = line.split_whitespace().nth(1)?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.trim_end().split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    std::io::Read::read_exact(&mut reader, &mut body).ok()?;
    Some(Request {
        n,
        target,
        headers,
        body,
    })
}

fn answer(mut stream: TcpStream, reply: Reply) {
    let head = |status: u16, len: usize, extra: &str| {
        format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\
             Connection: close\r\n{extra}\r\n"
        )
    };
    let _ = match reply {
        Reply::Json(status, body) => {
            stream.write_all(format!("{}{body}", head(status, body.len(), "")).as_bytes())
        }
        Reply::Throttle(secs) => {
            let body = "slow down";
            let extra = format!("Retry-After: {secs}\r\n");
            stream.write_all(format!("{}{body}", head(429, body.len(), &extra)).as_bytes())
        }
        Reply::Stall(wait, then) => {
            std::thread::sleep(wait);
            return answer(stream, *then);
        }
        Reply::Truncated(body) => {
            let half = &body[..body.len() / 2];
            stream.write_all(format!("{}{half}", head(200, body.len(), "")).as_bytes())
        }
    };
    let _ = stream.flush();
}
