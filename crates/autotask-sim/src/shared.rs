//! The state the REST pipeline, the operator console and the callout workers share: the
//! configuration, the databases (one mutex each), the fault rules, the request and callout
//! logs and the callout dispatcher. It receives delivery outcomes through
//! `callout::Deliveries` and books them in the database.
//!
//! What it does not do: no HTTP (that is `api`, `console` and `server`), no Autotask rule
//! (that is `state`); a new database gets no fixture users here (the console's seed helpers
//! add those). Locks are never held across an `.await`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::Error;
use crate::callout::{CalloutRecord, Deliveries, Dispatcher};
use crate::config::{DatabaseConfig, SimConfig};
use crate::faults::{Decision, FaultRule, Faults};
use crate::reqlog::{RequestLog, RequestRecord};
use crate::state::{Db, Outbound};

/// State shared by the REST pipeline, the console, the callout workers and the handle.
pub(crate) struct Inner {
    pub(crate) config: SimConfig,
    pub(crate) base_url: String,
    dbs: RwLock<HashMap<String, Arc<Mutex<Db>>>>,
    /// Lower-cased username → its database: every user is added through `add_database` or
    /// the console's `add_user`, which index it, so a user is found in O(1) however many
    /// databases there are (10,000 in the benchmark).
    user_index: RwLock<HashMap<String, String>>,
    faults: Mutex<Faults>,
    log: RequestLog,
    callouts: Mutex<Vec<CalloutRecord>>,
    dispatcher: Dispatcher,
    next_ci: AtomicI64,
}

impl Inner {
    /// No databases yet; must be called on the runtime that delivers callouts.
    pub(crate) fn new(config: SimConfig, base_url: String) -> Self {
        Self {
            dispatcher: Dispatcher::new(config.callouts.clone()),
            config,
            base_url,
            dbs: RwLock::new(HashMap::new()),
            user_index: RwLock::new(HashMap::new()),
            faults: Mutex::new(Faults::default()),
            log: RequestLog::default(),
            callouts: Mutex::new(Vec::new()),
            next_ci: AtomicI64::new(1001),
        }
    }

    /// A database by name.
    pub(crate) fn db(&self, name: &str) -> Option<Arc<Mutex<Db>>> {
        self.dbs.read().expect("not poisoned").get(name).cloned()
    }

    /// Names of all databases.
    pub(crate) fn db_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .dbs
            .read()
            .expect("not poisoned")
            .keys()
            .cloned()
            .collect();
        v.sort();
        v
    }

    /// Adds an empty database (its default content only; no fixture users).
    pub(crate) fn insert_db(&self, cfg: &DatabaseConfig) -> Result<(), Error> {
        if cfg.name.is_empty()
            || !cfg
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(Error::bad_request(
                "database names are non-empty and use only letters, digits, '-' and '_'",
            ));
        }
        let mut dbs = self.dbs.write().expect("not poisoned");
        if dbs.contains_key(&cfg.name) {
            return Err(Error::conflict(format!("database {} exists", cfg.name)));
        }
        let ci = self.next_ci.fetch_add(1, Ordering::Relaxed);
        let name = cfg.name.clone();
        let db = Db::new(cfg, ci, self.config.behaviour);
        for user in db.user_names() {
            self.index_user(user, &name);
        }
        dbs.insert(name, Arc::new(Mutex::new(db)));
        Ok(())
    }

    /// The database holding `user_name`, if any (usernames are unique across databases).
    pub(crate) fn db_of_user(&self, user_name: &str) -> Option<(String, Arc<Mutex<Db>>)> {
        let key = user_name.to_ascii_lowercase();
        let dbs = self.dbs.read().expect("not poisoned");
        let hint = self
            .user_index
            .read()
            .expect("not poisoned")
            .get(&key)
            .cloned();
        let (name, db) = hint.and_then(|n| dbs.get(&n).map(|db| (n, db)))?;
        let present = db.lock().expect("not poisoned").has_user(user_name);
        present.then(|| (name, db.clone()))
    }

    /// Records that `user_name` lives in database `db` (see `user_index`).
    pub(crate) fn index_user(&self, user_name: &str, db: &str) {
        self.user_index
            .write()
            .expect("not poisoned")
            .insert(user_name.to_ascii_lowercase(), db.to_owned());
    }

    /// Counts a REST request in flight until the guard is dropped.
    pub(crate) fn begin_request(&self) -> crate::reqlog::InFlight<'_> {
        self.log.begin()
    }

    /// The most REST requests in flight at once since the last reset.
    pub(crate) fn max_in_flight(&self) -> usize {
        self.log.peak()
    }

    /// Starts [`max_in_flight`](Self::max_in_flight) again from the requests in flight now.
    pub(crate) fn reset_max_in_flight(&self) {
        self.log.reset_peak();
    }

    /// Appends to the request log.
    pub(crate) fn log_request(&self, rec: RequestRecord) {
        self.log.push(rec, self.config.request_log_capacity);
    }

    /// The request log, oldest first.
    pub(crate) fn requests(&self) -> Vec<RequestRecord> {
        self.log.all()
    }

    /// Empties the request log.
    pub(crate) fn clear_requests(&self) {
        self.log.clear();
    }

    /// Every callout delivery attempt so far.
    pub(crate) fn callouts(&self) -> Vec<CalloutRecord> {
        self.callouts.lock().expect("not poisoned").clone()
    }

    /// Adds a fault rule; returns the rules now active.
    pub(crate) fn add_fault(&self, rule: FaultRule) -> Vec<FaultRule> {
        let mut f = self.faults.lock().expect("not poisoned");
        f.add(rule);
        f.rules().to_vec()
    }

    /// The active fault rules.
    pub(crate) fn faults(&self) -> Vec<FaultRule> {
        self.faults.lock().expect("not poisoned").rules().to_vec()
    }

    /// Removes every fault rule.
    pub(crate) fn clear_faults(&self) {
        self.faults.lock().expect("not poisoned").clear();
    }

    /// What the fault rules decide for one request (using up counted rules).
    pub(crate) fn decide_faults(&self, db: &str, endpoint: &str, method: &str) -> Decision {
        self.faults
            .lock()
            .expect("not poisoned")
            .decide(db, endpoint, method)
    }

    /// Queues callouts for delivery (after the database lock is released).
    pub(crate) fn send_callouts(self: &Arc<Self>, callouts: Vec<Outbound>) {
        self.dispatcher.send(self, callouts);
    }
}

impl Deliveries for Inner {
    fn record(&self, rec: CalloutRecord) {
        self.callouts.lock().expect("not poisoned").push(rec);
    }

    /// Books a delivery outcome in the webhook's database. Returns whether to keep retrying
    /// this event: false once the webhook is inactive or gone, or when this failure
    /// deactivated it (whose deactivation callout is then sent).
    fn booked(self: Arc<Self>, c: &Outbound, delivered: bool) -> bool {
        let Some(db) = self.db(&c.database) else {
            return false;
        };
        let (keep_going, out) = db.lock().expect("not poisoned").book_delivery(
            c.family,
            c.webhook_id,
            delivered,
            self.config.callouts.deactivate_after_failures,
        );
        self.send_callouts(out);
        keep_going
    }

    /// Writes an event whose every attempt failed to the database's webhook error log.
    fn dropped(&self, c: &Outbound, error: &str) {
        if let Some(db) = self.db(&c.database) {
            db.lock().expect("not poisoned").log_dropped_event(c, error);
        }
    }
}
