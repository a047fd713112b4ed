//! Hostile input: arbitrary JSON never panics the filter and query parsers (the simulator
//! parses every query body it receives with them), and every refusal names where the input
//! is wrong.

use autotask_types::{Filter, Query};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Any JSON value, a few levels deep, biased toward the keys a filter has.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        prop_oneof![
            Just("eq".to_owned()),
            Just("or".to_owned()),
            Just("in".to_owned()),
            Just("exist".to_owned()),
            ".{0,12}",
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("op".to_owned()),
                    Just("field".to_owned()),
                    Just("value".to_owned()),
                    Just("items".to_owned()),
                    Just("udf".to_owned()),
                    Just("filter".to_owned()),
                    Just("MaxRecords".to_owned()),
                    Just("IncludeFields".to_owned()),
                    "[a-zA-Z]{1,8}",
                ],
                inner,
                0..6,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_json_never_panics_and_refusals_name_a_place(v in any_json()) {
        match Filter::from_json(&v, "filter[0]") {
            Ok(f) => prop_assert_eq!(Filter::from_json(&f.to_json(), "f").unwrap(), f),
            Err(e) => prop_assert!(e.to_string().contains("filter[0]"), "{}", e),
        }
        if let Ok(q) = Query::from_json(&v) {
            prop_assert_eq!(Query::from_json(&q.to_json()).unwrap(), q);
        }
    }

    #[test]
    fn arbitrary_text_never_panics_the_query_parser(text in ".{0,200}") {
        if let Ok(v) = serde_json::from_str::<Value>(&text) {
            let _ = Query::from_json(&v);
        }
    }
}

#[test]
fn the_deepest_json_text_serde_accepts_parses_without_overflow() {
    // serde_json refuses text nested deeper than 128 (each `or` level is three); the parser
    // must survive the deepest it accepts.
    let mut v = json!({"op": "eq", "field": "id", "value": 1});
    for _ in 0..40 {
        v = json!({"op": "or", "items": [v]});
    }
    let text = json!({"filter": [v]}).to_string();
    let parsed: Value = serde_json::from_str(&text).unwrap();
    Query::from_json(&parsed).unwrap();
}
