//! The listener, the shared simulator state and the handle tests hold.
//!
//! One axum server on `127.0.0.1` serves every database under `/zones/{db}/ATServicesRest/`,
//! zone discovery at `/atservicesrest/v1.0/zoneInformation`, and the operator console under
//! `/_sim/`. The listener wraps each TCP stream so a handler can kill its own connection
//! (connection resets, timeouts, commit-then-drop) without panicking.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::callout::{CalloutRecord, Dispatcher};
use crate::config::{DatabaseConfig, SimConfig};
use crate::console::DbConsole;
use crate::faults::{FaultRule, Faults};
use crate::state::{Db, Outbound};
use crate::{Error, api, console};

/// One REST request as the simulator saw it. Secrets and integration codes are never
/// recorded.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestRecord {
    /// Sequence number (1-based, per simulator).
    pub seq: u64,
    /// The database, when the path named one.
    pub database: Option<String>,
    /// HTTP method.
    pub method: String,
    /// Path and query string.
    pub path: String,
    /// The endpoint (first segment after `V1.0`), when there is one.
    pub endpoint: Option<String>,
    /// The `UserName` header, when sent.
    pub user_name: Option<String>,
    /// The answered status (0 when the connection was dropped without an answer).
    pub status: u16,
    /// The fault applied, if any.
    pub fault: Option<String>,
    /// The simulator's own limit that refused the request (`thread_limit`, `threshold`), if
    /// any: lets tests tell the limits' refusals from others whatever their status.
    pub refused_by: Option<String>,
    /// Time spent in the simulator, microseconds.
    pub micros: u64,
}

/// State shared by the server, the callout workers and the handle.
pub(crate) struct Inner {
    pub(crate) config: SimConfig,
    pub(crate) base_url: String,
    dbs: RwLock<HashMap<String, Arc<Mutex<Db>>>>,
    pub(crate) faults: Mutex<Faults>,
    log: Mutex<VecDeque<RequestRecord>>,
    log_seq: AtomicU64,
    callouts: Mutex<Vec<CalloutRecord>>,
    pub(crate) dispatcher: Dispatcher,
    next_ci: AtomicI64,
    /// A recorded tenant answering instead of the state (see `replay`).
    pub(crate) replay: Option<crate::replay::Replay>,
}

