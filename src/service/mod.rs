//! The client protocol: how applications outside the cluster reach a group's state
//! machine over TCP (JRaft's CLI/RPC client path, F33–F34).
//!
//! A node serves requests on its own port with [`serve`]: each request carries an
//! opaque command, which a [`Handler`] (usually a [`NodeHandler`] around a
//! `Node`) proposes as a task and answers with the state
//! machine's response. Errors are typed by what they mean for the command's effect
//! ([`ServiceError`]): `NotLeader` and `NotApplied` prove nothing was appended, so a
//! client may retry; `Unknown` does not, so a client must not retry blindly.
//!
//! [`ServiceClient`] follows leader hints across a fixed member list and retries only
//! what is provably not applied. Like the Raft transport it is generic over the socket
//! type ([`Connector`] / [`Acceptor`]), so the chaos suite runs it on turmoil's sockets.
//! Every wait is bounded: connects, requests, idle connections.

mod admin;
mod route;
mod wire;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::core::{Endpoint, PeerId};
use crate::runtime::{ApplyError, Node, ReadError, StateMachine, Task};
use crate::transport::{accept_loop, Acceptor, Connector};

pub use admin::{
    admin_error, AdminRequest, AdminResponse, GroupClient, GroupHandler, GroupOp, GroupRequest,
    GROUP_REQUEST_VERSION,
};
pub use route::{rebalance_plan, Route, RouteError, RouteTable};
pub use wire::{
    encode_frame, read_frame, write_frame, FrameError, ServiceError, ServiceReply, ServiceRequest,
    DEFAULT_MAX_SERVICE_FRAME_BYTES, SERVICE_WIRE_VERSION,
};

/// A boxed, sendable future of a handler's answer.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<Bytes, ServiceError>> + Send>>;

/// Answers requests.
pub trait Handler: Send + Sync + 'static {
    /// Handles one request body.
    fn call(&self, body: Bytes) -> HandlerFuture;
}

type Validate = dyn Fn(&Bytes) -> Result<(), String> + Send + Sync;
type Respond<R> = dyn Fn(R) -> Result<Bytes, ServiceError> + Send + Sync;

/// A read served from the state machine (`Node::read`) instead of the log.
pub type ServiceRead<S> = Box<dyn FnOnce(&S) -> <S as StateMachine>::Response + Send + 'static>;

type ReadHook<S> = dyn Fn(&Bytes) -> Option<ServiceRead<S>> + Send + Sync;

/// Proposes each request body as a task on a node and answers with the encoded state
/// machine response.
pub struct NodeHandler<S: StateMachine> {
    node: Node<S>,
    validate: Box<Validate>,
    respond: Box<Respond<S::Response>>,
    reads: Option<Box<ReadHook<S>>>,
}

impl<S: StateMachine> NodeHandler<S> {
    /// `validate` refuses undecodable commands before they reach the log; `respond`
    /// encodes the state machine's response (or turns it into an error).
    pub fn new(
        node: Node<S>,
        validate: impl Fn(&Bytes) -> Result<(), String> + Send + Sync + 'static,
        respond: impl Fn(S::Response) -> Result<Bytes, ServiceError> + Send + Sync + 'static,
    ) -> Self {
        NodeHandler {
            node,
            validate: Box::new(validate),
            respond: Box::new(respond),
            reads: None,
        }
    }

    /// Serves the requests `reads` recognizes as reads with `Node::read` (no log
    /// entry, on any member, confirmed as the node's read option says): `reads` returns
    /// the read to run on the state machine, or `None` for a command to propose.
    pub fn with_reads(
        mut self,
        reads: impl Fn(&Bytes) -> Option<ServiceRead<S>> + Send + Sync + 'static,
    ) -> Self {
        self.reads = Some(Box::new(reads));
        self
    }
}

/// What a [`ReadError`] means to a remote client: a read changes nothing, so every
/// refusal is "not applied" (retry), with the leader hint when there is one.
pub fn service_read_error(error: ReadError) -> ServiceError {
    match error {
        ReadError::NotLeader { leader_hint } => ServiceError::NotLeader { leader_hint },
        error => ServiceError::NotApplied {
            reason: error.to_string(),
        },
    }
}

