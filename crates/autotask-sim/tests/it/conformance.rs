//! Conformance: sample responses of every endpoint the simulator serves validate against the
//! contract files in `shared/autotask-openapi/` (read here directly, never through
//! autotask-types, so a mistake shared by the sim and the types cannot hide).
//!
//! Two documented relaxations of the generated contract: every `type` also admits `null` (the
//! .NET generator omits nullability; live responses carry nulls, e.g. `prevPageUrl`), and the
//! `Object` schema (the generator's rendering of .NET `object`) admits any value (live
//! `itemId` is an integer, `isSupportedWebhookField` a boolean). In the other direction the
//! check is stricter than the contract: objects may not carry properties the contract does
//! not name. The strict profile's access levels are strings where the contract has the object
//! `RestUserAccessLevel` (issue 9, C4: what public clients receive); its check admits a string
//! there too, and nothing else differs.

use std::collections::BTreeMap;
use std::path::PathBuf;

use autotask_types::WebhookFamily;
use serde_json::{Map, Value as Json, json};

use crate::{Api, Env, webhook_body};

fn contract_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/autotask-openapi")
}

fn yaml(name: &str) -> Json {
    let text = std::fs::read_to_string(contract_dir().join(name))
        .unwrap_or_else(|e| panic!("contract file {name}: {e}"));
    serde_norway::from_str(&text).unwrap()
}

/// Nullable types, `Object` = anything, no undeclared properties.
fn relax(v: &mut Json) {
    match v {
        Json::Object(m) => {
            if m.get("$ref").and_then(Json::as_str) == Some("#/components/schemas/Object") {
                m.clear();
                return;
            }
            m.remove("soapParentPropertyId");
            if let Some(Json::Object(props)) = m.get_mut("properties") {
                props.remove("soapParentPropertyId");
            }
            if let Some(Json::String(t)) = m.get("type").cloned() {
                m.insert("type".into(), json!([t, "null"]));
            }
            if m.get("properties")
                .and_then(Json::as_object)
                .is_some_and(|p| !p.is_empty())
            {
                m.insert("additionalProperties".into(), json!(false));
            }
            for (_, child) in m.iter_mut() {
                relax(child);
            }
        }
        Json::Array(a) => a.iter_mut().for_each(relax),
        _ => {}
    }
}

struct Contract {
    schemas: Map<String, Json>,
}

impl Contract {
    /// The contract; with `access_levels_as_strings`, `RestUserAccessLevel` also admits a
    /// string.
    fn load(access_levels_as_strings: bool) -> Self {
        let mut schemas = Map::new();
        for file in [
            "kaseya-zoneinformationapiintegration-api-openapi.yml",
            "kaseya-thresholdapiintegration-api-openapi.yml",
            "kaseya-resources-api-openapi.yml",
            "kaseya-companywebhooks-api-openapi.yml",
            "kaseya-ticketwebhooks-api-openapi.yml",
            "kaseya-ticketnotewebhooks-api-openapi.yml",
            "kaseya-configurationitemwebhooks-api-openapi.yml",
        ] {
            let doc = yaml(file);
            for (k, v) in doc["components"]["schemas"].as_object().unwrap() {
                schemas.insert(k.clone(), v.clone());
            }
        }
        let models = yaml("kaseya-2026-entity-models.yml");
        for (k, v) in models["models"].as_object().unwrap() {
            schemas.insert(k.clone(), v["schema"].clone());
        }
        // The object `Object` itself stays; references to it are relaxed.
        let mut root = Json::Object(schemas);
        relax(&mut root);
        let Json::Object(mut schemas) = root else {
            unreachable!()
        };
        if access_levels_as_strings {
            let level = schemas["RestUserAccessLevel"].clone();
            schemas.insert(
                "RestUserAccessLevel".into(),
                json!({"anyOf": [level, {"type": "string"}]}),
            );
        }
        Self { schemas }
    }

