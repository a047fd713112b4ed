//! The retry dashboard in a real browser: headless Debian `chromium` driven through
//! `chromedriver` (module `webdriver`) against a real `onboard api` and `onboard worker`
//! (this crate's binary, as processes), a private `redis-server` and the simulator. One
//! story, as an operator lives it: sign in; a run waits for an operator with its English and
//! German checklist; acknowledge by keyboard and watch the run succeed while the page
//! updates itself (never reloaded); a form posted from another origin is refused even with
//! a valid form token; cancel a run; a dead letter in its group (step and error class) is
//! retried after the cause is fixed and its run succeeds; a campaign is paused from its page;
//! the drift page is shown. Every page is checked with
//! axe-core inside the browser (no serious or critical finding) and photographed into
//! `target/dashboard-screenshots/`.
//!
//! Needs `chromium`, `chromedriver` and axe-core (`target/deploy-tools/axe-core/axe.min.js`):
//! `make deps` (deploy/scripts/install-deps.sh) installs them.

mod webdriver;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use autotask_client::{AutotaskClient, ClientConfig, Credentials, Target};
use autotask_sim::{SeedApiUser, SeededApiUser, SimConfig, SimHandle};
use autotask_types::{Webhook, WebhookFamily};
use redis_test_server::{Options, RedisServer};
use serde_json::{Value, json};
use webdriver::Browser;

const TOKEN: &str = "browser-test-operator-token";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

/// `onboard api` and `onboard worker` on a private Redis, against the simulator.
struct Stack {
    _redis: RedisServer,
    sim: SimHandle,
    api: Child,
    worker: Child,
    base: String,
    http: reqwest::Client,
}

