//! The receiver over loopback: limits, backpressure, answers in the request's encoding.

use std::io::Write;
use std::path::Path;

use super::*;
use crate::store;

struct Running {
    url: String,
    stats: Arc<Stats>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<ReceiverStats>>,
}

impl Running {
    async fn stop(mut self) -> ReceiverStats {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap().unwrap()
    }
}

async fn start(db: &Path, options: Options) -> Running {
    let writer = store::open_writer(db).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    let receiver = Receiver::new(writer, &Config::default(), options);
    let stats = receiver.stats();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(receiver.serve(listener, async move {
        let _ = stopped.await;
    }));
    Running {
        url,
        stats,
        stop: Some(stop),
        task,
    }
}

fn request(trace: u8, spans: u8) -> Vec<u8> {
    let span = |i: u8| proto::Span {
        trace_id: vec![trace; 16],
        span_id: vec![i + 1; 8],
        name: format!("s{i}"),
        start_time_unix_nano: 1_000,
        end_time_unix_nano: 2_000,
        ..Default::default()
    };
    proto::ExportTraceServiceRequest {
        resource_spans: vec![proto::ResourceSpans {
            scope_spans: vec![proto::ScopeSpans {
                spans: (0..spans).map(span).collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

async fn post(url: &str, content_type: &str, gzip: bool, body: Vec<u8>) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", content_type);
    if gzip {
        req = req.header("content-encoding", "gzip");
    }
    req.body(body).send().await.unwrap()
}

fn gzipped(body: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(body).unwrap();
    gz.finish().unwrap()
}

#[tokio::test]
async fn bodies_beyond_the_limit_get_413_compressed_or_not() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        max_body_bytes: 2_000,
        ..Options::default()
    };
    let r = start(&dir.path().join("c.db"), options).await;
    let big = request(1, 40);
    assert!(big.len() > 2_000);

    let plain = post(&r.url, "application/x-protobuf", false, big.clone()).await;
    assert_eq!(plain.status(), 413);
    let body = proto::RpcStatus::decode(plain.bytes().await.unwrap()).unwrap();
    assert_eq!(body.code, RESOURCE_EXHAUSTED);

    // Small on the wire, too large once inflated.
    let bomb = gzipped(&big);
    assert!(bomb.len() < 2_000);
    let inflated = post(&r.url, "application/x-protobuf", true, bomb).await;
    assert_eq!(inflated.status(), 413);

    let fits = post(
        &r.url,
        "application/x-protobuf",
        true,
        gzipped(&request(2, 3)),
    )
    .await;
    assert_eq!(fits.status(), 200);
    let stats = r.stop().await;
    assert_eq!((stats.invalid, stats.spans_accepted), (2, 3));
}

#[tokio::test]
async fn a_saturated_writer_answers_503_with_retry_after_and_buffers_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let options = Options {
        max_pending_spans: 3,
        ..Options::default()
    };
    let r = start(&db, options).await;
    // Another connection holds the write lock: the writer waits on its first batch.
    let blocker = rusqlite::Connection::open(&db).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();

    let url = r.url.clone();
    let first = tokio::spawn(async move {
        post(&url, "application/x-protobuf", false, request(1, 2))
            .await
            .status()
    });
    while r.stats.snapshot().queued_spans < 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let second = post(&r.url, "application/json", false, br#"{"resourceSpans":[{"scopeSpans":[{"spans":[
        {"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","startTimeUnixNano":"1","endTimeUnixNano":"2"},
        {"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203332","startTimeUnixNano":"1","endTimeUnixNano":"2"}]}]}]}"#.to_vec()).await;
    assert_eq!(second.status(), 503);
    assert_eq!(second.headers()["retry-after"], "1");
    assert_eq!(second.headers()["content-type"], "application/json");
    let body: serde_json::Value = second.json().await.unwrap();
    assert_eq!(body["code"], UNAVAILABLE);

    blocker.execute_batch("COMMIT").unwrap();
    assert_eq!(first.await.unwrap(), 200);
    let stats = r.stop().await;
    assert_eq!(
        (stats.refused, stats.spans_accepted, stats.queued_spans),
        (1, 2, 0)
    );
}

#[tokio::test]
async fn answers_follow_the_request_encoding() {
    let dir = tempfile::tempdir().unwrap();
    let r = start(&dir.path().join("c.db"), Options::default()).await;

    let ok = post(&r.url, "application/x-protobuf", false, request(1, 2)).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["content-type"], "application/x-protobuf");
    let answer = proto::ExportTraceServiceResponse::decode(ok.bytes().await.unwrap()).unwrap();
    assert_eq!(answer.partial_success, None);

    let bad = post(
        &r.url,
        "application/x-protobuf",
        false,
        b"\x0a\xff".to_vec(),
    )
    .await;
    assert_eq!(bad.status(), 400);
    let status = proto::RpcStatus::decode(bad.bytes().await.unwrap()).unwrap();
    assert_eq!(status.code, INVALID_ARGUMENT);
    assert!(status.message.contains("ExportTraceServiceRequest"));

    let brotli = reqwest::Client::new()
        .post(&r.url)
        .header("content-type", "application/json")
        .header("content-encoding", "br")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(brotli.status(), 415);

    let get = reqwest::get(&r.url).await.unwrap();
    assert_eq!(get.status(), 405);

    let stats = r.stop().await;
    assert_eq!(stats.requests, 3, "the GET never reached the handler");
    assert_eq!(stats.counts.new_traces, 1);
    assert!(stats.last_error.unwrap().contains("content encoding"));
    assert!(stats.last_request_ns.is_some());
}
