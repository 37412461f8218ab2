//! Accepting client connections within bounds: at most `connections.max`
//! open at once, headers within `headerTimeout`, and a connection on which
//! nothing moves for `idleTimeout` closed. Without them one client sending
//! headers a byte a second, or opening connections and leaving them idle,
//! could hold every file descriptor the gateway has.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hangar_config::ConnectionLimits;
use hyper::server::conn::http1::Builder;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::{Service, ServiceExt};

/// How long a stopping server keeps an idle kept-alive connection open for
/// one more request (answered with `Connection: close`).
const CLOSE_IDLE_AFTER: Duration = Duration::from_secs(2);

/// Serves `app` on `listener` until `cancel`, then refuses new connections
/// and lets open ones finish their requests for up to `drain`.
pub async fn serve(
    app: Router,
    listener: TcpListener,
    limits: &ConnectionLimits,
    cancel: CancellationToken,
    drain: Duration,
) -> io::Result<()> {
    let mut make_service = app.into_make_service_with_connect_info::<SocketAddr>();
    let permits = Arc::new(Semaphore::new(limits.max as usize));
    let connections = TaskTracker::new();
    let mut builder = Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout.0);
    loop {
        let permit = tokio::select! {
            _ = cancel.cancelled() => break,
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
        };
        let (stream, peer) = tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, or a connection reset before
                    // it was accepted: try again shortly rather than spin.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        no_delay(&stream);
        let service = make_service
            .call(peer)
            .await
            .unwrap_or_else(|never| match never {});
        let stopping = cancel.clone();
        let service = TowerToHyperService::new(
            service
                .map_request(|request: http::Request<hyper::body::Incoming>| {
                    request.map(axum::body::Body::new)
                })
                .map_response(move |mut response: axum::response::Response| {
                    // The client learns from the answer itself that this
                    // connection closes: no race with its next request.
                    if stopping.is_cancelled() {
                        response.headers_mut().insert(
                            http::header::CONNECTION,
                            http::HeaderValue::from_static("close"),
                        );
                    }
                    response
                }),
        );
        let io = TokioIo::new(Idle::new(stream, limits.idle_timeout.0));
        let builder = builder.clone();
        let cancel = cancel.clone();
        connections.spawn(async move {
            let _permit = permit;
            let connection = builder.serve_connection(io, service).with_upgrades();
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                _ = cancel.cancelled() => {
                    // Closing a kept-alive connection while it is idle races
                    // the request its client may be sending. Instead its next
                    // request is answered with `Connection: close`; one with
                    // no request within CLOSE_IDLE_AFTER is closed then.
                    tokio::select! {
                        result = connection.as_mut() => return log_end(peer, result),
                        () = tokio::time::sleep(CLOSE_IDLE_AFTER.min(drain)) => {}
                    }
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            log_end(peer, result);
        });
    }
    // Refuse new connections from now on: a listener left open would still
    // complete their handshakes, and they would wait unserved until the exit.
    drop(listener);
    connections.close();
    // Long-lived event streams would hold the drain open forever.
    let _ = tokio::time::timeout(drain, connections.wait()).await;
    Ok(())
}

fn log_end(peer: SocketAddr, result: Result<(), hyper::Error>) {
    if let Err(error) = result {
        tracing::debug!(%peer, %error, "client connection ended");
    }
}

/// Sends each response as soon as it is written. Without it an SSE response
/// written in two pieces (priming event, then result) waits for the client's
/// delayed ACK (~40 ms) on every call of a kept-alive connection.
fn no_delay(stream: &TcpStream) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "cannot set TCP_NODELAY on an accepted connection");
    }
}

/// A stream that fails with `TimedOut` once nothing was read or written on
/// it for `after`. Activity only records the time; the timer is moved when
/// it fires, so a busy connection costs no timer updates.
struct Idle<T> {
    inner: T,
    after: Duration,
    last_active: Instant,
    timer: Pin<Box<Sleep>>,
}

impl<T> Idle<T> {
    fn new(inner: T, after: Duration) -> Self {
        let now = Instant::now();
        Self {
            inner,
            after,
            last_active: now,
            timer: Box::pin(tokio::time::sleep_until(now + after)),
        }
    }

    /// Called when the inner stream is not ready: whether the connection
    /// has now been idle too long.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let deadline = self.last_active + self.after;
            if deadline <= Instant::now() {
                return Poll::Ready(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no data for {}", hangar_config::DurationSpec(self.after)),
                ));
            }
            self.timer.as_mut().reset(deadline);
        }
    }

    fn record<R>(&mut self, progressed: bool, result: R) -> R {
        if progressed {
            self.last_active = Instant::now();
        }
        result
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Idle<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                let progressed = buf.filled().len() > before;
                Poll::Ready(this.record(progressed, result))
            }
            Poll::Pending => this.poll_idle(cx).map(Err),
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Idle<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(result) => {
                let progressed = matches!(result, Ok(n) if n > 0);
                Poll::Ready(this.record(progressed, result))
            }
            Poll::Pending => this.poll_idle(cx).map(Err),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(result) => {
                let progressed = matches!(result, Ok(n) if n > 0);
                Poll::Ready(this.record(progressed, result))
            }
            Poll::Pending => this.poll_idle(cx).map(Err),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn a_stream_with_no_traffic_times_out_and_one_with_traffic_does_not() {
        let (near, mut far) = tokio::io::duplex(64);
        let mut idle = Idle::new(near, Duration::from_secs(10));
        let mut buf = [0u8; 8];
        // Traffic every 6 s keeps it open past the 10 s limit.
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_secs(6)).await;
            far.write_all(b"x").await.unwrap();
            assert_eq!(idle.read(&mut buf).await.unwrap(), 1);
        }
        // Then silence: the read fails after 10 s.
        let started = Instant::now();
        let error = idle.read(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }
}
