//! Stripe's form encoding, for the offline Stripe-compatible sandbox.
//!
//! Stripe's API takes `application/x-www-form-urlencoded` bodies (and query
//! strings for `GET`) whose keys nest with brackets:
//! `line_items[0][price]=p&line_items[0][quantity]=2&expand[]=customer`.
//! This module turns such input into JSON and back, and checks it against a
//! declared parameter spec the way Stripe's API does:
//!
//! * `codec` holds [`decode`], which parses a body into a JSON object whose
//!   leaves are all strings, within the limits [`codec::MAX_DEPTH`],
//!   [`codec::MAX_INDEX`] and [`codec::MAX_NODES`], and [`encode`], its inverse, for paywire's own
//!   clients and tests;
//! * `params` holds [`check`], which validates decoded parameters against a
//!   static [`Param`] spec, converts leaves to typed JSON and reports the
//!   first problem as a [`ParamError`] carrying Stripe's `param`, `code` and
//!   `message`;
//! * `props` holds the property tests of both.
//!
//! An empty value (`description=`) is how Stripe clients unset a field, so it
//! is kept as `""` all the way through: the caller decides what unsetting
//! means for the object it updates.

mod codec;
mod params;
#[cfg(test)]
mod props;

pub use codec::{decode, encode};
pub use params::{EXPAND, Kind, Param, ParamError, check};
