//! The HTTP server: the accept loop and the routing of one request (control API, events,
//! or a TTS route with its fault, token check and answer). One module per route family:
//! [`list`] (gateway lists and pagination), [`stats`] (connection stats, batch and
//! single), [`auth`] (tokens and `auth_info`), [`events`] (the events stream);
//! [`classify`](mod@classify) names the route, [`faults`] applies the misbehaviour knobs,
//! [`reply`] builds the responses.

mod auth;
mod classify;
mod events;
mod faults;
mod list;
mod reply;
mod stats;

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use self::classify::{bearer, classify, Target};
use self::faults::Next;
use self::stats::BatchRequest;
use crate::body::FakeBody;
use crate::query::parse_query;
use crate::state::Shared;
use crate::{control, errors};

pub(crate) use self::reply::{CloseConnection, Reply};

/// Largest request body read (the batch route's and the events route's).
const MAX_BODY: usize = 1024 * 1024;

/// Accepts connections until `stop` changes, one task per connection; then aborts them all.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    conns.spawn(serve_conn(stream, Arc::clone(&shared)));
                }
                // e.g. too many open files: back off instead of spinning
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
        }
    }
    drop(listener);
    conns.shutdown().await;
}

async fn serve_conn(stream: TcpStream, shared: Arc<Shared>) {
    let svc = service_fn(move |req| handle(Arc::clone(&shared), req));
    let _ = http1::Builder::new()
        .title_case_headers(true)
        .serve_connection(TokioIo::new(stream), svc)
        .await;
}

/// Answers one request.
async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<FakeBody>, CloseConnection> {
    let path = req.uri().path().to_owned();
    if path.starts_with("/_fake/") && shared.lock().control_api {
        let reply = control::handle(&shared, req.method(), &path, req.uri().query());
        return Ok(reply.into_response());
    }
    let query = parse_query(req.uri().query());
    let target = classify(req.method(), &path);
    if matches!(target, Target::Events) {
        return Ok(events::events(&shared, req).await);
    }
    let route = target.route();
    let token = bearer(&req);
    let mut batch = None;
    if matches!(target, Target::Batch) {
        let body = Limited::new(req.into_body(), MAX_BODY).collect().await;
        batch = Some(match body {
            Ok(collected) => stats::parse_batch(&collected.to_bytes()),
            Err(e) => Err(format!("reading the body: {e}")),
        });
    }
    let batch_size = batch
        .as_ref()
        .and_then(|b| b.as_ref().ok())
        .map(|b| b.ids.len());
    let fault = shared.record(route, token.as_deref(), batch_size);
    let repeat_page = match fault {
        None => false,
        Some(fault) => match faults::apply(fault, route).await? {
            Next::Answer { repeat_page } => repeat_page,
            Next::Truncate => {
                let normal = answer(&shared, &target, &query, token.as_deref(), batch, false);
                return Ok(faults::truncated(normal));
            }
            Next::Respond(resp) => return Ok(resp),
        },
    };
    Ok(answer(
        &shared,
        &target,
        &query,
        token.as_deref(),
        batch,
        repeat_page,
    )
    .into_response())
}

/// The normal answer to a request (no faults).
fn answer(
    shared: &Shared,
    target: &Target,
    query: &[(String, String)],
    token: Option<&str>,
    batch: Option<Result<BatchRequest, String>>,
    repeat_page: bool,
) -> Reply {
    if let Target::Unknown(what) = target {
        return Reply::json(
            404,
            errors::error_body(
                404,
                "pkg/fake-tts",
                "route_not_found",
                "route `{route}` not found",
                &[("route", what)],
            ),
        );
    }
    let st = shared.lock();
    let principal = match auth::principal(&st, token) {
        Ok(p) => p,
        Err(reply) => return reply,
    };
    match target {
        Target::List(scope) => list::list(&st, scope, query, &principal, repeat_page),
        Target::Registry(id) => list::get_gateway(&st, id, query, &principal),
        Target::Batch => match batch {
            Some(req) => stats::batch_stats(&st, req, &principal),
            None => stats::batch_stats(&st, Err("no body".into()), &principal),
        },
        Target::Single(id) => stats::single_stats(&st, id, &principal),
        Target::Auth => auth::auth_info(
            &principal,
            !token.is_some_and(|t| shared.events.lacks_traffic(t)),
        ),
        Target::Events | Target::Unknown(_) => Reply::json(404, errors::default_body(404)),
    }
}
