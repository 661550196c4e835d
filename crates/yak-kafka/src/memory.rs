//! What bounds the front-end's memory: response frames that keep stored batches by reference,
//! and byte budgets (semaphores counting bytes) for requests read and responses queued, per
//! connection and per node.
//!
//! A Fetch response is mostly stored record batches. [`ResponseFrame`] encodes everything else
//! into a small buffer and keeps each batch set as the `Bytes` the log read returned, so the
//! records are copied once (disk to memory) and written to the socket from there with vectored
//! writes. The bytes a Fetch may read are taken from [`ResponseBudget`] before the log is read
//! and given back once the response is on the socket.

use std::io::IoSlice;
use std::ops::Range;
use std::sync::Arc;

use bytes::buf::UninitSlice;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::protocol::buf::ByteBufMut;
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

/// Shared byte strings shorter than this are copied into the frame: a separate write chunk
/// costs more than copying a few kilobytes.
pub const SHARED_CHUNK_BYTES_MIN: usize = 4096;

/// An encoded response: a list of chunks written back to back. Small fields are encoded into
/// owned buffers; stored batches are kept as the `Bytes` they came in.
#[derive(Debug, Default)]
pub struct ResponseFrame {
    /// Finished chunks, in order.
    chunks: Vec<Bytes>,
    /// Bytes in `chunks`.
    chunks_bytes: usize,
    /// The chunk being encoded into.
    current: BytesMut,
}

impl ResponseFrame {
    pub fn with_capacity(capacity: usize) -> ResponseFrame {
        ResponseFrame {
            chunks: Vec::new(),
            chunks_bytes: 0,
            current: BytesMut::with_capacity(capacity),
        }
    }

    /// Every byte of the frame.
    pub fn len(&self) -> usize {
        self.chunks_bytes + self.current.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Chunks kept by reference rather than copied (for tests and metrics).
    pub fn shared_chunks(&self) -> usize {
        self.chunks.len()
    }

    /// The frame as a `Buf` for writing.
    pub fn into_buf(mut self) -> FrameBuf {
        if !self.current.is_empty() {
            self.chunks.push(self.current.split().freeze());
        }
        FrameBuf {
            chunks: self.chunks.into_iter().filter(|c| !c.is_empty()).collect(),
        }
    }

    /// The whole frame in one buffer (tests).
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.len());
        for chunk in &self.chunks {
            out.extend_from_slice(chunk);
        }
        out.extend_from_slice(&self.current);
        out.freeze()
    }
}

// SAFETY: every method forwards to `current`, an owned `BytesMut`, which upholds BufMut's
// contract itself.
unsafe impl BufMut for ResponseFrame {
    fn remaining_mut(&self) -> usize {
        self.current.remaining_mut()
    }

    unsafe fn advance_mut(&mut self, count: usize) {
        // SAFETY: the caller initialised `count` bytes of `chunk_mut`, which is `current`'s.
        unsafe { self.current.advance_mut(count) }
    }

    fn chunk_mut(&mut self) -> &mut UninitSlice {
        self.current.chunk_mut()
    }

    fn put_slice(&mut self, src: &[u8]) {
        self.current.put_slice(src);
    }
}

impl ByteBufMut for ResponseFrame {
    fn offset(&self) -> usize {
        self.len()
    }

    // Gaps (seek and range) are used only when encoding record batches, which the front-end
    // never does into a response; they work inside the current chunk.
    fn seek(&mut self, offset: usize) {
        assert!(
            offset >= self.chunks_bytes,
            "a response frame cannot seek back into a shared chunk"
        );
        self.current.resize(offset - self.chunks_bytes, 0);
    }

    fn range(&mut self, r: Range<usize>) -> &mut [u8] {
        assert!(
            r.start >= self.chunks_bytes,
            "a response frame cannot rewrite a shared chunk"
        );
        let base = self.chunks_bytes;
        &mut self.current[r.start - base..r.end - base]
    }

    fn put_shared_bytes(&mut self, bytes: &Bytes) {
        if bytes.len() < SHARED_CHUNK_BYTES_MIN {
            self.current.put_slice(bytes);
            return;
        }
        if !self.current.is_empty() {
            let head = self.current.split().freeze();
            self.chunks_bytes += head.len();
            self.chunks.push(head);
        }
        self.chunks_bytes += bytes.len();
        self.chunks.push(bytes.clone());
    }
}

