//! The TCP listener the server runs on: each accepted stream carries a kill switch
//! ([`Conn`], handed to handlers as connect info), so a handler can drop its own connection
//! without an answer (connection resets, timeouts, commit-then-drop) without panicking: the
//! stream fails its next read or write.
//!
//! What it does not do: no routing, no HTTP; `server` hands it to axum.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// A connection's kill switch, handed to handlers as connect info.
#[derive(Clone, Debug, Default)]
pub(crate) struct Conn {
    kill: Arc<AtomicBool>,
}

impl Conn {
    /// Makes the connection fail on its next read or write, so no answer is sent.
    pub(crate) fn kill(&self) {
        self.kill.store(true, Ordering::SeqCst);
    }
}

pub(crate) struct SimStream {
    inner: TcpStream,
    kill: Arc<AtomicBool>,
}

impl SimStream {
    fn killed(&self) -> bool {
        self.kill.load(Ordering::SeqCst)
    }
}

fn reset() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "simulated connection drop")
}

impl AsyncRead for SimStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.killed() {
            return Poll::Ready(Err(reset()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.killed() {
            return Poll::Ready(Err(reset()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.killed() {
            return Poll::Ready(Err(reset()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.killed() {
            return Poll::Ready(Err(reset()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

pub(crate) struct SimListener(pub(crate) TcpListener);

impl Listener for SimListener {
    type Io = SimStream;
    type Addr = Conn;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let conn = Conn::default();
                    return (
                        SimStream {
                            inner: stream,
                            kill: conn.kill.clone(),
                        },
                        conn,
                    );
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr().map(|_| Conn::default())
    }
}

impl Connected<IncomingStream<'_, SimListener>> for Conn {
    fn connect_info(stream: IncomingStream<'_, SimListener>) -> Self {
        stream.remote_addr().clone()
    }
}
