//! End to end: each run kind driven to its end against `autotask-sim` over real HTTP on
//! loopback, through `autotask-client` and the worker's own attempt driver and I/O
//! (`onboarding_worker::execute::{drive, Session}`), without the queue: the test adds only
//! in-memory webhook secrets and fault arming per call, and `Run::begin_attempt`/`end_attempt`
//! for what comes next. Retries run at once (the schedule is the queue's business); the
//! operator is played through the simulator's console.

use std::collections::HashMap;
use std::time::Duration;

use autotask_client::{AutotaskClient, ClientConfig, Credentials, HttpRetry, Target};
use autotask_sim::{
    CalloutConfig, DbConsole, Fault, FaultRule, SeedApiUser, SeededApiUser, SimConfig, SimHandle,
    spawn,
};
use autotask_types::WebhookFamily;
use onboarding_steps::payload::{CredentialRef, TraceContext};
use onboarding_steps::retry::StepSchedule;
use onboarding_steps::run::{
    Actor, AttemptOutcome, Next, Run, RunCredentials, RunKind, RunRequest, RunState,
};
use onboarding_steps::{
    Call, CallFailure, Refusal, Role, StepContext, StepKind, StepName as S, TenantSettings,
    Timestamp,
};
use std::sync::Mutex;

use onboarding_steps::attempt::Attempt;
use onboarding_steps::{Read, ReadResult};
use onboarding_worker::execute::{Io, Session, drive as drive_attempt, observe};

async fn sim() -> SimHandle {
    spawn(
        SimConfig {
            threshold_latency_50_ms: 0,
            threshold_latency_75_ms: 0,
            callouts: CalloutConfig {
                timeout_ms: 200,
                max_attempts: 1,
                retry_delay_ms: 10,
                deactivate_after_failures: 25,
            },
            ..SimConfig::default()
        }
        .with_database("acme"),
    )
    .await
    .unwrap()
}

fn client(sim: &SimHandle) -> AutotaskClient {
    let mut cfg = ClientConfig::new(Target::Explicit(sim.base_url().parse().unwrap()));
    cfg.request_timeout = Duration::from_secs(5);
    cfg.retry = HttpRetry {
        max_retries: 2,
        min_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_total_delay: Duration::from_secs(1),
    };
    AutotaskClient::new(cfg).unwrap()
}

fn creds(u: &SeededApiUser) -> Credentials {
    Credentials::new(&u.integration_code, &u.user_name, &u.secret)
}

/// The in-test executor around the worker's I/O ([`Session`]): credentials per role,
/// webhook secrets in memory; `lose` names calls (by their `call` tag) whose next occurrence
/// commits and loses its response; `refuse` names calls whose next occurrence Autotask
/// refuses with HTTP 500 and these `errors[]`.
struct Exec<'a> {
    client: AutotaskClient,
    creds: HashMap<Role, Credentials>,
    secrets: HashMap<String, String>,
    writes: usize,
    sim: Option<&'a SimHandle>,
    lose: Vec<&'static str>,
    refuse: Vec<(&'static str, Vec<String>)>,
    /// The step being attempted, and every call sent: `step: description`.
    step: Option<S>,
    calls: Vec<String>,
    /// The next attempt of this step races a second attempt of it, run whole just before the
    /// first attempt's first call (as a worker that took over an expired lease would).
    race: Option<S>,
    /// The racing attempt's context, taken by the first call; its outcome once run.
    racer: Option<StepContext>,
    raced: Option<AttemptOutcome>,
}

