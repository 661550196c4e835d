//! Serves the Kafka front-end over the in-memory backend. It exists only to exercise the
//! front-end with real clients (kcat, Python clients) before the broker implements `Backend`;
//! nothing is durable or replicated.
//!
//! ```sh
//! cargo run -p yak-kafka --features memory-backend --example memory_broker -- 127.0.0.1:9092
//! kcat -b 127.0.0.1:9092 -L
//! ```

use std::sync::Arc;

use tokio::net::TcpListener;
use yak_kafka::memory_backend::MemoryBackend;
use yak_kafka::{serve, ServerConfig};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9092".to_owned());
    let listener = TcpListener::bind(&address).await?;
    let local = listener.local_addr()?;
    let backend = Arc::new(MemoryBackend::new(
        &local.ip().to_string(),
        i32::from(local.port()),
        true,
    ));
    tracing::info!(%local, "memory broker listening (front-end test only, nothing is stored)");
    let shutdown = async {
        tokio::signal::ctrl_c().await.ok();
    };
    serve(listener, backend, ServerConfig::default(), shutdown).await
}
