//! What an operator must click in Autotask, in English and German, taken from the seed
//! (`autotask-api-user-setup.en.md` and the German original `.de.txt`), plus what the check
//! found. Lines marked *(onboard)* are not in the seed: they add what the seed's own notes or
//! the API reference say is needed (e.g. copying "API User (system)" into a custom level,
//! because system levels cannot be edited).

use serde::{Deserialize, Serialize};

use crate::catalog::{SeedStep, StepName};
use crate::finding::Finding;

/// The seed's instruction for one step, English rendering.
pub fn seed_text_en(step: SeedStep) -> &'static str {
    use SeedStep::*;
    match step {
        A1 => "Sign in to Autotask.",
        A2 => "Hover over the Autotask icon and go to Admin > Resources (Users).",
        A3 => "Under Resources, hover over New and choose New API User.",
        A4 => "Under General in \"Add API User\", fill in the required fields.",
        A5 => {
            "Enter a username and a password that Sophos Central will use to access Autotask. \
             Note them: they are needed later."
        }
        A6 => "Tick Active.",
        A7 => "Under Access Rights (security level), choose \"API User (system)\".",
        A8 => "Under Credentials, click Generate Key.",
        A9 => "Under Credentials, click Generate Secret.",
        A10 => {
            "Under API Tracking Identifier, choose Integration Vendor, then pick \
             \"Sophos Central - Security\" in the field below."
        }
        A11 => {
            "Under Line of Business, move these to the Associated column: \
             General > IT Services, and General > Software Development."
        }
        A12 => {
            "Check that \"Resource can view items with no assigned Line of Business\" is ticked."
        }
        A13 => "Click Save & Close. The account appears in the resource list.",
        W1 => {
            "In Autotask, go to Admin > Company Settings & Users > Resources/Users (HR) > \
             Security > Security Levels."
        }
        W2 => "Expand the section Other.",
        W3 => {
            "Select Webhooks and enter the maximum number of webhooks the API user may create \
             over the lifetime of the account."
        }
        W4 => "Click Save & Close.",
        C1 => {
            "Before you change the API user of the Autotask integration, make sure the previous \
             user's credentials for managing webhooks stay active. That lets the integration \
             remove the webhooks tied to the previous API user automatically."
        }
        C2 => {
            "When the integration's API user is changed, a new webhook is created automatically \
             with the new API user's credentials,"
        }
        C3 => "and the old webhook is removed.",
        C4 => {
            "If the previous API user's webhook is not removed automatically, it must be removed \
             by hand:"
        }
        C5 => "reactivate the previous API user that the old webhook belongs to,",
        C6 => "and delete the webhook through the Autotask API.",
        V1 => {
            "Once the API user exists, turn on the integration vendor \"Sophos Central - Security\" \
             (Autotask: Admin > Extensions & Integrations > Other Extensions & Tools > \
             Integration Center, set the vendor Active)."
        }
    }
}