impl Exec<'_> {
    fn new(client: AutotaskClient) -> Self {
        Self {
            client,
            creds: HashMap::new(),
            secrets: HashMap::new(),
            writes: 0,
            sim: None,
            lose: Vec::new(),
            refuse: Vec::new(),
            step: None,
            calls: Vec::new(),
            race: None,
            racer: None,
            raced: None,
        }
    }

    /// Before a call is sent: arms the simulator's faults for it, counts it, and gives a
    /// webhook create its secret key (stored before the create is sent, reused if the slot
    /// has one).
    fn prepare(&mut self, call: &Call) -> Option<String> {
        let tag = serde_json::to_value(call).unwrap()["call"].clone();
        if let Some(i) = self.lose.iter().position(|l| tag == *l) {
            self.lose.remove(i);
            let sim = self.sim.expect("losing responses needs the simulator");
            sim.add_fault(
                FaultRule::new(Fault::CommitThenDrop)
                    .database("acme")
                    .times(1),
            );
        }
        if let Some(i) = self.refuse.iter().position(|(r, _)| tag == *r) {
            let (_, errors) = self.refuse.remove(i);
            let sim = self.sim.expect("refusing calls needs the simulator");
            sim.add_fault(
                FaultRule::new(Fault::ServerError {
                    status: 500,
                    errors,
                })
                .database("acme")
                .times(1),
            );
        }
        self.writes += 1;
        self.calls.push(format!(
            "{}: {}",
            self.step.map(S::as_str).unwrap_or("-"),
            call.describe()
        ));
        match call {
            Call::CreateWebhook { secret, .. } => Some(
                self.secrets
                    .entry(secret.to_string())
                    .or_insert_with(|| format!("secret-{}-{}", secret.user, secret.family))
                    .clone(),
            ),
            _ => None,
        }
    }

    /// One attempt through the worker's own driver ([`drive_attempt`]) and [`Session`].
    async fn attempt(&mut self, run: &Run, step: S) -> AttemptOutcome {
        let session = Session::new(self.client.clone(), self.creds.clone());
        let verify_only = run.request.kind.verify_only();
        self.step = Some(step);
        if self.race == Some(step) {
            self.race = None;
            self.racer = Some(run.context());
        }
        let io = TestIo {
            session,
            exec: Mutex::new(self),
        };
        drive_attempt(&io, Attempt::new(step, run.context(), verify_only)).await
    }
}

/// The test's [`Io`]: the worker's [`Session`], with [`Exec::prepare`] before each call.
struct TestIo<'e, 'a> {
    session: Session,
    exec: Mutex<&'e mut Exec<'a>>,
}

impl Io for TestIo<'_, '_> {
    async fn read(&self, read: &Read) -> Result<ReadResult, CallFailure> {
        self.session.read(read).await
    }

    async fn call(&self, call: &Call, created: &[Option<i64>]) -> Result<Option<i64>, CallFailure> {
        let racer = {
            let mut exec = self.exec.lock().unwrap();
            let step = exec.step.expect("a call belongs to a step");
            exec.racer.take().map(|ctx| {
                let session = Session::new(exec.client.clone(), exec.creds.clone());
                (step, ctx, session)
            })
        };
        if let Some((step, ctx, session)) = racer {
            let outcome = drive_attempt(&Racer(session), Attempt::new(step, ctx, false)).await;
            self.exec.lock().unwrap().raced = Some(outcome);
        }
        let secret_key = self.exec.lock().unwrap().prepare(call);
        self.session.call(call, created, secret_key).await
    }
}

/// The racing attempt's [`Io`]: the worker's [`Session`] with a secret key of its own.
struct Racer(Session);

impl Io for Racer {
    async fn read(&self, read: &Read) -> Result<ReadResult, CallFailure> {
        self.0.read(read).await
    }

    async fn call(&self, call: &Call, created: &[Option<i64>]) -> Result<Option<i64>, CallFailure> {
        let key = matches!(call, Call::CreateWebhook { .. }).then(|| "racer-secret".to_owned());
        self.0.call(call, created, key).await
    }
}

#[derive(Debug)]
enum Ended {
    Succeeded,
    Failed(S, String),
}

/// Drives `run` to its end; `operator` is called whenever the run waits for one and must act.
async fn drive(
    exec: &mut Exec<'_>,
    run: &mut Run,
    mut operator: impl FnMut(&mut Run, &Refusal),
) -> Ended {
    let policy = StepSchedule::default();
    let w = || Actor::Worker("e2e".into());
    let mut now = Timestamp(1_000);
    let mut next = Next::RunStep {
        step: run.next_step(now, w()).expect("a run has steps"),
        attempt: 1,
        at: now,
    };
    let mut last: Option<Refusal> = None;
    for _ in 0..200 {
        match next {
            Next::RunSucceeded => return Ended::Succeeded,
            Next::RunFailed { step, reason } => return Ended::Failed(step, reason),
            Next::AwaitAck { step } => {
                operator(run, last.as_ref().expect("a wait comes from a refusal"));
                assert_eq!(
                    run.next_step(now, w()),
                    Some(step),
                    "the operator acknowledged"
                );
                next = Next::RunStep {
                    step,
                    attempt: 0,
                    at: now,
                };
            }
            Next::RunStep { step, at, .. } => {
                if run.state == RunState::WaitingForOperator {
                    operator(run, last.as_ref().expect("a wait comes from a refusal"));
                }
                now = now.max(at).plus(Duration::from_millis(1));
                run.begin_attempt(step, now, w()).unwrap();
                let outcome = exec.attempt(run, step).await;
                if let AttemptOutcome::Refused(r) = &outcome {
                    last = Some(r.clone());
                }
                next = run
                    .end_attempt(step, outcome, &policy, now, 3, w())
                    .unwrap();
            }
        }
    }
    panic!("the run did not end within 200 attempts");
}

