//! TLS 1.3 with mutual authentication (rustls, the `ring` provider) for the Raft port and
//! the client/admin port, behind the `tls` feature. [`TlsConfig`] has the rules and an
//! example.
//!
//! Without the feature (or without a configuration) [`TlsConnector::plain`] connects in
//! the clear, with the same stream type, so a program chooses at run time.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
#[cfg(feature = "tls")]
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::tcp::Connector;
use crate::core::{Endpoint, PeerId};

#[cfg(feature = "tls")]
use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer, ServerName};

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A file holds no usable PEM item of the kind needed.
    #[error("{what}: {reason}")]
    Pem {
        /// Which input (`CA certificates`, `certificate`, `private key`).
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// rustls refused the configuration (a key that does not match the certificate, an
    /// unsupported key type, an unusable CA).
    #[error("TLS configuration refused: {0}")]
    Config(String),
    /// The binary was built without the `tls` feature.
    #[error("this build has no TLS support (the `tls` feature is off)")]
    Unsupported,
}

/// The cluster's CA and this process's certificate chain and key, from PEM.
///
/// Every server and every client holds a certificate signed by one certificate
/// authority (the cluster's CA) and the CA's certificate. A connection is accepted only
/// from a holder of a certificate signed by that CA, and a connector accepts a server
/// only when its certificate is valid for the host dialled (a subject-alternative name,
/// as for any TLS server) **and** names the endpoint dialled as its subject common name
/// (CN), so a certificate of one server on a host cannot stand in for another server on
/// the same host.
///
/// Identity on the Raft port: a server's certificate names its endpoint, `host:port`,
/// as its CN (`CN=10.0.0.1:7001`; IPv6 in brackets). A Raft connection whose certificate
/// names no peer ([`certified_peer`]: an operator's `CN=admin`) is closed at once, and a
/// frame is accepted only when its sender's peer id is on the certified endpoint
/// ([`certifies`]); both are counted as `frames_rejected_identity`. Client and admin
/// connections need a CA-signed certificate and nothing more: any holder may read, write
/// and administer (there are no roles). There is no revocation: a certificate stays
/// valid until it expires or the CA is replaced.
///
/// ```no_run
/// # #[cfg(feature = "tls")]
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// use concord::transport::{
///     split_port_tls, PrefaceConnector, SplitOptions, TlsConfig, TlsConnector, TokioConnector,
///     RAFT_PREFACE,
/// };
///
/// let tls = TlsConfig::from_pem_files("ca.pem", "server.pem", "server.key")?;
/// let listener = tokio::net::TcpListener::bind("10.0.0.1:7001").await?;
/// // Handshakes first, then the preface inside TLS: Raft, client and HTTP traffic all
/// // go through it.
/// let port = split_port_tls(listener, SplitOptions::default(), &tls);
/// // Outbound Raft connections present the same certificate.
/// let connector = PrefaceConnector::new(TlsConnector::new(TokioConnector, &tls), RAFT_PREFACE);
/// # let _ = (port, connector);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    #[cfg(feature = "tls")]
    server: Arc<rustls::ServerConfig>,
    #[cfg(feature = "tls")]
    client: Arc<rustls::ClientConfig>,
    name: Option<String>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// Reads the CA certificates (`ca`, one or more), this process's certificate chain
    /// (`cert`, leaf first) and its private key (`key`: PKCS#8, PKCS#1 or SEC1), all PEM.
    pub fn from_pem_files(
        ca: impl AsRef<Path>,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<TlsConfig, TlsError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| TlsError::Read {
                path: path.to_path_buf(),
                source,
            })
        };
        TlsConfig::from_pem(
            &read(ca.as_ref())?,
            &read(cert.as_ref())?,
            &read(key.as_ref())?,
        )
    }

    /// As [`TlsConfig::from_pem_files`], from the files' contents.
    #[cfg(feature = "tls")]
    pub fn from_pem(ca: &[u8], cert: &[u8], key: &[u8]) -> Result<TlsConfig, TlsError> {
        let pem = |what: &'static str, reason: String| TlsError::Pem { what, reason };
        let cas = CertificateDer::pem_slice_iter(ca)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pem("CA certificates", e.to_string()))?;
        if cas.is_empty() {
            return Err(pem("CA certificates", "no CERTIFICATE in the file".into()));
        }
        let mut roots = rustls::RootCertStore::empty();
        for ca in cas {
            roots
                .add(ca)
                .map_err(|e| pem("CA certificates", e.to_string()))?;
        }
        let roots = Arc::new(roots);
        let chain = CertificateDer::pem_slice_iter(cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pem("certificate", e.to_string()))?;
        let Some(leaf) = chain.first() else {
            return Err(pem("certificate", "no CERTIFICATE in the file".into()));
        };
        let name = common_name(leaf);
        let key =
            PrivateKeyDer::from_pem_slice(key).map_err(|e| pem("private key", e.to_string()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = |e: rustls::Error| TlsError::Config(e.to_string());
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            roots.clone(),
            provider.clone(),
        )
        .build()
        .map_err(|e| TlsError::Config(e.to_string()))?;
        // TLS 1.3 only: both ends are rustls (curl and Prometheus speak it too), and
        // 1.2 would send client certificates in the clear.
        let server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(config)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(config)?;
        let mut client = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(config)?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(config)?;
        // No session resumption: a resumed TLS 1.3 session reuses the certificate chain
        // judged when the ticket was issued, so an expired certificate would stay
        // usable for as long as the server keeps its tickets. Every connection does a
        // full handshake and has its certificate checked. (The server still sends its
        // session tickets — the client offers PSK modes regardless — which the
        // connector waits for: see `accepted`.)
        client.resumption = rustls::client::Resumption::disabled();
        // The connector's acceptance check relies on the server's tickets.
        debug_assert!(server.send_tls13_tickets > 0);
        Ok(TlsConfig {
            server: Arc::new(server),
            client: Arc::new(client),
            name,
        })
    }

    /// As [`TlsConfig::from_pem_files`], from the files' contents.
    #[cfg(not(feature = "tls"))]
    pub fn from_pem(_ca: &[u8], _cert: &[u8], _key: &[u8]) -> Result<TlsConfig, TlsError> {
        Err(TlsError::Unsupported)
    }

    /// The subject common name of this process's certificate: for a server, the
    /// endpoint (`host:port`) peers dial.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The rustls server configuration (client certificates required).
    #[cfg(feature = "tls")]
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        self.server.clone()
    }

    /// The rustls client configuration (presents this process's certificate).
    #[cfg(feature = "tls")]
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        self.client.clone()
    }
}

