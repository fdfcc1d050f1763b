//! Many groups and their administration behind one client port (`concord serve`,
//! `concord cli`; braft_cli and JRaft's `CliService`, F12–F13).
//!
//! A request names its group and carries either a state-machine command (answered as
//! [`NodeHandler`] answers it: `get` through `Node::read`, the rest through the log) or
//! an [`AdminRequest`]. [`GroupHandler`] serves both for every group a process hosts;
//! [`GroupClient`] sends them, following leader redirects. Errors keep the client
//! protocol's meaning ([`ServiceError`]): `NotLeader` and `NotApplied` prove nothing
//! changed, `Unknown` does not.
//!
//! Which node answers: the membership changes and the transfer need the leader (others
//! answer `NotLeader` with a hint, which the client follows); `get-leader`,
//! `get-peers`, `list-alive-peers`, `describe` and `snapshot` are answered by the node
//! asked (`describe` and `snapshot` are about that node; `list-alive-peers` is only
//! known on the leader).

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{
    CallError, ClientOptions, Handler, HandlerFuture, NodeHandler, ServiceClient, ServiceError,
};
use crate::core::{AdminError, Endpoint, GroupId, LogId, PeerId};
use crate::runtime::{AdminCallError, Node, NodeDescription, SnapshotError, StateMachine};
use crate::transport::Connector;

/// The version of [`GroupRequest`]'s and [`AdminResponse`]'s encoding (the first byte of
/// the body). 2 since 2026-12-05: a node's status carries its failure as a typed
/// `NodeFailure` (it was text); a peer of the other version answers or is refused with a
/// typed "unsupported version" error instead of misreading the status.
pub const GROUP_REQUEST_VERSION: u8 = 2;

/// One request to a process hosting groups.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRequest {
    /// The group it is for.
    pub group: GroupId,
    /// What to do.
    pub op: GroupOp,
}

/// A state-machine command or an administrative request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupOp {
    /// A command for the group's state machine, encoded by its codec.
    Command(Bytes),
    /// An administrative request.
    Admin(AdminRequest),
}

/// The administrative requests (braft_cli's commands).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdminRequest {
    /// The leader as the node asked knows it.
    GetLeader,
    /// Voters and learners of the configuration in force at the node asked.
    GetPeers,
    /// On the leader: itself and the members heard from in the current check-quorum
    /// round.
    ListAlivePeers,
    /// Add a voter (caught up first, then joint consensus).
    AddPeer(PeerId),
    /// Remove a voter.
    RemovePeer(PeerId),
    /// Replace the voters.
    ChangePeers(Vec<PeerId>),
    /// Force the voters of the node asked, without a quorum (disaster recovery; the
    /// old members are fenced, `Node::reset_peers`). Sent to one node, never
    /// redirected.
    ResetPeers(Vec<PeerId>),
    /// Add learners.
    AddLearners(Vec<PeerId>),
    /// Remove learners.
    RemoveLearners(Vec<PeerId>),
    /// Hand leadership to a voter (`None`: the most up-to-date one).
    TransferLeader(Option<PeerId>),
    /// Take a snapshot on the node asked now.
    Snapshot,
    /// The node's status.
    Describe,
}

/// The answer to an [`AdminRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdminResponse {
    /// `GetLeader`.
    Leader(Option<PeerId>),
    /// `GetPeers`, and every membership change: the configuration in force after it.
    Peers {
        /// Voters.
        voters: Vec<PeerId>,
        /// Learners.
        learners: Vec<PeerId>,
    },
    /// `ListAlivePeers`.
    AlivePeers(Vec<PeerId>),
    /// `TransferLeader`: the new leader.
    Transferred(PeerId),
    /// `Snapshot`: the last entry the node's latest snapshot covers.
    Snapshot(Option<LogId>),
    /// `Describe`: the node's state in depth (`Display` gives the text page).
    Status(Box<NodeDescription>),
}

impl GroupRequest {
    /// Encodes the request as a client-protocol body.
    pub fn encode(&self) -> Bytes {
        let mut body = vec![GROUP_REQUEST_VERSION];
        // Postcard cannot fail on these types.
        body.extend(postcard::to_stdvec(self).unwrap_or_default());
        Bytes::from(body)
    }

