//! What every database starts with: the parts from `db`, plus the configured lines of
//! business (or three defaults under "General") and one human administrator resource (no
//! API access) at the Administrator level.
//!
//! What it does not do: no fixture API users (the console's seed helpers add those, since a
//! username must be unique across databases).

use crate::behaviour::Behaviour;
use crate::config::DatabaseConfig;

use super::accounts::LEVEL_ADMIN;
use super::db::Db;

impl Db {
    /// A database with the default system levels, vendors, lines of business and one human
    /// administrator (who has no API access).
    pub(crate) fn new(cfg: &DatabaseConfig, ci: i64, behaviour: Behaviour) -> Self {
        let mut db = Self::empty(cfg, ci, behaviour);
        let lobs: Vec<String> = if cfg.lines_of_business.is_empty() {
            [
                "General > IT Services",
                "General > Software Development",
                "General > Managed Services",
            ]
            .map(str::to_owned)
            .to_vec()
        } else {
            cfg.lines_of_business.clone()
        };
        for lob in &lobs {
            db.add_line_of_business(lob);
        }
        let admin = db.insert_resource(
            "Sam",
            "Operator",
            &format!("operator@{}.example.com", cfg.name),
            &format!("operator@{}.example.com", cfg.name),
            false,
        );
        db.accounts
            .assign_level(admin, LEVEL_ADMIN)
            .expect("the administrator takes the Administrator level");
        db
    }
}