/// What an [`ApplyError`] means to a remote client.
pub fn service_error(error: ApplyError) -> ServiceError {
    match error {
        ApplyError::NotLeader { leader_hint } => ServiceError::NotLeader { leader_hint },
        error if error.definitely_not_applied() => ServiceError::NotApplied {
            reason: error.to_string(),
        },
        error => ServiceError::Unknown {
            reason: error.to_string(),
        },
    }
}

impl<S: StateMachine> Handler for Arc<NodeHandler<S>> {
    fn call(&self, body: Bytes) -> HandlerFuture {
        let this = self.clone();
        Box::pin(async move {
            (this.validate)(&body).map_err(|reason| ServiceError::BadRequest { reason })?;
            if let Some(read) = this.reads.as_ref().and_then(|reads| reads(&body)) {
                return match this.node.read(read).await {
                    Ok(response) => (this.respond)(response),
                    Err(error) => Err(service_read_error(error)),
                };
            }
            match this.node.apply(Task::new(body)).await {
                Ok(applied) => (this.respond)(applied.response),
                Err(error) => Err(service_error(error)),
            }
        })
    }
}

/// Tunables of the service side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceOptions {
    /// Largest request accepted.
    pub max_frame_bytes: u32,
    /// Most client connections served at once; more are closed on accept.
    pub max_connections: usize,
    /// A connection with no request for this long is closed.
    pub idle_timeout: Duration,
    /// A request not answered within this is answered `Unknown`.
    pub request_timeout: Duration,
    /// Bound on writing one reply.
    pub write_timeout: Duration,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        ServiceOptions {
            max_frame_bytes: DEFAULT_MAX_SERVICE_FRAME_BYTES,
            max_connections: 1024,
            idle_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(5),
        }
    }
}

/// Serves client requests from `acceptor` until it fails. Each connection handles one
/// request at a time, in order. Spawn it; aborting it closes every connection.
pub async fn serve<A: Acceptor, H: Handler + Clone>(
    acceptor: A,
    handler: H,
    options: ServiceOptions,
) -> io::Result<()> {
    let max_connections = options.max_connections;
    accept_loop(
        acceptor,
        max_connections,
        || {},
        move |stream, _name| {
            let (handler, options) = (handler.clone(), options.clone());
            async move { serve_connection(stream, handler, &options).await }
        },
    )
    .await
}

async fn serve_connection<S, H>(mut stream: S, handler: H, options: &ServiceOptions)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    H: Handler,
{
    loop {
        let read = tokio::time::timeout(
            options.idle_timeout,
            read_frame::<_, ServiceRequest>(&mut stream, options.max_frame_bytes),
        )
        .await;
        let request = match read {
            Err(_) | Ok(Err(FrameError::Io(_))) => return,
            Ok(Err(error)) => {
                // Framing or decoding failed: answer once, then close (nothing after a
                // bad frame can be trusted).
                let reply = ServiceReply {
                    id: 0,
                    result: Err(ServiceError::BadRequest {
                        reason: error.to_string(),
                    }),
                };
                let _ =
                    tokio::time::timeout(options.write_timeout, write_frame(&mut stream, &reply))
                        .await;
                return;
            }
            Ok(Ok(request)) => request,
        };
        let result =
            match tokio::time::timeout(options.request_timeout, handler.call(request.body)).await {
                Ok(result) => result,
                Err(_) => Err(ServiceError::Unknown {
                    reason: "the request timed out on the server".into(),
                }),
            };
        let reply = ServiceReply {
            id: request.id,
            result,
        };
        match tokio::time::timeout(options.write_timeout, write_frame(&mut stream, &reply)).await {
            Ok(Ok(())) => {}
            _ => return,
        }
    }
}

/// Why a call produced no response.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The command certainly did not take effect. A Jepsen `:fail`.
    #[error("not applied: {reason}")]
    NotApplied {
        /// The last refusal.
        reason: String,
    },
    /// The command may or may not have taken effect. A Jepsen `:info`.
    #[error("outcome unknown: {reason}")]
    Unknown {
        /// What happened.
        reason: String,
    },
    /// The server refused the request as malformed; nothing changed.
    #[error("rejected: {reason}")]
    Rejected {
        /// Why.
        reason: String,
    },
}

