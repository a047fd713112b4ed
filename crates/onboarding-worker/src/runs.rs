//! The run store in Redis: each run's record (the source of truth for the CLI and the
//! dashboard), indexes by state and by tenant, and idempotent creation.
//!
//! Keys (prefix `p`, hash-tagged so one deployment's run keys share a Cluster slot):
//! `{p}:run:{id}` hash `doc` (the run as JSON) + `ver` (optimistic version);
//! `{p}:runs` zset of ids by creation time; `{p}:runs:by-state:{state}` and
//! `{p}:runs:tenant:{tenant}` zsets of ids by creation time; `{p}:idem:{key}` →
//! `{run id}|{request fingerprint}`. (Earlier versions kept each state's ids in an unordered
//! set `{p}:runs:state:{state}`; [`RunStore::migrate`], called when the service connects,
//! moves such a set into its sorted set once.)
//! Every write is one Lua script, so a record and its indexes never disagree; so is removing
//! a finished run after its retention ([`RunStore::remove`]: record, index entries and its
//! idempotency key together; the audit trail is part of the record).
//!
//! Records hold no secret: credentials appear as references only.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use onboarding_queue::RedisConn;
use onboarding_steps::run::{Run, RunState};
use redis::{AsyncCommands, Script};

/// Run store failures.
#[derive(Debug, thiserror::Error)]
pub enum RunStoreError {
    /// Redis failed.
    #[error("the run store's Redis request failed")]
    Redis(#[from] redis::RedisError),
    /// A stored record does not parse (names the run).
    #[error("run {id} is stored in a form this version cannot read: {message}")]
    Corrupt {
        /// The run.
        id: String,
        /// Why.
        message: String,
    },
    /// No such run.
    #[error("no run with id {0}")]
    NotFound(String),
    /// Too many concurrent writers kept changing the run.
    #[error("run {0} changed concurrently too often; try again")]
    Contended(String),
}

/// What creating a run found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// A new run was stored.
    New,
    /// The idempotency key already named this run, for the same request.
    Existing(String),
    /// The idempotency key names another request's run.
    Conflict(String),
}

/// Filters for listing runs.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only runs in this state.
    pub state: Option<RunState>,
    /// Only runs of this tenant.
    pub tenant: Option<String>,
}

/// The run records of one deployment.
#[derive(Clone)]
pub struct RunStore {
    redis: RedisConn,
    prefix: String,
}

const CREATE: &str = r#"
-- Stores a new run and its index entries unless the idempotency key is taken.
-- KEYS: idem, run, runs, state zset, tenant zset. ARGV: id, fingerprint, doc, created ms.
-- Returns {"new"} or {"existing", "<id>|<fingerprint>"}: atomic, so two racing enqueues
-- with one key create one run.
local held = redis.call('GET', KEYS[1])
if held then return {'existing', held} end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2])
redis.call('HSET', KEYS[2], 'doc', ARGV[3], 'ver', 1)
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1])
redis.call('ZADD', KEYS[5], ARGV[4], ARGV[1])
return {'new'}
"#;

const UPDATE: &str = r#"
-- Replaces a run's record if its version is still ARGV[1] and moves it between state zsets.
-- KEYS: run, old state zset, new state zset. ARGV: expected version, doc, id, created ms.
-- Returns 1 when written, 0 when someone else wrote first (the caller re-reads).
if tonumber(redis.call('HGET', KEYS[1], 'ver')) ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'doc', ARGV[2], 'ver', tonumber(ARGV[1]) + 1)
if KEYS[2] ~= KEYS[3] then
  redis.call('ZREM', KEYS[2], ARGV[3])
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[3])
end
return 1
"#;

const REMOVE: &str = r#"
-- Removes a run if its version is still ARGV[2]: the record, its index entries, and its
-- idempotency key when that still names it. KEYS: run, runs, state zset, tenant zset, idem.
-- ARGV: id, expected version. Returns 1 when removed.
if tonumber(redis.call('HGET', KEYS[1], 'ver')) ~= tonumber(ARGV[2]) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
local held = redis.call('GET', KEYS[5])
if held and string.sub(held, 1, #ARGV[1] + 1) == ARGV[1] .. '|' then
  redis.call('DEL', KEYS[5])
end
return 1
"#;

const MIGRATE: &str = r#"
-- Moves an earlier version's unordered state set into the state's sorted set, each id
-- scored by its creation time in the run index, then deletes the set.
-- KEYS: old state set, state zset, runs. Returns the number of ids moved.
if redis.call('TYPE', KEYS[1]).ok ~= 'set' then return 0 end
local ids = redis.call('SMEMBERS', KEYS[1])
for _, id in ipairs(ids) do
  local created = redis.call('ZSCORE', KEYS[3], id)
  if created then redis.call('ZADD', KEYS[2], created, id) end
end
redis.call('DEL', KEYS[1])
return #ids
"#;

/// Loaded once per process and called by hash (`EVALSHA`, falling back to loading it).
static REMOVE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(REMOVE));
static CREATE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(CREATE));
static UPDATE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(UPDATE));
static MIGRATE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(MIGRATE));

