//! The demo's three tenants (`crates/onboard/src/demo.rs`) in one simulator at once, against
//! the default and the strict simulator: acme onboarded by the book, globex changing its API
//! user while the previous one is inactive (admin credentials given), initech lacking the
//! webhook permission until the operator copies "API User (system)", enables webhooks and
//! assigns the copy (W1–W4). The operator also does what the strict simulator refuses to the
//! API: reactivating and deactivating globex's previous user in the web interface.

use autotask_sim::{Profile, SeedApiUser};
use onboarding_steps::StepName;
use onboarding_steps::run::{RunKind, RunState, StepState};

use crate::support::*;

both_profiles!(the_demos_three_tenants_all_succeed);

async fn the_demos_three_tenants_all_succeed(profile: Profile) {
    let e = env_in(profile, &["acme", "globex", "initech"]).await;
    let acme = seed(&e.sim, "acme", SeedApiUser::default());
    let initech = seed(
        &e.sim,
        "initech",
        SeedApiUser {
            webhook_max: None,
            ..SeedApiUser::default()
        },
    );
    let globex = e.sim.db("globex").unwrap();
    let previous = seed(&e.sim, "globex", SeedApiUser::default());
    let new = seed(
        &e.sim,
        "globex",
        SeedApiUser {
            last_name: "Two".into(),
            ..SeedApiUser::default()
        },
    );
    let admin = seed(
        &e.sim,
        "globex",
        SeedApiUser {
            last_name: "Admin".into(),
            ..SeedApiUser::default()
        },
    );
    globex
        .set_resource_admin(admin.security_level_id, true)
        .unwrap();
    let _w = e.worker(8);
    e.onboarded("globex", &previous).await;
    globex.set_active(previous.resource_id, false).unwrap();

    let mut change = request(RunKind::ChangeApiUser, "globex", &new);
    change.previous_user = Some(credentials(&previous));
    change.admin = Some(credentials(&admin));
    let mut ids = Vec::new();
    for r in [
        request(RunKind::Onboard, "acme", &acme),
        change,
        request(RunKind::Onboard, "initech", &initech),
    ] {
        ids.push(e.onboard.enqueue(r, None).await.unwrap().run_id);
    }
    let [acme_run, globex_run, initech_run] = [&ids[0], &ids[1], &ids[2]];

    // The operator: W1–W4 for initech once it asks.
    e.until(initech_run, 30, "initech waits for W1–W4", |run| {
        matches!(
            run.step(StepName::VerifyWebhookPermission).unwrap().state,
            StepState::WaitingForOperator { .. }
        )
    })
    .await;
    let db = e.sim.db("initech").unwrap();
    let system = db
        .security_levels()
        .into_iter()
        .find(|l| l.name == "API User (system)")
        .unwrap();
    let copy = db
        .copy_security_level(system.id, "API User (webhooks)")
        .unwrap();
    db.set_webhook_permission(copy.id, true, 10).unwrap();
    db.assign_security_level(initech.resource_id, copy.id)
        .unwrap();

    // The strict simulator refuses PATCH Resources isActive: the operator (re)activates.
    if profile == Profile::Strict {
        for (step, active) in [
            (StepName::ReactivatePreviousUser, true),
            (StepName::DeactivatePreviousUser, false),
        ] {
            e.until(globex_run, 30, &format!("globex waits at {step}"), |run| {
                matches!(
                    run.step(step).unwrap().state,
                    StepState::WaitingForOperator { .. }
                )
            })
            .await;
            globex.set_active(previous.resource_id, active).unwrap();
        }
    }

    for (tenant, id) in [
        ("acme", acme_run),
        ("globex", globex_run),
        ("initech", initech_run),
    ] {
        let run = e.finish(id, 40).await;
        assert_eq!(
            run.state,
            RunState::Succeeded,
            "{tenant}: {:#?}",
            summary(&run)
        );
        let owners: Vec<_> = ticket_webhooks(&e.sim, tenant)
            .iter()
            .map(|h| h["ownerResourceID"].as_i64().unwrap())
            .collect();
        let user = match tenant {
            "acme" => acme.resource_id,
            "globex" => new.resource_id,
            _ => initech.resource_id,
        };
        assert_eq!(owners, [user], "{tenant}: one webhook, the new user's");
    }
    assert!(!globex.api_user(previous.resource_id).unwrap().active);
}