/// The seed's instruction for one step, German original.
pub fn seed_text_de(step: SeedStep) -> &'static str {
    use SeedStep::*;
    match step {
        A1 => "Melden Sie sich bei Autotask an.",
        A2 => {
            "Fahren Sie mit der Maus über das Autotask-Symbol und gehen Sie zu Admin > \
             Ressourcen (Benutzer)."
        }
        A3 => {
            "Fahren Sie unter Ressourcen mit der Maus über Neu und wählen Sie Neuer API-Benutzer aus."
        }
        A4 => {
            "Geben Sie unter Allgemein in API-Benutzer hinzufügen Details in den erforderlichen \
             Feldern ein."
        }
        A5 => {
            "Geben Sie einen Benutzernamen und ein Kennwort ein, die Sophos Central für den \
             Zugriff auf Autotask verwenden soll. Hinweis: Notieren Sie sich diese Angaben, da \
             Sie sie später benötigen werden."
        }
        A6 => "Klicken Sie auf Aktiv.",
        A7 => "Wählen Sie unter Zugriffsrechte die Option API-Benutzer (System) aus.",
        A8 => "Klicken Sie unter Zugangsdaten auf Schlüssel generieren.",
        A9 => "Klicken Sie unter Zugangsdaten auf Geheimen Schlüssel generieren.",
        A10 => {
            "Klicken Sie unter API-Tracking-Identifikator auf Integrationsanbieter. Wählen Sie \
             im Feld unten die Option Sophos Central - Security aus."
        }
        A11 => {
            "Wählen Sie unter Geschäftsbereich die folgenden Optionen aus und verschieben Sie \
             sie in die Spalte Verknüpft: Allgemein > IT-Services, Allgemein > \
             Softwareentwicklung."
        }
        A12 => {
            "Überprüfen Sie, ob Ressource kann Elemente ohne zugewiesenen Geschäftsbereich \
             anzeigen ausgewählt ist."
        }
        A13 => {
            "Klicken Sie auf Speichern & Schließen. Das Konto wird der Ressourcenliste \
             hinzugefügt."
        }
        W1 => {
            "Fahren Sie in Autotask mit der Maus über das Autotask-Symbol und gehen Sie zu \
             Admin > Unternehmenseinstellungen & Benutzer > Ressourcen/Benutzer (HR) > \
             Sicherheit > Sicherheitsstufen."
        }
        W2 => "Erweitern Sie in Sicherheitsstufen den Abschnitt Andere.",
        W3 => {
            "Wählen Sie Webhooks aus und geben Sie die maximale Anzahl an Webhooks ein, die der \
             API-Benutzer während der Lebensdauer des Kontos erstellen kann."
        }
        W4 => "Klicken Sie auf Speichern & Schließen.",
        C1 => {
            "Bevor Sie den API-Benutzer für die Autotask-Integration ändern, stellen Sie sicher, \
             dass die Anmeldeinformationen zum Verwalten von Webhooks aktiv bleiben. Dies lässt \
             die Integration automatisch Webhooks entfernen, die mit dem vorherigen \
             API-Benutzer verknüpft sind."
        }
        C2 => {
            "Wenn Sie den API-Benutzer für die Autotask-Integration ändern, wird automatisch ein \
             neuer Webhook mit den Anmeldeinformationen des neuen API-Benutzers erstellt"
        }
        C3 => "und der alte Webhook entfernt.",
        C4 => {
            "Wenn der Webhook des vorherigen API-Benutzers nicht automatisch entfernt wird, \
             müssen Sie ihn manuell entfernen."
        }
        C5 => {
            "Um den alten Webhook manuell zu entfernen, reaktivieren Sie den vorherigen \
             API-Benutzer, der mit dem alten Webhook verknüpft ist,"
        }
        C6 => "und löschen Sie den Webhook über die Autotask-API.",
        V1 => {
            "Nachdem Sie ein API-Benutzerkonto erstellt haben, müssen Sie den \
             Integrationsanbieter Sophos Central - Security einschalten. Siehe Aktivieren des \
             Integrationsanbieters „Sophos Central – Security“. (Autotask: Admin > Extensions & \
             Integrations > Other Extensions & Tools > Integration Center, Anbieter auf Aktiv \
             setzen.)"
        }
    }
}

/// Instructions for an operator: the seed steps to do, in both languages, and what the check
/// found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Remediation {
    /// The catalog step that waits.
    pub step: StepName,
    /// The seed steps the instructions come from.
    pub seed_steps: Vec<SeedStep>,
    /// What the check found, English.
    pub found_en: Vec<String>,
    /// What the check found, German.
    pub found_de: Vec<String>,
    /// The instructions, English, one line per seed step (plus onboard's notes).
    pub instructions_en: Vec<String>,
    /// The instructions, German.
    pub instructions_de: Vec<String>,
}

impl Remediation {
    /// Instructions for `step` from its own seed steps, given what was found.
    pub fn for_step(step: StepName, found: &[Finding]) -> Self {
        Self::from_seed(step, step.seed_steps(), found)
    }

    /// Instructions for `step` from the given seed steps (e.g. `resolve_zone` shows how to
    /// create the API user), given what was found.
    pub fn from_seed(step: StepName, seed: &[SeedStep], found: &[Finding]) -> Self {
        let mut r = Self {
            step,
            seed_steps: seed.to_vec(),
            found_en: found.iter().map(Finding::en).collect(),
            found_de: found.iter().map(Finding::de).collect(),
            instructions_en: seed
                .iter()
                .map(|s| format!("{s}. {}", seed_text_en(*s)))
                .collect(),
            instructions_de: seed
                .iter()
                .map(|s| format!("{s}. {}", seed_text_de(*s)))
                .collect(),
        };
        if seed.contains(&SeedStep::W1) {
            r.instructions_en.push(
                "(onboard) \"API User (system)\" is a system level and cannot be edited: copy \
                 it into a custom API-only security level, enable Other > Webhooks there, and \
                 assign that level to the API user."
                    .into(),
            );
            r.instructions_de.push(
                "(onboard) „API-Benutzer (System)“ ist eine Systemstufe und kann nicht bearbeitet \
                 werden: Kopieren Sie sie in eine eigene reine API-Sicherheitsstufe, aktivieren \
                 Sie dort Andere > Webhooks und weisen Sie diese Stufe dem API-Benutzer zu."
                    .into(),
            );
        }
        r
    }

