//! rustls configurations from PEM files, and the principal of a client certificate.
//!
//! The crypto provider is `ring`. A client certificate maps to `User:CN`, the subject's common
//! name (Kafka's default principal is the whole distinguished name; `User:CN` is what its
//! `ssl.principal.mapping.rules` are most often set to produce).

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::principal::Principal;

/// Whether a TLS listener asks clients for a certificate (Kafka's `ssl.client.auth`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// No client certificates.
    #[default]
    None,
    /// Asked for; a client without one connects as `User:ANONYMOUS` (or logs in with SASL).
    Requested,
    /// A client without a certificate the CA signed cannot connect.
    Required,
}

impl ClientAuth {
    pub fn parse(text: &str) -> Option<ClientAuth> {
        match text.to_ascii_lowercase().as_str() {
            "none" => Some(ClientAuth::None),
            "requested" => Some(ClientAuth::Requested),
            "required" => Some(ClientAuth::Required),
            _ => None,
        }
    }
}

/// The PEM files of a TLS listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The node's certificate chain.
    pub cert_file: PathBuf,
    /// The node's private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// CAs that sign client certificates (and, for nodes, each other's certificates).
    pub ca_file: Option<PathBuf>,
    pub client_auth: ClientAuth,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("{path} holds no {what}")]
    Empty { path: PathBuf, what: &'static str },
    #[error("client certificates need a CA file (tls_ca_file)")]
    NoClientCa,
    #[error("TLS configuration: {0}")]
    Rustls(String),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads every certificate of a PEM file.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let file = File::open(path).map_err(|e| TlsError::File {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let certificates = CertificateDer::pem_reader_iter(BufReader::new(file))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::File {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    if certificates.is_empty() {
        return Err(TlsError::Empty {
            path: path.to_path_buf(),
            what: "certificate",
        });
    }
    Ok(certificates)
}

/// Reads the first private key of a PEM file.
pub fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::File {
        path: path.to_path_buf(),
        // The error names the PEM problem, never the key's bytes.
        reason: e.to_string(),
    })
}

fn root_store(ca_file: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for certificate in read_certificates(ca_file)? {
        roots
            .add(certificate)
            .map_err(|e| TlsError::Rustls(format!("CA in {}: {e}", ca_file.display())))?;
    }
    Ok(roots)
}

/// The server side of a TLS listener.
pub fn server_config(files: &TlsFiles) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = read_certificates(&files.cert_file)?;
    let key = read_private_key(&files.key_file)?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    let builder = match files.client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::Requested | ClientAuth::Required => {
            let ca_file = files.ca_file.as_deref().ok_or(TlsError::NoClientCa)?;
            let verifier = WebPkiClientVerifier::builder_with_provider(
                Arc::new(root_store(ca_file)?),
                provider(),
            );
            let verifier = if files.client_auth == ClientAuth::Requested {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier
                .build()
                .map_err(|e| TlsError::Rustls(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The client side: trusts `ca_file` (the nodes' CA), and presents a certificate when given.
pub fn client_config(
    ca_file: &Path,
    client_certificate: Option<(&Path, &Path)>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rustls(e.to_string()))?
        .with_root_certificates(root_store(ca_file)?);
    let config = match client_certificate {
        None => builder.with_no_client_auth(),
        Some((cert_file, key_file)) => builder
            .with_client_auth_cert(read_certificates(cert_file)?, read_private_key(key_file)?)
            .map_err(|e| TlsError::Rustls(e.to_string()))?,
    };
    Ok(Arc::new(config))
}

/// `User:CN` of a verified client certificate; None when it has no common name.
pub fn principal_of_certificate(certificate: &CertificateDer<'_>) -> Option<Principal> {
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate.as_ref()).ok()?;
    let common_name = parsed.subject().iter_common_name().next()?.as_str().ok()?;
    Some(Principal::user(common_name))
}

/// The principal of a TLS server connection's client certificate, if it sent one.
pub fn peer_principal(connection: &rustls::ServerConnection) -> Option<Principal> {
    connection
        .peer_certificates()?
        .first()
        .and_then(principal_of_certificate)
}
