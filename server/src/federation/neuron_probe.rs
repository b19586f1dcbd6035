//! The hub probes server neurons that declared an endpoint, as Consul does: an HTTP `GET` of
//! `{origin of the endpoint}{the kind's health path}` every heartbeat interval, two seconds
//! at most, 2xx is ok. The result is shown on the neuron's card beside what the neuron
//! reports about itself, so a neuron that heartbeats but cannot serve is visible.
//!
//! A neuron chooses its endpoint, so the prober is careful where it goes: only the
//! endpoint's scheme, host and port are used (never a path or query the neuron wrote), and
//! link-local and cloud metadata addresses are never contacted, nor loopback unless the hub
//! is configured to allow it. The check applies to the addresses a name resolves to, at
//! connection time, so a name that resolves somewhere else later is caught too.

use chrono::Utc;
use cortex_core::federation::{HealthState, Probe};
use futures::StreamExt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Federation;
use crate::db_health::DbHealth;
use crate::error::ApiError;

/// Longest a probe waits for an answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Probes in flight at once.
const PROBES_AT_ONCE: usize = 32;
/// The health path of a kind that names none.
pub const DEFAULT_HEALTH_PATH: &str = "/healthz";

/// Host names of cloud metadata services (they answer on link-local addresses too).
const METADATA_NAMES: [&str; 3] = [
    "metadata.google.internal",
    "metadata",
    "instance-data.ec2.internal",
];

/// Why an address is not probed, if it is not.
pub fn refused_address(ip: IpAddr, allow_loopback: bool) -> Option<&'static str> {
    let ip = match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) => {
            if v4.is_link_local() {
                Some("a link-local address (cloud metadata services live there)")
            } else if v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast() {
                Some("not a host address")
            } else if v4.is_loopback() && !allow_loopback {
                Some("a loopback address (set CORTEX_PROBE_ALLOW_LOOPBACK=true to allow)")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let aws_metadata = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);
            if (v6.segments()[0] & 0xffc0) == 0xfe80 || v6 == aws_metadata {
                Some("a link-local or metadata address")
            } else if v6.is_unspecified() || v6.is_multicast() {
                Some("not a host address")
            } else if v6.is_loopback() && !allow_loopback {
                Some("a loopback address (set CORTEX_PROBE_ALLOW_LOOPBACK=true to allow)")
            } else {
                None
            }
        }
    }
}

/// The URL a probe of `endpoint` fetches: its origin (scheme, host, port) and `health_path`,
/// nothing else the neuron wrote. `Err`: why it is not probed.
pub fn probe_url(
    endpoint: &str,
    health_path: &str,
    allow_loopback: bool,
) -> Result<url::Url, String> {
    let mut url = url::Url::parse(endpoint).map_err(|e| format!("not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("not an http(s) URL".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("an endpoint carries no credentials".into());
    }
    match url.host() {
        None => return Err("no host".into()),
        Some(url::Host::Ipv4(ip)) => {
            if let Some(why) = refused_address(IpAddr::V4(ip), allow_loopback) {
                return Err(format!("refused: {why}"));
            }
        }
        Some(url::Host::Ipv6(ip)) => {
            if let Some(why) = refused_address(IpAddr::V6(ip), allow_loopback) {
                return Err(format!("refused: {why}"));
            }
        }
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if METADATA_NAMES.contains(&name.as_str()) {
                return Err("refused: a cloud metadata service".into());
            }
            if (name == "localhost" || name.ends_with(".localhost")) && !allow_loopback {
                return Err(
                    "refused: a loopback address (set CORTEX_PROBE_ALLOW_LOOPBACK=true to allow)"
                        .into(),
                );
            }
        }
    }
    let path = if health_path.starts_with('/') {
        health_path
    } else {
        DEFAULT_HEALTH_PATH
    };
    url.set_path(path);
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

/// Resolves names for the prober and drops the addresses [`refused_address`] refuses, so a
/// name that points at a metadata service (or is re-pointed there later) reaches nothing.
struct GuardedResolver {
    allow_loopback: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_loopback = self.allow_loopback;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| refused_address(a.ip(), allow_loopback).is_none())
                .collect();
            if found.is_empty() {
                return Err(format!("`{host}` resolves to no address the hub may probe").into());
            }
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The client probes go through: short timeout, no redirects (a redirect could lead
/// anywhere), no proxy, and the guarded resolver.
pub fn client(allow_loopback: bool) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(PROBE_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver { allow_loopback }))
        .build()
}