fn request(kind: RunKind, new: &SeededApiUser, previous: Option<&SeededApiUser>) -> RunRequest {
    RunRequest {
        kind,
        tenant_id: "acme".into(),
        tenant_name: "Acme".into(),
        settings: TenantSettings::new("https://hooks.example.com/onboard"),
        new_user_name: new.user_name.clone(),
        previous_user_name: previous.map(|p| p.user_name.clone()),
        credentials: RunCredentials {
            new: CredentialRef("test:new".into()),
            previous: previous.map(|_| CredentialRef("test:previous".into())),
            admin: None,
        },
        dry_run: false,
    }
}

fn run_of(req: RunRequest) -> Run {
    Run::new("run", "key", req, TraceContext::default(), Timestamp(0)).unwrap()
}

/// Acknowledges attested steps (the operator confirms A12 and V1 in the web interface).
fn ack(run: &mut Run, r: &Refusal) -> bool {
    if r.step.kind() == StepKind::OperatorAttested {
        run.acknowledge(r.step, Timestamp(2), "anna").unwrap();
        return true;
    }
    false
}

fn webhooks_of(db: &DbConsole, owner: i64) -> Vec<(WebhookFamily, bool)> {
    WebhookFamily::ALL
        .iter()
        .flat_map(|f| db.webhooks(*f).into_iter().map(move |w| (*f, w)))
        .filter(|(_, w)| w["ownerResourceID"].as_i64() == Some(owner))
        .map(|(f, w)| (f, w["isActive"].as_bool() == Some(true)))
        .collect()
}

/// W1..W4 as the remediation says: copy "API User (system)", enable webhooks, assign it.
fn grant_webhooks(db: &DbConsole, resource: i64) {
    let system = db
        .security_levels()
        .into_iter()
        .find(|l| l.name == "API User (system)")
        .unwrap();
    let copy = db
        .copy_security_level(system.id, "API User (webhooks)")
        .unwrap();
    db.set_webhook_permission(copy.id, true, 10).unwrap();
    db.assign_security_level(resource, copy.id).unwrap();
}

#[tokio::test]
async fn onboard_with_the_operator_fixing_the_webhook_permission_halfway() {
    let sim = sim().await;
    let db = sim.db("acme").unwrap();
    let new = db
        .seed_api_user(&SeedApiUser {
            webhook_max: None,
            ..SeedApiUser::default()
        })
        .unwrap();
    let mut exec = Exec::new(client(&sim));
    exec.creds.insert(Role::New, creds(&new));
    let mut run = run_of(request(RunKind::Onboard, &new, None));
    let mut fixed = false;
    let ended = drive(&mut exec, &mut run, |run, r| {
        if r.step == S::VerifyWebhookPermission {
            assert!(r.remediation.as_ref().unwrap().instructions_de[0].starts_with("W1."));
            grant_webhooks(&db, new.resource_id);
            fixed = true;
        } else {
            assert!(ack(run, r), "unexpected wait: {r}");
        }
    })
    .await;
    assert!(matches!(ended, Ended::Succeeded), "{ended:?}");
    assert!(fixed);
    assert_eq!(
        webhooks_of(&db, new.resource_id),
        [(WebhookFamily::Ticket, true)]
    );

    // Verify afterwards: no drift, and only reads.
    let writes = exec.writes;
    let mut verify = run_of(request(RunKind::Verify, &new, None));
    let ended = drive(&mut exec, &mut verify, |_, r| panic!("verify waits: {r}")).await;
    assert!(matches!(ended, Ended::Succeeded), "{ended:?}");
    assert_eq!(exec.writes, writes);
}

