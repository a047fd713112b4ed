//! `onboarding-queue`: our apalis 1.0 backend on Redis.
//!
//! It moves opaque jobs that carry a group key (the tenant) through Redis with the guarantees
//! onboard needs: leases with fencing tokens and the attempt counted at fetch, durable retries
//! and deferrals, dead letters with attempt history, round-robin fairness across groups with
//! priority classes, a per-group running limit, counted semaphores with leases, rolling hourly
//! counters, and O(1) introspection. Every state change is one Lua script (`src/lua/`), loaded
//! once and called by hash; all keys of a queue share the hash tag `{name}`.
//!
//! Two ways in:
//! - [`Queue`]: the plain async API (enqueue, fetch, complete, retry_at, defer_until,
//!   fail_permanently, dead letters, counts, jobs, job) plus [`Limits`] (semaphores and hourly
//!   counters);
//! - [`RedisBackend`]: an apalis-core 1.0 `Backend` and task sink over a [`Queue`], so
//!   `WorkerBuilder::new(..).backend(backend)` works with apalis' layers; the handler's result
//!   maps to an outcome (see [`backend`]).
//!
//! It knows nothing about Autotask, steps or runs: payloads are opaque bytes (JSON through the
//! backend), and retry delays come from the caller.

mod config;
pub mod connection;
mod dead;
mod error;
mod inspect;
mod job;
mod limits;
mod queue;
mod scripts;
mod verdict;
mod wake;

pub mod backend;

pub use backend::{BackendOptions, JobContext, RedisBackend};
pub use config::QueueConfig;
pub use connection::{RedisConn, RedisSettings, redacted_url};
pub use error::QueueError;
pub use job::{
    Ack, Counts, DeadFilter, DeadLetter, Enqueued, HistoryEntry, JobId, JobInfo, Lease, LeasedJob,
    NewJob, Outcome, Priority, State, WorkerId,
};
pub use limits::{HourlyCount, Limits, Permit};
pub use queue::{FetchTicket, Fetched, Idle, Queue};
pub use verdict::{QueueBackoff, Verdict, outcome_of};