/// Probes one URL.
pub async fn probe(client: &reqwest::Client, url: url::Url) -> Probe {
    let started = Instant::now();
    let (state, message) = match client.get(url).send().await {
        Ok(res) if res.status().is_success() => {
            (HealthState::Ok, format!("HTTP {}", res.status().as_u16()))
        }
        Ok(res) => (
            HealthState::Failing,
            format!("HTTP {}", res.status().as_u16()),
        ),
        Err(e) if e.is_timeout() => (
            HealthState::Failing,
            format!("no answer within {}s", PROBE_TIMEOUT.as_secs()),
        ),
        Err(e) if e.is_connect() => (
            HealthState::Failing,
            "connection refused or unreachable".into(),
        ),
        Err(_) => (HealthState::Failing, "request failed".into()),
    };
    Probe {
        state,
        message,
        latency_ms: started.elapsed().as_millis() as u64,
        at: Utc::now(),
    }
}

/// A probe that was not made, and why.
fn not_probed(why: String) -> Probe {
    Probe {
        state: HealthState::Failing,
        message: format!("not probed: {why}"),
        latency_ms: 0,
        at: Utc::now(),
    }
}

impl Federation {
    /// Probes every joined server neuron with an endpoint once; returns how many were
    /// probed (or refused a probe).
    pub async fn probe_all(&self, client: &reqwest::Client) -> usize {
        let listed = self.store.list_neurons().await.map_err(ApiError::from);
        let (neurons, kinds) = match (listed, self.kinds().await) {
            (Ok(n), Ok(k)) => (n, k),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, "probes skipped: cannot list neurons or kinds");
                return 0;
            }
        };
        let allow_loopback = self.settings.probe_allow_loopback;
        let targets: Vec<(String, Result<url::Url, String>)> = neurons
            .into_iter()
            .filter(|n| n.status.is_joined() && !n.is_browser())
            .filter_map(|n| {
                let path = kinds
                    .iter()
                    .find(|k| k.name == n.kind)
                    .map_or(DEFAULT_HEALTH_PATH, |k| k.health_path.as_str());
                let target = n
                    .endpoint
                    .as_deref()
                    .map(|e| probe_url(e, path, allow_loopback))?;
                Some((n.id.into_string(), target))
            })
            .collect();
        let count = targets.len();
        futures::stream::iter(targets)
            .for_each_concurrent(PROBES_AT_ONCE, |(id, target)| async move {
                let p = match target {
                    Ok(url) => probe(client, url).await,
                    Err(why) => not_probed(why),
                };
                if p.state != HealthState::Ok {
                    metrics::counter!("cortex_neuron_probe_failures_total").increment(1);
                }
                if let Err(e) = self.store.record_probe(&id, &p).await {
                    tracing::warn!(neuron = %id, error = %e, "could not record a probe");
                }
            })
            .await;
        count
    }

    /// Probes every heartbeat interval while the database is ready.
    pub async fn run_prober(self, health: DbHealth) {
        let client = match client(self.settings.probe_allow_loopback) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "neuron prober could not start");
                return;
            }
        };
        let mut tick = tokio::time::interval(self.settings.heartbeat_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if health.is_ready() {
                self.probe_all(&client).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_origin_and_the_kinds_path_are_probed() {
        let u = probe_url(
            "https://api.example.com:8443/admin/delete?all=1#x",
            "/healthz",
            false,
        )
        .unwrap();
        assert_eq!(u.as_str(), "https://api.example.com:8443/healthz");
        let u = probe_url("http://10.0.0.5/", "/status", false).unwrap();
        assert_eq!(u.as_str(), "http://10.0.0.5/status");
        let u = probe_url("http://10.0.0.5/", "no-slash", false).unwrap();
        assert_eq!(u.path(), DEFAULT_HEALTH_PATH);
    }

    #[test]
    fn metadata_link_local_and_loopback_are_refused() {
        for bad in [
            "http://169.254.169.254/latest/meta-data",
            "http://[fe80::1]/",
            "http://[fd00:ec2::254]/",
            "http://[::ffff:169.254.169.254]/",
            "http://metadata.google.internal/",
            "http://0.0.0.0:8080/",
            "http://user:pw@api.example.com/",
            "ftp://api.example.com/",
        ] {
            assert!(probe_url(bad, "/healthz", true).is_err(), "{bad}");
        }
        for loopback in [
            "http://127.0.0.1:9/",
            "http://[::1]:9/",
            "http://localhost:9/",
        ] {
            assert!(
                probe_url(loopback, "/healthz", false).is_err(),
                "{loopback}"
            );
            assert!(probe_url(loopback, "/healthz", true).is_ok(), "{loopback}");
        }
        assert!(refused_address(std::net::Ipv4Addr::new(10, 0, 0, 1).into(), false).is_none());
    }
}