/// Reads a versioned JSON document: the `doc` and `ver` fields of a hash, the shape runs and
/// campaigns are stored in (`ver` is what their compare-and-set scripts check). `None` when
/// either is missing.
pub(crate) async fn load_versioned<C: redis::aio::ConnectionLike + Send>(
    conn: &mut C,
    key: String,
) -> redis::RedisResult<Option<(String, u64)>> {
    let (doc, ver): (Option<String>, Option<u64>) = redis::cmd("HMGET")
        .arg(key)
        .arg("doc")
        .arg("ver")
        .query_async(conn)
        .await?;
    Ok(doc.zip(ver))
}

impl RunStore {
    /// A store under `prefix`.
    pub fn new(redis: RedisConn, prefix: &str) -> Self {
        Self {
            redis,
            prefix: prefix.to_owned(),
        }
    }

    fn key(&self, rest: &str) -> String {
        format!("{{{}}}:{rest}", self.prefix)
    }

    fn state_key(&self, state: RunState) -> String {
        self.key(&format!("runs:by-state:{}", state.as_str()))
    }

    /// Moves the unordered state sets of earlier versions (`{p}:runs:state:{state}`) into
    /// the sorted sets this version pages through; a no-op once done. Returns the number
    /// of ids moved.
    pub async fn migrate(&self) -> Result<u64, RunStoreError> {
        let mut conn = self.redis.clone();
        let mut moved = 0;
        for &state in RunState::ALL {
            let n: u64 = MIGRATE_SCRIPT
                .key(self.key(&format!("runs:state:{}", state.as_str())))
                .key(self.state_key(state))
                .key(self.key("runs"))
                .invoke_async(&mut conn)
                .await?;
            moved += n;
        }
        Ok(moved)
    }

    /// Stores `run` unless its idempotency key is taken; `fingerprint` identifies the request
    /// so a retried enqueue of the same request finds its run and a different one conflicts.
    pub async fn create(&self, run: &Run, fingerprint: &str) -> Result<Created, RunStoreError> {
        let doc = serde_json::to_string(run).expect("runs serialize");
        let mut conn = self.redis.clone();
        let reply: Vec<String> = CREATE_SCRIPT
            .clone()
            .key(self.key(&format!("idem:{}", run.idempotency_key)))
            .key(self.key(&format!("run:{}", run.id)))
            .key(self.key("runs"))
            .key(self.state_key(run.state))
            .key(self.key(&format!("runs:tenant:{}", run.request.tenant_id)))
            .arg(&run.id)
            .arg(fingerprint)
            .arg(doc)
            .arg(run.created_at.as_millis())
            .invoke_async(&mut conn)
            .await?;
        Ok(match reply.as_slice() {
            [new] if new == "new" => Created::New,
            [_, held] => {
                let (id, print) = held.split_once('|').unwrap_or((held, ""));
                if print == fingerprint {
                    Created::Existing(id.to_owned())
                } else {
                    Created::Conflict(id.to_owned())
                }
            }
            other => {
                return Err(RunStoreError::Corrupt {
                    id: run.id.clone(),
                    message: format!("unexpected create reply {other:?}"),
                });
            }
        })
    }

    async fn load(&self, id: &str) -> Result<Option<(Run, u64)>, RunStoreError> {
        let mut conn = self.redis.clone();
        let Some((doc, ver)) = load_versioned(&mut conn, self.key(&format!("run:{id}"))).await?
        else {
            return Ok(None);
        };
        let run = serde_json::from_str(&doc).map_err(|e| RunStoreError::Corrupt {
            id: id.to_owned(),
            message: e.to_string(),
        })?;
        Ok(Some((run, ver)))
    }

    /// The run, if it exists.
    pub async fn get(&self, id: &str) -> Result<Option<Run>, RunStoreError> {
        Ok(self.load(id).await?.map(|(run, _)| run))
    }

