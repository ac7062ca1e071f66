//! storebridge: a TLS reverse proxy and webhook relay for ShipStation API clients moving
//! from the legacy Miva store integration to Miva Connect.
//!
//! Where a store ID is rewritten: [`rewrite`]. Everything else moves bytes to and from it.

pub mod certs;
pub mod config;
pub mod listener;
pub mod rewrite;
pub mod sandbox;
pub mod stores;
pub mod tls;
pub mod upstream;