    fn check(&self, what: &str, schema: Json, instance: &Json) {
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "allOf": [schema],
            "components": {"schemas": self.schemas},
        });
        let validator = jsonschema::validator_for(&root)
            .unwrap_or_else(|e| panic!("{what}: schema does not compile: {e}"));
        let errors: Vec<String> = validator
            .iter_errors(instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{what} violates the contract:\n{}\n{instance:#}",
            errors.join("\n")
        );
        assert!(instance.is_object(), "{what}: not an object");
    }

    fn named(&self, what: &str, name: &str, instance: &Json) {
        assert!(self.schemas.contains_key(name), "no schema {name}");
        self.check(
            what,
            json!({"$ref": format!("#/components/schemas/{name}")}),
            instance,
        );
    }

    fn query_of(&self, what: &str, model: &str, instance: &Json) {
        assert!(self.schemas.contains_key(model), "no schema {model}");
        let schema = json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["items", "pageDetails"],
            "properties": {
                "items": {"type": "array", "items": {"$ref": format!("#/components/schemas/{model}")}},
                "pageDetails": {"$ref": "#/components/schemas/PagingModel"},
            }
        });
        self.check(what, schema, instance);
        assert!(
            !instance["items"].as_array().unwrap().is_empty(),
            "{what}: sample is empty"
        );
    }

    fn item_of(&self, what: &str, model: &str, instance: &Json) {
        let schema = json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["item"],
            "properties": {"item": {"$ref": format!("#/components/schemas/{model}")}},
        });
        self.check(what, schema, instance);
    }
}

async fn ok(api: &Api, method: reqwest::Method, path: &str, body: Option<Json>) -> Json {
    let (s, b) = api.send(method, path, body).await;
    assert_eq!(s, 200, "{path}: {b}");
    b
}

#[tokio::test]
async fn sample_responses_of_every_endpoint_match_the_contract_files() {
    samples_match(crate::test_config()).await;
}

#[tokio::test]
async fn sample_responses_of_the_strict_profile_match_the_contract_files_too() {
    samples_match(autotask_sim::SimConfig {
        behaviour: autotask_sim::Behaviour::strict(),
        ..crate::test_config()
    })
    .await;
}

