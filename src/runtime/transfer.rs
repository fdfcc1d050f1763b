//! Snapshot transfer between executors (F11): a follower's *fetch* copies the leader's
//! snapshot, chunk by chunk, into a sink it stages for the core's `InstallSnapshot`
//! write; the leader's *server* answers the reads from its latest snapshot. The core
//! only says which snapshot to fetch and from whom (`Action::FetchSnapshot`).
//!
//! - **Chunked**: one request at a time, at most `NodeOptions::snapshot_chunk_bytes`
//!   per answer, so a frame stays far below the transport's maximum.
//! - **Resumable**: a lost request or answer is asked again after
//!   `NodeOptions::snapshot_request_timeout`, from the bytes already written; a fetch
//!   that fails keeps what it copied for the next fetch of the same snapshot.
//! - **Deduplicated** (braft's filter-before-copy): a file the node's own latest snapshot
//!   holds with the same checksum is taken over locally, not copied.
//! - **Bounded**: a fetch ends (fails) after `SNAPSHOT_FETCH_RETRIES` requests in a row
//!   go unanswered; a server answers at most `MAX_READS_IN_FLIGHT` reads at once and
//!   drops the rest (the fetch asks again).
//!
//! Every file is checked against the size and crc32c the leader listed before the
//! snapshot is staged: a corrupted transfer fails the fetch, never installs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::error::SnapshotError;
use super::inbox::Rung;
use super::outbound::TransferSender;
use super::snapshot_store::{SnapshotSink, SnapshotSource, SnapshotStore};
use super::writer::Staged;
use crate::core::{LogId, PeerId, SnapshotMeta};
use crate::storage::{SnapshotReader, SnapshotWriter, StorageError};
use crate::transport::{FrameBody, SnapshotData, SnapshotFileInfo, SnapshotRead, SnapshotReply};

/// Requests in a row without an answer after which a fetch fails.
pub(crate) const SNAPSHOT_FETCH_RETRIES: u32 = 5;

/// Reads a fetch keeps in flight.
pub(crate) const FETCH_WINDOW: usize = 4;

/// Reads a node serves at once, in all and per peer; more are dropped (and asked
/// again).
pub(crate) const MAX_READS_IN_FLIGHT: usize = 16;
pub(crate) const MAX_READS_PER_PEER: usize = FETCH_WINDOW;

/// What the driver hears from snapshot work running elsewhere.
#[derive(Debug)]
pub(crate) enum SnapshotEvent {
    /// A save ended: committed, or failed with the reason.
    Saved {
        last_included: LogId,
        result: Result<(), SnapshotError>,
    },
    /// A fetch ended: the snapshot is staged, or it could not be fetched.
    Fetched {
        /// Which fetch (a superseded one's report is ignored).
        generation: u64,
        last_included: LogId,
        fetched: bool,
    },
}

/// What a fetch leaves for the next fetch of the same snapshot.
pub(crate) struct Partial {
    snapshot: LogId,
    sink: SnapshotSink,
    /// crc32c of each file's bytes written so far.
    crcs: BTreeMap<String, u32>,
}

/// The slot where a failed fetch leaves its partial copy.
pub(crate) type PartialSlot = Arc<Mutex<Option<Partial>>>;

/// Everything a fetch needs.
pub(crate) struct FetchContext {
    pub(crate) store: Arc<dyn SnapshotStore>,
    pub(crate) staged: Staged,
    pub(crate) partial: PartialSlot,
    pub(crate) sender: TransferSender,
    pub(crate) events: Rung<mpsc::UnboundedSender<SnapshotEvent>>,
    pub(crate) chunk_bytes: u32,
    pub(crate) request_timeout: Duration,
    /// Write on the fetch's own task (simulations) rather than on tokio's blocking pool.
    pub(crate) inline: bool,
}

/// Fetches `meta` from `leader`, answers arriving on `replies`; reports the outcome.
pub(crate) async fn fetch(
    context: FetchContext,
    generation: u64,
    leader: PeerId,
    meta: SnapshotMeta<PeerId>,
    mut replies: mpsc::Receiver<SnapshotData>,
) {
    let last_included = meta.last_included;
    let mut fetcher = Fetcher {
        context: &context,
        leader,
        snapshot: last_included,
        replies: &mut replies,
        next_request: 1,
    };
    let fetched = match fetcher.run(&meta).await {
        Ok(sink) => {
            *context
                .staged
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(sink);
            true
        }
        Err(()) => false,
    };
    let _ = context.events.send(SnapshotEvent::Fetched {
        generation,
        last_included,
        fetched,
    });
}

struct Fetcher<'a> {
    context: &'a FetchContext,
    leader: PeerId,
    snapshot: LogId,
    replies: &'a mut mpsc::Receiver<SnapshotData>,
    next_request: u64,
}

