//! The HTTP API (axum): routes, the application that binds them, and the
//! layers every request passes (request id, body limit, metrics, tracing).

pub(crate) mod error;
pub(crate) mod extract;
pub(crate) mod metrics;
pub(crate) mod openapi;
pub(crate) mod ops;
pub(crate) mod packages;
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
use std::time::Instant;
use tokio::net::TcpListener;
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
    let request_id = HeaderName::from_static(REQUEST_ID_HEADER);
    let api = Router::new()
        .route(
            "/api/v1/packages",
            post(packages::create).get(packages::list),
        )
        .route("/api/v1/packages/{reference}", get(packages::read))
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
        .route("/api/v1/status", get(status::status))
        .route("/api/v1/breaches", get(status::breaches))
        .route("/api/v1/reports/weekly", get(reports::weekly))
        .route("/api/v1/openapi.json", get(ops::openapi))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .fallback(|| async { ApiError::not_found("no such endpoint; see /api/v1/openapi.json") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() });
    api.layer(DefaultBodyLimit::max(extract::MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            record_metrics,
        ))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                // The route template, not the path: no reference in the logs' span names.
                let route = request
                    .extensions()
                    .get::<MatchedPath>()
                    .map_or("unmatched", MatchedPath::as_str)
                    .to_string();
                let id = request
                    .headers()
                    .get(REQUEST_ID_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                tracing::info_span!("request", method = %request.method(), route, request_id = id)
            }),
        )
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

async fn record_metrics(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_string();
    let response = next.run(request).await.into_response();
    state.metrics.record(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
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
