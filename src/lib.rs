//! paywire: a workflow engine for payment flows that builders write as YAML.
//!
//! This crate is the server and the command line: the HTTP layer (`http`),
//! the console, the running application (`app`) and its settings (`config`),
//! and `cli`. What it serves lives in the crates below it; see
//! ARCHITECTURE.md for the map of crates and the rules between them.

// Errors here carry what a builder needs to fix them (step, name, message,
// cause); they travel only on the failure path, so their size costs nothing
// that boxing would win back.
#![allow(clippy::result_large_err)]

pub mod app;
pub mod cli;
pub mod config;
pub mod console;
pub mod http;
