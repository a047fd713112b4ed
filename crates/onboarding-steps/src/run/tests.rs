//! Tests of the run model: sequences and conditions, transitions, attempts and their
//! outcomes, dry runs.

use super::*;
use crate::catalog::StepName;
use crate::catalog::StepName as S;
use crate::observe::CallFailure;
use crate::payload::{CredentialRef, TraceContext};
use crate::plan::{Drift, Fact, LeftoverCheck, Refusal};
use crate::retry::{ErrorClass, StepSchedule};
use crate::settings::TenantSettings;
use crate::{Error, Timestamp};

#[test]
fn an_unchecked_changeover_is_a_note_a_checked_one_is_not() {
    let mut facts = RunFacts::default();
    for (check, noted) in [
        (LeftoverCheck::PreviousCredentials, false),
        (LeftoverCheck::AtCleanup, false),
        (
            LeftoverCheck::NotChecked {
                reason: "no credentials".into(),
            },
            true,
        ),
    ] {
        facts.record(&Fact::ChangeoverVerified {
            webhooks: Vec::new(),
            leftovers: Some(check),
        });
        let notes = facts.notes();
        assert_eq!(notes.len(), usize::from(noted), "{notes:?}");
        if noted {
            assert_eq!(
                notes[0],
                "verify_changeover: the previous user's webhooks could NOT be checked: no \
                 credentials"
            );
        }
    }
    // Records written before the check existed still read.
    let old: Fact =
        serde_json::from_str(r#"{"fact":"changeover_verified","webhooks":[]}"#).unwrap();
    assert_eq!(
        old,
        Fact::ChangeoverVerified {
            webhooks: Vec::new(),
            leftovers: None
        }
    );
}

fn request(kind: RunKind) -> RunRequest {
    RunRequest {
        kind,
        tenant_id: "acme".into(),
        tenant_name: "Acme GmbH".into(),
        settings: TenantSettings::new("https://hooks.example.com/at"),
        new_user_name: "new@example.com".into(),
        previous_user_name: Some("old@example.com".into()),
        credentials: RunCredentials {
            new: CredentialRef("vault:acme/new".into()),
            previous: Some(CredentialRef("vault:acme/old".into())),
            admin: None,
        },
        dry_run: false,
    }
}

fn run(kind: RunKind) -> Run {
    Run::new(
        "run-1",
        "key-1",
        request(kind),
        TraceContext::default(),
        Timestamp(0),
    )
    .unwrap()
}

const W: fn() -> Actor = || Actor::Worker("w1".into());

#[test]
fn every_run_state_transition_is_checked() {
    use RunState::*;
    let mut allowed = Vec::new();
    for from in RunState::ALL {
        for to in RunState::ALL {
            let mut r = run(RunKind::Onboard);
            r.state = *from;
            let res = r.set_state(*to, Timestamp(5), W(), "");
            assert_eq!(res.is_ok(), from.allows(*to));
            if res.is_ok() {
                allowed.push(format!("{} -> {}", from.as_str(), to.as_str()));
                assert_eq!(r.state, *to);
                assert_eq!(r.audit.last().unwrap().at, Timestamp(5));
            } else {
                assert_eq!(r.state, *from, "a refused transition changes nothing");
                assert_eq!(r.audit.len(), 1);
            }
        }
    }
    expect_test::expect![[r#"
        [
            "queued -> running",
            "queued -> cancelled",
            "running -> waiting_for_operator",
            "running -> succeeded",
            "running -> failed",
            "running -> cancelled",
            "waiting_for_operator -> running",
            "waiting_for_operator -> failed",
            "waiting_for_operator -> cancelled",
            "failed -> queued",
        ]
    "#]]
    .assert_debug_eq(&allowed);
    let mut r = run(RunKind::Onboard);
    r.state = Succeeded;
    assert_eq!(
        r.set_state(Running, Timestamp(1), W(), "")
            .unwrap_err()
            .to_string(),
        "illegal run transition from succeeded to running"
    );
    assert!(Succeeded.is_final() && Cancelled.is_final() && !Running.is_final());
}

#[test]
fn every_step_state_transition_is_checked() {
    let mut allowed = Vec::new();
    for from in StepStatus::ALL {
        for to in StepStatus::ALL {
            if from.allows(*to) {
                allowed.push(format!("{} -> {}", from.as_str(), to.as_str()));
            }
        }
    }
    expect_test::expect![[r#"
        [
            "pending -> running",
            "pending -> skipped",
            "running -> retry_scheduled",
            "running -> waiting_for_operator",
            "running -> succeeded",
            "running -> failed",
            "retry_scheduled -> running",
            "retry_scheduled -> failed",
            "waiting_for_operator -> running",
            "waiting_for_operator -> succeeded",
            "waiting_for_operator -> failed",
            "failed -> pending",
        ]
    "#]]
    .assert_debug_eq(&allowed);

    let mut r = run(RunKind::Onboard);
    let s = StepName::ResolveZone;
    let err = r
        .set_step_state(
            s,
            StepState::Succeeded { changed: false },
            Timestamp(1),
            W(),
            "",
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "illegal transition of step resolve_zone from pending to succeeded"
    );
    r.set_step_state(s, StepState::Running { attempt: 1 }, Timestamp(1), W(), "")
        .unwrap();
    r.set_step_state(
        s,
        StepState::Succeeded { changed: false },
        Timestamp(2),
        W(),
        "ok",
    )
    .unwrap();
    assert!(
        r.set_step_state(s, StepState::Running { attempt: 2 }, Timestamp(3), W(), "")
            .is_err()
    );
    assert_eq!(
        r.set_step_state(
            StepName::VerifyChangeover,
            StepState::Pending,
            Timestamp(3),
            W(),
            ""
        ),
        Err(Error::UnknownStep {
            step: StepName::VerifyChangeover
        })
    );
    let audit: Vec<_> = r
        .audit
        .iter()
        .map(|e| {
            format!(
                "{} {:?} {:?} {} {}",
                e.at, e.actor, e.step, e.transition, e.detail
            )
        })
        .collect();
    expect_test::expect![[r#"
        [
            "0ms System None -> queued ",
            "1ms Worker(\"w1\") Some(ResolveZone) pending -> running ",
            "2ms Worker(\"w1\") Some(ResolveZone) running -> succeeded ok",
        ]
    "#]]
    .assert_debug_eq(&audit);
}

#[test]
fn sequences_and_conditions() {
    let names = |k: RunKind| {
        k.sequence()
            .iter()
            .map(|e| match e.condition {
                Condition::Always => e.step.to_string(),
                c => format!("{} [{c:?}]", e.step),
            })
            .collect::<Vec<_>>()
    };
    expect_test::expect![[r#"
        [
            "resolve_zone",
            "check_api_budget",
            "find_previous_webhooks",
            "reactivate_previous_user [PreviousUserInactive]",
            "delete_previous_webhooks",
            "deactivate_previous_user [Deactivation]",
            "verify_changeover",
        ]
    "#]]
    .assert_debug_eq(&names(RunKind::CleanupWebhooks));
    assert_eq!(names(RunKind::Onboard).len(), 10);
    assert_eq!(names(RunKind::ChangeApiUser).len(), 15);
    assert!(
        RunKind::Verify
            .sequence()
            .iter()
            .all(|e| e.step.is_read_only() || e.step == StepName::EnsureWebhooks)
    );
    assert!(RunKind::Verify.verify_only());
}

fn finish(r: &mut Run, step: StepName) {
    r.set_step_state(
        step,
        StepState::Running { attempt: 1 },
        Timestamp(1),
        W(),
        "",
    )
    .unwrap();
    r.set_step_state(
        step,
        StepState::Succeeded { changed: true },
        Timestamp(2),
        W(),
        "",
    )
    .unwrap();
}

#[test]
fn reactivation_only_when_inactive_and_deactivation_only_after_cleanup() {
    // Previous user active: neither reactivation nor deactivation.
    let mut r = run(RunKind::CleanupWebhooks);
    for s in [S::ResolveZone, S::CheckApiBudget, S::FindPreviousWebhooks] {
        assert_eq!(r.next_step(Timestamp(1), W()), Some(s));
        finish(&mut r, s);
    }
    assert_eq!(
        r.next_step(Timestamp(3), W()),
        Some(S::DeletePreviousWebhooks)
    );
    assert_eq!(
        r.step(S::ReactivatePreviousUser).unwrap().state.status(),
        StepStatus::Skipped
    );
    finish(&mut r, S::DeletePreviousWebhooks);
    assert!(r.facts.cleanup_verified);
    assert_eq!(r.next_step(Timestamp(4), W()), Some(S::VerifyChangeover));
    assert_eq!(
        r.step(S::DeactivatePreviousUser).unwrap().state.status(),
        StepStatus::Skipped
    );
    finish(&mut r, S::VerifyChangeover);
    assert_eq!(r.next_step(Timestamp(5), W()), None);
    assert!(r.is_complete());

    // Previous user inactive: the run reactivates, cleans up, then deactivates again.
    let mut r = run(RunKind::CleanupWebhooks);
    for s in [S::ResolveZone, S::CheckApiBudget, S::FindPreviousWebhooks] {
        assert_eq!(r.next_step(Timestamp(1), W()), Some(s));
        finish(&mut r, s);
    }
    r.record_facts(&[Fact::PreviousUserInactive]);
    assert_eq!(
        r.next_step(Timestamp(1), W()),
        Some(S::ReactivatePreviousUser)
    );
    r.record_facts(&[Fact::ReactivatedPreviousUser]);
    finish(&mut r, S::ReactivatePreviousUser);
    assert_eq!(
        r.next_step(Timestamp(1), W()),
        Some(S::DeletePreviousWebhooks)
    );
    // Not before cleanup is verified:
    let ctx = r.context();
    assert!(!r.facts.holds(Condition::Deactivation, &ctx));
    finish(&mut r, S::DeletePreviousWebhooks);
    assert_eq!(
        r.next_step(Timestamp(1), W()),
        Some(S::DeactivatePreviousUser)
    );

    // Asked for by the settings, without reactivation.
    let mut req = request(RunKind::CleanupWebhooks);
    req.settings.deactivate_previous_user = true;
    let mut r = Run::new("r", "k", req, TraceContext::default(), Timestamp(0)).unwrap();
    for s in [
        S::ResolveZone,
        S::CheckApiBudget,
        S::FindPreviousWebhooks,
        S::DeletePreviousWebhooks,
    ] {
        assert_eq!(r.next_step(Timestamp(1), W()), Some(s));
        finish(&mut r, s);
    }
    assert_eq!(
        r.next_step(Timestamp(1), W()),
        Some(S::DeactivatePreviousUser)
    );
}

#[test]
fn requests_are_validated_naming_the_field() {
    let mut req = request(RunKind::ChangeApiUser);
    req.previous_user_name = None;
    assert!(
        Run::new("r", "k", req, TraceContext::default(), Timestamp(0))
            .unwrap_err()
            .to_string()
            .contains("`previous_user_name`")
    );
    let mut req = request(RunKind::ChangeApiUser);
    req.previous_user_name = Some("NEW@example.com".into());
    assert!(
        req.validate()
            .unwrap_err()
            .to_string()
            .contains("must differ")
    );
    let mut req = request(RunKind::ChangeApiUser);
    req.credentials.previous = None;
    assert!(
        req.validate()
            .unwrap_err()
            .to_string()
            .contains("`credentials.previous`")
    );
    let mut req = request(RunKind::Onboard);
    req.tenant_id = "a b".into();
    assert!(
        req.validate()
            .unwrap_err()
            .to_string()
            .contains("`tenant_id`")
    );
    let r = run(RunKind::Onboard);
    assert_eq!(r.deadline, Timestamp(7 * 86_400_000));
    // The run record never holds a secret: only references.
    let json = serde_json::to_string(&r).unwrap();
    assert!(json.contains("vault:acme/new") && !json.to_lowercase().contains("secret"));
}

#[test]
fn acknowledgment_reaches_the_context() {
    let mut r = run(RunKind::Onboard);
    r.acknowledge(S::ConfirmVendorActive, Timestamp(9), "anna")
        .unwrap();
    assert!(r.context().acknowledged.contains(&S::ConfirmVendorActive));
    assert_eq!(
        r.audit.last().unwrap().actor,
        Actor::Operator("anna".into())
    );
    assert!(
        r.acknowledge(S::VerifyChangeover, Timestamp(9), "anna")
            .is_err()
    );
}

#[test]
fn attempts_end_by_class() {
    let policy = StepSchedule::default();
    let transient = || AttemptOutcome::Failed(CallFailure::ThreadLimit);
    let mut r = run(RunKind::Onboard);
    let s = S::ResolveZone;
    // Budget deferrals never spend an attempt.
    for _ in 0..20 {
        assert_eq!(r.begin_attempt(s, Timestamp(1), W()).unwrap(), 1);
        let next = r
            .end_attempt(
                s,
                AttemptOutcome::Failed(CallFailure::ThresholdExceeded),
                &policy,
                Timestamp(1),
                1 << 63,
                W(),
            )
            .unwrap();
        assert_eq!(
            next,
            Next::RunStep {
                step: s,
                attempt: 1,
                at: Timestamp(300_001)
            }
        );
    }
    // Transient failures: attempts 1..=8, then dead letter with the reason.
    for k in 1..=8 {
        assert_eq!(r.begin_attempt(s, Timestamp(2), W()).unwrap(), k);
        let next = r
            .end_attempt(s, transient(), &policy, Timestamp(2), 1 << 63, W())
            .unwrap();
        if k < 8 {
            assert!(matches!(next, Next::RunStep { attempt, .. } if attempt == k + 1));
            assert_eq!(
                r.step(s).unwrap().state.status(),
                StepStatus::RetryScheduled
            );
        } else {
            assert_eq!(
                next,
                Next::RunFailed {
                    step: s,
                    reason: "thread limit exceeded (429)".into()
                }
            );
        }
    }
    assert_eq!(r.state, RunState::Failed);

    // Success moves on to the next step.
    let mut r = run(RunKind::Onboard);
    r.begin_attempt(s, Timestamp(1), W()).unwrap();
    let next = r
        .end_attempt(
            s,
            AttemptOutcome::Succeeded {
                changed: false,
                facts: vec![Fact::ZoneUrl {
                    url: "https://z".into(),
                }],
            },
            &policy,
            Timestamp(3),
            0,
            W(),
        )
        .unwrap();
    assert_eq!(
        next,
        Next::RunStep {
            step: S::CheckApiBudget,
            attempt: 1,
            at: Timestamp(3)
        }
    );
    assert_eq!(r.facts.zone_url.as_deref(), Some("https://z"));

    // Drift in a verify-only run fails it at once.
    let mut r = run(RunKind::Verify);
    r.begin_attempt(s, Timestamp(1), W()).unwrap();
    let drift = Drift {
        step: s,
        differences: vec!["x".into()],
    };
    assert!(matches!(
        r.end_attempt(
            s,
            AttemptOutcome::Drifted(drift),
            &policy,
            Timestamp(1),
            0,
            W()
        ),
        Ok(Next::RunFailed { .. })
    ));
}

#[test]
fn operator_rechecks_do_not_use_up_transient_retries() {
    let policy = StepSchedule::default();
    let mut r = run(RunKind::Onboard);
    let s = S::VerifyApiUser;
    let pending = || {
        AttemptOutcome::Refused(Refusal::operator(
            s,
            ErrorClass::OperatorPending,
            vec![crate::Finding::UserNotFound {
                user_name: "new@example.com".into(),
            }],
        ))
    };
    // Twenty re-checks while the operator has not acted yet ...
    for k in 1..=20 {
        r.begin_attempt(s, Timestamp(k), W()).unwrap();
        r.end_attempt(s, pending(), &policy, Timestamp(k), 0, W())
            .unwrap();
    }
    // ... then a transient failure is retried, as attempt 22, not dead-lettered.
    r.begin_attempt(s, Timestamp(30), W()).unwrap();
    let next = r
        .end_attempt(
            s,
            AttemptOutcome::Failed(CallFailure::ThreadLimit),
            &policy,
            Timestamp(30),
            0,
            W(),
        )
        .unwrap();
    assert!(
        matches!(next, Next::RunStep { attempt: 22, .. }),
        "{next:?}"
    );
    assert_eq!(r.step(s).unwrap().transient_failures, 1);
}

#[test]
fn operator_checks_stop_at_the_deadline() {
    let policy = StepSchedule::default();
    let mut r = run(RunKind::Onboard);
    let s = S::VerifyApiUser;
    let refusal = Refusal::operator(
        s,
        ErrorClass::OperatorPending,
        vec![crate::Finding::UserNotFound {
            user_name: "new@example.com".into(),
        }],
    );
    let mut now = Timestamp(0);
    let mut checks = 0;
    loop {
        r.begin_attempt(s, now, W()).unwrap();
        assert_eq!(r.state, RunState::Running);
        match r
            .end_attempt(
                s,
                AttemptOutcome::Refused(refusal.clone()),
                &policy,
                now,
                0,
                W(),
            )
            .unwrap()
        {
            Next::RunStep { at, .. } => {
                assert_eq!(r.state, RunState::WaitingForOperator);
                assert!(at <= r.deadline && at > now);
                now = at;
                checks += 1;
            }
            Next::RunFailed { reason, .. } => {
                assert!(reason.starts_with("the operator deadline passed: no user"));
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    // Slow: 5 minutes growing to 6 hours over 7 days.
    assert!((30..60).contains(&checks), "{checks} checks");
    let StepState::Failed { remediation, .. } = &r.step(s).unwrap().state else {
        panic!("not failed");
    };
    assert_eq!(
        remediation.as_ref().unwrap().seed_steps[0],
        crate::SeedStep::A1
    );
}

#[test]
fn a_budget_deferral_period_is_one_audit_entry_however_often_it_is_rechecked() {
    let policy = StepSchedule::default();
    let mut r = run(RunKind::Onboard);
    let s = S::ResolveZone;
    let defer = |r: &mut Run, at: u64| {
        r.begin_attempt(s, Timestamp(at), W()).unwrap();
        r.end_attempt(
            s,
            AttemptOutcome::Failed(CallFailure::ThresholdExceeded),
            &policy,
            Timestamp(at),
            1 << 63,
            W(),
        )
        .unwrap();
    };
    let deferrals = |r: &Run| {
        r.audit
            .iter()
            .filter(|e| e.detail.starts_with(super::outcome::BUDGET_DEFERRED))
            .count()
    };
    let before = r.audit.len();
    for at in 1..=50 {
        defer(&mut r, at);
    }
    assert_eq!(deferrals(&r), 1, "{:#?}", r.audit);
    // The period's first entry, plus the run's start and the first check's `-> running`.
    assert!(r.audit.len() <= before + 3, "{:#?}", r.audit);
    assert_eq!(
        r.step(s).unwrap().state.status(),
        StepStatus::RetryScheduled
    );
    // Something else in between ends the period: the next deferral is a new entry.
    r.begin_attempt(s, Timestamp(60), W()).unwrap();
    r.end_attempt(
        s,
        AttemptOutcome::Failed(CallFailure::ThreadLimit),
        &policy,
        Timestamp(60),
        1 << 63,
        W(),
    )
    .unwrap();
    for at in 61..=70 {
        defer(&mut r, at);
    }
    assert_eq!(deferrals(&r), 2);
}

#[test]
fn oversized_names_are_refused_before_a_run_exists() {
    let mut r = request(RunKind::Onboard);
    r.tenant_name = "x".repeat(10 * 1024 * 1024);
    let e = Run::new("r", "k", r, TraceContext::default(), Timestamp(0)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid setting `tenant_name`: must be at most 200 characters"
    );
    let mut r = request(RunKind::ChangeApiUser);
    r.previous_user_name = Some(format!("{}@example.com", "x".repeat(100)));
    let e = Run::new("r", "k", r, TraceContext::default(), Timestamp(0)).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("invalid setting `previous_user_name`"),
        "{e}"
    );
    let mut r = request(RunKind::Onboard);
    r.tenant_name = "x".repeat(MAX_TENANT_NAME);
    Run::new("r", "k", r, TraceContext::default(), Timestamp(0)).unwrap();
}
