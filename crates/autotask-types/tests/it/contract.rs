//! Every model checked against the vendor's contract files in `../shared/autotask-openapi/`:
//! a sample built from each schema parses, and every field name we write exists in the
//! schema (so a misspelt `ownerResourceId` cannot hide). And every shape the contract allows
//! decodes: for each response model the client reads (entities, metadata, envelopes), samples
//! generated from the schema with each property `null`, each property absent (at any depth)
//! and `userAccessFor*` as names, numbers and `{}`.

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

// ---- what the contract allows: every property null, absent, access levels in every form ----

/// The named schemas of a contract file (`components.schemas`, or the entity-models file's
/// `models.*.schema`).
fn schemas_of(doc: &Json) -> Map<String, Json> {
    if let Some(s) = doc["components"]["schemas"].as_object() {
        return s.clone();
    }
    doc["models"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v["schema"].clone()))
        .collect()
}

fn is_access_level(reference: &str) -> bool {
    reference.ends_with("/RestUserAccessLevel")
}

/// A value for one property: its type's sample, a nested sample for a `$ref` to an object
/// with properties (an envelope's entity, `pageDetails`, `info`), `{}` for a `$ref` to an
/// empty object (the contract's `RestUserAccessLevel` and `Object`).
fn value_for(name: &str, prop: &Json, schemas: &Map<String, Json>) -> Json {
    if let Some(reference) = prop["$ref"].as_str() {
        let target = reference.rsplit('/').next().unwrap();
        return match schemas.get(target) {
            Some(s) if s["properties"].as_object().is_some_and(|p| !p.is_empty()) => {
                Json::Object(full_sample(s, schemas))
            }
            _ => json!({}),
        };
    }
    match prop["type"].as_str() {
        Some("integer") => json!(17),
        Some("number") => json!(1.5),
        Some("boolean") => json!(true),
        Some("string") => json!(format!("{name}-value")),
        Some("array") => json!([value_for(name, &prop["items"], schemas)]),
        Some("object") => json!({}),
        other => panic!("property {name}: unexpected schema type {other:?}"),
    }
}

/// Every property of `schema` set, nested `$ref`s included.
fn full_sample(schema: &Json, schemas: &Map<String, Json>) -> Map<String, Json> {
    schema["properties"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, prop)| (name.clone(), value_for(name, prop, schemas)))
        .collect()
}

/// The samples the contract allows for `schema`: the full sample, then for each property
/// (at any depth: nested objects and the first element of arrays of objects) one with it
/// `null` and one without it, and for each access level its documented names and numbers.
fn contract_variants(schema: &Json, schemas: &Map<String, Json>) -> Vec<(String, Json)> {
    let full = Json::Object(full_sample(schema, schemas));
    let mut out = vec![("full sample".to_owned(), full.clone())];
    vary(schema, schemas, &full, &mut Vec::new(), &mut out);
    out
}

/// A step into a sample: an object key or an array index.
#[derive(Clone)]
enum Step {
    Key(String),
    Index(usize),
}

fn at_mut<'a>(v: &'a mut Json, path: &[Step]) -> &'a mut Json {
    path.iter().fold(v, |v, s| match s {
        Step::Key(k) => &mut v[k.as_str()],
        Step::Index(i) => &mut v[*i],
    })
}

fn label(path: &[Step]) -> String {
    path.iter()
        .map(|s| match s {
            Step::Key(k) => format!(".{k}"),
            Step::Index(i) => format!("[{i}]"),
        })
        .collect()
}

