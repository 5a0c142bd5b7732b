//! paywire: a workflow engine for payment flows that builders write as YAML.
//!
//! See ARCHITECTURE.md for the map of modules and the rules between them.

// Errors here carry what a builder needs to fix them (step, name, message,
// cause); they travel only on the failure path, so their size costs nothing
// that boxing would win back.
#![allow(clippy::result_large_err)]
// Stripe objects are written as large `json!` literals.
#![recursion_limit = "256"]

pub mod actions;
pub mod app;
pub mod backoff;
pub mod cli;
pub mod config;
pub mod console;
pub mod expr;
pub mod http;
pub mod inbox;
pub mod model;
pub mod runner;
pub mod store;
pub mod stripe;
