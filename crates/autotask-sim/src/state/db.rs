//! [`Db`]: one database as the sum of its parts — identity (name, zone, `ci`), the behaviour
//! knobs, the tables, the accounts, the limit bookkeeping, the remembered queries and the
//! webhook event counters — with read access for the layers above.
//!
//! What it does not do: no rule. The sibling modules add `Db`'s operations by concept
//! (`visibility`, `webhooks`, `resources`, `tickets`, `query`, `rest`, `setup`); each part
//! changes only through its own module's methods.

use crate::behaviour::{Behaviour, ResourceActivation};
use crate::config::DatabaseConfig;
use crate::limits::Usage;
use crate::metadata::Kind;

use super::accounts::{Account, Accounts};
use super::events::Events;
use super::paging::RememberedQueries;
use super::tables::{Table, Tables};

/// One database.
#[derive(Debug)]
pub(crate) struct Db {
    pub(super) name: String,
    pub(super) zone_name: String,
    pub(super) ci: i64,
    /// The simulator's behaviour knobs.
    pub(super) behaviour: Behaviour,
    pub(super) api_user_activation_via_rest: bool,
    /// With `resource_activation = ignored`: REST changes of an API user's `isActive` are
    /// answered but not applied.
    pub(super) api_user_activation_ignored: bool,
    pub(super) tables: Tables,
    pub(super) accounts: Accounts,
    pub(super) usage: Usage,
    pub(super) queries: RememberedQueries,
    pub(super) events: Events,
}

impl Db {
    /// The parts of a database without content (no lines of business, no resources; see
    /// `setup` for the content every database starts with).
    pub(super) fn empty(cfg: &DatabaseConfig, ci: i64, behaviour: Behaviour) -> Self {
        Self {
            name: cfg.name.clone(),
            zone_name: cfg.zone_name.clone(),
            ci,
            behaviour,
            api_user_activation_via_rest: cfg
                .api_user_activation_via_rest
                .unwrap_or(behaviour.resource_activation != ResourceActivation::Refused),
            api_user_activation_ignored: cfg.api_user_activation_via_rest.is_none()
                && behaviour.resource_activation == ResourceActivation::Ignored,
            tables: Tables::new(),
            accounts: Accounts::new(cfg),
            usage: Usage::new(cfg.hourly_threshold),
            queries: RememberedQueries::default(),
            events: Events::default(),
        }
    }

    /// The zone name zone discovery reports.
    pub(crate) fn zone_name(&self) -> &str {
        &self.zone_name
    }

    /// The `ci` zone discovery reports.
    pub(crate) fn ci(&self) -> i64 {
        self.ci
    }

    /// The rows of `kind`, as stored (no visibility rules).
    pub(crate) fn table(&self, kind: Kind) -> &Table {
        self.tables.get(kind)
    }

    /// Accounts, security levels and vendors (read).
    pub(crate) fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    /// Accounts, security levels and vendors, for the web interface's changes that touch
    /// nothing else (secrets, locks, levels, tracking identifiers, vendors).
    pub(crate) fn accounts_mut(&mut self) -> &mut Accounts {
        &mut self.accounts
    }

    /// The account of resource `id`.
    pub(crate) fn account(&self, id: i64) -> Option<&Account> {
        self.accounts.get(id)
    }

    /// Whether a username exists here.
    pub(crate) fn has_user(&self, user_name: &str) -> bool {
        self.accounts.user_id(user_name).is_some()
    }

    /// Every username in this database (lower-cased).
    pub(crate) fn user_names(&self) -> impl Iterator<Item = &str> {
        self.accounts.user_names()
    }

    /// The resource id of a username.
    pub(crate) fn user_id(&self, user_name: &str) -> Option<i64> {
        self.accounts.user_id(user_name)
    }

    /// The limit bookkeeping (threshold, window, threads).
    pub(crate) fn usage(&self) -> &Usage {
        &self.usage
    }

    /// The limit bookkeeping, for counting and admitting requests.
    pub(crate) fn usage_mut(&mut self) -> &mut Usage {
        &mut self.usage
    }
}