    /// Decodes a body.
    pub fn decode(body: &[u8]) -> Result<GroupRequest, String> {
        match body.split_first() {
            Some((&GROUP_REQUEST_VERSION, rest)) => {
                postcard::from_bytes(rest).map_err(|e| format!("undecodable group request: {e}"))
            }
            Some((version, _)) => Err(format!("unsupported group request version {version}")),
            None => Err("empty request".into()),
        }
    }
}

/// What an [`AdminCallError`] means to a remote client: `NotLeader` (follow the hint),
/// `NotApplied` for a refusal worth retrying soon (another change or a transfer running,
/// a leader that has not committed its first entry), `BadRequest` for a refusal that a
/// retry would meet again (an invalid change, a peer that did not catch up, a transfer
/// that timed out) — nothing changed in these three — and `Unknown` when leadership was
/// lost after the change may have been appended, or the node failed (it may have failed
/// in the middle of the request: a reset's write, a transfer's `TimeoutNow` sent).
pub fn admin_error(error: AdminCallError) -> ServiceError {
    match error {
        AdminCallError::Refused(AdminError::NotLeader { leader_hint }) => {
            ServiceError::NotLeader { leader_hint }
        }
        AdminCallError::Refused(
            refusal @ (AdminError::ChangeInProgress
            | AdminError::TransferInProgress
            | AdminError::NotReady),
        ) => ServiceError::NotApplied {
            reason: refusal.to_string(),
        },
        AdminCallError::Refused(
            refusal @ (AdminError::InvalidChange { .. }
            | AdminError::CatchUpFailed { .. }
            | AdminError::NotAVoter { .. }
            | AdminError::TransferTimedOut),
        ) => ServiceError::BadRequest {
            reason: refusal.to_string(),
        },
        error => ServiceError::Unknown {
            reason: error.to_string(),
        },
    }
}

/// A snapshot request refused (no snapshot store, a failed or stopped node, the save
/// failed): nothing to retry elsewhere, the request was about this node.
fn snapshot_error(error: SnapshotError) -> ServiceError {
    ServiceError::BadRequest {
        reason: error.to_string(),
    }
}

fn peers(configuration: &crate::core::Configuration<PeerId>) -> AdminResponse {
    AdminResponse::Peers {
        voters: configuration.voters().iter().cloned().collect(),
        learners: configuration.learners().iter().cloned().collect(),
    }
}

fn encode_admin(response: &AdminResponse) -> Bytes {
    let mut body = vec![GROUP_REQUEST_VERSION];
    body.extend(postcard::to_stdvec(response).unwrap_or_default());
    Bytes::from(body)
}

/// Serves [`GroupRequest`]s for the groups of one process: commands through each
/// group's [`NodeHandler`], administrative requests on its `Node`.
pub struct GroupHandler<S: StateMachine> {
    groups: BTreeMap<GroupId, (Node<S>, Arc<NodeHandler<S>>)>,
}

impl<S: StateMachine> Default for GroupHandler<S> {
    fn default() -> Self {
        GroupHandler {
            groups: BTreeMap::new(),
        }
    }
}

impl<S: StateMachine> GroupHandler<S> {
    /// No groups yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `group` with `node` (the node of that group), its commands with
    /// `commands` (for example [`crate::kv::kv_handler`]).
    pub fn with_group(
        mut self,
        group: GroupId,
        node: Node<S>,
        commands: Arc<NodeHandler<S>>,
    ) -> Self {
        self.groups.insert(group, (node, commands));
        self
    }

