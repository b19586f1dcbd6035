//! The fleet as the hub knows it: each neuron's status and health, its heartbeats, probes
//! and acknowledged revisions, bulk actions, the fleet view's query and counts, and alerts
//! about sources whose requests keep being refused.

use super::*;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a neuron is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum NeuronStatus {
    /// Waiting for an admin to approve it (approval join policy).
    Pending,
    /// Joined and heartbeating, healthy.
    Active,
    /// Heartbeating, but reports degraded or failing health.
    Degraded,
    /// Missed heartbeats beyond the grace period.
    Unhealthy,
    /// Told to finish its work and stop taking new work.
    Draining,
    /// Gone for good (or silent past the retire period); kept for history.
    Retired,
}

impl NeuronStatus {
    pub const ALL: [NeuronStatus; 6] = [
        NeuronStatus::Pending,
        NeuronStatus::Active,
        NeuronStatus::Degraded,
        NeuronStatus::Unhealthy,
        NeuronStatus::Draining,
        NeuronStatus::Retired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NeuronStatus::Pending => "pending",
            NeuronStatus::Active => "active",
            NeuronStatus::Degraded => "degraded",
            NeuronStatus::Unhealthy => "unhealthy",
            NeuronStatus::Draining => "draining",
            NeuronStatus::Retired => "retired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether the neuron may heartbeat and receive config.
    pub fn is_joined(self) -> bool {
        !matches!(self, NeuronStatus::Pending | NeuronStatus::Retired)
    }
}

impl std::fmt::Display for NeuronStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Health as a neuron reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum HealthState {
    #[default]
    Ok,
    Degraded,
    Failing,
}

/// One health check's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub name: String,
    pub state: HealthState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Load figures (all optional; shown as reported).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Load {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_second: Option<f64>,
}

/// What a neuron sends on every heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Heartbeat {
    #[serde(default)]
    pub state: HealthState,
    #[serde(default)]
    pub checks: Vec<Check>,
    /// The version now running (a neuron may be upgraded in place).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default)]
    pub load: Load,
    /// Fingerprints of its schema and API now (left out: unchanged).
    #[serde(default, skip_serializing_if = "Fingerprints::is_empty")]
    pub fingerprints: Fingerprints,
    /// Its last migration (left out: unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration: Option<MigrationReport>,
}

impl Heartbeat {
    /// Limits: at most 32 checks, names and messages of sane length.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.checks.len() > 32 {
            return Err(FieldError::new("checks", "at most 32 checks"));
        }
        for (i, c) in self.checks.iter().enumerate() {
            if c.name.is_empty() || c.name.len() > 64 {
                return Err(FieldError::new(
                    format!("checks[{i}].name"),
                    "must be 1-64 characters",
                ));
            }
            if c.message.as_ref().is_some_and(|m| m.len() > 1024) {
                return Err(FieldError::new(
                    format!("checks[{i}].message"),
                    "at most 1024 characters",
                ));
            }
        }
        if let Some(v) = &self.version {
            check_display_text("version", v)?;
        }
        self.fingerprints.validate("fingerprints")?;
        if let Some(m) = &self.migration {
            m.validate()?;
        }
        Ok(())
    }
}

/// A neuron as the hub knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Neuron {
    pub id: crate::ids::NeuronId,
    pub slug: String,
    pub kind: String,
    pub version: String,
    pub capabilities: Vec<String>,
    pub tags: Vec<String>,
    pub region: Option<String>,
    pub endpoint: Option<String>,
    pub public_key: String,
    pub status: NeuronStatus,
    /// Pinned neurons are never retired for silence.
    pub pinned: bool,
    pub registered_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub health: HealthState,
    pub checks: Vec<Check>,
    pub load: Load,
    /// The hub's last HTTP probe of `<endpoint>/healthz` (server neurons with an endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<Probe>,
    /// The highest revision it acknowledged per scope (filled for the fleet view).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acked: Vec<Acked>,
    /// Fingerprints of its schema and API, as it last reported them.
    #[serde(default, skip_serializing_if = "Fingerprints::is_empty")]
    pub fingerprints: Fingerprints,
    /// Its last migration, as it last reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration: Option<MigrationReport>,
    /// How it differs from its kind's expected release (filled for the fleet view).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<Drift>,
    /// Its config override, if any (filled for the fleet view).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_override: Option<overrides::ConfigOverride>,
}

