//! Secrets (API secrets, integration codes, webhook secret keys) never appear in logs,
//! exported spans, or anywhere in Redis.

use autotask_sim::SeedApiUser;
use onboarding_steps::run::{RunKind, RunState};
use redis::AsyncCommands;

use crate::support::*;

#[tokio::test]
async fn no_secret_in_logs_spans_or_redis() {
    let e = env(&["globex"]).await;
    let previous = seed(&e.sim, "globex", SeedApiUser::default());
    let new = seed(
        &e.sim,
        "globex",
        SeedApiUser {
            last_name: "Two".into(),
            ..SeedApiUser::default()
        },
    );
    let _w = e.worker(4);
    e.onboarded("globex", &previous).await;
    let mut change = request(RunKind::ChangeApiUser, "globex", &new);
    change.previous_user = Some(credentials(&previous));
    let r = e.onboard.enqueue(change, None).await.unwrap();
    let run = e.finish(&r.run_id, 40).await;
    assert_eq!(run.state, RunState::Succeeded, "{:#?}", summary(&run));
    // The webhook secret keys onboard generated are secrets too.
    for hook in ticket_webhooks(&e.sim, "globex") {
        if let Some(key) = hook["secretKey"].as_str() {
            remember_secret(key);
        }
    }
    crate::support::PROVIDER
        .get()
        .unwrap()
        .force_flush()
        .unwrap();

    let secrets = SECRETS.lock().unwrap().clone();
    assert!(
        secrets.len() >= 4,
        "the test knows the secrets it checks for"
    );
    let logs = String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned();
    assert!(logs.contains("onboard.step"), "logs were captured");
    let spans = format!("{:?}", SPANS.lock().unwrap());
    assert!(spans.contains("http.request.method"), "spans were exported");

    let client = redis::Client::open(e.redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = conn.keys("*").await.unwrap();
    assert!(keys.len() > 5, "{keys:?}");
    let mut dump = Vec::new();
    for key in keys {
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        let values: Vec<Vec<u8>> = match kind.as_str() {
            "string" => vec![conn.get(&key).await.unwrap()],
            "hash" => conn.hgetall::<_, Vec<Vec<u8>>>(&key).await.unwrap(),
            "list" => conn.lrange(&key, 0, -1).await.unwrap(),
            "set" => conn.smembers(&key).await.unwrap(),
            "zset" => conn.zrange(&key, 0, -1).await.unwrap(),
            "stream" => vec![],
            other => panic!("unexpected key type {other} for {key}"),
        };
        dump.push(key.into_bytes());
        dump.extend(values);
    }
    for secret in &secrets {
        assert!(!logs.contains(secret.as_str()), "a secret is in the logs");
        assert!(
            !spans.contains(secret.as_str()),
            "a secret is in the exported spans"
        );
        for value in &dump {
            assert!(
                !value.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "a secret is in Redis in clear"
            );
        }
    }
}
