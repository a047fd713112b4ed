//! Every model checked against the vendor's contract files in `../shared/autotask-openapi/`:
//! a sample built from each schema parses, and every field name we write exists in the
//! schema (so a misspelt `ownerResourceId` cannot hide).

use std::collections::BTreeSet;
use std::path::PathBuf;

use autotask_types::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value as Json, json};

fn contract_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/autotask-openapi")
}

fn yaml(file: &str) -> Json {
    let text = std::fs::read_to_string(contract_dir().join(file))
        .unwrap_or_else(|e| panic!("read contract file {file}: {e}"));
    serde_norway::from_str(&text).unwrap()
}

/// A sample object with every property of `schema` set to a value of its type.
fn sample(schema: &Json) -> Map<String, Json> {
    let mut m = Map::new();
    for (name, prop) in schema["properties"].as_object().unwrap() {
        let v = match prop["type"].as_str() {
            Some("integer") => json!(17),
            Some("boolean") => json!(true),
            Some("string") => json!(format!("{name}-value")),
            Some("array") => json!([]),
            _ => continue, // $ref objects (soapParentPropertyId, isSupportedWebhookField)
        };
        m.insert(name.clone(), v);
    }
    m
}

/// Parses the schema's sample as `T`, writes it back and checks our field names against
/// the schema. `complete`: the model carries every schema property (bar `$ref`s).
fn check_model<T: Serialize + DeserializeOwned>(schema: &Json, complete: bool) {
    let sample = sample(schema);
    let parsed: T = serde_json::from_value(Json::Object(sample.clone()))
        .unwrap_or_else(|e| panic!("contract sample does not parse: {e}"));
    let written = serde_json::to_value(&parsed).unwrap();
    let ours: BTreeSet<_> = written.as_object().unwrap().keys().cloned().collect();
    let theirs: BTreeSet<_> = schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let invented: Vec<_> = ours.difference(&theirs).collect();
    assert!(
        invented.is_empty(),
        "fields not in the contract: {invented:?}"
    );
    if complete {
        let sampled: BTreeSet<_> = sample.keys().cloned().collect();
        let missing: Vec<_> = sampled.difference(&ours).collect();
        assert!(
            missing.is_empty(),
            "contract fields not modelled: {missing:?}"
        );
    }
    for (k, v) in sample.iter().filter(|(k, _)| ours.contains(*k)) {
        assert_eq!(&written[k], v, "field {k} changed in a round trip");
    }
}

#[test]
fn webhook_models_of_all_five_families_match_the_contract() {
    for file in [
        "kaseya-ticketwebhooks-api-openapi.yml",
        "kaseya-ticketnotewebhooks-api-openapi.yml",
        "kaseya-companywebhooks-api-openapi.yml",
        "kaseya-configurationitemwebhooks-api-openapi.yml",
    ] {
        let doc = yaml(file);
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let (_, schema) = schemas
            .iter()
            .find(|(k, _)| k.ends_with("WebhookModel"))
            .unwrap();
        check_model::<Webhook>(schema, true);
    }
    let models = yaml("kaseya-2026-entity-models.yml");
    check_model::<Webhook>(&models["models"]["ContactWebhookModel"]["schema"], true);
}

#[test]
fn webhook_children_and_organization_models_match_the_contract() {
    let models = yaml("kaseya-2026-entity-models.yml");
    let models = models["models"].as_object().unwrap();
    let mut seen = 0;
    for (name, model) in models {
        let schema = &model["schema"];
        match name.as_str() {
            n if n.ends_with("WebhookFieldModel") => check_model::<WebhookField>(schema, true),
            n if n.ends_with("WebhookUdfFieldModel") => {
                check_model::<WebhookUdfField>(schema, true)
            }
            n if n.ends_with("WebhookExcludedResourceModel") => {
                check_model::<WebhookExcludedResource>(schema, true)
            }
            "OrganizationalLevel1Model" => check_model::<OrganizationalLevel1>(schema, false),
            "OrganizationalLevel2Model" => check_model::<OrganizationalLevel2>(schema, false),
            "OrganizationalLevelAssociationModel" => {
                check_model::<OrganizationalLevelAssociation>(schema, true)
            }
            "OrganizationalResourceModel" => check_model::<OrganizationalResource>(schema, false),
            _ => continue,
        }
        seen += 1;
    }
    // 5 field + 4 UDF field (no TicketNote) + 5 excluded-resource models + 4 organization.
    assert_eq!(seen, 18);
}