/// The subject common name of a DER certificate, if it has one in UTF-8.
#[cfg(feature = "tls")]
pub(crate) fn common_name(der: &[u8]) -> Option<String> {
    let (_, certificate) = x509_parser::parse_x509_certificate(der).ok()?;
    let name = certificate.subject().iter_common_name().next()?;
    name.as_str().ok().map(str::to_owned)
}

/// The peer a certificate's common name certifies: `host:port` (every peer id on that
/// endpoint) or `host:port:idx` (that peer id only). `None` for any other name (an
/// operator's or a client's certificate): such a connection is not a Raft peer.
pub fn certified_peer(name: &str) -> Option<PeerId> {
    // Canonical names only: `host:port:0` would read as the whole endpoint.
    let peer: PeerId = name.parse().ok()?;
    (peer.to_string() == name).then_some(peer)
}

/// Whether a connection certified as `certified` ([`certified_peer`]) may send frames as
/// `from`.
pub fn certifies(certified: &PeerId, from: &PeerId) -> bool {
    if certified.idx() == 0 {
        certified.endpoint() == from.endpoint()
    } else {
        certified == from
    }
}

/// Whether `error` (from a read or write on a [`MaybeTlsStream`]) is the peer's TLS
/// layer refusing this side: a fatal alert about the certificate or the handshake. A
/// TLS 1.3 client learns that the server refused its certificate only then, on its
/// first read; nothing it sent reached the server's application.
pub fn refused_by_tls(error: &io::Error) -> bool {
    #[cfg(feature = "tls")]
    {
        use rustls::AlertDescription as A;
        let Some(rustls::Error::AlertReceived(alert)) = error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        else {
            return false;
        };
        matches!(
            alert,
            A::HandshakeFailure
                | A::BadCertificate
                | A::UnsupportedCertificate
                | A::CertificateRevoked
                | A::CertificateExpired
                | A::CertificateUnknown
                | A::UnknownCA
                | A::AccessDenied
                | A::CertificateRequired
                | A::DecryptError
        )
    }
    #[cfg(not(feature = "tls"))]
    {
        let _ = error;
        false
    }
}

