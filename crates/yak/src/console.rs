//! `yak console`: the web console as its own process, for a machine that is not a broker.
//!
//! It serves the same embedded pages as every broker and forwards every API path to a broker,
//! trying the next one of `--brokers` when one cannot be reached, so the pages keep working
//! through a failover. Responses stream through, so server-sent events work as on a broker.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::Context;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use clap::Args;

/// Largest request body forwarded to a broker (the broker applies its own limits too).
pub const FORWARD_BODY_BYTES_MAX: usize = 64 * 1024 * 1024;

#[derive(Debug, Args)]
pub struct ConsoleArgs {
    /// Broker HTTP URLs, comma-separated.
    #[arg(long, env = "YAK_BROKERS", default_value = "http://127.0.0.1:5001")]
    pub brokers: String,
    #[arg(long, env = "YAK_CONSOLE_LISTEN", default_value = "127.0.0.1:5003")]
    pub listen: SocketAddr,
}

#[derive(Clone)]
struct Forwarder {
    http: reqwest::Client,
    brokers: Arc<Vec<String>>,
    current: Arc<AtomicUsize>,
}

fn error(status: StatusCode, code: &str, message: String) -> Response {
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    (status, axum::Json(body)).into_response()
}

/// Request headers passed on to the broker.
const FORWARDED_REQUEST_HEADERS: [&str; 5] = [
    "content-type",
    "accept",
    "cookie",
    "authorization",
    "x-csrf-token",
];
/// Response headers passed back to the browser (a login sets its session cookie).
const FORWARDED_RESPONSE_HEADERS: [&str; 4] = [
    "content-type",
    "set-cookie",
    "retry-after",
    "www-authenticate",
];

async fn forward(State(forwarder): State<Forwarder>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, FORWARD_BODY_BYTES_MAX).await {
        Ok(body) => body,
        Err(e) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                e.to_string(),
            )
        }
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let brokers = &forwarder.brokers;
    let mut last_error = String::new();
    for attempt in 0..brokers.len() {
        let index = (forwarder.current.load(Ordering::Relaxed) + attempt) % brokers.len();
        let url = format!("{}{path}", brokers[index]);
        let mut outgoing = forwarder
            .http
            .request(parts.method.clone(), &url)
            .body(body.clone());
        // The console's login travels with each request: the session cookie, its CSRF token,
        // or the caller's own credentials.
        for name in FORWARDED_REQUEST_HEADERS {
            if let Some(value) = parts.headers.get(name) {
                outgoing = outgoing.header(name, value);
            }
        }
        match outgoing.send().await {
            Ok(response) => {
                forwarder.current.store(index, Ordering::Relaxed);
                let mut builder = Response::builder().status(response.status().as_u16());
                for name in FORWARDED_RESPONSE_HEADERS {
                    for value in response.headers().get_all(name) {
                        builder = builder.header(name, value.as_bytes());
                    }
                }
                return builder
                    .body(Body::from_stream(response.bytes_stream()))
                    .unwrap_or_else(|e| {
                        error(StatusCode::BAD_GATEWAY, "unavailable", e.to_string())
                    });
            }
            Err(e) => last_error = format!("{url}: {e}"),
        }
    }
    error(
        StatusCode::BAD_GATEWAY,
        "unavailable",
        format!("no broker answered; last: {last_error}"),
    )
}

pub async fn run(args: ConsoleArgs) -> anyhow::Result<()> {
    let brokers: Vec<String> = args
        .brokers
        .split(',')
        .map(|b| b.trim().trim_end_matches('/').to_string())
        .filter(|b| !b.is_empty())
        .collect();
    anyhow::ensure!(!brokers.is_empty(), "--brokers needs at least one URL");
    let forwarder = Forwarder {
        http: reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(3))
            .build()
            .context("cannot build the HTTP client")?,
        brokers: Arc::new(brokers),
        current: Arc::new(AtomicUsize::new(0)),
    };
    let app = yak_broker::http::console::router()
        .fallback(forward)
        .with_state(forwarder);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    println!("listening console=http://{addr}");
    axum::serve(listener, app)
        .with_graceful_shutdown(crate::shutdown_signal())
        .await
        .context("the console server failed")?;
    Ok(())
}
