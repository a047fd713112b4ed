//! `onboard campaign` as an operator runs it, with a real `onboard worker` process (whose
//! campaign driver moves the waves) against the simulator: a bad cohort entry is named and
//! nothing is stored; a campaign with a canary runs to completion and its report says what
//! changed per tenant; its tenants are then under care (`onboard care show|check|forget`,
//! `onboard drift`: a lost webhook permission found by a check opens a repair run); a second
//! campaign whose tenants cannot create webhooks halts itself and says why.

use std::time::Duration;

use serde_json::{Value, json};

use redis_test_server::{Options, RedisServer};

#[tokio::test]
async fn a_campaign_from_create_to_report_then_care_and_one_that_halts() {
    let redis = RedisServer::private(Options::default());
    let sim = autotask_sim::spawn(autotask_sim::SimConfig::default().with_database("msp"))
        .await
        .unwrap();
    let db = sim.db("msp").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let users: Vec<_> = (0..4)
        .map(|_| {
            db.seed_api_user(&autotask_sim::SeedApiUser::default())
                .unwrap()
        })
        .collect();
    let entries: Vec<Value> = users
        .iter()
        .enumerate()
        .map(|(i, u)| {
            json!({
                "kind": "onboard", "tenant_id": format!("t{i}"),
                "settings": {"webhook_url_base": "https://hooks.example/x"},
                "new_user": {"integration_code": u.integration_code, "username": u.user_name, "secret": u.secret},
                "zone": if i % 2 == 0 { "webservices5" } else { "webservices2" },
            })
        })
        .collect();
    let write = |name: &str, entries: &[Value]| {
        let path = dir.path().join(name);
        let lines: Vec<String> = entries.iter().map(Value::to_string).collect();
        std::fs::write(&path, lines.join("\n")).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let key = "3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let command = |args: &[&str]| {
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_onboard"));
        c.args(args)
            .env_clear()
            .env("ONBOARD_REDIS_URL", redis.url())
            .env("ONBOARD_SECRET_KEY", key)
            .env("ONBOARD_AUTOTASK_BASE_URL", sim.base_url())
            .env("ONBOARD_METRICS_ADDR", "127.0.0.1:0")
            .env("RUST_LOG", "error")
            .kill_on_drop(true);
        c
    };
    let run = |args: Vec<String>| {
        let mut c = command(&args.iter().map(String::as_str).collect::<Vec<_>>());
        async move {
            let out = c.output().await.unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            (out.status.success(), text)
        }
    };
    let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();

    // A bad entry: named, nothing stored.
    let mut bad = entries.clone();
    bad[2]["new_user"]["secret"] = json!("");
    let bad = write("bad.jsonl", &bad);
    let (ok, text) = run(args(&[
        "campaign", "create", "--file", &bad, "--kind", "onboard",
    ]))
    .await;
    assert!(!ok);
    assert!(
        text.contains("entry 3 (tenant t2): invalid request: new_user.secret: must not be empty; nothing was stored"),
        "{text}"
    );
    let (ok, text) = run(args(&["--json", "campaign", "list"])).await;
    assert!(ok, "{text}");
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), json!([]));

    let _worker = command(&["worker"]).spawn().unwrap();
    let good = write("cohort.jsonl", &entries);
    let (ok, text) = run(args(&[
        "--json",
        "campaign",
        "create",
        "--file",
        &good,
        "--kind",
        "onboard",
        "--canary",
        "1",
        "--wave-size",
        "2",
        "--pace",
        "600/min",
        "--confirm-attested-as",
        "olga",
    ]))
    .await;
    assert!(ok, "{text}");
    let created: Value = serde_json::from_str(&text).unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created["zones"],
        json!({"webservices2": 2, "webservices5": 2})
    );
    let shown = until(&run, &id, "completed").await;
    let waves = shown["campaign"]["waves"].as_array().unwrap();
    assert_eq!(waves.len(), 3);
    assert_eq!(waves[0]["canary"], true);
    let (ok, human) = run(args(&["campaign", "show", &id])).await;
    assert!(
        ok && human.contains(&format!("campaign {id}: completed")),
        "{human}"
    );
    let (ok, csv) = run(args(&["campaign", "report", &id, "--csv"])).await;
    assert!(ok, "{csv}");
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 4, "{csv}");
    for row in rows {
        assert!(
            row.contains(",succeeded,") && row.contains("ensure_webhooks"),
            "{row}"
        );
    }

    // The campaign's tenants are under care (registered right after each run's success).
    poll(&run, &["care", "show", "t0"], |_| Some(())).await;
    let (ok, text) = run(args(&["care", "show", "t0"])).await;
    assert!(ok, "{text}");
    assert!(text.contains("t0 (t0) is under care"), "{text}");
    assert!(text.contains(&users[0].user_name), "{text}");
    assert!(text.contains("no drift found"), "{text}");
    // t0's API user loses the webhook permission; a check now finds it and opens a repair
    // run, which waits for the operator at the step that says what to do.
    db.set_webhook_permission(users[0].security_level_id, false, 0)
        .unwrap();
    let (ok, text) = run(args(&["--json", "care", "check", "t0"])).await;
    assert!(ok, "{text}");
    let check = serde_json::from_str::<Value>(&text).unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let finding = until_found(&run, "t0").await;
    assert_eq!(finding["kind"], "permission", "{finding:#}");
    assert_eq!(finding["check_run"], json!(check), "{finding:#}");
    let repair = finding["repair_run"].as_str().unwrap().to_owned();
    let (ok, text) = run(args(&["--json", "status", &repair])).await;
    assert!(ok, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["request"]["kind"],
        "repair"
    );
    let (ok, text) = run(args(&["drift"])).await;
    assert!(
        ok && text.contains(&repair) && text.contains("permission"),
        "{text}"
    );
    // Taken out of care: nothing to show or check any more; its findings stay.
    let (ok, text) = run(args(&["care", "forget", "t0"])).await;
    assert!(ok && text.contains("t0 is no longer under care"), "{text}");
    for verb in ["show", "check", "forget"] {
        let (ok, text) = run(args(&["care", verb, "t0"])).await;
        assert!(
            !ok && text.contains("tenant t0 is not under care"),
            "{verb}: {text}"
        );
    }
    let (ok, text) = run(args(&["care", "show", "t1"])).await;
    assert!(ok, "{text}");
    let (ok, text) = run(args(&["care", "show", "not a tenant!"])).await;
    assert!(!ok && text.contains("tenant:"), "{text}");

    // Tenants whose API user may not create webhooks (a lifetime maximum of zero) fail
    // permanently: the first wave's failure rate halts the campaign.
    let failing: Vec<Value> = (0..4)
        .map(|i| {
            let u = db
                .seed_api_user(&autotask_sim::SeedApiUser {
                    webhook_max: Some(0),
                    ..autotask_sim::SeedApiUser::default()
                })
                .unwrap();
            json!({
                "kind": "onboard", "tenant_id": format!("f{i}"),
                "settings": {"webhook_url_base": format!("https://hooks.example/f{i}")},
                "new_user": {"integration_code": u.integration_code, "username": u.user_name, "secret": u.secret},
            })
        })
        .collect();
    let failing = write("failing.jsonl", &failing);
    let (ok, text) = run(args(&[
        "--json",
        "campaign",
        "create",
        "--file",
        &failing,
        "--kind",
        "verify",
        "--wave-size",
        "2",
        "--max-failure-rate",
        "0.4",
    ]))
    .await;
    assert!(ok, "{text}");
    let id = serde_json::from_str::<Value>(&text).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let shown = until(&run, &id, "halted").await;
    assert_eq!(shown["campaign"]["halt"]["wave"], 0);
    assert_eq!(shown["campaign"]["halt"]["threshold"], 0.4);
    let (_, human) = run(args(&["campaign", "show", &id])).await;
    assert!(human.contains("halted: wave 0 failed"), "{human}");
    assert!(human.contains("above the threshold of 40.0 %"), "{human}");
    let (ok, text) = run(args(&["campaign", "abort", &id])).await;
    assert!(ok && text.contains("aborted"), "{text}");
}