/// A finished frame being written: a `Buf` over its chunks with vectored chunks.
#[derive(Debug)]
pub struct FrameBuf {
    chunks: std::collections::VecDeque<Bytes>,
}

impl Buf for FrameBuf {
    fn remaining(&self) -> usize {
        self.chunks.iter().map(Bytes::len).sum()
    }

    fn chunk(&self) -> &[u8] {
        self.chunks.front().map_or(&[], |c| &c[..])
    }

    fn advance(&mut self, mut count: usize) {
        while count > 0 {
            let Some(front) = self.chunks.front_mut() else {
                return;
            };
            if count < front.len() {
                front.advance(count);
                return;
            }
            count -= front.len();
            self.chunks.pop_front();
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut filled = 0;
        for (slot, chunk) in dst.iter_mut().zip(&self.chunks) {
            *slot = IoSlice::new(chunk);
            filled += 1;
        }
        filled
    }
}

/// Byte budgets shared by every connection of one listener.
#[derive(Clone, Debug)]
pub struct NodeBudgets {
    /// Request bytes read and not yet handled (Kafka's `queued.max.request.bytes`).
    pub requests: Arc<Semaphore>,
    /// Stored-batch bytes read for Fetch responses and not yet written.
    pub responses: Arc<Semaphore>,
}

/// Takes `bytes` permits, or none when `bytes` is 0. `bytes` is at most the semaphore's size
/// (checked by `ServerConfig::validate` for every caller), so this cannot wait forever.
pub async fn acquire(semaphore: &Arc<Semaphore>, bytes: usize) -> Option<OwnedSemaphorePermit> {
    if bytes == 0 {
        return None;
    }
    let count = u32::try_from(bytes).unwrap_or(u32::MAX);
    // The semaphores are never closed, so this only fails if that changes; then the bytes
    // are simply not counted.
    Arc::clone(semaphore).acquire_many_owned(count).await.ok()
}

/// The right to take response bytes next on one connection. Fetches on a connection take
/// their bytes in request order, and a fetch gives up its turn only once it holds its final
/// bytes: a response waiting to be written behind an earlier one then never holds bytes the
/// earlier one needs, so no set of connections can deadlock on the node's budget.
#[derive(Debug)]
pub struct FetchTurn {
    /// Resolves (or fails, when the earlier fetch was dropped) when the earlier fetch is done
    /// taking bytes.
    earlier: Option<oneshot::Receiver<()>>,
    /// Fired (or dropped) when this fetch is done taking bytes.
    later: Option<oneshot::Sender<()>>,
}

impl FetchTurn {
    /// A turn that is free at once and that nobody waits on (tests, single requests).
    pub fn free() -> FetchTurn {
        FetchTurn {
            earlier: None,
            later: None,
        }
    }

    /// The next turn after `previous` (the receiver the last fetch on the connection left).
    pub fn after(previous: &mut Option<oneshot::Receiver<()>>) -> FetchTurn {
        let (later, next) = oneshot::channel();
        FetchTurn {
            earlier: previous.replace(next),
            later: Some(later),
        }
    }

    async fn wait(&mut self) {
        if let Some(earlier) = self.earlier.take() {
            // An error means the earlier fetch ended without passing; the turn is ours.
            let _ = earlier.await;
        }
    }

