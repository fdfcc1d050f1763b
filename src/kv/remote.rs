//! The KV store over the network: a [`NodeHandler`] that serves KV commands on a node's
//! client port, and a client that speaks to it.

use std::sync::Arc;

use bytes::Bytes;

use super::client::KvClientError;
use super::command::{KvCommand, KvResponse};
use super::machine::KvRead;
use crate::core::{Endpoint, PeerId};
use crate::runtime::{Node, StateMachine};
use crate::service::{ClientOptions, NodeHandler, ServiceClient, ServiceError};
use crate::transport::Connector;

/// The handler to pass to [`crate::service::serve`] for a KV node (a
/// [`super::KvStateMachine`], or anything answering like one): undecodable commands are
/// refused before they reach the log, and `get` is served by `Node::read` (the node's
/// read option; ReadIndex by default) without a log entry.
pub fn kv_handler<S>(node: Node<S>) -> Arc<NodeHandler<S>>
where
    S: StateMachine<Response = Result<KvResponse, String>> + KvRead,
{
    Arc::new(
        log_handler(node).with_reads(|body| match KvCommand::decode(body) {
            Ok(KvCommand::Get { key }) => {
                Some(Box::new(move |kv: &S| Ok(KvResponse::Value(kv.get(&key)))))
            }
            _ => None,
        }),
    )
}

/// Like [`kv_handler`], but every command, `get` included, goes through the log (a
/// replicated entry and an fsync on a quorum per read): what reads cost before
/// ReadIndex, kept for comparison (`benches/read_throughput.rs`).
pub fn kv_handler_through_log<S>(node: Node<S>) -> Arc<NodeHandler<S>>
where
    S: StateMachine<Response = Result<KvResponse, String>>,
{
    Arc::new(log_handler(node))
}

fn log_handler<S>(node: Node<S>) -> NodeHandler<S>
where
    S: StateMachine<Response = Result<KvResponse, String>>,
{
    NodeHandler::new(
        node,
        |body| {
            KvCommand::decode(body)
                .map(|_| ())
                .map_err(|e| e.to_string())
        },
        |response| match response {
            Ok(response) => Ok(Bytes::from(
                postcard::to_stdvec(&response).unwrap_or_default(),
            )),
            Err(reason) => Err(ServiceError::BadRequest { reason }),
        },
    )
}

/// A KV client over the client protocol, following leader redirects.
pub struct RemoteKvClient<C: Connector> {
    inner: ServiceClient<C>,
}

impl<C: Connector> RemoteKvClient<C> {
    /// A client of the members `(raft peer id, client endpoint)`.
    pub fn new(connector: C, members: Vec<(PeerId, Endpoint)>, options: ClientOptions) -> Self {
        RemoteKvClient {
            inner: ServiceClient::new(connector, members, options),
        }
    }

    /// Runs one command. `NotApplied` and `Rejected` prove the command took no effect;
    /// `Unknown` does not.
    pub async fn execute(&mut self, command: &KvCommand) -> Result<KvResponse, KvClientError> {
        let body = self.inner.call(command.encode()).await?;
        postcard::from_bytes(&body).map_err(|e| KvClientError::Unknown {
            reason: format!("undecodable response: {e}"),
        })
    }
}
