//! The `onboard` command as a user runs it: configuration errors that name the setting,
//! request errors that name the field, and enqueue → status → runs → cancel with human and
//! `--json` output, against a private `redis-server`.

use std::process::{Command, Output};

mod browser;
mod campaign;
mod doctor;
mod families;
mod keys;
mod redis_login;
mod sweep;
mod tokens;

use redis_test_server::{Options, RedisServer};

fn onboard(redis: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_onboard"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("ONBOARD_REDIS_URL", redis)
        .env(
            "ONBOARD_SECRET_KEY",
            "3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        )
        .envs(env.iter().copied())
        .output()
        .expect("run onboard")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn bad_settings_are_named_and_nothing_runs() {
    let o = onboard(
        "redis://127.0.0.1:1/",
        &["runs"],
        &[("ONBOARD_WORKER_CONCURRENCY", "many")],
    );
    assert!(!o.status.success());
    assert!(
        text(&o)
            .contains("worker.concurrency (ONBOARD_WORKER_CONCURRENCY): \"many\" is not a number"),
        "{}",
        text(&o)
    );
    let o = onboard(
        "redis://127.0.0.1:1/",
        &["enqueue", "--kind", "onboard", "--tenant", "acme"],
        &[("ONBOARD_SECRET_KEY", "short")],
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("ONBOARD_SECRET_KEY: "), "{}", text(&o));
    let o = onboard("redis://127.0.0.1:1/", &["ack", "r", "no_such_step"], &[]);
    assert!(
        text(&o).contains("unknown step \"no_such_step\""),
        "{}",
        text(&o)
    );
}

#[test]
fn enqueue_status_runs_and_cancel() {
    let redis = RedisServer::private(Options::default());
    let url = redis.url();
    let secrets = [
        ("ONBOARD_INTEGRATION_CODE", "VENDOR-CODE"),
        ("ONBOARD_NEW_SECRET", "s3cr3t-value"),
    ];
    // A bad request names the field and stores nothing.
    let o = onboard(
        url,
        &[
            "enqueue",
            "--kind",
            "onboard",
            "--tenant",
            "acme corp",
            "--new-user",
            "api@acme",
            "--webhook-url-base",
            "https://hooks.example/x",
        ],
        &secrets,
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("tenant_id"), "{}", text(&o));
    let o = onboard(
        url,
        &[
            "enqueue",
            "--kind",
            "onboard",
            "--tenant",
            "acme",
            "--new-user",
            "api@acme",
            "--webhook-url-base",
            "https://hooks.example/x",
        ],
        &[],
    );
    assert!(
        text(&o).contains("integration_code: missing"),
        "{}",
        text(&o)
    );

    let enqueue = [
        "--json",
        "enqueue",
        "--kind",
        "onboard",
        "--tenant",
        "acme",
        "--new-user",
        "api@acme",
        "--webhook-url-base",
        "https://hooks.example/x",
    ];
    let o = onboard(url, &enqueue, &secrets);
    assert!(o.status.success(), "{}", text(&o));
    let result: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let run = result["run_id"].as_str().unwrap().to_owned();
    assert_eq!(result["created"], true);
    let trace = result["trace_id"].as_str().unwrap_or_default();
    assert!(
        trace.len() == 32 && trace.bytes().all(|b| b.is_ascii_hexdigit()),
        "a run enqueued from the CLI has a trace of its own: {result}"
    );

    // The same request again finds the same run.
    let o = onboard(url, &enqueue, &secrets);
    let again: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (again["run_id"].as_str(), again["created"].as_bool()),
        (Some(run.as_str()), Some(false))
    );

    let o = onboard(url, &["status", &run], &[]);
    let human = text(&o);
    assert!(
        human.contains("state: queued")
            && human
                .contains("verify_webhook_permission            pending                       0"),
        "{human}"
    );
    let o = onboard(url, &["--json", "runs", "--tenant", "acme"], &[]);
    let runs: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 1);
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("s3cr3t-value"),
        "a secret in the run record"
    );

    let o = onboard(url, &["cancel", &run, "--operator", "olga"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let o = onboard(url, &["--json", "status", &run], &[]);
    let status: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(status["state"], "cancelled");
    assert!(
        status["audit"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["actor"]["id"] == "olga")
    );
    let o = onboard(url, &["cancel", &run], &[]);
    assert!(
        !o.status.success(),
        "a cancelled run cannot be cancelled again"
    );
    let o = onboard(url, &["--json", "dead", "list"], &[]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "[]");
}

#[tokio::test]
async fn bulk_onboards_a_cohort_then_verifies_it_changing_nothing() {
    let redis = RedisServer::private(Options::default());
    let sim = autotask_sim::spawn(autotask_sim::SimConfig::default().with_database("msp"))
        .await
        .unwrap();
    let db = sim.db("msp").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cohort: Vec<_> = (0..3)
        .map(|i| {
            let u = db.seed_api_user(&autotask_sim::SeedApiUser::default()).unwrap();
            serde_json::json!({
                "kind": "onboard", "tenant_id": format!("t{i}"),
                "settings": {"webhook_url_base": "https://hooks.example/x"},
                "new_user": {"integration_code": u.integration_code, "username": u.user_name, "secret": u.secret}
            })
            .to_string()
        })
        .collect();
    let file = dir.path().join("cohort.jsonl");
    std::fs::write(&file, cohort.join("\n")).unwrap();
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
    let _worker = command(&["worker"]).spawn().unwrap();
    let file = file.to_str().unwrap();
    let out = command(&[
        "bulk",
        "--file",
        file,
        "--wait",
        "--confirm-attested-as",
        "olga",
    ])
    .output()
    .await
    .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("3 run(s): 3 succeeded"), "{text}");
    assert!(
        text.contains("ensure_webhooks"),
        "the summary says what changed: {text}"
    );
    for t in sim
        .db("msp")
        .unwrap()
        .webhooks(autotask_types::WebhookFamily::Ticket)
    {
        assert_eq!(t["isActive"], true);
    }

    let out = command(&[
        "--json", "bulk", "--file", file, "--kind", "verify", "--wait",
    ])
    .output()
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = summary.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for row in rows {
        assert_eq!(row["state"], "succeeded", "{row}");
        assert_eq!(
            row["changed"],
            serde_json::json!([]),
            "a verify run changes nothing: {row}"
        );
    }
}