fn vary(
    schema: &Json,
    schemas: &Map<String, Json>,
    full: &Json,
    path: &mut Vec<Step>,
    out: &mut Vec<(String, Json)>,
) {
    for (name, prop) in schema["properties"].as_object().unwrap() {
        path.push(Step::Key(name.clone()));
        let here = label(path);
        let mut null = full.clone();
        *at_mut(&mut null, path) = Json::Null;
        out.push((format!("{here} null"), null));
        let mut absent = full.clone();
        let (last, parent) = path.split_last().unwrap();
        let Step::Key(last) = last else {
            unreachable!()
        };
        at_mut(&mut absent, parent)
            .as_object_mut()
            .unwrap()
            .remove(last);
        out.push((format!("{here} absent"), absent));
        if prop["$ref"].as_str().is_some_and(is_access_level) {
            for form in [
                json!("None"),
                json!("All"),
                json!("Restricted"),
                json!("all"),
                json!(0),
                json!(1),
                json!(2),
                json!(99),
                json!("Mine"),
                json!({}),
            ] {
                let mut v = full.clone();
                *at_mut(&mut v, path) = form.clone();
                out.push((format!("{here} = {form}"), v));
            }
        }
        // Nested objects: an envelope's entity or pageDetails, a field's picklist values.
        let nested = match (prop["$ref"].as_str(), prop["items"]["$ref"].as_str()) {
            (Some(r), _) => Some((r, None)),
            (None, Some(r)) => Some((r, Some(0))),
            _ => None,
        };
        if let Some((reference, index)) = nested {
            let target = schemas.get(reference.rsplit('/').next().unwrap());
            if let Some(t) =
                target.filter(|t| t["properties"].as_object().is_some_and(|p| !p.is_empty()))
            {
                if let Some(i) = index {
                    path.push(Step::Index(i));
                }
                vary(t, schemas, full, path, out);
                if index.is_some() {
                    path.pop();
                }
            }
        }
        path.pop();
    }
}

/// Samples decoded and the ones that failed, over all models.
#[derive(Default)]
struct Decoded {
    count: usize,
    failures: Vec<String>,
}

impl Decoded {
    /// Decodes every sample the contract allows for `schema` as `T`.
    fn all<T: DeserializeOwned>(&mut self, what: &str, schema: &Json, schemas: &Map<String, Json>) {
        for (name, sample) in contract_variants(schema, schemas) {
            self.count += 1;
            if let Err(e) = serde_json::from_value::<T>(sample) {
                self.failures.push(format!("{what} with {name}: {e}"));
            }
        }
    }
}

#[test]
fn every_model_the_client_reads_decodes_every_shape_the_contract_allows() {
    let mut decoded = Decoded::default();
    // The webhooks of every family, their envelopes and their metadata.
    for file in [
        "kaseya-ticketwebhooks-api-openapi.yml",
        "kaseya-ticketnotewebhooks-api-openapi.yml",
        "kaseya-companywebhooks-api-openapi.yml",
        "kaseya-configurationitemwebhooks-api-openapi.yml",
        "kaseya-resources-api-openapi.yml",
    ] {
        let doc = yaml(file);
        let schemas = schemas_of(&doc);
        for (name, schema) in &schemas {
            match name.as_str() {
                n if n.ends_with("WebhookModel") => decoded.all::<Webhook>(n, schema, &schemas),
                "ResourceModel" => decoded.all::<Resource>(name, schema, &schemas),
                n if n.starts_with("QueryActionResult_ResourceModel") => {
                    decoded.all::<QueryResult<Resource>>(n, schema, &schemas)
                }
                n if n.starts_with("QueryActionResult_") => {
                    decoded.all::<QueryResult<Webhook>>(n, schema, &schemas)
                }
                n if n.starts_with("ItemQueryResultModel_ResourceModel") => {
                    decoded.all::<ItemResult<Resource>>(n, schema, &schemas)
                }
                n if n.starts_with("ItemQueryResultModel_") => {
                    decoded.all::<ItemResult<Webhook>>(n, schema, &schemas)
                }
                "EntityInformationResultModel" => {
                    decoded.all::<EntityInformationResult>(name, schema, &schemas)
                }
                "EntityInformationModel" => {
                    decoded.all::<EntityInformation>(name, schema, &schemas)
                }
                "FieldInformationResultModel" => {
                    decoded.all::<FieldInformationResult>(name, schema, &schemas)
                }
                "FieldInformationModel" => decoded.all::<FieldInfo>(name, schema, &schemas),
                // The contract's user-defined-field metadata model.
                "Field" => decoded.all::<UdfFieldInfo>(name, schema, &schemas),
                "PickListValue" => decoded.all::<PicklistValue>(name, schema, &schemas),
                "PagingModel" => decoded.all::<PageDetails>(name, schema, &schemas),
                _ => continue,
            };
        }
    }
    // Webhook children and lines of business.
    let models = yaml("kaseya-2026-entity-models.yml");
    let schemas = schemas_of(&models);
    for (name, schema) in &schemas {
        match name.as_str() {
            n if n.ends_with("WebhookModel") => decoded.all::<Webhook>(n, schema, &schemas),
            n if n.ends_with("WebhookFieldModel") => {
                decoded.all::<WebhookField>(n, schema, &schemas)
            }
            n if n.ends_with("WebhookUdfFieldModel") => {
                decoded.all::<WebhookUdfField>(n, schema, &schemas)
            }
            n if n.ends_with("WebhookExcludedResourceModel") => {
                decoded.all::<WebhookExcludedResource>(n, schema, &schemas)
            }
            "OrganizationalLevel1Model" => {
                decoded.all::<OrganizationalLevel1>(name, schema, &schemas)
            }
            "OrganizationalLevel2Model" => {
                decoded.all::<OrganizationalLevel2>(name, schema, &schemas)
            }
            "OrganizationalLevelAssociationModel" => {
                decoded.all::<OrganizationalLevelAssociation>(name, schema, &schemas)
            }
            "OrganizationalResourceModel" => {
                decoded.all::<OrganizationalResource>(name, schema, &schemas)
            }
            _ => continue,
        };
    }
    // Zone discovery and the threshold.
    let zone = yaml("kaseya-zoneinformationapiintegration-api-openapi.yml");
    let schemas = schemas_of(&zone);
    decoded.all::<ZoneInformation>(
        "ZoneInformationResultModel",
        &schemas["ZoneInformationResultModel"],
        &schemas,
    );
    let threshold = yaml("kaseya-thresholdapiintegration-api-openapi.yml");
    let schemas = schemas_of(&threshold);
    decoded.all::<ThresholdInformation>(
        "ThresholdStatusResultModel",
        &schemas["ThresholdStatusResultModel"],
        &schemas,
    );
    assert!(
        decoded.failures.is_empty(),
        "{} of {} contract samples do not decode:\n{}",
        decoded.failures.len(),
        decoded.count,
        decoded.failures.join("\n")
    );
    // A guard against a test that checks nothing: hundreds of samples, not a handful.
    assert!(
        decoded.count > 1000,
        "only {} samples decoded",
        decoded.count
    );
}

