//! The Kafka front-end's place in the node. Until the wire protocol is wired in, the listener is
//! held open and connections are closed at once, so clients fail fast instead of hanging.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::broker::Broker;

pub fn spawn(broker: Arc<Broker>, listener: TcpListener) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    if let Ok((stream, peer)) = accepted {
                        tracing::debug!(%peer, "Kafka connection closed: protocol not served yet");
                        drop(stream);
                    }
                }
                _ = broker.shutdown.cancelled() => return,
            }
        }
    })
}
