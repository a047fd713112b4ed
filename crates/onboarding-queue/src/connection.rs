//! Redis connections that follow their server: the one place where onboard configures, opens
//! and re-opens a Redis connection ([`RedisSettings`] → [`RedisConn`]). The queue and the
//! worker's stores all talk to Redis through a [`RedisConn`].
//!
//! - **Direct**: a `redis://` or `rediss://` URL. `rediss://` is TLS through rustls with ring
//!   (no OpenSSL); the server certificate is checked against the system's roots, or only
//!   against a private CA when [`RedisSettings::ca_pem`] is set. An ACL user and password come
//!   from the settings (the binary reads the password from a file) or from the URL.
//! - **Sentinel**: [`RedisSettings::sentinels`] and [`RedisSettings::sentinel_master`] name
//!   the sentinels and the master; the URL then only gives the scheme (`rediss://` = TLS to
//!   the sentinels and the master), the user, the password and the database, not the host.
//!   The master is looked up when the connection opens. After a failover the connection
//!   follows the new master by itself: a command that fails because the server went away
//!   (I/O error, refused, dropped, timeout) or because it is no longer the master (`READONLY`,
//!   `MASTERDOWN`) makes it ask the sentinels again (at most every 200 ms) and, when they name
//!   another master, every later command goes there. A command refused with `READONLY` was not
//!   executed, so it is sent once more to the new master; any other failure goes back to the
//!   caller, which decides: every queue state change is a Lua script fenced by lease tokens,
//!   so the worker's retry after an unknown outcome is safe.
//!
//! **What async replication can lose, and the decision.** Redis replicates asynchronously: a
//! write the old master acknowledged but had not yet sent to the replica that is promoted is
//! gone after the failover. onboard accepts that window instead of waiting for replicas on
//! every write (`WAIT`), because most such losses repair themselves: a lost step result,
//! lease renewal or next-step job leaves the step's job leased on the new master, so it runs
//! again once its lease expires, and every step is idempotent against Autotask (it looks for
//! what it would create first), so no duplicate webhook or user change follows. The one real
//! loss is an enqueue acknowledged in that window: the run is missing afterwards (`onboard
//! status` says so), and repeating the request with its idempotency key is safe. Deployments
//! that want to bound the window set `min-replicas-to-write 1` and `min-replicas-max-lag 10`
//! on the master (the master then refuses writes when no replica is close, which onboard
//! retries like any outage). Reads served by a demoted master between its demotion and the next write are
//! possibly stale; state changes never depend on them (each script reads and writes on one
//! server).
//!
//! It reads no files and no environment, and it knows nothing about queues.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{
    Client, Cmd, ConnectionAddr, ErrorKind, IntoConnectionInfo, Pipeline, RedisError, RedisFuture,
    RedisResult, ServerErrorKind, TlsCertificates, TlsMode, Value,
};
use tracing::{info, warn};
use url::Url;

/// Shortest pause between two lookups of the master (a dead master fails every command).
const LOOKUP_INTERVAL: Duration = Duration::from_millis(200);

/// Where Redis is and how to log in. `Debug` never shows a password.
#[derive(Clone)]
pub struct RedisSettings {
    /// `redis://`, `rediss://` (TLS) or `redis+unix://` URL. With sentinels only its scheme,
    /// user, password and database count.
    pub url: String,
    /// Sentinels as `host:port`; empty = connect to the URL directly.
    pub sentinels: Vec<String>,
    /// The master's name at the sentinels (`sentinel monitor NAME ...`).
    pub sentinel_master: Option<String>,
    /// ACL user (overrides the URL's).
    pub username: Option<String>,
    /// Password of the user (overrides the URL's).
    pub password: Option<String>,
    /// Password of the sentinels themselves (`requirepass` in sentinel.conf), if any.
    pub sentinel_password: Option<String>,
    /// PEM certificates of a private CA that alone is trusted for `rediss://`.
    pub ca_pem: Option<Vec<u8>>,
    /// Timeout of connecting.
    pub connection_timeout: Duration,
    /// Timeout of one command.
    pub response_timeout: Duration,
}

impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &redacted_url(&self.url))
            .field("sentinels", &self.sentinels)
            .field("sentinel_master", &self.sentinel_master)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field(
                "sentinel_password",
                &self.sentinel_password.as_ref().map(|_| "***"),
            )
            .field("ca_pem", &self.ca_pem.as_ref().map(|_| "(set)"))
            .finish_non_exhaustive()
    }
}

impl RedisSettings {
    /// A direct connection to `url`, no overrides, timeouts 2 s (connect) and 5 s (command).
    pub fn url(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            sentinels: Vec::new(),
            sentinel_master: None,
            username: None,
            password: None,
            sentinel_password: None,
            ca_pem: None,
            connection_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(5),
        }
    }

    /// Where this points, fit for messages: the URL without its password, or the master's
    /// name and the sentinels.
    pub fn describe(&self) -> String {
        if self.sentinels.is_empty() {
            redacted_url(&self.url)
        } else {
            format!(
                "master {:?} via sentinels {}",
                self.sentinel_master.as_deref().unwrap_or(""),
                self.sentinels.join(", ")
            )
        }
    }

    fn tls(&self) -> bool {
        self.url.starts_with("rediss://")
    }

    fn certificates(&self) -> Option<TlsCertificates> {
        self.ca_pem.as_ref().map(|ca| TlsCertificates {
            client_tls: None,
            root_cert: Some(ca.clone()),
        })
    }
}

/// A URL fit for messages: its password (a Redis ACL password, say) replaced by `***`; a
/// text that is not a URL is not repeated at all.
pub fn redacted_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(_) => url.to_owned(),
        Err(_) => "(not a URL)".into(),
    }
}

fn invalid(detail: String) -> RedisError {
    RedisError::from((
        ErrorKind::InvalidClientConfig,
        "invalid Redis settings",
        detail,
    ))
}

/// rustls picks its provider once per process: ring, the tree's only one.
fn use_ring() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn direct_client(s: &RedisSettings) -> RedisResult<Client> {
    let mut info = s.url.as_str().into_connection_info()?;
    let mut login = info.redis_settings().clone();
    if let Some(user) = &s.username {
        login = login.set_username(user);
    }
    if let Some(password) = &s.password {
        login = login.set_password(password);
    }
    info = info.set_redis_settings(login);
    let tls = matches!(info.addr(), ConnectionAddr::TcpTls { .. });
    if tls {
        use_ring();
    }
    match s.certificates() {
        Some(certs) if tls => Client::build_with_tls(info, certs),
        Some(_) => Err(invalid(
            "a CA file is set but the Redis URL is not rediss://".into(),
        )),
        None => Client::open(info),
    }
}

/// User, password and database of a URL whose host may be missing (`redis://user@/2`).
fn url_login(url: &str) -> RedisResult<(Option<String>, Option<String>, i64)> {
    let u = Url::parse(url).map_err(|_| invalid(format!("{} is not a URL", redacted_url(url))))?;
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let user = Some(decode(u.username())).filter(|s| !s.is_empty());
    let password = u.password().map(decode);
    let db = match u.path().trim_matches('/') {
        "" => 0,
        d => d
            .parse()
            .map_err(|_| invalid(format!("database {d:?} in the Redis URL is not a number")))?,
    };
    Ok((user, password, db))
}