#[test]
fn what_the_lenient_decoding_means() {
    let doc = yaml("kaseya-ticketwebhooks-api-openapi.yml");
    let schemas = schemas_of(&doc);
    // C5: a field that is not a picklist comes with `"picklistValues": null`.
    let mut field = full_sample(&schemas["FieldInformationModel"], &schemas);
    field.insert("picklistValues".into(), Json::Null);
    field.insert("isRequired".into(), Json::Null);
    let field: FieldInfo = serde_json::from_value(Json::Object(field)).unwrap();
    assert!(field.picklist_values.is_empty());
    assert!(!field.is_required);
    // Access levels: names and numbers decide; the contract's `{}` cannot.
    let info_with = |v: Json| {
        let mut info = full_sample(&schemas["EntityInformationModel"], &schemas);
        info.insert("userAccessForCreate".into(), v);
        serde_json::from_value::<EntityInformation>(Json::Object(info)).unwrap()
    };
    assert_eq!(info_with(json!("All")).user_may_create(), Some(true));
    assert_eq!(info_with(json!("none")).user_may_create(), Some(false));
    assert_eq!(info_with(json!(0)).user_may_create(), Some(false));
    assert_eq!(info_with(json!({})).user_may_create(), None);
    assert_eq!(info_with(Json::Null).user_may_create(), None);
    // A null threshold is Autotask's documented default, never a budget of zero.
    let t: ThresholdInformation = serde_json::from_value(json!({
        "externalRequestThreshold": null, "requestThresholdTimeframe": null,
        "currentTimeframeRequestCount": null
    }))
    .unwrap();
    assert_eq!(
        (t.external_request_threshold, t.request_threshold_timeframe),
        (10_000, 60)
    );
    assert!(t.used_ratio() < 0.01);
    // A write or count answer without its one field is not a success.
    assert!(serde_json::from_value::<ItemIdResult>(json!({"itemId": null})).is_err());
    assert!(serde_json::from_value::<ItemIdResult>(json!({})).is_err());
    assert!(serde_json::from_value::<CountResult>(json!({"queryCount": null})).is_err());
}
