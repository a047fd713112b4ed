//! The Filter AST's JSON (pinned), its lenient parsing and its matching semantics.

use autotask_types::{Filter, Query};
use expect_test::{Expect, expect};
use serde_json::json;

fn check(filter: Filter, expect: Expect) {
    expect.assert_eq(&filter.to_json().to_string());
    // What we write, we read back the same.
    assert_eq!(Filter::from_json(&filter.to_json(), "f").unwrap(), filter);
}

#[test]
fn every_operator_serializes_to_autotask_json() {
    check(
        Filter::eq("userName", "api@x.com"),
        expect![[r#"{"field":"userName","op":"eq","value":"api@x.com"}"#]],
    );
    check(
        Filter::not_eq("id", 3),
        expect![[r#"{"field":"id","op":"noteq","value":3}"#]],
    );
    check(
        Filter::gt("id", 0),
        expect![[r#"{"field":"id","op":"gt","value":0}"#]],
    );
    check(
        Filter::gte("id", 0),
        expect![[r#"{"field":"id","op":"gte","value":0}"#]],
    );
    check(
        Filter::lt("id", 9),
        expect![[r#"{"field":"id","op":"lt","value":9}"#]],
    );
    check(
        Filter::lte("id", 9),
        expect![[r#"{"field":"id","op":"lte","value":9}"#]],
    );
    check(
        Filter::begins_with("name", "onb"),
        expect![[r#"{"field":"name","op":"beginsWith","value":"onb"}"#]],
    );
    check(
        Filter::ends_with("name", "-1"),
        expect![[r#"{"field":"name","op":"endsWith","value":"-1"}"#]],
    );
    check(
        Filter::contains("name", "x"),
        expect![[r#"{"field":"name","op":"contains","value":"x"}"#]],
    );
    check(
        Filter::exist("email"),
        expect![[r#"{"field":"email","op":"exist"}"#]],
    );
    check(
        Filter::not_exist("email"),
        expect![[r#"{"field":"email","op":"notExist"}"#]],
    );
    check(
        Filter::is_in("id", [1, 2]),
        expect![[r#"{"field":"id","op":"in","value":[1,2]}"#]],
    );
    check(
        Filter::not_in("name", ["a", "b"]),
        expect![[r#"{"field":"name","op":"notIn","value":["a","b"]}"#]],
    );
    check(
        Filter::eq("isActive", true),
        expect![[r#"{"field":"isActive","op":"eq","value":true}"#]],
    );
    check(
        Filter::eq("Customer Code", "X1").udf(),
        expect![[r#"{"field":"Customer Code","op":"eq","udf":true,"value":"X1"}"#]],
    );
    check(
        Filter::or([
            Filter::eq("isActive", true),
            Filter::and([Filter::gt("id", 1), Filter::lt("id", 5)]),
        ]),
        expect![[
            r#"{"items":[{"field":"isActive","op":"eq","value":true},{"items":[{"field":"id","op":"gt","value":1},{"field":"id","op":"lt","value":5}],"op":"and"}],"op":"or"}"#
        ]],
    );
}

#[test]
fn query_body_serializes_with_contract_keys() {
    let q = Query::new([Filter::eq("ownerResourceID", 42)])
        .max_records(100)
        .include_fields(["id", "name"]);
    expect![[r#"{"filter":[{"field":"ownerResourceID","op":"eq","value":42}],"includeFields":["id","name"],"maxRecords":100}"#]]
        .assert_eq(&serde_json::to_string(&q).unwrap());
}

#[test]
fn parsing_is_case_insensitive_like_autotask() {
    let q: Query = serde_json::from_value(json!({
        "Filter": [{"Op": "EQ", "Field": "userName", "Value": "a"}],
        "MaxRecords": 5
    }))
    .unwrap();
    assert_eq!(q.filter, vec![Filter::eq("userName", "a")]);
    assert_eq!(q.max_records, Some(5));
}

#[test]
fn invalid_queries_are_rejected_naming_the_part() {
    let err = |v: serde_json::Value| Query::from_json(&v).unwrap_err().to_string();
    assert_eq!(
        err(json!({"filter": []})),
        "filter: at least one filter condition is required"
    );
    assert_eq!(
        err(json!({"filter": [{"op": "like", "field": "x", "value": 1}]})),
        "filter[0].op: unknown operator 'like'"
    );
    assert_eq!(
        err(json!({"filter": [{"op": "eq", "field": "isActive", "value": null}]})),
        "filter[0].value: value must not be null"
    );
    assert_eq!(
        err(json!({"filter": [{"op": "in", "field": "id", "value": 3}]})),
        "filter[0].value: 'in' needs an array"
    );
    assert_eq!(
        err(json!({"filter": [{"op": "or", "items": [{"op": "eq", "value": 1}]}]})),
        "filter[0].items[0].field: missing field"
    );
    assert_eq!(
        err(json!({"filter": [{"op": "gt", "field": "id", "value": 0}], "maxRecords": 501})),
        "maxRecords: must be an integer from 1 to 500"
    );
    assert_eq!(
        err(
            json!({"filter": [{"op": "eq", "field": "a", "value": 1, "udf": true}, {"op": "eq", "field": "b", "value": 1, "udf": true}]})
        ),
        "filter: only one user-defined field may be queried at a time"
    );
    let ors: Vec<_> = (0..501)
        .map(|i| json!({"op": "eq", "field": "id", "value": i}))
        .collect();
    assert_eq!(
        err(json!({"filter": [{"op": "or", "items": ors}]})),
        "filter: a query may have at most 500 'or' conditions"
    );
}

#[test]
fn matching_follows_autotask_semantics() {
    let row = json!({
        "id": 7, "userName": "API@Example.com", "isActive": true, "email": null,
        "userDefinedFields": [{"name": "Code", "value": "X1"}]
    });
    let row = row.as_object().unwrap();
    let holds = |f: Filter| f.matches(row);
    assert!(
        holds(Filter::eq("username", "api@example.com")),
        "field names and strings are case-insensitive"
    );
    assert!(holds(Filter::not_eq("id", 8)));
    assert!(
        !holds(Filter::not_eq("email", "x")),
        "null never matches noteq"
    );
    assert!(holds(Filter::gt("id", 6)) && !holds(Filter::gt("id", 7)));
    assert!(
        holds(Filter::gte("id", 7)) && holds(Filter::lte("id", 7)) && !holds(Filter::lt("id", 7))
    );
    assert!(holds(Filter::begins_with("userName", "api@")));
    assert!(holds(Filter::ends_with("userName", ".COM")));
    assert!(holds(Filter::contains("userName", "example")));
    assert!(holds(Filter::exist("userName")) && !holds(Filter::exist("email")));
    assert!(holds(Filter::not_exist("email")) && holds(Filter::not_exist("missingField")));
    assert!(holds(Filter::is_in("id", [1, 7])) && !holds(Filter::is_in("id", [1, 2])));
    assert!(holds(Filter::not_in("id", [1, 2])) && !holds(Filter::not_in("id", [7])));
    assert!(holds(Filter::eq("isActive", true)) && !holds(Filter::eq("isActive", false)));
    assert!(holds(Filter::eq("code", "x1").udf()));
    assert!(holds(Filter::or([
        Filter::eq("id", 1),
        Filter::eq("id", 7)
    ])));
    assert!(!holds(Filter::and([
        Filter::eq("id", 7),
        Filter::eq("isActive", false)
    ])));
}
