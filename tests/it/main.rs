//! Integration tests: one binary, so that paywire and its dependencies link
//! once. Each module drives a real server over HTTP, or the loader directly.

mod api_fuzz;
mod browser;
mod cli;
mod clock_cli;
mod cluster;
mod common;
mod conformance;
mod connections;
mod console;
mod control_flow;
mod crash;
mod diagnostics;
mod flow_dunning;
mod flows;
mod hardening;
mod http_api;
mod migrate;
mod outage;
mod reload;
mod sandbox;
mod sandbox_cluster;
mod sandbox_conformance;
mod sandbox_invoice_items;
mod sandbox_invoices;
mod sandbox_time;
mod sandbox_webhook_endpoints;
mod stripe_actions;
mod stripe_lifecycle_actions;
mod stripe_tools;
mod tables;
mod tidy;
mod trigger;
mod webhooks;
mod yaml_fuzz;
mod yaml_limits;
