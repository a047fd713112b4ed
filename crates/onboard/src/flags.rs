//! What `onboard enqueue` and `onboard doctor` both read from their command line: the
//! secrets (from `--secrets FILE|-` or the environment, never from argv) paired with the
//! usernames, and the webhook families of `--families`, `--fields` and `--udf-fields`. Each
//! error names the flag or variable that is wrong.

use anyhow::{Context as _, anyhow, bail};
use autotask_types::WebhookFamily;
use clap::Args;
use onboarding_steps::settings::FamilySettings;
use onboarding_worker::service::ApiCredentials;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Secrets {
    integration_code: Option<String>,
    new_secret: Option<String>,
    previous_secret: Option<String>,
    admin_secret: Option<String>,
}

/// The webhook families and their fields, as `enqueue` and `doctor` take them.
#[derive(Debug, Args)]
pub struct WebhookFlags {
    /// Webhook families, comma-separated (default Ticket); each subscribes to its default
    /// fields (README) unless --fields names them.
    #[arg(long, value_delimiter = ',')]
    families: Vec<String>,
    /// The subscribed fields of one family by their Autotask labels, e.g.
    /// `--fields Company=companyName,phone`; repeat it per family. Without --families, the
    /// families named here are the ones maintained.
    #[arg(long, value_name = "FAMILY=LABEL,...")]
    fields: Vec<String>,
    /// The subscribed user-defined fields of one family by their labels, e.g.
    /// `--udf-fields "Company=Sophos Tenant ID"` (none by default; not for TicketNote).
    #[arg(long, value_name = "FAMILY=LABEL,...")]
    udf_fields: Vec<String>,
}

impl WebhookFlags {
    /// The families these flags name, `None` when none is given (see
    /// [`families_from_flags`]).
    pub fn families(&self) -> anyhow::Result<Option<Vec<FamilySettings>>> {
        families_from_flags(&self.families, &self.fields, &self.udf_fields)
    }
}

/// `FAMILY=LABEL,...` of `--fields` or `--udf-fields`.
fn family_labels(flag: &str, spec: &str) -> anyhow::Result<(WebhookFamily, Vec<String>)> {
    let (family, labels) = spec.split_once('=').ok_or_else(|| {
        anyhow!("{flag} {spec:?}: expected FAMILY=LABEL,... e.g. Company=companyName,phone")
    })?;
    let family: WebhookFamily = family
        .trim()
        .parse()
        .map_err(|e| anyhow!("{flag} {spec:?}: {e}"))?;
    let labels: Vec<String> = labels
        .split(',')
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    if labels.is_empty() {
        bail!("{flag} {spec:?}: name at least one label after '='");
    }
    Ok((family, labels))
}

/// The webhook families of `--families`, `--fields` and `--udf-fields`: `None` when none is
/// given (the settings' default). A family of `--families` without `--fields` gets its
/// default fields; `--fields`/`--udf-fields` for a family that `--families` leaves out is an
/// error, not a silent addition; without `--families` the families they name are the ones
/// maintained.
pub fn families_from_flags(
    families: &[String],
    fields: &[String],
    udf_fields: &[String],
) -> anyhow::Result<Option<Vec<FamilySettings>>> {
    let mut chosen: Vec<FamilySettings> = Vec::new();
    for f in families {
        let family: WebhookFamily = f.trim().parse().map_err(|e| anyhow!("--families: {e}"))?;
        if chosen.iter().any(|c| c.family == family) {
            bail!("--families: {family} is named twice");
        }
        chosen.push(FamilySettings::new(family));
    }
    let named_by_families = !chosen.is_empty();
    let mut given: Vec<(WebhookFamily, &str)> = Vec::new();
    for (flag, specs) in [("--fields", fields), ("--udf-fields", udf_fields)] {
        for spec in specs {
            let (family, labels) = family_labels(flag, spec)?;
            if given.contains(&(family, flag)) {
                bail!("{flag}: {family} is given twice");
            }
            given.push((family, flag));
            let settings = match chosen.iter_mut().position(|c| c.family == family) {
                Some(i) => &mut chosen[i],
                None if named_by_families => bail!(
                    "{flag} {spec:?}: {family} is not among --families; add it there or leave \
                     --families out"
                ),
                None => {
                    chosen.push(FamilySettings::new(family));
                    chosen.last_mut().expect("just pushed")
                }
            };
            if flag == "--fields" {
                settings.subscribed_fields = labels;
            } else {
                settings.subscribed_udf_fields = labels;
            }
        }
    }
    Ok((!chosen.is_empty()).then_some(chosen))
}

/// The credentials of each role, from `--secrets FILE|-` or the environment
/// (`ONBOARD_INTEGRATION_CODE`, `ONBOARD_NEW_SECRET`, `ONBOARD_PREVIOUS_SECRET`,
/// `ONBOARD_ADMIN_SECRET`); `enqueue` and `doctor` read them the same way.
pub struct UserCredentials {
    /// The (new) API user's.
    pub new_user: ApiCredentials,
    /// The previous API user's, when `--previous-user` is given.
    pub previous_user: Option<ApiCredentials>,
    /// The admin's, when `--admin-user` is given.
    pub admin: Option<ApiCredentials>,
}

/// Reads the secrets and pairs them with the usernames (an error names the missing one).
pub fn user_credentials(
    secrets: Option<&str>,
    new_user: &str,
    previous_user: Option<&str>,
    admin_user: Option<&str>,
) -> anyhow::Result<UserCredentials> {
    let secrets: Secrets = match secrets {
        Some("-") => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                .context("--secrets -: cannot read stdin")?;
            serde_json::from_str(&text).map_err(|e| anyhow!("--secrets (stdin): {e}"))?
        }
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("--secrets: cannot read {path}"))?;
            serde_json::from_str(&text).map_err(|e| anyhow!("--secrets {path}: {e}"))?
        }
        None => Secrets {
            integration_code: std::env::var("ONBOARD_INTEGRATION_CODE").ok(),
            new_secret: std::env::var("ONBOARD_NEW_SECRET").ok(),
            previous_secret: std::env::var("ONBOARD_PREVIOUS_SECRET").ok(),
            admin_secret: std::env::var("ONBOARD_ADMIN_SECRET").ok(),
        },
    };
    let code = secrets.integration_code.clone().ok_or_else(|| {
        anyhow!("integration_code: missing (ONBOARD_INTEGRATION_CODE or --secrets)")
    })?;
    let input =
        |user: &str, secret: Option<String>, name: &str| -> anyhow::Result<ApiCredentials> {
            Ok(ApiCredentials {
                integration_code: code.clone(),
                username: user.to_owned(),
                secret: secret
                    .ok_or_else(|| anyhow!("{name}: missing (environment or --secrets)"))?,
            })
        };
    Ok(UserCredentials {
        new_user: input(
            new_user,
            secrets.new_secret,
            "new_secret (ONBOARD_NEW_SECRET)",
        )?,
        previous_user: previous_user
            .map(|u| {
                input(
                    u,
                    secrets.previous_secret.clone(),
                    "previous_secret (ONBOARD_PREVIOUS_SECRET)",
                )
            })
            .transpose()?,
        admin: admin_user
            .map(|u| {
                input(
                    u,
                    secrets.admin_secret.clone(),
                    "admin_secret (ONBOARD_ADMIN_SECRET)",
                )
            })
            .transpose()?,
    })
}