/// Prefix of publishable keys. A browser neuron's registry entry holds the key it joined
/// with where a server neuron holds its public key, so its id stays bound to that key.
pub const PUBLISHABLE_KEY_PREFIX: &str = "pk_";

impl Neuron {
    /// Whether this is a browser neuron (joined with a publishable key).
    pub fn is_browser(&self) -> bool {
        self.public_key.starts_with(PUBLISHABLE_KEY_PREFIX)
    }
}

/// What a bulk action does to the neurons it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum BulkAction {
    /// Approve pending neurons (admin).
    Approve,
    /// Deny (remove) pending neurons.
    Deny,
    /// Drain joined neurons: they finish their work and take no new work.
    Drain,
    /// Retire neurons: they leave the fleet (tokens and sockets dropped at once).
    Retire,
}

impl BulkAction {
    pub const ALL: [BulkAction; 4] = [
        BulkAction::Approve,
        BulkAction::Deny,
        BulkAction::Drain,
        BulkAction::Retire,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BulkAction::Approve => "approve",
            BulkAction::Deny => "deny",
            BulkAction::Drain => "drain",
            BulkAction::Retire => "retire",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// What a bulk action did: the neurons it changed, and each one it could not change with
/// the reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BulkOutcome {
    pub done: Vec<String>,
    pub failed: Vec<(String, String)>,
}

/// A revision of a scope a neuron holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Acked {
    pub scope: String,
    pub revision: u64,
    pub at: DateTime<Utc>,
}

/// What the hub saw when it probed a neuron's endpoint, as Consul does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Probe {
    /// `ok` for a 2xx answer, `failing` otherwise.
    pub state: HealthState,
    /// The status code, or why there was none (refused, timed out).
    pub message: String,
    pub latency_ms: u64,
    pub at: DateTime<Utc>,
}

/// Which neurons the fleet view lists: by status, by a search over id, app, kind, version
/// and tags, a page at a time. The counts always cover the whole fleet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct FleetQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<NeuronStatus>,
    /// Case-insensitive substring of id, slug, kind, version or a tag.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub q: String,
    /// Neurons skipped (paging).
    #[serde(default)]
    pub offset: u32,
    /// Neurons listed, at most [`MAX_FLEET_PAGE`] (0: [`FLEET_PAGE`]).
    #[serde(default)]
    pub limit: u32,
}

/// Neurons listed per page by default, and at most.
pub const FLEET_PAGE: u32 = 60;
pub const MAX_FLEET_PAGE: u32 = 500;

impl FleetQuery {
    /// The page size this query asks for.
    pub fn page_size(&self) -> u32 {
        match self.limit {
            0 => FLEET_PAGE,
            n => n.min(MAX_FLEET_PAGE),
        }
    }

    /// Whether neuron `n` matches the status and the search.
    pub fn matches(&self, n: &Neuron) -> bool {
        if self.status.is_some_and(|s| s != n.status) {
            return false;
        }
        let needle = self.q.trim().to_lowercase();
        needle.is_empty()
            || n.id.contains(&needle)
            || n.slug.contains(&needle)
            || n.kind.contains(&needle)
            || n.version.to_lowercase().contains(&needle)
            || n.tags.iter().any(|t| t.contains(&needle))
    }
}

/// Counts for the fleet summary, and one page of the neurons a [`FleetQuery`] asked for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct FleetHealth {
    pub total: u64,
    /// Status → count.
    pub by_status: std::collections::BTreeMap<String, u64>,
    /// Version → count (version drift).
    pub by_version: std::collections::BTreeMap<String, u64>,
    /// Region → count (`-` for none).
    pub by_region: std::collections::BTreeMap<String, u64>,
    /// Joined neurons that differ from their kind's expected release.
    #[serde(default)]
    pub drifting: u64,
    /// Neurons that match the query (all pages).
    #[serde(default)]
    pub matched: u64,
    /// Where this page starts among the matches.
    #[serde(default)]
    pub offset: u32,
    /// The page: at most the query's page size of the matches, by region then id.
    pub neurons: Vec<Neuron>,
}

