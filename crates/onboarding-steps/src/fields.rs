//! Webhook field labels: how a configured label finds Autotask's field, and which labels to
//! suggest when it does not.
//!
//! The subscribable fields of a family are the picklist of `fieldID` in
//! `{Family}WebhookFields/entityInformation/fields`. Whether Autotask labels them with the
//! entity's field names (`companyName`) or display names (`Company Name`) is not documented
//! (\[L\] in autotask-api.md), so a label matches when both agree ignoring case, spaces and
//! punctuation. `isActive` of the entries is not consulted: it may come as null (unset).
//!
//! Used by `check_webhook_fields` (before any operator step) and `ensure_webhooks` (when it
//! creates the fields), so both read the settings the same way.

use autotask_types::{FieldInfo, PicklistValue, WebhookFamily};

use crate::catalog::StepName;
use crate::plan::{Finding, Refusal};
use crate::remediation::Remediation;
use crate::retry::ErrorClass;
use crate::settings::TenantSettings;

/// How many valid labels an error lists at most.
const SUGGESTIONS: usize = 12;

/// Lower case, letters and digits only: "Company Name" and "companyName" become one key.
fn key(label: &str) -> String {
    label
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The usable entries of the `fieldID` picklist (none when the metadata lacks it).
fn offered(info: &[FieldInfo]) -> impl Iterator<Item = &PicklistValue> {
    info.iter()
        .filter(|f| f.name.eq_ignore_ascii_case("fieldID"))
        .flat_map(|f| f.picklist_values.iter())
        .filter(|v| !v.label.trim().is_empty())
}

/// The picklist entry a configured label names.
fn find<'a>(info: &'a [FieldInfo], label: &str) -> Option<&'a PicklistValue> {
    let want = key(label);
    offered(info).find(|v| key(&v.label) == want)
}

/// Levenshtein distance over characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The offered labels, closest to `label` first: labels containing it (or contained in it)
/// before the rest, then by edit distance, then alphabetically.
pub fn closest(info: &[FieldInfo], label: &str) -> Vec<String> {
    let want = key(label);
    let mut labels: Vec<(bool, usize, String)> = offered(info)
        .map(|v| {
            let k = key(&v.label);
            let related = !want.is_empty() && (k.contains(&want) || want.contains(&k));
            (!related, distance(&want, &k), v.label.clone())
        })
        .collect();
    labels.sort();
    labels.dedup_by(|a, b| a.2 == b.2);
    labels.into_iter().map(|(_, _, l)| l).collect()
}

/// A configured label Autotask does not offer, as a finding with the setting's path.
fn unknown(info: &[FieldInfo], family: WebhookFamily, setting: String, label: &str) -> Finding {
    let mut valid = closest(info, label);
    valid.truncate(SUGGESTIONS);
    Finding::WebhookFieldUnknown {
        family,
        setting,
        label: label.to_owned(),
        valid,
    }
}

/// The `fieldID`s of a family's configured labels, in order and without repeats, or a
/// permanent refusal of `step` naming every label Autotask does not offer, with the valid
/// labels (closest first) and EN/DE instructions.
pub fn resolve(
    step: StepName,
    settings: &TenantSettings,
    family: WebhookFamily,
    info: &[FieldInfo],
) -> Result<Vec<i32>, Refusal> {
    let Some((i, fam)) = settings
        .webhook_families
        .iter()
        .enumerate()
        .find(|(_, f)| f.family == family)
    else {
        return Err(Refusal::new(
            step,
            ErrorClass::Permanent,
            format!("{family} is not a configured family"),
        ));
    };
    let mut ids = Vec::new();
    let mut findings = Vec::new();
    for (j, label) in fam.subscribed_fields.iter().enumerate() {
        match find(info, label).map(|v| v.value.trim().parse::<i32>()) {
            Some(Ok(v)) if !ids.contains(&v) => ids.push(v),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => findings.push(unknown(
                info,
                family,
                format!("webhook_families[{i}].subscribed_fields[{j}]"),
                label,
            )),
        }
    }
    if findings.is_empty() {
        return Ok(ids);
    }
    Err(refusal(step, findings))
}

