//! The client actor: issues its register operations one at a time to the server it
//! believes leads, following redirects.
//!
//! A client re-sends a request only when a server refused it with `Redirect` (nothing
//! was appended for it): to the leader the server named, or to the same server when it
//! named none. So a request that was accepted is never proposed twice by the
//! client. A client whose accepted request is lost (the leader crashed or was deposed
//! before applying it) waits forever: that costs liveness, never safety, and keeps the
//! state space small. Clients never crash (the model's boundary excludes it).

use std::borrow::Cow;

use concord::core::RequestId;
use stateright::actor::{Id, Out};

use crate::actor::ModelActor;
use crate::types::{Msg, Op, Storage, Value};

/// A client's fixed parameters.
#[derive(Clone, Debug)]
pub struct ClientActor {
    /// This client's number (0-based among clients).
    pub index: usize,
    /// Number of servers (actors `0..server_count`).
    pub server_count: usize,
    /// The operations to run, in order.
    pub ops: Vec<Op>,
    /// How many retries of one request are told apart (1 in exhaustive checks; more
    /// in simulations, see `Msg::Request::attempt`).
    pub attempt_variants: u8,
    /// The server the first request goes to.
    pub first_target: usize,
    /// Where reads go after a completed operation (`ModelConfig::read_elsewhere`):
    /// `None` sends every operation where the last one completed.
    pub read_target: Option<usize>,
    /// Where writes go after a completed operation (`ModelConfig::write_target`).
    pub write_target: Option<usize>,
}

/// The request id of client `index`'s operation `op_number`: unique across clients,
/// increasing per client.
pub fn request_id(index: usize, op_number: usize) -> RequestId {
    RequestId(((index as u64) << 32) | op_number as u64)
}

/// A client's state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientState {
    /// How many operations completed.
    pub completed: usize,
    /// The server the outstanding request was sent to.
    pub target: usize,
    /// How many writes were acknowledged.
    pub writes_acknowledged: usize,
    /// Values returned by completed reads.
    pub reads: Vec<Value>,
    /// Attempts of the outstanding request, modulo `attempt_variants`.
    pub attempt: u8,
    /// The server a read goes to after a completed operation, if the client sends its
    /// reads elsewhere (`ModelConfig::read_elsewhere`). A server id like `target`, so
    /// the symmetry reduction renames it with the servers.
    pub read_target: Option<usize>,
    /// The server a write goes to after a completed operation
    /// (`ModelConfig::write_target`), renamed like `read_target`.
    pub write_target: Option<usize>,
}

impl ClientActor {
    /// The operations client `index` runs when it runs `count` of them: writes and reads
    /// alternate, even clients start with a write and odd ones with a read, and client
    /// `c` always writes the value `c + 1`.
    pub fn ops_for(index: usize, count: usize) -> Vec<Op> {
        (0..count)
            .map(|j| {
                if (index + j).is_multiple_of(2) {
                    Op::Write(u8::try_from(index + 1).expect("few clients"))
                } else {
                    Op::Read
                }
            })
            .collect()
    }

    /// The request id of operation `op_number`.
    fn request_id(&self, op_number: usize) -> RequestId {
        request_id(self.index, op_number)
    }

    fn send_request(&self, state: &ClientState, retry: bool, o: &mut Out<ModelActor>) {
        let request = Msg::Request {
            request: self.request_id(state.completed),
            op: self.ops[state.completed],
            retry,
            attempt: state.attempt,
        };
        o.send(Id::from(state.target), request);
    }

    /// `Actor::on_start` for clients: send the first operation to server 0, or, after a
    /// crash, pick up from the saved progress and send the outstanding request again
    /// (as a retry: it was invoked once, and a client never proposes an accepted
    /// request twice, so a lost answer is what the retry may duplicate — the servers'
    /// sessions apply it once).
    pub(crate) fn on_start(
        &self,
        saved: Option<&ClientState>,
        o: &mut Out<ModelActor>,
    ) -> ClientState {
        if let Some(saved) = saved {
            let state = saved.clone();
            if state.completed < self.ops.len() {
                self.send_request(&state, true, o);
            }
            return state;
        }
        let state = ClientState {
            completed: 0,
            target: self.first_target,
            writes_acknowledged: 0,
            reads: Vec::new(),
            attempt: 0,
            read_target: self.read_target,
            write_target: self.write_target,
        };
        o.save(Storage::Client(state.clone()));
        if !self.ops.is_empty() {
            self.send_request(&state, false, o);
        }
        state
    }

    /// `Actor::on_msg` for clients. Answers to anything but the outstanding request are
    /// ignored without touching the state, so stateright prunes their delivery.
    pub(crate) fn on_msg(&self, state: &mut Cow<ClientState>, msg: Msg, o: &mut Out<ModelActor>) {
        if state.completed >= self.ops.len() {
            return;
        }
        let outstanding = self.request_id(state.completed);
        match msg {
            Msg::Redirect {
                request,
                leader_hint,
            } if request == outstanding => {
                // Follow the hint; without one (no leader known there yet), ask the same
                // server again. Choosing "the next server" instead would depend on how
                // servers are numbered and break the symmetry the checker relies on.
                let state = state.to_mut();
                if let Some(hint) = leader_hint {
                    state.target = usize::from(hint.0);
                }
                state.attempt = (state.attempt + 1) % self.attempt_variants.max(1);
                o.save(Storage::Client(state.clone()));
                self.send_request(state, true, o);
            }
            Msg::WriteOk { request } if request == outstanding => {
                if !matches!(self.ops[state.completed], Op::Write(_)) {
                    return;
                }
                let state = state.to_mut();
                state.writes_acknowledged += 1;
                self.complete(state, o);
            }
            Msg::ReadOk { request, value } if request == outstanding => {
                if !matches!(self.ops[state.completed], Op::Read) {
                    return;
                }
                let state = state.to_mut();
                state.reads.push(value);
                self.complete(state, o);
            }
            _ => {}
        }
    }

    fn complete(&self, state: &mut ClientState, o: &mut Out<ModelActor>) {
        state.completed += 1;
        state.attempt = 0;
        match (
            self.ops.get(state.completed),
            state.read_target,
            state.write_target,
        ) {
            (Some(Op::Read), Some(target), _) | (Some(Op::Write(_)), _, Some(target)) => {
                state.target = target;
            }
            _ => {}
        }
        o.save(Storage::Client(state.clone()));
        if state.completed < self.ops.len() {
            self.send_request(state, false, o);
        }
    }
}
