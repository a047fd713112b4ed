//! `onboard token add|list|revoke` against a private Redis: the token is printed once and
//! nowhere else (not by `list`, not in Redis), names and scopes are checked, revoking names
//! a missing token.

use redis_test_server::{Options, RedisServer};

use crate::{onboard, text};

#[test]
fn tokens_are_issued_once_listed_without_the_token_and_revoked() {
    let redis = RedisServer::private(Options::default());
    let url = redis.url();
    let o = onboard(
        url,
        &["token", "add", "olga", "--scope", "read,operate"],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    let token = String::from_utf8(o.stdout.clone())
        .unwrap()
        .trim()
        .to_owned();
    assert!(token.starts_with("onb_") && token.len() > 40, "{token}");
    let o = onboard(
        url,
        &["--json", "token", "add", "portal", "--scope", "enqueue"],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    let issued: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let portal = issued["token"].as_str().unwrap().to_owned();
    assert_ne!(portal, token);

    // Refused: a name in use, the master token's name, an unknown scope.
    let o = onboard(url, &["token", "add", "olga", "--scope", "read"], &[]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("a token named \"olga\" exists"),
        "{}",
        text(&o)
    );
    let o = onboard(url, &["token", "add", "api-token", "--scope", "read"], &[]);
    assert!(!o.status.success(), "{}", text(&o));
    let o = onboard(url, &["token", "add", "x", "--scope", "admin"], &[]);
    assert!(!o.status.success());
    assert!(text(&o).contains("unknown scope \"admin\""), "{}", text(&o));

    let o = onboard(url, &["token", "list"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let listed = text(&o);
    assert!(
        listed.contains("olga") && listed.contains("operate,read"),
        "{listed}"
    );
    assert!(
        listed.contains("portal") && listed.contains("enqueue"),
        "{listed}"
    );
    assert!(
        !listed.contains(&token) && !listed.contains(&portal),
        "{listed}"
    );
    let o = onboard(url, &["--json", "token", "list"], &[]);
    let all: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(all[0]["name"], "olga");
    assert_eq!(all[0]["scopes"], serde_json::json!(["operate", "read"]));
    assert!(all[0]["created"].as_u64().unwrap() > 0);

    // Nothing in Redis holds a token in clear.
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_connection().unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut conn).unwrap();
    assert!(!keys.is_empty());
    for key in keys {
        let dump: Vec<u8> = redis::cmd("DUMP").arg(&key).query(&mut conn).unwrap();
        let dump = String::from_utf8_lossy(&dump);
        assert!(!dump.contains(&token) && !dump.contains(&portal), "{key}");
    }

    let o = onboard(url, &["token", "revoke", "olga"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let o = onboard(url, &["token", "revoke", "olga"], &[]);
    assert!(!o.status.success());
    assert!(text(&o).contains("no token named \"olga\""), "{}", text(&o));
    let o = onboard(url, &["--json", "token", "list"], &[]);
    let all: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 1, "{all}");
    assert_eq!(all[0]["name"], "portal");
}
