//! The request log: one [`RequestRecord`] per REST request, numbered, in a ring of bounded
//! capacity (oldest dropped first); and the count of REST requests in flight with its peak
//! (what a benchmark reads to see how many requests a client ever had open at once).
//!
//! What it does not do: no secrets or integration codes are ever recorded (the record has no
//! field for them); no console or callout requests (those have their own log).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use serde::Serialize;

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

/// The bounded, numbered log.
#[derive(Debug, Default)]
pub(crate) struct RequestLog {
    records: Mutex<VecDeque<RequestRecord>>,
    seq: AtomicU64,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
}

/// One request in flight: counted from [`RequestLog::begin`] until dropped.
pub(crate) struct InFlight<'a>(&'a RequestLog);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl RequestLog {
    /// Counts a request in flight until the guard is dropped, raising the peak.
    pub(crate) fn begin(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        InFlight(self)
    }

    /// The most requests in flight at once since the last [`reset_peak`](Self::reset_peak).
    pub(crate) fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// Starts the peak again from the requests in flight now.
    pub(crate) fn reset_peak(&self) {
        self.peak
            .store(self.in_flight.load(Ordering::SeqCst), Ordering::SeqCst);
    }

    /// Numbers and appends a record, dropping the oldest beyond `capacity` (at least 1).
    pub(crate) fn push(&self, mut rec: RequestRecord, capacity: usize) {
        rec.seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let mut log = self.records.lock().expect("not poisoned");
        if log.len() >= capacity.max(1) {
            log.pop_front();
        }
        log.push_back(rec);
    }

    /// Every record, oldest first.
    pub(crate) fn all(&self) -> Vec<RequestRecord> {
        self.records
            .lock()
            .expect("not poisoned")
            .iter()
            .cloned()
            .collect()
    }

    /// Empties the log (numbering goes on).
    pub(crate) fn clear(&self) {
        self.records.lock().expect("not poisoned").clear();
    }
}
