//! Memory the Kafka listener spends on what clients declare: frame lengths and array counts.
//! A counting global allocator measures the peak bytes allocated by this whole test process
//! (server and clients), so the tests here run one at a time.

use std::sync::{Arc, Mutex};

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use yak_kafka::ServerConfig;

mod common;
use common::{peak_above, reset_peak, CountingAllocator, EmptyBackend};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// The tests share the counters; one runs at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const MIB: usize = 1024 * 1024;

/// Regression: the framing reserved a frame's declared length as soon as its 4-byte length
/// arrived, so each connection declaring 100 MiB and sending 4 bytes cost 100 MiB. Now a
/// frame costs what has arrived.
#[test]
fn declared_huge_frames_cost_only_what_arrived() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(huge_frames());
}

async fn huge_frames() {
    const CONNECTIONS: usize = 40;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let config = ServerConfig {
        frame_bytes_max: 100 * MIB,
        // Room for every declared frame at once: only the frame buffers are measured.
        queued_request_bytes_max: u32::MAX as usize,
        ..ServerConfig::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(yak_kafka::serve(
        listener,
        Arc::new(EmptyBackend::default()),
        config,
        yak_kafka::ListenerSecurity::plaintext(),
        async move {
            let _ = stopped.await;
        },
    ));
    let mut clients = Vec::new();
    for _ in 0..CONNECTIONS {
        clients.push(TcpStream::connect(address).await.expect("connect"));
    }
    let baseline = reset_peak();
    for client in &mut clients {
        let mut frame = BytesMut::new();
        frame.put_i32((100 * MIB) as i32);
        frame.put_slice(b"\x00\x12\x00\x03");
        client.write_all(&frame).await.expect("write");
        // The server sees the frame end early, and closes the connection.
        client.shutdown().await.expect("shutdown");
    }
    for client in &mut clients {
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.expect("closed cleanly");
        assert!(rest.is_empty(), "a truncated frame gets no answer");
    }
    let peak = peak_above(baseline);
    let _ = stop.send(());
    server.await.expect("server task").expect("server");
    assert!(
        peak < 16 * MIB,
        "{CONNECTIONS} connections declaring 100 MiB frames allocated {} MiB at the peak",
        peak / MIB
    );
}

/// Regression: an array decoder reserved room for the element count the client sent. A
/// 1 MiB Fetch frame declaring a million topics reserved a million topic structs; now at most
/// 1,024 elements are reserved ahead of decoding.
#[test]
fn array_counts_reserve_at_most_1024_elements() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut frame = BytesMut::new();
    frame.put_i16(1); // Fetch
    frame.put_i16(4);
    frame.put_i32(7); // correlation id
    frame.put_i16(-1); // null client id
    frame.put_i32(-1); // replica id
    frame.put_i32(500); // max wait
    frame.put_i32(1); // min bytes
    frame.put_i32(1 << 20); // max bytes
    frame.put_i8(0); // isolation level
    frame.put_i32(1_000_000); // topics: far more than follow
    frame.put_bytes(0xff, MIB);
    let frame = frame.freeze();
    let baseline = reset_peak();
    let decoded = yak_kafka::request::decode(frame.clone());
    let peak = peak_above(baseline);
    assert!(decoded.is_err(), "the topics are garbage");
    assert!(
        peak < 8 * MIB,
        "decoding a {} MiB frame allocated {} MiB at the peak",
        frame.len() / MIB,
        peak / MIB
    );
}
