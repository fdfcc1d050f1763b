//! The one actor type stateright runs: a server or a client.

use std::borrow::Cow;

use stateright::actor::{Actor, Id, Out};

use crate::client::{ClientActor, ClientState};
use crate::server::{ServerActor, ServerState};
use crate::types::{ModelTimer, Msg, Storage};

/// A model actor. Servers come first (actor ids `0..servers`), then clients.
#[derive(Clone, Debug)]
pub enum ModelActor {
    /// A Raft server wrapping the core.
    Server(ServerActor),
    /// A register client.
    Client(ClientActor),
}

/// A model actor's volatile state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ActorState {
    /// A server's state.
    Server(Box<ServerState>),
    /// A client's state.
    Client(ClientState),
}

impl ActorState {
    /// The server state, if this is a server.
    pub fn as_server(&self) -> Option<&ServerState> {
        match self {
            ActorState::Server(server) => Some(server),
            ActorState::Client(_) => None,
        }
    }

    /// The client state, if this is a client.
    pub fn as_client(&self) -> Option<&ClientState> {
        match self {
            ActorState::Server(_) => None,
            ActorState::Client(client) => Some(client),
        }
    }
}

impl Actor for ModelActor {
    type Msg = Msg;
    type Timer = ModelTimer;
    type State = ActorState;
    type Storage = Storage;
    type Random = ();

    fn name(&self) -> String {
        match self {
            ModelActor::Server(_) => "Server".into(),
            ModelActor::Client(_) => "Client".into(),
        }
    }

    fn on_start(&self, id: Id, storage: &Option<Storage>, o: &mut Out<Self>) -> ActorState {
        match self {
            ModelActor::Server(server) => {
                let durable = storage.as_ref().and_then(Storage::as_server);
                ActorState::Server(Box::new(server.on_start(id, durable, o)))
            }
            ModelActor::Client(client) => {
                let saved = storage.as_ref().and_then(Storage::as_client);
                ActorState::Client(client.on_start(saved, o))
            }
        }
    }

    fn on_msg(&self, _id: Id, state: &mut Cow<ActorState>, src: Id, msg: Msg, o: &mut Out<Self>) {
        match (self, state.as_ref()) {
            (ModelActor::Server(server), ActorState::Server(server_state)) => {
                let mut inner = Cow::Borrowed(&**server_state);
                server.on_msg(&mut inner, src, msg, o);
                if let Cow::Owned(next) = inner {
                    *state = Cow::Owned(ActorState::Server(Box::new(next)));
                }
            }
            (ModelActor::Client(client), ActorState::Client(client_state)) => {
                let mut inner = Cow::Borrowed(client_state);
                client.on_msg(&mut inner, msg, o);
                if let Cow::Owned(next) = inner {
                    *state = Cow::Owned(ActorState::Client(next));
                }
            }
            _ => unreachable!("actor and state kinds always match"),
        }
    }

    fn on_timeout(
        &self,
        _id: Id,
        state: &mut Cow<ActorState>,
        timer: &ModelTimer,
        o: &mut Out<Self>,
    ) {
        if let (ModelActor::Server(server), ActorState::Server(server_state)) =
            (self, state.as_ref())
        {
            let mut inner = Cow::Borrowed(&**server_state);
            server.on_timeout(&mut inner, *timer, o);
            if let Cow::Owned(next) = inner {
                *state = Cow::Owned(ActorState::Server(Box::new(next)));
            }
        }
    }
}
