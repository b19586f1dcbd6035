//! HTTP plumbing around the Leptos app: the router, the API error mapping, JSON bodies for
//! form endpoints, and the OpenAPI route.

pub mod api_errors;
pub mod body_limit;
pub mod json_forms;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRef, Request, State};
use axum::http::HeaderName;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{middleware, Router};
use cortex_app::{shell, App};
use cortex_server::auth::AuthService;
use cortex_server::config::Backend;
use cortex_server::db_health::DbHealth;
use cortex_server::Services;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, handle_server_fns_with_context, LeptosRoutes};
use tower::ServiceBuilder;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};

/// The router's state: each handler takes only the part it needs. Axum clones it for every
/// request, so it is one reference count.
#[derive(Clone)]
pub struct HubState(std::sync::Arc<HubParts>);

/// What the router's state holds.
pub struct HubParts {
    pub leptos: LeptosOptions,
    pub services: Services,
    pub metrics: cortex_server::probes::Metrics,
}

impl HubState {
    pub fn new(parts: HubParts) -> Self {
        Self(std::sync::Arc::new(parts))
    }
}

impl std::ops::Deref for HubState {
    type Target = HubParts;
    fn deref(&self) -> &HubParts {
        &self.0
    }
}

impl FromRef<HubState> for LeptosOptions {
    fn from_ref(s: &HubState) -> Self {
        s.leptos.clone()
    }
}
impl FromRef<HubState> for Services {
    fn from_ref(s: &HubState) -> Self {
        s.services.clone()
    }
}
impl FromRef<HubState> for cortex_server::federation::Federation {
    fn from_ref(s: &HubState) -> Self {
        s.services.federation.clone()
    }
}

impl FromRef<HubState> for cortex_server::mutations::Mutations {
    fn from_ref(s: &HubState) -> Self {
        s.services.mutations.clone()
    }
}

impl FromRef<HubState> for AuthService {
    fn from_ref(s: &HubState) -> Self {
        s.services.auth.clone()
    }
}
impl FromRef<HubState> for DbHealth {
    fn from_ref(s: &HubState) -> Self {
        s.services.health.clone()
    }
}
impl FromRef<HubState> for cortex_server::analytics::Analytics {
    fn from_ref(s: &HubState) -> Self {
        s.services.analytics.clone()
    }
}
impl FromRef<HubState> for Backend {
    fn from_ref(s: &HubState) -> Self {
        s.services.backend()
    }
}
impl FromRef<HubState> for cortex_server::probes::Metrics {
    fn from_ref(s: &HubState) -> Self {
        s.metrics.clone()
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request ids in UUID form: 64 random bits drawn once per process, then a counter. Unique
/// like a random UUID per request, without asking the kernel for randomness each time.
#[derive(Clone, Copy)]
struct NextRequestId;

impl MakeRequestId for NextRequestId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        use std::sync::atomic::{AtomicU64, Ordering};
        use std::sync::LazyLock;
        static PREFIX: LazyLock<u64> = LazyLock::new(|| uuid::Uuid::new_v4().as_u64_pair().0);
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let id = uuid::Uuid::from_u64_pair(*PREFIX, COUNT.fetch_add(1, Ordering::Relaxed));
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let text = id.hyphenated().encode_lower(&mut text);
        axum::http::HeaderValue::from_str(text)
            .ok()
            .map(RequestId::new)
    }
}

/// The app's routes, generated once per process. Generating them runs the app with resource
/// loading switched off by a process-wide flag: a resource any page render first polls
/// meanwhile never loads, and that render hangs (leptos issue #4773). So hubs in one process
/// (the tests start dozens) share one list, made before the first of them serves.
fn route_list() -> Vec<leptos_axum::AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<leptos_axum::AxumRouteListing>> =
        std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

