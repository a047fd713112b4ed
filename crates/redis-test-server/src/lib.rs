//! Test support: a private `redis-server` for one test.
//!
//! [`RedisServer::start`] launches `redis-server` on a free loopback port with its own
//! temporary directory and stops it when dropped, so tests never touch a Redis they did not
//! start. When `REDIS_URL` is set, [`RedisServer::start`] uses that server instead (callers
//! keep their keys apart with [`unique_name`]); [`RedisServer::private`] always starts its
//! own, for tests that must restart or kill it; [`RedisServer::with_args`] passes more
//! arguments (a replica, a TLS port, ...). [`Sentinel`] starts a `redis-sentinel` (Debian's
//! `redis-sentinel` package) that monitors a private master.
//!
//! This crate does no Redis protocol work beyond a readiness `PING`, and is only ever a
//! dev-dependency.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Options for a private server.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Turn on the append-only file (`appendonly yes`, `appendfsync always`), so a restart
    /// keeps every acknowledged write.
    pub append_only: bool,
}

/// A running Redis for a test: private (stopped on drop) or the one named by `REDIS_URL`.
#[derive(Debug)]
pub struct RedisServer {
    url: String,
    private: Option<Private>,
}

#[derive(Debug)]
struct Private {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    options: Options,
    extra: Vec<String>,
}

impl RedisServer {
    /// The server named by `REDIS_URL` if set, otherwise a private one.
    pub fn start() -> Self {
        match std::env::var("REDIS_URL") {
            Ok(url) if !url.is_empty() => Self { url, private: None },
            _ => Self::private(Options::default()),
        }
    }

    /// Always a private `redis-server` on a free port with a temporary directory.
    ///
    /// Panics with a clear message if `redis-server` is not installed (`make test` installs
    /// it) or does not come up within ten seconds.
    pub fn private(options: Options) -> Self {
        Self::with_args(options, Vec::new())
    }

    /// [`Self::private`] with more `redis-server` arguments, such as
    /// `["--replicaof", "127.0.0.1", "PORT"]` or a TLS port and its certificate files.
    pub fn with_args(options: Options, extra: Vec<String>) -> Self {
        let mut dir = tempfile::tempdir().expect("create a temp dir for redis-server");
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut private = Private {
                child: None,
                port,
                dir,
                options: options.clone(),
                extra: extra.clone(),
            };
            match private.spawn() {
                Ok(()) => {
                    return Self {
                        url: format!("redis://127.0.0.1:{port}/"),
                        private: Some(private),
                    };
                }
                Err(e) => {
                    last_error = e;
                    dir = private.take_dir();
                }
            }
        }
        panic!("could not start redis-server: {last_error}");
    }

    /// The `redis://` URL of this server.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The port of a private server.
    pub fn port(&self) -> Option<u16> {
        self.private.as_ref().map(|p| p.port)
    }

    /// Stops a private server abruptly (SIGKILL), keeping its directory.
    pub fn kill(&mut self) {
        if let Some(p) = self.private.as_mut() {
            p.stop();
        }
    }

    /// Starts a private server again on the same port and directory (after [`Self::kill`]),
    /// so with `append_only` it comes back with its data.
    pub fn restart(&mut self) {
        let p = self
            .private
            .as_mut()
            .expect("restart needs a private server");
        p.stop();
        p.spawn().expect("restart redis-server");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Private {
    fn spawn(&mut self) -> Result<(), String> {
        let port = self.port.to_string();
        let dir = self.dir.path().to_string_lossy().into_owned();
        let mut args = vec![
            "--port",
            &port,
            "--bind",
            "127.0.0.1",
            "--dir",
            &dir,
            "--save",
            "",
            "--daemonize",
            "no",
            "--protected-mode",
            "no",
            "--loglevel",
            "warning",
        ];
        if self.options.append_only {
            args.extend(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            args.extend(["--appendonly", "no"]);
        }
        let child = Command::new("redis-server")
            .args(&args)
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                format!(
                    "redis-server is not runnable ({e}); install it (`make deps`) or set REDIS_URL"
                )
            })?;
        self.child = Some(child);
        wait_ready(self.port, self.dir.path()).inspect_err(|_| self.stop())
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn take_dir(mut self) -> tempfile::TempDir {
        self.stop();
        let Private { dir, .. } = self;
        dir
    }
}

/// A free loopback port (for a second listener such as `--tls-port`).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free loopback port")
}

