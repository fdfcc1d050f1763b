//! The runtime's socket abstraction over turmoil's simulated TCP.

use std::io;

use concord::core::Endpoint;
use concord::transport::{Acceptor, Connector};

/// Connects with `turmoil::net::TcpStream` (host names resolve in the simulation).
#[derive(Clone, Copy, Debug, Default)]
pub struct TurmoilConnector;

impl Connector for TurmoilConnector {
    type Stream = turmoil::net::TcpStream;

    async fn connect(&self, endpoint: &Endpoint) -> io::Result<Self::Stream> {
        turmoil::net::TcpStream::connect((endpoint.host(), endpoint.port())).await
    }
}

/// Accepts on a `turmoil::net::TcpListener`.
pub struct TurmoilAcceptor(pub turmoil::net::TcpListener);

impl Acceptor for TurmoilAcceptor {
    type Stream = turmoil::net::TcpStream;

    async fn accept(&mut self) -> io::Result<Self::Stream> {
        let (stream, _) = self.0.accept().await?;
        Ok(stream)
    }
}
