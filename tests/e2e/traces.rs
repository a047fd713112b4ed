//! One trace per run: the caller's `traceparent` is joined at enqueue, every step attempt is a
//! span in it with the run's attributes, and every Autotask request a span in it too, as
//! exported over OTLP/HTTP to a receiver inside the test.

use autotask_sim::SeedApiUser;
use onboarding_steps::run::{RunKind, RunState};

use crate::support::*;

#[tokio::test]
async fn one_trace_spans_enqueue_every_step_and_every_request() {
    let e = env(&["acme"]).await;
    let user = seed(&e.sim, "acme", SeedApiUser::default());
    let _w = e.worker(4);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let trace = format!("{:032x}", nanos | 1 << 120);
    let parent = format!("00-{trace}-00f067aa0ba902b7-01");
    let r = e
        .onboard
        .enqueue(request(RunKind::Onboard, "acme", &user), Some(&parent))
        .await
        .unwrap();
    assert_eq!(
        r.trace_id.as_deref(),
        Some(trace.as_str()),
        "the run joins the caller's trace"
    );
    let run = e.finish(&r.run_id, 30).await;
    assert_eq!(run.state, RunState::Succeeded);
    crate::support::PROVIDER
        .get()
        .unwrap()
        .force_flush()
        .unwrap();

    let spans: Vec<_> = SPANS
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, _, _)| *t == trace)
        .cloned()
        .collect();
    let named = |name: &str| spans.iter().filter(|(_, n, _)| n.starts_with(name)).count();
    assert_eq!(named("onboard.enqueue"), 1, "{spans:#?}");
    let steps: Vec<_> = spans
        .iter()
        .filter(|(_, n, _)| n.starts_with("step "))
        .collect();
    assert!(
        steps.len() >= run.steps.len(),
        "every step attempt is a span: {} < {}",
        steps.len(),
        run.steps.len()
    );
    for (_, name, attrs) in &steps {
        for key in ["tenant.id", "run.id", "step.name", "step.attempt"] {
            assert!(
                attrs.iter().any(|a| a.starts_with(&format!("{key}="))),
                "{name} lacks {key}: {attrs:?}"
            );
        }
        assert!(
            attrs.iter().any(|a| a.contains(&r.run_id)),
            "{name}: {attrs:?}"
        );
    }
    let requests: Vec<_> = spans
        .iter()
        .filter(|(_, _, a)| a.iter().any(|x| x.starts_with("http.request.method=")))
        .collect();
    assert!(
        requests.len() >= 10,
        "Autotask requests are spans of the run's trace: {}",
        requests.len()
    );
    for (_, name, attrs) in &requests {
        for key in [
            "url.template",
            "server.address",
            "http.response.status_code",
            "autotask.entity",
        ] {
            assert!(
                attrs.iter().any(|a| a.starts_with(&format!("{key}="))),
                "{name} lacks {key}: {attrs:?}"
            );
        }
    }
}