/// A stream in the clear or inside TLS: what [`TlsConnector`] and
/// [`split_port`](super::split_port) hand out, so one program type serves both.
#[non_exhaustive]
pub enum MaybeTlsStream<S> {
    /// No TLS.
    Plain(S),
    /// Inside TLS (client or server side).
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::TlsStream<S>>),
}

impl<S> fmt::Debug for MaybeTlsStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaybeTlsStream::Plain(_) => f.write_str("MaybeTlsStream::Plain"),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(_) => f.write_str("MaybeTlsStream::Tls"),
        }
    }
}

impl<S> MaybeTlsStream<S> {
    /// The socket under the TLS layer (to set socket options).
    pub fn get_ref(&self) -> &S {
        match self {
            MaybeTlsStream::Plain(stream) => stream,
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(stream) => stream.get_ref().0,
        }
    }
}

macro_rules! delegate {
    ($self:ident, $stream:ident => $body:expr) => {
        match $self.get_mut() {
            MaybeTlsStream::Plain($stream) => {
                let $stream = Pin::new($stream);
                $body
            }
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls($stream) => {
                let $stream = Pin::new(&mut **$stream);
                $body
            }
        }
    };
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for MaybeTlsStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        delegate!(self, stream => stream.poll_read(cx, buf))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for MaybeTlsStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, stream => stream.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, stream => stream.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            MaybeTlsStream::Plain(stream) => stream.is_write_vectored(),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(stream) => stream.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, stream => stream.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, stream => stream.poll_shutdown(cx))
    }
}

/// A connector that wraps another in TLS ([`TlsConnector::new`]) or passes its streams
/// through in the clear ([`TlsConnector::plain`]).
///
/// With TLS, the server's certificate must be valid for the host dialled and name the
/// endpoint dialled as its common name; otherwise the connection fails with
/// `InvalidData` (counted by the caller as a failed connect).
#[derive(Clone)]
pub struct TlsConnector<C> {
    inner: C,
    #[cfg(feature = "tls")]
    tls: Option<tokio_rustls::TlsConnector>,
}

impl<C> fmt::Debug for TlsConnector<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        #[cfg(feature = "tls")]
        let tls = self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        let tls = false;
        f.debug_struct("TlsConnector").field("tls", &tls).finish()
    }
}

