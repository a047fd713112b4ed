//! Optional TLS for `onboard api`: a certificate chain and its private key from PEM files
//! (`api.tls_cert_file`, `api.tls_key_file`), served with rustls (ring, TLS 1.2 and 1.3,
//! HTTP/1.1) through axum-server. A file that is missing, unreadable, empty or not PEM, or a
//! key that does not match the certificate, is an error naming the setting, before the API
//! listens. A client speaking plain HTTP to the TLS port gets no answer (the handshake
//! fails and the connection is closed).
//!
//! What it does not do: reload certificates while running (restart the API after renewing
//! them), client certificates, or encrypted private keys.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The setting naming the certificate chain file.
pub const CERT_SETTING: &str = "api.tls_cert_file (ONBOARD_API_TLS_CERT_FILE)";
/// The setting naming the private key file.
pub const KEY_SETTING: &str = "api.tls_key_file (ONBOARD_API_TLS_KEY_FILE)";

/// Where the API's certificate chain and private key are (PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// A TLS setting that cannot be used, naming the setting and the file (never the key's
/// contents).
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {problem}")]
pub struct TlsError {
    /// The setting (TOML key and environment variable).
    pub setting: &'static str,
    /// What is wrong.
    pub problem: String,
}

fn read(setting: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError {
        setting,
        problem: format!("cannot read {}: {e}", path.display()),
    })
}

/// Reads and checks the files into a rustls server configuration (ring, HTTP/1.1).
pub fn load(files: &TlsFiles) -> Result<Arc<ServerConfig>, TlsError> {
    let cert_pem = read(CERT_SETTING, &files.cert)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError {
            setting: CERT_SETTING,
            problem: format!(
                "{} is not a PEM certificate chain: {e}",
                files.cert.display()
            ),
        })?;
    if chain.is_empty() {
        return Err(TlsError {
            setting: CERT_SETTING,
            problem: format!(
                "{} holds no certificate (expected -----BEGIN CERTIFICATE-----)",
                files.cert.display()
            ),
        });
    }
    let key_pem = read(KEY_SETTING, &files.key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError {
        setting: KEY_SETTING,
        problem: format!(
            "{} holds no usable PEM private key (PKCS#8, PKCS#1 or SEC1): {e}",
            files.key.display()
        ),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError {
            setting: CERT_SETTING,
            problem: format!("TLS cannot be set up: {e}"),
        })?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError {
            setting: KEY_SETTING,
            problem: format!(
                "the key in {} cannot serve the certificate in {}: {e}",
                files.key.display(),
                files.cert.display()
            ),
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves `router` on `listener` until `shutdown` resolves: over TLS with `tls`, plain HTTP
/// without. Requests in flight finish (graceful shutdown).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    tls: Option<Arc<ServerConfig>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let Some(config) = tls else {
        return axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await;
    };
    let handle = axum_server::Handle::<std::net::SocketAddr>::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopper.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
    });
    let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(
        axum_server::tls_rustls::RustlsConfig::from_config(config),
    );
    axum_server::Server::from_listener(listener)
        .acceptor(acceptor)
        .handle(handle)
        .serve(router.into_make_service())
        .await
}
