//! paywire's benchmarks (BENCHMARKS.md): a load generator of its own (it
//! signs webhooks), the scenario driver behind `bench/run`, and criterion
//! micro-benchmarks in `benches/`.

pub mod db;
pub mod events;
pub mod load;
pub mod projects;
pub mod server;
