//! The events route, `POST /api/v3/events`: a stream of the scripted events.

use std::sync::Arc;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response};

use super::classify::bearer;
use super::reply::{respond, Reply};
use super::MAX_BODY;
use crate::body::FakeBody;
use crate::errors;
use crate::state::Shared;

/// `POST /api/v3/events`: 401 without a known key, else a never-ending
/// stream of the scripted events (without the traffic events for a key that
/// lacks the traffic right).
pub(super) async fn events(shared: &Arc<Shared>, req: Request<Incoming>) -> Response<FakeBody> {
    let token = bearer(&req);
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return Reply::json(400, errors::validation("body", &e.to_string())).into_response()
        }
    };
    let known = {
        let st = shared.lock();
        token.as_deref().is_some_and(|t| {
            st.keys.iter().any(|k| k == t) || st.gateway_keys.iter().any(|(k, _)| k == t)
        })
    };
    if !known {
        return Reply::json(401, errors::api_key_not_found()).into_response();
    }
    // The real server (pkg/events/grpc) accepts the stream with any right
    // on the gateways (rights.RequireAny) and filters each event by its
    // visibility: without the traffic right, uplinks and downlinks are
    // silently left out.
    let traffic = !token
        .as_deref()
        .is_some_and(|t| shared.events.lacks_traffic(t));
    match shared.events.subscribe(&body, traffic) {
        Ok(rx) => {
            let mut resp = respond(200, &[], FakeBody::Channel(rx));
            resp.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
            resp
        }
        Err(e) => Reply::json(400, errors::validation("body", &e)).into_response(),
    }
}
