//! Each behaviour knob played both ways, over HTTP: every test runs the same requests against
//! the default side and against the strict side of one knob (all other knobs at their
//! defaults), and checks what changes. The profile as a whole is checked in the unit tests of
//! `behaviour.rs` and `config.rs`.

use autotask_sim::Behaviour;
use autotask_sim::SimConfig;
use autotask_sim::behaviour::{
    AccessLevels, CapabilityFlags, NextPageBody, OtherOwnersWebhooks, ResourceActivation,
    UnknownId, UnsetProperties, WebhookMax,
};
use autotask_sim::{Fault, FaultRule, SeedApiUser};
use futures::future::join_all;
use serde_json::{Value as Json, json};

use crate::{Env, errors, test_config};

/// The test configuration with these knobs.
fn with(behaviour: Behaviour) -> SimConfig {
    SimConfig {
        behaviour,
        ..test_config()
    }
}

/// The field named `name` of a `fields` answer.
fn field<'a>(body: &'a Json, name: &str) -> &'a Json {
    body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no field {name} in {body}"))
}

#[tokio::test]
async fn unset_metadata_properties_come_empty_or_null() {
    for (unset, list, text) in [
        (UnsetProperties::Empty, json!([]), json!("")),
        (UnsetProperties::Null, Json::Null, Json::Null),
    ] {
        let env = Env::with(with(Behaviour {
            unset_properties: unset,
            ..Behaviour::default()
        }))
        .await;
        let api = env.api(&env.seed());
        let (s, b) = api.get("Resources/entityInformation/fields").await;
        assert_eq!(s, 200);
        let first = field(&b, "firstName");
        assert_eq!(first["picklistValues"], list, "{unset:?}");
        assert_eq!(first["referenceEntityType"], text, "{unset:?}");
        assert_eq!(first["picklistParentValueField"], text, "{unset:?}");
        // Set properties keep their values.
        let license = field(&b, "licenseType");
        assert!(license["picklistValues"].as_array().unwrap().len() >= 4);
        assert_eq!(license["picklistValues"][0]["parentValue"], text);
        assert_eq!(
            field(&b, "defaultServiceDeskRoleID")["referenceEntityType"],
            "Role"
        );
        let (_, b) = api.get("Tickets/entityInformation/userDefinedFields").await;
        let udf = &b["fields"][0];
        assert_eq!(udf["picklistValues"], list, "{unset:?}");
        assert_eq!(udf["defaultValue"], text, "{unset:?}");
        assert_eq!(udf["referenceEntityType"], text, "{unset:?}");
    }
}

#[tokio::test]
async fn access_levels_come_as_empty_objects_or_strings() {
    for access in [AccessLevels::Object, AccessLevels::String] {
        let env = Env::with(with(Behaviour {
            access_levels: access,
            ..Behaviour::default()
        }))
        .await;
        let with_hooks = env.api(&env.seed());
        let without = env.api(
            &env.sim
                .db("acme")
                .unwrap()
                .seed_api_user(&SeedApiUser {
                    webhook_max: None,
                    ..SeedApiUser::default()
                })
                .unwrap(),
        );
        let (_, yes) = with_hooks.get("TicketWebhooks/entityInformation").await;
        let (_, no) = without.get("TicketWebhooks/entityInformation").await;
        let (_, res) = without.get("Resources/entityInformation").await;
        match access {
            AccessLevels::Object => {
                for k in [
                    "userAccessForCreate",
                    "userAccessForDelete",
                    "userAccessForQuery",
                    "userAccessForUpdate",
                ] {
                    assert_eq!(yes["info"][k], json!({}), "{k}");
                    assert_eq!(no["info"][k], json!({}), "{k}");
                }
            }
            AccessLevels::String => {
                assert_eq!(yes["info"]["userAccessForCreate"], "All");
                assert_eq!(no["info"]["userAccessForCreate"], "None");
                assert_eq!(no["info"]["userAccessForQuery"], "All");
                // Resources cannot be created or deleted through the API at all.
                assert_eq!(res["info"]["userAccessForCreate"], "None");
                assert_eq!(res["info"]["userAccessForDelete"], "None");
                assert_eq!(res["info"]["userAccessForUpdate"], "All");
            }
        }
        // The capability flags are a knob of their own: by default they follow the caller.
        assert_eq!(yes["info"]["canCreate"], true);
        assert_eq!(no["info"]["canCreate"], false);
    }
}

