//! Starting the simulator and the handle tests hold: [`spawn`] binds `127.0.0.1`, creates
//! the configured databases (with their fixture users) and serves one axum app — every
//! database's REST surface under `/zones/{db}/ATServicesRest/`, zone discovery at
//! `/atservicesrest/v1.0/zoneInformation`, the operator console under `/_sim/` — until
//! [`SimHandle::shutdown`] or drop.
//!
//! [`spawn_replay`] serves a recorded tenant (`replay`) instead of the databases.
//!
//! What it does not do: it is the top of the crate's layering and holds no state or rule of
//! its own; requests are answered by `api` (or `replay`) and `console`, state lives in
//! `shared`.

use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::callout::CalloutRecord;
use crate::config::{DatabaseConfig, SimConfig};
use crate::console::{self, DbConsole};
use crate::faults::FaultRule;
use crate::listener::{Conn, SimListener};
use crate::replay::{self, Replay};
pub use crate::reqlog::RequestRecord;
use crate::shared::Inner;
use crate::{Error, api};

/// Starts the simulator on `127.0.0.1:{config.port}` (0 = any free port).
pub async fn spawn(config: SimConfig) -> Result<SimHandle, Error> {
    start(config, None).await
}

/// Starts a simulator that serves a recorded tenant (see `replay`) on
/// `127.0.0.1:{config.port}`; the configuration's databases are not used.
pub async fn spawn_replay(config: SimConfig, replay: Replay) -> Result<SimHandle, Error> {
    start(config, Some(replay)).await
}

async fn start(config: SimConfig, replay: Option<Replay>) -> Result<SimHandle, Error> {
    let listener = TcpListener::bind(("127.0.0.1", config.port))
        .await
        .map_err(|source| Error::Io {
            action: "binding the listener",
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| Error::Io {
        action: "reading the local address",
        source,
    })?;
    let base_url = format!("http://{addr}");
    let databases = if replay.is_some() {
        Vec::new()
    } else {
        config.databases.clone()
    };
    let inner = Arc::new(Inner::new(config, base_url.clone()));
    for db in &databases {
        console::add_database(&inner, db)?;
    }
    let app = axum::Router::new().nest("/_sim", console::router());
    // The recording travels as a request extension, so the shared state knows nothing of it.
    let app = match replay {
        Some(replay) => app
            .fallback(replay::handle)
            .layer(Extension(Arc::new(replay))),
        None => app.fallback(api::handle),
    }
    .with_state(inner.clone());
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(
            SimListener(listener),
            app.into_make_service_with_connect_info::<Conn>(),
        )
        .with_graceful_shutdown(async {
            let _ = rx.await;
        })
        .await;
    });
    tracing::info!(%base_url, "autotask simulator listening");
    Ok(SimHandle {
        inner,
        base_url,
        shutdown: Some(tx),
        task: Some(task),
    })
}

/// A running simulator. Dropping it stops the listener.
pub struct SimHandle {
    inner: Arc<Inner>,
    base_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl SimHandle {
    /// `http://127.0.0.1:{port}`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The zone discovery URL without the `user` parameter:
    /// `{base}/atservicesrest/v1.0/zoneInformation`.
    pub fn zone_discovery_url(&self) -> String {
        format!("{}/atservicesrest/v1.0/zoneInformation", self.base_url)
    }

    /// The zone URL of a database as zone discovery returns it (trailing slash):
    /// `{base}/zones/{db}/ATServicesRest/`.
    pub fn zone_url(&self, db: &str) -> String {
        format!("{}/zones/{db}/ATServicesRest/", self.base_url)
    }

    /// The REST root of a database: `{base}/zones/{db}/ATServicesRest/V1.0/`.
    pub fn api_url(&self, db: &str) -> String {
        format!("{}V1.0/", self.zone_url(db))
    }

    /// The operator console of one database.
    pub fn db(&self, name: &str) -> Result<DbConsole, Error> {
        DbConsole::new(self.inner.clone(), name)
    }

    /// Adds a database at run time.
    pub fn add_database(&self, cfg: &DatabaseConfig) -> Result<DbConsole, Error> {
        console::add_database(&self.inner, cfg)?;
        self.db(&cfg.name)
    }

    /// Names of all databases.
    pub fn databases(&self) -> Vec<String> {
        self.inner.db_names()
    }

    /// The request log (oldest first).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.inner.requests()
    }

    /// The most REST requests that were in the simulator at once (being answered, latency
    /// included) since it started or since [`reset_max_in_flight`](Self::reset_max_in_flight).
    pub fn max_in_flight(&self) -> usize {
        self.inner.max_in_flight()
    }

    /// Starts [`max_in_flight`](Self::max_in_flight) again from the requests in flight now.
    pub fn reset_max_in_flight(&self) {
        self.inner.reset_max_in_flight();
    }

    /// Empties the request log.
    pub fn clear_requests(&self) {
        self.inner.clear_requests();
    }

    /// Every callout delivery attempt so far.
    pub fn callouts(&self) -> Vec<CalloutRecord> {
        self.inner.callouts()
    }

    /// Adds a fault rule.
    pub fn add_fault(&self, rule: FaultRule) {
        self.inner.add_fault(rule);
    }

    /// The active fault rules.
    pub fn faults(&self) -> Vec<FaultRule> {
        self.inner.faults()
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.inner.clear_faults();
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &SimConfig {
        &self.inner.config
    }

    /// Stops accepting, lets in-flight requests finish for up to a second, then stops.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(1), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }

    /// Runs until the task ends (for the binary).
    pub async fn wait(mut self) {
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
