//! `onboard bulk`: re-provisioning or verification across a cohort of tenants. Reads a cohort
//! file (a JSON array of enqueue requests, or JSON Lines), enqueues every run as bulk work
//! (fresh work of other tenants goes first; each tenant's Autotask limits are kept by the
//! workers), and with `--wait` follows them with a progress bar and prints a summary of what
//! changed. The whole cohort is parsed and checked (`EnqueueRequest::validate`) before
//! anything is enqueued: a bad entry is named by its position and field, and nothing is
//! enqueued.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::out::{out, outln};
use anyhow::{Context as _, anyhow, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use onboarding_steps::StepName;
use onboarding_steps::run::{Run, RunKind, RunState, StepState};
use onboarding_worker::service::{EnqueueRequest, Onboard};

/// `onboard bulk`.
#[derive(Debug, Args)]
pub struct BulkArgs {
    /// The cohort: a JSON array of enqueue requests, or one request per line (JSON Lines).
    #[arg(long)]
    file: PathBuf,
    /// Run this kind for every tenant instead of each entry's own (e.g. verify).
    #[arg(long, value_parser = str::parse::<RunKind>)]
    kind: Option<RunKind>,
    /// Report the planned calls without making them.
    #[arg(long)]
    dry_run: bool,
    /// The operator confirmed the attested steps (A12, V1) for every tenant of the cohort:
    /// acknowledge them at enqueue, as this operator.
    #[arg(long)]
    confirm_attested_as: Option<String>,
    /// Follow the runs until they end, with progress, then print a summary.
    #[arg(long)]
    wait: bool,
}

/// Parses a cohort file's text.
pub fn parse_cohort(text: &str) -> anyhow::Result<Vec<EnqueueRequest>> {
    let parse = |json: &str, at: &str| {
        let mut de = serde_json::Deserializer::from_str(json);
        serde_path_to_error::deserialize::<_, EnqueueRequest>(&mut de)
            .map_err(|e| anyhow!("{at}: {} at {}", e.inner(), e.path()))
    };
    let requests = if text.trim_start().starts_with('[') {
        let items: Vec<serde_json::Value> =
            serde_json::from_str(text).context("the cohort is not a JSON array")?;
        items
            .iter()
            .enumerate()
            .map(|(i, v)| parse(&v.to_string(), &format!("entry {}", i + 1)))
            .collect::<anyhow::Result<Vec<_>>>()?
    } else {
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| parse(l, &format!("line {}", i + 1)))
            .collect::<anyhow::Result<Vec<_>>>()?
    };
    if requests.is_empty() {
        bail!("the cohort is empty");
    }
    Ok(requests)
}

/// Runs `onboard bulk`.
pub async fn bulk(args: BulkArgs, onboard: &Onboard, json: bool) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("--file: cannot read {}", args.file.display()))?;
    let mut requests =
        parse_cohort(&text).with_context(|| format!("--file {}", args.file.display()))?;
    for r in &mut requests {
        r.bulk = true;
        r.dry_run |= args.dry_run;
        if let Some(kind) = args.kind {
            r.kind = kind;
        }
    }
    // The whole cohort is checked before anything is enqueued: a bad entry stores nothing.
    for (i, r) in requests.iter().enumerate() {
        r.validate("check").with_context(|| {
            format!(
                "--file {}: entry {} (tenant {}); nothing was enqueued",
                args.file.display(),
                i + 1,
                r.tenant_id
            )
        })?;
    }
    let mut ids = Vec::with_capacity(requests.len());
    for (i, r) in requests.into_iter().enumerate() {
        let tenant = r.tenant_id.clone();
        let result = onboard
            .enqueue(r, None)
            .await
            .with_context(|| format!("entry {} (tenant {tenant})", i + 1))?;
        if let Some(operator) = &args.confirm_attested_as {
            for step in [
                StepName::ConfirmUnassignedLobVisibility,
                StepName::ConfirmVendorActive,
            ] {
                // Steps a run kind does not have are not acknowledged.
                let _ = onboard.acknowledge(&result.run_id, step, operator).await;
            }
        }
        ids.push(result.run_id);
    }
    if !args.wait {
        if json {
            outln!("{}", serde_json::json!({ "runs": ids }));
        } else {
            outln!(
                "enqueued {} run(s); follow them with `onboard runs` or the dashboard",
                ids.len()
            );
        }
        return Ok(());
    }
    let bar = if json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(ids.len() as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} runs ended  {msg}")
            .expect("static template")
            .progress_chars("=> "),
    );
    let runs = loop {
        let mut runs = Vec::with_capacity(ids.len());
        for id in &ids {
            runs.push(
                onboard
                    .runs
                    .get(id)
                    .await?
                    .ok_or_else(|| anyhow!("run {id} vanished"))?,
            );
        }
        let ended = runs.iter().filter(|r| r.state.is_final()).count();
        let waiting = runs
            .iter()
            .filter(|r| r.state == RunState::WaitingForOperator)
            .count();
        bar.set_position(ended as u64);
        bar.set_message(if waiting > 0 {
            format!("{waiting} waiting for an operator")
        } else {
            String::new()
        });
        if ended == ids.len() {
            break runs;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    bar.finish_and_clear();
    if json {
        outln!("{}", serde_json::to_string_pretty(&summary_json(&runs))?);
    } else {
        out!("{}", summary(&runs));
    }
    if runs.iter().any(|r| r.state != RunState::Succeeded) {
        bail!("not every run succeeded (see the summary)");
    }
    Ok(())
}

fn changed(run: &Run) -> Vec<&'static str> {
    run.steps
        .iter()
        .filter(|s| s.state == StepState::Succeeded { changed: true })
        .map(|s| s.step.as_str())
        .collect()
}