/// Autotask refuses the webhook create with a 500 whose text names the security level (the
/// permission could not be read beforehand): the run waits at `ensure_webhooks` with the
/// W1–W4 instructions instead of dead-lettering, and the operator's re-check creates it.
#[tokio::test]
async fn a_webhook_create_refused_for_permission_waits_for_the_operator() {
    let sim = sim().await;
    let db = sim.db("acme").unwrap();
    let new = db.seed_api_user(&SeedApiUser::default()).unwrap();
    let mut exec = Exec::new(client(&sim));
    exec.sim = Some(&sim);
    exec.creds.insert(Role::New, creds(&new));
    exec.refuse = vec![(
        "create_webhook",
        vec![
            "The logged in user's security level does not have permission to create webhooks \
             (Other > Webhooks)."
                .into(),
        ],
    )];
    let mut run = run_of(request(RunKind::Onboard, &new, None));
    let mut waits = Vec::new();
    let ended = drive(&mut exec, &mut run, |run, r| {
        if r.step == S::EnsureWebhooks {
            let rem = r.remediation.as_ref().unwrap();
            assert!(rem.instructions_en[0].starts_with("W1."), "{rem:?}");
            assert!(rem.instructions_de[0].starts_with("W1."), "{rem:?}");
            waits.push(r.reason.clone());
        } else {
            assert!(ack(run, r), "unexpected wait: {r}");
        }
    })
    .await;
    assert!(matches!(ended, Ended::Succeeded), "{ended:?}");
    assert_eq!(waits.len(), 1, "{waits:?}");
    assert!(waits[0].contains("security level"), "{}", waits[0]);
    assert!(exec.refuse.is_empty() && sim.faults().is_empty());
    assert_eq!(
        webhooks_of(&db, new.resource_id),
        [(WebhookFamily::Ticket, true)]
    );
}

/// Onboards `user` (so it owns webhooks) with the steps themselves.
async fn onboard(exec: &mut Exec<'_>, user: &SeededApiUser) {
    exec.creds.insert(Role::New, creds(user));
    let mut run = run_of(request(RunKind::Onboard, user, None));
    let ended = drive(exec, &mut run, |run, r| {
        assert!(ack(run, r), "unexpected wait: {r}")
    })
    .await;
    assert!(matches!(ended, Ended::Succeeded), "{ended:?}");
}

#[tokio::test]
async fn a_changeover_where_the_previous_user_was_inactive() {
    let sim = sim().await;
    let db = sim.db("acme").unwrap();
    let old = db.seed_api_user(&SeedApiUser::default()).unwrap();
    let new = db.seed_api_user(&SeedApiUser::default()).unwrap();
    let mut exec = Exec::new(client(&sim));
    onboard(&mut exec, &old).await;
    assert_eq!(webhooks_of(&db, old.resource_id).len(), 1);
    db.set_active(old.resource_id, false).unwrap();

    exec.creds.insert(Role::New, creds(&new));
    exec.creds.insert(Role::Previous, creds(&old));
    let mut run = run_of(request(RunKind::ChangeApiUser, &new, Some(&old)));
    let mut waits = Vec::new();
    let ended = drive(&mut exec, &mut run, |run, r| match r.step {
        S::ReactivatePreviousUser | S::DeactivatePreviousUser => {
            waits.push(r.step);
            db.set_active(old.resource_id, r.step == S::ReactivatePreviousUser)
                .unwrap();
        }
        _ => assert!(ack(run, r), "unexpected wait: {r}"),
    })
    .await;
    assert!(matches!(ended, Ended::Succeeded), "{ended:?}");
    assert_eq!(
        waits,
        [S::ReactivatePreviousUser, S::DeactivatePreviousUser]
    );
    assert!(run.facts.previous_user_inactive && run.facts.reactivated_previous_user);
    assert_eq!(webhooks_of(&db, old.resource_id), []);
    assert_eq!(
        webhooks_of(&db, new.resource_id),
        [(WebhookFamily::Ticket, true)]
    );
    assert!(!db.api_user(old.resource_id).unwrap().active);
}

