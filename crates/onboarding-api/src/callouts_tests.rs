//! The callout parser: examples of each refusal, and properties over arbitrary bodies (never
//! a panic; every refusal names the part of the request that is wrong; a signature made with
//! another key never passes).

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

fn notice(v: Value) -> Result<Notice, Refused> {
    parse_body(v.to_string().as_bytes(), WebhookFamily::Ticket)
}

#[test]
fn a_simulator_shaped_notice_parses() {
    let n = notice(json!({
        "Action": "Deactivated", "Guid": "0b5c", "EntityType": "TicketWebhook", "Id": 42,
        "Fields": {}, "EventTime": "2026-12-01T02:00:00Z", "SequenceNumber": 7, "PersonID": 29682885,
        "SomethingNew": [1, 2],
    }))
    .unwrap();
    assert_eq!(
        n,
        Notice {
            id: 42,
            guid: Some("0b5c".into()),
            sequence: Some(7)
        }
    );
}

#[test]
fn each_refusal_names_the_problem() {
    let cases = [
        (json!([1]), "body: must be a JSON object"),
        (json!({"Id": 1}), "body.Action: missing"),
        (
            json!({"Action": "Update", "Id": 1}),
            "body.Action: must be \"Deactivated\", found \"Update\"",
        ),
        (json!({"Action": "Deactivated"}), "body.Id: missing"),
        (
            json!({"Action": "Deactivated", "Id": "1"}),
            "body.Id: must be an integer",
        ),
        (
            json!({"Action": "Deactivated", "Id": 1.5}),
            "body.Id: must be an integer",
        ),
        (
            json!({"Action": "Deactivated", "Id": 0}),
            "body.Id: must be a positive webhook id",
        ),
        (
            json!({"Action": "Deactivated", "Id": 1, "EntityType": "CompanyWebhook"}),
            "body.EntityType: must be \"TicketWebhook\" for this URL, found \"CompanyWebhook\"",
        ),
        (
            json!({"Action": "Deactivated", "Id": 1, "Guid": "x".repeat(101)}),
            "body.Guid: must be at most 100 characters",
        ),
        (
            json!({"Action": "Deactivated", "Id": 1, "Fields": 3}),
            "body.Fields: must be an object",
        ),
    ];
    for (body, expected) in cases {
        let e = notice(body.clone()).unwrap_err();
        assert_eq!(e.message, expected, "{body}");
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
    }
    let e = parse_body(b"{\"Action\":", WebhookFamily::Ticket).unwrap_err();
    assert!(e.message.starts_with("body: not JSON ("), "{}", e.message);
    let e = parse_body(&vec![b' '; MAX_CALLOUT_BODY + 1], WebhookFamily::Ticket).unwrap_err();
    assert_eq!(e.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[test]
fn paths_are_parsed_strictly() {
    let t = parse_path("acme-1", "29682885", "ticket").unwrap();
    assert_eq!(
        (t.tenant.as_str(), t.user.get(), t.family),
        ("acme-1", 29682885, WebhookFamily::Ticket)
    );
    for (tenant, user, family, why) in [
        ("ac me", "1", "ticket", "path: the tenant id"),
        ("acme", "-1", "ticket", "path: the API user"),
        ("acme", "+1", "ticket", "path: the API user"),
        ("acme", "1", "Ticket", "path: the family"),
        ("acme", "1", "tickets", "path: the family"),
    ] {
        let e = parse_path(tenant, user, family).unwrap_err();
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        assert!(e.message.starts_with(why), "{}", e.message);
    }
}

#[test]
fn signatures_are_checked_on_the_raw_body() {
    let body = br#"{"Action":"Deactivated","Id":1}"#;
    let mut mac = Hmac::<Sha1>::new_from_slice(b"s3cret-key").unwrap();
    mac.update(body);
    let good = format!(
        "sha1={}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    check_signature(Some(&good), "s3cret-key", body).unwrap();
    for (header, why) in [
        (None, "X-Hook-Signature: missing"),
        (Some("md5=abc"), "X-Hook-Signature: must be sha1=<base64>"),
        (Some("sha1=***"), "X-Hook-Signature: not base64"),
        (Some(good.as_str()), "X-Hook-Signature: does not match"),
    ] {
        let e = check_signature(header, "another-key", body).unwrap_err();
        assert_eq!(e.status, StatusCode::UNAUTHORIZED);
        assert!(e.message.starts_with(why), "{}", e.message);
    }
    assert_eq!(
        path_of("https://onboard.example.com/at/deactivated"),
        "/at/deactivated"
    );
    assert_eq!(path_of("http://127.0.0.1:8080"), "/");
}

/// Any JSON value, biased toward a notice's members.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        prop_oneof![
            Just("Deactivated".to_owned()),
            Just("TicketWebhook".to_owned()),
            ".{0,12}",
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("Action".to_owned()),
                    Just("Id".to_owned()),
                    Just("Guid".to_owned()),
                    Just("EntityType".to_owned()),
                    Just("SequenceNumber".to_owned()),
                    Just("PersonID".to_owned()),
                    Just("EventTime".to_owned()),
                    Just("Fields".to_owned()),
                    "[a-zA-Z]{1,8}",
                ],
                inner,
                0..8,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn arbitrary_json_bodies_parse_or_name_the_member(v in any_json()) {
        match parse_body(v.to_string().as_bytes(), WebhookFamily::Ticket) {
            Ok(n) => {
                prop_assert!(n.id > 0);
                prop_assert_eq!(v.get("Action"), Some(&json!("Deactivated")));
            }
            Err(e) => {
                prop_assert_eq!(e.status, StatusCode::BAD_REQUEST);
                prop_assert!(e.message.starts_with("body"), "{}", e.message);
                prop_assert!(e.message.contains(": "), "{}", e.message);
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Err(e) = parse_body(&bytes, WebhookFamily::Company) {
            prop_assert!(e.message.starts_with("body"), "{}", e.message);
        }
    }

    #[test]
    fn arbitrary_paths_never_panic(
        tenant in ".{0,70}", user in ".{0,24}", family in ".{0,20}",
    ) {
        if let Err(e) = parse_path(&tenant, &user, &family) {
            prop_assert!(e.message.starts_with("path: "), "{}", e.message);
        }
    }

    #[test]
    fn a_signature_under_another_key_never_passes(
        body in prop::collection::vec(any::<u8>(), 0..256),
        key in "[a-zA-Z0-9]{10,40}",
        other in "[a-zA-Z0-9]{10,40}",
    ) {
        prop_assume!(key != other);
        let mut mac = Hmac::<Sha1>::new_from_slice(other.as_bytes()).unwrap();
        mac.update(&body);
        let forged = format!(
            "sha1={}",
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        );
        prop_assert!(check_signature(Some(&forged), &key, &body).is_err());
    }
}
