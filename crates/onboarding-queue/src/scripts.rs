//! The Lua scripts, each prefixed with `lua/common.lua`, compiled into the binary and hashed
//! once per process. Calls go by hash (`EVALSHA`); `redis::Script` loads a script only when
//! the server answers `NOSCRIPT` (first use, or after a restart).
//!
//! Each script states its guarantee in its header comment. This module does no I/O.

use std::sync::OnceLock;

macro_rules! script {
    ($file:literal) => {
        concat!(
            include_str!("lua/common.lua"),
            "\n",
            include_str!(concat!("lua/", $file))
        )
    };
}

/// All scripts of the queue.
pub(crate) struct Scripts {
    pub enqueue: redis::Script,
    pub fetch: redis::Script,
    pub finish: redis::Script,
    pub renew: redis::Script,
    pub requeue: redis::Script,
    pub purge: redis::Script,
    pub sem_acquire: redis::Script,
    pub sem_renew: redis::Script,
    pub hourly: redis::Script,
}

/// The scripts, hashed on first use.
pub(crate) fn scripts() -> &'static Scripts {
    static SCRIPTS: OnceLock<Scripts> = OnceLock::new();
    SCRIPTS.get_or_init(|| Scripts {
        enqueue: redis::Script::new(script!("enqueue.lua")),
        fetch: redis::Script::new(script!("fetch.lua")),
        finish: redis::Script::new(script!("finish.lua")),
        renew: redis::Script::new(script!("renew.lua")),
        requeue: redis::Script::new(script!("requeue.lua")),
        purge: redis::Script::new(script!("purge.lua")),
        sem_acquire: redis::Script::new(script!("sem_acquire.lua")),
        sem_renew: redis::Script::new(script!("sem_renew.lua")),
        hourly: redis::Script::new(script!("hourly.lua")),
    })
}