/// Two attempts of `ensure_webhooks` at once (a worker whose lease ran out during a Redis
/// failover still finishing its attempt while another runs the step again): the second one
/// makes the webhooks; the first one's create is then refused by Autotask's duplicate rule,
/// and instead of failing the run it observes again, finds the webhooks in place and
/// succeeds.
#[tokio::test]
async fn an_attempt_raced_by_a_second_attempt_of_the_same_step_succeeds() {
    let sim = sim().await;
    let db = sim.db("acme").unwrap();
    let user = db.seed_api_user(&SeedApiUser::default()).unwrap();
    let mut exec = Exec::new(client(&sim));
    exec.race = Some(S::EnsureWebhooks);
    onboard(&mut exec, &user).await;
    assert!(
        matches!(
            exec.raced,
            Some(AttemptOutcome::Succeeded { changed: true, .. })
        ),
        "the racing attempt made the webhooks: {:?}",
        exec.raced
    );
    assert!(
        exec.calls[0].starts_with("ensure_webhooks: as new: POST TicketWebhooks"),
        "the first attempt's create was sent (and refused): {:?}",
        exec.calls
    );
    assert_eq!(
        webhooks_of(&db, user.resource_id),
        [(WebhookFamily::Ticket, true)],
        "one webhook, active"
    );
}

#[tokio::test]
async fn cleanup_webhooks_alone() {
    let sim = sim().await;
    let db = sim.db("acme").unwrap();
    let old = db.seed_api_user(&SeedApiUser::default()).unwrap();
    let new = db.seed_api_user(&SeedApiUser::default()).unwrap();
    let mut exec = Exec::new(client(&sim));
    onboard(&mut exec, &old).await;
    onboard(&mut exec, &new).await;
    exec.creds.insert(Role::Previous, creds(&old));
    let mut run = run_of(request(RunKind::CleanupWebhooks, &new, Some(&old)));
    let ended = drive(&mut exec, &mut run, |_, r| panic!("cleanup waits: {r}")).await;
    assert!(matches!(ended, Ended::Succeeded), "{ended:?}");
    assert_eq!(webhooks_of(&db, old.resource_id), []);
    assert!(
        db.api_user(old.resource_id).unwrap().active,
        "not reactivated, not deactivated"
    );
}

#[tokio::test]
async fn a_refused_precondition_fails_with_a_clear_reason() {
    // The simulator keeps usernames unique, so "two users with one username" cannot be built
    // here (tests/it/runs.rs covers it against the in-memory tenant); a line of business the
    // tenant does not have is the refused precondition the simulator can show.
    let sim = sim().await;
    let db = sim.db("acme").unwrap();
    let new = db.seed_api_user(&SeedApiUser::default()).unwrap();
    let mut exec = Exec::new(client(&sim));
    exec.creds.insert(Role::New, creds(&new));
    let mut req = request(RunKind::Onboard, &new, None);
    req.settings.lines_of_business[1].level2 = "Payroll".into();
    let mut run = run_of(req);
    let ended = drive(&mut exec, &mut run, |run, r| {
        assert!(ack(run, r), "unexpected wait: {r}")
    })
    .await;
    let Ended::Failed(step, reason) = ended else {
        panic!("expected a failure, got {ended:?}");
    };
    assert_eq!(step, S::VerifyLinesOfBusiness);
    assert_eq!(
        reason,
        "the tenant has no active line of business General > Payroll (setting \
         `lines_of_business[1]`): create it in Autotask or change the setting"
    );
    assert_eq!(exec.writes, 0);
    assert_eq!(run.state, RunState::Failed);
}

#[tokio::test]
async fn writes_whose_responses_are_lost_create_no_duplicate() {
    let sim = sim().await;
    let db = sim.db("acme").unwrap();
    let old = db.seed_api_user(&SeedApiUser::default()).unwrap();
    let new = db.seed_api_user(&SeedApiUser::default()).unwrap();
    let mut exec = Exec::new(client(&sim));
    onboard(&mut exec, &old).await;
    // The webhook create and a field create commit, then their answers are lost; so is the
    // delete of the previous user's webhook.
    exec.sim = Some(&sim);
    exec.lose = vec!["create_webhook", "create_webhook_field", "delete_webhook"];
    exec.creds.insert(Role::New, creds(&new));
    exec.creds.insert(Role::Previous, creds(&old));
    let mut run = run_of(request(RunKind::ChangeApiUser, &new, Some(&old)));
    let ended = drive(&mut exec, &mut run, |run, r| {
        assert!(ack(run, r), "unexpected wait: {r}")
    })
    .await;
    assert!(matches!(ended, Ended::Succeeded), "{ended:?}");
    assert!(
        exec.lose.is_empty() && sim.faults().is_empty(),
        "every fault was used"
    );
    assert_eq!(run.step(S::EnsureWebhooks).unwrap().attempts, 3);
    // A DELETE is idempotent: the client repeats it in-process, and the 404 it may then get
    // counts as done (`Call::tolerates`), so the step needs no second attempt.
    assert!(run.step(S::DeletePreviousWebhooks).unwrap().attempts <= 2);
    assert_eq!(
        webhooks_of(&db, new.resource_id),
        [(WebhookFamily::Ticket, true)]
    );
    assert_eq!(webhooks_of(&db, old.resource_id), []);
    // The new webhook is complete: both configured fields, the user excluded.
    let session = Session::new(exec.client.clone(), exec.creds.clone());
    let observed = observe(&session, S::EnsureWebhooks, &run.context()).await;
    S::EnsureWebhooks.verify(&run.context(), &observed).unwrap();
}

