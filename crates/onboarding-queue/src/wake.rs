//! Idle wake-up: one pub/sub subscription per [`crate::Queue`] handle, turned into a
//! `watch` counter that idle workers await.
//!
//! Workers read the counter before fetching and, when the fetch found nothing, wait for it to
//! change, so a wake-up published between the fetch and the wait is never lost. The listener
//! reconnects with backoff and bumps the counter after reconnecting (messages may have been
//! missed), each time to the server the queue's connection uses now. It stops when every receiver is gone. It never touches queue state.

use std::time::Duration;

use futures::StreamExt;
use tokio::sync::watch;
use tracing::{debug, warn};

use crate::connection::RedisConn;

/// Starts the listener on the current tokio runtime and returns its receiver.
pub(crate) fn listen(conn: RedisConn, channel: String) -> watch::Receiver<u64> {
    let (tx, rx) = watch::channel(0u64);
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(50);
        loop {
            // The current server each time: after a failover, the new master.
            match conn.client().get_async_pubsub().await {
                Ok(mut pubsub) => {
                    if let Err(e) = pubsub.subscribe(&channel).await {
                        warn!(error = %e, "wake-up subscription failed");
                    } else {
                        backoff = Duration::from_millis(50);
                        tx.send_modify(|v| *v += 1);
                        let mut messages = pubsub.on_message();
                        loop {
                            tokio::select! {
                                m = messages.next() => match m {
                                    Some(_) => tx.send_modify(|v| *v += 1),
                                    None => break,
                                },
                                () = tx.closed() => return,
                            }
                        }
                        debug!("wake-up subscription closed; reconnecting");
                    }
                }
                Err(e) => debug!(error = %e, "wake-up subscription cannot connect"),
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = tx.closed() => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    });
    rx
}