/// Tunables of [`ServiceClient`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientOptions {
    /// Bound on one connection attempt.
    pub connect_timeout: Duration,
    /// Bound on one request's round trip; past it the outcome is unknown.
    pub attempt_timeout: Duration,
    /// Total time spent looking for a leader before the call fails as not applied.
    pub redirect_budget: Duration,
    /// Pause before retrying when no leader is known.
    pub retry_pause: Duration,
    /// Largest reply accepted.
    pub max_frame_bytes: u32,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_secs(1),
            attempt_timeout: Duration::from_secs(5),
            redirect_budget: Duration::from_secs(10),
            retry_pause: Duration::from_millis(50),
            max_frame_bytes: DEFAULT_MAX_SERVICE_FRAME_BYTES,
        }
    }
}

/// A client of one group: knows each member's Raft id and service endpoint, sends one
/// request at a time to the member it believes leads and follows `NotLeader` hints.
pub struct ServiceClient<C: Connector> {
    connector: C,
    members: Vec<(PeerId, Endpoint)>,
    leader: usize,
    connection: Option<(usize, C::Stream)>,
    next_id: u64,
    options: ClientOptions,
    learn_hints: bool,
}

impl<C: Connector> ServiceClient<C> {
    /// A client of the group whose members are `(raft peer id, service endpoint)`.
    /// Panics if `members` is empty.
    pub fn new(connector: C, members: Vec<(PeerId, Endpoint)>, options: ClientOptions) -> Self {
        assert!(!members.is_empty(), "a client needs at least one member");
        ServiceClient {
            connector,
            members,
            leader: 0,
            connection: None,
            next_id: 1,
            options,
            learn_hints: false,
        }
    }

    /// Follows a leader hint that names a peer outside the member list too, at the
    /// peer's own endpoint (adding it to the list): for servers whose Raft port is also
    /// their client port (`concord serve`), where a peer id is the address to reach it
    /// at, so a client learns of members added after it started.
    pub fn learning_hinted_members(mut self) -> Self {
        self.learn_hints = true;
        self
    }

    /// The member this client will try first.
    pub fn believed_leader(&self) -> &PeerId {
        &self.members[self.leader].0
    }

    fn next_member(&mut self) {
        self.leader = (self.leader + 1) % self.members.len();
    }

