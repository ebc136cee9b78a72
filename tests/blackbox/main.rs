//! Black-box tests: the built `ttn-exporter` binary run as a process (the
//! command line, hostile local conditions, systemd), and the verdict of
//! outside tools (promtool, prometheus, chromium) on what the exporter serves
//! and on the shipped rules and dashboard. One test binary, one module per
//! subject; `cargo test --test blackbox`.

#![allow(clippy::unwrap_used, clippy::expect_used, unsafe_code, missing_docs)] // a test, bench or example crate

#[path = "../common/mod.rs"]
mod common;

mod alert_pipeline;
mod alertmanager;
mod browser;
mod cli;
mod dashboard;
mod docs;
mod events_stream;
mod local;
mod man;
mod probe_prometheus;
mod process;
mod prometheus;
mod prometheus_server;
mod promtool;
mod rules;
mod systemd;
