//! Hostile input: a job payload read from Redis may be anything (a foreign writer, a newer
//! version, corruption). Parsing never panics, the serde read path (what the queue's backend
//! uses) and `JobPayload::from_json` agree, and what we write reads back the same.

use onboarding_steps::StepName;
use onboarding_steps::payload::{JobPayload, TraceContext};
use proptest::prelude::*;
use serde_json::{Value, json};

fn payload_like() -> impl Strategy<Value = Value> {
    let field = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        prop_oneof![
            Just("step".to_owned()),
            Just("ensure_webhooks".to_owned()),
            Just("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned()),
            ".{0,16}",
        ]
        .prop_map(Value::String),
    ];
    prop::collection::btree_map(
        prop_oneof![
            Just("kind".to_owned()),
            Just("v".to_owned()),
            Just("run_id".to_owned()),
            Just("tenant_id".to_owned()),
            Just("step".to_owned()),
            Just("attempt".to_owned()),
            Just("trace".to_owned()),
            Just("dry_run".to_owned()),
            Just("enqueued_at".to_owned()),
            "[a-z_]{1,10}",
        ],
        field,
        0..9,
    )
    .prop_map(|m| Value::Object(m.into_iter().collect()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn any_payload_is_read_or_refused_the_same_way_on_every_path(v in payload_like()) {
        let text = v.to_string();
        let direct = JobPayload::from_json(&text);
        let serde = serde_json::from_str::<JobPayload>(&text);
        prop_assert_eq!(direct.is_ok(), serde.is_ok(), "{}", text);
        if let Ok(p) = direct {
            prop_assert_eq!(JobPayload::from_json(&p.to_json()).unwrap(), p);
        }
    }

    #[test]
    fn any_text_is_refused_without_panicking(text in ".{0,300}") {
        let _ = JobPayload::from_json(&text);
    }

    #[test]
    fn every_payload_we_write_reads_back(
        run in "[A-Z0-9]{1,26}",
        tenant in "[a-z0-9_-]{1,64}",
        i in 0..StepName::ALL.len(),
    ) {
        let p = JobPayload::step(&run, &tenant, StepName::ALL[i], TraceContext::default());
        prop_assert_eq!(JobPayload::from_json(&p.to_json()).unwrap(), p);
    }
}
