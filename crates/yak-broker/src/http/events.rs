//! The console's live feed: `GET /events` (stats every second, activity as it happens) and
//! `GET /activity` (recent history).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use yak_api::{ActivityList, ConsoleEvent, StatsEvent};
use yak_auth::{Operation, Resource};

use super::auth::Caller;
use super::{AppState, HttpError};

/// How often `event: stats` goes out.
pub const STATS_INTERVAL_MS: u64 = 1000;
/// Events buffered per console before the feed waits for it.
pub const EVENTS_BUFFER_MAX: usize = 64;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/events", get(events))
        .route("/activity", get(activity))
}

fn stats(state: &AppState) -> StatsEvent {
    let broker = &state.broker;
    let counters = &broker.metrics;
    let topics = broker.topics();
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    StatsEvent {
        ts_ms: crate::now_ms(),
        node_id: broker.config.node_id,
        role: broker.role().into(),
        leader_id: broker.config.node_id,
        epoch: broker.epoch(),
        topics: topics.len(),
        partitions: topics.iter().map(|t| t.partitions.len()).sum(),
        records_in_total: load(&counters.messages_in_total),
        records_out_total: load(&counters.messages_out_total),
        bytes_in_total: load(&counters.bytes_in_total),
        bytes_out_total: load(&counters.bytes_out_total),
    }
}

/// The server-sent event of a `ConsoleEvent`: its tag on the `event:` line, its content as JSON.
fn sse_event(event: &ConsoleEvent) -> Option<Event> {
    let sse = Event::default().event(event.name());
    match event {
        ConsoleEvent::Stats(stats) => sse.json_data(stats),
        ConsoleEvent::Activity(activity) => sse.json_data(activity),
    }
    .ok()
}

#[utoipa::path(get, path = "/events", tag = "console",
    responses(
        (status = 200, description = "Server-sent events, each shown here as `{event, data}`: `event: stats` once per second, `event: activity` as it happens; the `data:` line holds the JSON", content_type = "text/event-stream", body = ConsoleEvent),
        (status = 503, description = "Too many streams are open", body = yak_api::ErrorBody),
    ))]
pub async fn events(State(state): State<AppState>, caller: Caller) -> Result<Response, HttpError> {
    caller.authorize(&state.broker, Operation::Describe, &Resource::cluster())?;
    let slot = state.stream_slot()?;
    let (sender, receiver) = mpsc::channel::<Result<Event, Infallible>>(EVENTS_BUFFER_MAX);
    tokio::spawn(async move {
        let _slot = slot;
        let mut activity = state.broker.activity.subscribe();
        let mut ticker = tokio::time::interval(Duration::from_millis(STATS_INTERVAL_MS));
        loop {
            let event = tokio::select! {
                _ = ticker.tick() => sse_event(&ConsoleEvent::Stats(stats(&state))),
                received = activity.recv() => match received {
                    Ok(event) => sse_event(&ConsoleEvent::Activity(event)),
                    Err(broadcast::error::RecvError::Lagged(_)) => None,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = state.broker.shutdown.cancelled() => return,
                _ = sender.closed() => return,
            };
            if let Some(event) = event {
                if sender.send(Ok(event)).await.is_err() {
                    return;
                }
            }
        }
    });
    Ok(Sse::new(ReceiverStream::new(receiver))
        .keep_alive(KeepAlive::default())
        .into_response())
}

#[utoipa::path(get, path = "/activity", tag = "console",
    responses((status = 200, description = "Recent activity, oldest first", body = ActivityList)))]
pub async fn activity(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<ActivityList>, HttpError> {
    caller.authorize(&state.broker, Operation::Describe, &Resource::cluster())?;
    Ok(activity_list(&state))
}

fn activity_list(state: &AppState) -> Json<ActivityList> {
    Json(ActivityList {
        events: state.broker.activity.history(),
    })
}
