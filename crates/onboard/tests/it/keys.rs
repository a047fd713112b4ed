//! The sealing key as an operator meets it: `onboard enqueue` with a key other than the
//! deployment's stops at once naming `ONBOARD_SECRET_KEY` (it used to be accepted, and the
//! worker spent 8 attempts before dead-lettering); `onboard rekey` moves to a new key.

use redis_test_server::{Options, RedisServer};

use crate::{onboard, text};

const OLD: &str = "3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
const NEW: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

fn enqueue(url: &str, tenant: &str, key: &[(&str, &str)]) -> std::process::Output {
    let mut env = vec![
        ("ONBOARD_INTEGRATION_CODE", "VENDOR-CODE"),
        ("ONBOARD_NEW_SECRET", "s3cr3t-value"),
    ];
    env.extend_from_slice(key);
    onboard(
        url,
        &[
            "--json",
            "enqueue",
            "--kind",
            "onboard",
            "--tenant",
            tenant,
            "--new-user",
            "api@acme",
            "--webhook-url-base",
            "https://hooks.example/x",
        ],
        &env,
    )
}

#[test]
fn another_key_is_refused_at_start_and_rekey_rotates() {
    let redis = RedisServer::private(Options::default());
    let url = redis.url();
    let o = enqueue(url, "acme", &[("ONBOARD_SECRET_KEY", OLD)]);
    assert!(o.status.success(), "{}", text(&o));
    let run: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let run = run["run_id"].as_str().unwrap().to_owned();

    // A different valid key: refused before anything is stored.
    let o = enqueue(url, "globex", &[("ONBOARD_SECRET_KEY", NEW)]);
    assert!(!o.status.success());
    let said = text(&o);
    assert!(
        said.contains("ONBOARD_SECRET_KEY does not match this deployment"),
        "{said}"
    );
    assert!(!said.contains(OLD) && !said.contains(NEW), "no key shown");
    let o = onboard(url, &["--json", "runs"], &[]);
    let runs: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 1, "nothing stored");

    // Rotation: the new key seals, the old one opens, rekey moves everything.
    let rotating = [
        ("ONBOARD_SECRET_KEY", NEW),
        ("ONBOARD_SECRET_KEYS_OLD", OLD),
    ];
    let o = onboard(url, &["--json", "rekey", "--limit", "1"], &rotating);
    assert!(o.status.success(), "{}", text(&o));
    let first: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (first["resealed"].as_u64(), first["complete"].as_bool()),
        (Some(1), Some(false))
    );
    let o = onboard(url, &["rekey"], &rotating);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("re-sealed"), "{}", text(&o));
    // Now the new key alone works, and the old one is refused.
    let o = enqueue(url, "globex", &[("ONBOARD_SECRET_KEY", NEW)]);
    assert!(o.status.success(), "{}", text(&o));
    let o = enqueue(url, "initech", &[("ONBOARD_SECRET_KEY", OLD)]);
    assert!(!o.status.success());
    assert!(text(&o).contains("ONBOARD_SECRET_KEY"), "{}", text(&o));
    let o = onboard(url, &["status", &run], &[]);
    assert!(o.status.success(), "{}", text(&o));
}
