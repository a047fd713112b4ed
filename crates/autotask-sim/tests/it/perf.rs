//! Load: 16 concurrent clients with keep-alive connections on loopback, 4,000 authenticated
//! GETs and POST queries, every one answered 200. Prints requests per second for a reader;
//! the rate itself is not asserted (speed belongs to `make bench`, not to tests).

use std::time::Instant;

use futures::future::join_all;
use serde_json::json;

use crate::Env;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_thousands_of_concurrent_requests() {
    let mut cfg = crate::test_config();
    cfg.thread_limit = 1_000;
    cfg.databases[0].hourly_threshold = 1_000_000;
    let env = Env::with(cfg).await;
    let user = env.seed();
    let api = env.api(&user);
    let workers = 16;
    let per_worker = 250;
    let started = Instant::now();
    let results = join_all((0..workers).map(|w| {
        let api = api.clone();
        tokio::spawn(async move {
            let mut ok = 0;
            for i in 0..per_worker {
                let (s, _) = if (w + i) % 2 == 0 {
                    api.get(&format!("Resources/{}", 29682885)).await
                } else {
                    api.post(
                        "Resources/query",
                        json!({"filter": [{"op": "eq", "field": "isActive", "value": true}]}),
                    )
                    .await
                };
                ok += usize::from(s == 200);
            }
            ok
        })
    }))
    .await;
    let elapsed = started.elapsed();
    let ok: usize = results.into_iter().map(|r| r.unwrap()).sum();
    assert_eq!(ok, workers * per_worker);
    let rps = ok as f64 / elapsed.as_secs_f64();
    println!(
        "autotask-sim throughput: {ok} requests in {elapsed:?} = {rps:.0} requests/s (client and server share the process)"
    );
}
