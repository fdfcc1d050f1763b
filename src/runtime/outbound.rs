//! Frames out: wraps the core's messages for the transport, through the simulation's
//! fault injector when there is one (drop, duplicate, delay, replay).

use std::sync::Arc;

use bytes::Bytes;

use super::faults::{FaultInjector, SendFault};
use crate::core::{GroupId, Message, PeerId};
use crate::transport::{FrameBody, RaftFrame, Transport};

pub(crate) struct Outbound {
    transport: Arc<dyn Transport>,
    group: GroupId,
    peer: PeerId,
    faults: Option<Arc<dyn FaultInjector>>,
}

impl Outbound {
    pub(crate) fn new(
        transport: Arc<dyn Transport>,
        group: GroupId,
        peer: PeerId,
        faults: Option<Arc<dyn FaultInjector>>,
    ) -> Self {
        Outbound {
            transport,
            group,
            peer,
            faults,
        }
    }

    /// Sends `message` (with the payloads of its entries, if an append) to `to`.
    /// Failures are counted by the transport; the core retransmits what matters.
    pub(crate) fn send(&self, to: PeerId, message: Message<PeerId>, payloads: Vec<Bytes>) {
        let fault = match &self.faults {
            Some(faults) => faults.send(&to, &message),
            None => SendFault::Deliver,
        };
        let endpoint = to.endpoint().clone();
        let frame = RaftFrame::raft(self.group.clone(), self.peer.clone(), to, message, payloads);
        match fault {
            SendFault::Deliver => {
                let _ = self.transport.send(&endpoint, frame);
            }
            SendFault::Drop => {}
            SendFault::Duplicate => {
                let _ = self.transport.send(&endpoint, frame.clone());
                let _ = self.transport.send(&endpoint, frame);
            }
            SendFault::Delay(delay) => {
                let transport = Arc::clone(&self.transport);
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = transport.send(&endpoint, frame);
                });
            }
            SendFault::Replay(delay) => {
                let _ = self.transport.send(&endpoint, frame.clone());
                let transport = Arc::clone(&self.transport);
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = transport.send(&endpoint, frame);
                });
            }
        }
    }

    /// A handle that sends snapshot-transfer frames from other tasks (no fault
    /// injection: in a simulation, the simulated network's faults apply to them).
    pub(crate) fn transfer(&self) -> TransferSender {
        TransferSender {
            transport: Arc::clone(&self.transport),
            group: self.group.clone(),
            peer: self.peer.clone(),
        }
    }
}

/// Sends snapshot-transfer frames (see [`Outbound::transfer`]).
#[derive(Clone)]
pub(crate) struct TransferSender {
    transport: Arc<dyn Transport>,
    group: GroupId,
    peer: PeerId,
}

impl TransferSender {
    pub(crate) fn send(&self, to: &PeerId, body: FrameBody) {
        let frame = RaftFrame {
            group: self.group.clone(),
            from: self.peer.clone(),
            to: to.clone(),
            body,
            payloads: Vec::new(),
        };
        let _ = self.transport.send(to.endpoint(), frame);
    }
}
