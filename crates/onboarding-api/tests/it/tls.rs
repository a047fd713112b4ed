//! The API over TLS on loopback: a client trusting a certificate made in the test reads
//! `/healthz` and `/v1/runs` over HTTPS; plain HTTP to the TLS port gets no answer; a
//! missing, non-PEM or mismatched certificate or key is an error naming its setting.

use std::path::PathBuf;

use onboarding_api::tls::{self, TlsFiles};
use redis_test_server::{Options, RedisServer};

use crate::app;

/// A self-signed certificate for `localhost` and its key, as PEM files in `dir`.
fn certificate(dir: &tempfile::TempDir, name: &str) -> (TlsFiles, String) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = made.cert.pem();
    let files = TlsFiles {
        cert: dir.path().join(format!("{name}.crt")),
        key: dir.path().join(format!("{name}.key")),
    };
    std::fs::write(&files.cert, &cert).unwrap();
    std::fs::write(&files.key, made.signing_key.serialize_pem()).unwrap();
    (files, cert)
}

#[tokio::test]
async fn the_api_answers_over_https_and_refuses_plain_http_on_its_port() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let redis = RedisServer::private(Options::default());
    let dir = tempfile::tempdir().unwrap();
    let (files, cert_pem) = certificate(&dir, "api");
    let config = tls::load(&files).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tls::serve(
        listener,
        app(&redis).await,
        Some(config),
        async move {
            let _ = stopped.await;
        },
    ));

    let trusting = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap()])
        .build()
        .unwrap();
    let health = trusting
        .get(format!("https://localhost:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");
    let runs = trusting
        .get(format!("https://localhost:{port}/v1/runs"))
        .bearer_auth("t0ken")
        .send()
        .await
        .unwrap();
    assert_eq!(runs.status(), 200);
    assert_eq!(
        runs.headers()["x-frame-options"],
        "DENY",
        "the same router behind TLS"
    );
    assert_eq!(
        runs.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!([])
    );

    let plain = reqwest::Client::new()
        .get(format!("http://localhost:{port}/healthz"))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP answered: {plain:?}");
    let (_, other_cert) = certificate(&dir, "other");
    let distrusting = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(other_cert.as_bytes()).unwrap()])
        .build()
        .unwrap();
    let refused = distrusting
        .get(format!("https://localhost:{port}/healthz"))
        .send()
        .await;
    assert!(
        refused.is_err(),
        "a certificate the client does not trust was accepted"
    );

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[test]
fn bad_certificate_and_key_files_name_their_setting() {
    let dir = tempfile::tempdir().unwrap();
    let (good, _) = certificate(&dir, "good");
    let (other, _) = certificate(&dir, "other");
    let err = |files: TlsFiles| tls::load(&files).unwrap_err().to_string();

    let missing = TlsFiles {
        cert: PathBuf::from("/nonexistent/api.crt"),
        ..good.clone()
    };
    let e = err(missing);
    assert!(
        e.starts_with(
            "api.tls_cert_file (ONBOARD_API_TLS_CERT_FILE): cannot read /nonexistent/api.crt"
        ),
        "{e}"
    );
    let e = err(TlsFiles {
        key: PathBuf::from("/nonexistent/api.key"),
        ..good.clone()
    });
    assert!(
        e.starts_with(
            "api.tls_key_file (ONBOARD_API_TLS_KEY_FILE): cannot read /nonexistent/api.key"
        ),
        "{e}"
    );
    // The key file where the certificate should be: no certificate in it.
    let e = err(TlsFiles {
        cert: good.key.clone(),
        ..good.clone()
    });
    assert!(
        e.starts_with("api.tls_cert_file (ONBOARD_API_TLS_CERT_FILE): ")
            && e.contains("no certificate"),
        "{e}"
    );
    // The certificate where the key should be.
    let e = err(TlsFiles {
        key: good.cert.clone(),
        ..good.clone()
    });
    assert!(
        e.starts_with("api.tls_key_file (ONBOARD_API_TLS_KEY_FILE): ")
            && e.contains("no usable PEM private key"),
        "{e}"
    );
    // Another certificate's key.
    let e = err(TlsFiles {
        key: other.key.clone(),
        ..good.clone()
    });
    assert!(
        e.starts_with("api.tls_key_file (ONBOARD_API_TLS_KEY_FILE): ")
            && e.contains("cannot serve the certificate"),
        "{e}"
    );
    let key = std::fs::read_to_string(&other.key).unwrap();
    let body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(!e.contains(&body[..20]), "no key material in the error");
    assert!(tls::load(&good).is_ok());
}
