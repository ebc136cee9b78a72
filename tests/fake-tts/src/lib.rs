//! A fake The Things Stack (TTS) v3 HTTP API for ttn-exporter's tests and benchmarks.
//!
//! [`FakeTts`] serves, on a loopback port, the handful of routes the exporter uses
//! (see `shared/docs/tts-api.md`), all under `/api/v3`:
//!
//! | route | [`Route`] |
//! | --- | --- |
//! | `GET /gateways`, `GET /users/{id}/gateways`, `GET /organizations/{id}/gateways` | [`Route::ListGateways`] |
//! | `GET /gateways/{id}` (one gateway's registry record, rights as lorawan-stack checks them) | [`Route::GetGateway`] |
//! | `POST /gs/gateways/connection/stats` | [`Route::BatchStats`] |
//! | `GET /gs/gateways/{id}/connection/stats` | [`Route::GatewayStats`] |
//! | `GET /auth_info` | [`Route::AuthInfo`] |
//! | `POST /events` | scripted [`FakeEvent`]s ([`FakeTts::push_events`]) |
//!
//! Bodies follow the real server's proto3 JSON: uint64 as strings, durations as
//! `"0.018661971s"`, RFC 3339 timestamps, zero fields omitted, and a few unknown fields
//! (`gateway_remote_address`, `future_field`) that a client must ignore. Errors carry the
//! TTS error body (`code`, `message`, `details[0].correlation_id`, ...).
//!
//! Every route can be made to misbehave with a [`Fault`] ([`FakeTts::set_fault`]), and the
//! server counts what it receives ([`FakeTts::requests`], [`FakeTts::seen_tokens`],
//! [`FakeTts::batch_sizes`]).
//!
//! Request handling order: the route is classified and counted (and, for the batch route,
//! the body is read and its `gateway_ids` count recorded), the bearer token is recorded, the
//! route's fault (if any) is applied, then the token is checked and the route answered.
//! So a fault fires whatever the token.
//!
//! ```no_run
//! # async fn demo() {
//! use fake_tts::{FakeGateway, FakeTts, Fault, Route, DEFAULT_KEY};
//! let tts = FakeTts::start((0..250).map(FakeGateway::synthetic).collect()).await;
//! tts.set_fault_times(Route::BatchStats, Fault::RateLimited { retry_secs: 1 }, 1);
//! // point the exporter at tts.url() with DEFAULT_KEY ...
//! assert_eq!(tts.requests(Route::ListGateways), 0);
//! tts.shutdown().await;
//! # }
//! ```
//!
//! The `fake-tts` binary wraps the same server for shell-driven tests, with a small control
//! API under `/_fake/` (see [`FakeTts::enable_control_api`]):
//!
//! ```text
//! fake-tts --listen 127.0.0.1:PORT --gateways N [--key KEY]...
//! # prints one line "listening on http://127.0.0.1:PORT", serves until SIGTERM/SIGINT
//! curl -X POST 'http://127.0.0.1:PORT/_fake/fault?route=batch&kind=status&code=503&times=2'
//! curl http://127.0.0.1:PORT/_fake/counts
//! ```
//!
//! Where what lives:
//!
//! | module | what |
//! | --- | --- |
//! | `gateway` | the fleet's data: [`FakeGateway`] and the ids and timestamps lists carry |
//! | `synthetic`, [`demo`] | generated fleets ([`synthetic_fleet`], a demo fleet that moves) |
//! | `fault` | [`Route`] and its programmable [`Fault`]s |
//! | `handle` | [`FakeTts`], the handle a test holds: start, stop, every knob and counter |
//! | `state` | what the handle and the server share: keys, fleet, armed faults, counts |
//! | `server` | the HTTP server, one submodule per route family, plus faults and replies |
//! | `events` | the events stream: [`FakeEvent`], [`EventsRequest`] and its hub |
//! | `control` | the `/_fake/` control API of the binary |
//! | `errors`, `body`, `query` | TTS error bodies ([`error_body`]), bodies, query strings |

#![warn(missing_docs)]

mod body;
mod control;
pub mod demo;
mod errors;
mod events;
mod fault;
mod gateway;
mod handle;
mod query;
mod server;
mod state;
mod synthetic;

pub use errors::error_body;
pub use events::{parse_rfc3339, rfc3339_nanos, EventsRequest, FakeEvent};
pub use fault::{Fault, Route};
pub use gateway::{FakeGateway, FAKE_ORG_ID, FAKE_USER_ID, GATEWAY_CREATED_AT, GATEWAY_UPDATED_AT};
pub use handle::FakeTts;
pub use synthetic::{synthetic_fleet, SYNTHETIC_EPOCH};

/// The bearer token accepted by default (a user key with full rights). Not a real secret.
pub const DEFAULT_KEY: &str = "NNSXS.FAKE-TEST-KEY.NOT-A-SECRET";