/// The refusal for unknown labels: permanent (the settings must change), with instructions.
pub(crate) fn refusal(step: StepName, findings: Vec<Finding>) -> Refusal {
    let reason = findings
        .iter()
        .map(Finding::en)
        .collect::<Vec<_>>()
        .join("; ");
    let remediation = Remediation::custom(
        step,
        &findings,
        "Correct the named setting of the run (CLI --fields FAMILY=label,..., the request's \
         webhook_families, or the cohort entry) to one of the valid labels listed, or leave \
         the family's fields out to use onboard's defaults, and enqueue the run again. \
         Nothing was changed in Autotask.",
        "Korrigieren Sie die genannte Einstellung des Laufs (CLI --fields FAMILIE=Feld,..., \
         webhook_families der Anfrage oder der Kohorteneintrag) auf eine der aufgeführten \
         gültigen Bezeichnungen, oder lassen Sie die Felder der Familie weg, um die \
         Vorgaben von onboard zu verwenden, und stellen Sie den Lauf erneut ein. In Autotask \
         wurde nichts geändert.",
    );
    Refusal {
        step,
        class: ErrorClass::Permanent,
        reason,
        findings,
        remediation: Some(Box::new(remediation)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(labels: &[&str]) -> Vec<FieldInfo> {
        vec![FieldInfo {
            name: "fieldID".into(),
            is_pick_list: true,
            picklist_values: labels
                .iter()
                .enumerate()
                .map(|(i, l)| PicklistValue {
                    value: (i + 1).to_string(),
                    label: (*l).into(),
                    is_active: true,
                    ..PicklistValue::default()
                })
                .collect(),
            ..FieldInfo::default()
        }]
    }

    #[test]
    fn labels_match_ignoring_case_spaces_and_punctuation() {
        let i = info(&["Company Name", "phone", "isActive"]);
        assert_eq!(find(&i, "companyName").map(|v| v.value.as_str()), Some("1"));
        assert_eq!(find(&i, "is_active").map(|v| v.value.as_str()), Some("3"));
        assert_eq!(find(&i, "Status"), None);
    }

    #[test]
    fn suggestions_put_the_closest_first() {
        let i = info(&["companyName", "phone", "isActive", "companyType"]);
        assert_eq!(
            closest(&i, "Company"),
            ["companyName", "companyType", "phone", "isActive"]
        );
        assert_eq!(closest(&i, "fone")[0], "phone");
        assert_eq!(closest(&i, "isActiv")[0], "isActive");
    }

    #[test]
    fn every_unknown_label_is_named_with_its_setting() {
        let mut s = TenantSettings::new("https://hooks.example.com");
        s.webhook_families = vec![crate::settings::FamilySettings {
            family: WebhookFamily::Company,
            subscribed_fields: vec!["companyName".into(), "Status".into(), "fone".into()],
        }];
        let i = info(&["companyName", "phone", "isActive"]);
        let r = resolve(StepName::CheckWebhookFields, &s, WebhookFamily::Company, &i).unwrap_err();
        assert_eq!(r.class, ErrorClass::Permanent);
        assert_eq!(r.findings.len(), 2);
        assert!(
            r.reason.starts_with(
                "setting `webhook_families[0].subscribed_fields[1]`: Autotask offers no \
                 Company webhook field labelled \"Status\"; valid labels (closest first): "
            ),
            "{}",
            r.reason
        );
        assert!(
            r.reason
                .contains("\"fone\"; valid labels (closest first): phone, ")
        );
        let rem = r.remediation.unwrap();
        assert!(
            rem.found_de[0].contains("gültige Bezeichnungen"),
            "{:?}",
            rem
        );
        assert_eq!(
            resolve(StepName::CheckWebhookFields, &s, WebhookFamily::Ticket, &i)
                .unwrap_err()
                .reason,
            "Ticket is not a configured family"
        );
    }
}