    fn pass(&mut self) {
        if let Some(later) = self.later.take() {
            let _ = later.send(());
        }
    }
}

/// Response bytes held by one Fetch until its response is written.
#[derive(Debug, Default)]
pub struct ResponsePermits {
    connection: Vec<OwnedSemaphorePermit>,
    node: Vec<OwnedSemaphorePermit>,
}

impl ResponsePermits {
    /// Bytes held from the node's budget.
    pub fn bytes(&self) -> usize {
        self.node.iter().map(|p| p.num_permits()).sum()
    }
}

/// Gives back all but `keep` of the permits in `permits`.
fn trim(permits: &mut Vec<OwnedSemaphorePermit>, keep: usize) {
    let mut kept = 0;
    permits.retain_mut(|permit| {
        if kept >= keep {
            return false;
        }
        let count = permit.num_permits();
        if kept + count > keep {
            drop(permit.split(kept + count - keep));
        }
        kept += permit.num_permits();
        true
    });
}

/// What one Fetch may hold in memory, and where it takes it from.
#[derive(Debug)]
pub struct ResponseBudget {
    node: Arc<Semaphore>,
    connection: Arc<Semaphore>,
    /// The smaller of the two semaphores' sizes: more can never be held at once.
    bytes_max: usize,
    turn: FetchTurn,
    held: ResponsePermits,
    /// Bytes held from each of the two semaphores.
    held_bytes: usize,
}

impl ResponseBudget {
    /// `bytes_max` is the smaller of the sizes the two semaphores were created with.
    pub fn new(
        node: Arc<Semaphore>,
        connection: Arc<Semaphore>,
        bytes_max: usize,
        turn: FetchTurn,
    ) -> Self {
        ResponseBudget {
            node,
            connection,
            bytes_max,
            turn,
            held: ResponsePermits::default(),
            held_bytes: 0,
        }
    }

    /// A budget of its own, for tests and callers without a connection.
    pub fn standalone(bytes: usize) -> Self {
        ResponseBudget::new(
            Arc::new(Semaphore::new(bytes)),
            Arc::new(Semaphore::new(bytes)),
            bytes,
            FetchTurn::free(),
        )
    }

    /// Waits for this fetch's turn, then takes `bytes` from the connection and the node.
    pub async fn take(&mut self, bytes: usize) {
        self.turn.wait().await;
        self.grow(bytes).await;
    }

    /// Takes `bytes` more (a first batch larger than the limits, KIP-74), capped at what the
    /// semaphores can ever hold so this cannot wait forever; past the cap the bytes go
    /// uncounted (at most one stored batch per fetch).
    pub async fn grow(&mut self, bytes: usize) {
        let bytes = bytes.min(self.bytes_max.saturating_sub(self.held_bytes));
        if let Some(permit) = acquire(&self.connection, bytes).await {
            self.held.connection.push(permit);
        }
        if let Some(permit) = acquire(&self.node, bytes).await {
            self.held.node.push(permit);
        }
        self.held_bytes += bytes;
    }

    /// Keeps only `bytes` (what the response really holds) and gives back the rest, so a
    /// response smaller than its limit does not hold the difference while it is written.
    pub fn shrink_to(&mut self, bytes: usize) {
        if bytes < self.held_bytes {
            trim(&mut self.held.connection, bytes);
            trim(&mut self.held.node, bytes);
            self.held_bytes = bytes;
        }
    }

    /// Bytes held from the node's budget.
    pub fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    /// Gives back what is held, keeping the turn (a long-poll waits without holding bytes).
    pub fn release(&mut self) {
        self.shrink_to(0);
    }

