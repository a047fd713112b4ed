//! Campaigns end to end: a cohort of simulated tenants run in waves by the campaign driver
//! and a real worker on a private Redis. The driver is ticked by the tests themselves
//! (`tick_once`), so what happens between ticks is decided by the test, not by timing.

use std::time::Duration;

use autotask_sim::SeedApiUser;
use onboarding_campaign::{CampaignOptions, CampaignState};
use onboarding_steps::StepName;
use onboarding_steps::run::{Run, RunKind, RunState, StepState};
use onboarding_worker::campaign_driver::Driver;
use onboarding_worker::campaigns::{CampaignFailure, CohortEntry};
use onboarding_worker::runs::RunFilter;
use redis::AsyncCommands;

use crate::support::{Env, env, request, seed, summary};

/// Tenants `t0 ..`, each its own simulated database; those in `failing` cannot create
/// webhooks (a lifetime maximum of zero), so their onboarding fails permanently.
fn cohort(e: &Env, tenants: &[&str], failing: &[&str]) -> Vec<CohortEntry> {
    tenants
        .iter()
        .map(|t| {
            let user = seed(
                &e.sim,
                t,
                SeedApiUser {
                    webhook_max: Some(if failing.contains(t) { 0 } else { 10 }),
                    ..SeedApiUser::default()
                },
            );
            CohortEntry {
                request: request(RunKind::Onboard, t, &user),
                zone: None,
            }
        })
        .collect()
}

fn options(canary: usize, wave_size: usize, rate: f64) -> CampaignOptions {
    CampaignOptions {
        kind: RunKind::Onboard,
        canary,
        wave_size,
        max_failure_rate: rate,
        pace_per_min: None,
        dry_run: false,
        confirm_attested_as: None,
    }
}

fn driver(e: &Env, name: &str) -> Driver {
    Driver {
        onboard: e.onboard.clone(),
        name: name.to_owned(),
        lease: Duration::from_secs(2),
        tick: Duration::from_millis(50),
    }
}

/// The campaign's runs, in cohort order (absent: not enqueued).
async fn runs(e: &Env, id: &str) -> Vec<Option<Run>> {
    let report = e.onboard.campaign_report(id).await.unwrap();
    let mut out = Vec::new();
    for row in report.tenants {
        out.push(match row.run {
            Some(r) => e.onboard.runs.get(&r).await.unwrap(),
            None => None,
        });
    }
    out
}