#[test]
fn resource_threshold_and_zone_models_match_the_contract() {
    let resources = yaml("kaseya-resources-api-openapi.yml");
    check_model::<Resource>(&resources["components"]["schemas"]["ResourceModel"], false);
    let threshold = yaml("kaseya-thresholdapiintegration-api-openapi.yml");
    check_model::<ThresholdInformation>(
        &threshold["components"]["schemas"]["ThresholdStatusResultModel"],
        true,
    );
    let zone = yaml("kaseya-zoneinformationapiintegration-api-openapi.yml");
    check_model::<ZoneInformation>(
        &zone["components"]["schemas"]["ZoneInformationResultModel"],
        true,
    );
}

#[test]
fn metadata_models_match_the_contract() {
    let doc = yaml("kaseya-ticketwebhooks-api-openapi.yml");
    let schemas = &doc["components"]["schemas"];
    check_model::<EntityInformation>(&schemas["EntityInformationModel"], true);
    check_model::<FieldInfo>(&schemas["FieldInformationModel"], true);
    check_model::<PicklistValue>(&schemas["PickListValue"], true);
    check_model::<PageDetails>(&schemas["PagingModel"], true);
}

#[test]
fn the_contract_query_example_parses() {
    let doc = yaml("kaseya-ticketwebhooks-api-openapi.yml");
    let example = &doc["components"]["schemas"]["QueryModel"]["example"];
    let q = Query::from_json(example).unwrap();
    assert_eq!(q.filter, vec![Filter::gt("id", 0)]);
    assert_eq!(q.max_records, Some(10));
}

#[test]
fn envelopes_parse() {
    let page: QueryResult<Webhook> = serde_json::from_value(json!({
        "items": [{"id": 1, "name": "a", "ownerResourceID": 30, "secretKey": "s3cr3t-key!"}],
        "pageDetails": {"count": 1, "requestCount": 500, "prevPageUrl": null,
                        "nextPageUrl": "https://webservices2.autotask.net/ATServicesRest/V1.0/TicketWebhooks/query/next?paging=x"}
    }))
    .unwrap();
    assert_eq!(page.items[0].owner_resource_id, Some(ResourceId::new(30)));
    assert!(page.page_details.next_page_url.is_some());
    assert!(
        !format!("{:?}", page.items[0]).contains("s3cr3t"),
        "Debug shows the secret key"
    );
    let item: ItemResult<Resource> = serde_json::from_value(json!({"item": null})).unwrap();
    assert!(item.item.is_none());
    let id: ItemIdResult = serde_json::from_value(json!({"itemId": 177})).unwrap();
    assert_eq!(id.item_id, 177);
    let count: CountResult = serde_json::from_value(json!({"queryCount": 3})).unwrap();
    assert_eq!(count.query_count, 3);
    let errors: ErrorsResult = serde_json::from_value(json!({"errors": ["bad"]})).unwrap();
    assert_eq!(errors.errors, vec!["bad"]);
}

#[test]
fn endpoints_name_the_contract_paths() {
    let hook = WebhookId::new(17);
    assert_eq!(
        WebhookFamily::Ticket.webhooks().collection(),
        "TicketWebhooks"
    );
    assert_eq!(WebhookFamily::Ticket.webhooks().name(), "TicketWebhook");
    let fields = WebhookFamily::ConfigurationItem.fields(hook);
    assert_eq!(fields.collection(), "ConfigurationItemWebhooks/17/Fields");
    assert_eq!(fields.query_root(), "ConfigurationItemWebhookFields");
    assert_eq!(fields.name(), "ConfigurationItemWebhookField");
    assert!(WebhookFamily::TicketNote.udf_fields(hook).is_none());
    assert_eq!(
        WebhookFamily::Company
            .udf_fields(hook)
            .unwrap()
            .collection(),
        "CompanyWebhooks/17/UdfFields"
    );
    assert_eq!(
        WebhookFamily::Contact.excluded_resources(hook).query_root(),
        "ContactWebhookExcludedResources"
    );
    assert_eq!(Resource::endpoint().collection(), "Resources");
    assert_eq!(
        "ticketnote".parse::<WebhookFamily>(),
        Ok(WebhookFamily::TicketNote)
    );
    // Every path exists in the 2026 operation list.
    let ops = std::fs::read_to_string(
        contract_dir().join("kaseya-autotask-psa-openapi-original.opencollection.json"),
    )
    .unwrap();
    for family in WebhookFamily::ALL {
        for path in [
            format!("/V1.0/{}/query", family.webhooks_path()),
            format!("/V1.0/{}/:parentId/Fields", family.webhooks_path()),
            format!(
                "/V1.0/{}/:parentId/ExcludedResources",
                family.webhooks_path()
            ),
            format!("/V1.0/{}Fields/query", family.webhook_entity()),
        ] {
            assert!(ops.contains(&path), "{path} is not in the contract");
        }
    }
}
