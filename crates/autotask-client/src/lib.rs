//! A client for the Autotask PSA REST API, usable on its own.
//!
//! - [`AutotaskClient`] holds the HTTP connection pool, the zone cache, the per-(integration
//!   code, endpoint) concurrency limiter and the pacing hook; it is cheap to clone.
//! - [`AutotaskClient::tenant`] resolves a user's zone (`zoneInformation?user=`, cached per
//!   username) and returns a [`Tenant`]: every operation of it sends the three auth headers
//!   (and `ImpersonationResourceId` when set) to that zone only.
//! - Operations are generic over [`autotask_types::Endpoint`]: get by id, query as a `Stream`
//!   that follows `pageDetails.nextPageUrl` (POSTing the original body), count, create,
//!   PATCH, delete, child paths, entity information and `ThresholdInformation`.
//! - Failures are one [`Error`] enum decided by the pure [`classify`] function; transient ones
//!   and thread-limit refusals are retried in-process with `backon` (see [`HttpRetry`]),
//!   then surfaced with [`Error::is_retryable`] telling the caller whether to schedule a
//!   durable retry.
//! - Answers are decoded leniently (the models of `autotask-types` accept what the contract
//!   allows); a body that still does not fit is [`Error::ContractDrift`], naming the entity,
//!   the field and what was there, and is never retried. The thread limit and the hourly
//!   threshold are told apart by the words of Autotask's refusals ([`limit_refusal`]).
//!
//! Creates (POST) are retried only when Autotask certainly did not process them (connection
//! refused, thread limit, threshold): after a timeout or a bare 5xx a create may have been
//! committed, so it is surfaced and the caller re-reads before trying again.
//!
//! What it does not do: no retries across process restarts (the queue does that), no
//! knowledge of onboarding steps.

mod client;
mod config;
mod credentials;
mod error;
mod limit;
mod record;
mod request;
mod transport;
mod zone;

pub use client::{AutotaskClient, Observer, Tenant};
pub use config::{ClientConfig, HttpRetry, Target};
pub use credentials::{Credentials, Secret};
pub use error::{Error, Limit, classify, decode, limit_refusal};
pub use limit::{BoxFuture, LimitKey, LimitPermit, Limiter, LocalLimiter, Pace, Pacer, Unpaced};
pub use record::{Exchange, Recorder};
