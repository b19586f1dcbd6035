//! The `cortex` binary's library: [`Application`] builds the whole hub (services, router,
//! background checks) and runs it on any port, so tests start the real thing on port 0.

pub mod cli;
pub mod demo;
pub mod http;

use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio::sync::watch;

use cortex_server::config::Config;
use cortex_server::services::StartError;
use cortex_server::Services;
use leptos::prelude::LeptosOptions;

/// What the hub reports once its database is ready the first time.
#[derive(Debug, Clone)]
pub struct Ready {
    /// The one-time setup token, when no admin exists yet.
    pub setup_token: Option<String>,
}

/// A built hub, bound to its port, not yet serving.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    services: Services,
    ready: watch::Receiver<Option<Ready>>,
}

/// A hub serving in the background (tests).
pub struct RunningApp {
    pub addr: SocketAddr,
    pub services: Services,
    ready: watch::Receiver<Option<Ready>>,
    task: tokio::task::JoinHandle<()>,
}

impl Application {
    /// Checks the data dir, prepares the store and the signing key, binds the port and starts
    /// the database self-check in the background. Fails only on things a restart cannot fix.
    pub async fn build(config: Config) -> Result<Self, StartError> {
        let services = Services::build(config)?;
        let listener = TcpListener::bind(services.config.addr)
            .await
            .map_err(|source| StartError::DataDir {
                path: format!("bind {}", services.config.addr),
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| StartError::DataDir {
                path: "bind".into(),
                source,
            })?;

        let (tx, ready) = watch::channel(None);
        tokio::spawn(cortex_server::db_health::run(
            services.store.clone(),
            services.auth.clone(),
            services.health.clone(),
            cortex_server::db_health::Timing {
                check_interval: services.config.db_check_interval,
                retry_max: services.config.db_retry_max,
            },
            services.recovery.clone(),
            Box::new(move |setup_token| {
                let _ = tx.send(Some(Ready { setup_token }));
            }),
        ));

        tokio::spawn(
            services
                .federation
                .clone()
                .run_sweeper(services.health.clone()),
        );
        tokio::spawn(
            services
                .federation
                .clone()
                .run_ack_writer(services.health.clone()),
        );
        tokio::spawn(
            services
                .federation
                .clone()
                .run_prober(services.health.clone()),
        );
        tokio::spawn(services.federation.clone().run_fanout());
        tokio::spawn(
            services
                .federation
                .clone()
                .run_fleet_watch(services.health.clone()),
        );
        tokio::spawn(
            services
                .federation
                .clone()
                .run_rollouts(services.health.clone()),
        );
        tokio::spawn(
            services
                .federation
                .clone()
                .run_guard(services.health.clone()),
        );
        tokio::spawn(
            services
                .recovery
                .clone()
                .run_keeper(services.health.clone()),
        );
        tokio::spawn(cortex_server::audit::run_watch(
            services.store.clone(),
            services.audit_key.clone(),
            services.config.data_dir.clone(),
            services.health.clone(),
        ));
        tokio::spawn(
            services.mutations.clone().run_loader(
                services.health.clone(),
                services
                    .config
                    .demo_shop
                    .then_some((demo::storefront::rule_set, demo::storefront::ACTOR)),
            ),
        );
        tokio::spawn(
            services
                .mutations
                .clone()
                .run_decider(services.health.clone(), services.config.decide_interval),
        );
        tokio::spawn(
            services
                .analytics
                .clone()
                .run_writer(services.store.clone(), services.health.clone()),
        );
        if let Some(webhook) = services.mutations.webhook() {
            tokio::spawn(webhook.clone().run(services.health.clone()));
        }
        tokio::spawn(services.analytics.clone().run_own());
        tokio::spawn(cortex_server::alerts::run_pruner(
            services.store.clone(),
            services.health.clone(),
        ));

        let state = http::HubState::new(http::HubParts {
            leptos: leptos_options(addr),
            services: services.clone(),
            metrics: cortex_server::probes::Metrics {
                handle: cortex_server::telemetry::metrics_handle(),
                token: services.config.metrics_token.as_ref().map(|t| {
                    use secrecy::ExposeSecret;
                    std::sync::Arc::from(t.expose_secret().trim())
                }),
            },
        });
        Ok(Self {
            listener,
            router: http::router(state),
            services,
            ready,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or(self.services.config.addr)
    }

    /// The hub's services.
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// Waits until the database is ready the first time.
    pub async fn ready(&self) -> Ready {
        wait_ready(self.ready.clone()).await
    }

    /// A receiver that sees the first readiness report.
    pub fn ready_receiver(&self) -> watch::Receiver<Option<Ready>> {
        self.ready.clone()
    }

    /// Serves until Ctrl-C or SIGTERM, then drains in-flight requests and spools the
    /// storefront events still in memory.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let analytics = self.services.analytics.clone();
        let app = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown_signal())
            .await;
        analytics.flush_own().await;
        served
    }

    /// Serves in a background task (tests).
    pub fn spawn(self) -> RunningApp {
        let addr = self.local_addr();
        let services = self.services.clone();
        let ready = self.ready.clone();
        let app = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        let listener = self.listener;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        RunningApp {
            addr,
            services,
            ready,
            task,
        }
    }
}

impl RunningApp {
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// Waits until the database is ready the first time.
    pub async fn ready(&self) -> Ready {
        wait_ready(self.ready.clone()).await
    }
    /// Stops serving.
    pub fn stop(self) {
        self.task.abort();
    }
}

async fn wait_ready(mut rx: watch::Receiver<Option<Ready>>) -> Ready {
    loop {
        if let Some(r) = rx.borrow().clone() {
            return r;
        }
        if rx.changed().await.is_err() {
            return Ready { setup_token: None };
        }
    }
}

/// Leptos settings: where the built site lives (`LEPTOS_SITE_ROOT`, default `target/site`).
fn leptos_options(addr: SocketAddr) -> LeptosOptions {
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    LeptosOptions::builder()
        .output_name(env("LEPTOS_OUTPUT_NAME", "cortex"))
        .site_root(env("LEPTOS_SITE_ROOT", "target/site"))
        .site_pkg_dir(env("LEPTOS_SITE_PKG_DIR", "pkg"))
        .site_addr(addr)
        .env(if env("LEPTOS_ENV", "PROD").eq_ignore_ascii_case("dev") {
            leptos::config::Env::DEV
        } else {
            leptos::config::Env::PROD
        })
        .build()
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
