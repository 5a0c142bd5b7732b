//! The connections of `paywire serve`: the accept loop, its cap on
//! concurrent connections, the timeouts that close slow and idle ones, and
//! the graceful shutdown.
//!
//! hyper (through hyper-util's auto builder: HTTP/1.1, and HTTP/2 with prior
//! knowledge) serves each connection. Its own `header_read_timeout` is not
//! used: its timer starts as soon as a connection is ready for a request,
//! so it would close an idle keep-alive connection after the header timeout,
//! and the two could not be set apart. Instead each connection has a watchdog
//! that knows what the connection is doing, as Go's server does: a new
//! connection, or one whose next request has begun to arrive, has
//! `header_timeout` to deliver the request's head; a connection between
//! requests has `idle_timeout` before its next request's first byte; a
//! request being served has no connection deadline, only its body's
//! (`body_timeout`, [`DeadlineBody`]) and what its workflow takes.
//!
//! Past `max_connections`, the loop stops accepting: new connections wait in
//! the kernel's backlog and are accepted, in order, as others close.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Bytes, HttpBody};
use axum::http::{Request, Response};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};

use paywire_support::body::DeadlineBody;

use crate::app::ConnectionLimits;

/// Serves `router` on `listener` until `shutdown` resolves; then stops
/// accepting, lets the requests in flight finish and returns once every
/// connection has closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().keep_alive(true).header_read_timeout(None);
    let limits = Arc::new(limits);
    let permits = Arc::new(Semaphore::new(
        limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    // Each connection holds a receiver; the sender learns that all have
    // closed when the last one is dropped.
    let (stop, stopped) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    let mut at_cap = false;
    loop {
        let permit = match permits.clone().try_acquire_owned() {
            Ok(permit) => {
                at_cap = false;
                permit
            }
            Err(_) => {
                if !at_cap {
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        "the connection cap is reached: new connections wait until others close"
                    );
                    at_cap = true;
                }
                tokio::select! {
                    biased;
                    () = &mut shutdown => break,
                    permit = permits.clone().acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break,
                    },
                }
            }
        };
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                accept_failed(e).await;
                continue;
            }
        };
        tokio::spawn(serve_connection(
            stream,
            router.clone(),
            builder.clone(),
            limits.clone(),
            stopped.clone(),
            permit,
        ));
    }
    drop(listener);
    let _ = stop.send(true);
    drop(stopped);
    stop.closed().await;
}

/// Errors of one connection (the client went away before it was accepted)
/// are skipped; others, such as running out of file descriptors, are logged
/// and given a second to pass, as axum's own loop does.
async fn accept_failed(error: io::Error) {
    if matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %error, "could not accept a connection");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

async fn serve_connection(
    stream: TcpStream,
    router: Router,
    builder: auto::Builder<TokioExecutor>,
    limits: Arc<ConnectionLimits>,
    mut stopped: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(WatchedIo {
        inner: stream,
        activity: activity.clone(),
    });
    let service = ConnectionService {
        router,
        activity: activity.clone(),
        body_timeout: limits.body_timeout,
    };
    let mut connection = pin!(builder.serve_connection(io, service));
    let mut closing = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "a connection ended with an error");
                }
                break;
            }
            _ = stopped.wait_for(|stop| *stop), if !closing => {
                connection.as_mut().graceful_shutdown();
                closing = true;
            }
            expired = activity.expired(&limits) => match expired {
                // A client that has not finished a request's head has
                // nothing to be answered.
                Expired::Head => break,
                // An idle connection is closed as HTTP means it: HTTP/1
                // closes at once, HTTP/2 says GOAWAY first.
                Expired::Idle if !closing => {
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
                Expired::Idle => break,
            },
        }
    }
}

