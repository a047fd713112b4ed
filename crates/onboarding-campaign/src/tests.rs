//! Unit tests of the campaign rules: waves, halt, transitions, pacing, report and CSV.

use super::*;
use crate::report::{Row, csv, failures};

fn options(canary: usize, wave_size: usize, rate: f64) -> CampaignOptions {
    CampaignOptions {
        kind: RunKind::Verify,
        canary,
        wave_size,
        max_failure_rate: rate,
        pace_per_min: None,
        dry_run: false,
        confirm_attested_as: None,
    }
}

fn campaign(n: usize, canary: usize, wave_size: usize, rate: f64) -> Campaign {
    Campaign::new(
        "c1",
        options(canary, wave_size, rate),
        &vec![None; n],
        "op",
        Timestamp(0),
    )
    .unwrap()
}

fn tally(enqueued: usize, succeeded: usize, failed: usize) -> Tally {
    Tally {
        enqueued,
        succeeded,
        failed,
        ..Tally::default()
    }
}

#[test]
fn a_canary_comes_first_then_waves_of_the_wave_size() {
    let sizes: Vec<_> = plan_waves(10, 2, 3)
        .iter()
        .map(|w| (w.first, w.size, w.canary))
        .collect();
    assert_eq!(
        sizes,
        vec![(0, 2, true), (2, 3, false), (5, 3, false), (8, 2, false)]
    );
    let sizes: Vec<_> = plan_waves(4, 0, 4).iter().map(|w| w.size).collect();
    assert_eq!(sizes, vec![4]);
    assert_eq!(
        plan_waves(1, 5, 3).len(),
        1,
        "a canary larger than the cohort"
    );
}

#[test]
fn a_wave_starts_only_when_the_previous_one_finished() {
    let mut c = campaign(5, 1, 2, 0.5);
    assert_eq!(
        c.advance(tally(0, 0, 0), Timestamp(1)),
        Decision::Enqueue { wave: 0 }
    );
    assert_eq!(c.advance(tally(1, 0, 0), Timestamp(2)), Decision::Wait);
    assert_eq!(c.advance(tally(1, 1, 0), Timestamp(3)), Decision::NextWave);
    assert_eq!(c.current_wave().unwrap().index, 1);
    assert_eq!(
        c.advance(tally(0, 0, 0), Timestamp(4)),
        Decision::Enqueue { wave: 1 }
    );
    assert_eq!(c.advance(tally(2, 1, 1), Timestamp(5)), Decision::NextWave);
    assert_eq!(
        c.advance(tally(1, 1, 0), Timestamp(6)),
        Decision::Enqueue { wave: 2 }
    );
    assert_eq!(c.advance(tally(2, 2, 0), Timestamp(7)), Decision::Ended);
    assert_eq!(c.state, CampaignState::Completed);
}

#[test]
fn a_wave_above_the_threshold_halts_and_says_why_and_resume_accepts_it() {
    let mut c = campaign(10, 0, 4, 0.25);
    c.advance(tally(0, 0, 0), Timestamp(1));
    // 1 of 4 failed = 25 %: not above the threshold.
    assert_eq!(c.advance(tally(4, 2, 1), Timestamp(2)), Decision::Wait);
    // 2 of 4 = 50 %: halts at once, before the wave finished.
    assert_eq!(c.advance(tally(4, 1, 2), Timestamp(3)), Decision::Halted);
    assert_eq!(c.state, CampaignState::Halted);
    let halt = c.halt.clone().unwrap();
    assert_eq!((halt.wave, halt.failed, halt.size), (0, 2, 4));
    assert_eq!(
        halt.describe(),
        "wave 0 failed 2 of 4 runs (50.0 %), above the threshold of 25.0 %"
    );
    assert_eq!(c.advance(tally(4, 1, 3), Timestamp(4)), Decision::Wait);
    c.resume("op", Timestamp(5)).unwrap();
    assert_eq!(c.advance(tally(4, 1, 3), Timestamp(6)), Decision::NextWave);
    assert!(
        c.events
            .iter()
            .any(|e| e.what.starts_with("halted: wave 0"))
    );
}

#[test]
fn operators_move_a_campaign_only_from_states_that_allow_it() {
    let mut c = campaign(3, 0, 3, 0.0);
    c.pause("op", Timestamp(1)).unwrap();
    assert_eq!(c.advance(tally(0, 0, 0), Timestamp(2)), Decision::Wait);
    assert_eq!(
        c.pause("op", Timestamp(3)).unwrap_err().0,
        "campaign c1 is paused; it cannot be paused"
    );
    c.resume("op", Timestamp(4)).unwrap();
    c.abort("op", Timestamp(5)).unwrap();
    assert!(c.state.is_final());
    assert!(c.resume("op", Timestamp(6)).is_err());
    assert_eq!(c.advance(tally(0, 0, 0), Timestamp(7)), Decision::Wait);
}