#[tokio::test]
async fn can_create_follows_the_caller_or_only_the_entity() {
    for flags in [CapabilityFlags::Caller, CapabilityFlags::Entity] {
        let env = Env::with(with(Behaviour {
            capability_flags: flags,
            ..Behaviour::default()
        }))
        .await;
        let db = env.sim.db("acme").unwrap();
        let without = env.api(
            &db.seed_api_user(&SeedApiUser {
                webhook_max: None,
                ..SeedApiUser::default()
            })
            .unwrap(),
        );
        let (_, b) = without.get("TicketWebhooks/entityInformation").await;
        assert_eq!(
            b["info"]["canCreate"],
            flags == CapabilityFlags::Entity,
            "{flags:?}: {b}"
        );
        let (_, b) = without.get("Resources/entityInformation").await;
        assert_eq!(b["info"]["canCreate"], false, "never through the API");
        // Either way the create itself is refused without the permission.
        let (s, b) = without
            .post(
                "TicketWebhooks",
                crate::webhook_body("https://hooks.example/x"),
            )
            .await;
        assert_eq!(s, 500);
        assert!(errors(&b).contains("permission"), "{b}");
    }
}

#[tokio::test]
async fn resource_activation_through_rest_is_allowed_or_refused() {
    for activation in [ResourceActivation::Allowed, ResourceActivation::Refused] {
        let env = Env::with(with(Behaviour {
            resource_activation: activation,
            ..Behaviour::default()
        }))
        .await;
        let db = env.sim.db("acme").unwrap();
        let admin = env.api(&env.seed());
        let target = env.seed();
        let (s, b) = admin
            .patch(
                "Resources",
                json!({"id": target.resource_id, "isActive": false}),
            )
            .await;
        match activation {
            ResourceActivation::Allowed => {
                assert_eq!(s, 200, "{b}");
                assert!(!db.api_user(target.resource_id).unwrap().active);
                let (s, _) = admin
                    .patch(
                        "Resources",
                        json!({"id": target.resource_id, "isActive": true}),
                    )
                    .await;
                assert_eq!(s, 200);
                assert!(db.api_user(target.resource_id).unwrap().active);
            }
            ResourceActivation::Refused => {
                assert_eq!(s, 500);
                assert!(errors(&b).contains("web interface"), "{b}");
                assert!(db.api_user(target.resource_id).unwrap().active);
            }
            ResourceActivation::Ignored => unreachable!("played below"),
        }
    }
    // The third reading: answered, not applied.
    let env = Env::with(with(Behaviour {
        resource_activation: ResourceActivation::Ignored,
        ..Behaviour::default()
    }))
    .await;
    let db = env.sim.db("acme").unwrap();
    let admin = env.api(&env.seed());
    let target = env.seed();
    let (s, b) = admin
        .patch(
            "Resources",
            json!({"id": target.resource_id, "isActive": false, "title": "kept"}),
        )
        .await;
    assert_eq!((s, &b["itemId"]), (200, &json!(target.resource_id)), "{b}");
    assert!(
        db.api_user(target.resource_id).unwrap().active,
        "not applied"
    );
    let (_, row) = admin
        .get(&format!("Resources/{}", target.resource_id))
        .await;
    assert_eq!(row["item"]["title"], "kept", "other fields are");
    // A database can still override the simulator-wide knob.
    let mut cfg = with(Behaviour::strict());
    cfg.databases[0].api_user_activation_via_rest = Some(true);
    let env = Env::with(cfg).await;
    let admin = env.api(&env.seed());
    let target = env.seed();
    let (s, b) = admin
        .patch(
            "Resources",
            json!({"id": target.resource_id, "isActive": false}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
}

#[tokio::test]
async fn other_owners_webhooks_are_visible_or_hidden() {
    for visibility in [OtherOwnersWebhooks::Visible, OtherOwnersWebhooks::Hidden] {
        let env = Env::with(with(Behaviour {
            other_owners_webhooks: visibility,
            ..Behaviour::default()
        }))
        .await;
        let owner_user = env.seed();
        let owner = env.api(&owner_user);
        let other = env.api(&env.seed());
        let id = owner
            .create_ticket_webhook("https://hooks.example/owner")
            .await;
        let (s, _) = owner
            .post(
                &format!("TicketWebhooks/{id}/Fields"),
                json!({"fieldID": 7, "isSubscribedField": true}),
            )
            .await;
        assert_eq!(s, 200);
        let by_owner = json!({"filter": [
            {"op": "eq", "field": "ownerResourceID", "value": owner_user.resource_id}
        ]});
        let all = json!({"filter": [{"op": "gt", "field": "id", "value": 0}]});
        let count = |b: &Json| b["items"].as_array().map_or(0, Vec::len);
        // The owner always sees its own.
        assert_eq!(
            count(&owner.post("TicketWebhooks/query", by_owner.clone()).await.1),
            1
        );
        let (s, q) = other.post("TicketWebhooks/query", by_owner.clone()).await;
        assert_eq!(s, 200);
        let (_, n) = other.post("TicketWebhooks/query/count", by_owner).await;
        let (get, _) = other.get(&format!("TicketWebhooks/{id}")).await;
        let (_, fields) = other.post("TicketWebhookFields/query", all).await;
        let (children, _) = other.get(&format!("TicketWebhooks/{id}/Fields")).await;
        match visibility {
            OtherOwnersWebhooks::Visible => {
                assert_eq!(count(&q), 1);
                assert_eq!(n["queryCount"], 1);
                assert_eq!(get, 200);
                assert_eq!(count(&fields), 1);
                assert_eq!(children, 200);
            }
            OtherOwnersWebhooks::Hidden => {
                assert_eq!(count(&q), 0, "{q}");
                assert_eq!(n["queryCount"], 0);
                assert_eq!(get, 404);
                assert_eq!(count(&fields), 0, "{fields}");
                assert_eq!(children, 404);
            }
        }
        // The duplicate rule still sees every owner's webhooks.
        let (s, b) = other
            .post(
                "TicketWebhooks",
                crate::webhook_body("https://hooks.example/owner"),
            )
            .await;
        assert_eq!(s, 500);
        assert!(errors(&b).contains("same webhookUrl"), "{b}");
    }
}

#[tokio::test]
async fn the_threshold_refusal_is_429_or_500() {
    for status in [429, 500] {
        let mut cfg = with(Behaviour {
            threshold_status: status,
            ..Behaviour::default()
        });
        cfg.databases[0].hourly_threshold = 2;
        let env = Env::with(cfg).await;
        let api = env.api(&env.seed());
        assert_eq!(api.get("Resources/entityInformation").await.0, 200);
        assert_eq!(api.get("Resources/entityInformation").await.0, 200);
        let (s, b) = api.get("Resources/entityInformation").await;
        assert_eq!(s, status);
        assert!(
            errors(&b).contains("threshold of 2 requests per 60 minutes"),
            "{b}"
        );
        let log = env.sim.requests();
        assert_eq!(log.last().unwrap().refused_by.as_deref(), Some("threshold"));
    }
}

#[tokio::test]
async fn a_tracking_identifier_mismatch_is_401_or_500() {
    for status in [401, 500] {
        let env = Env::with(with(Behaviour {
            tracking_mismatch_status: status,
            ..Behaviour::default()
        }))
        .await;
        let mut api = env.api(&env.seed());
        api.code = "SOME-OTHER-VENDOR".into();
        let (s, b) = api.get("Resources/entityInformation").await;
        assert_eq!(s, status, "{b}");
        if status == 500 {
            assert!(errors(&b).contains("tracking identifier"), "{b}");
        }
        // A wrong secret stays a 401 either way.
        api.secret = "wrong".into();
        assert_eq!(api.get("Resources/entityInformation").await.0, 401);
    }
}

#[tokio::test]
async fn the_thread_limit_refusal_is_429_or_500() {
    for status in [429, 500] {
        let env = Env::with(with(Behaviour {
            thread_limit_status: status,
            ..Behaviour::default()
        }))
        .await;
        let api = env.api(&env.seed());
        env.sim
            .add_fault(FaultRule::new(Fault::Latency { ms: 400 }).endpoint("Resources"));
        let results = join_all((0..4).map(|_| {
            let api = api.clone();
            async move { api.get("Resources/entityInformation").await }
        }))
        .await;
        let limited: Vec<_> = results.iter().filter(|(s, _)| *s != 200).collect();
        assert_eq!(limited.len(), 1, "{results:?}");
        assert_eq!(limited[0].0, status);
        assert!(errors(&limited[0].1).contains("Itgenatr005"));
        assert!(
            env.sim
                .requests()
                .iter()
                .any(|r| r.refused_by.as_deref() == Some("thread_limit") && r.status == status)
        );
    }
}

#[tokio::test]
async fn an_unknown_id_is_404_or_a_null_item() {
    for unknown in [UnknownId::NotFound, UnknownId::NullItem] {
        let env = Env::with(with(Behaviour {
            unknown_id: unknown,
            ..Behaviour::default()
        }))
        .await;
        let api = env.api(&env.seed());
        let (s, b) = api.get("TicketWebhooks/424242").await;
        match unknown {
            UnknownId::NotFound => assert_eq!(s, 404),
            UnknownId::NullItem => assert_eq!((s, b), (200, json!({"item": null}))),
        }
        // Known ids are unaffected, and so is the child collection of an unknown webhook.
        assert_eq!(api.get("Resources/29682885").await.0, 200);
        assert_eq!(api.get("TicketWebhooks/424242/Fields").await.0, 404);
    }
}

#[tokio::test]
async fn the_next_page_needs_the_original_body_or_not() {
    for body in [NextPageBody::Optional, NextPageBody::Required] {
        let env = Env::with(with(Behaviour {
            next_page_body: body,
            ..Behaviour::default()
        }))
        .await;
        let user = env.seed();
        for _ in 0..6 {
            env.seed();
        }
        let api = env.api(&user);
        let query = json!({"filter": [{"op": "gt", "field": "id", "value": 0}]});
        let (s, b) = api.post("Resources/query", query.clone()).await;
        assert_eq!(s, 200);
        let next = b["pageDetails"]["nextPageUrl"].as_str().unwrap().to_owned();
        let (s, _) = api.post(&next, query).await;
        assert_eq!(s, 200, "the original body always works");
        let (s, b) = api.send(reqwest::Method::POST, &next, None).await;
        match body {
            NextPageBody::Optional => assert_eq!(s, 200, "{b}"),
            NextPageBody::Required => {
                assert_eq!(s, 500);
                assert!(errors(&b).contains("original query"), "{b}");
            }
        }
    }
}

#[tokio::test]
async fn the_webhook_maximum_counts_a_lifetime_or_what_is_owned() {
    for max in [WebhookMax::Lifetime, WebhookMax::Concurrent] {
        let env = Env::with(with(Behaviour {
            webhook_max: max,
            ..Behaviour::default()
        }))
        .await;
        let user = env.seed();
        env.sim
            .db("acme")
            .unwrap()
            .set_webhook_permission(user.security_level_id, true, 1)
            .unwrap();
        let api = env.api(&user);
        let id = api.create_ticket_webhook("https://hooks.example/one").await;
        assert_eq!(api.delete(&format!("TicketWebhooks/{id}")).await.0, 200);
        let (s, b) = api
            .post(
                "TicketWebhooks",
                crate::webhook_body("https://hooks.example/two"),
            )
            .await;
        match max {
            WebhookMax::Lifetime => {
                assert_eq!(s, 500);
                assert!(errors(&b).contains("maximum"), "{b}");
            }
            WebhookMax::Concurrent => assert_eq!(s, 200, "{b}"),
        }
    }
}

#[tokio::test]
async fn the_strict_profile_is_the_pessimistic_side_of_every_knob() {
    let cfg = SimConfig::strict();
    assert_eq!(cfg.profile, autotask_sim::Profile::Strict);
    assert_eq!(cfg.behaviour, Behaviour::strict());
    assert_eq!(SimConfig::default().behaviour, Behaviour::default());
    // And a strict simulator serves it.
    let env = Env::with(SimConfig {
        behaviour: Behaviour::strict(),
        ..test_config()
    })
    .await;
    let api = env.api(&env.seed());
    let (_, b) = api.get("TicketWebhooks/entityInformation").await;
    assert_eq!(b["info"]["userAccessForCreate"], "All");
    let (_, b) = api.get("TicketWebhooks/entityInformation/fields").await;
    assert_eq!(field(&b, "name")["picklistValues"], Json::Null);
}
