//! Reading request bodies: one size limit, and one answer to what went
//! wrong.
//!
//! Handlers read bodies with [`read_body`], whose [`BodyError`] tells a body
//! over the limit (413) from one that is malformed or cut short (400),
//! whichever error type the handler answers with.

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use http_body_util::LengthLimitError;

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// Malformed framing (a bad chunk size, say), or a connection that
    /// ended before the body did; the text names the problem.
    #[error("the body could not be read: {0}")]
    Unreadable(String),
}

impl BodyError {
    pub fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Unreadable(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// A few words on the problem, for the `fields` of an API's 400 answer.
    pub fn problem(&self) -> &'static str {
        match self {
            BodyError::TooLarge { .. } => "too large",
            BodyError::Unreadable(_) => "malformed",
        }
    }
}

/// Reads a whole request body of at most `limit` bytes.
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|e| classify(&e, limit))
}

/// Finds what ended the read in an error's chain of sources: the size limit
/// is an error of its own type, anything else comes from the connection
/// (hyper's decoder) and its innermost message names it.
fn classify(error: &(dyn std::error::Error + 'static), limit: usize) -> BodyError {
    let mut innermost = error;
    let mut current = Some(error);
    while let Some(e) = current {
        if e.is::<LengthLimitError>() {
            return BodyError::TooLarge { limit };
        }
        innermost = e;
        current = e.source();
    }
    BodyError::Unreadable(innermost.to_string())
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use axum::body::HttpBody;
    use http_body::Frame;

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
    async fn a_broken_body_is_unreadable_and_named() {
        let broken = scripted(vec![Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "Invalid chunk size line: Invalid Size",
        ))]);
        let e = read_body(broken, 1 << 20).await.unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            e.to_string(),
            "the body could not be read: Invalid chunk size line: Invalid Size"
        );
    }
}
