//! The thread limit per (integration code, endpoint), the hourly threshold with its latency
//! steps and refusal, and ThresholdInformation's live count.

use std::time::{Duration, Instant};

use autotask_sim::{DatabaseConfig, Fault, FaultRule, SimConfig};
use futures::future::join_all;

use crate::{Env, errors, test_config};

#[tokio::test]
async fn the_fourth_concurrent_request_per_code_and_endpoint_gets_429() {
    let env = Env::new().await;
    let user = env.seed();
    let api = env.api(&user);
    env.sim
        .add_fault(FaultRule::new(Fault::Latency { ms: 500 }).endpoint("Resources"));
    let calls = (0..4).map(|_| {
        let api = api.clone();
        async move { api.get("Resources/entityInformation").await }
    });
    let other = {
        let api = api.clone();
        async move { api.get("TicketWebhooks/entityInformation").await }
    };
    let (results, other) = tokio::join!(join_all(calls), other);
    let limited: Vec<_> = results.iter().filter(|(s, _)| *s == 429).collect();
    assert_eq!(limited.len(), 1, "{results:?}");
    assert!(
        errors(&limited[0].1).contains("Itgenatr005"),
        "{:?}",
        limited[0]
    );
    assert_eq!(results.iter().filter(|(s, _)| *s == 200).count(), 3);
    assert_eq!(other.0, 200, "another endpoint has its own budget");
    // Slots are given back.
    env.sim.clear_faults();
    assert_eq!(api.get("Resources/entityInformation").await.0, 200);
}

#[tokio::test]
async fn the_hourly_threshold_refuses_past_its_limit_and_threshold_information_counts() {
    let mut cfg = test_config();
    cfg.databases[0].hourly_threshold = 6;
    let env = Env::with(cfg).await;
    let api = env.api(&env.seed());
    let (s, b) = api.get("ThresholdInformation").await;
    assert_eq!(s, 200);
    assert_eq!(b["externalRequestThreshold"], 6);
    assert_eq!(b["requestThresholdTimeframe"], 60);
    assert_eq!(
        b["currentTimeframeRequestCount"], 1,
        "the call itself counts"
    );
    for _ in 0..4 {
        assert_eq!(api.get("Resources/entityInformation").await.0, 200);
    }
    let (_, b) = api.get("ThresholdInformation").await;
    assert_eq!(b["currentTimeframeRequestCount"], 6);
    let (s, b) = api.get("Resources/entityInformation").await;
    assert_eq!(s, 429);
    assert!(errors(&b).contains("threshold"), "{b}");
    assert_eq!(
        api.get("ThresholdInformation").await.0,
        429,
        "the whole database is suspended"
    );
    assert_eq!(
        env.sim.db("acme").unwrap().threshold_count(),
        6,
        "refusals are not counted"
    );
    // Zone discovery still answers.
    let r = env
        .http
        .get(format!(
            "{}?user={}",
            env.sim.zone_discovery_url(),
            api.user
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn latency_is_added_from_half_and_three_quarters_of_the_threshold() {
    let cfg = SimConfig {
        threshold_latency_50_ms: 400,
        threshold_latency_75_ms: 800,
        databases: vec![DatabaseConfig {
            hourly_threshold: 4,
            ..DatabaseConfig::named("acme")
        }],
        ..test_config()
    };
    let env = Env::with(cfg).await;
    let api = env.api(&env.seed());
    let mut took = Vec::new();
    for _ in 0..4 {
        let t = Instant::now();
        assert_eq!(api.get("Resources/entityInformation").await.0, 200);
        took.push(t.elapsed());
    }
    assert!(
        took[0] < Duration::from_millis(400) && took[1] < Duration::from_millis(400),
        "{took:?}"
    );
    assert!(
        took[2] >= Duration::from_millis(400) && took[2] < Duration::from_millis(800),
        "{took:?}"
    );
    assert!(took[3] >= Duration::from_millis(800), "{took:?}");
}

#[tokio::test]
async fn limits_are_per_database() {
    let mut cfg = test_config().with_database("globex");
    cfg.databases[0].hourly_threshold = 4;
    let env = Env::with(cfg).await;
    let acme = env.api(&env.seed());
    let globex_user = env
        .sim
        .db("globex")
        .unwrap()
        .seed_api_user(&autotask_sim::SeedApiUser::default())
        .unwrap();
    let mut globex = env.api(&globex_user);
    globex.base = env.sim.api_url("globex");
    assert_eq!(
        acme.code, globex.code,
        "the same vendor code in both databases"
    );
    env.sim
        .add_fault(FaultRule::new(Fault::Latency { ms: 300 }).endpoint("Resources"));
    let calls = [&acme, &acme, &acme, &globex, &globex, &globex].map(|api| {
        let api = api.clone();
        async move { api.get("Resources/entityInformation").await.0 }
    });
    assert_eq!(
        join_all(calls).await,
        vec![200; 6],
        "3 threads per database"
    );
    env.sim.clear_faults();
    assert_eq!(acme.get("Resources/entityInformation").await.0, 200);
    assert_eq!(
        acme.get("Resources/entityInformation").await.0,
        429,
        "acme used up"
    );
    assert_eq!(
        globex.get("Resources/entityInformation").await.0,
        200,
        "globex unaffected"
    );
}
