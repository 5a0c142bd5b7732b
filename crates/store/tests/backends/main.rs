//! The store's behaviour, one suite run against both backends: every case
//! here runs on a fresh SQLite file and on a fresh PostgreSQL schema, and
//! must answer the same on both.
//!
//! PostgreSQL is found through `PAYWIRE_TEST_POSTGRES` (a URL such as
//! `postgres://postgres:secret@127.0.0.1:5432/paywire_test`). Without it the
//! PostgreSQL cases skip with a message, unless `PAYWIRE_POSTGRES_TESTS` is
//! `required` (as in CI), when they fail.

#[macro_use]
mod common;
mod cluster;
mod copy;
mod events;
mod runs;
mod sandbox;
mod tables;
mod tls;