async fn samples_match(config: autotask_sim::SimConfig) {
    use reqwest::Method as M;
    let c = Contract::load(
        config.behaviour.access_levels == autotask_sim::behaviour::AccessLevels::String,
    );
    let env = Env::with(config).await;
    let user = env.seed();
    env.sim
        .db("acme")
        .unwrap()
        .set_webhook_permission(user.security_level_id, true, 100)
        .unwrap();
    let api = env.api(&user);
    let all = json!({"filter": [{"op": "gte", "field": "id", "value": 0}]});
    let mut checked: BTreeMap<&str, usize> = BTreeMap::new();
    let mut tick = |k: &'static str| *checked.entry(k).or_default() += 1;

    let zone: Json = env
        .http
        .get(format!(
            "{}?user={}",
            env.sim.zone_discovery_url(),
            user.user_name
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    c.named("zoneInformation", "ZoneInformationResultModel", &zone);
    tick("zone");
    c.named(
        "ThresholdInformation",
        "ThresholdStatusResultModel",
        &ok(&api, M::GET, "ThresholdInformation", None).await,
    );
    tick("threshold");

    // Resources.
    c.named(
        "Resources/query",
        "QueryActionResult_ResourceModel_Resource",
        &ok(&api, M::POST, "Resources/query", Some(all.clone())).await,
    );
    c.named(
        "Resources/{id}",
        "ItemQueryResultModel_ResourceModel_Resource",
        &ok(
            &api,
            M::GET,
            &format!("Resources/{}", user.resource_id),
            None,
        )
        .await,
    );
    c.named(
        "Resources/query/count",
        "QueryCountResultModel",
        &ok(&api, M::POST, "Resources/query/count", Some(all.clone())).await,
    );
    c.named(
        "PATCH Resources",
        "OperationResultModel",
        &ok(
            &api,
            M::PATCH,
            "Resources",
            Some(json!({"id": user.resource_id, "title": "Bot"})),
        )
        .await,
    );
    tick("resources");

    // Metadata of every entity.
    for path in [
        "Resources",
        "Tickets",
        "OrganizationalLevel1s",
        "OrganizationalLevel2s",
        "OrganizationalLevelAssociations",
        "OrganizationalResources",
        "TicketWebhooks",
        "CompanyWebhooks",
        "ContactWebhooks",
        "ConfigurationItemWebhooks",
        "TicketNoteWebhooks",
        "TicketWebhookFields",
        "TicketWebhookUdfFields",
        "TicketWebhookExcludedResources",
        "WebhookEventErrorLogs",
    ] {
        c.named(
            path,
            "EntityInformationResultModel",
            &ok(&api, M::GET, &format!("{path}/entityInformation"), None).await,
        );
        c.named(
            path,
            "FieldInformationResultModel",
            &ok(
                &api,
                M::GET,
                &format!("{path}/entityInformation/fields"),
                None,
            )
            .await,
        );
        c.named(
            path,
            "UserDefinedFieldInformationResultModel",
            &ok(
                &api,
                M::GET,
                &format!("{path}/entityInformation/userDefinedFields"),
                None,
            )
            .await,
        );
        tick("metadata");
    }

    // Webhook families and their children.
    for family in WebhookFamily::ALL {
        let path = family.webhooks_path();
        let model = format!("{}Model", family.webhook_entity());
        let url = format!("https://hooks.example.com/{path}");
        let created = ok(&api, M::POST, path, Some(webhook_body(&url))).await;
        c.named("create", "OperationResultModel", &created);
        let id = created["itemId"].as_i64().unwrap();
        c.item_of(
            &format!("{path}/{{id}}"),
            &model,
            &ok(&api, M::GET, &format!("{path}/{id}"), None).await,
        );
        c.query_of(
            &format!("{path}/query"),
            &model,
            &ok(&api, M::POST, &format!("{path}/query"), Some(all.clone())).await,
        );
        c.named(
            "count",
            "QueryCountResultModel",
            &ok(
                &api,
                M::POST,
                &format!("{path}/query/count"),
                Some(all.clone()),
            )
            .await,
        );
        c.named(
            "patch",
            "OperationResultModel",
            &ok(&api, M::PATCH, path, Some(json!({"id": id, "name": "x"}))).await,
        );
        let mut children = vec![
            (
                "Fields",
                "Field",
                json!({"fieldID": 3, "isSubscribedField": true, "isDisplayAlwaysField": false}),
            ),
            (
                "ExcludedResources",
                "ExcludedResource",
                json!({"resourceID": user.resource_id}),
            ),
        ];
        if family.has_udf_fields() {
            children.push((
                "UdfFields",
                "UdfField",
                json!({"udfFieldID": 29682901, "isSubscribedField": true}),
            ));
        }
        for (child, suffix, body) in children {
            let cmodel = format!("{}{suffix}Model", family.webhook_entity());
            let cpath = format!("{path}/{id}/{child}");
            let created = ok(&api, M::POST, &cpath, Some(body)).await;
            c.named("child create", "OperationResultModel", &created);
            let cid = created["itemId"].as_i64().unwrap();
            c.item_of(
                &cpath,
                &cmodel,
                &ok(&api, M::GET, &format!("{cpath}/{cid}"), None).await,
            );
            c.query_of(&cpath, &cmodel, &ok(&api, M::GET, &cpath, None).await);
            let root = format!("{}{suffix}s/query", family.webhook_entity());
            c.query_of(
                &root,
                &cmodel,
                &ok(&api, M::POST, &root, Some(all.clone())).await,
            );
            tick("children");
        }
        let hook = ok(&api, M::GET, &format!("{path}/{id}"), None).await;
        assert_eq!(hook["item"]["isReady"], true, "{path}");
        c.named(
            "delete",
            "OperationResultModel",
            &ok(&api, M::DELETE, &format!("{path}/{id}"), None).await,
        );
        tick("families");
    }

    // Lines of business.
    for (path, model) in [
        ("OrganizationalLevel1s", "OrganizationalLevel1Model"),
        ("OrganizationalLevel2s", "OrganizationalLevel2Model"),
        (
            "OrganizationalLevelAssociations",
            "OrganizationalLevelAssociationModel",
        ),
        ("OrganizationalResources", "OrganizationalResourceModel"),
    ] {
        c.query_of(
            path,
            model,
            &ok(&api, M::POST, &format!("{path}/query"), Some(all.clone())).await,
        );
        c.item_of(
            path,
            model,
            &ok(&api, M::GET, &format!("{path}/1"), None).await,
        );
        tick("organization");
    }
    assert_eq!(
        checked,
        BTreeMap::from([
            ("children", 14),
            ("families", 5),
            ("metadata", 15),
            ("organization", 4),
            ("resources", 1),
            ("threshold", 1),
            ("zone", 1),
        ])
    );
}

#[test]
fn the_relaxed_contract_still_rejects_wrong_shapes() {
    let c = Contract::load(false);
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": "#/components/schemas/TicketWebhookModel",
        "components": {"schemas": c.schemas},
    });
    let v = jsonschema::validator_for(&root).unwrap();
    assert!(v.is_valid(&json!({"id": 1, "isActive": null})));
    assert!(!v.is_valid(&json!({"id": "1"})), "wrong type");
    assert!(
        !v.is_valid(&json!({"id": 1, "colour": "red"})),
        "undeclared property"
    );
}
