//! Stripe as paywire speaks to it: the one client the actions use
//! ([`client`]), the `Stripe-Signature` scheme of webhooks ([`signature`]),
//! and `paywire trigger`'s recipes of the calls that cause each event
//! ([`recipes`]).
//!
//! The offline sandbox is a crate of its own (`paywire-sandbox`): it is a
//! server, reached over HTTP like Stripe itself, and uses this crate only to
//! sign the events it sends.

pub mod client;
pub mod recipes;
pub mod signature;
