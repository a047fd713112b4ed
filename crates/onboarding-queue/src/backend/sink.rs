//! The task sink side of [`RedisBackend`](super::RedisBackend): apalis' `TaskSink::push`
//! buffers tasks as new jobs (group from `oq.group` metadata or `group_of`, apalis' priority,
//! run time, attempts and idempotency key) and enqueues them in batches of up to 1,000. It
//! does not fetch or run anything.

use std::pin::Pin;
use std::task::{Context, Poll};

use apalis_core::task::Task;
use futures::{FutureExt, Sink};
use serde::Serialize;

use super::{GROUP_META, RedisBackend};
use crate::error::QueueError;
use crate::job::{JobId, NewJob, Priority};

impl<Args: Serialize> RedisBackend<Args> {
    fn to_new_job(&self, task: Task<Args>) -> Result<NewJob, QueueError> {
        let (args, ctx) = task.take();
        let payload = serde_json::to_vec(&args).map_err(QueueError::Codec)?;
        let meta: std::collections::BTreeMap<String, String> = ctx
            .metadata()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let group = meta
            .get(GROUP_META)
            .cloned()
            .or_else(|| self.options.group_of.as_ref().map(|f| f(&args)))
            .unwrap_or_else(|| "default".to_owned());
        let mut job = match ctx.task_id() {
            Some(t) => NewJob::new(group, payload).with_id(JobId(t.to_string())),
            None => NewJob::new(group, payload),
        };
        job.meta = meta;
        job.priority = match ctx.priority() {
            Some(0) => Priority::High,
            Some(1) | None => Priority::Normal,
            Some(_) => Priority::Bulk,
        };
        job.run_at = ctx
            .run_at()
            .filter(|s| *s > 0)
            .map(|s| crate::job::from_millis(s * 1000));
        job.max_attempts = ctx.max_attempts().map(|m| m as u32);
        job.idempotency_key = ctx.idempotency_key().map(str::to_owned);
        Ok(job)
    }
}

impl<Args: Serialize> Sink<Task<Args>> for RedisBackend<Args> {
    type Error = QueueError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Bounded buffer: flush once 1,000 jobs wait.
        if self.pushing.len() >= 1_000 || self.flushing.is_some() {
            return self.poll_flush(cx);
        }
        Poll::Ready(Ok(()))
    }

    fn start_send(mut self: Pin<&mut Self>, item: Task<Args>) -> Result<(), Self::Error> {
        let job = self.to_new_job(item)?;
        self.pushing.push(job);
        Ok(())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        loop {
            if let Some(fut) = self.flushing.as_mut() {
                let r = futures::ready!(fut.poll_unpin(cx));
                self.flushing = None;
                r?;
            }
            if self.pushing.is_empty() {
                return Poll::Ready(Ok(()));
            }
            let jobs = std::mem::take(&mut self.pushing);
            let queue = self.queue.clone();
            self.flushing = Some(async move { queue.enqueue_many(jobs).await.map(|_| ()) }.boxed());
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.poll_flush(cx)
    }
}