fn summary_json(runs: &[Run]) -> serde_json::Value {
    serde_json::json!(runs
        .iter()
        .map(|r| serde_json::json!({"tenant": r.request.tenant_id, "run": r.id, "state": r.state.as_str(), "changed": changed(r)}))
        .collect::<Vec<_>>())
}

/// One line per tenant and the totals by state.
fn summary(runs: &[Run]) -> String {
    let mut out = format!("{:<20} {:<28} {:<22} changed\n", "tenant", "run", "state");
    let mut totals: BTreeMap<&str, usize> = BTreeMap::new();
    for r in runs {
        *totals.entry(r.state.as_str()).or_default() += 1;
        let changed = changed(r);
        let changed = if changed.is_empty() {
            "nothing".to_owned()
        } else {
            changed.join(", ")
        };
        out.push_str(&format!(
            "{:<20} {:<28} {:<22} {changed}\n",
            r.request.tenant_id,
            r.id,
            r.state.as_str()
        ));
    }
    let totals: Vec<_> = totals.iter().map(|(s, n)| format!("{n} {s}")).collect();
    out.push_str(&format!("{} run(s): {}\n", runs.len(), totals.join(", ")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = r#"{"kind":"verify","tenant_id":"acme","settings":{"webhook_url_base":"https://h/x"},"new_user":{"integration_code":"C","username":"u@a","secret":"s"}}"#;

    #[test]
    fn cohorts_parse_as_arrays_or_lines_and_errors_name_the_entry() {
        assert_eq!(parse_cohort(&format!("[{ONE},{ONE}]")).unwrap().len(), 2);
        assert_eq!(parse_cohort(&format!("{ONE}\n\n{ONE}\n")).unwrap().len(), 2);
        let bad = ONE.replace("\"secret\":\"s\"", "\"secret\":5");
        let err = parse_cohort(&format!("{ONE}\n{bad}"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("line 2: invalid type: integer `5`"),
            "{err}"
        );
        assert!(err.ends_with("at new_user.secret"), "{err}");
        let err = parse_cohort(&format!("[{ONE}, {{\"kind\": \"nope\"}}]"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("entry 2: unknown variant `nope`"), "{err}");
        assert_eq!(
            parse_cohort("  ").unwrap_err().to_string(),
            "the cohort is empty"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Hostile cohort files: any text is parsed or refused without panicking, and a
        /// refusal names the entry or line (or the whole file) that is wrong.
        #[test]
        fn any_cohort_text_is_parsed_or_refused_by_place(
            lines in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just(ONE.to_owned()),
                    ".{0,60}",
                    "\\[.{0,40}\\]",
                ],
                0..5,
            )
        ) {
            match parse_cohort(&lines.join("\n")) {
                Ok(requests) => proptest::prop_assert!(!requests.is_empty()),
                Err(e) => {
                    let e = e.to_string();
                    proptest::prop_assert!(
                        e.starts_with("line ")
                            || e.starts_with("entry ")
                            || e.starts_with("the cohort"),
                        "{}", e
                    );
                }
            }
        }
    }
}
