//! Certificates generated at test time (rcgen): a CA, and certificates it signs for
//! servers (common name = `host:port`, the host as a subject alternative name) and
//! clients. Shared by the library's and the binary's TLS tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// A certificate authority.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    /// Its certificate, PEM.
    pub pem: String,
}

/// A certificate and its key, PEM.
pub struct Issued {
    pub cert: String,
    pub key: String,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Ca {
            issuer: Issuer::new(params, key),
            pem: cert.pem(),
        }
    }

    /// A certificate with `common_name`, valid for the hosts in `sans` (IP addresses or
    /// DNS names), for both server and client use.
    pub fn issue(&self, common_name: &str, sans: &[&str]) -> Issued {
        let key = KeyPair::generate().unwrap();
        let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(sans).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Issued {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    /// Writes the CA certificate and `issued` to `dir` as `ca.pem`, `<name>.pem` and
    /// `<name>.key`; returns the three paths.
    pub fn write(&self, dir: &Path, name: &str, issued: &Issued) -> (PathBuf, PathBuf, PathBuf) {
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, &self.pem).unwrap();
        let cert = dir.join(format!("{name}.pem"));
        std::fs::write(&cert, &issued.cert).unwrap();
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&key, &issued.key).unwrap();
        (ca, cert, key)
    }
}
