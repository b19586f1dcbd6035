//! Logs, request ids and Prometheus metrics.

use axum::extract::{MatchedPath, Request};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::collections::HashMap;
use std::sync::{LazyLock, OnceLock, RwLock};
use std::time::Instant;
use tracing_subscriber::{fmt, prelude::*, EnvFilter};

use crate::config::{Config, LogFormat};

/// Installs the global tracing subscriber: pretty for people, JSON when `CORTEX_LOG_FORMAT=json`.
/// `RUST_LOG`, when set, wins over `CORTEX_LOG`. Safe to call more than once.
pub fn init_tracing(config: &Config) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match config.log_format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true),
            )
            .try_init(),
        // Colour codes only on a terminal: in a file or a log collector they are noise.
        LogFormat::Pretty => registry
            .with(
                fmt::layer()
                    .compact()
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout())),
            )
            .try_init(),
    };
}

/// How often the metrics recorder folds recorded samples into its histograms.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The process-wide Prometheus recorder (installed once; every hub in the process shares it).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("duration_seconds".into()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                    ],
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let handle = match builder.install_recorder() {
                Ok(h) => h,
                // Another recorder is installed (embedding app): render an empty one of our own.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            };
            // Histograms keep each sample until upkeep folds it into the buckets; a scrape
            // does that, but without one they grew by every request (8 bytes each, about
            // a gigabyte an hour at 30,000 requests a second).
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || loop {
                    std::thread::sleep(UPKEEP_EVERY);
                    upkeep.run_upkeep();
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "metrics upkeep thread not started: histograms grow until scraped");
            }
            handle
        })
        .clone()
}

/// The target of the request log: one compact line per request (`CORTEX_LOG` can set it
/// apart, e.g. `info,cortex::access=warn` keeps only failures).
pub const ACCESS_TARGET: &str = "cortex::access";

/// Routes served thousands of times a second (rule answers, events, heartbeats, the
/// storefront and its assets): their successful requests are logged one in
/// [`HOT_SAMPLE`], with `sampled` on the line; failures are always logged. The metrics on
/// `/metrics` count every request.
const HOT: [&str; 7] = [
    "/api/layout-mutation/apply",
    "/api/layout-mutation/report",
    "/api/federation/heartbeat",
    "/api/federation/stream-analytics",
    "/api/shop/",
    "/shop",
    "/pkg/",
];
/// One logged request in this many on a hot route.
pub const HOT_SAMPLE: u64 = 100;

/// Whether `path` is one of the [`HOT`] routes.
fn is_hot(path: &str) -> bool {
    HOT.iter().any(|h| path.starts_with(h))
}

/// Axum middleware: the request log. Each request runs in a span with its id (so what a
/// handler logs names the request) and ends in one line: method, path, status, latency.
/// On hot routes the span is left out and successes are sampled (see [`HOT`]); 5xx are
/// errors, except 503 (refusals while the database is away are counted, and the health
/// watch logs the outage once, with the count, when it ends).
pub async fn access_log(req: Request, next: Next) -> Response {
    use tracing::Instrument;
    static HOT_SEEN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    if !tracing::enabled!(target: ACCESS_TARGET, tracing::Level::ERROR) {
        return next.run(req).await;
    }
    let start = Instant::now();
    // Cheap to keep (reference counted), formatted only when a line is written.
    let method = req.method().clone();
    let uri = req.uri().clone();
    let id = req.headers().get("x-request-id").cloned();
    // A client may send its own id: logged only when it looks like one, so it cannot
    // forge fields or flood the line.
    let id = id
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
        .unwrap_or("-");
    let path = uri.path();
    let hot = is_hot(path);
    let res = if hot {
        next.run(req).await
    } else {
        let span =
            tracing::info_span!(target: ACCESS_TARGET, "request", %method, %path, request_id = %id);
        next.run(req).instrument(span).await
    };
    let status = res.status().as_u16();
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    match status {
        503 => {
            tracing::debug!(target: ACCESS_TARGET, %method, %path, status, ms, id = %id, "refused")
        }
        500.. => {
            tracing::error!(target: ACCESS_TARGET, %method, %path, status, ms, id = %id, "failed")
        }
        _ if hot => {
            let n = HOT_SEEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if n.is_multiple_of(HOT_SAMPLE) {
                tracing::info!(target: ACCESS_TARGET, %method, %path, status, ms, id = %id, sampled = HOT_SAMPLE, "served");
            }
        }
        _ => tracing::info!(target: ACCESS_TARGET, %method, %path, status, ms, id = %id, "served"),
    }
    res
}

/// Axum middleware: counts requests and times them by method, route template and status.
pub async fn track_http(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = known_method(req.method());
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let route = match &matched {
        Some(p) => p.as_str(),
        None if req.uri().path().starts_with("/pkg/") => "/pkg/*",
        None => "unmatched",
    };
    let res = next.run(req).await;
    record(&method, route, res.status(), start.elapsed().as_secs_f64());
    res
}

/// The method as a metric label: the standard ones as they are, anything else (a client may
/// send any token as a method) as `OTHER`, so odd methods cannot create new series.
fn known_method(m: &Method) -> Method {
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::HEAD,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    if KNOWN.contains(m) {
        m.clone()
    } else {
        Method::from_bytes(b"OTHER").unwrap_or(Method::GET)
    }
}

/// Most (route, method, status) series whose metric handles are kept; more (odd methods)
/// are still counted, through the registry.
const MAX_SERIES: usize = 1024;

/// The counter and histogram of each (route, method, status) seen, by route: looked up
/// without building the labels (three strings) or hashing them in the registry.
type Series = HashMap<String, Vec<(Method, StatusCode, Counter, Histogram)>>;

fn record(method: &Method, route: &str, status: StatusCode, seconds: f64) {
    static SERIES: LazyLock<RwLock<Series>> = LazyLock::new(Default::default);
    {
        let known = SERIES.read().unwrap_or_else(|e| e.into_inner());
        let found = known
            .get(route)
            .and_then(|v| v.iter().find(|s| s.0 == *method && s.1 == status));
        if let Some((_, _, counter, histogram)) = found {
            counter.increment(1);
            histogram.record(seconds);
            return;
        }
    }
    let labels = [
        ("method", method.to_string()),
        ("route", route.to_string()),
        ("status", status.as_u16().to_string()),
    ];
    let counter = metrics::counter!("cortex_http_requests_total", &labels);
    let histogram = metrics::histogram!("cortex_http_request_duration_seconds", &labels);
    counter.increment(1);
    histogram.record(seconds);
    // Only here, for a series not seen before, is the count worth its walk.
    let mut known = SERIES.write().unwrap_or_else(|e| e.into_inner());
    if known.values().map(Vec::len).sum::<usize>() < MAX_SERIES {
        known.entry(route.to_string()).or_default().push((
            method.clone(),
            status,
            counter,
            histogram,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_methods_share_one_label() {
        assert_eq!(known_method(&Method::GET), Method::GET);
        let odd = Method::from_bytes(b"X-RANDOM-1234").unwrap();
        assert_eq!(known_method(&odd).as_str(), "OTHER");
        let other = Method::from_bytes(b"PROPFIND").unwrap();
        assert_eq!(known_method(&other), known_method(&odd));
    }
}