/// Waits until the server answers `PING`, polling with a short pause (a process start has
/// no event to await).
#[allow(clippy::disallowed_methods)]
fn wait_ready(port: u16, dir: &Path) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if ping(port) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "redis-server on port {port} (dir {}) did not answer PING within 10 s",
                dir.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    // A server with a password answers, but refuses PING before AUTH.
    matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG") || buf[..n].starts_with(b"-NOAUTH"))
}

/// A private `redis-sentinel` on a free loopback port with its own directory, monitoring a
/// master on this machine; stopped (SIGKILL) when dropped.
#[derive(Debug)]
pub struct Sentinel {
    child: Option<Child>,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Sentinel {
    /// Starts a sentinel that monitors the master named `master` at `127.0.0.1:master_port`
    /// with `quorum`, considers it down after one second, and takes `extra` lines of
    /// `sentinel.conf` (`requirepass ...`, `sentinel auth-user ...`). Panics with a clear
    /// message if `redis-sentinel` is missing (`make deps` installs it) or does not answer.
    pub fn start(master: &str, master_port: u16, quorum: u32, extra: &str) -> Self {
        let dir = tempfile::tempdir().expect("create a temp dir for redis-sentinel");
        let port = free_port();
        let conf = dir.path().join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {dir}\nprotected-mode no\nloglevel warning\n\
                 sentinel monitor {master} 127.0.0.1 {master_port} {quorum}\n\
                 sentinel down-after-milliseconds {master} 1000\n\
                 sentinel failover-timeout {master} 10000\n{extra}\n",
                dir = dir.path().display()
            ),
        )
        .expect("write sentinel.conf");
        let child = Command::new("redis-sentinel")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("redis-sentinel is not runnable ({e}); install it (`make deps`)")
            });
        let mut sentinel = Self {
            child: Some(child),
            port,
            _dir: dir,
        };
        if let Err(e) = wait_ready(port, sentinel._dir.path()) {
            sentinel.kill();
            panic!("redis-sentinel did not start: {e}");
        }
        sentinel
    }

    /// The sentinel's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `host:port` of the sentinel.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops the sentinel abruptly.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A name unique within this machine's test run (process id, counter and time), for keys
/// and queue names when tests share a server.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{n}-{nanos:x}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_server_answers_and_stops_on_drop() {
        let server = RedisServer::private(Options::default());
        let port = server.port().unwrap();
        assert!(ping(port));
        drop(server);
        assert!(!ping(port), "server still answers after drop");
    }

    #[test]
    fn append_only_server_keeps_data_across_restart() {
        let mut server = RedisServer::private(Options { append_only: true });
        let port = server.port().unwrap();
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(b"SET k v\r\n").unwrap();
        let mut buf = [0u8; 16];
        let n = s.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"+OK\r\n");
        drop(s);
        server.restart();
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(b"GET k\r\n").unwrap();
        let n = s.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"$1\r\nv\r\n");
    }

    #[test]
    fn a_sentinel_answers_and_stops_on_drop() {
        let master = RedisServer::private(Options::default());
        let sentinel = Sentinel::start("m", master.port().unwrap(), 1, "");
        let port = sentinel.port();
        assert!(ping(port));
        drop(sentinel);
        assert!(!ping(port), "sentinel still answers after drop");
    }

    #[test]
    fn unique_names_differ() {
        assert_ne!(unique_name("q"), unique_name("q"));
    }
}
