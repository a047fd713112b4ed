//! `onboard doctor` as a first real user runs it, against the in-process simulator: the
//! report's assumption statuses under the default and the strict profile, no write to
//! Autotask (the simulator's request log), a `--record` directory with no secret, username,
//! name, e-mail address or resource id of the seed, and the checked-in recording of the
//! strict simulator (`tests/fixtures/doctor/strict/`) replayed by `autotask_sim::spawn_replay`
//! with the same report.
//!
//! `UPDATE_DOCTOR_FIXTURE=1 cargo test -p onboard doctor` rewrites the checked-in recording.

use std::path::{Path, PathBuf};

use autotask_client::{AutotaskClient, ClientConfig, Credentials, Target};
use autotask_sim::replay::Replay;
use autotask_sim::{Profile, SeedApiUser, SimConfig, SimHandle};
use autotask_types::{Webhook, WebhookFamily};
use serde_json::Value;

struct Tenant {
    sim: SimHandle,
    code: String,
    /// (username, secret, first name, last name, resource id) of new, previous, admin.
    users: Vec<(String, String, String, String, i64)>,
}

/// A database with a new, a previous (owning a Ticket webhook) and an admin API user.
async fn tenant(profile: Profile) -> Tenant {
    let sim = autotask_sim::spawn(
        SimConfig::default()
            .with_profile(profile)
            .with_database("msp"),
    )
    .await
    .unwrap();
    let db = sim.db("msp").unwrap();
    let mut users = Vec::new();
    let mut code = String::new();
    for (first, last) in [
        ("Adaline", "Newcombe"),
        ("Priscilla", "Oldfield"),
        ("Admetus", "Rootwell"),
    ] {
        let u = db
            .seed_api_user(&SeedApiUser {
                first_name: first.into(),
                last_name: last.into(),
                ..SeedApiUser::default()
            })
            .unwrap();
        code = u.integration_code.clone();
        users.push((
            u.user_name.clone(),
            u.secret.clone(),
            first.to_owned(),
            last.to_owned(),
            u.resource_id,
        ));
        if first == "Admetus" {
            db.set_resource_admin(u.security_level_id, true).unwrap();
        }
    }
    let client = AutotaskClient::new(ClientConfig::new(Target::Explicit(
        sim.base_url().parse().unwrap(),
    )))
    .unwrap();
    let previous = client
        .tenant(Credentials::new(&code, &users[1].0, &users[1].1))
        .await
        .unwrap();
    let hook = Webhook {
        name: Some("old integration".into()),
        webhook_url: Some(format!(
            "https://hooks.msp.example/msp/{}/Ticket",
            users[1].4
        )),
        deactivation_url: Some("https://hooks.msp.example/deactivated".into()),
        secret_key: Some("0123456789abcdef-webhook-secret".into()),
        is_active: Some(true),
        is_subscribed_to_update_events: Some(true),
        notification_email_address: Some("ops-lead@msp.example".into()),
        ..Webhook::default()
    };
    previous
        .create(&WebhookFamily::Ticket.webhooks(), &hook)
        .await
        .unwrap();
    sim.clear_requests();
    Tenant { sim, code, users }
}

/// Runs `onboard --json doctor` against `base`; returns the report.
async fn doctor(base: &str, code: &str, users: &[(&str, &str)], record: Option<&Path>) -> Value {
    let mut args = vec![
        "--json".to_owned(),
        "doctor".into(),
        "--families".into(),
        "Ticket,Company".into(),
    ];
    for ((name, _), flag) in users
        .iter()
        .zip(["--new-user", "--previous-user", "--admin-user"])
    {
        args.push(flag.into());
        args.push((*name).into());
    }
    if let Some(dir) = record {
        args.push("--record".into());
        args.push(dir.display().to_string());
    }
    let o = tokio::process::Command::new(env!("CARGO_BIN_EXE_onboard"))
        .args(&args)
        .env_clear()
        .env("ONBOARD_AUTOTASK_BASE_URL", base)
        .env("RUST_LOG", "error")
        .env("ONBOARD_INTEGRATION_CODE", code)
        .envs(
            users
                .iter()
                .zip([
                    "ONBOARD_NEW_SECRET",
                    "ONBOARD_PREVIOUS_SECRET",
                    "ONBOARD_ADMIN_SECRET",
                ])
                .map(|((_, secret), var)| (var, *secret)),
        )
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"))
}