#[test]
fn options_are_checked_and_name_the_option() {
    let bad = |o: CampaignOptions| o.validate().unwrap_err().0;
    assert!(bad(options(0, 0, 0.1)).starts_with("wave_size"));
    assert!(bad(options(0, 5, 1.5)).starts_with("max_failure_rate"));
    assert!(bad(options(0, 5, f64::NAN)).starts_with("max_failure_rate"));
    let mut o = options(0, 5, 0.1);
    o.pace_per_min = Some(0);
    assert!(bad(o).starts_with("pace"));
    assert_eq!(parse_pace("30/min"), Ok(30));
    assert_eq!(parse_pace("7"), Ok(7));
    assert!(parse_pace("fast").unwrap_err().0.contains("30/min"));
    let e = Campaign::new("c", options(0, 1, 0.1), &[], "op", Timestamp(0)).unwrap_err();
    assert_eq!(e.0, "the cohort is empty");
}

#[test]
fn pacing_is_per_zone_and_a_paced_zone_does_not_hold_back_another() {
    let mut o = options(0, 10, 0.1);
    o.pace_per_min = Some(60); // one start per second per zone
    let zones = vec![
        Some("ws5".to_owned()),
        Some("ws5".into()),
        Some("ws2".into()),
        None,
    ];
    let mut c = Campaign::new("c", o, &zones, "op", Timestamp(0)).unwrap();
    assert_eq!(c.zones.get("unknown"), Some(&1));
    let pending: Vec<_> = zones.iter().cloned().enumerate().collect();
    assert_eq!(c.pick(&pending, Timestamp(10_000), 10), vec![0, 2, 3]);
    let rest = vec![pending[1].clone()];
    assert!(c.pick(&rest, Timestamp(10_500), 10).is_empty());
    assert_eq!(c.pick(&rest, Timestamp(11_000), 10), vec![1]);
    // Unpaced: the first `limit` in order.
    let mut c = campaign(4, 0, 4, 0.1);
    assert_eq!(c.pick(&pending, Timestamp(0), 2), vec![0, 1]);
}

fn failed_row(tenant: &str, step: &str, class: &str) -> Row {
    Row {
        entry: 1,
        wave: 0,
        tenant: tenant.into(),
        zone: UNKNOWN_ZONE.into(),
        run: Some("r".into()),
        state: "failed".into(),
        changed: vec![],
        failed_step: Some(step.into()),
        error_class: Some(class.into()),
        reason: Some(format!("{tenant} broke")),
    }
}

#[test]
fn failures_group_by_step_and_class_largest_first() {
    let rows = vec![
        failed_row("a", "ensure_webhooks", "permanent"),
        failed_row("b", "verify_user", "retries_exhausted"),
        failed_row("c", "ensure_webhooks", "permanent"),
    ];
    let groups = failures(&rows);
    assert_eq!(groups.len(), 2);
    assert_eq!(
        (groups[0].step.as_str(), groups[0].count),
        ("ensure_webhooks", 2)
    );
    assert_eq!(groups[0].tenants, vec!["a", "c"]);
}

#[test]
fn csv_quotes_what_needs_it_and_defuses_formulas() {
    let mut r = failed_row("=cmd", "s", "permanent");
    r.reason = Some("said \"no\", twice".into());
    let text = csv(&[r]);
    let line = text.lines().nth(1).unwrap();
    assert!(line.contains(",'=cmd,"), "{line}");
    assert!(line.ends_with("\"said \"\"no\"\", twice\""), "{line}");
}

#[test]
fn options_take_whole_numbers_as_json_schema_writes_them() {
    let o: CampaignOptions = serde_json::from_str(
        r#"{"kind": "verify", "canary": 2.0, "wave_size": 10, "pace_per_min": 30.0}"#,
    )
    .unwrap();
    assert_eq!((o.canary, o.wave_size, o.pace_per_min), (2, 10, Some(30)));
    let o: CampaignOptions =
        serde_json::from_str(r#"{"kind": "verify", "pace_per_min": null}"#).unwrap();
    assert_eq!(o.pace_per_min, None);
    for bad in [
        r#""wave_size": 1.5"#,
        r#""canary": -1"#,
        r#""pace_per_min": 5000000000"#,
    ] {
        let json = format!(r#"{{"kind": "verify", {bad}}}"#);
        assert!(
            serde_json::from_str::<CampaignOptions>(&json).is_err(),
            "{bad}"
        );
    }
}