fn sentinel_client(s: &RedisSettings) -> RedisResult<SentinelClient> {
    let master = s
        .sentinel_master
        .as_deref()
        .filter(|m| !m.is_empty())
        .ok_or_else(|| invalid("sentinels are set but no sentinel master name".into()))?;
    let tls = s.tls();
    let mut addrs = Vec::with_capacity(s.sentinels.len());
    for hp in &s.sentinels {
        let (host, port) = hp
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.trim_matches(['[', ']']), p.parse::<u16>().ok()?)))
            .filter(|(h, _)| !h.is_empty())
            .ok_or_else(|| invalid(format!("sentinel {hp:?} is not host:port")))?;
        addrs.push(if tls {
            ConnectionAddr::TcpTls {
                host: host.to_owned(),
                port,
                insecure: false,
                tls_params: None,
            }
        } else {
            ConnectionAddr::Tcp(host.to_owned(), port)
        });
    }
    let (url_user, url_password, db) = url_login(&s.url)?;
    let mut b = SentinelClientBuilder::new(addrs, master, SentinelServerType::Master)?
        .set_client_to_redis_db(db);
    if let Some(user) = s.username.clone().or(url_user) {
        b = b.set_client_to_redis_username(user);
    }
    if let Some(password) = s.password.clone().or(url_password) {
        b = b.set_client_to_redis_password(password);
    }
    if let Some(password) = &s.sentinel_password {
        b = b.set_client_to_sentinel_password(password);
    }
    if tls {
        use_ring();
        b = b
            .set_client_to_redis_tls_mode(TlsMode::Secure)
            .set_client_to_sentinel_tls_mode(TlsMode::Secure);
        if let Some(certs) = s.certificates() {
            b = b
                .set_client_to_redis_certificates(certs.clone())
                .set_client_to_sentinel_certificates(certs);
        }
    } else if s.ca_pem.is_some() {
        return Err(invalid(
            "a CA file is set but the Redis URL is not rediss://".into(),
        ));
    }
    b.build()
}

/// A Redis connection (multiplexed, reconnecting) that follows a Sentinel failover. Cheap to
/// clone: clones share the connection. Use it like any async connection
/// (`query_async(&mut conn)`, `invoke_async(&mut conn)`).
#[derive(Clone)]
pub struct RedisConn {
    inner: Arc<Shared>,
}

struct Shared {
    describe: String,
    sentinel: Option<tokio::sync::Mutex<Lookup>>,
    current: RwLock<Current>,
    config: ConnectionManagerConfig,
    db: i64,
}

struct Lookup {
    client: SentinelClient,
    last: Option<Instant>,
}

#[derive(Clone)]
struct Current {
    generation: u64,
    client: Client,
    conn: ConnectionManager,
}

impl std::fmt::Debug for RedisConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConn")
            .field("to", &self.inner.describe)
            .finish_non_exhaustive()
    }
}

impl RedisConn {
    /// Opens a connection. Direct: does not wait for Redis (the connection is made on first
    /// use and remade after failures), so this fails only for bad settings. Sentinel: asks the
    /// sentinels for the master now and fails when none of them names a reachable one.
    pub async fn open(settings: &RedisSettings) -> RedisResult<Self> {
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(settings.response_timeout))
            .set_connection_timeout(Some(settings.connection_timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(2));
        let (client, sentinel) = if settings.sentinels.is_empty() {
            (direct_client(settings)?, None)
        } else {
            let mut lookup = sentinel_client(settings)?;
            let client = lookup.async_get_client().await?;
            (
                client,
                Some(tokio::sync::Mutex::new(Lookup {
                    client: lookup,
                    last: Some(Instant::now()),
                })),
            )
        };
        let db = client.get_connection_info().redis_settings().db();
        let conn = client.get_connection_manager_lazy(config.clone())?;
        Ok(Self {
            inner: Arc::new(Shared {
                describe: settings.describe(),
                sentinel,
                current: RwLock::new(Current {
                    generation: 0,
                    client,
                    conn,
                }),
                config,
                db,
            }),
        })
    }

    /// The client of the server currently used (the master, with Sentinel), for connections
    /// of their own such as pub/sub.
    pub fn client(&self) -> Client {
        self.current().client
    }

    /// Where this points, fit for messages (no password).
    pub fn describe(&self) -> &str {
        &self.inner.describe
    }

    /// Answers when Redis answers `PING` (the first connection is made here if not yet).
    pub async fn ping(&self) -> RedisResult<()> {
        redis::cmd("PING")
            .query_async::<()>(&mut self.clone())
            .await
    }