/// What a connection is doing, told by its I/O and its requests, and read by
/// its watchdog.
struct Activity {
    /// Requests being served: from the end of a head to the end of its
    /// response.
    in_flight: AtomicUsize,
    /// Whether a request's head is due: from the opening, and from the first
    /// byte that arrives while no request is in flight.
    head_due: AtomicBool,
    changed: Notify,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Expired {
    Head,
    Idle,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            in_flight: AtomicUsize::new(0),
            head_due: AtomicBool::new(true),
            changed: Notify::new(),
        }
    }

    fn bytes_arrived(&self) {
        if !self.head_due.load(Ordering::Acquire)
            && self.in_flight.load(Ordering::Acquire) == 0
            && !self.head_due.swap(true, Ordering::AcqRel)
        {
            self.changed.notify_one();
        }
    }

    fn request_started(self: &Arc<Activity>) -> InFlight {
        self.head_due.store(false, Ordering::Release);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.changed.notify_one();
        InFlight(self.clone())
    }

    /// Resolves when the connection has been waiting too long for a head or
    /// for its next request; never while a request is in flight. Each change
    /// of what the connection does starts its wait anew.
    async fn expired(&self, limits: &ConnectionLimits) -> Expired {
        loop {
            // A change notified before this point is kept as a permit, so
            // none is missed between reading the state and waiting.
            let changed = self.changed.notified();
            let wait = if self.in_flight.load(Ordering::Acquire) > 0 {
                None
            } else if self.head_due.load(Ordering::Acquire) {
                Some((limits.header_timeout, Expired::Head))
            } else {
                Some((limits.idle_timeout, Expired::Idle))
            };
            match wait {
                None => changed.await,
                Some((timeout, expired)) => {
                    tokio::select! {
                        () = tokio::time::sleep(timeout) => return expired,
                        () = changed => {}
                    }
                }
            }
        }
    }
}

/// A request in flight on its connection, until its response is dropped.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.changed.notify_one();
        }
    }
}

/// The TCP stream of a connection, telling its [`Activity`] when bytes
/// arrive.
struct WatchedIo {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for WatchedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.bytes_arrived();
        }
        polled
    }
}

impl AsyncWrite for WatchedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
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

/// The router as hyper calls it for one connection: each request is counted
/// in flight until its response is dropped, and its body has its deadline.
#[derive(Clone)]
struct ConnectionService {
    router: Router,
    activity: Arc<Activity>,
    body_timeout: Duration,
}

type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<Response<TrackedBody>, Infallible>> + Send>>;

impl hyper::service::Service<Request<Incoming>> for ConnectionService {
    type Response = Response<TrackedBody>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn call(&self, request: Request<Incoming>) -> ResponseFuture {
        let in_flight = self.activity.request_started();
        let request = request.map(|body| DeadlineBody::new(body, self.body_timeout));
        let answer = tower::Service::call(&mut self.router.clone(), request);
        Box::pin(async move {
            let response = answer.await?;
            Ok(response.map(|body| TrackedBody {
                inner: body,
                _in_flight: in_flight,
            }))
        })
    }
}

/// A response body that keeps its request counted in flight until hyper has
/// sent it and dropped it.
struct TrackedBody {
    inner: axum::body::Body,
    _in_flight: InFlight,
}

impl HttpBody for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ConnectionLimits {
        ConnectionLimits {
            header_timeout: Duration::from_millis(40),
            idle_timeout: Duration::from_millis(80),
            ..ConnectionLimits::default()
        }
    }

    async fn within<T>(future: impl Future<Output = T>) -> Option<T> {
        tokio::time::timeout(Duration::from_millis(400), future)
            .await
            .ok()
    }

    #[tokio::test]
    async fn a_new_connection_owes_a_head() {
        let activity = Arc::new(Activity::new());
        assert_eq!(
            within(activity.expired(&limits())).await,
            Some(Expired::Head)
        );
    }

    #[tokio::test]
    async fn nothing_expires_while_a_request_is_in_flight() {
        let activity = Arc::new(Activity::new());
        let _in_flight = activity.request_started();
        activity.bytes_arrived();
        assert_eq!(within(activity.expired(&limits())).await, None);
    }

    #[tokio::test]
    async fn after_a_response_the_connection_is_idle_until_bytes_arrive() {
        let activity = Arc::new(Activity::new());
        drop(activity.request_started());
        assert_eq!(
            within(activity.expired(&limits())).await,
            Some(Expired::Idle)
        );
        activity.bytes_arrived();
        assert_eq!(
            within(activity.expired(&limits())).await,
            Some(Expired::Head)
        );
    }
}
