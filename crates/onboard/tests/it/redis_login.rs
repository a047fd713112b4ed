//! Redis logins as an operator configures them: an ACL user with its password in a file
//! (`ONBOARD_REDIS_USERNAME`, `ONBOARD_REDIS_PASSWORD_FILE`, or the user in the URL), and
//! `rediss://` to a real `redis-server` listening with TLS, trusted through a private CA
//! (`ONBOARD_REDIS_CA_FILE`). No password shows in any message.

use std::io::{Read, Write};
use std::net::TcpStream;

use redis_test_server::{Options, RedisServer, free_port};

use crate::{onboard, text};

/// Sends one inline command to the server on `port` and returns the first reply bytes.
fn command(port: u16, line: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(format!("{line}\r\n").as_bytes()).unwrap();
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// A CA, and a certificate for 127.0.0.1 signed by it: (ca.pem, cert.pem, key.pem).
fn certificates(dir: &std::path::Path) -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let write = |name: &str, pem: String| {
        let path = dir.join(name);
        std::fs::write(&path, pem).unwrap();
        path.to_string_lossy().into_owned()
    };
    (
        write("ca.pem", ca.pem()),
        write("cert.pem", cert.pem()),
        write("key.pem", key.serialize_pem()),
    )
}

#[test]
fn an_acl_user_logs_in_with_its_password_from_a_file() {
    let redis = RedisServer::private(Options::default());
    let port = redis.port().unwrap();
    assert!(command(port, "ACL SETUSER onboard on >pw-from-file ~* &* +@all").starts_with("+OK"));
    assert!(command(port, "ACL SETUSER default off").starts_with("+OK"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("redis-password");
    std::fs::write(&file, "pw-from-file\n").unwrap();
    let file = file.to_string_lossy().into_owned();
    let url = redis.url().to_owned();
    let user_in_url = format!("redis://onboard@127.0.0.1:{port}/");
    let login = [
        ("ONBOARD_REDIS_USERNAME", "onboard"),
        ("ONBOARD_REDIS_PASSWORD_FILE", file.as_str()),
    ];
    for (url, env) in [
        (url.as_str(), &login[..]),
        (user_in_url.as_str(), &login[1..]),
    ] {
        let o = onboard(url, &["--json", "runs"], env);
        assert!(o.status.success(), "{url}: {}", text(&o));
    }
    // Without the password, or with a wrong one: refused, and the password is not shown.
    let o = onboard(&url, &["runs"], &login[..1]);
    assert!(!o.status.success(), "the default user is off");
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "wrong-secret").unwrap();
    let wrong = wrong.to_string_lossy().into_owned();
    let o = onboard(
        &user_in_url,
        &["runs"],
        &[("ONBOARD_REDIS_PASSWORD_FILE", wrong.as_str())],
    );
    assert!(!o.status.success());
    assert!(
        !text(&o).contains("wrong-secret") && text(&o).contains("127.0.0.1"),
        "{}",
        text(&o)
    );
    // A file that is missing or empty is named.
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let empty = empty.to_string_lossy().into_owned();
    for (path, problem) in [
        ("/no/such/file", "cannot read"),
        (empty.as_str(), "holds no password"),
    ] {
        let o = onboard(&url, &["runs"], &[("ONBOARD_REDIS_PASSWORD_FILE", path)]);
        assert!(
            text(&o).contains("ONBOARD_REDIS_PASSWORD_FILE: ") && text(&o).contains(problem),
            "{}",
            text(&o)
        );
    }
}

#[test]
fn rediss_with_a_private_ca_works_and_an_unknown_ca_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path());
    let tls_port = free_port();
    let redis = RedisServer::with_args(
        Options::default(),
        [
            "--tls-port",
            &tls_port.to_string(),
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
            "--tls-ca-cert-file",
            &ca,
            "--tls-auth-clients",
            "no",
        ]
        .map(str::to_owned)
        .to_vec(),
    );
    let rediss = format!("rediss://127.0.0.1:{tls_port}/");
    let o = onboard(
        &rediss,
        &["--json", "runs"],
        &[("ONBOARD_REDIS_CA_FILE", ca.as_str())],
    );
    assert!(o.status.success(), "{}", text(&o));
    // The same server is not trusted through the system's roots, nor in clear text.
    let o = onboard(&rediss, &["runs"], &[]);
    assert!(
        !o.status.success(),
        "a certificate of an unknown CA is refused"
    );
    let o = onboard(&format!("redis://127.0.0.1:{tls_port}/"), &["runs"], &[]);
    assert!(!o.status.success(), "plain text to the TLS port fails");
    drop(redis);
}
