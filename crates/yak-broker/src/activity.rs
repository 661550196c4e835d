//! The activity log the console shows: a bounded history plus a live broadcast.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::broadcast;
use yak_api::{ActivityEvent, ActivityKind};

/// Events kept for `GET /activity`.
pub const ACTIVITY_HISTORY_MAX: usize = 500;
/// Events buffered per live subscriber before a slow one starts missing some.
pub const ACTIVITY_SUBSCRIBER_BUFFER_MAX: usize = 256;

#[derive(Debug)]
pub struct Activity {
    history: Mutex<VecDeque<ActivityEvent>>,
    sender: broadcast::Sender<ActivityEvent>,
}

impl Default for Activity {
    fn default() -> Activity {
        let (sender, _) = broadcast::channel(ACTIVITY_SUBSCRIBER_BUFFER_MAX);
        Activity {
            history: Mutex::new(VecDeque::new()),
            sender,
        }
    }
}

impl Activity {
    pub fn record(&self, kind: ActivityKind, message: impl Into<String>) {
        let event = ActivityEvent {
            ts_ms: crate::now_ms(),
            kind,
            message: message.into(),
        };
        tracing::info!(kind = ?event.kind, message = %event.message, "activity");
        {
            let mut history = self.history.lock().unwrap_or_else(|p| p.into_inner());
            if history.len() == ACTIVITY_HISTORY_MAX {
                history.pop_front();
            }
            history.push_back(event.clone());
        }
        // No subscriber is fine: nobody is watching.
        let _ = self.sender.send(event);
    }

    pub fn history(&self) -> Vec<ActivityEvent> {
        self.history
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ActivityEvent> {
        self.sender.subscribe()
    }
}