/// Builds the whole router.
pub fn router(state: HubState) -> Router {
    let routes = route_list();
    let services = state.services.clone();
    let context = move || provide_context(services.clone());
    let leptos = state.leptos.clone();
    let max_body = state.services.config.max_body_bytes;
    let auth = std::sync::Arc::new((state.services.auth.clone(), state.services.health.clone()));

    let app = Router::new()
        .route("/api/openapi.json", get(openapi))
        .merge(cortex_server::federation::http::router(
            &state.services.federation,
        ))
        .route("/api/{*fn_name}", get(server_fn).post(server_fn))
        .leptos_routes_with_context(&state, routes, context, move || shell(leptos.clone()))
        .fallback(leptos_axum::file_and_error_handler::<HubState, _>(shell))
        // One stack, outermost first. Each `Router::layer` call boxes every route once more,
        // and axum clones each box per request; one call keeps that to one box.
        .layer(
            ServiceBuilder::new()
                .layer(middleware::from_fn(cortex_server::telemetry::access_log))
                .layer(middleware::from_fn(cortex_server::telemetry::track_http))
                .layer(middleware::from_fn(api_errors::normalise))
                .layer(middleware::from_fn_with_state(
                    auth,
                    cortex_server::auth::middleware::authenticate,
                ))
                .layer(middleware::from_fn(admin_pages_need_sign_in))
                .layer(middleware::from_fn_with_state(max_body, body_limit::limit))
                .layer(DefaultBodyLimit::disable())
                .layer(middleware::from_fn(json_forms::json_to_form)),
        );
    // Probes are polled constantly by load balancers and monitors: they skip the request log,
    // the HTTP metrics and the auth lookup, so they stay cheap and keep the metrics meaningful.
    let security = cortex_server::security::HeaderSettings {
        hsts: state
            .services
            .config
            .public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://")),
    };
    // Probes skip the request log, the metrics and the auth lookup, but answer a wrong
    // method with the same JSON error as every other route.
    app.merge(cortex_server::probes::router().layer(middleware::from_fn(api_errors::normalise)))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, NextRequestId))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(middleware::from_fn_with_state(
                    security,
                    cortex_server::security::headers,
                )),
        )
        .with_state(state)
}

/// The admin pages send anonymous visitors to the sign-in page before anything is rendered
/// (GET and HEAD).
/// The admin shell redirects too (for navigations inside the app), but from deep inside an
/// asynchronous render, where the status it sets has been seen not to reach the response
/// under load; this check cannot be late. Their data is guarded by each server function.
async fn admin_pages_need_sign_in(
    req: Request<Body>,
    next: middleware::Next,
) -> axum::response::Response {
    let path = req.uri().path();
    // Browsers never send `.` or `..` segments or backslashes; such a path would reach the
    // app's fallback page renderer under a name this check does not know.
    if path.contains('\\') || path.split('/').any(|s| s == "." || s == "..") {
        return axum::http::StatusCode::NOT_FOUND.into_response();
    }
    let admin_page = path == "/admin" || path.starts_with("/admin/");
    // No credentials, or ones that are no good (an ended session); not when they could not be
    // checked (the database is down: the page says so instead).
    let anonymous = match req.extensions().get::<cortex_server::auth::Authn>() {
        None | Some(cortex_server::auth::Authn::Anonymous) => true,
        Some(cortex_server::auth::Authn::Rejected(e)) => {
            e.code == cortex_core::ErrorCode::Unauthorized
        }
        Some(cortex_server::auth::Authn::Authenticated { .. }) => false,
    };
    let reading =
        req.method() == axum::http::Method::GET || req.method() == axum::http::Method::HEAD;
    if admin_page && anonymous && reading {
        // 302, as the app's own redirects answer.
        return (
            axum::http::StatusCode::FOUND,
            [(axum::http::header::LOCATION, "/login")],
        )
            .into_response();
    }
    next.run(req).await
}

async fn server_fn(State(services): State<Services>, req: Request<Body>) -> impl IntoResponse {
    handle_server_fns_with_context(move || provide_context(services.clone()), req).await
}

async fn openapi() -> impl IntoResponse {
    axum::Json(cortex_app::openapi::document())
}
