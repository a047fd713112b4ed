//! The two Autotask limits as pure bookkeeping: the rolling hourly request window per
//! database (with its latency steps at 50 % and 75 %) and the concurrent-thread counter per
//! (integration code, endpoint). No clock of its own: callers pass `now`, so tests can drive
//! time; the REST pipeline applies the resulting latency and errors. [`Usage`] bundles one
//! database's threshold, window and thread counters.
//!
//! What it does not do: no clock, no errors, no HTTP status (the behaviour knobs and the
//! REST pipeline choose those).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

/// Requests in the trailing window of one database.
#[derive(Debug, Default)]
pub(crate) struct RequestWindow {
    times: VecDeque<Instant>,
}

/// What the threshold says about one more request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Serve it after this added latency.
    Admit(Duration),
    /// The threshold is used up: refuse (the refusal is not counted).
    Exceeded,
}

impl RequestWindow {
    /// Requests counted in the window ending at `now`.
    pub(crate) fn count(&mut self, now: Instant, window: Duration) -> u32 {
        while let Some(&t) = self.times.front() {
            if now.saturating_duration_since(t) >= window {
                self.times.pop_front();
            } else {
                break;
            }
        }
        u32::try_from(self.times.len()).unwrap_or(u32::MAX)
    }

    /// Counts one request at `now` unless the threshold is used up, and says how much latency
    /// Autotask adds at the usage before it (≥50 %: `at_50`, ≥75 %: `at_75`).
    pub(crate) fn admit(
        &mut self,
        now: Instant,
        window: Duration,
        threshold: u32,
        at_50: Duration,
        at_75: Duration,
    ) -> Admission {
        let used = self.count(now, window);
        if used >= threshold {
            return Admission::Exceeded;
        }
        self.times.push_back(now);
        let used = u64::from(used);
        let threshold = u64::from(threshold);
        let latency = if used * 4 >= threshold * 3 {
            at_75
        } else if used * 2 >= threshold {
            at_50
        } else {
            Duration::ZERO
        };
        Admission::Admit(latency)
    }
}

/// Concurrent requests per (integration code, endpoint).
#[derive(Debug, Default)]
pub(crate) struct Threads {
    in_flight: HashMap<(String, String), u32>,
}

impl Threads {
    /// Takes a slot, or `false` when `limit` are in flight.
    pub(crate) fn try_acquire(&mut self, code: &str, endpoint: &str, limit: u32) -> bool {
        let n = self
            .in_flight
            .entry((code.to_owned(), endpoint.to_ascii_lowercase()))
            .or_default();
        if *n >= limit {
            return false;
        }
        *n += 1;
        true
    }

    /// Gives a slot back.
    pub(crate) fn release(&mut self, code: &str, endpoint: &str) {
        let key = (code.to_owned(), endpoint.to_ascii_lowercase());
        if let Some(n) = self.in_flight.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.in_flight.remove(&key);
            }
        }
    }
}

/// One database's limit bookkeeping: its hourly threshold, the rolling request window and the
/// thread counters. Changed only through these methods.
#[derive(Debug)]
pub(crate) struct Usage {
    hourly_threshold: u32,
    window: RequestWindow,
    threads: Threads,
}

impl Usage {
    /// No requests yet, under `hourly_threshold`.
    pub(crate) fn new(hourly_threshold: u32) -> Self {
        Self {
            hourly_threshold,
            window: RequestWindow::default(),
            threads: Threads::default(),
        }
    }

    /// The hourly threshold.
    pub(crate) fn hourly_threshold(&self) -> u32 {
        self.hourly_threshold
    }

    /// Changes the hourly threshold.
    pub(crate) fn set_hourly_threshold(&mut self, threshold: u32) {
        self.hourly_threshold = threshold;
    }

    /// Requests counted in the window ending at `now`.
    pub(crate) fn count(&mut self, now: Instant, window: Duration) -> u32 {
        self.window.count(now, window)
    }

    /// [`RequestWindow::admit`] against this database's threshold.
    pub(crate) fn admit(
        &mut self,
        now: Instant,
        window: Duration,
        at_50: Duration,
        at_75: Duration,
    ) -> Admission {
        self.window
            .admit(now, window, self.hourly_threshold, at_50, at_75)
    }

    /// [`Threads::try_acquire`].
    pub(crate) fn try_acquire(&mut self, code: &str, endpoint: &str, limit: u32) -> bool {
        self.threads.try_acquire(code, endpoint, limit)
    }

    /// [`Threads::release`].
    pub(crate) fn release(&mut self, code: &str, endpoint: &str) {
        self.threads.release(code, endpoint);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);
    const L50: Duration = Duration::from_millis(500);
    const L75: Duration = Duration::from_millis(1000);

    #[test]
    fn latency_steps_at_half_and_three_quarters_then_refusal() {
        let mut w = RequestWindow::default();
        let now = Instant::now();
        let got: Vec<Admission> = (0..9).map(|_| w.admit(now, HOUR, 8, L50, L75)).collect();
        use Admission::*;
        assert_eq!(
            got,
            vec![
                Admit(Duration::ZERO),
                Admit(Duration::ZERO),
                Admit(Duration::ZERO),
                Admit(Duration::ZERO),
                Admit(L50),
                Admit(L50),
                Admit(L75),
                Admit(L75),
                Exceeded,
            ]
        );
        assert_eq!(w.count(now, HOUR), 8, "refusals are not counted");
    }

    #[test]
    fn the_window_rolls() {
        let mut w = RequestWindow::default();
        let start = Instant::now();
        w.admit(start, HOUR, 2, L50, L75);
        w.admit(start + Duration::from_secs(1800), HOUR, 2, L50, L75);
        assert_eq!(
            w.admit(start + Duration::from_secs(1801), HOUR, 2, L50, L75),
            Admission::Exceeded
        );
        assert_eq!(w.count(start + HOUR, HOUR), 1);
        assert!(matches!(
            w.admit(start + HOUR, HOUR, 2, L50, L75),
            Admission::Admit(_)
        ));
    }

    #[test]
    fn threads_are_counted_per_code_and_endpoint() {
        let mut t = Threads::default();
        for _ in 0..3 {
            assert!(t.try_acquire("A", "Resources", 3));
        }
        assert!(
            !t.try_acquire("A", "resources", 3),
            "endpoint is case-insensitive"
        );
        assert!(
            t.try_acquire("B", "Resources", 3),
            "other code has its own budget"
        );
        assert!(
            t.try_acquire("A", "TicketWebhooks", 3),
            "other endpoint too"
        );
        t.release("A", "Resources");
        assert!(t.try_acquire("A", "Resources", 3));
    }
}