    /// Applies `change` to the current record and stores it atomically, re-reading and
    /// re-applying when another writer got there first. `change` returning `Err` leaves the
    /// record untouched.
    pub async fn update<T, E>(
        &self,
        id: &str,
        mut change: impl FnMut(&mut Run) -> Result<T, E>,
    ) -> Result<Result<T, E>, RunStoreError> {
        for _ in 0..50 {
            let (mut run, ver) = self
                .load(id)
                .await?
                .ok_or_else(|| RunStoreError::NotFound(id.to_owned()))?;
            let before = run.state;
            let value = match change(&mut run) {
                Ok(v) => v,
                Err(e) => return Ok(Err(e)),
            };
            let doc = serde_json::to_string(&run).expect("runs serialize");
            let mut conn = self.redis.clone();
            let written: i32 = UPDATE_SCRIPT
                .clone()
                .key(self.key(&format!("run:{id}")))
                .key(self.state_key(before))
                .key(self.state_key(run.state))
                .arg(ver)
                .arg(doc)
                .arg(id)
                .arg(run.created_at.as_millis())
                .invoke_async(&mut conn)
                .await?;
            if written == 1 {
                return Ok(Ok(value));
            }
        }
        Err(RunStoreError::Contended(id.to_owned()))
    }

    /// Runs, newest first, filtered, paged. Each listing walks one sorted index a page at
    /// a time (never every id): the tenant's when a tenant is named (then filtered by state),
    /// else the state's, else the run index. In the state and run indexes every id matches,
    /// so the walk starts at `offset` itself.
    pub async fn list(
        &self,
        filter: &RunFilter,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<Run>, RunStoreError> {
        const PAGE: usize = 200;
        let mut conn = self.redis.clone();
        let (index, filtered) = match (&filter.tenant, filter.state) {
            (Some(tenant), state) => (self.key(&format!("runs:tenant:{tenant}")), state),
            (None, Some(state)) => (self.state_key(state), None),
            (None, None) => (self.key("runs"), None),
        };
        let mut runs = Vec::new();
        if limit == 0 {
            return Ok(runs);
        }
        // Without a filter to apply every id is a listed run: start at the offset itself.
        let (mut start, mut skip) = match filtered {
            None => (offset, 0),
            Some(_) => (0, offset),
        };
        loop {
            let page = if filtered.is_none() {
                PAGE.min(limit - runs.len())
            } else {
                PAGE
            };
            let ids: Vec<String> = conn
                .zrevrange(&index, start as isize, (start + page - 1) as isize)
                .await?;
            for id in &ids {
                let Some(run) = self.get(id).await? else {
                    continue;
                };
                if filtered.is_none_or(|s| run.state == s)
                    && filter.state.is_none_or(|s| run.state == s)
                {
                    if skip > 0 {
                        skip -= 1;
                    } else {
                        runs.push(run);
                    }
                }
                if runs.len() >= limit {
                    return Ok(runs);
                }
            }
            if ids.len() < page {
                return Ok(runs);
            }
            start += page;
        }
    }

    /// Run ids, oldest first, from position `start` (for walks over every run).
    pub async fn ids(&self, start: usize, count: usize) -> Result<Vec<String>, RunStoreError> {
        let mut conn = self.redis.clone();
        let stop = (start + count).saturating_sub(1);
        Ok(conn
            .zrange(self.key("runs"), start as isize, stop as isize)
            .await?)
    }

    /// Runs created before `before` (ms since the epoch), oldest first, at most `count`
    /// from position `start` of that range.
    pub async fn created_before(
        &self,
        before: u64,
        start: usize,
        count: usize,
    ) -> Result<Vec<(Run, u64)>, RunStoreError> {
        let mut conn = self.redis.clone();
        let ids: Vec<String> = conn
            .zrangebyscore_limit(self.key("runs"), 0, before, start as isize, count as isize)
            .await?;
        let mut runs = Vec::new();
        for id in ids {
            if let Some(found) = self.load(&id).await? {
                runs.push(found);
            }
        }
        Ok(runs)
    }

    /// Removes `run` (read at version `ver`) with its index entries and idempotency key;
    /// false when it changed since (then it stays).
    pub async fn remove(&self, run: &Run, ver: u64) -> Result<bool, RunStoreError> {
        let mut conn = self.redis.clone();
        let removed: i32 = REMOVE_SCRIPT
            .key(self.key(&format!("run:{}", run.id)))
            .key(self.key("runs"))
            .key(self.state_key(run.state))
            .key(self.key(&format!("runs:tenant:{}", run.request.tenant_id)))
            .key(self.key(&format!("idem:{}", run.idempotency_key)))
            .arg(&run.id)
            .arg(ver)
            .invoke_async(&mut conn)
            .await?;
        Ok(removed == 1)
    }

    /// Number of runs in each state (O(1) per state).
    pub async fn counts(&self) -> Result<BTreeMap<&'static str, u64>, RunStoreError> {
        let mut conn = self.redis.clone();
        let mut counts = BTreeMap::new();
        for &state in RunState::ALL {
            let n: u64 = conn.zcard(self.state_key(state)).await?;
            counts.insert(state.as_str(), n);
        }
        Ok(counts)
    }
}
