//! The operator console over HTTP: the seed procedure's web-interface steps, end to end, and
//! the checks the web interface makes (system levels read-only, API-only levels for API users).

use serde_json::{Value as Json, json};

use crate::Env;

#[tokio::test]
async fn the_seed_procedure_over_the_console_yields_a_working_api_user() {
    let env = Env::new().await;
    let base = format!("{}/_sim/databases/acme", env.sim.base_url());
    let http = &env.http;
    let send = |req: reqwest::RequestBuilder| async move {
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json::<Json>().await.unwrap_or(Json::Null))
    };
    // A3–A9.
    let (s, created) = send(http.post(format!("{base}/api-users")).json(&json!({
        "firstName": "Sophos", "lastName": "Central", "email": "psa@example.com", "active": true
    })))
    .await;
    assert_eq!(s, 200, "{created}");
    let id = created["resourceId"].as_i64().unwrap();
    let user = created["userName"].as_str().unwrap().to_owned();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(user.contains('@') && secret.len() >= 20);
    // W1–W4: the system level is read-only; copy it.
    let (s, _) = send(
        http.put(format!("{base}/security-levels/2/webhooks"))
            .json(&json!({"enabled": true, "max": 10})),
    )
    .await;
    assert_eq!(s, 409);
    let (s, level) = send(
        http.post(format!("{base}/security-levels/2/copy"))
            .json(&json!({"name": "API User (webhooks)"})),
    )
    .await;
    assert_eq!(s, 200);
    let level_id = level["id"].as_i64().unwrap();
    let (s, _) = send(
        http.put(format!("{base}/security-levels/{level_id}/webhooks"))
            .json(&json!({"enabled": true, "max": 10})),
    )
    .await;
    assert_eq!(s, 200);
    // A7: only API-only levels for API users.
    let (s, _) = send(
        http.put(format!("{base}/resources/{id}/security-level"))
            .json(&json!({"securityLevelId": 1})),
    )
    .await;
    assert_eq!(s, 409);
    let (s, _) = send(
        http.put(format!("{base}/resources/{id}/security-level"))
            .json(&json!({"securityLevelId": level_id})),
    )
    .await;
    assert_eq!(s, 200);
    // A10.
    let (_, vendors) = send(http.get(format!("{base}/integration-vendors"))).await;
    let sophos = vendors
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "Sophos Central - Security")
        .unwrap();
    assert!(sophos.get("code").is_none(), "vendor codes are not shown");
    let (s, _) = send(
        http.put(format!("{base}/resources/{id}/tracking-identifier"))
            .json(&json!({"vendor": "Sophos Central - Security"})),
    )
    .await;
    assert_eq!(s, 200);
    // A11–A12.
    let (s, view) = send(http.put(format!("{base}/resources/{id}/lines-of-business")).json(&json!({
        "names": ["General > IT Services", "General > Software Development"], "viewItemsWithNoLob": true
    })))
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        view["linesOfBusiness"],
        json!(["General > IT Services", "General > Software Development"])
    );
    assert_eq!(view["securityLevel"], "API User (webhooks)");
    assert_eq!(view["trackingIdentifier"], "Sophos Central - Security");
    // V1.
    let (s, vendors) = send(
        http.put(format!(
            "{base}/integration-vendors/{}/active",
            sophos["id"]
        ))
        .json(&json!({"active": true})),
    )
    .await;
    assert_eq!(s, 200);
    assert!(
        vendors
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["name"] == "Sophos Central - Security" && v["active"] == true)
    );
    // The user works against REST with the vendor's code.
    let r = http
        .get(format!(
            "{}TicketWebhooks/entityInformation",
            env.sim.api_url("acme")
        ))
        .header("ApiIntegrationCode", autotask_sim::SOPHOS_VENDOR_CODE)
        .header("UserName", &user)
        .header("Secret", &secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let info: Json = r.json().await.unwrap();
    assert_eq!(info["info"]["canCreate"], true);
    // Deactivate (C5 in reverse) through the console.
    let (s, view) = send(
        http.put(format!("{base}/resources/{id}/active"))
            .json(&json!({"active": false})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(view["active"], false);
    // Tickets and webhook listing.
    let (s, t) = send(
        http.post(format!("{base}/tickets"))
            .json(&json!({"fields": {"title": "Hello"}})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = send(
        http.patch(format!("{base}/tickets/{}", t["id"]))
            .json(&json!({"fields": {"status": 5}})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, hooks) = send(http.get(format!("{base}/webhooks/ticket"))).await;
    assert_eq!(s, 200);
    assert_eq!(hooks, json!([]));
    let (s, _) = send(http.get(format!(
        "{}/_sim/databases/nowhere/security-levels",
        env.sim.base_url()
    )))
    .await;
    assert_eq!(s, 404);
    // The whole seed in one call, the threshold view and the callout log.
    let (s, seeded) = send(http.post(format!("{base}/api-users/seed")).json(&json!({
        "firstName": "Quick", "lastName": "Seed", "webhookMax": 2
    })))
    .await;
    assert_eq!(s, 200, "{seeded}");
    assert_eq!(seeded["integrationCode"], autotask_sim::SOPHOS_VENDOR_CODE);
    let r = http
        .get(format!("{}ThresholdInformation", env.sim.api_url("acme")))
        .header(
            "ApiIntegrationCode",
            seeded["integrationCode"].as_str().unwrap(),
        )
        .header("UserName", seeded["userName"].as_str().unwrap())
        .header("Secret", seeded["secret"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (s, t) = send(http.get(format!("{base}/threshold"))).await;
    assert_eq!(s, 200);
    assert_eq!(t["currentCount"], 2);
    let (s, _) = send(
        http.put(format!("{base}/threshold"))
            .json(&json!({"hourlyThreshold": 2})),
    )
    .await;
    assert_eq!(s, 200);
    let r = http
        .get(format!("{}ThresholdInformation", env.sim.api_url("acme")))
        .header(
            "ApiIntegrationCode",
            seeded["integrationCode"].as_str().unwrap(),
        )
        .header("UserName", seeded["userName"].as_str().unwrap())
        .header("Secret", seeded["secret"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429, "the lowered threshold applies at once");
    let (s, log) = send(http.get(format!("{}/_sim/callouts", env.sim.base_url()))).await;
    assert_eq!((s, log), (200, json!([])));
}

#[tokio::test]
async fn databases_can_be_added_at_run_time_and_fixture_users_work() {
    let env = Env::new().await;
    let r = env
        .http
        .post(format!("{}/_sim/databases", env.sim.base_url()))
        .json(&json!({
            "name": "initech",
            "hourly_threshold": 500,
            "api_user": [{
                "first_name": "Old", "last_name": "Integration",
                "user_name": "old@initech.example.com", "secret": "Old$ecret123",
                "security_level": "API User (system)", "webhook_max": 3,
                "vendor": "Sophos Central - Security",
                "lines_of_business": ["General > IT Services"]
            }]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let z: Json = env
        .http
        .get(format!(
            "{}?user=old@initech.example.com",
            env.sim.zone_discovery_url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(z["url"], env.sim.zone_url("initech"));
    let r = env
        .http
        .get(format!(
            "{}V1.0/ThresholdInformation",
            z["url"].as_str().unwrap()
        ))
        .header("ApiIntegrationCode", autotask_sim::SOPHOS_VENDOR_CODE)
        .header("UserName", "old@initech.example.com")
        .header("Secret", "Old$ecret123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let t: Json = r.json().await.unwrap();
    assert_eq!(t["externalRequestThreshold"], 500);
    assert_eq!(env.sim.databases(), vec!["acme", "initech"]);
}
