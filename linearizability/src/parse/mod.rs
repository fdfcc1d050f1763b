//! Readers for history files: Concord JSON lines, Jepsen EDN, Porcupine's etcd log and kv
//! formats. Each applies its source's semantics (see docs/linearizability.md) and yields
//! a [`History`] in Concord's canonical convention: an `Ok` read carries the value read,
//! an `Ok` cas carries `false` if it compared and failed, `Fail` means "did not happen"
//! and `Info` means "unknown".

mod edn;
mod etcd;
mod jepsen;
mod jsonl;
mod recorder;

use crate::error::ParseError;
use crate::history::History;
use std::fmt;
use std::str::FromStr;

pub use jsonl::to_jsonl;

/// A history file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Detect from the content.
    Auto,
    /// Concord's JSON lines.
    Jsonl,
    /// Jepsen/Knossos EDN: one vector or list of maps, or one map per line.
    Edn,
    /// Porcupine's etcd logs (`INFO  jepsen.util - ...`).
    PorcupineEtcd,
    /// Porcupine's kv format: one EDN map per line with `:key`.
    PorcupineKv,
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "auto" => Format::Auto,
            "jsonl" => Format::Jsonl,
            "edn" => Format::Edn,
            "porcupine-etcd" => Format::PorcupineEtcd,
            "porcupine-kv" => Format::PorcupineKv,
            _ => return Err(format!("unknown format {s:?}")),
        })
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Auto => "auto",
            Format::Jsonl => "jsonl",
            Format::Edn => "edn",
            Format::PorcupineEtcd => "porcupine-etcd",
            Format::PorcupineKv => "porcupine-kv",
        })
    }
}

/// Guesses the format from the first non-blank, non-comment line.
pub fn detect_format(text: &str) -> Option<Format> {
    let first = text
        .lines()
        .map(str::trim_start)
        .find(|line| !line.is_empty() && !line.starts_with(';'))?;
    if first.starts_with("INFO") {
        Some(Format::PorcupineEtcd)
    } else if first.starts_with("{\"") || first == "{" {
        Some(Format::Jsonl)
    } else if first.starts_with("{:") {
        Some(Format::PorcupineKv)
    } else if first.starts_with('[') || first.starts_with('(') {
        Some(Format::Edn)
    } else {
        None
    }
}

/// Parses `text` in `format`.
///
/// An empty (or all-whitespace) text, like one whose events are all filtered out
/// (nemesis events), is an empty history: it has no client operations and is trivially
/// linearizable, as Knossos says.
pub fn parse(text: &str, format: Format) -> Result<History, ParseError> {
    if text.trim().is_empty() {
        return Ok(History::new());
    }
    let format = match format {
        Format::Auto => detect_format(text).ok_or_else(|| ParseError::Syntax {
            line: 1,
            reason: "cannot detect the format (expected JSON lines, EDN or a Porcupine etcd log); use --format".to_string(),
        })?,
        other => other,
    };
    let history = match format {
        Format::Jsonl => jsonl::parse(text)?,
        Format::Edn | Format::PorcupineKv => jepsen::parse(text, format == Format::PorcupineKv)?,
        Format::PorcupineEtcd => etcd::parse(text)?,
        Format::Auto => unreachable_auto()?,
    };
    Ok(history)
}

fn unreachable_auto() -> Result<History, ParseError> {
    Err(ParseError::Syntax {
        line: 1,
        reason: "internal: format not resolved".to_string(),
    })
}
