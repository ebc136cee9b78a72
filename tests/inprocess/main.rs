//! In-process tests: the library itself (exporter on 127.0.0.1:0 against the
//! in-process fake TTS or a hostile API, the renderer, the config loader,
//! the example demo), observed from this process. One test binary, one
//! module per subject; `cargo test --test inprocess`.
//!
//! Two ignored tests stay beside their subject although they start an
//! outside tool: promtool on the events output (events.rs) and curl against
//! TLS and basic auth (web.rs). Tests that measure the whole process run in
//! a process of their own (`helpers::in_own_process`).

#![allow(clippy::unwrap_used, clippy::expect_used, unsafe_code, missing_docs)] // a test, bench or example crate

#[path = "../common/mod.rs"]
mod common;

mod abuse;
mod config;
mod demo;
mod encoding;
mod events;
mod exporter;
mod fuzz;
mod helpers;
mod hostile;
mod last_status;
mod location;
mod probe;
mod registry;
mod reload;
mod remembered;
mod render;
mod secrets;
mod stale;
mod status_page;
mod web;
mod web_tls;
