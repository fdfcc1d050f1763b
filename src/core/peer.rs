//! `Endpoint` (`host:port`) and `PeerId` (`host:port[:idx]`), JRAFT_GUIDE_NOTES F01.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::ParseError;

/// A network address: a host name or IP address and a port.
///
/// IPv6 addresses are written in brackets (`[::1]:8081`), as in URLs. The host is kept
/// behind an `Arc` so that cloning an endpoint (it is cloned into every message) is cheap,
/// and comparing two clones of one endpoint skips the text (`eq` and `cmp` look at the
/// pointer first; the order is the derived one: host, then port).
#[derive(Clone)]
pub struct Endpoint {
    host: Arc<str>,
    port: u16,
}

impl PartialEq for Endpoint {
    fn eq(&self, other: &Self) -> bool {
        self.port == other.port && (Arc::ptr_eq(&self.host, &other.host) || self.host == other.host)
    }
}

impl Eq for Endpoint {}

impl std::hash::Hash for Endpoint {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.host.hash(state);
        self.port.hash(state);
    }
}

impl PartialOrd for Endpoint {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Endpoint {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let host = if Arc::ptr_eq(&self.host, &other.host) {
            std::cmp::Ordering::Equal
        } else {
            self.host.cmp(&other.host)
        };
        host.then(self.port.cmp(&other.port))
    }
}

impl Endpoint {
    /// Builds an endpoint after validating the host (see [`Endpoint::from_str`]).
    pub fn new(host: &str, port: u16) -> Result<Endpoint, ParseError> {
        check_host(host)?;
        Ok(Endpoint {
            host: Arc::from(host),
            port,
        })
    }

    /// The host name or IP address, without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// True for the wildcard addresses `0.0.0.0` and `::`, on which a node refuses to
    /// start: peers could not reach it at that address (F01).
    pub fn is_unspecified(&self) -> bool {
        matches!(&*self.host, "0.0.0.0" | "::" | "0:0:0:0:0:0:0:0")
    }
}

fn check_host(host: &str) -> Result<(), ParseError> {
    if host.is_empty() {
        return Err(ParseError::new("endpoint", host, "empty host"));
    }
    if host.len() > 253 {
        return Err(ParseError::new(
            "endpoint",
            host,
            "host longer than 253 characters",
        ));
    }
    if host.contains(':') {
        // An IPv6 literal: hex digits, colons and dots (for an embedded IPv4 tail).
        let ok = host
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        if !ok || host.parse::<::core::net::Ipv6Addr>().is_err() {
            return Err(ParseError::new("endpoint", host, "invalid IPv6 address"));
        }
        return Ok(());
    }
    let ok = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    if !ok {
        return Err(ParseError::new(
            "endpoint",
            host,
            "host may contain only letters, digits, '-', '_' and '.'",
        ));
    }
    Ok(())
}

fn parse_port(what: &'static str, input: &str, port: &str) -> Result<u16, ParseError> {
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::new(
            what,
            input,
            "port must be a decimal number",
        ));
    }
    port.parse::<u16>()
        .map_err(|_| ParseError::new(what, input, "port must be at most 65535"))
}

/// Splits `host:rest` or `[v6]:rest` into the host and what follows the first colon
/// after it.
fn split_host<'a>(what: &'static str, input: &'a str) -> Result<(&'a str, &'a str), ParseError> {
    if let Some(after_bracket) = input.strip_prefix('[') {
        let close = after_bracket
            .find(']')
            .ok_or_else(|| ParseError::new(what, input, "missing ']' after IPv6 host"))?;
        let host = &after_bracket[..close];
        let rest = &after_bracket[close + 1..];
        let rest = rest
            .strip_prefix(':')
            .ok_or_else(|| ParseError::new(what, input, "expected ':port' after IPv6 host"))?;
        Ok((host, rest))
    } else {
        let colon = input
            .find(':')
            .ok_or_else(|| ParseError::new(what, input, "expected host:port"))?;
        Ok((&input[..colon], &input[colon + 1..]))
    }
}

impl FromStr for Endpoint {
    type Err = ParseError;

    /// Parses `host:port` or `[ipv6]:port`.
    fn from_str(input: &str) -> Result<Endpoint, ParseError> {
        let (host, port) = split_host("endpoint", input)?;
        if port.contains(':') {
            return Err(ParseError::new(
                "endpoint",
                input,
                "unexpected ':' after port",
            ));
        }
        let port = parse_port("endpoint", input, port)?;
        check_host(host).map_err(|e| ParseError::new("endpoint", input, e.reason))?;
        Endpoint::new(host, port)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Endpoint({self})")
    }
}

/// A Raft participant: an endpoint plus an index that tells apart several nodes of the
/// same group on one endpoint (`host:port[:idx]`, idx defaults to 0 and is omitted from
/// the display form when it is 0).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId {
    endpoint: Endpoint,
    idx: u32,
}

impl PeerId {
    /// Builds a peer id.
    pub fn new(endpoint: Endpoint, idx: u32) -> PeerId {
        PeerId { endpoint, idx }
    }

    /// The peer's network address.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The peer's index on its endpoint.
    pub fn idx(&self) -> u32 {
        self.idx
    }
}

impl FromStr for PeerId {
    type Err = ParseError;

    /// Parses `host:port` or `host:port:idx` (IPv6 hosts in brackets).
    fn from_str(input: &str) -> Result<PeerId, ParseError> {
        let (host, rest) = split_host("peer id", input)?;
        let (port, idx) = match rest.split_once(':') {
            Some((port, idx)) => (port, Some(idx)),
            None => (rest, None),
        };
        let port = parse_port("peer id", input, port)?;
        let idx = match idx {
            None => 0,
            Some(idx) => {
                if idx.is_empty() || !idx.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(ParseError::new(
                        "peer id",
                        input,
                        "idx must be a decimal number",
                    ));
                }
                idx.parse::<u32>()
                    .map_err(|_| ParseError::new("peer id", input, "idx must fit in 32 bits"))?
            }
        };
        let endpoint =
            Endpoint::new(host, port).map_err(|e| ParseError::new("peer id", input, e.reason))?;
        Ok(PeerId { endpoint, idx })
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.idx == 0 {
            write!(f, "{}", self.endpoint)
        } else {
            write!(f, "{}:{}", self.endpoint, self.idx)
        }
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({self})")
    }
}

macro_rules! serde_via_string {
    ($ty:ty) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

serde_via_string!(Endpoint);
serde_via_string!(PeerId);
