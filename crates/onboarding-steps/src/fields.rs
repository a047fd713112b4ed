//! Webhook field labels: how a configured label finds Autotask's field, and which labels to
//! suggest when it does not.
//!
//! The subscribable fields of a family are the picklist of `fieldID` in
//! `{Family}WebhookFields/entityInformation/fields`, its user-defined fields the picklist of
//! `udfFieldID` in `{Family}WebhookUdfFields/entityInformation/fields` ([`Labels`]). Whether Autotask labels them with the
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
use crate::settings::{FamilySettings, TenantSettings};

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

/// Which labels of a family: its standard fields or its user-defined fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Labels {
    /// `subscribed_fields`, the picklist of `fieldID`.
    Fields,
    /// `subscribed_udf_fields`, the picklist of `udfFieldID`.
    Udfs,
}

impl Labels {
    fn picklist(self) -> &'static str {
        match self {
            Self::Fields => "fieldID",
            Self::Udfs => "udfFieldID",
        }
    }

    fn setting(self) -> &'static str {
        match self {
            Self::Fields => "subscribed_fields",
            Self::Udfs => "subscribed_udf_fields",
        }
    }

    fn of(self, family: &FamilySettings) -> &[String] {
        match self {
            Self::Fields => &family.subscribed_fields,
            Self::Udfs => &family.subscribed_udf_fields,
        }
    }
}

/// The usable entries of the picklist (none when the metadata lacks it).
fn offered(info: &[FieldInfo], labels: Labels) -> impl Iterator<Item = &PicklistValue> {
    info.iter()
        .filter(move |f| f.name.eq_ignore_ascii_case(labels.picklist()))
        .flat_map(|f| f.picklist_values.iter())
        .filter(|v| !v.label.trim().is_empty())
}

/// The picklist entry a configured label names.
fn find<'a>(info: &'a [FieldInfo], labels: Labels, label: &str) -> Option<&'a PicklistValue> {
    let want = key(label);
    offered(info, labels).find(|v| key(&v.label) == want)
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
pub fn closest(info: &[FieldInfo], kind: Labels, label: &str) -> Vec<String> {
    let want = key(label);
    let mut labels: Vec<(bool, usize, String)> = offered(info, kind)
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
fn unknown(
    info: &[FieldInfo],
    family: WebhookFamily,
    kind: Labels,
    setting: String,
    label: &str,
) -> Finding {
    let mut valid = closest(info, kind, label);
    valid.truncate(SUGGESTIONS);
    Finding::WebhookFieldUnknown {
        family,
        setting,
        label: label.to_owned(),
        valid,
        udf: kind == Labels::Udfs,
    }
}

/// The picklist values (`fieldID`s or `udfFieldID`s) of a family's configured labels, in
/// order and without repeats, or a permanent refusal of `step` naming every label Autotask
/// does not offer, with the valid labels (closest first) and EN/DE instructions.
pub fn resolve(
    step: StepName,
    settings: &TenantSettings,
    family: WebhookFamily,
    kind: Labels,
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
    for (j, label) in kind.of(fam).iter().enumerate() {
        match find(info, kind, label).map(|v| v.value.trim().parse::<i32>()) {
            Some(Ok(v)) if !ids.contains(&v) => ids.push(v),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => findings.push(unknown(
                info,
                family,
                kind,
                format!("webhook_families[{i}].{}[{j}]", kind.setting()),
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
    let refusal = Refusal::operator(step, ErrorClass::Permanent, findings);
    let remediation = Remediation::custom(
        step,
        &refusal.findings,
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
    refusal.with_remediation(remediation)
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
        assert_eq!(
            find(&i, Labels::Fields, "companyName").map(|v| v.value.as_str()),
            Some("1")
        );
        assert_eq!(
            find(&i, Labels::Fields, "is_active").map(|v| v.value.as_str()),
            Some("3")
        );
        assert_eq!(find(&i, Labels::Fields, "Status"), None);
        assert_eq!(
            find(&i, Labels::Udfs, "phone"),
            None,
            "UDFs come from udfFieldID"
        );
    }

    #[test]
    fn suggestions_put_the_closest_first() {
        let i = info(&["companyName", "phone", "isActive", "companyType"]);
        assert_eq!(
            closest(&i, Labels::Fields, "Company"),
            ["companyName", "companyType", "phone", "isActive"]
        );
        assert_eq!(closest(&i, Labels::Fields, "fone")[0], "phone");
        assert_eq!(closest(&i, Labels::Fields, "isActiv")[0], "isActive");
    }

    #[test]
    fn every_unknown_label_is_named_with_its_setting() {
        let mut s = TenantSettings::new("https://hooks.example.com");
        s.webhook_families = vec![crate::settings::FamilySettings {
            family: WebhookFamily::Company,
            subscribed_fields: vec!["companyName".into(), "Status".into(), "fone".into()],
            subscribed_udf_fields: Vec::new(),
        }];
        let i = info(&["companyName", "phone", "isActive"]);
        let r = resolve(
            StepName::CheckWebhookFields,
            &s,
            WebhookFamily::Company,
            Labels::Fields,
            &i,
        )
        .unwrap_err();
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
            resolve(
                StepName::CheckWebhookFields,
                &s,
                WebhookFamily::Ticket,
                Labels::Fields,
                &i
            )
            .unwrap_err()
            .reason,
            "Ticket is not a configured family"
        );
    }
}
