//! The engine: what runs a project. The [`runner`] walks an API's or a
//! workflow's steps and records them; [`actions`] plans what an action step
//! does (a table operation, a Stripe call) and makes the Stripe calls; the
//! [`inbox`]'s worker runs the workflows of stored Stripe events; a
//! [`Deployment`] is one loaded version of the project; [`Engine`] holds the
//! version being served and retries and replays.
//!
//! It knows nothing of HTTP or SQL: it sees the model, the expressions, the
//! [`paywire_store::Store`] trait and the Stripe client.

// Errors here carry what a builder needs to fix them (step, name, message,
// cause); they travel only on the failure path, so their size costs nothing
// that boxing would win back.
#![allow(clippy::result_large_err)]

pub mod actions;
mod deployment;
mod engine;
pub mod inbox;
mod instance;
pub mod runner;

pub use deployment::Deployment;
pub use engine::{Engine, ReplayError, RetryError};
pub use instance::Instance;
