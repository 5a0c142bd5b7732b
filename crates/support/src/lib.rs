//! The small pieces that every other paywire crate may use: the one retry
//! policy, secrets that never print, the one way to read a request body,
//! the one "did you mean", and the name of the host.
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

/// This machine's name, as processes that share a database name
/// themselves to each other: the kernel's host name, else `HOSTNAME`, else
/// `paywire`.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "paywire".to_string())
}