    fn current(&self) -> Current {
        self.inner
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Asks the sentinels for the master after a failure seen on connection `seen`. True when
    /// the connection now goes elsewhere than when that failure happened.
    async fn follow(&self, seen: u64) -> bool {
        let Some(sentinel) = &self.inner.sentinel else {
            return false;
        };
        let mut lookup = sentinel.lock().await;
        if self.current().generation != seen {
            return true;
        }
        if lookup.last.is_some_and(|t| t.elapsed() < LOOKUP_INTERVAL) {
            return false;
        }
        lookup.last = Some(Instant::now());
        let client = match lookup.client.async_get_client().await {
            Ok(c) => c,
            Err(e) => {
                warn!(to = %self.inner.describe, error = %e, "no master from the sentinels yet");
                return false;
            }
        };
        let now = self.current();
        if client.get_connection_info().addr() == now.client.get_connection_info().addr() {
            return false;
        }
        let conn = match client.get_connection_manager_lazy(self.inner.config.clone()) {
            Ok(c) => c,
            Err(e) => {
                warn!(to = %self.inner.describe, error = %e, "cannot open the new master");
                return false;
            }
        };
        info!(
            to = %self.inner.describe,
            master = %client.get_connection_info().addr(),
            "following the new Redis master"
        );
        *self
            .inner
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Current {
            generation: now.generation + 1,
            client,
            conn,
        };
        true
    }
}

/// The failure says this server is gone or no longer the master.
fn master_may_have_moved(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || not_executed_here(e)
}

/// The server refused the command as a replica: it was not executed.
fn not_executed_here(e: &RedisError) -> bool {
    matches!(
        e.kind(),
        ErrorKind::Server(ServerErrorKind::ReadOnly | ServerErrorKind::MasterDown)
    )
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let now = self.current();
            let mut conn = now.conn;
            match conn.req_packed_command(cmd).await {
                Err(e) if self.inner.sentinel.is_some() && master_may_have_moved(&e) => {
                    if self.follow(now.generation).await && not_executed_here(&e) {
                        return self.current().conn.req_packed_command(cmd).await;
                    }
                    Err(e)
                }
                r => r,
            }
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let now = self.current();
            let mut conn = now.conn;
            match conn.req_packed_commands(pipeline, offset, count).await {
                Err(e) if self.inner.sentinel.is_some() && master_may_have_moved(&e) => {
                    if self.follow(now.generation).await && not_executed_here(&e) {
                        return self
                            .current()
                            .conn
                            .req_packed_commands(pipeline, offset, count)
                            .await;
                    }
                    Err(e)
                }
                r => r,
            }
        })
    }

    fn get_db(&self) -> i64 {
        self.inner.db
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_messages_keep_no_password() {
        assert_eq!(
            redacted_url("redis://onboard:s3cret@redis.example:6379/0"),
            "redis://onboard:***@redis.example:6379/0"
        );
        assert_eq!(
            redacted_url("redis://127.0.0.1:6379/"),
            "redis://127.0.0.1:6379/"
        );
        assert_eq!(redacted_url("s3cret"), "(not a URL)");
    }

    #[test]
    fn settings_never_print_passwords() {
        let mut s = RedisSettings::url("rediss://u:urlpass@h:1/");
        s.password = Some("filepass".into());
        s.sentinel_password = Some("sentpass".into());
        s.sentinels = vec!["h:26379".into()];
        let text = format!("{s:?} {}", s.describe());
        for secret in ["urlpass", "filepass", "sentpass"] {
            assert!(!text.contains(secret), "{text}");
        }
    }

    #[test]
    fn bad_sentinel_settings_are_named() {
        let mut s = RedisSettings::url("redis://127.0.0.1/");
        s.sentinels = vec!["nohostport".into()];
        s.sentinel_master = Some("m".into());
        let e = sentinel_client(&s).err().unwrap().to_string();
        assert!(e.contains("\"nohostport\" is not host:port"), "{e}");
        s.sentinels = vec!["h:1".into()];
        s.sentinel_master = None;
        let e = sentinel_client(&s).err().unwrap().to_string();
        assert!(e.contains("no sentinel master name"), "{e}");
    }

    #[test]
    fn a_ca_file_needs_rediss() {
        let mut s = RedisSettings::url("redis://127.0.0.1/");
        s.ca_pem = Some(b"-----BEGIN CERTIFICATE-----".to_vec());
        let e = direct_client(&s).err().unwrap().to_string();
        assert!(e.contains("not rediss://"), "{e}");
    }
}