    async fn admin(node: Node<S>, request: AdminRequest) -> Result<AdminResponse, ServiceError> {
        Ok(match request {
            AdminRequest::GetLeader => AdminResponse::Leader(node.leader_id()),
            AdminRequest::GetPeers => AdminResponse::Peers {
                voters: node.list_peers(),
                learners: node.list_learners(),
            },
            AdminRequest::ListAlivePeers => {
                if node.describe().role != crate::core::Role::Leader {
                    return Err(ServiceError::NotLeader {
                        leader_hint: node.leader_id(),
                    });
                }
                AdminResponse::AlivePeers(node.list_alive_peers())
            }
            AdminRequest::AddPeer(peer) => peers(&node.add_peer(peer).await.map_err(admin_error)?),
            AdminRequest::RemovePeer(peer) => {
                peers(&node.remove_peer(peer).await.map_err(admin_error)?)
            }
            AdminRequest::ChangePeers(voters) => {
                peers(&node.change_peers(voters).await.map_err(admin_error)?)
            }
            AdminRequest::ResetPeers(voters) => {
                peers(&node.reset_peers(voters).await.map_err(admin_error)?)
            }
            AdminRequest::AddLearners(learners) => {
                peers(&node.add_learners(learners).await.map_err(admin_error)?)
            }
            AdminRequest::RemoveLearners(learners) => {
                peers(&node.remove_learners(learners).await.map_err(admin_error)?)
            }
            AdminRequest::TransferLeader(to) => AdminResponse::Transferred(
                node.transfer_leadership_to(to).await.map_err(admin_error)?,
            ),
            AdminRequest::Snapshot => {
                AdminResponse::Snapshot(node.snapshot().await.map_err(snapshot_error)?)
            }
            AdminRequest::Describe => {
                AdminResponse::Status(Box::new(node.describe_detailed().await))
            }
        })
    }
}

impl<S: StateMachine> Handler for Arc<GroupHandler<S>> {
    fn call(&self, body: Bytes) -> HandlerFuture {
        let request = match GroupRequest::decode(&body) {
            Ok(request) => request,
            Err(reason) => {
                return Box::pin(async move { Err(ServiceError::BadRequest { reason }) })
            }
        };
        let Some((node, commands)) = self.groups.get(&request.group) else {
            let reason = format!("no group {} here", request.group);
            return Box::pin(async move { Err(ServiceError::BadRequest { reason }) });
        };
        match request.op {
            GroupOp::Command(command) => commands.call(command),
            GroupOp::Admin(admin) => {
                let node = node.clone();
                Box::pin(async move {
                    GroupHandler::admin(node, admin)
                        .await
                        .map(|r| encode_admin(&r))
                })
            }
        }
    }
}

/// A client of one group on servers whose Raft port is also their client port
/// (`concord serve`): every peer id is the address to reach it at, so a leader hint
/// naming a server the client was not told about is followed too.
pub struct GroupClient<C: Connector> {
    group: GroupId,
    inner: ServiceClient<C>,
}

impl<C: Connector> GroupClient<C> {
    /// A client of `group` that starts with `peers` (at least one).
    pub fn new(connector: C, group: GroupId, peers: &[PeerId], options: ClientOptions) -> Self {
        let members: Vec<(PeerId, Endpoint)> = peers
            .iter()
            .map(|peer| (peer.clone(), peer.endpoint().clone()))
            .collect();
        GroupClient {
            group,
            inner: ServiceClient::new(connector, members, options).learning_hinted_members(),
        }
    }

    /// Sends a state-machine command; the state machine's encoded response.
    pub async fn command(&mut self, command: Bytes) -> Result<Bytes, CallError> {
        let request = GroupRequest {
            group: self.group.clone(),
            op: GroupOp::Command(command),
        };
        self.inner.call(request.encode()).await
    }

    /// Sends an administrative request (following redirects to the leader).
    pub async fn admin(&mut self, request: AdminRequest) -> Result<AdminResponse, CallError> {
        let request = GroupRequest {
            group: self.group.clone(),
            op: GroupOp::Admin(request),
        };
        let body = self.inner.call(request.encode()).await?;
        match body.split_first() {
            Some((&GROUP_REQUEST_VERSION, rest)) => {
                postcard::from_bytes(rest).map_err(|e| CallError::Unknown {
                    reason: format!("undecodable admin response: {e}"),
                })
            }
            _ => Err(CallError::Unknown {
                reason: "an admin response of another version (upgrade the client)".into(),
            }),
        }
    }

    /// The server the next request goes to first.
    pub fn believed_leader(&self) -> &PeerId {
        self.inner.believed_leader()
    }
}
