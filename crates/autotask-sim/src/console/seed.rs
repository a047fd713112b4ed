//! The seed helpers: the whole seed for one API user in one call (`seed_api_user`, A1–A13
//! and W1–W4), the fixture users of a configuration, and adding a database with them.
//!
//! What it does not do: nothing a single console action could not do; each helper is a
//! sequence of [`DbConsole`] actions.

use std::sync::Arc;

use super::database::DbConsole;
use super::types::{NewApiUser, SeedApiUser, SeededApiUser};
use crate::Error;
use crate::config::{ApiUserConfig, DatabaseConfig};
use crate::shared::Inner;
use crate::state::LEVEL_API_SYSTEM;

/// Adds a database with its default content and its fixture API users.
pub(crate) fn add_database(inner: &Arc<Inner>, cfg: &DatabaseConfig) -> Result<(), Error> {
    inner.insert_db(cfg)?;
    let console = DbConsole::new(inner.clone(), &cfg.name)?;
    for u in &cfg.api_users {
        console.add_fixture_user(u)?;
    }
    Ok(())
}

impl DbConsole {
    /// The whole seed for one API user: create (active), copy "API User (system)" with
    /// webhooks enabled (if `webhook_max`), assign it, set the tracking identifier and lines
    /// of business. Returns the credentials and the integration code.
    pub fn seed_api_user(&self, seed: &SeedApiUser) -> Result<SeededApiUser, Error> {
        let created = self.create_api_user(&NewApiUser {
            first_name: seed.first_name.clone(),
            last_name: seed.last_name.clone(),
            email: String::new(),
            active: true,
            locked: false,
        })?;
        let id = created.resource_id;
        let level = match seed.webhook_max {
            Some(max) => {
                let name = format!("API User (webhooks) {id}");
                let copy = self.copy_security_level(LEVEL_API_SYSTEM, &name)?;
                self.set_webhook_permission(copy.id, true, max)?;
                copy.id
            }
            None => LEVEL_API_SYSTEM,
        };
        self.assign_security_level(id, level)?;
        let code = match &seed.vendor {
            Some(name) => {
                let v = self.vendor_by_name(name)?;
                self.set_tracking_vendor(id, v.id)?;
                v.code
            }
            None => self.set_tracking_custom(id)?,
        };
        let lobs = seed
            .lines_of_business
            .iter()
            .map(|l| {
                self.association_id(l)
                    .ok_or_else(|| Error::not_found(format!("line of business {l}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.set_lines_of_business(id, &lobs, seed.view_items_with_no_lob)?;
        Ok(SeededApiUser {
            resource_id: id,
            user_name: created.user_name,
            secret: created.secret,
            integration_code: code,
            security_level_id: level,
        })
    }

    /// Adds a preexisting API user from the fixtures (e.g. the previous integration user):
    /// its level (copied with webhooks when `webhook_max` is set), vendor, lines of business
    /// and activity as configured.
    fn add_fixture_user(&self, u: &ApiUserConfig) -> Result<(), Error> {
        if self.user_name_taken(&u.user_name) {
            return Err(Error::conflict(format!("username {} exists", u.user_name)));
        }
        let email = u.email.clone().unwrap_or_else(|| u.user_name.clone());
        let id = self.add_user(
            (&u.first_name, &u.last_name, &email),
            &u.user_name,
            &u.secret,
            false,
        )?;
        if let Some(level) = &u.security_level {
            let base = self
                .security_levels()
                .into_iter()
                .find(|l| l.name.eq_ignore_ascii_case(level))
                .ok_or_else(|| Error::Fixtures {
                    message: format!("unknown security level {level}"),
                })?;
            let level_id = match u.webhook_max {
                Some(max) => {
                    let copy =
                        self.copy_security_level(base.id, &format!("{} (webhooks)", base.name))?;
                    self.set_webhook_permission(copy.id, true, max)?;
                    copy.id
                }
                None => base.id,
            };
            self.assign_security_level(id, level_id)?;
        }
        if let Some(vendor) = &u.vendor {
            let v = self.vendor_by_name(vendor)?;
            self.set_tracking_vendor(id, v.id)?;
        }
        let lobs = u
            .lines_of_business
            .iter()
            .map(|l| {
                self.association_id(l).ok_or_else(|| Error::Fixtures {
                    message: format!("unknown line of business {l}"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.set_lines_of_business(id, &lobs, u.view_items_with_no_lob)?;
        if !u.active {
            self.set_active(id, false)?;
        }
        Ok(())
    }
}