impl Fetcher<'_> {
    async fn run(&mut self, meta: &SnapshotMeta<PeerId>) -> Result<SnapshotSink, ()> {
        let files = match self.ask(None, 0).await? {
            SnapshotReply::Files(files) => files,
            _ => return Err(()),
        };
        let store = &self.context.store;
        // A partial copy of another snapshot is dropped (its directory with it).
        let resumed = self
            .context
            .partial
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .filter(|partial| partial.snapshot == self.snapshot);
        let (sink, mut crcs) = match resumed {
            Some(partial) => (partial.sink, partial.crcs),
            None => {
                let sink = store
                    .create(meta.last_included, meta.configuration.clone())
                    .map_err(|_| ())?;
                (sink, BTreeMap::new())
            }
        };
        let mut slot = Some(sink);
        let result = self.copy_files(&files, &mut slot, &mut crcs).await;
        let Some(sink) = slot else {
            return Err(()); // lost with a failed write thread
        };
        match result {
            Ok(()) => Ok(sink),
            Err(keep) => {
                if keep {
                    *self
                        .context
                        .partial
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = Some(Partial {
                        snapshot: self.snapshot,
                        sink,
                        crcs,
                    });
                }
                Err(())
            }
        }
    }

    /// Copies every file not already complete. `Err(true)`: failed, but what was
    /// written is sound and may be resumed.
    async fn copy_files(
        &mut self,
        files: &[SnapshotFileInfo],
        slot: &mut Option<SnapshotSink>,
        crcs: &mut BTreeMap<String, u32>,
    ) -> Result<(), bool> {
        let mut syncs = Vec::new();
        let copied = self.copy_all(files, slot, crcs, &mut syncs).await;
        // Every background fsync is waited for, however the copy ended: one that failed
        // is not retried (the commit's would wrongly succeed), so the copy is dropped,
        // not kept for resuming.
        let mut synced = true;
        for sync in syncs {
            synced &= matches!(sync.await, Ok(Ok(())));
        }
        match copied {
            Ok(()) if synced => Ok(()),
            Ok(()) => Err(false),
            Err(keep) => Err(keep && synced),
        }
    }

    async fn copy_all(
        &mut self,
        files: &[SnapshotFileInfo],
        slot: &mut Option<SnapshotSink>,
        crcs: &mut BTreeMap<String, u32>,
        syncs: &mut Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
    ) -> Result<(), bool> {
        let inline = self.context.inline;
        for file in files {
            let sink = slot.as_ref().ok_or(false)?;
            let written = sink.written(&file.name);
            if written == file.size && crcs.get(&file.name) == Some(&file.crc32c) {
                continue; // complete from an earlier attempt
            }
            if written == 0 && sink.can_reuse(&file.name, file.crc32c) {
                let name = file.name.clone();
                with_sink(inline, slot, move |sink| sink.reuse_file(&name))
                    .await
                    .ok_or(false)?
                    .map_err(|_| false)?;
                crcs.insert(file.name.clone(), file.crc32c);
                continue;
            }
            if written == 0 {
                // Register the file even if it is empty.
                let name = file.name.clone();
                with_sink(inline, slot, move |sink| sink.append_chunk(&name, 0, &[]))
                    .await
                    .ok_or(false)?
                    .map_err(|_| false)?;
            }
            let mut offset = slot.as_ref().ok_or(false)?.written(&file.name);
            let mut crc = crcs.get(&file.name).copied().unwrap_or(0);
            let copied = self.copy_file(file, slot, &mut offset, &mut crc).await;
            crcs.insert(file.name.clone(), crc);
            copied?;
            // Made durable in the background of the next file's copy (the commit then
            // finds little left to sync).
            if let Some(path) = slot
                .as_ref()
                .and_then(|sink| sink.directory())
                .map(|dir| dir.join(&file.name))
            {
                if !inline {
                    syncs.push(tokio::task::spawn_blocking(move || {
                        std::fs::File::open(path).and_then(|file| file.sync_all())
                    }));
                }
            }
            if crc != file.crc32c {
                return Err(false);
            }
        }
        Ok(())
    }

    /// Copies `file` from `offset` to its end with up to `FETCH_WINDOW` reads in
    /// flight (the round trip overlaps the leader's read and this node's write);
    /// answers may come in any order and are written in order. When the oldest read
    /// goes unanswered for `request_timeout`, every outstanding read is asked again,
    /// from where the copy stands; after `SNAPSHOT_FETCH_RETRIES` such rounds in a row
    /// the copy fails (resumable: `Err(true)`). `Err(false)`: the data cannot be right.
    async fn copy_file(
        &mut self,
        file: &SnapshotFileInfo,
        slot: &mut Option<SnapshotSink>,
        offset: &mut u64,
        crc: &mut u32,
    ) -> Result<(), bool> {
        let inline = self.context.inline;
        let mut chunk = u64::from(self.context.chunk_bytes.max(1));
        // offset → request id of the reads in flight, and answers not yet written.
        let mut asked: BTreeMap<u64, u64> = BTreeMap::new();
        let mut ready: BTreeMap<u64, Bytes> = BTreeMap::new();
        let mut next = *offset;
        let mut silent_rounds = 0;
        let mut deadline = tokio::time::Instant::now() + self.context.request_timeout;
        while *offset < file.size {
            // A gap left by a short answer is asked first, then the window is filled.
            if !asked.contains_key(offset) && !ready.contains_key(offset) {
                let request = self.send_read(Some(file.name.clone()), *offset);
                asked.insert(*offset, request);
                next = next.max(*offset + chunk.min(file.size - *offset));
            }
            while asked.len() + ready.len() < FETCH_WINDOW && next < file.size {
                let request = self.send_read(Some(file.name.clone()), next);
                asked.insert(next, request);
                next += chunk.min(file.size - next);
            }
            match tokio::time::timeout_at(deadline, self.replies.recv()).await {
                Ok(Some(data)) => {
                    let Some((&at, _)) = asked.iter().find(|(_, id)| **id == data.request) else {
                        continue; // an answer to a read asked again since
                    };
                    asked.remove(&at);
                    let bytes = match data.reply {
                        SnapshotReply::Chunk(bytes) => bytes,
                        SnapshotReply::Unavailable(_) | SnapshotReply::Files(_) => {
                            return Err(true)
                        }
                    };
                    if bytes.is_empty() || at + bytes.len() as u64 > file.size {
                        return Err(false); // the leader's file is not what it listed
                    }
                    if at + (bytes.len() as u64) < file.size {
                        // The leader answers in smaller chunks than asked: ask for
                        // its size from now on, so the window stays full.
                        chunk = chunk.min(bytes.len() as u64);
                    }
                    ready.insert(at, bytes);
                    silent_rounds = 0;
                    deadline = tokio::time::Instant::now() + self.context.request_timeout;
                }
                Ok(None) => return Err(true),
                Err(_) => {
                    silent_rounds += 1;
                    if silent_rounds >= SNAPSHOT_FETCH_RETRIES {
                        return Err(true);
                    }
                    // Ask every outstanding read again (new ids: late answers to the
                    // old ones are ignored).
                    let offsets: Vec<u64> = asked.keys().copied().collect();
                    for at in offsets {
                        let request = self.send_read(Some(file.name.clone()), at);
                        asked.insert(at, request);
                    }
                    deadline = tokio::time::Instant::now() + self.context.request_timeout;
                    continue;
                }
            }
            // Write what is contiguous with the copy.
            while let Some(bytes) = ready.remove(offset) {
                *crc = crc32c::crc32c_append(*crc, &bytes);
                let (name, at, length) = (file.name.clone(), *offset, bytes.len() as u64);
                let appended = with_sink(inline, slot, move |sink| {
                    sink.append_chunk(&name, at, &bytes)
                })
                .await
                .ok_or(false)?;
                if appended.is_err() {
                    return Err(false);
                }
                *offset += length;
            }
            // Answers that overlap what was just written (a short answer moved the
            // copy off the chunk grid) are dropped and asked again.
            ready.retain(|&at, _| at >= *offset);
            asked.retain(|&at, _| at >= *offset);
        }
        Ok(())
    }

    fn send_read(&mut self, file: Option<String>, offset: u64) -> u64 {
        let request = self.next_request;
        self.next_request += 1;
        self.context.sender.send(
            &self.leader,
            FrameBody::SnapshotRead(SnapshotRead {
                snapshot: self.snapshot,
                request,
                file,
                offset,
                max_bytes: self.context.chunk_bytes,
            }),
        );
        request
    }

    /// Asks until answered: up to `SNAPSHOT_FETCH_RETRIES` times, each waiting
    /// `request_timeout`. An `Unavailable` answer ends the fetch at once.
    async fn ask(&mut self, file: Option<String>, offset: u64) -> Result<SnapshotReply, ()> {
        for _ in 0..SNAPSHOT_FETCH_RETRIES {
            let request = self.send_read(file.clone(), offset);
            let deadline = tokio::time::Instant::now() + self.context.request_timeout;
            loop {
                match tokio::time::timeout_at(deadline, self.replies.recv()).await {
                    Ok(Some(data)) if data.request == request => {
                        return match data.reply {
                            SnapshotReply::Unavailable(_) => Err(()),
                            reply => Ok(reply),
                        };
                    }
                    Ok(Some(_)) => continue, // an answer to an earlier request
                    Ok(None) => return Err(()),
                    Err(_) => break, // timed out: ask again
                }
            }
        }
        Err(())
    }
}

