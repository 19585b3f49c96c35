//! The HTTP API (axum), with the dashboard's pages merged in: routes, the
//! application that binds them, and the layers every request passes
//! (request id, body limit, metrics, tracing).

pub(crate) mod capacity;
pub(crate) mod error;
pub(crate) mod extract;
pub(crate) mod metrics;
pub(crate) mod openapi;
pub(crate) mod ops;
pub(crate) mod packages;
pub(crate) mod process;
pub(crate) mod reports;
pub(crate) mod status;

use crate::app::App;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::HeaderName;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use error::ApiError;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// The header carrying each request's id (set when the caller sends none).
pub(crate) const REQUEST_ID_HEADER: &str = "x-request-id";

/// What every handler shares.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    /// The application facade every handler goes through.
    pub(crate) app: App,
    /// Request counts and latencies, served at `/metrics`.
    pub(crate) metrics: Arc<metrics::Metrics>,
}

/// Every route of the service.
pub(crate) fn router(state: AppState) -> Router {
    let api = Router::new()
        .route(
            "/api/v1/packages",
            post(packages::create).get(packages::list),
        )
        .route("/api/v1/packages/{reference}", get(packages::read))
        .route("/api/v1/packages/{reference}/export", get(packages::export))
        .route(
            "/api/v1/packages/{reference}/grade",
            post(packages::regrade),
        )
        .route(
            "/api/v1/packages/{reference}/stage",
            post(packages::move_stage),
        )
        .route(
            "/api/v1/packages/{reference}/assign",
            post(packages::assign),
        )
        .route(
            "/api/v1/packages/{reference}/safeguarding",
            post(packages::safeguarding),
        )
        .route(
            "/api/v1/packages/{reference}/acknowledge",
            post(packages::acknowledge),
        )
        .route(
            "/api/v1/packages/{reference}/reviews",
            post(packages::review),
        )
        .route("/api/v1/status", get(status::status))
        .route("/api/v1/breaches", get(status::breaches))
        .route("/api/v1/reports/weekly", get(reports::weekly))
        .route("/api/v1/reports/monthly", get(reports::monthly))
        .route("/api/v1/reports/quarterly", get(reports::quarterly))
        .route("/api/v1/reports/capacity", get(capacity::capacity))
        .route("/api/v1/openapi.json", get(ops::openapi))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .fallback(|| async { ApiError::not_found("no such endpoint; see /api/v1/openapi.json") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() });
    // The dashboard's pages, merged after the API's method fallback so that
    // they keep their own answers; any other path is the API's JSON 404.
    let routes = api
        .with_state(state.clone())
        .merge(crate::web::router(state.app.clone()));
    layered(routes, state.metrics)
}

/// `routes` behind the layers every request passes, innermost first: the
/// body limit; the panic catcher, then the answer to a caught panic (the API's
/// 500, logged with the request id); the metrics, which so count that 500;
/// the request id echoed, the tracing span, the request id set; and,
/// outermost, a caller's unusable request id dropped so a new one is set.
fn layered(routes: Router, metrics: Arc<metrics::Metrics>) -> Router {
    let request_id = HeaderName::from_static(REQUEST_ID_HEADER);
    routes
        .layer(DefaultBodyLimit::max(extract::MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(mark_panic))
        .layer(middleware::from_fn(answer_panic))
        .layer(middleware::from_fn_with_state(metrics, record_metrics))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                // The route template, not the path: no reference in the logs' span names.
                let route = request
                    .extensions()
                    .get::<MatchedPath>()
                    .map_or("unmatched", MatchedPath::as_str)
                    .to_string();
                let id = request_id_of(request).unwrap_or_default().to_string();
                tracing::info_span!("request", method = %request.method(), route, request_id = id)
            }),
        )
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .layer(middleware::from_fn(drop_unusable_request_id))
}

/// The longest request id kept from a caller; a longer one is replaced.
pub(crate) const MAX_REQUEST_ID_CHARS: usize = 128;

/// The request's id, as the request-id layer left it.
fn request_id_of(request: &Request) -> Option<&str> {
    request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
}

/// Whether a caller's request id can be kept: 1 to [`MAX_REQUEST_ID_CHARS`]
/// visible ASCII characters. Anything else would go into the logs and the
/// audit log as sent, so it is replaced rather than recorded.
pub(crate) fn is_usable_request_id(value: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID_CHARS).contains(&value.len()) && value.iter().all(u8::is_ascii_graphic)
}

/// Removes the caller's `x-request-id` unless there is exactly one and it is
/// usable, so that the request-id layer sets a new one in its place.
async fn drop_unusable_request_id(mut request: Request, next: Next) -> Response {
    let headers = request.headers_mut();
    let sent = headers
        .get_all(REQUEST_ID_HEADER)
        .iter()
        .collect::<Vec<_>>();
    let keep = sent.is_empty() || (sent.len() == 1 && is_usable_request_id(sent[0].as_bytes()));
    if !keep {
        headers.remove(REQUEST_ID_HEADER);
    }
    next.run(request).await
}

/// What a handler's panic said, carried from the panic catcher to
/// [`answer_panic`], which knows the request.
#[derive(Debug, Clone)]
struct Panicked(String);

/// The panic catcher's answer: a bare 500 marked with the panic's message;
/// [`answer_panic`] turns it into the API's answer.
fn mark_panic(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with no message".to_string());
    let mut response = axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
    response.extensions_mut().insert(Panicked(message));
    response
}

