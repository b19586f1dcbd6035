//! The hub's services, built once at start-up and shared by handlers and server functions.

use std::sync::Arc;
use std::time::Instant;

use crate::analytics::{Analytics, AnalyticsSettings};
use crate::auth::{jwt, AuthService, AuthSettings};
use crate::config::{Backend, Config};
use crate::db_health::DbHealth;
use crate::federation::{Federation, FederationSettings};
use crate::store::{self, DynStore};

/// Everything a request may need. Cheap to clone: one reference count, however many
/// services there are (every request clones it into its handler's state).
#[derive(Clone)]
pub struct Services(Arc<ServiceSet>);

impl std::ops::Deref for Services {
    type Target = ServiceSet;
    fn deref(&self) -> &ServiceSet {
        &self.0
    }
}

/// The services themselves; reach them through [`Services`].
pub struct ServiceSet {
    pub config: Arc<Config>,
    pub store: DynStore,
    pub auth: AuthService,
    pub federation: Federation,
    pub analytics: Analytics,
    pub mutations: crate::mutations::Mutations,
    /// Signs and checks the storefront pages' receipts.
    pub receipts: crate::mutations::receipts::Receipts,
    pub health: DbHealth,
    /// The database's identity and the last-known-good copy of the control state.
    pub recovery: crate::recovery::Recovery,
    pub started_at: Instant,
    /// The audit chain's key (kept outside the database).
    pub audit_key: cortex_core::audit::ChainKey,
}

/// Why the hub cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("data dir {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("session signing key: {0}")]
    SigningKey(std::io::Error),
    #[error("audit chain key: {0}")]
    AuditKey(std::io::Error),
    #[error("{0}")]
    Store(#[from] store::StoreError),
    #[error("analytics spool {path}: {source}")]
    Spool {
        path: String,
        source: std::io::Error,
    },
}

impl Services {
    /// Everything a serving hub needs: [`Services::build_offline`] plus the analytics spool.
    pub fn build(config: Config) -> Result<Self, StartError> {
        let mut services = Self::build_set(config)?;
        let spool_dir = services.config.data_dir.join("spool");
        services.analytics = Analytics::open(
            &spool_dir,
            AnalyticsSettings {
                events_per_second: services.config.neuron_events_per_second,
                spool_max_bytes: services.config.spool_max_bytes,
            },
        )
        .map_err(|source| StartError::Spool {
            path: spool_dir.display().to_string(),
            source,
        })?;
        Ok(Self(Arc::new(services)))
    }

    /// Checks the data dir, loads or creates the signing key and opens the store (lazily).
    /// No spool: the command line uses this while a hub may be serving the same data dir.
    pub fn build_offline(config: Config) -> Result<Self, StartError> {
        Self::build_set(config).map(|set| Self(Arc::new(set)))
    }

    fn build_set(config: Config) -> Result<ServiceSet, StartError> {
        crate::fsutil::ensure_writable_dir(&config.data_dir).map_err(|source| {
            StartError::DataDir {
                path: config.data_dir.display().to_string(),
                source,
            }
        })?;
        let secret = jwt::load_or_create_secret(config.jwt_secret.as_ref(), &config.data_dir)
            .map_err(StartError::SigningKey)?;
        let audit_key = crate::audit::load_or_create_key(&config).map_err(StartError::AuditKey)?;
        let store = store::open(&config, Some(audit_key.clone()))?;
        let auth = AuthService::new(
            store.clone(),
            jwt::SessionKeys::from_secret(&secret),
            AuthSettings {
                session_ttl: config.session_ttl,
                secure_cookies: config.cookies_secure(),
                login_max_failures: config.login_max_failures,
                login_window: config.login_window,
            },
        );
        let federation = Federation::new(
            store.clone(),
            &secret,
            FederationSettings {
                heartbeat_interval: config.heartbeat_interval,
                unhealthy_after: config.neuron_unhealthy_after,
                retire_after: config.neuron_retire_after,
                token_ttl: config.neuron_token_ttl,
                registrations_per_minute: config.registrations_per_minute,
                max_pending: config.max_pending_neurons,
                probe_allow_loopback: config.probe_allow_loopback,
                browser_joins_per_minute: config.browser_joins_per_minute,
            },
        );
        let webhook = match config.alert_webhook() {
            Ok(Some((url, secret))) => crate::webhook::Webhook::new(url, secret, store.clone())
                .inspect_err(|e| tracing::error!(error = %e, "the alert webhook's client could not be built; alerts go to the dashboard only"))
                .ok(),
            _ => None,
        };
        if let Some(w) = &webhook {
            federation.set_webhook(w.clone());
        }
        let mutations = crate::mutations::Mutations::new(
            store.clone(),
            Some(config.data_dir.join("layout-snapshot.json")),
            Some(federation.clone()),
        )
        .with_webhook(webhook)
        .with_llm(match config.llm() {
            Ok(Some((url, model, key))) => crate::llm::Llm::new(url, model, key)
                .inspect_err(|e| tracing::error!(error = %e, "the language model's client could not be built; suggestions come from the rules only"))
                .ok(),
            _ => None,
        });
        let receipts = {
            use secrecy::ExposeSecret;
            crate::mutations::receipts::Receipts::new(secret.expose_secret().as_bytes())
        };
        let recovery = crate::recovery::Recovery::new(store.clone(), &config.data_dir);
        Ok(ServiceSet {
            receipts,
            analytics: Analytics::offline(),
            mutations,
            config: Arc::new(config),
            store,
            auth,
            federation,
            health: DbHealth::default(),
            recovery,
            started_at: Instant::now(),
            audit_key,
        })
    }

    /// The storage backend in use.
    pub fn backend(&self) -> Backend {
        self.store.backend()
    }
}
