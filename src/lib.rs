//! storebridge: a TLS reverse proxy and webhook relay for ShipStation API clients moving
//! from the legacy Miva store integration to Miva Connect.
//!
//! Where a store ID is rewritten: [`rewrite`]. Everything else moves bytes to and from it.

pub mod admin;
pub mod certs;
pub mod config;
pub mod demo;
pub mod error;
pub mod listener;
pub mod logging;
pub mod metrics;
pub mod migrate;
pub mod proxy;
pub mod ratelimit;
pub mod relay;
pub mod reload;
pub mod rewrite;
pub mod sandbox;
pub mod secret;
pub mod server;
pub mod signals;
pub mod storage;
pub mod stores;
pub mod tls;
pub mod upstream;