/// Runs the `--json` command `args` every 200 ms until it succeeds and `pick` finds what it
/// waits for in the answer (or panics after 90 s with the last answer).
async fn poll<F, Fut, T>(run: &F, args: &[&str], pick: impl Fn(&Value) -> Option<T>) -> T
where
    F: Fn(Vec<String>) -> Fut,
    Fut: std::future::Future<Output = (bool, String)>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let mut argv = vec!["--json".to_owned()];
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        let (ok, text) = run(argv).await;
        if let Some(found) = ok
            .then(|| serde_json::from_str::<Value>(&text).ok())
            .flatten()
            .and_then(|v| pick(&v))
        {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "`onboard {}` did not show what the test waits for in 90 s: {text}",
            args.join(" ")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Polls `campaign show` until the campaign is in `state`.
async fn until<F, Fut>(run: &F, id: &str, state: &str) -> Value
where
    F: Fn(Vec<String>) -> Fut,
    Fut: std::future::Future<Output = (bool, String)>,
{
    poll(run, &["campaign", "show", id], |shown| {
        (shown["campaign"]["state"] == state).then(|| shown.clone())
    })
    .await
}

/// Polls `drift --tenant T` until a finding with a repair run is listed.
async fn until_found<F, Fut>(run: &F, tenant: &str) -> Value
where
    F: Fn(Vec<String>) -> Fut,
    Fut: std::future::Future<Output = (bool, String)>,
{
    poll(run, &["drift", "--tenant", tenant], |listed| {
        listed["findings"]
            .as_array()?
            .iter()
            .find(|f| f["repair_run"].is_string())
            .cloned()
    })
    .await
}