impl Drop for Stack {
    fn drop(&mut self) {
        for child in [&mut self.api, &mut self.worker] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn onboard(redis: &str, sim: &str, args: &[&str], api_port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_onboard"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("ONBOARD_REDIS_URL", redis)
        .env("ONBOARD_PREFIX", "browser")
        .env(
            "ONBOARD_SECRET_KEY",
            "3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        )
        .env("ONBOARD_AUTOTASK_BASE_URL", sim)
        .env("ONBOARD_API_LISTEN", format!("127.0.0.1:{api_port}"))
        .env("ONBOARD_API_TOKEN", TOKEN)
        .env("ONBOARD_METRICS_ADDR", format!("127.0.0.1:{}", free_port()))
        .env(
            "ONBOARD_TRACE_URL",
            "https://traces.example/trace/{trace_id}",
        )
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start onboard")
}

impl Stack {
    async fn start(tenants: &[&str]) -> Stack {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let redis = RedisServer::private(Options::default());
        let mut config = SimConfig::default();
        for t in tenants {
            config = config.with_database(t);
        }
        let sim = autotask_sim::spawn(config).await.expect("simulator");
        let port = free_port();
        let api = onboard(redis.url(), sim.base_url(), &["api"], port);
        let worker = onboard(
            redis.url(),
            sim.base_url(),
            &["worker", "--concurrency", "4"],
            port,
        );
        let stack = Stack {
            _redis: redis,
            sim,
            api,
            worker,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while stack
            .http
            .get(format!("{}/readyz", stack.base))
            .send()
            .await
            .map(|r| !r.status().is_success())
            .unwrap_or(true)
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "onboard api did not become ready in 20 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        stack
    }

    fn seed(&self, db: &str, seed: SeedApiUser) -> SeededApiUser {
        self.sim.db(db).unwrap().seed_api_user(&seed).unwrap()
    }

    async fn enqueue(&self, tenant: &str, user: &SeededApiUser) -> String {
        let body = json!({
            "kind": "onboard",
            "tenant_id": tenant,
            "tenant_name": format!("{tenant} GmbH"),
            "settings": {"webhook_url_base": "https://hooks.sophos.example/autotask"},
            "new_user": {
                "integration_code": user.integration_code,
                "username": user.user_name,
                "secret": user.secret,
            }
        });
        let res = self.post("/v1/runs", &body).await;
        res["run_id"]
            .as_str()
            .unwrap_or_else(|| panic!("enqueue refused: {res}"))
            .to_owned()
    }

    /// POSTs `body` to the API's `path` with the operator token; the answer as JSON.
    async fn post(&self, path: &str, body: &Value) -> Value {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .json(body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn run(&self, id: &str) -> Value {
        self.http
            .get(format!("{}/v1/runs/{id}", self.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Waits until `check` holds for the run (read over the API), acknowledging attested
    /// steps on the way when `ack`; panics naming `what` after `secs`.
    async fn until(
        &self,
        id: &str,
        secs: u64,
        what: &str,
        ack: bool,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let run = self.run(id).await;
            if check(&run) {
                return run;
            }
            if ack {
                for s in run["steps"].as_array().into_iter().flatten() {
                    if s["state"]["state"] == "waiting_for_operator"
                        && s["state"]["next_check"].is_null()
                    {
                        let step = s["step"].as_str().unwrap_or_default();
                        let _ = self
                            .http
                            .post(format!("{}/v1/runs/{id}/steps/{step}/ack", self.base))
                            .bearer_auth(TOKEN)
                            .send()
                            .await;
                    }
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "run {id}: {what} did not happen in {secs} s: {run:#}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Injects axe-core and asserts no serious or critical finding on the page.
async fn axe(browser: &Browser, page: &str) {
    let path = target_dir().join("deploy-tools/axe-core/axe.min.js");
    let source = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run `make deps` (installs axe-core)",
            path.display()
        )
    });
    browser.exec(&source, json!([])).await;
    let found = browser
        .exec_async(
            "const done = arguments[arguments.length - 1];\
             axe.run(document, {resultTypes: ['violations']})\
               .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,\
                  nodes: v.nodes.map(n => n.target.join(' '))}))))\
               .catch(e => done('axe failed: ' + e));",
            json!([]),
        )
        .await;
    let findings = found
        .as_array()
        .unwrap_or_else(|| panic!("{page}: {found}"));
    let serious: Vec<&Value> = findings
        .iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .collect();
    assert!(
        serious.is_empty(),
        "{page}: axe-core found serious or critical accessibility problems: {serious:#?}"
    );
}

async fn shot(browser: &Browser, name: &str) {
    browser
        .screenshot(
            &target_dir()
                .join("dashboard-screenshots")
                .join(format!("{name}.png")),
        )
        .await;
}

/// A page of another origin with a form that posts to the dashboard (with a token copied
/// from a real page): what a hostile site would serve. Answers every request with it.
async fn hostile_site(action: String, csrf: String) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let html = format!(
        "<!doctype html><html lang=\"en\"><title>prize</title><form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><button id=\"win\">Claim your prize</button></form></html>"
    );
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut conn, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf).await;
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{html}",
                html.len()
            );
            let _ = conn.write_all(answer.as_bytes()).await;
        }
    });
    port
}

fn state_of(run: &Value) -> &str {
    run["state"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_works_the_dashboard_in_a_browser() {
    let stack = Stack::start(&["acme", "globex", "initech"]).await;
    let browser = Browser::start().await;
    let signed_in = stack
        .base
        .replace("http://", &format!("http://operator:{TOKEN}@"));

    // Sign in (HTTP Basic: any name, a token as password) and see the runs page.
    browser.goto(&format!("{signed_in}/dashboard")).await;
    browser
        .wait_text("the runs page", 10, |t| {
            t.contains("At a glance") && t.contains("Filter and search")
        })
        .await;
    shot(&browser, "01-runs-empty").await;
    axe(&browser, "runs page").await;

    // A run that waits for an operator: the overview shows it, its page the checklist.
    let acme = stack.seed("acme", SeedApiUser::default());
    let run = stack.enqueue("acme", &acme).await;
    browser
        .wait_text("the waiting run on the overview", 30, |t| {
            t.contains("Waiting for an operator (1)") && t.contains("acme:")
        })
        .await;
    shot(&browser, "02-runs-waiting").await;
    let link = browser
        .find("section[aria-labelledby=waiting] .box a")
        .await;
    browser.click(&link).await;
    browser
        .wait_text("the checklist", 10, |t| {
            t.contains("What to do in Autotask")
        })
        .await;
    let en = browser.find_all("div[lang=en] ol li").await;
    let de = browser.find_all("div[lang=de] ol li").await;
    assert!(
        !en.is_empty() && !de.is_empty(),
        "the checklist has English and German steps"
    );
    shot(&browser, "03-run-waiting").await;
    axe(&browser, "run page, waiting for an operator").await;

    // Acknowledge by keyboard: Tab to the button, Enter; then watch the run go on while
    // the page updates itself (a marker set in the page survives: no reload).
    let mut acknowledged = 0;
    loop {
        let run_now = stack.run(&run).await;
        if state_of(&run_now) == "succeeded" {
            break;
        }
        let buttons = browser.find_all("form[action*='/ack/'] button").await;
        if let Some(button) = buttons.first() {
            let mut reached = false;
            browser.exec("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);", json!([])).await;
            for _ in 0..60 {
                browser.press("\u{E004}").await; // Tab
                let focused = browser
                    .exec("return document.activeElement.outerHTML", json!([]))
                    .await;
                if focused.as_str().unwrap_or_default().contains("acknowledge") {
                    reached = true;
                    break;
                }
            }
            assert!(reached, "the acknowledge button is reachable by keyboard");
            let _ = button;
            let action = browser
                .exec(
                    "return document.activeElement.form ? document.activeElement.form.getAttribute('action') : ''",
                    json!([]),
                )
                .await;
            let action = action.as_str().unwrap_or_default().to_owned();
            // A marker on this page: the page the form's answer loads does not have it (the
            // old page also says "Step timeline", so waiting for the text alone could mark
            // the old page just before it goes).
            browser.exec("window.__beforeAck = true;", json!([])).await;
            browser.press("\u{E007}").await; // Enter
            acknowledged += 1;
            browser
                .wait_js(
                    "the run page after the acknowledgment",
                    10,
                    "return window.__beforeAck !== true && document.readyState === 'complete' && document.body.innerText.includes('Step timeline')",
                    json!([]),
                )
                .await;
            browser
                .exec("window.__notReloaded = true;", json!([]))
                .await;
            // The acknowledged step shows its button until the worker has taken it up: wait
            // (live updates, no reload) until that form is gone or the run has succeeded,
            // so the next round does not press the same button again.
            browser
                .wait_js(
                    &format!("the acknowledged step {action} taken up"),
                    30,
                    "return !Array.from(document.querySelectorAll('form')).some(f => f.getAttribute('action') === arguments[0]) || document.body.innerText.includes('state succeeded')",
                    json!([action]),
                )
                .await;
        }
        let text = browser
            .wait_text("the next acknowledgment or success, live", 30, |t| {
                t.contains("Done in Autotask") || t.contains("state succeeded")
            })
            .await;
        if text.contains("state succeeded") {
            break;
        }
        assert!(acknowledged < 5, "too many acknowledgments asked");
    }
    assert!(acknowledged >= 1, "the run asked for an acknowledgment");
    browser
        .wait_text("success shown on the page", 30, |t| {
            t.contains("state succeeded")
        })
        .await;
    let kept = browser
        .exec("return window.__notReloaded === true", json!([]))
        .await;
    assert_eq!(
        kept,
        json!(true),
        "the page showed the success without a reload"
    );
    let audit = stack.run(&run).await;
    assert!(
        audit["audit"].as_array().unwrap().iter().any(|a| a["actor"]
            == json!({"actor": "operator", "id": "api-token"})
            && a["transition"] == "acknowledged"),
        "the acknowledgment is in the audit trail under the token's name: {audit:#}"
    );
    shot(&browser, "04-run-succeeded").await;

    // Another run waits; a hostile page posts its cancel form with a valid token: refused.
    let globex = stack.seed("globex", SeedApiUser::default());
    let other = stack.enqueue("globex", &globex).await;
    stack
        .until(&other, 30, "waits for an operator", false, |r| {
            state_of(r) == "waiting_for_operator"
        })
        .await;
    browser
        .goto(&format!("{signed_in}/dashboard/runs/{other}"))
        .await;
    let csrf_field = browser
        .find("form[action$='/cancel'] input[name=csrf]")
        .await;
    let csrf = browser.property(&csrf_field, "value").await;
    let hostile = hostile_site(
        format!("{}/dashboard/runs/{other}/cancel", stack.base),
        csrf,
    )
    .await;
    browser.goto(&format!("http://localhost:{hostile}/")).await;
    let win = browser.find("#win").await;
    browser.click(&win).await;
    let refused = browser
        .wait_text("the refusal", 10, |t| {
            t.contains("refused") || t.contains("sign in")
        })
        .await;
    assert!(
        refused.contains("another origin"),
        "a signed-in browser's cross-origin post is refused as such: {refused}"
    );
    shot(&browser, "05-cross-origin-refused").await;
    assert_eq!(
        state_of(&stack.run(&other).await),
        "waiting_for_operator",
        "nothing changed"
    );

    // Cancel it from its own page.
    browser
        .goto(&format!("{signed_in}/dashboard/runs/{other}"))
        .await;
    let cancel = browser.find("form[action$='/cancel'] button").await;
    browser.click(&cancel).await;
    browser
        .wait_text("the cancelled run", 10, |t| t.contains("state cancelled"))
        .await;
    shot(&browser, "06-run-cancelled").await;
    assert_eq!(state_of(&stack.run(&other).await), "cancelled");

    // A dead letter: another integration owns the webhook URL this run needs.
    let initech = stack.seed("initech", SeedApiUser::default());
    let squatter = stack.seed(
        "initech",
        SeedApiUser {
            last_name: "Other tool".into(),
            ..SeedApiUser::default()
        },
    );
    let client = AutotaskClient::new(ClientConfig::new(Target::Explicit(
        url::Url::parse(stack.sim.base_url()).unwrap(),
    )))
    .unwrap();
    let other_tool = client
        .tenant(Credentials::new(
            &squatter.integration_code,
            &squatter.user_name,
            &squatter.secret,
        ))
        .await
        .unwrap();
    let url = format!(
        "https://hooks.sophos.example/autotask/initech/{}/ticket",
        initech.resource_id
    );
    let hook = Webhook {
        name: Some("someone else's".into()),
        webhook_url: Some(url.clone()),
        deactivation_url: Some(format!("{url}/gone")),
        secret_key: Some("another-secret-key".into()),
        is_active: Some(true),
        is_subscribed_to_create_events: Some(true),
        is_subscribed_to_update_events: Some(true),
        ..Webhook::default()
    };
    let squatting = other_tool
        .create(&WebhookFamily::Ticket.webhooks(), &hook)
        .await
        .unwrap();
    let doomed = stack.enqueue("initech", &initech).await;
    stack
        .until(&doomed, 30, "fails", true, |r| state_of(r) == "failed")
        .await;
    browser.goto(&format!("{signed_in}/dashboard/dead")).await;
    let text = browser
        .wait_text("the dead letter's group", 10, |t| {
            t.contains("ensure_webhooks") && t.contains("permanent")
        })
        .await;
    assert!(text.contains("1 dead letter(s)"), "{text}");
    shot(&browser, "07-dead-letters").await;
    axe(&browser, "dead letters page").await;

    // The operator removes the conflicting webhook, then retries the dead job.
    other_tool
        .delete(&WebhookFamily::Ticket.webhooks(), squatting)
        .await
        .unwrap();
    let retry = browser
        .find("form[action$='/retry'][action^='/dashboard/dead/'] button")
        .await;
    browser.click(&retry).await;
    browser
        .wait_text("the requeue notice", 10, |t| {
            t.contains("1 dead job(s) requeued.")
        })
        .await;
    shot(&browser, "08-dead-letter-requeued").await;
    stack
        .until(&doomed, 30, "succeeds after the retry", true, |r| {
            state_of(r) == "succeeded"
        })
        .await;
    browser
        .goto(&format!("{signed_in}/dashboard/runs/{doomed}"))
        .await;
    browser
        .wait_text("the retried run's success", 10, |t| {
            t.contains("state succeeded")
        })
        .await;

    // The filters find it by tenant and state.
    browser.goto(&format!("{signed_in}/dashboard?live=0")).await;
    let tenant = browser.find("#f-tenant").await;
    browser.type_into(&tenant, "initech").await;
    let apply = browser.find("form[role=search] button").await;
    browser.click(&apply).await;
    // The unfiltered page lists `doomed` too: wait for the list without the other runs
    // (the filter applied), not for `doomed` alone.
    browser
        .wait_text("the list filtered to initech", 10, |t| {
            t.contains(&doomed) && !t.contains(&run) && !t.contains(&other)
        })
        .await;
    shot(&browser, "09-runs-filtered").await;
    axe(&browser, "filtered runs page").await;

    // A campaign (paused right away, so its page holds still) and the drift page.
    let created = stack
        .post(
            "/v1/campaigns",
            &json!({
                "options": {"kind": "verify"},
                // An entry may leave out its kind: the campaign's applies.
                "cohort": [{
                    "tenant_id": "acme",
                    "settings": {"webhook_url_base": "https://hooks.sophos.example/autotask"},
                    "new_user": {
                        "integration_code": acme.integration_code,
                        "username": acme.user_name,
                        "secret": acme.secret,
                    },
                }],
            }),
        )
        .await;
    let campaign = created["id"]
        .as_str()
        .unwrap_or_else(|| panic!("campaign refused: {created}"))
        .to_owned();
    browser
        .goto(&format!("{signed_in}/dashboard/campaigns?live=0"))
        .await;
    let link = browser
        .find(&format!("a[href='/dashboard/campaigns/{campaign}']"))
        .await;
    browser.click(&link).await;
    let pause = browser
        .find(&format!(
            "form[action='/dashboard/campaigns/{campaign}/pause'] button"
        ))
        .await;
    browser.click(&pause).await;
    browser
        .wait_text("the paused campaign", 10, |t| {
            t.contains("State paused") && t.contains("Resume")
        })
        .await;
    shot(&browser, "10-campaign-paused").await;
    axe(&browser, "campaign page").await;
    browser
        .goto(&format!("{signed_in}/dashboard/campaigns?live=0"))
        .await;
    axe(&browser, "campaigns page").await;
    browser
        .goto(&format!("{signed_in}/dashboard/drift?live=0"))
        .await;
    browser
        .wait_text("the drift page", 10, |t| t.contains("Refused callouts"))
        .await;
    axe(&browser, "drift page").await;
}
