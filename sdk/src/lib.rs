//! cortex-sdk: a Rust client for the Cortex hub.
//!
//! It speaks the hub's HTTP API: liveness, readiness, status and the audit log with an API
//! token, and, for a server neuron, signed registration and heartbeats ([`neuron`]).

pub mod channel;
pub mod neuron;
pub mod runner;
#[cfg(feature = "swarm")]
pub mod swarm;
pub mod update;

pub use neuron::NeuronKey;

use cortex_core::audit::{AuditEntry, AuditQuery};
use cortex_core::ApiErrorBody;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;

/// What can go wrong talking to a hub.
#[derive(Debug, thiserror::Error)]
pub enum SdkError {
    /// The hub answered with an API error.
    #[error("hub answered {status}: {}", .body.error.message)]
    Api { status: u16, body: ApiErrorBody },
    /// The hub could not be reached or answered something unreadable.
    #[error("transport: {0}")]
    Transport(#[from] reqwest::Error),
    /// The base URL is not usable.
    #[error("bad hub URL: {0}")]
    BadUrl(String),
    /// An argument is out of range.
    #[error("{0}")]
    Invalid(String),
    /// The push channel failed.
    #[error("push channel: {0}")]
    Channel(String),
    /// The extra root certificates could not be used.
    #[error("TLS roots: {0}")]
    Tls(String),
}

/// The environment variable naming a PEM file of extra root certificates to trust, for a hub
/// whose certificate comes from a private CA (public CAs are trusted without it).
pub const HUB_CA_FILE_ENV: &str = "CORTEX_HUB_CA_FILE";

/// The hub's `/readyz` answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Readiness {
    pub status: String,
    pub backend: String,
    pub database_ok: bool,
    pub error: Option<String>,
}

/// A client for one hub.
#[derive(Debug, Clone)]
pub struct HubClient {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
    /// TLS for the push channel on an `https://` hub (`wss://`): the same roots as `http`.
    tls: Arc<rustls::ClientConfig>,
    /// The hub's id, which signed requests name: asked once, asked again when the hub
    /// says a signature names another hub (its database was replaced).
    hub_id: Arc<std::sync::Mutex<Option<String>>>,
}

impl HubClient {
    /// A client for the hub at `base_url` (`http://…`, or `https://…` for a hub behind TLS),
    /// with an optional API token. Trusts the public web's CAs, plus the PEM file named by
    /// `CORTEX_HUB_CA_FILE` when that is set.
    pub fn new(base_url: &str, token: Option<String>) -> Result<Self, SdkError> {
        let extra = match std::env::var_os(HUB_CA_FILE_ENV) {
            Some(path) => std::fs::read(&path).map_err(|e| {
                SdkError::Tls(format!(
                    "{HUB_CA_FILE_ENV}={}: {e}",
                    std::path::Path::new(&path).display()
                ))
            })?,
            None => Vec::new(),
        };
        Self::with_roots(base_url, token, &extra)
    }

    /// [`HubClient::new`] trusting also the root certificates in `extra_roots_pem` (PEM; empty:
    /// none), for a hub whose certificate comes from a private CA.
    pub fn with_roots(
        base_url: &str,
        token: Option<String>,
        extra_roots_pem: &[u8],
    ) -> Result<Self, SdkError> {
        use rustls_pki_types::pem::PemObject;
        let base = base_url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(SdkError::BadUrl(format!(
                "`{base_url}` must start with http:// or https://"
            )));
        }
        let extra: Vec<rustls_pki_types::CertificateDer<'static>> =
            rustls_pki_types::CertificateDer::pem_slice_iter(extra_roots_pem)
                .collect::<Result<_, _>>()
                .map_err(|e| SdkError::Tls(format!("not PEM certificates: {e}")))?;
        if !extra_roots_pem.is_empty() && extra.is_empty() {
            return Err(SdkError::Tls("no certificate in the PEM given".into()));
        }
        let mut roots =
            rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let mut http = reqwest::Client::builder().timeout(Duration::from_secs(10));
        for cert in &extra {
            roots
                .add(cert.clone())
                .map_err(|e| SdkError::Tls(format!("unusable root certificate: {e}")))?;
            http = http.add_root_certificate(
                reqwest::Certificate::from_der(cert).map_err(SdkError::Transport)?,
            );
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| SdkError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(Self {
            base,
            token,
            http: http.build().map_err(SdkError::Transport)?,
            tls: Arc::new(tls),
            hub_id: Arc::default(),
        })
    }

    /// True when the hub process answers `/healthz`.
    pub async fn alive(&self) -> Result<bool, SdkError> {
        Ok(self
            .http
            .get(format!("{}/healthz", self.base))
            .send()
            .await?
            .status()
            .is_success())
    }

    /// The hub's readiness (database state). A degraded hub answers 503 with the same body.
    pub async fn readiness(&self) -> Result<Readiness, SdkError> {
        Ok(self
            .http
            .get(format!("{}/readyz", self.base))
            .send()
            .await?
            .json()
            .await?)
    }

    /// The hub's status (needs a `viewer` token).
    pub async fn status(&self) -> Result<serde_json::Value, SdkError> {
        self.get("/api/status", &[]).await
    }

    /// Audit entries, newest first (needs a `viewer` token).
    pub async fn audit(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>, SdkError> {
        let mut params: Vec<(&str, String)> = Vec::new();
        if let Some(v) = &q.actor {
            params.push(("actor", v.clone()));
        }
        if let Some(v) = &q.action {
            params.push(("action", v.clone()));
        }
        if let Some(v) = &q.target {
            params.push(("target", v.clone()));
        }
        if let Some(v) = q.before_seq {
            params.push(("before_seq", v.to_string()));
        }
        params.push(("limit", q.page_size().to_string()));
        self.get("/api/audit", &params).await
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, SdkError> {
        let mut req = self.http.get(format!("{}{path}", self.base)).query(query);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        self.send(req).await
    }

    async fn send<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<T, SdkError> {
        let res = req.send().await?;
        let status = res.status();
        if status.is_success() {
            Ok(res.json().await?)
        } else {
            let body = res.json::<ApiErrorBody>().await.unwrap_or_else(|_| {
                ApiErrorBody::new(
                    cortex_core::ErrorCode::Internal,
                    format!("HTTP {status} without an error body"),
                )
            });
            Err(SdkError::Api {
                status: status.as_u16(),
                body,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_urls_without_a_scheme() {
        assert!(matches!(
            HubClient::new("localhost:3000", None),
            Err(SdkError::BadUrl(_))
        ));
        assert!(HubClient::new("http://127.0.0.1:3000/", None).is_ok());
    }
}
