//! End-to-end tests of onboard: runs enqueued through the service, executed by real workers
//! (threads, and a process that is SIGKILLed) on a private `redis-server`, against the
//! simulator in-process. One module per story.

mod crash;
mod dead;
mod faults;
mod limits;
mod metrics;
mod runs;
mod secrets;
mod support;
mod traces;