/// Runs `f` on the sink in `slot`, on tokio's blocking pool unless `inline` (file
/// writes must not hold up an async worker). `None` if the sink was lost (its thread
/// failed).
async fn with_sink<T: Send + 'static>(
    inline: bool,
    slot: &mut Option<SnapshotSink>,
    f: impl FnOnce(&mut SnapshotSink) -> T + Send + 'static,
) -> Option<T> {
    let mut sink = slot.take()?;
    if inline {
        let result = f(&mut sink);
        *slot = Some(sink);
        return Some(result);
    }
    let (sink, result) = tokio::task::spawn_blocking(move || {
        let result = f(&mut sink);
        (sink, result)
    })
    .await
    .ok()?;
    *slot = Some(sink);
    Some(result)
}

/// One read's place in a server's in-flight count, given back when dropped.
struct InFlightSlot {
    in_flight: Arc<Mutex<BTreeMap<PeerId, usize>>>,
    peer: PeerId,
}

impl Drop for InFlightSlot {
    fn drop(&mut self) {
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = in_flight.get_mut(&self.peer) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                in_flight.remove(&self.peer);
            }
        }
    }
}

/// Serves snapshot reads from the node's retained snapshots.
#[derive(Clone)]
pub(crate) struct SnapshotServer {
    pub(crate) store: Arc<dyn SnapshotStore>,
    pub(crate) sender: TransferSender,
    /// Reads being answered, per peer (`MAX_READS_PER_PEER` each,
    /// `MAX_READS_IN_FLIGHT` in all).
    pub(crate) in_flight: Arc<Mutex<BTreeMap<PeerId, usize>>>,
    pub(crate) chunk_bytes: u32,
    /// Read on the calling task (simulations) rather than on tokio's blocking pool.
    pub(crate) inline: bool,
    /// The snapshot being served, kept open from one read to the next (opening it
    /// lists the store and reads its meta).
    pub(crate) open: Arc<Mutex<Option<Arc<SnapshotSource>>>>,
}

