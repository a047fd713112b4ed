//! End-to-end tests of onboard: runs enqueued through the service, executed by real workers
//! (threads, and a process that is SIGKILLed) on a private `redis-server`, against the
//! simulator in-process. One module per story; the main stories run against both simulator
//! profiles (`default` and `strict`, the pessimistic side of every behaviour Autotask leaves
//! open) through [`both_profiles!`].

/// Runs the story `async fn $story(profile: autotask_sim::Profile)` as two tests,
/// `$story::default` and `$story::strict`: one story, parametrised, not copied.
macro_rules! both_profiles {
    ($($story:ident),* $(,)?) => {$(
        mod $story {
            #[tokio::test]
            async fn default() {
                super::$story(autotask_sim::Profile::Default).await
            }
            #[tokio::test]
            async fn strict() {
                super::$story(autotask_sim::Profile::Strict).await
            }
        }
    )*};
}

mod campaigns;
mod care;
mod crash;
mod dead;
mod demo;
mod deploy;
mod failover;
mod faults;
mod lifecycle;
mod limits;
mod metrics;
mod runs;
mod secrets;
mod support;
mod traces;
