//! The warp filters. Each `/v1` route is: path, method, signature (which
//! enforces the body size limit first), then its handler. Every answer,
//! including every rejection, is counted by route template and status.

use std::convert::Infallible;
use std::sync::{Arc, LazyLock};

use http::Method;
use warp::Filter;
use warp::path::FullPath;
use warp::reply::Response;

use super::AppState;
use super::auth::signed;
use super::errors::handle_rejection;
use super::{handlers, reads};

/// Every route served, as (method, path template). `openapi.json` documents
/// exactly these (a test checks both ways); metrics label requests with them.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/v1/openapi.json"),
    ("POST", "/v1/messages"),
    ("GET", "/v1/messages"),
    ("POST", "/v1/recalls"),
    ("POST", "/v1/updates"),
    ("POST", "/v1/events/{name}"),
    ("GET", "/v1/jobs/{id}"),
];

/// The metrics label of a request: `METHOD /template`, or `other` for
/// paths that are not routes (so unknown paths cannot grow the label set).
pub(crate) fn route_label(method: &Method, path: &str) -> &'static str {
    let matches = |template: &str| {
        let mut want = template.split('/');
        let mut have = path.split('/');
        loop {
            match (want.next(), have.next()) {
                (None, None) => return true,
                (Some(w), Some(h)) if w == h || (w.starts_with('{') && !h.is_empty()) => {}
                _ => return false,
            }
        }
    };
    ROUTES
        .iter()
        .zip(ROUTE_LABELS.iter())
        .find(|((m, template), _)| *m == method.as_str() && matches(template))
        .map_or("other", |(_, label)| label.as_str())
}

/// `METHOD /template` of each of [`ROUTES`], formatted once rather than for
/// every request.
static ROUTE_LABELS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ROUTES
        .iter()
        .map(|(method, template)| format!("{method} {template}"))
        .collect()
});

fn with_state(state: AppState) -> impl Filter<Extract = (AppState,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// The whole API. Never fails: every rejection becomes an error answer.
pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (impl warp::Reply,), Error = Infallible> + Clone + Send + Sync + 'static
{
    let s = state;
    let healthz = warp::path!("healthz")
        .and(warp::get())
        .and_then(reads::healthz);
    let readyz = warp::path!("readyz")
        .and(warp::get())
        .and(with_state(s.clone()))
        .and_then(reads::readyz);
    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(with_state(s.clone()))
        .and_then(reads::metrics);
    let openapi = warp::path!("v1" / "openapi.json")
        .and(warp::get())
        .and_then(reads::openapi);
    let track = warp::path!("v1" / "messages")
        .and(warp::post())
        .and(signed(s.clone()))
        .and(with_state(s.clone()))
        .and_then(handlers::track);
    let ledger = warp::path!("v1" / "messages")
        .and(warp::get())
        .and(signed(s.clone()))
        .and(warp::query::<Vec<(String, String)>>())
        .and(with_state(s.clone()))
        .and_then(reads::ledger);
    let recall = warp::path!("v1" / "recalls")
        .and(warp::post())
        .and(signed(s.clone()))
        .and(with_state(s.clone()))
        .and_then(handlers::recall);
    let update = warp::path!("v1" / "updates")
        .and(warp::post())
        .and(signed(s.clone()))
        .and(with_state(s.clone()))
        .and_then(handlers::update);
    let event = warp::path!("v1" / "events" / String)
        .and(warp::post())
        .and(signed(s.clone()))
        .and(with_state(s.clone()))
        .and_then(handlers::event);
    let job = warp::path!("v1" / "jobs" / i64)
        .and(warp::get())
        .and(signed(s.clone()))
        .and(with_state(s.clone()))
        .and_then(reads::job);
    let api = healthz
        .or(readyz)
        .unify()
        .or(metrics)
        .unify()
        .or(openapi)
        .unify()
        .or(track)
        .unify()
        .or(ledger)
        .unify()
        .or(recall)
        .unify()
        .or(update)
        .unify()
        .or(event)
        .unify()
        .or(job)
        .unify();
    let counter = Arc::clone(s.metrics());
    let recover_metrics = Arc::clone(s.metrics());
    let answered = api
        .recover(move |rejection| handle_rejection(rejection, Arc::clone(&recover_metrics)))
        .unify();
    warp::method().and(warp::path::full()).and(answered).map(
        move |method: Method, path: FullPath, response: Response| {
            counter.request(
                route_label(&method, path.as_str()),
                response.status().as_u16(),
            );
            response
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_route_templates_and_unknown_paths_are_other() {
        assert_eq!(
            route_label(&Method::GET, "/v1/jobs/17"),
            "GET /v1/jobs/{id}"
        );
        assert_eq!(
            route_label(&Method::POST, "/v1/events/deploy"),
            "POST /v1/events/{name}"
        );
        assert_eq!(
            route_label(&Method::POST, "/v1/messages"),
            "POST /v1/messages"
        );
        assert_eq!(route_label(&Method::GET, "/v1/jobs/"), "other");
        assert_eq!(route_label(&Method::GET, "/v1/jobs/1/x"), "other");
        assert_eq!(route_label(&Method::DELETE, "/v1/messages"), "other");
        assert_eq!(route_label(&Method::GET, "/wp-admin"), "other");
    }
}