impl SnapshotServer {
    /// Answers `read` from `from`, off the caller's task. Returns false when the read
    /// was dropped (too many in flight).
    pub(crate) fn serve(&self, from: PeerId, read: SnapshotRead) -> bool {
        {
            let mut in_flight = self
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let total: usize = in_flight.values().sum();
            let mine = in_flight.get(&from).copied().unwrap_or(0);
            if total >= MAX_READS_IN_FLIGHT || mine >= MAX_READS_PER_PEER {
                return false;
            }
            in_flight.insert(from.clone(), mine + 1);
        }
        let server = self.clone();
        let answer = move || {
            // Released however the read ends (a store that panics included).
            let _slot = InFlightSlot {
                in_flight: server.in_flight.clone(),
                peer: from.clone(),
            };
            let reply = server.read(&read);
            server.sender.send(
                &from,
                FrameBody::SnapshotData(SnapshotData {
                    snapshot: read.snapshot,
                    request: read.request,
                    reply,
                }),
            );
        };
        if self.inline {
            answer();
        } else {
            drop(tokio::task::spawn_blocking(answer));
        }
        true
    }

    fn read(&self, read: &SnapshotRead) -> SnapshotReply {
        let unavailable = |error: StorageError| SnapshotReply::Unavailable(error.to_string());
        // The latest snapshot or the one before it (a store keeps it until the next
        // commit), so a transfer survives one new snapshot on the leader.
        let cached = self
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .filter(|source| source.meta().last_included == read.snapshot);
        let source = match cached {
            Some(source) => source,
            None => match self.store.open_at(read.snapshot) {
                Ok(Some(source)) => {
                    let source = Arc::new(source);
                    *self.open.lock().unwrap_or_else(PoisonError::into_inner) =
                        Some(source.clone());
                    source
                }
                Ok(None) => {
                    return SnapshotReply::Unavailable(format!(
                        "no snapshot ends at {} any more",
                        read.snapshot
                    ))
                }
                Err(error) => return unavailable(error),
            },
        };
        match &read.file {
            None => SnapshotReply::Files(
                source
                    .meta()
                    .files
                    .iter()
                    .map(|file| SnapshotFileInfo {
                        name: file.name.clone(),
                        size: file.size,
                        crc32c: file.crc32c,
                    })
                    .collect(),
            ),
            Some(name) => {
                let max = read.max_bytes.min(self.chunk_bytes).max(1) as usize;
                match source.read_chunk(name, read.offset, max) {
                    Ok(data) => SnapshotReply::Chunk(Bytes::from(data)),
                    Err(error) => {
                        // Gone from under it (removed by later commits): reopen next time.
                        *self.open.lock().unwrap_or_else(PoisonError::into_inner) = None;
                        unavailable(error)
                    }
                }
            }
        }
    }
}
