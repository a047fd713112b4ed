//! `entityInformation` (canCreate follows the caller's Webhooks permission, Resources has no
//! create or delete) and `entityInformation/fields` with the licenseType / userType picklists.

use serde_json::Value as Json;

use crate::Env;

#[tokio::test]
async fn entity_information_reflects_rights() {
    let env = Env::new().await;
    let db = env.sim.db("acme").unwrap();
    let user = env.seed();
    let api = env.api(&user);
    let (s, b) = api.get("Resources/entityInformation").await;
    assert_eq!(s, 200);
    let info = &b["info"];
    assert_eq!(info["name"], "Resource");
    assert_eq!(info["canCreate"], false);
    assert_eq!(info["canDelete"], false);
    assert_eq!(info["canQuery"], true);
    assert_eq!(info["canUpdate"], true);
    for path in ["TicketWebhooks", "CompanyWebhooks", "TicketNoteWebhooks"] {
        let (_, b) = api.get(&format!("{path}/entityInformation")).await;
        assert_eq!(b["info"]["canCreate"], true, "{path}");
        assert_eq!(b["info"]["canDelete"], true, "{path}");
    }
    db.set_webhook_permission(user.security_level_id, false, 10)
        .unwrap();
    let (_, b) = api.get("TicketWebhooks/entityInformation").await;
    assert_eq!(b["info"]["canCreate"], false);
    let (_, b) = api.get("Tickets/entityInformation").await;
    assert_eq!(b["info"]["supportsWebhookCallouts"], true);
    assert_eq!(b["info"]["hasUserDefinedFields"], true);
}

fn field<'a>(b: &'a Json, name: &str) -> &'a Json {
    b["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no field {name}"))
}

#[tokio::test]
async fn field_metadata_carries_the_picklists() {
    let env = Env::new().await;
    let api = env.api(&env.seed());
    let (s, b) = api.get("Resources/entityInformation/fields").await;
    assert_eq!(s, 200);
    let license = field(&b, "licenseType");
    assert_eq!(license["isPickList"], true);
    let api_license = license["picklistValues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["label"] == "API User (system)")
        .unwrap();
    assert_eq!(api_license["value"], "7");
    assert_eq!(field(&b, "userType")["isPickList"], true);
    assert_eq!(field(&b, "isActive")["dataType"], "boolean");
    assert_eq!(field(&b, "defaultServiceDeskRoleID")["isQueryable"], false);
    // The webhook field catalog: fieldID picklist of the child entity, through the parent path too.
    let (_, b) = api
        .get("TicketWebhookFields/entityInformation/fields")
        .await;
    let ids = field(&b, "fieldID")["picklistValues"]
        .as_array()
        .unwrap()
        .len();
    assert!(ids >= 5);
    let (s, b) = api
        .get("TicketWebhooks/1/Fields/entityInformation/fields")
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        field(&b, "fieldID")["picklistValues"]
            .as_array()
            .unwrap()
            .len(),
        ids
    );
    let (s, b) = api.get("Tickets/entityInformation/userDefinedFields").await;
    assert_eq!(s, 200);
    assert!(!b["fields"].as_array().unwrap().is_empty());
}