impl<C> TlsConnector<C> {
    /// Streams of `inner` in the clear.
    pub fn plain(inner: C) -> Self {
        TlsConnector {
            inner,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// Streams of `inner` inside TLS with `config`'s certificate.
    #[cfg(feature = "tls")]
    pub fn new(inner: C, config: &TlsConfig) -> Self {
        TlsConnector {
            inner,
            tls: Some(tokio_rustls::TlsConnector::from(config.client_config())),
        }
    }

    /// [`TlsConnector::new`] when `config` is given, [`TlsConnector::plain`] otherwise.
    pub fn optional(inner: C, config: Option<&TlsConfig>) -> Self {
        match config {
            #[cfg(feature = "tls")]
            Some(config) => TlsConnector::new(inner, config),
            // Without the feature no `TlsConfig` can be built.
            #[cfg(not(feature = "tls"))]
            Some(_) => unreachable!("a TlsConfig exists only with the tls feature"),
            None => TlsConnector::plain(inner),
        }
    }
}

impl<C: Connector> Connector for TlsConnector<C> {
    type Stream = MaybeTlsStream<C::Stream>;

    async fn connect(&self, endpoint: &Endpoint) -> io::Result<Self::Stream> {
        let stream = self.inner.connect(endpoint).await?;
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            let invalid = |reason: String| io::Error::new(io::ErrorKind::InvalidData, reason);
            let host = ServerName::try_from(endpoint.host().to_owned())
                .map_err(|e| invalid(format!("{}: not a TLS server name: {e}", endpoint.host())))?;
            let stream = tls.connect(host, stream).await?;
            let named = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|leaf| common_name(leaf));
            let expected = endpoint.to_string();
            if named.as_deref() != Some(expected.as_str()) {
                return Err(invalid(format!(
                    "the server at {expected} presented a certificate for {}",
                    named.as_deref().unwrap_or("no common name")
                )));
            }
            let stream = accepted(stream).await?;
            return Ok(MaybeTlsStream::Tls(Box::new(
                tokio_rustls::TlsStream::Client(stream),
            )));
        }
        Ok(MaybeTlsStream::Plain(stream))
    }
}

/// Waits until the server has accepted this client's certificate. With TLS 1.3 the
/// client's side of the handshake completes before the server has judged the client's
/// certificate, so a refusal would only show on the first read — after a request was
/// written, leaving its outcome unknown to the caller. A server that accepts the
/// certificate sends its session tickets at once (rustls sends two by default; the
/// server side here keeps that default); one that refuses sends an alert. Reading
/// until either arrives makes a refused certificate a failed connect (nothing sent).
#[cfg(feature = "tls")]
async fn accepted<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: tokio_rustls::client::TlsStream<S>,
) -> io::Result<tokio_rustls::client::TlsStream<S>> {
    let mut byte = [0u8; 1];
    // Bounded on its own (the caller's connect timeout may be longer): a TLS server that
    // sends no session tickets is not a Concord server.
    let wait = std::future::poll_fn(|cx| {
        if stream.get_ref().1.tls13_tickets_received() > 0 {
            return Poll::Ready(Ok(()));
        }
        let mut buffer = ReadBuf::new(&mut byte);
        match Pin::new(&mut stream).poll_read(cx, &mut buffer) {
            // A ticket was processed, or nothing arrived yet (woken when it does).
            Poll::Pending if stream.get_ref().1.tls13_tickets_received() > 0 => Poll::Ready(Ok(())),
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Ready(Ok(())) if buffer.filled().is_empty() => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection after the TLS handshake",
            ))),
            // Our protocols' servers never speak first.
            Poll::Ready(Ok(())) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the server sent data before the request",
            ))),
        }
    });
    match tokio::time::timeout(std::time::Duration::from_secs(5), wait).await {
        Ok(result) => result?,
        Err(_) => return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the server sent no TLS session ticket after the handshake (not a Concord TLS server?)",
        )),
    }
    Ok(stream)
}

/// Completes the server side of a handshake on `stream`: the stream and the common name
/// of the client's certificate (`Some("")` when it has none, so that it names no peer).
#[cfg(feature = "tls")]
pub(crate) async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    acceptor: &tokio_rustls::TlsAcceptor,
    stream: S,
) -> io::Result<(MaybeTlsStream<S>, Arc<str>)> {
    let stream = acceptor.accept(stream).await?;
    let name = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|leaf| common_name(leaf))
        .unwrap_or_default();
    Ok((
        MaybeTlsStream::Tls(Box::new(tokio_rustls::TlsStream::Server(stream))),
        Arc::from(name),
    ))
}
