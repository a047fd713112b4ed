//! Zone discovery (per username, no credentials, trailing slash, case variants) and the 401
//! rules of authentication.

use autotask_sim::{NewApiUser, SeedApiUser};
use serde_json::Value as Json;

use crate::{Env, errors};

#[tokio::test]
async fn zone_discovery_answers_per_user_without_credentials_in_any_casing() {
    let env = Env::with(crate::test_config().with_database("globex")).await;
    let acme = env.seed();
    let globex = env
        .sim
        .db("globex")
        .unwrap()
        .seed_api_user(&SeedApiUser::default())
        .unwrap();
    let base = env.sim.base_url();
    for path in [
        "atservicesrest/v1.0/zoneInformation",
        "ATServicesRest/V1.0/ZoneInformation",
        "atservicesrest/V1.0/zoneinformation",
    ] {
        for (user, db) in [(&acme, "acme"), (&globex, "globex")] {
            let r = env
                .http
                .get(format!("{base}/{path}?user={}", user.user_name))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{path}");
            let z: Json = r.json().await.unwrap();
            assert_eq!(z["url"], env.sim.zone_url(db), "{path}");
            assert!(z["url"].as_str().unwrap().ends_with("/ATServicesRest/"));
            assert!(z["ci"].is_i64() && z["zoneName"].is_string());
        }
    }
    let r = env
        .http
        .get(format!(
            "{}?user=nobody@example.com",
            env.sim.zone_discovery_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    // Exempt from limits: not counted toward the threshold.
    assert_eq!(env.sim.db("acme").unwrap().threshold_count(), 0);
}

#[tokio::test]
async fn version_information_lists_1_0() {
    let env = Env::new().await;
    let r: Json = env
        .http
        .get(format!(
            "{}/atservicesrest/versioninformation",
            env.sim.base_url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["apiVersions"][0], "1.0");
}

#[tokio::test]
async fn every_authentication_mismatch_is_401() {
    let env = Env::new().await;
    let db = env.sim.db("acme").unwrap();
    let user = env.seed();
    let ok = env.api(&user);
    assert_eq!(ok.get("Resources/entityInformation").await.0, 200);

    let mut wrong_secret = ok.clone();
    wrong_secret.secret.push('x');
    let mut unknown = ok.clone();
    unknown.user = "nobody@acme.example.com".into();
    let mut other_code = ok.clone();
    other_code.code = "SIM-BARRACUDA-MSP-9X1C".into();
    let mut no_code = ok.clone();
    no_code.code = String::new();
    for (what, api) in [
        ("wrong secret", &wrong_secret),
        ("unknown user", &unknown),
        ("other vendor's code", &other_code),
        ("empty code", &no_code),
    ] {
        let (status, _) = api.get("Resources/entityInformation").await;
        assert_eq!(status, 401, "{what}");
    }

    db.set_locked(user.resource_id, true).unwrap();
    assert_eq!(ok.get("Resources/entityInformation").await.0, 401, "locked");
    db.set_locked(user.resource_id, false).unwrap();
    db.set_active(user.resource_id, false).unwrap();
    assert_eq!(
        ok.get("Resources/entityInformation").await.0,
        401,
        "inactive"
    );
    db.set_active(user.resource_id, true).unwrap();
    assert_eq!(
        ok.get("Resources/entityInformation").await.0,
        200,
        "reactivated"
    );

    // A user without a tracking identifier cannot call the API at all.
    let bare = db
        .create_api_user(&NewApiUser {
            first_name: "No".into(),
            last_name: "Vendor".into(),
            active: true,
            ..NewApiUser::default()
        })
        .unwrap();
    let mut api = ok.clone();
    api.user = bare.user_name.clone();
    api.secret = bare.secret.clone();
    assert_eq!(api.get("Resources/entityInformation").await.0, 401);
    // Custom (internal integration) code works once set.
    api.code = db.set_tracking_custom(bare.resource_id).unwrap();
    assert_eq!(api.get("Resources/entityInformation").await.0, 200);

    // A regenerated secret replaces the old one.
    let new_secret = db.generate_secret(user.resource_id).unwrap();
    assert_eq!(ok.get("Resources/entityInformation").await.0, 401);
    let mut renewed = ok.clone();
    renewed.secret = new_secret;
    let (s, b) = renewed.get("Resources/entityInformation").await;
    assert_eq!(s, 200, "{}", errors(&b));
}

#[tokio::test]
async fn databases_are_isolated() {
    let env = Env::with(crate::test_config().with_database("globex")).await;
    let user = env.seed();
    let mut api = env.api(&user);
    api.base = env.sim.api_url("globex");
    assert_eq!(api.get("Resources/entityInformation").await.0, 401);
    api.base = env.sim.api_url("nowhere");
    assert_eq!(api.get("Resources/entityInformation").await.0, 404);
}
