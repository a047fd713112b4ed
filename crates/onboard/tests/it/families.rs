//! Every webhook family out of the box: `onboard enqueue --families` with no field names
//! onboards all five families with their default fields through a real `onboard worker`
//! process; a misspelt `--fields` or `--udf-fields` label fails in `check_webhook_fields`,
//! before any operator step, listing the family's valid labels; a UDF is subscribed by its
//! label.

use std::time::{Duration, Instant};

use autotask_sim::{SeedApiUser, SimConfig};
use autotask_types::WebhookFamily;
use redis_test_server::{Options, RedisServer};
use serde_json::Value;

const KEY: &str = "3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

struct Cli<'a> {
    redis: &'a str,
    sim: &'a str,
}

impl Cli<'_> {
    fn command(&self, args: &[&str], secrets: &[(&str, &str)]) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_onboard"));
        c.args(args)
            .env_clear()
            .env("ONBOARD_REDIS_URL", self.redis)
            .env("ONBOARD_SECRET_KEY", KEY)
            .env("ONBOARD_AUTOTASK_BASE_URL", self.sim)
            .env("ONBOARD_METRICS_ADDR", "127.0.0.1:0")
            .env("RUST_LOG", "error")
            .envs(secrets.iter().copied())
            .kill_on_drop(true);
        c
    }

    async fn run(&self, args: &[&str], secrets: &[(&str, &str)]) -> (bool, String, String) {
        let o = self.command(args, secrets).output().await.unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    async fn status(&self, run: &str) -> Value {
        let (ok, out, err) = self.run(&["--json", "status", run], &[]).await;
        assert!(ok, "{err}");
        serde_json::from_str(&out).unwrap()
    }

    /// `onboard --json enqueue ...` succeeds; the run id.
    async fn enqueued(&self, args: &[&str], secrets: &[(&str, &str)]) -> String {
        let (ok, out, err) = self.run(args, secrets).await;
        assert!(ok, "{err}");
        serde_json::from_str::<Value>(&out).unwrap()["run_id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The operator confirms both attested steps, as `olga`.
    async fn ack_attested(&self, run: &str) {
        for attested in ["confirm_unassigned_lob_visibility", "confirm_vendor_active"] {
            let (ok, _, err) = self
                .run(&["ack", run, attested, "--operator", "olga"], &[])
                .await;
            assert!(ok, "{err}");
        }
    }

    /// Waits until the run is final.
    async fn finished(&self, run: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let s = self.status(run).await;
            if ["succeeded", "failed", "cancelled"].contains(&s["state"].as_str().unwrap()) {
                return s;
            }
            assert!(Instant::now() < deadline, "run did not finish: {s}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn step<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == name)
        .unwrap_or_else(|| panic!("no step {name} in {status}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_families_with_default_fields_and_a_misspelt_field_fails_first() {
    let redis = RedisServer::private(Options::default());
    let sim = autotask_sim::spawn(SimConfig::default().with_database("msp"))
        .await
        .unwrap();
    let db = sim.db("msp").unwrap();
    let cli = Cli {
        redis: redis.url(),
        sim: sim.base_url(),
    };
    let _worker = cli.command(&["worker"], &[]).spawn().unwrap();

    let user = db.seed_api_user(&SeedApiUser::default()).unwrap();
    let secrets = [
        ("ONBOARD_INTEGRATION_CODE", user.integration_code.as_str()),
        ("ONBOARD_NEW_SECRET", user.secret.as_str()),
    ];
    let enqueue = |tenant: &'static str, extra: &'static [&'static str]| {
        let mut args = vec![
            "--json",
            "enqueue",
            "--kind",
            "onboard",
            "--tenant",
            tenant,
            "--new-user",
            user.user_name.as_str(),
            "--webhook-url-base",
            "https://hooks.example/x",
        ];
        args.extend_from_slice(extra);
        args
    };

    // All five families, no field named anywhere.
    let run = cli
        .enqueued(
            &enqueue(
                "acme",
                &[
                    "--families",
                    "Company,Contact,ConfigurationItem,Ticket,TicketNote",
                ],
            ),
            &secrets,
        )
        .await;
    let (_, human, _) = cli.run(&["status", &run], &[]).await;
    assert!(
        human.contains("Company webhook fields: companyName, isActive")
            && human.contains(
                "ConfigurationItem webhook fields: serialNumber, referenceTitle, isActive"
            )
            && human.contains("Ticket webhook fields: Status, Priority"),
        "status shows each family's fields: {human}"
    );
    cli.ack_attested(&run).await;
    let status = cli.finished(&run).await;
    assert_eq!(status["state"], "succeeded", "{status:#}");
    for family in WebhookFamily::ALL {
        let hooks = db.webhooks(family);
        assert_eq!(hooks.len(), 1, "{family}: {hooks:?}");
        assert_eq!(hooks[0]["isActive"], true, "{family}");
        assert_eq!(hooks[0]["isReady"], true, "{family}");
    }

    // A misspelt label fails in seconds, before any operator step, naming the setting and
    // listing the valid labels closest first.
    let run = cli
        .enqueued(
            &enqueue(
                "globex",
                &[
                    "--fields",
                    "Company=companyNme,isActive",
                    "--udf-fields",
                    "Company=Sophos Tenant",
                ],
            ),
            &secrets,
        )
        .await;
    let status = cli.finished(&run).await;
    assert_eq!(status["state"], "failed", "{status:#}");
    let check = step(&status, "check_webhook_fields");
    let reason = check["state"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("setting `webhook_families[0].subscribed_fields[0]`")
            && reason.contains("\"companyNme\"; valid labels (closest first): companyName, ")
            && reason.contains(
                "setting `webhook_families[0].subscribed_udf_fields[0]`: Autotask offers no \
                 Company webhook user-defined field labelled \"Sophos Tenant\"; valid labels \
                 (closest first): Sophos Tenant ID, "
            ),
        "{check:#}"
    );
    for later in [
        "verify_api_user",
        "confirm_vendor_active",
        "ensure_webhooks",
    ] {
        assert_eq!(
            step(&status, later)["attempts"],
            0,
            "{later} never ran: {status:#}"
        );
    }
    let (_, human, _) = cli.run(&["status", &run], &[]).await;
    assert!(
        human.contains("(Deutsch)") && human.contains("Befund: Einstellung `webhook_families[0]"),
        "the German block is German: {human}"
    );

    // A user-defined field subscribed by its label.
    let run = cli
        .enqueued(
            &enqueue("hooli", &["--udf-fields", "Ticket=Sophos Tenant ID"]),
            &secrets,
        )
        .await;
    cli.ack_attested(&run).await;
    let status = cli.finished(&run).await;
    assert_eq!(status["state"], "succeeded", "{status:#}");
    let hooli = db
        .webhooks(WebhookFamily::Ticket)
        .into_iter()
        .find(|w| {
            w["webhookUrl"]
                .as_str()
                .is_some_and(|u| u.contains("/hooli/"))
        })
        .expect("hooli's Ticket webhook");
    let udfs: Vec<Value> = db
        .rows("TicketWebhookUdfFields")
        .unwrap()
        .into_iter()
        .filter(|r| r["webhookID"] == hooli["id"])
        .collect();
    assert_eq!(udfs.len(), 1, "{udfs:?}");
    assert_eq!(udfs[0]["udfFieldID"], 29682901);

    // A --fields spec that is not FAMILY=LABEL,... is refused and stores nothing.
    let (ok, _, err) = cli
        .run(&enqueue("initech", &["--fields", "Company"]), &secrets)
        .await;
    assert!(
        !ok && err.contains("--fields \"Company\": expected FAMILY=LABEL"),
        "{err}"
    );
    let (_, out, _) = cli
        .run(&["--json", "runs", "--tenant", "initech"], &[])
        .await;
    assert_eq!(out.trim(), "[]");
}