    /// Reactivating the previous API user in the web interface (C5), for when onboard has no
    /// admin credentials or Autotask refuses `PATCH Resources isActive` (unconfirmed,
    /// autotask-api.md §4): the seed's click path to the user (A2), Active (A6), Save (A13).
    pub fn reactivate_in_web_interface(step: StepName, user_name: &str, found: &[Finding]) -> Self {
        let mut r = Self::from_seed(
            step,
            &[SeedStep::C5, SeedStep::A2, SeedStep::A6, SeedStep::A13],
            found,
        );
        r.instructions_en.insert(
            2,
            format!("(onboard) Open the previous API user {user_name} in the list."),
        );
        r.instructions_de.insert(
            2,
            format!("(onboard) Öffnen Sie den vorherigen API-Benutzer {user_name} in der Liste."),
        );
        r.push_recheck();
        r
    }

    /// Deactivating the previous API user again in the web interface (no seed step: the
    /// seed's click path to the user (A2) and Save (A13), with Active unticked instead of A6).
    pub fn deactivate_in_web_interface(step: StepName, user_name: &str, found: &[Finding]) -> Self {
        let mut r = Self::from_seed(step, &[SeedStep::A2, SeedStep::A13], found);
        r.instructions_en.insert(
            1,
            format!(
                "(onboard) Open the previous API user {user_name} in the list and untick \
                 Active (the opposite of A6)."
            ),
        );
        r.instructions_de.insert(
            1,
            format!(
                "(onboard) Öffnen Sie den vorherigen API-Benutzer {user_name} in der Liste und \
                 entfernen Sie das Häkchen bei Aktiv (das Gegenteil von A6)."
            ),
        );
        r.push_recheck();
        r
    }

    fn push_recheck(&mut self) {
        self.instructions_en.push(
            "(onboard) onboard reads the user's Active flag again by itself; nothing to \
             acknowledge."
                .into(),
        );
        self.instructions_de.push(
            "(onboard) onboard liest das Aktiv-Kennzeichen des Benutzers selbst erneut; \
             nichts zu bestätigen."
                .into(),
        );
    }

    /// Instructions that are only onboard's own (no seed step), e.g. deactivating a user.
    pub fn custom(step: StepName, found: &[Finding], en: &str, de: &str) -> Self {
        Self {
            step,
            seed_steps: Vec::new(),
            found_en: found.iter().map(Finding::en).collect(),
            found_de: found.iter().map(Finding::de).collect(),
            instructions_en: vec![format!("(onboard) {en}")],
            instructions_de: vec![format!("(onboard) {de}")],
        }
    }

    /// The English text as shown on the dashboard.
    pub fn render_en(&self) -> String {
        let mut s = format!("{} is waiting for an operator.\nFound:\n", self.step);
        for f in &self.found_en {
            s.push_str(&format!("  - {f}\n"));
        }
        s.push_str("Do in Autotask:\n");
        for i in &self.instructions_en {
            s.push_str(&format!("  {i}\n"));
        }
        s
    }

    /// The German text as shown on the dashboard.
    pub fn render_de(&self) -> String {
        let mut s = format!("{} wartet auf einen Bearbeiter.\nBefund:\n", self.step);
        for f in &self.found_de {
            s.push_str(&format!("  - {f}\n"));
        }
        s.push_str("In Autotask zu tun:\n");
        for i in &self.instructions_de {
            s.push_str(&format!("  {i}\n"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_step_has_both_texts() {
        for s in SeedStep::ALL {
            assert!(!seed_text_en(s).is_empty());
            assert!(!seed_text_de(s).is_empty());
            assert_ne!(seed_text_en(s), seed_text_de(s));
        }
    }

    #[test]
    fn the_seed_files_contain_the_texts() {
        // The seed lives next to the workspace; check the click paths are verbatim.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/seed");
        // The seed lives beside the repository (`../shared/seed`), in CI as on every
        // developer's machine; without it this check would compare nothing, so it fails.
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| {
                panic!(
                    "the seed procedure {} is missing ({e}); it must lie beside the repository",
                    dir.join(name).display()
                )
            })
        };
        let (en, de) = (
            read("autotask-api-user-setup.en.md"),
            read("autotask-api-user-setup.de.txt"),
        );
        let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let (en, de) = (squash(&en), squash(&de));
        for path in [
            "Admin > Resources (Users)",
            "Admin > Company Settings & Users > Resources/Users (HR) > Security > Security Levels",
            "Admin > Extensions & Integrations > Other Extensions & Tools > Integration Center",
        ] {
            assert!(en.contains(path), "{path}");
        }
        for s in [SeedStep::A2, SeedStep::A7, SeedStep::W1, SeedStep::A12] {
            assert!(de.contains(&squash(seed_text_de(s))), "{s}");
            assert!(en.contains(&squash(seed_text_en(s))), "{s}");
        }
    }
}