fn statuses(report: &Value) -> Vec<(String, String)> {
    report["assumptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap().to_owned(),
                a["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn fallbacks(report: &Value) -> Vec<(String, String)> {
    report["fallbacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["topic"].as_str().unwrap().to_owned(),
                f["path"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

/// What the strict simulator shows (and so its checked-in recording).
const STRICT: &[(&str, &str)] = &[
    ("zone", "holds"),
    ("threshold", "holds"),
    ("api_user", "holds"),
    ("resource_activation", "cannot_tell"),
    ("webhook_fields", "holds"),
    ("webhook_permission.Ticket", "holds"),
    ("webhook_permission.Company", "holds"),
    ("other_owners_webhooks_visible", "does_not_hold"),
    ("lines_of_business", "holds"),
    ("previous_credentials", "holds"),
    ("admin_credentials", "holds"),
];

const STRICT_FALLBACKS: &[(&str, &str)] = &[
    ("permission", "read from userAccessForCreate"),
    (
        "previous_user_activation",
        "REST, web interface (operator) if refused",
    ),
    ("changeover_audit", "previous user's credentials"),
];

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/doctor/strict")
}

/// Every request the doctor sent was a read: GETs and query POSTs only.
fn assert_no_write(sim: &SimHandle) {
    let requests = sim.requests();
    assert!(requests.len() > 10, "{requests:?}");
    for r in &requests {
        let path = r.path.split('?').next().unwrap_or_default();
        let read = r.method == "GET"
            || (r.method == "POST" && (path.ends_with("/query") || path.ends_with("/query/next")));
        assert!(read, "the doctor wrote: {} {}", r.method, r.path);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_tenant_report_no_write_and_a_redacted_recording() {
    let t = tenant(Profile::Strict).await;
    let dir = tempfile::tempdir().unwrap();
    let users: Vec<(&str, &str)> = t
        .users
        .iter()
        .map(|u| (u.0.as_str(), u.1.as_str()))
        .collect();
    let report = doctor(t.sim.base_url(), &t.code, &users, Some(dir.path())).await;
    assert_eq!(statuses(&report), pairs(STRICT), "{report:#}");
    assert_eq!(fallbacks(&report), pairs(STRICT_FALLBACKS), "{report:#}");
    assert_no_write(&t.sim);

    // The recording holds no secret, username, name, e-mail address or resource id.
    let mut forbidden = vec![
        t.code.clone(),
        "0123456789abcdef-webhook-secret".into(),
        "ops-lead@msp.example".into(),
        "hooks.msp.example".into(),
    ];
    for (name, secret, first, last, id) in &t.users {
        forbidden.extend([name.clone(), secret.clone(), first.clone(), last.clone()]);
        forbidden.push(id.to_string());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() > 10, "{files:?}");
    let mut seen_pseudonym = false;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for word in &forbidden {
            assert!(
                !text.contains(word.as_str()),
                "{} holds {word}:\n{text}",
                f.display()
            );
        }
        seen_pseudonym |= text.contains("\"previous-user\"") && text.contains("9000");
    }
    assert!(seen_pseudonym, "the recording names users by pseudonym");
    if std::env::var_os("UPDATE_DOCTOR_FIXTURE").is_some() {
        let _ = std::fs::remove_dir_all(fixture());
        std::fs::create_dir_all(fixture()).unwrap();
        for f in &files {
            std::fs::copy(f, fixture().join(f.file_name().unwrap())).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_tenant_shows_other_owners_and_unreadable_permissions() {
    let t = tenant(Profile::Default).await;
    let users: Vec<(&str, &str)> = t
        .users
        .iter()
        .map(|u| (u.0.as_str(), u.1.as_str()))
        .collect();
    let report = doctor(t.sim.base_url(), &t.code, &users, None).await;
    let expected: Vec<(String, String)> = pairs(STRICT)
        .into_iter()
        .map(|(id, s)| {
            let s = match id.as_str() {
                // `{}` as the contract shapes the access level: it cannot tell.
                "webhook_permission.Ticket" | "webhook_permission.Company" => "cannot_tell".into(),
                "other_owners_webhooks_visible" => "holds".into(),
                _ => s,
            };
            (id, s)
        })
        .collect();
    assert_eq!(statuses(&report), expected, "{report:#}");
    assert_eq!(
        fallbacks(&report)[0],
        ("permission".into(), "will show at webhook creation".into())
    );
    assert_no_write(&t.sim);

    // An unknown user: the zone does not answer, and the report that goes with a recording
    // names the user by its pseudonym only.
    let dir = tempfile::tempdir().unwrap();
    let unknown = [("nobody@msp.example", users[0].1)];
    let report = doctor(t.sim.base_url(), &t.code, &unknown, Some(dir.path())).await;
    assert_eq!(
        statuses(&report)[0],
        ("zone".into(), "does_not_hold".into())
    );
    let text = report.to_string();
    assert!(!text.contains("nobody@msp.example"), "{report:#}");
    assert!(text.contains("new-user"), "{report:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checked_in_strict_recording_replays_to_the_same_report() {
    let sim = autotask_sim::spawn_replay(SimConfig::default(), Replay::load(&fixture()).unwrap())
        .await
        .unwrap();
    let users = [
        ("new-user", "any-secret"),
        ("previous-user", "any-secret"),
        ("admin-user", "any-secret"),
    ];
    let report = doctor(sim.base_url(), "any-code", &users, None).await;
    assert_eq!(statuses(&report), pairs(STRICT), "{report:#}");
    assert_eq!(fallbacks(&report), pairs(STRICT_FALLBACKS), "{report:#}");
    assert_no_write(&sim);
    let unanswered: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.status == 404)
        .collect();
    assert!(
        unanswered.is_empty(),
        "not in the recording: {unanswered:?}"
    );
}
