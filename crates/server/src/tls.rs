//! HTTPS served by the node itself (`tls_cert` / `tls_key`): the rustls configuration, with the
//! files' problems named at start-up rather than at the first handshake.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use axum_server::tls_rustls::RustlsConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// A server configuration from a PEM certificate chain and its PEM private key (PKCS#8, PKCS#1 or
/// SEC1), offering HTTP/2 and HTTP/1.1, TLS 1.2 and 1.3 with rustls' safe defaults.
pub fn server_config(cert: &Path, key: &Path) -> anyhow::Result<RustlsConfig> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("tls_cert: reading the certificates in {}", cert.display()))?;
    anyhow::ensure!(
        !chain.is_empty(),
        "tls_cert: {} holds no PEM certificate",
        cert.display()
    );
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("tls_key: reading the private key in {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("tls: protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("tls_cert/tls_key: the key does not match the certificate or is not supported")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(RustlsConfig::from_config(Arc::new(config)))
}