/// Turns a caught panic into the API's 500, naming the request id, and logs
/// it with that id.
async fn answer_panic(request: Request, next: Next) -> Response {
    let request_id = request_id_of(&request).map(str::to_string);
    let response = next.run(request).await;
    match response.extensions().get::<Panicked>() {
        Some(Panicked(message)) => {
            tracing::error!(
                request_id = request_id.as_deref().unwrap_or_default(),
                panic = %message,
                "a handler panicked"
            );
            ApiError::panicked(request_id).into_response()
        }
        None => response,
    }
}

async fn record_metrics(
    State(metrics): State<Arc<metrics::Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_string();
    let request_id = request_id_of(&request).unwrap_or_default().to_string();
    let response = next.run(request).await.into_response();
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    metrics.record(&method, &route, status, elapsed);
    access_log(&method, &route, status, elapsed, &request_id);
    response
}

/// The access log's target: one line per request at `info`, which a log
/// filter can silence on its own (`info,ocset_scheduler::access=warn`).
pub(crate) const ACCESS_LOG: &str = "ocset_scheduler::access";

/// Writes the access log line for one request: the method, the route
/// template (never the path, which would carry a package reference), the
/// status, the latency and the request id. Never the query, a header or a
/// token. Field names are part of the log's contract (README "Logs").
fn access_log(method: &str, route: &str, status: u16, elapsed: Duration, request_id: &str) {
    tracing::info!(
        target: ACCESS_LOG,
        method,
        route,
        status,
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        request_id,
        "request"
    );
}

/// The HTTP server, bound and ready to run.
#[derive(Debug)]
pub struct ApiServer {
    listener: TcpListener,
    router: Router,
    address: SocketAddr,
}

impl ApiServer {
    /// Binds `bind` (port 0 picks a free port, for tests) and builds the routes.
    pub async fn build(app: App, bind: &str) -> std::io::Result<Self> {
        process::note_start();
        let listener = TcpListener::bind(bind).await?;
        let address = listener.local_addr()?;
        let state = AppState {
            app,
            metrics: Arc::new(metrics::Metrics::default()),
        };
        Ok(Self {
            listener,
            router: router(state),
            address,
        })
    }

    /// The address bound.
    pub(crate) fn address(&self) -> SocketAddr {
        self.address
    }

    /// The port bound.
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// Serves until `shutdown` completes, then finishes requests in flight.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{HeaderValue, StatusCode};
    use tower::ServiceExt;

    /// The real layers around two test routes: one that panics, one that
    /// echoes the request id its handler saw.
    fn test_router(metrics: Arc<metrics::Metrics>) -> Router {
        let routes = Router::new()
            .route(
                "/boom",
                get(|| async {
                    if true {
                        panic!("the handler fell over");
                    }
                    "unreachable"
                }),
            )
            .route(
                "/id",
                get(|headers: axum::http::HeaderMap| async move {
                    headers
                        .get(REQUEST_ID_HEADER)
                        .map(|v| v.to_str().unwrap().to_string())
                        .unwrap_or_default()
                }),
            );
        layered(routes, metrics)
    }

    async fn body_text(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_panicking_handler_is_a_json_500_with_the_request_id_and_is_counted() {
        let metrics = Arc::new(metrics::Metrics::default());
        let response = test_router(metrics.clone())
            .oneshot(
                Request::get("/boom")
                    .header(REQUEST_ID_HEADER, "req-boom-1")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()[REQUEST_ID_HEADER], "req-boom-1");
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        let body: serde_json::Value = serde_json::from_str(&body_text(response).await).unwrap();
        assert_eq!(body["error"]["code"], "internal", "{body}");
        assert_eq!(body["error"]["request_id"], "req-boom-1", "{body}");
        assert!(
            !body.to_string().contains("fell over"),
            "the panic's text stays in the log: {body}"
        );
        let mut out = String::new();
        metrics.render_requests(&mut out);
        assert!(
            out.contains(
                "ocset_http_requests_total{method=\"GET\",route=\"/boom\",status=\"500\"} 1"
            ),
            "{out}"
        );
    }

    #[tokio::test]
    async fn unusable_request_ids_are_replaced_and_good_ones_kept() {
        let router = test_router(Arc::new(metrics::Metrics::default()));
        let ask = |id: Option<HeaderValue>| {
            let mut request = Request::get("/id").body(Body::empty()).unwrap();
            if let Some(id) = id {
                request.headers_mut().insert(REQUEST_ID_HEADER, id);
            }
            let router = router.clone();
            async move {
                let response = router.oneshot(request).await.unwrap();
                let echoed = response.headers()[REQUEST_ID_HEADER]
                    .to_str()
                    .unwrap()
                    .to_string();
                let seen = body_text(response).await;
                assert_eq!(echoed, seen, "the handler sees the id the caller gets");
                seen
            }
        };
        assert_eq!(
            ask(Some(HeaderValue::from_static("req-ok_1.2"))).await,
            "req-ok_1.2"
        );
        let longest = "r".repeat(MAX_REQUEST_ID_CHARS);
        assert_eq!(
            ask(Some(HeaderValue::from_str(&longest).unwrap())).await,
            longest
        );
        let too_long = HeaderValue::from_str(&"r".repeat(60 * 1024)).unwrap();
        let not_utf8 = HeaderValue::from_bytes(b"req-\xff\xfe").unwrap();
        let spaced = HeaderValue::from_static("req 1");
        let empty = HeaderValue::from_static("");
        for bad in [too_long, not_utf8, spaced, empty] {
            let given = ask(Some(bad.clone())).await;
            assert_eq!(given.len(), 36, "a new UUID in place of {bad:?}: {given}");
            assert!(uuid::Uuid::parse_str(&given).is_ok(), "{given}");
        }
        assert_eq!(ask(None).await.len(), 36);
    }
}