    /// Sends `body` to the leader and returns the state machine's encoded response.
    /// Retries (at the hinted leader, else the next member) only after answers that
    /// prove the command was not appended.
    pub async fn call(&mut self, body: Bytes) -> Result<Bytes, CallError> {
        let deadline = tokio::time::Instant::now() + self.options.redirect_budget;
        let mut last_refusal = String::from("no member reachable");
        let mut redirects = 0usize;
        // Members that answered this round with a hint elsewhere: a hint back to one of
        // them is not followed until the round is over (a removed member's stale hint,
        // and the hints of the members it names, can otherwise send a client round a
        // loop that never reaches the leader). A member that answered without a hint
        // may have been elected since, so a hint to it is followed.
        let mut hinting = std::collections::BTreeSet::new();
        while tokio::time::Instant::now() < deadline {
            let target = self.leader;
            if self.connection.as_ref().map(|(at, _)| *at) != Some(target) {
                self.connection = None;
                let endpoint = &self.members[target].1;
                let connect = self.connector.connect(endpoint);
                match tokio::time::timeout(self.options.connect_timeout, connect).await {
                    Ok(Ok(stream)) => self.connection = Some((target, stream)),
                    Ok(Err(error)) => {
                        // Nothing was sent: certainly not applied.
                        last_refusal = format!("cannot connect to {endpoint}: {error}");
                        self.next_member();
                        tokio::time::sleep(self.options.retry_pause).await;
                        continue;
                    }
                    Err(_) => {
                        last_refusal = format!("connecting to {endpoint} timed out");
                        self.next_member();
                        continue;
                    }
                }
            }
            let Some((_, stream)) = self.connection.as_mut() else {
                continue;
            };
            let id = self.next_id;
            self.next_id += 1;
            let request = ServiceRequest {
                id,
                body: body.clone(),
            };
            let max = self.options.max_frame_bytes;
            let round_trip = async {
                write_frame(stream, &request).await?;
                read_frame::<_, ServiceReply>(stream, max).await
            };
            let answer = tokio::time::timeout(self.options.attempt_timeout, round_trip).await;
            // The server's TLS layer refused the connection before anything reached the
            // service: certainly not applied. Either it speaks TLS and this client does
            // not (a TLS alert where a frame length should be), or it refused this
            // client's certificate (the connector waits for the server's acceptance,
            // so this is a server whose TLS layer failed the connection later on).
            let refused_by_tls = match &answer {
                Ok(Err(FrameError::BadLength { length, .. }))
                    if wire::tls_alert_header(*length) =>
                {
                    Some("expects TLS (a TLS alert answered a connection in the clear)".to_string())
                }
                Ok(Err(FrameError::Io(error))) if crate::transport::refused_by_tls(error) => {
                    Some(format!("refused this client's certificate: {error}"))
                }
                _ => None,
            };
            if let Some(reason) = refused_by_tls {
                self.connection = None;
                last_refusal = format!("{} {reason}", self.members[target].1);
                self.next_member();
                tokio::time::sleep(self.options.retry_pause).await;
                continue;
            }
            let reply = match answer {
                Ok(Ok(reply)) if reply.id == id => reply,
                Ok(Ok(reply)) => {
                    self.connection = None;
                    return Err(CallError::Unknown {
                        reason: format!("reply for request {} to request {id}", reply.id),
                    });
                }
                Ok(Err(error)) => {
                    // The request may have arrived before the connection broke.
                    self.connection = None;
                    self.next_member();
                    return Err(CallError::Unknown {
                        reason: error.to_string(),
                    });
                }
                Err(_) => {
                    self.connection = None;
                    self.next_member();
                    return Err(CallError::Unknown {
                        reason: "no reply in time".into(),
                    });
                }
            };
            match reply.result {
                Ok(body) => return Ok(body),
                Err(ServiceError::NotLeader { leader_hint }) => {
                    last_refusal = "not leader".into();
                    let hinted = leader_hint.and_then(|hint| {
                        match self.members.iter().position(|(peer, _)| *peer == hint) {
                            Some(position) => Some(position),
                            // Bounded: a hint names a member of the group, and a
                            // client of a large group meets each at most once.
                            None if self.learn_hints && self.members.len() < 1024 => {
                                let endpoint = hint.endpoint().clone();
                                self.members.push((hint, endpoint));
                                Some(self.members.len() - 1)
                            }
                            None => None,
                        }
                    });
                    redirects += 1;
                    if hinting.len() >= self.members.len() {
                        hinting.clear();
                    }
                    if hinted.is_some() {
                        hinting.insert(target);
                    }
                    match hinted {
                        // Servers hinting at each other (learned hints can name any
                        // address): after a round of the members, pause between
                        // redirects as between refusals.
                        Some(position)
                            if position != self.leader && !hinting.contains(&position) =>
                        {
                            self.leader = position;
                            if self.learn_hints && redirects > self.members.len() {
                                tokio::time::sleep(self.options.retry_pause).await;
                            }
                        }
                        _ => {
                            self.next_member();
                            tokio::time::sleep(self.options.retry_pause).await;
                        }
                    }
                }
                Err(ServiceError::NotApplied { reason }) => {
                    last_refusal = reason;
                    self.next_member();
                    tokio::time::sleep(self.options.retry_pause).await;
                }
                Err(ServiceError::Unknown { reason }) => {
                    self.next_member();
                    return Err(CallError::Unknown { reason });
                }
                Err(ServiceError::BadRequest { reason }) => {
                    return Err(CallError::Rejected { reason })
                }
            }
        }
        Err(CallError::NotApplied {
            reason: last_refusal,
        })
    }
}
