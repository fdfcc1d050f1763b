//! `--tls-ca`, `--tls-cert`, `--tls-key`: TLS with mutual authentication for `concord
//! serve` and `concord cli` (`concord::transport::TlsConfig`).

use std::path::PathBuf;

use concord::transport::TlsConfig;

/// TLS options shared by `serve` and `cli`.
#[derive(clap::Args, Debug, Clone)]
pub struct TlsArgs {
    /// The cluster CA's certificate (PEM): turns on TLS with mutual authentication,
    /// together with --tls-cert and --tls-key. Every server and client then needs a
    /// certificate signed by this CA.
    #[arg(long, global = true, requires_all = ["tls_cert", "tls_key"])]
    pub tls_ca: Option<PathBuf>,
    /// This process's certificate chain (PEM, leaf first). A server's certificate names
    /// its --id (`host:port`) as its common name and its host as a subject alternative
    /// name.
    #[arg(long, global = true, requires = "tls_ca")]
    pub tls_cert: Option<PathBuf>,
    /// This process's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, global = true, requires = "tls_ca")]
    pub tls_key: Option<PathBuf>,
}

impl TlsArgs {
    /// The configuration, or `None` when TLS is off.
    pub fn load(&self) -> Result<Option<TlsConfig>, String> {
        match (&self.tls_ca, &self.tls_cert, &self.tls_key) {
            (Some(ca), Some(cert), Some(key)) => TlsConfig::from_pem_files(ca, cert, key)
                .map(Some)
                .map_err(|e| format!("TLS: {e}")),
            // clap's `requires` makes the three go together.
            _ => Ok(None),
        }
    }
}
