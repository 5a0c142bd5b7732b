//! Stripe: webhook signatures now; the offline sandbox, the client and the
//! webhook receiver join here.

pub mod client;
pub mod recipes;
pub mod sandbox;
pub mod signature;
