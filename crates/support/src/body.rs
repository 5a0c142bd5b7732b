//! Reading request bodies: one deadline for the whole of a body, one size
//! limit, and one answer to what went wrong.
//!
//! Every request body is wrapped in a [`DeadlineBody`] when its request
//! arrives (the server's accept loop), so a body that trickles in is cut off however
//! its handler reads it. Handlers read bodies with [`read_body`], whose
//! [`BodyError`] tells a body over the limit (413) from one too slow (408)
//! and from one that is malformed or cut short (400), whichever error type
//! the handler answers with.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tokio::time::{Instant, Sleep};

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the body did not arrive within {} seconds", .timeout.as_secs_f64())]
    TimedOut { timeout: Duration },
    /// Malformed framing (a bad chunk size, say), or a connection that
    /// ended before the body did; the text names the problem.
    #[error("the body could not be read: {0}")]
    Unreadable(String),
}

impl BodyError {
    pub fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::TimedOut { .. } => StatusCode::REQUEST_TIMEOUT,
            BodyError::Unreadable(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// A few words on the problem, for the `fields` of an API's 400 answer.
    pub fn problem(&self) -> &'static str {
        match self {
            BodyError::TooLarge { .. } => "too large",
            BodyError::TimedOut { .. } => "too slow",
            BodyError::Unreadable(_) => "malformed",
        }
    }
}

/// The error type of the bodies read here, as hyper and axum box theirs.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Reads a whole request body of at most `limit` bytes.
pub async fn read_body<B>(body: B, limit: usize) -> Result<Bytes, BodyError>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) => Err(classify(&*e, limit)),
    }
}

/// Finds what ended the read in an error's chain of sources: the size limit
/// and the deadline are errors of their own types, anything else comes from
/// the connection (hyper's decoder) and its innermost message names it.
fn classify(error: &(dyn std::error::Error + 'static), limit: usize) -> BodyError {
    let mut innermost = error;
    let mut current = Some(error);
    while let Some(e) = current {
        if e.is::<LengthLimitError>() {
            return BodyError::TooLarge { limit };
        }
        if let Some(elapsed) = e.downcast_ref::<BodyDeadlineElapsed>() {
            return BodyError::TimedOut {
                timeout: elapsed.timeout,
            };
        }
        innermost = e;
        current = e.source();
    }
    BodyError::Unreadable(innermost.to_string())
}

/// The error a [`DeadlineBody`] ends with when its time is up.
#[derive(Debug, thiserror::Error)]
#[error("the body did not arrive within {} seconds", .timeout.as_secs_f64())]
pub struct BodyDeadlineElapsed {
    timeout: Duration,
}

/// A body that must arrive whole within `timeout` of its request's head. A
/// deadline for each frame would not do: a client sending a byte every few
/// seconds would hold its connection for as long as it liked.
pub struct DeadlineBody<B> {
    inner: B,
    timeout: Duration,
    deadline: Instant,
    /// Made at the first read that has to wait, so that a body that is
    /// already there costs no timer.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<B> DeadlineBody<B> {
    pub fn new(inner: B, timeout: Duration) -> DeadlineBody<B> {
        DeadlineBody {
            inner,
            timeout,
            deadline: Instant::now() + timeout,
            sleep: None,
        }
    }
}

impl<B> HttpBody for DeadlineBody<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        // Data that has arrived is taken even at the deadline.
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|result| result.map_err(Into::into)));
        }
        let deadline = self.deadline;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyDeadlineElapsed {
                timeout: self.timeout,
            })))),
            Poll::Pending => Poll::Pending,
        }
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
    use std::collections::VecDeque;

    use axum::body::Body;

    use super::*;

    /// A body that yields its frames and then waits for ever, as a client
    /// that stopped sending does.
    struct Scripted(VecDeque<Result<Bytes, std::io::Error>>);

    impl HttpBody for Scripted {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            match self.0.pop_front() {
                Some(frame) => Poll::Ready(Some(frame.map(Frame::data))),
                None => Poll::Pending,
            }
        }
    }

    fn scripted(frames: Vec<Result<Bytes, std::io::Error>>) -> Body {
        Body::new(Scripted(frames.into()))
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_too_large() {
        let e = read_body(Body::from(vec![b'x'; 11]), 10).await.unwrap_err();
        assert!(matches!(e, BodyError::TooLarge { limit: 10 }), "{e:?}");
        assert_eq!(e.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(e.to_string(), "the body is larger than 10 bytes");
    }

    #[tokio::test]
    async fn a_body_past_its_deadline_timed_out() {
        let timeout = Duration::from_millis(50);
        let stalled = scripted(vec![Ok(Bytes::from_static(b"{\"a\":"))]);
        let body = Body::new(DeadlineBody::new(stalled, timeout));
        let e = read_body(body, 1 << 20).await.unwrap_err();
        assert!(
            matches!(e, BodyError::TimedOut { timeout: t } if t == timeout),
            "{e:?}"
        );
        assert_eq!(e.status(), StatusCode::REQUEST_TIMEOUT);
    }

    #[tokio::test]
    async fn a_body_within_its_deadline_is_read_whole() {
        let body = Body::new(DeadlineBody::new(
            Body::from("{}"),
            Duration::from_millis(50),
        ));
        assert_eq!(
            read_body(body, 10).await.unwrap(),
            Bytes::from_static(b"{}")
        );
    }

    #[tokio::test]
    async fn a_broken_body_is_unreadable_and_named() {
        let broken = scripted(vec![Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "Invalid chunk size line: Invalid Size",
        ))]);
        let body = Body::new(DeadlineBody::new(broken, Duration::from_secs(5)));
        let e = read_body(body, 1 << 20).await.unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            e.to_string(),
            "the body could not be read: Invalid chunk size line: Invalid Size"
        );
    }
}
