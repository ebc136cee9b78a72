//! Which route a request is for ([`classify`]) and who sends it ([`bearer`]).

use hyper::body::Incoming;
use hyper::header::AUTHORIZATION;
use hyper::{Method, Request};

use crate::Route;

/// Which gateways a list route covers.
pub(super) enum Scope {
    All,
    User(String),
    Org(String),
}

/// A classified request.
pub(super) enum Target {
    List(Scope),
    Registry(String),
    Batch,
    Single(String),
    Auth,
    Events,
    Unknown(String),
}

impl Target {
    pub(super) fn route(&self) -> Option<Route> {
        match self {
            Target::List(_) => Some(Route::ListGateways),
            Target::Registry(_) => Some(Route::GetGateway),
            Target::Batch => Some(Route::BatchStats),
            Target::Single(_) => Some(Route::GatewayStats),
            Target::Auth => Some(Route::AuthInfo),
            Target::Events | Target::Unknown(_) => None,
        }
    }
}

/// Classifies a request by method and path (all TTS routes live under `/api/v3/`).
pub(super) fn classify(method: &Method, path: &str) -> Target {
    let unknown = || Target::Unknown(format!("{method} {path}"));
    let Some(rest) = path.strip_prefix("/api/v3/") else {
        return unknown();
    };
    let segs: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    if segs.iter().any(|s| s.is_empty()) {
        return unknown();
    }
    match (method, segs.as_slice()) {
        (&Method::GET, ["gateways"]) => Target::List(Scope::All),
        (&Method::GET, ["gateways", id]) => Target::Registry((*id).to_owned()),
        (&Method::GET, ["users", id, "gateways"]) => Target::List(Scope::User((*id).to_owned())),
        (&Method::GET, ["organizations", id, "gateways"]) => {
            Target::List(Scope::Org((*id).to_owned()))
        }
        (&Method::POST, ["gs", "gateways", "connection", "stats"]) => Target::Batch,
        (&Method::GET, ["gs", "gateways", id, "connection", "stats"]) => {
            Target::Single((*id).to_owned())
        }
        (&Method::GET, ["auth_info"]) => Target::Auth,
        (&Method::POST, ["events"]) => Target::Events,
        _ => unknown(),
    }
}

/// The bearer token of a request, if any.
pub(super) fn bearer(req: &Request<Incoming>) -> Option<String> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}
