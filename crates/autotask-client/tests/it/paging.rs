//! Headers, zone discovery, CRUD paths and paging across pages.

use autotask_client::AutotaskClient;
use autotask_types::{Filter, Query, Resource, Webhook, WebhookFamily, WebhookId};
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

use crate::support::*;

#[tokio::test]
async fn every_call_carries_the_three_auth_headers_and_discovery_none() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/zone/ATServicesRest/V1.0/Resources/7"))
        .and(header("ApiIntegrationCode", CODE))
        .and(header("UserName", USER))
        .and(header("Secret", SECRET))
        .and(header("ImpersonationResourceId", "99"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"item": {"id": 7, "userName": USER, "isActive": true}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let mut creds = credentials();
    creds.impersonation_resource_id = Some(99);
    let tenant = AutotaskClient::new(config(&server))
        .unwrap()
        .tenant(creds)
        .await
        .unwrap();
    let r = tenant.get(&Resource::endpoint(), 7).await.unwrap().unwrap();
    assert_eq!(r.is_active, Some(true));
    let requests = server.received_requests().await.unwrap();
    let discovery = requests
        .iter()
        .find(|r| r.url.path().ends_with("zoneInformation"))
        .unwrap();
    assert!(
        discovery.headers.get("Secret").is_none(),
        "zone discovery must not send credentials"
    );
    assert!(discovery.headers.get("UserName").is_none());
}

#[tokio::test]
async fn zones_are_cached_per_username() {
    let server = server().await;
    let client = AutotaskClient::new(config(&server)).unwrap();
    let a = client.zone_url(USER).await.unwrap();
    let b = client.zone_url(USER).await.unwrap();
    assert_eq!(a, b);
    assert_eq!(a.as_str(), format!("{}/zone/ATServicesRest/", server.uri()));
    assert_eq!(
        hits(&server, "/atservicesrest/v1.0/zoneInformation").await,
        1
    );
}

#[tokio::test]
async fn query_follows_next_page_urls_posting_the_original_body() {
    let server = server().await;
    let query = Query::new([Filter::eq("isActive", true)]);
    let body = query.to_json();
    let base = format!("{}/zone/ATServicesRest/V1.0/Resources/query", server.uri());
    for (page, next) in [(0, Some(1)), (1, Some(2)), (2, None)] {
        let items: Vec<_> = (0..2).map(|i| json!({"id": page * 10 + i})).collect();
        let next_url = next.map(|n| format!("{base}/next?paging=p{n}"));
        let matcher_path = if page == 0 {
            "/zone/ATServicesRest/V1.0/Resources/query".to_owned()
        } else {
            "/zone/ATServicesRest/V1.0/Resources/query/next".to_owned()
        };
        let mut mock = Mock::given(method("POST"))
            .and(path(matcher_path))
            .and(body_json(&body));
        if page > 0 {
            mock = mock.and(query_param("paging", format!("p{page}")));
        }
        mock.respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "items": items,
            "pageDetails": {"count": 2, "requestCount": 2, "prevPageUrl": null, "nextPageUrl": next_url}
        })))
        .expect(1)
        .mount(&server)
        .await;
    }
    let tenant = tenant(&server).await;
    let rows = tenant
        .query_all(&Resource::endpoint(), &query)
        .await
        .unwrap();
    let ids: Vec<_> = rows.iter().map(|r| r.id.unwrap().get()).collect();
    assert_eq!(ids, vec![0, 1, 10, 11, 20, 21]);
}

#[tokio::test]
async fn count_create_update_delete_and_child_paths() {
    let server = server().await;
    let zone = "/zone/ATServicesRest/V1.0";
    Mock::given(method("POST"))
        .and(path(format!("{zone}/TicketWebhooks/query/count")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"queryCount": 4})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{zone}/TicketWebhooks")))
        .and(body_json(json!({"name": "onboard", "isActive": true})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"itemId": 177})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(format!("{zone}/TicketWebhooks")))
        .and(body_json(json!({"id": 177, "isActive": false})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"itemId": 177})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{zone}/TicketWebhooks/177/Fields")))
        .and(body_json(json!({"fieldID": 4, "isSubscribedField": true})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"itemId": 5})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST")).and(path(format!("{zone}/TicketWebhookFields/query")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": [{"id": 5, "fieldID": 4, "webhookID": 177}], "pageDetails": {"count": 1}})))
        .expect(1).mount(&server).await;
    Mock::given(method("DELETE"))
        .and(path(format!("{zone}/TicketWebhooks/177")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"itemId": 177})))
        .expect(1)
        .mount(&server)
        .await;

    let tenant = tenant(&server).await;
    let hooks = WebhookFamily::Ticket.webhooks();
    assert_eq!(tenant.count(&hooks, &Query::all()).await.unwrap(), 4);
    let created = Webhook {
        name: Some("onboard".into()),
        is_active: Some(true),
        ..Webhook::default()
    };
    let id = tenant.create(&hooks, &created).await.unwrap();
    assert_eq!(id, 177);
    let patch = Webhook {
        id: Some(WebhookId::new(id)),
        is_active: Some(false),
        ..Webhook::default()
    };
    tenant.update(&hooks, &patch).await.unwrap();
    let fields = WebhookFamily::Ticket.fields(WebhookId::new(id));
    let field = autotask_types::WebhookField {
        field_id: Some(4),
        is_subscribed_field: Some(true),
        ..Default::default()
    };
    assert_eq!(tenant.create(&fields, &field).await.unwrap(), 5);
    let found = tenant
        .query_all(&fields, &Query::new([Filter::eq("webhookID", id)]))
        .await
        .unwrap();
    assert_eq!(found[0].field_id, Some(4));
    tenant.delete(&hooks, id).await.unwrap();
}

#[tokio::test]
async fn metadata_and_threshold_information() {
    let server = server().await;
    let zone = "/zone/ATServicesRest/V1.0";
    Mock::given(method("GET"))
        .and(path(format!("{zone}/TicketWebhooks/entityInformation")))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"info": {"name": "TicketWebhook", "canCreate": false, "canQuery": true}}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{zone}/Resources/entityInformation/fields")))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"fields": [{"name": "licenseType", "isPickList": true,
            "picklistValues": [{"value": "7", "label": "API User (system)", "isActive": true}]}]}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET")).and(path(format!("{zone}/ThresholdInformation")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"externalRequestThreshold": 10000, "requestThresholdTimeframe": 60, "currentTimeframeRequestCount": 124})))
        .mount(&server).await;
    let tenant = tenant(&server).await;
    let info = tenant
        .entity_information(&WebhookFamily::Ticket.webhooks())
        .await
        .unwrap();
    assert_eq!((info.can_create, info.can_query), (Some(false), Some(true)));
    let fields = tenant
        .field_information(&Resource::endpoint())
        .await
        .unwrap();
    assert_eq!(
        fields[0].picklist_value("api user (system)").unwrap().value,
        "7"
    );
    let threshold = tenant.threshold_information().await.unwrap();
    assert_eq!(threshold.current_timeframe_request_count, 124);
    tenant.get(&Resource::endpoint(), 1).await.ok();
    assert_eq!(
        tenant
            .last_threshold()
            .unwrap()
            .current_timeframe_request_count,
        125,
        "requests since are counted"
    );
}
