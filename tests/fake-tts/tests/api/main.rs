//! End-to-end tests of the fake TTS server over real HTTP/1.1 on loopback, one module per
//! route family; `client` is the shared harness.

#![allow(clippy::unwrap_used, clippy::expect_used, unsafe_code, missing_docs)] // a test, bench or example crate

mod auth;
mod binary;
mod client;
mod faults;
mod list;
mod server;
mod stats;