#[test]
fn a_closed_pipe_ends_a_command_quietly() {
    let redis = RedisServer::private(Options::default());
    for args in [
        &["--json", "runs"][..],
        &["runs"],
        &["--json", "dead", "list"],
    ] {
        // Like `onboard --json runs | head -0`: the reader is gone before onboard writes.
        let mut child = Command::new(env!("CARGO_BIN_EXE_onboard"))
            .args(args)
            .env_clear()
            .env("ONBOARD_REDIS_URL", redis.url())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run onboard");
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            o.status.success() && !err.contains("panicked") && err.is_empty(),
            "{args:?}: {:?} {err}",
            o.status
        );
    }
}

#[test]
fn a_cohort_with_one_bad_entry_enqueues_nothing() {
    let redis = RedisServer::private(Options::default());
    let dir = tempfile::tempdir().unwrap();
    let entry = |tenant: &str, name: &str, secret: &str| {
        serde_json::json!({
            "kind": "onboard", "tenant_id": tenant, "tenant_name": name,
            "settings": {"webhook_url_base": "https://hooks.example/x"},
            "new_user": {"integration_code": "C", "username": "u@a", "secret": secret}
        })
        .to_string()
    };
    for (second, expected) in [
        (
            entry("globex", &"x".repeat(300), "s"),
            "tenant_name`: must be at most 200 characters",
        ),
        (
            entry("globex", "Globex", &"s".repeat(201)),
            "new_user.secret: must be at most 200 characters",
        ),
    ] {
        let file = dir.path().join("cohort.jsonl");
        std::fs::write(&file, format!("{}\n{second}\n", entry("acme", "Acme", "s"))).unwrap();
        let o = onboard(
            redis.url(),
            &["bulk", "--file", file.to_str().unwrap()],
            &[],
        );
        let text = text(&o);
        assert!(!o.status.success(), "{text}");
        assert!(
            text.contains("entry 2 (tenant globex); nothing was enqueued")
                && text.contains(expected),
            "{text}"
        );
        assert!(!text.contains(&"s".repeat(201)), "the secret is not echoed");
        let o = onboard(redis.url(), &["--json", "runs"], &[]);
        assert_eq!(
            String::from_utf8_lossy(&o.stdout).trim(),
            "[]",
            "line 1 was not enqueued"
        );
    }
}

#[test]
fn a_toml_request_file_names_families_without_fields() {
    let redis = RedisServer::private(Options::default());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("request.toml");
    std::fs::write(
        &file,
        r#"
kind = "onboard"
tenant_id = "acme"

[settings]
webhook_url_base = "https://hooks.example/x"
webhook_families = ["Company", { family = "Ticket" }, { family = "Contact", subscribed_fields = ["emailAddress"] }]

[new_user]
integration_code = "C"
username = "api@acme"
secret = "s"
"#,
    )
    .unwrap();
    let o = onboard(
        redis.url(),
        &["enqueue", "--file", file.to_str().unwrap()],
        &[],
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("Company webhook fields: companyName, isActive")
            && out.contains("Ticket webhook fields: Status, Priority")
            && out.contains("Contact webhook fields: emailAddress"),
        "{out}"
    );
    std::fs::write(
        &file,
        "kind = \"onboard\"\ntenant_id = \"acme\"\n[settings]\nwebhook_url_base = \"https://h/x\"\nwebhook_families = [{ family = \"Company\", subscribed_field = [\"x\"] }]\n",
    )
    .unwrap();
    let o = onboard(
        redis.url(),
        &["enqueue", "--file", file.to_str().unwrap()],
        &[],
    );
    let out = text(&o);
    assert!(
        !o.status.success() && out.contains("unknown field `subscribed_field`"),
        "{out}"
    );
}