/// Digits (ids, which differ between the simulator and the model) as `#`.
fn shape(calls: &[String]) -> Vec<String> {
    calls
        .iter()
        .map(|c| {
            let mut out = String::new();
            for ch in c.chars() {
                if ch.is_ascii_digit() {
                    if !out.ends_with('#') {
                        out.push('#');
                    }
                } else {
                    out.push(ch);
                }
            }
            out
        })
        .collect()
}

/// The worker's driver (over HTTP against the simulator) and the in-memory driver (against
/// `onboarding-memory`) make the same calls, step by step, for every run kind, from the same
/// situation: a previous user with its Ticket webhook and a new user with the permission.
#[tokio::test]
async fn the_worker_and_the_in_memory_driver_make_the_same_calls() {
    use onboarding_memory::MemoryTenant;

    for kind in [
        RunKind::Onboard,
        RunKind::ChangeApiUser,
        RunKind::CleanupWebhooks,
        RunKind::Verify,
    ] {
        // Over HTTP: the previous user onboarded itself (its Ticket webhook), then the run.
        let sim = sim().await;
        let db = sim.db("acme").unwrap();
        let old = db.seed_api_user(&SeedApiUser::default()).unwrap();
        let new = db.seed_api_user(&SeedApiUser::default()).unwrap();
        let mut exec = Exec::new(client(&sim));
        onboard(&mut exec, &old).await;
        exec.calls.clear();
        exec.creds.insert(Role::New, creds(&new));
        exec.creds.insert(Role::Previous, creds(&old));
        let previous = kind.needs_previous_user().then_some(&old);
        let mut run = run_of(request(kind, &new, previous));
        let http = drive(&mut exec, &mut run, |run, r| {
            assert!(ack(run, r), "unexpected wait: {r}")
        })
        .await;
        let http_states: Vec<_> = run
            .steps
            .iter()
            .map(|s| format!("{} {}", s.step, s.state.status().as_str()))
            .collect();

        // In memory: the same situation.
        let mut t = MemoryTenant::seeded();
        t.webhook_field_labels = vec![(7, "Status".into()), (5, "Priority".into())];
        t.add_api_user(50, "old@example.com", true, WebhookFamily::ALL);
        t.credentials
            .insert(Role::Previous, "old@example.com".into());
        t.add_webhook(
            WebhookFamily::Ticket,
            50,
            "Sophos Central Ticket 50",
            "https://hooks.example.com/onboard/acme/50/ticket",
            true,
            true,
        );
        let mut req = request(kind, &new, previous);
        req.new_user_name = "new@example.com".into();
        req.previous_user_name = previous.map(|_| "old@example.com".into());
        let mut memory_run = run_of(req);
        let memory =
            crate::support::drive(&mut memory_run, &mut t, &mut Vec::new(), |_, run, r| {
                ack(run, r)
            });
        let memory_states: Vec<_> = memory_run
            .steps
            .iter()
            .map(|s| format!("{} {}", s.step, s.state.status().as_str()))
            .collect();

        assert_eq!(
            shape(&exec.calls),
            shape(&t.calls_made),
            "{kind:?}: the same calls in the same order ({http:?} / {memory:?})"
        );
        assert_eq!(
            http_states, memory_states,
            "{kind:?}: the same step outcomes"
        );
        if kind == RunKind::ChangeApiUser {
            assert!(
                exec.calls
                    .iter()
                    .any(|c| c.starts_with("ensure_webhooks: "))
                    && exec
                        .calls
                        .iter()
                        .any(|c| c.starts_with("delete_previous_webhooks: ")),
                "the changeover creates and deletes: {:#?}",
                exec.calls
            );
        }
    }
}