    /// Done taking: passes the turn on and hands over the bytes held, to be dropped once the
    /// response is written.
    pub fn finish(mut self) -> ResponsePermits {
        self.turn.pass();
        std::mem::take(&mut self.held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::encode_response;
    use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
    use kafka_protocol::messages::{ApiKey, FetchResponse};
    use std::time::Duration;

    fn response_with(records: Bytes) -> FetchResponse {
        FetchResponse::default().with_responses(vec![FetchableTopicResponse::default()
            .with_partitions(vec![PartitionData::default().with_records(Some(records))])])
    }

    /// Regression: a Fetch response was encoded into one buffer with the stored batches
    /// copied in; now the frame keeps them as the log read returned them, and the bytes
    /// written are the same as a flat encoding's.
    #[test]
    fn stored_batches_are_not_copied_into_the_frame() {
        let records = Bytes::from(vec![7u8; 64 * 1024]);
        for version in [4, 11, 12] {
            let response = response_with(records.clone());
            let frame = encode_response(ApiKey::Fetch, version, 9, &response).expect("encodes");
            assert_eq!(frame.shared_chunks(), 2, "head and records, v{version}");
            let flat = frame.to_bytes();
            let mut buf = frame.into_buf();
            let mut chunks = Vec::new();
            while buf.has_remaining() {
                let chunk = Bytes::copy_from_slice(buf.chunk());
                buf.advance(chunk.len());
                chunks.push(chunk);
            }
            assert_eq!(chunks.concat(), flat.to_vec());
            let frame = encode_response(ApiKey::Fetch, version, 9, &response).expect("encodes");
            let buf = frame.into_buf();
            let mut slices = [IoSlice::new(&[]); 8];
            let filled = buf.chunks_vectored(&mut slices);
            assert!(filled <= 3, "head, records, and the fields after them");
            assert_eq!(
                slices[1].as_ptr(),
                records.as_ptr(),
                "the records are written from the stored bytes"
            );
            assert!(
                slices[0].len() + slices[2].len() < 200,
                "only the rest is encoded"
            );
        }
    }

    /// Proves small records are copied (a separate chunk costs more than they do).
    #[test]
    fn small_records_are_copied() {
        let response = response_with(Bytes::from_static(b"tiny"));
        let frame = encode_response(ApiKey::Fetch, 12, 1, &response).expect("encodes");
        assert_eq!(frame.shared_chunks(), 0);
    }

    /// Proves a fetch waits for the node's response bytes until an earlier response gives
    /// them back, and that fetches on one connection take bytes in request order.
    #[tokio::test]
    async fn fetches_wait_for_response_bytes_in_request_order() {
        let node = Arc::new(Semaphore::new(100));
        let connection = Arc::new(Semaphore::new(100));
        let mut last = None;
        let mut first = ResponseBudget::new(
            Arc::clone(&node),
            Arc::clone(&connection),
            100,
            FetchTurn::after(&mut last),
        );
        let mut second = ResponseBudget::new(
            Arc::clone(&node),
            Arc::clone(&connection),
            100,
            FetchTurn::after(&mut last),
        );
        // The second cannot go before the first, even with room for it.
        let second_takes = tokio::spawn(async move {
            second.take(60).await;
            second
        });
        tokio::task::yield_now().await;
        assert_eq!(node.available_permits(), 100);
        first.take(60).await;
        assert_eq!(node.available_permits(), 40);
        let held = first.finish();
        // Its turn came, but 40 bytes are not 60: it waits for the first response's bytes
        // (this runtime has one thread, so each yield lets it run as far as it can).
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        assert!(!second_takes.is_finished());
        drop(held);
        let second = second_takes.await.expect("second takes its bytes");
        assert_eq!(second.held_bytes(), 60);
        assert_eq!(node.available_permits(), 40);
        drop(second);
        assert_eq!(node.available_permits(), 100);
    }

    /// Proves a response smaller than its limit gives the difference back before it is
    /// written.
    #[tokio::test]
    async fn a_small_response_keeps_only_its_bytes() {
        let node = Arc::new(Semaphore::new(100));
        let connection = Arc::new(Semaphore::new(100));
        let mut budget = ResponseBudget::new(
            Arc::clone(&node),
            Arc::clone(&connection),
            100,
            FetchTurn::free(),
        );
        budget.take(60).await;
        budget.grow(20).await;
        budget.shrink_to(70);
        assert_eq!(node.available_permits(), 30);
        assert_eq!(connection.available_permits(), 30);
        let held = budget.finish();
        assert_eq!(held.bytes(), 70);
        drop(held);
        assert_eq!(node.available_permits(), 100);
    }

    /// Proves a fetch dropped before its turn does not block the ones after it.
    #[tokio::test]
    async fn a_dropped_fetch_passes_its_turn() {
        let node = Arc::new(Semaphore::new(10));
        let connection = Arc::new(Semaphore::new(10));
        let mut last = None;
        let first = ResponseBudget::new(
            Arc::clone(&node),
            Arc::clone(&connection),
            10,
            FetchTurn::after(&mut last),
        );
        let mut second = ResponseBudget::new(node, connection, 10, FetchTurn::after(&mut last));
        drop(first);
        tokio::time::timeout(Duration::from_secs(10), second.take(10))
            .await
            .expect("the turn passes");
        assert_eq!(second.held_bytes(), 10);
    }
}