impl FleetHealth {
    /// Summarises every neuron, listing all of them.
    pub fn of(neurons: Vec<Neuron>) -> Self {
        Self::page(
            neurons,
            &FleetQuery {
                limit: u32::MAX,
                ..Default::default()
            },
        )
    }

    /// Summarises every neuron and lists the page of matches `query` asks for.
    pub fn page(neurons: Vec<Neuron>, query: &FleetQuery) -> Self {
        let mut h = FleetHealth {
            total: neurons.len() as u64,
            offset: query.offset,
            ..Default::default()
        };
        for n in &neurons {
            *h.by_status.entry(n.status.to_string()).or_default() += 1;
            *h.by_version.entry(n.version.clone()).or_default() += 1;
            h.drifting += u64::from(!n.drift.is_empty());
            *h.by_region
                .entry(n.region.clone().unwrap_or_else(|| "-".into()))
                .or_default() += 1;
        }
        let size = if query.limit == u32::MAX {
            usize::MAX
        } else {
            query.page_size() as usize
        };
        let matching = neurons.into_iter().filter(|n| query.matches(n));
        let mut matched = 0u64;
        for n in matching {
            if matched >= u64::from(query.offset) && h.neurons.len() < size {
                h.neurons.push(n);
            }
            matched += 1;
        }
        h.matched = matched;
        h
    }
}

/// A source address whose neuron requests keep being refused (forged or replayed
/// signatures, stale clocks, unknown keys, wrong tokens).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RefusalAlert {
    /// The client address.
    pub source: String,
    /// Refusals in the current window.
    pub failures: u32,
    pub since: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
    pub last_reason: String,
    /// The neuron id the last request claimed, if any.
    pub last_neuron: Option<String>,
}

/// The versions the joined neurons of one kind run, most common first. More than one is
/// version drift: the kind is mid-rollout, or some neurons were left behind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct KindVersions {
    pub kind: String,
    /// Version and how many neurons run it, most neurons first (ties by version).
    pub versions: Vec<(String, u64)>,
}

impl KindVersions {
    /// Whether the kind's neurons disagree on their version.
    pub fn drifts(&self) -> bool {
        self.versions.len() > 1
    }
}

/// Per kind, the versions its joined neurons (not pending, not retired) run; kinds by name.
pub fn versions_by_kind(neurons: &[Neuron]) -> Vec<KindVersions> {
    use std::collections::BTreeMap;
    let mut kinds: BTreeMap<&str, BTreeMap<&str, u64>> = BTreeMap::new();
    for n in neurons.iter().filter(|n| n.status.is_joined()) {
        *kinds
            .entry(n.kind.as_str())
            .or_default()
            .entry(n.version.as_str())
            .or_default() += 1;
    }
    kinds
        .into_iter()
        .map(|(kind, versions)| {
            let mut versions: Vec<(String, u64)> = versions
                .into_iter()
                .map(|(v, c)| (v.to_string(), c))
                .collect();
            versions.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            KindVersions {
                kind: kind.to_string(),
                versions,
            }
        })
        .collect()
}

/// A joined, healthy server neuron of `kind` on `version` (tests build on it).
#[cfg(test)]
pub(crate) fn test_neuron(id: &str, kind: &str, version: &str) -> Neuron {
    let at = DateTime::from_timestamp(1_780_000_000, 0).unwrap_or_default();
    Neuron {
        id: id.into(),
        slug: id.into(),
        kind: kind.into(),
        version: version.into(),
        capabilities: vec![],
        tags: vec![],
        region: None,
        endpoint: None,
        public_key: "k".into(),
        status: NeuronStatus::Active,
        pinned: false,
        registered_at: at,
        last_seen_at: at,
        health: HealthState::Ok,
        checks: vec![],
        load: Load::default(),
        probe: None,
        acked: vec![],
        fingerprints: Fingerprints::default(),
        migration: None,
        drift: vec![],
        config_override: None,
    }
}
