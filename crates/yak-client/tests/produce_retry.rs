//! `produce_batch` against a scripted broker: after a partial failure it resends only the
//! records that failed, so records that landed are never written twice.

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use yak_api::{Acks, ErrorCode, ProduceBatch, ProduceOutcome, ProduceRecord};
use yak_client::Client;

/// Largest request the scripted broker reads.
const REQUEST_BYTES_MAX: usize = 64 * 1024;

/// Reads one HTTP/1.1 request with a Content-Length body; its JSON body.
async fn read_request(stream: &mut tokio::net::TcpStream) -> Value {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let read = stream.read(&mut chunk).await.expect("read the request");
        assert!(read > 0, "the client closed the connection mid-request");
        buf.extend_from_slice(&chunk[..read]);
        assert!(buf.len() <= REQUEST_BYTES_MAX, "request too large");
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .map(|value| value.trim().parse().expect("a length"))
            .unwrap_or(0);
        if buf.len() >= end + 4 + length {
            return serde_json::from_slice(&buf[end + 4..end + 4 + length]).expect("a JSON body");
        }
    }
}

async fn answer(stream: &mut tokio::net::TcpStream, body: &Value) {
    let body = body.to_string();
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(response.as_bytes())
        .await
        .expect("write the answer");
}

fn landed(offset: i64) -> Value {
    json!({"msg_id": format!("t-0-{offset}"), "topic": "t", "partition": 0, "offset": offset, "timestamp": 1})
}

/// The first answer has record 0 landed and record 1 failed with `unavailable`; the client
/// resends record 1 alone and reports both as landed.
#[tokio::test]
async fn partial_failure_resends_only_the_failed_records() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let broker = tokio::spawn(async move {
        let mut bodies = Vec::new();
        let (mut stream, _) = listener.accept().await.expect("first request");
        bodies.push(read_request(&mut stream).await);
        let failed = json!({"error": {"code": "unavailable", "message": "try again"}});
        answer(&mut stream, &json!({"results": [landed(0), failed]})).await;
        let (mut stream, _) = listener.accept().await.expect("the resend");
        bodies.push(read_request(&mut stream).await);
        answer(&mut stream, &json!({"results": [landed(1)]})).await;
        bodies
    });

    let client = Client::new(&[format!("http://{address}")]).expect("a client");
    let record = |payload: &str| ProduceRecord {
        payload: json!(payload),
        partition: Some(0),
        ..ProduceRecord::default()
    };
    let batch = ProduceBatch {
        topic: Some("t".into()),
        messages: vec![record("first"), record("second")],
    };
    let outcomes = client
        .produce_batch(&batch, Acks::All)
        .await
        .expect("the batch is answered");
    let offsets: Vec<Option<i64>> = outcomes
        .iter()
        .map(|outcome| match outcome {
            ProduceOutcome::Ok(result) => Some(result.offset),
            ProduceOutcome::Err { error } => {
                assert_ne!(error.code, ErrorCode::Unavailable, "not retried: {error}");
                None
            }
        })
        .collect();
    assert_eq!(offsets, vec![Some(0), Some(1)]);

    let bodies = broker.await.expect("the scripted broker");
    assert_eq!(bodies[0]["messages"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        bodies[1]["messages"],
        json!([{"payload": "second", "partition": 0}]),
        "only the failed record is sent again"
    );
}
