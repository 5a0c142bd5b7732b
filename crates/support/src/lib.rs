//! The small pieces that every other paywire crate may use: the one retry
//! policy, secrets that never print, the one way to read a request body,
//! and the one "did you mean".
//!
//! This crate uses no other paywire crate, and knows no web framework: a body
//! is any `http_body::Body`, so the server and the sandbox read theirs alike.

pub mod backoff;
pub mod body;
mod hint;
mod secret;

pub use backoff::Backoff;
pub use hint::did_you_mean;
pub use secret::Secret;
