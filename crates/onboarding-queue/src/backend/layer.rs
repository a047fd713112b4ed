//! The layer of [`RedisBackend`](super::RedisBackend): turns each handler's result into a
//! queue outcome (see the parent module's docs for the mapping), frees the task's slot when
//! its handler has finished, and, with `confirm_outcomes`, waits until the outcome is stored.

use std::task::{Context, Poll};

use apalis_core::error::BoxDynError;
use apalis_core::task::Task;
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use super::{AckMsg, JobContext, Slot};
use crate::job::Outcome;
use crate::verdict::{QueueBackoff, outcome_of};

/// The backend's layer: records each task's outcome with its lease (see the module docs).
#[derive(Clone)]
pub struct OutcomeLayer {
    pub(super) acks: mpsc::UnboundedSender<AckMsg>,
    pub(super) retry: QueueBackoff,
    pub(super) confirm: bool,
}

impl std::fmt::Debug for OutcomeLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutcomeLayer")
            .field("retry", &self.retry)
            .field("confirm", &self.confirm)
            .finish()
    }
}

impl<S> tower::Layer<S> for OutcomeLayer {
    type Service = OutcomeService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        OutcomeService {
            inner,
            layer: self.clone(),
        }
    }
}

/// See [`OutcomeLayer`].
#[derive(Clone, Debug)]
pub struct OutcomeService<S> {
    inner: S,
    layer: OutcomeLayer,
}

impl<S, Args> tower::Service<Task<Args>> for OutcomeService<S>
where
    S: tower::Service<Task<Args>>,
    S::Error: Into<BoxDynError>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxDynError;
    type Future = BoxFuture<'static, Result<S::Response, BoxDynError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, task: Task<Args>) -> Self::Future {
        let job = task.ctx().data().get::<JobContext>().cloned();
        let slot = task.ctx().data().get::<Slot>().cloned();
        let fut = self.inner.call(task);
        let layer = self.layer.clone();
        async move {
            let res = fut.await.map_err(Into::into);
            // The handler has finished: its slot is free (the task's own copy went with it).
            drop(slot);
            let Some(job) = job else {
                return res;
            };
            let outcome = match &res {
                Ok(_) => Outcome::Done,
                Err(e) => outcome_of(e, job.attempt, &layer.retry),
            };
            if layer.confirm {
                let (tx, rx) = oneshot::channel();
                if layer
                    .acks
                    .send(AckMsg::Outcome(job.lease, outcome, Some(tx)))
                    .is_ok()
                {
                    let _ = rx.await;
                }
            } else {
                let _ = layer.acks.send(AckMsg::Outcome(job.lease, outcome, None));
            }
            res
        }
        .boxed()
    }
}