impl Inner {
    fn new(config: SimConfig, base_url: String, replay: Option<crate::replay::Replay>) -> Self {
        Self {
            dispatcher: Dispatcher::new(config.callouts.timeout()),
            config,
            base_url,
            dbs: RwLock::new(HashMap::new()),
            faults: Mutex::new(Faults::default()),
            log: Mutex::new(VecDeque::new()),
            log_seq: AtomicU64::new(0),
            callouts: Mutex::new(Vec::new()),
            next_ci: AtomicI64::new(1001),
            replay,
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

    /// Adds a database (and its fixture API users).
    pub(crate) fn add_db(self: &Arc<Self>, cfg: &DatabaseConfig) -> Result<(), Error> {
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
        {
            let mut dbs = self.dbs.write().expect("not poisoned");
            if dbs.contains_key(&cfg.name) {
                return Err(Error::conflict(format!("database {} exists", cfg.name)));
            }
            let ci = self.next_ci.fetch_add(1, Ordering::Relaxed);
            dbs.insert(
                cfg.name.clone(),
                Arc::new(Mutex::new(Db::new(cfg, ci, self.config.behaviour))),
            );
        }
        let console = DbConsole::new(self.clone(), &cfg.name)?;
        for u in &cfg.api_users {
            console.add_fixture_user(u)?;
        }
        Ok(())
    }

    /// The database holding `user_name`, if any (usernames are unique across databases).
    pub(crate) fn db_of_user(&self, user_name: &str) -> Option<(String, Arc<Mutex<Db>>)> {
        self.dbs
            .read()
            .expect("not poisoned")
            .iter()
            .find(|(_, db)| db.lock().expect("not poisoned").has_user(user_name))
            .map(|(n, db)| (n.clone(), db.clone()))
    }

    pub(crate) fn log_request(&self, mut rec: RequestRecord) {
        rec.seq = self.log_seq.fetch_add(1, Ordering::Relaxed) + 1;
        let mut log = self.log.lock().expect("not poisoned");
        if log.len() >= self.config.request_log_capacity.max(1) {
            log.pop_front();
        }
        log.push_back(rec);
    }

    pub(crate) fn requests(&self) -> Vec<RequestRecord> {
        self.log
            .lock()
            .expect("not poisoned")
            .iter()
            .cloned()
            .collect()
    }

    pub(crate) fn clear_requests(&self) {
        self.log.lock().expect("not poisoned").clear();
    }

    pub(crate) fn record_callout(&self, rec: CalloutRecord) {
        self.callouts.lock().expect("not poisoned").push(rec);
    }

    pub(crate) fn callouts(&self) -> Vec<CalloutRecord> {
        self.callouts.lock().expect("not poisoned").clone()
    }

    /// Writes an event whose every attempt failed to the database's webhook error log.
    pub(crate) fn event_dropped(&self, c: &Outbound, error: &str) {
        if let Some(db) = self.db(&c.database) {
            db.lock().expect("not poisoned").log_dropped_event(c, error);
        }
    }

    /// Books a delivery outcome. Returns whether to keep retrying this event: false once the
    /// webhook is inactive or gone, or when this failure deactivated it.
    pub(crate) fn after_delivery(self: &Arc<Self>, c: &Outbound, delivered: bool) -> bool {
        let Some(db) = self.db(&c.database) else {
            return false;
        };
        let mut out = Vec::new();
        let keep_going = {
            let mut db = db.lock().expect("not poisoned");
            let key = (c.family, c.webhook_id);
            if delivered {
                db.hook_failures.remove(&key);
                false
            } else {
                let n = db.hook_failures.entry(key).or_default();
                *n += 1;
                if *n >= self.config.callouts.deactivate_after_failures {
                    db.hook_failures.remove(&key);
                    out.extend(db.deactivate_webhook(c.family, c.webhook_id));
                    false
                } else {
                    db.webhooks(c.family).iter().any(|h| {
                        h.get("id").and_then(serde_json::Value::as_i64) == Some(c.webhook_id)
                            && h.get("isActive") == Some(&serde_json::Value::Bool(true))
                    })
                }
            }
        };
        Dispatcher::send(self, out);
        keep_going
    }
}

/// A connection's kill switch, handed to handlers as connect info.
#[derive(Clone, Debug, Default)]
pub(crate) struct Conn {
    kill: Arc<AtomicBool>,
}

impl Conn {
    /// Makes the connection fail on its next read or write, so no answer is sent.
    pub(crate) fn kill(&self) {
        self.kill.store(true, Ordering::SeqCst);
    }
}

pub(crate) struct SimStream {
    inner: TcpStream,
    kill: Arc<AtomicBool>,
}

impl SimStream {
    fn killed(&self) -> bool {
        self.kill.load(Ordering::SeqCst)
    }
}

fn reset() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "simulated connection drop")
}

impl AsyncRead for SimStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.killed() {
            return Poll::Ready(Err(reset()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.killed() {
            return Poll::Ready(Err(reset()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.killed() {
            return Poll::Ready(Err(reset()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.killed() {
            return Poll::Ready(Err(reset()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

pub(crate) struct SimListener(TcpListener);

impl Listener for SimListener {
    type Io = SimStream;
    type Addr = Conn;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let conn = Conn::default();
                    return (
                        SimStream {
                            inner: stream,
                            kill: conn.kill.clone(),
                        },
                        conn,
                    );
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr().map(|_| Conn::default())
    }
}

impl Connected<IncomingStream<'_, SimListener>> for Conn {
    fn connect_info(stream: IncomingStream<'_, SimListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// Starts the simulator on `127.0.0.1:{config.port}` (0 = any free port).
pub async fn spawn(config: SimConfig) -> Result<SimHandle, Error> {
    start(config, None).await
}

/// Starts a simulator that serves a recorded tenant (see `replay`) on
/// `127.0.0.1:{config.port}`; the configuration's databases are not used.
pub async fn spawn_replay(
    config: SimConfig,
    replay: crate::replay::Replay,
) -> Result<SimHandle, Error> {
    start(config, Some(replay)).await
}

async fn start(
    config: SimConfig,
    replay: Option<crate::replay::Replay>,
) -> Result<SimHandle, Error> {
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
    let replaying = replay.is_some();
    let inner = Arc::new(Inner::new(config, base_url.clone(), replay));
    for db in &databases {
        inner.add_db(db)?;
    }
    let app = axum::Router::new().nest("/_sim", console::router());
    let app = if replaying {
        app.fallback(crate::replay::handle)
    } else {
        app.fallback(api::handle)
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
        self.inner.add_db(cfg)?;
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
        self.inner
            .faults
            .lock()
            .expect("not poisoned")
            .rules
            .push(rule);
    }

    /// The active fault rules.
    pub fn faults(&self) -> Vec<FaultRule> {
        self.inner
            .faults
            .lock()
            .expect("not poisoned")
            .rules
            .clone()
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.inner
            .faults
            .lock()
            .expect("not poisoned")
            .rules
            .clear();
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