/// Ticks `driver` (and answers attested steps as an operator) until `check` holds for the
/// campaign's runs and record, or panics after `secs`.
async fn settle(
    e: &Env,
    driver: &Driver,
    id: &str,
    secs: u64,
    what: &str,
    check: impl Fn(&onboarding_campaign::Campaign, &[Option<Run>]) -> bool,
) -> Vec<Option<Run>> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        driver.tick_once().await.unwrap();
        let runs = runs(e, id).await;
        for run in runs.iter().flatten() {
            for s in &run.steps {
                if let StepState::WaitingForOperator {
                    next_check: None, ..
                } = s.state
                {
                    let _ = e.onboard.acknowledge(&run.id, s.step, "e2e-operator").await;
                }
            }
        }
        let c = e.onboard.campaign(id).await.unwrap().unwrap();
        if check(&c, &runs) {
            return runs;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "campaign {id}: {what} did not happen in {secs} s: {:#?}\n{:#?}",
            c,
            runs.iter().flatten().map(summary).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn step_starts(run: &Run) -> Vec<u64> {
    run.audit
        .iter()
        .filter(|a| a.step.is_some() && a.transition.ends_with("-> running"))
        .map(|a| a.at.as_millis())
        .collect()
}

#[tokio::test]
async fn a_campaign_runs_its_canary_then_waves_in_turn_and_reports_what_changed() {
    let tenants = ["t0", "t1", "t2", "t3", "t4"];
    let e = env(&tenants).await;
    let c = e
        .onboard
        .create_campaign(
            options(1, 2, 0.5),
            cohort(&e, &tenants, &[]),
            "e2e-operator",
        )
        .await
        .unwrap();
    let sizes: Vec<_> = c.waves.iter().map(|w| (w.size, w.canary)).collect();
    assert_eq!(sizes, vec![(1, true), (2, false), (2, false)]);
    let _w = e.worker(4);
    let d = driver(&e, "d1");
    let runs = settle(&e, &d, &c.id, 90, "completion", |c, _| {
        c.state == CampaignState::Completed
    })
    .await;
    let c = e.onboard.campaign(&c.id).await.unwrap().unwrap();
    // A wave's runs were all created after the previous wave's last run ended.
    for pair in c.waves.windows(2) {
        let finished = pair[0].finished_at.unwrap().as_millis();
        for run in &runs[pair[1].first..pair[1].first + pair[1].size] {
            let run = run.as_ref().unwrap();
            assert!(
                run.created_at.as_millis() >= finished,
                "wave {}",
                pair[1].index
            );
        }
        let last_end = (pair[0].first..pair[0].first + pair[0].size)
            .map(|i| runs[i].as_ref().unwrap().updated_at.as_millis())
            .max()
            .unwrap();
        assert!(finished >= last_end);
    }
    let report = e.onboard.campaign_report(&c.id).await.unwrap();
    assert_eq!(report.tenants.len(), 5);
    for row in &report.tenants {
        assert_eq!(row.state, "succeeded", "{row:?}");
        assert!(
            row.changed
                .iter()
                .any(|s| s == StepName::EnsureWebhooks.as_str()),
            "{row:?}"
        );
    }
    assert!(report.failures.is_empty());
    let csv = onboarding_campaign::report::csv(&report.tenants);
    assert_eq!(csv.lines().count(), 6);
    assert!(csv.lines().nth(1).unwrap().starts_with("1,0,t0,unknown,"));
    // Its sealed cohort is gone with the campaign; its runs hold their own credentials.
    let mut conn = redis::Client::open(e.redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let entries: bool = conn
        .exists(format!(
            "{{{}}}:campaign:{}:entries",
            e.worker_env.prefix, c.id
        ))
        .await
        .unwrap();
    assert!(!entries);
}

#[tokio::test]
async fn a_wave_failing_above_the_threshold_halts_the_campaign_and_says_why() {
    let tenants = ["h0", "h1", "h2", "h3"];
    let e = env(&tenants).await;
    let c = e
        .onboard
        .create_campaign(
            options(0, 2, 0.4),
            cohort(&e, &tenants, &["h0", "h1"]),
            "e2e-operator",
        )
        .await
        .unwrap();
    let _w = e.worker(4);
    let d = driver(&e, "d1");
    settle(&e, &d, &c.id, 60, "the halt", |c, _| {
        c.state == CampaignState::Halted
    })
    .await;
    let c = e.onboard.campaign(&c.id).await.unwrap().unwrap();
    let halt = c.halt.clone().unwrap();
    assert_eq!((halt.wave, halt.size, halt.threshold), (0, 2, 0.4));
    assert!(halt.failed >= 1 && halt.rate > 0.4, "{halt:?}");
    // Halted: ticks enqueue nothing of the next wave.
    for _ in 0..5 {
        d.tick_once().await.unwrap();
    }
    let report = e.onboard.campaign_report(&c.id).await.unwrap();
    assert_eq!(report.tenants[2].state, "not_started");
    assert_eq!(report.tenants[3].state, "not_started");
    // Once both failed: one group, by step and error class.
    settle(&e, &d, &c.id, 60, "both failures", |_, runs| {
        runs.iter()
            .flatten()
            .filter(|r| r.state == RunState::Failed)
            .count()
            == 2
    })
    .await;
    let report = e.onboard.campaign_report(&c.id).await.unwrap();
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    assert_eq!(report.failures[0].count, 2);
    assert_eq!(report.failures[0].error_class, "permanent");
    // Resume accepts the halted wave; the rest runs.
    e.onboard
        .resume_campaign(&c.id, "e2e-operator")
        .await
        .unwrap();
    settle(&e, &d, &c.id, 90, "completion", |c, _| {
        c.state == CampaignState::Completed
    })
    .await;
    let report = e.onboard.campaign_report(&c.id).await.unwrap();
    assert_eq!(report.tenants[3].state, "succeeded");
}

#[tokio::test]
async fn pause_holds_new_waves_resume_goes_on_and_abort_cancels_what_has_not_started() {
    let tenants = ["p0", "p1", "p2", "p3"];
    let e = env(&tenants).await;
    let c = e
        .onboard
        .create_campaign(
            options(0, 2, 0.5),
            cohort(&e, &tenants, &[]),
            "e2e-operator",
        )
        .await
        .unwrap();
    let d = driver(&e, "d1");
    // No worker yet: the first wave is enqueued and waits in the queue.
    d.tick_once().await.unwrap();
    let enqueued = |runs: &[Option<Run>]| runs.iter().flatten().count();
    assert_eq!(enqueued(&runs(&e, &c.id).await), 2);
    e.onboard
        .pause_campaign(&c.id, "e2e-operator")
        .await
        .unwrap();
    {
        let _w = e.worker(4);
        // In-flight runs finish while paused; the next wave does not start.
        settle(&e, &d, &c.id, 60, "the first wave ends", |_, runs| {
            runs.iter()
                .flatten()
                .all(|r| r.state == RunState::Succeeded)
        })
        .await;
        for _ in 0..5 {
            d.tick_once().await.unwrap();
        }
        let runs = runs(&e, &c.id).await;
        assert_eq!(enqueued(&runs), 2, "paused: nothing new");
        let c = e.onboard.campaign(&c.id).await.unwrap().unwrap();
        assert_eq!(c.state, CampaignState::Paused);
        assert!(c.waves[1].started_at.is_none());
    }
    // Worker stopped: resume enqueues the next wave, which then waits in the queue.
    e.onboard
        .resume_campaign(&c.id, "e2e-operator")
        .await
        .unwrap();
    d.tick_once().await.unwrap();
    assert_eq!(enqueued(&runs(&e, &c.id).await), 4);
    let (c, cancelled) = e
        .onboard
        .abort_campaign(&c.id, "e2e-operator")
        .await
        .unwrap();
    assert_eq!(cancelled, 2);
    assert_eq!(c.state, CampaignState::Aborted);
    let states: Vec<_> = runs(&e, &c.id)
        .await
        .iter()
        .map(|r| r.as_ref().unwrap().state)
        .collect();
    assert_eq!(
        states,
        vec![
            RunState::Succeeded,
            RunState::Succeeded,
            RunState::Cancelled,
            RunState::Cancelled
        ]
    );
    assert!(e.onboard.active_campaigns().await.unwrap().is_empty());
    assert!(matches!(
        e.onboard.resume_campaign(&c.id, "e2e-operator").await,
        Err(CampaignFailure::NotAllowed(_))
    ));
}

#[tokio::test]
async fn a_driver_that_dies_mid_wave_is_taken_over_and_no_tenant_runs_twice() {
    let tenants = ["k0", "k1", "k2", "k3", "k4", "k5"];
    let e = env(&tenants).await;
    let c = e
        .onboard
        .create_campaign(
            options(2, 2, 0.5),
            cohort(&e, &tenants, &[]),
            "e2e-operator",
        )
        .await
        .unwrap();
    let _w = e.worker(4);
    // Driver A runs on its own until the canary is done and wave 1 is enqueued, then dies
    // (its task is dropped at whatever await it was in), holding the lease.
    let a = driver(&e, "driver-a");
    let task = tokio::spawn(a.clone().run(std::future::pending()));
    let b = driver(&e, "driver-b");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let runs = runs(&e, &c.id).await;
        for run in runs.iter().flatten() {
            for s in &run.steps {
                if let StepState::WaitingForOperator {
                    next_check: None, ..
                } = s.state
                {
                    let _ = e.onboard.acknowledge(&run.id, s.step, "e2e-operator").await;
                }
            }
        }
        if runs.iter().flatten().count() >= 3 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "wave 1 did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    task.abort();
    let _ = task.await;
    // B does not act while A's lease lasts.
    assert!(
        !b.tick_once().await.unwrap(),
        "the dead driver's lease still holds"
    );
    // The crash window: an enqueue whose run was not recorded yet. B enqueues the entry
    // again and gets the same run back (its idempotency key).
    let mut conn = redis::Client::open(e.redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let runs_key = format!("{{{}}}:campaign:{}:runs", e.worker_env.prefix, c.id);
    let lost: String = conn.hget(&runs_key, 2).await.unwrap();
    let _: i64 = conn.hdel(&runs_key, 2).await.unwrap();
    let runs = settle(&e, &b, &c.id, 90, "completion under driver B", |c, _| {
        c.state == CampaignState::Completed
    })
    .await;
    assert_eq!(runs[2].as_ref().unwrap().id, lost);
    for t in tenants {
        let filter = RunFilter {
            tenant: Some(t.into()),
            ..RunFilter::default()
        };
        let of_tenant = e.onboard.runs.list(&filter, 0, 10).await.unwrap();
        assert_eq!(of_tenant.len(), 1, "tenant {t} has one run");
        assert_eq!(of_tenant[0].state, RunState::Succeeded);
    }
}

#[tokio::test]
async fn a_cohort_with_a_bad_entry_is_refused_whole_and_nothing_is_stored() {
    let tenants = ["v0", "v1", "v2"];
    let e = env(&tenants).await;
    let mut entries = cohort(&e, &tenants, &[]);
    entries[2].request.new_user.secret = String::new();
    let err = e
        .onboard
        .create_campaign(options(0, 2, 0.5), entries, "e2e-operator")
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "entry 3 (tenant v2): invalid request: new_user.secret: must not be empty; nothing was stored"
    );
    let mut entries = cohort(&e, &["v0", "v1"], &[]);
    entries.push(entries[0].clone());
    let err = e
        .onboard
        .create_campaign(options(0, 2, 0.5), entries, "e2e-operator")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("entry 3 (tenant v0): the tenant is already entry 1"),
        "{err}"
    );
    let mut conn = redis::Client::open(e.redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = conn
        .keys(format!("{{{}}}:campaign*", e.worker_env.prefix))
        .await
        .unwrap();
    assert!(keys.is_empty(), "{keys:?}");
    assert!(e.onboard.campaigns(0, 10).await.unwrap().is_empty());
    let all = e
        .onboard
        .runs
        .list(&RunFilter::default(), 0, 10)
        .await
        .unwrap();
    assert!(all.is_empty());
}

#[tokio::test]
async fn fresh_onboarding_goes_ahead_of_campaign_work() {
    let tenants = ["c0", "c1", "c2", "fresh"];
    let e = env(&tenants).await;
    let c = e
        .onboard
        .create_campaign(
            options(0, 3, 0.5),
            cohort(&e, &tenants[..3], &[]),
            "e2e-operator",
        )
        .await
        .unwrap();
    let d = driver(&e, "d1");
    d.tick_once().await.unwrap();
    // One step at a time, so the queue's order is what decides.
    let _w = e.worker(1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let started = runs(&e, &c.id).await.iter().flatten().any(|r| {
            r.steps.iter().any(|s| {
                s.state == StepState::Succeeded { changed: false }
                    || s.state == StepState::Succeeded { changed: true }
            })
        });
        if started {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the campaign did not start"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let user = seed(&e.sim, "fresh", SeedApiUser::default());
    let fresh = e
        .onboard
        .enqueue(request(RunKind::Onboard, "fresh", &user), None)
        .await
        .unwrap();
    for step in [
        StepName::ConfirmUnassignedLobVisibility,
        StepName::ConfirmVendorActive,
    ] {
        let _ = e
            .onboard
            .acknowledge(&fresh.run_id, step, "e2e-operator")
            .await;
    }
    let fresh = e.finish(&fresh.run_id, 60).await;
    assert_eq!(fresh.state, RunState::Succeeded, "{:#?}", summary(&fresh));
    let (from, to) = (fresh.created_at.as_millis(), fresh.updated_at.as_millis());
    // Campaign steps started while the fresh run was going: campaign runs are bulk work for
    // every step, so at most one slips in per fresh step (the job the worker had already
    // fetched while the fresh step ran: apalis polls its next job ahead). Were a campaign
    // run's later steps queued like fresh work, the campaign tenants would take turns with
    // the fresh one (measured: 15 campaign steps during 10 fresh ones).
    let fresh_steps = step_starts(&fresh).len();
    let overlapping: usize = runs(&e, &c.id)
        .await
        .iter()
        .flatten()
        .map(|r| {
            step_starts(r)
                .iter()
                .filter(|&&t| t > from && t < to)
                .count()
        })
        .sum();
    assert!(
        overlapping <= fresh_steps,
        "{overlapping} campaign steps started during the {fresh_steps} steps of a fresh onboarding"
    );
    settle(&e, &d, &c.id, 90, "completion", |c, _| {
        c.state == CampaignState::Completed
    })
    .await;
}

#[tokio::test]
async fn starts_are_paced_per_zone_and_one_zone_does_not_hold_back_another() {
    let tenants = ["z0", "z1", "z2", "z3"];
    let e = env(&tenants).await;
    let mut entries = cohort(&e, &tenants, &[]);
    for (entry, zone) in entries.iter_mut().zip(["ws5", "ws5", "ws2", "ws2"]) {
        entry.zone = Some(zone.into());
    }
    let mut o = options(0, 4, 0.5);
    o.pace_per_min = Some(60); // one start per second per zone
    let c = e
        .onboard
        .create_campaign(o, entries, "e2e-operator")
        .await
        .unwrap();
    let d = driver(&e, "d1");
    // The first tick starts one tenant of each zone, not two of the first zone.
    d.tick_once().await.unwrap();
    let started: Vec<bool> = runs(&e, &c.id).await.iter().map(Option::is_some).collect();
    assert_eq!(started, vec![true, false, true, false]);
    let runs = settle(&e, &d, &c.id, 30, "every start", |_, runs| {
        runs.iter().all(Option::is_some)
    })
    .await;
    // The driver paces its decisions a second apart; a run's `created_at` is taken a few
    // milliseconds later, at its enqueue, so two runs' times may differ from the pace by that
    // much either way (unpaced, they would be milliseconds apart).
    let created = |i: usize| runs[i].as_ref().unwrap().created_at.as_millis();
    let slack = 100;
    assert!(created(1) + slack >= created(0) + 1000, "ws5 paced");
    assert!(created(3) + slack >= created(2) + 1000, "ws2 paced");
}
