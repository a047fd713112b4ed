//! The job payload stored in Redis: one job per step attempt of a run. A wire format:
//! tagged (`"kind": "step"`), versioned (`"v": 1`), evolved only additively (new fields carry
//! `#[serde(default)]`, nothing is renamed), carrying the run id, the step, the attempt and the
//! W3C trace context, and never a secret: credentials appear only as references that the
//! worker resolves from its encrypted store.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::catalog::StepName;
use crate::{Error, Timestamp};

fn first_attempt() -> u32 {
    1
}

/// The payload version this crate writes; it reads every version up to this one.
pub const PAYLOAD_VERSION: u32 = 1;

/// A reference to stored credentials (e.g. `vault:tenants/acme/api-user`), never the secret.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CredentialRef(pub String);

impl fmt::Debug for CredentialRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CredentialRef({})", self.0)
    }
}

/// W3C trace context: `traceparent` and optional `tracestate`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceContext {
    /// `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`; empty when there is no trace.
    #[serde(default)]
    pub traceparent: String,
    /// Vendor state, passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracestate: Option<String>,
}

impl TraceContext {
    /// A context from a `traceparent` header, checked for the W3C shape.
    pub fn parse(traceparent: &str) -> Result<Self, Error> {
        let bad = |reason: &str| Error::InvalidPayload {
            reason: format!("traceparent {traceparent:?}: {reason}"),
        };
        let parts: Vec<&str> = traceparent.split('-').collect();
        let hex = |s: &str, n: usize| {
            s.len() == n
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if parts.len() != 4 {
            return Err(bad("expected version-traceid-spanid-flags"));
        }
        if !hex(parts[0], 2) || parts[0] == "ff" {
            return Err(bad("bad version"));
        }
        if !hex(parts[1], 32) || parts[1].bytes().all(|b| b == b'0') {
            return Err(bad("bad trace id"));
        }
        if !hex(parts[2], 16) || parts[2].bytes().all(|b| b == b'0') {
            return Err(bad("bad parent id"));
        }
        if !hex(parts[3], 2) {
            return Err(bad("bad flags"));
        }
        Ok(Self {
            traceparent: traceparent.into(),
            tracestate: None,
        })
    }

    /// The 32-hex trace id, if any.
    pub fn trace_id(&self) -> Option<&str> {
        self.traceparent.split('-').nth(1)
    }
}

/// One step attempt of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepJob {
    /// Payload version (1).
    pub v: u32,
    /// The run.
    pub run_id: String,
    /// The tenant (for per-tenant limits and fairness).
    pub tenant_id: String,
    /// The step to run.
    pub step: StepName,
    /// Always 1. Workers of the first release require the field, so it is still written;
    /// the attempt that counts is the queue's, taken at fetch (`JobContext::attempt` in
    /// onboarding-queue), and the run record's per-step attempt count.
    #[serde(default = "first_attempt")]
    pub attempt: u32,
    /// Trace context of the run.
    #[serde(default)]
    pub trace: TraceContext,
    /// Report the plan without executing it.
    #[serde(default)]
    pub dry_run: bool,
    /// When the job was enqueued (added after v1's first release; old payloads lack it).
    #[serde(default)]
    pub enqueued_at: Option<Timestamp>,
}

/// The payload of a job, tagged by kind. Decoding checks the version wherever it happens
/// (the queue's backend decodes payloads with serde directly): a job written by a newer
/// version is refused with an error naming both versions, so the backend dead-letters it
/// with that reason instead of running it with fields this worker does not understand;
/// `onboard dead retry` brings it back once every worker is upgraded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", try_from = "Wire")]
pub enum JobPayload {
    /// Run one step of a run.
    Step(StepJob),
}

/// The payload as written, before its version is checked.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Wire {
    Step(StepJob),
}

impl TryFrom<Wire> for JobPayload {
    type Error = String;

    fn try_from(wire: Wire) -> Result<Self, String> {
        let Wire::Step(job) = wire;
        if job.v == 0 || job.v > PAYLOAD_VERSION {
            return Err(format!(
                "version {} (this worker reads 1..={PAYLOAD_VERSION}); upgrade the worker",
                job.v
            ));
        }
        Ok(Self::Step(job))
    }
}

impl JobPayload {
    /// A step job of the current version.
    pub fn step(run_id: &str, tenant_id: &str, step: StepName, trace: TraceContext) -> Self {
        Self::Step(StepJob {
            v: PAYLOAD_VERSION,
            run_id: run_id.into(),
            tenant_id: tenant_id.into(),
            step,
            attempt: first_attempt(),
            trace,
            dry_run: false,
            enqueued_at: None,
        })
    }

    /// The JSON stored in Redis.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses a stored payload; refuses versions newer than this crate knows.
    pub fn from_json(s: &str) -> Result<Self, Error> {
        serde_json::from_str(s).map_err(|e| Error::InvalidPayload {
            reason: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn payload_shape_is_stable() {
        let mut p = JobPayload::step(
            "run-1",
            "acme",
            StepName::EnsureWebhooks,
            TraceContext::parse(TP).unwrap(),
        );
        let JobPayload::Step(job) = &mut p;
        job.enqueued_at = Some(Timestamp(1_700_000_000_000));
        expect_test::expect![[r#"{"kind":"step","v":1,"run_id":"run-1","tenant_id":"acme","step":"ensure_webhooks","attempt":1,"trace":{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},"dry_run":false,"enqueued_at":1700000000000}"#]]
            .assert_eq(&p.to_json());
        assert_eq!(JobPayload::from_json(&p.to_json()).unwrap(), p);
    }

    #[test]
    fn an_older_payload_still_parses() {
        // As written before `trace`, `dry_run` and `enqueued_at` existed (with an attempt other
        // than 1, as some were), plus a field a newer writer added that this reader does not
        // know.
        let old = r#"{"kind":"step","v":1,"run_id":"r","tenant_id":"t","step":"verify_api_user","attempt":3,"future_field":true}"#;
        let JobPayload::Step(job) = JobPayload::from_json(old).unwrap();
        assert_eq!(job.step, StepName::VerifyApiUser);
        assert_eq!(job.trace, TraceContext::default());
        assert!(!job.dry_run);
        assert_eq!(job.enqueued_at, None);
    }

    #[test]
    fn bad_payloads_are_refused() {
        for bad in [
            r#"{"kind":"step","v":2,"run_id":"r","tenant_id":"t","step":"verify_api_user","attempt":1}"#,
            r#"{"kind":"step","v":1,"run_id":"r","tenant_id":"t","step":"no_such_step","attempt":1}"#,
            r#"{"kind":"other","v":1}"#,
        ] {
            assert!(JobPayload::from_json(bad).is_err(), "{bad}");
        }
        // The guard holds on every read path, serde included (the queue's backend).
        let newer = r#"{"kind":"step","v":2,"run_id":"r","tenant_id":"t","step":"verify_api_user","attempt":1}"#;
        let e = serde_json::from_str::<JobPayload>(newer)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("version 2 (this worker reads 1..=1); upgrade the worker"),
            "{e}"
        );
    }

    #[test]
    fn traceparent_is_checked() {
        assert_eq!(
            TraceContext::parse(TP).unwrap().trace_id(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        ] {
            assert!(TraceContext::parse(bad).is_err(), "{bad}");
        }
    }
}
