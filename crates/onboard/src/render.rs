//! Human output: a run's steps with attempts and last errors, the operator checklist of a
//! waiting run (English and German, from the seed), run lists and dead letters.

use std::fmt::Write;

use onboarding_steps::Timestamp;
use onboarding_steps::run::{Run, StepState};
use onboarding_telemetry::TraceLinks;
use onboarding_worker::service::DeadJob;

/// One run in full.
pub fn status(run: &Run, links: &TraceLinks) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "run {}  {} for tenant {} ({})",
        run.id,
        run.request.kind.as_str(),
        run.request.tenant_id,
        run.request.tenant_name
    );
    let _ = writeln!(
        s,
        "state: {}   trace: {}",
        run.state.as_str(),
        run.trace.trace_id().unwrap_or("-")
    );
    if let Some(url) = run.trace.trace_id().and_then(|id| links.link(id)) {
        let _ = writeln!(s, "trace link: {url}");
    }
    for line in run.request.settings.subscriptions() {
        let _ = writeln!(s, "{line}");
    }
    let _ = writeln!(
        s,
        "\n{:<36} {:<22} {:>8}  detail",
        "step", "state", "attempts"
    );
    for record in &run.steps {
        let detail = match &record.state {
            StepState::Pending => String::new(),
            StepState::Running { attempt } => format!("attempt {attempt}"),
            StepState::RetryScheduled {
                attempt,
                next_at,
                last_error,
            } => format!(
                "attempt {attempt} at {}: {last_error}",
                next_at.time_of_day()
            ),
            StepState::WaitingForOperator { next_check, .. } => match next_check {
                Some(t) => format!("next check {}", t.time_of_day()),
                None => "waits for `onboard ack`".into(),
            },
            StepState::Succeeded { changed } => {
                if *changed {
                    "changed".into()
                } else {
                    "no change needed".into()
                }
            }
            StepState::Failed { reason, .. } => reason.clone(),
            StepState::Skipped { reason } => reason.clone(),
        };
        let _ = writeln!(
            s,
            "{:<36} {:<22} {:>8}  {}",
            record.step.as_str(),
            record.state.status().as_str(),
            record.attempts,
            detail
        );
    }
    for note in run.facts.notes() {
        let _ = writeln!(s, "\nnote: {note}");
    }
    for record in &run.steps {
        let (instructions, title) = match &record.state {
            StepState::WaitingForOperator { instructions, .. } => {
                (instructions, "operator checklist")
            }
            StepState::Failed {
                remediation: Some(r),
                ..
            } => (r, "how to fix"),
            _ => continue,
        };
        let _ = writeln!(s, "\n{title} for {}:", record.step.as_str());
        for line in &instructions.found_en {
            let _ = writeln!(s, "  found: {line}");
        }
        for line in &instructions.instructions_en {
            let _ = writeln!(s, "  - {line}");
        }
        let _ = writeln!(s, "  (Deutsch)");
        for line in &instructions.found_de {
            let _ = writeln!(s, "  Befund: {line}");
        }
        for line in &instructions.instructions_de {
            let _ = writeln!(s, "  - {line}");
        }
    }
    s
}

/// A list of runs.
pub fn runs(runs: &[Run]) -> String {
    let mut s = format!(
        "{:<28} {:<16} {:<18} {:<22} updated\n",
        "run", "tenant", "kind", "state"
    );
    for r in runs {
        let _ = writeln!(
            s,
            "{:<28} {:<16} {:<18} {:<22} {}",
            r.id,
            r.request.tenant_id,
            r.request.kind.as_str(),
            r.state.as_str(),
            r.updated_at.time_of_day()
        );
    }
    s
}

/// Dead letters.
pub fn dead(dead: &[DeadJob]) -> String {
    let mut s = format!(
        "{:<28} {:<16} {:<14} {:>8}  reason\n",
        "job", "tenant", "died", "attempts"
    );
    for d in dead {
        let _ = writeln!(
            s,
            "{:<28} {:<16} {:<14} {:>8}  {}",
            d.job,
            d.tenant,
            Timestamp(d.dead_at_ms).time_of_day(),
            d.attempts,
            d.reason
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use onboarding_steps::payload::{CredentialRef, TraceContext};
    use onboarding_steps::run::{RunCredentials, RunKind, RunRequest};
    use onboarding_steps::{Fact, LeftoverCheck, TenantSettings};

    use super::*;

    #[test]
    fn status_notes_a_changeover_whose_leftovers_could_not_be_checked() {
        let request = RunRequest {
            kind: RunKind::Verify,
            tenant_id: "acme".into(),
            tenant_name: "Acme".into(),
            settings: TenantSettings::new("https://hooks.example.com/at"),
            new_user_name: "new@example.com".into(),
            previous_user_name: Some("old@example.com".into()),
            credentials: RunCredentials {
                new: CredentialRef("ref-new".into()),
                previous: None,
                admin: None,
            },
            dry_run: false,
        };
        let mut run = Run::new("r1", "k1", request, TraceContext::default(), Timestamp(0))
            .expect("a valid request");
        assert!(!status(&run, &TraceLinks::none()).contains("note:"));
        assert!(!status(&run, &TraceLinks::none()).contains("trace link"));
        run.record_facts(&[Fact::ChangeoverVerified {
            webhooks: Vec::new(),
            leftovers: Some(LeftoverCheck::NotChecked {
                reason: "the run has no credentials of the previous user".into(),
            }),
        }]);
        let text = status(&run, &TraceLinks::none());
        assert!(
            text.contains(
                "note: verify_changeover: the previous user's webhooks could NOT be checked: \
                 the run has no credentials of the previous user"
            ),
            "{text}"
        );
        run.trace = TraceContext {
            traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
            ..TraceContext::default()
        };
        let links = TraceLinks::new("https://jaeger.example/trace/{trace_id}").unwrap();
        let text = status(&run, &links);
        assert!(
            text.contains(
                "trace: 0af7651916cd43dd8448eb211c80319c\ntrace link: https://jaeger.example/trace/0af7651916cd43dd8448eb211c80319c\n"
            ),
            "{text}"
        );
    }
}
