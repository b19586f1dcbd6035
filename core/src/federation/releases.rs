//! Releases: what each neuron kind should run (a version, the config bundle revision it
//! goes with, the migrations it runs before and after switching, the schema and API
//! fingerprints it is expected to report), what each neuron reports it runs, and the drift
//! between the two.
//!
//! A release names its migrations by id; it never carries code. The neuron ships its own
//! migrations and runs the ones a release names, so whoever may define a release cannot make
//! a neuron run anything it did not bring.

use super::*;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most migrations a release names before, and after, the switch.
pub const MAX_MIGRATIONS: usize = 32;
/// Longest release notes, in bytes.
pub const MAX_NOTES: usize = 4000;
/// Most of a migration's output a neuron reports: its last bytes.
pub const MAX_OUTPUT_TAIL: usize = 4096;
/// Releases listed per kind (newest first).
pub const RELEASES_LISTED: usize = 50;
/// Neurons listed per kind on the release board (drifting and failed ones first).
pub const NEURONS_LISTED: usize = 200;

/// The fingerprint of a document a neuron hands the SDK (its table definitions, its OpenAPI
/// document): `sha256:` and the SHA-256 of the bytes in lowercase hex.
pub fn fingerprint(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// Checks a fingerprint: 1-128 of `A-Z a-z 0-9 : . _ - +` (for example `sha256:<hex>`, or a
/// schema version such as `orders-v12`).
pub fn check_fingerprint(field: &str, value: &str) -> Result<(), FieldError> {
    let ok = !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":._-+".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            "must be 1-128 of A-Z a-z 0-9 : . _ - + (e.g. sha256:<64 hex>)",
        ))
    }
}

/// Checks a migration id: 1-128 of `A-Z a-z 0-9 . _ - /` (e.g. `0042_orders_index` or
/// `orders/0042`), without empty, `.` or `..` segments, so a neuron that keeps its
/// migrations as files can use the id as a relative path.
pub fn check_migration_id(field: &str, value: &str) -> Result<(), FieldError> {
    let ok = !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b))
        && value.split('/').all(|seg| !matches!(seg, "" | "." | ".."));
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("`{value}` must be 1-128 of A-Z a-z 0-9 . _ - /, without empty, `.` or `..` segments"),
        ))
    }
}

/// Fingerprints of what a neuron is: its schema (e.g. its table definitions) and its API
/// (e.g. its OpenAPI document). Either may be missing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Fingerprints {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
}

impl Fingerprints {
    /// Whether neither is known.
    pub fn is_empty(&self) -> bool {
        self.schema.is_none() && self.api.is_none()
    }

    /// Checks both (see [`check_fingerprint`]); `field` prefixes the JSON path.
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        if let Some(s) = &self.schema {
            check_fingerprint(&format!("{field}.schema"), s)?;
        }
        if let Some(a) = &self.api {
            check_fingerprint(&format!("{field}.api"), a)?;
        }
        Ok(())
    }
}

/// A released version of a neuron kind, as an operator described it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Release {
    pub kind: String,
    /// The version neurons report once they run it (as in their registration).
    pub version: String,
    /// The config bundle revision it goes with, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<BundleRef>,
    /// Migrations run before the switch (they must work with the old version still running).
    #[serde(default)]
    pub pre_migrations: Vec<String>,
    /// Migrations run after the switch (e.g. dropping what the old version needed).
    #[serde(default)]
    pub post_migrations: Vec<String>,
    /// The fingerprints neurons running it are expected to report.
    #[serde(default)]
    pub fingerprints: Fingerprints,
    #[serde(default)]
    pub notes: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// A revision of a scope's bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BundleRef {
    pub scope: Scope,
    pub revision: u64,
}

/// A release as an operator submits it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReleaseForCreate {
    /// A kind the hub knows.
    pub kind: String,
    /// 1-64 characters, no control or text-direction characters; unique within the kind.
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<BundleRef>,
    /// Migration ids (at most 32, each 1-128 of `A-Z a-z 0-9 . _ - /`), in the order they run.
    #[serde(default)]
    pub pre_migrations: Vec<String>,
    #[serde(default)]
    pub post_migrations: Vec<String>,
    #[serde(default)]
    pub fingerprints: Fingerprints,
    /// At most 4,000 bytes.
    #[serde(default)]
    pub notes: String,
}

impl ReleaseForCreate {
    /// Checks everything that does not need the hub's state.
    pub fn validate(&self) -> Result<(), FieldError> {
        check_name("kind", &self.kind)?;
        check_display_text("version", &self.version)?;
        for (field, list) in [
            ("preMigrations", &self.pre_migrations),
            ("postMigrations", &self.post_migrations),
        ] {
            if list.len() > MAX_MIGRATIONS {
                return Err(FieldError::new(
                    field,
                    format!("at most {MAX_MIGRATIONS} migrations"),
                ));
            }
            let mut seen = std::collections::BTreeSet::new();
            for (i, id) in list.iter().enumerate() {
                check_migration_id(&format!("{field}[{i}]"), id)?;
                if !seen.insert(id) {
                    return Err(FieldError::new(
                        format!("{field}[{i}]"),
                        format!("`{id}` is named twice"),
                    ));
                }
            }
        }
        if let Some((i, id)) = self
            .post_migrations
            .iter()
            .enumerate()
            .find(|(_, id)| self.pre_migrations.contains(id))
        {
            return Err(FieldError::new(
                format!("postMigrations[{i}]"),
                format!("`{id}` runs before the switch already"),
            ));
        }
        if let Some(b) = &self.bundle {
            if b.revision == 0 {
                return Err(FieldError::new("bundle.revision", "revisions start at 1"));
            }
        }
        self.fingerprints.validate("fingerprints")?;
        if self.notes.len() > MAX_NOTES {
            return Err(FieldError::new(
                "notes",
                format!("at most {MAX_NOTES} bytes"),
            ));
        }
        if self
            .notes
            .chars()
            .any(|c| (c.is_control() && !matches!(c, '\n' | '\r' | '\t')) || is_text_direction(c))
        {
            return Err(FieldError::new(
                "notes",
                "must not contain control or text-direction characters other than line breaks and tabs",
            ));
        }
        Ok(())
    }

    /// The release, as created by `by` at `at`.
    pub fn into_release(self, by: &str, at: DateTime<Utc>) -> Release {
        Release {
            kind: self.kind,
            version: self.version,
            bundle: self.bundle,
            pre_migrations: self.pre_migrations,
            post_migrations: self.post_migrations,
            fingerprints: self.fingerprints,
            notes: self.notes,
            created_by: by.to_string(),
            created_at: at,
        }
    }
}

/// Which side of the switch a migration runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum MigrationPhase {
    Pre,
    Post,
}

/// Where a migration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum MigrationState {
    Running,
    Succeeded,
    Failed,
}

impl MigrationState {
    pub fn as_str(self) -> &'static str {
        match self {
            MigrationState::Running => "running",
            MigrationState::Succeeded => "succeeded",
            MigrationState::Failed => "failed",
        }
    }
}

/// A neuron's last migration, as it reports it on its heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MigrationReport {
    pub id: String,
    pub phase: MigrationPhase,
    pub state: MigrationState,
    pub at: DateTime<Utc>,
    /// The end of its output (at most 4,096 bytes; control characters other than line
    /// breaks and tabs are replaced).
    #[serde(default)]
    pub output_tail: String,
}

impl MigrationReport {
    /// Checks the id; the output is made safe by [`MigrationReport::tidy`] rather than
    /// refused, so a noisy script cannot make its neuron's heartbeats fail.
    pub fn validate(&self) -> Result<(), FieldError> {
        check_migration_id("migration.id", &self.id)
    }

    /// Keeps the last [`MAX_OUTPUT_TAIL`] bytes of the output (on a character boundary) and
    /// replaces control and text-direction characters other than `\n` and `\t` with `�`.
    pub fn tidy(mut self) -> Self {
        self.output_tail = output_tail(&self.output_tail);
        self
    }
}

/// The last [`MAX_OUTPUT_TAIL`] bytes of `output`, made safe to show (see
/// [`MigrationReport::tidy`]).
pub fn output_tail(output: &str) -> String {
    let unsafe_char = |c: char| (c.is_control() && c != '\n' && c != '\t') || is_text_direction(c);
    let clean: String = output
        .chars()
        .map(|c| if unsafe_char(c) { '\u{fffd}' } else { c })
        .collect();
    let mut start = clean.len().saturating_sub(MAX_OUTPUT_TAIL);
    while !clean.is_char_boundary(start) {
        start += 1;
    }
    clean[start..].to_string()
}

/// What differs between what a neuron runs and what its kind's expected release says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum DriftKind {
    Version,
    Schema,
    Api,
}

impl DriftKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DriftKind::Version => "version",
            DriftKind::Schema => "schema",
            DriftKind::Api => "api",
        }
    }
}

/// One difference: what was expected and what the neuron reported (`None`: nothing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Drift {
    pub what: DriftKind,
    pub expected: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported: Option<String>,
}

impl Drift {
    /// In words, e.g. "schema: expected sha256:ab12…, reports sha256:cd34…".
    pub fn describe(&self) -> String {
        format!(
            "{}: expected {}, reports {}",
            self.what.as_str(),
            self.expected,
            self.reported.as_deref().unwrap_or("nothing")
        )
    }
}

/// How neuron `n` differs from `expected`: its version, and each fingerprint the release
/// names that the neuron reports differently or not at all. Empty when it matches.
pub fn drift(n: &Neuron, expected: &Release) -> Vec<Drift> {
    let mut found = Vec::new();
    if n.version != expected.version {
        found.push(Drift {
            what: DriftKind::Version,
            expected: expected.version.clone(),
            reported: Some(n.version.clone()),
        });
    }
    for (what, want, got) in [
        (
            DriftKind::Schema,
            &expected.fingerprints.schema,
            &n.fingerprints.schema,
        ),
        (
            DriftKind::Api,
            &expected.fingerprints.api,
            &n.fingerprints.api,
        ),
    ] {
        if let Some(want) = want {
            if got.as_ref() != Some(want) {
                found.push(Drift {
                    what,
                    expected: want.clone(),
                    reported: got.clone(),
                });
            }
        }
    }
    found
}

/// Fills in each neuron's drift against its kind's expected release (`expected`: kind →
/// release).
pub fn mark_drift(neurons: &mut [Neuron], expected: &BTreeMap<String, Release>) {
    for n in neurons {
        n.drift = expected
            .get(&n.kind)
            .filter(|_| n.status.is_joined())
            .map(|r| drift(n, r))
            .unwrap_or_default();
    }
}

/// A kind's expected release, and who chose it when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Expectation {
    pub kind: String,
    pub version: String,
    pub set_by: String,
    pub set_at: DateTime<Utc>,
}

/// How many joined neurons of a kind run one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct VersionCount {
    pub version: String,
    pub neurons: u64,
    /// Whether this is the kind's expected release.
    pub expected: bool,
    /// Whether a release of this version is described.
    pub described: bool,
}

/// One neuron on the release board.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct NeuronRelease {
    pub id: String,
    pub version: String,
    pub status: NeuronStatus,
    #[serde(default)]
    pub fingerprints: Fingerprints,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<Drift>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration: Option<MigrationReport>,
}

/// One kind on the release board.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct KindReleases {
    pub kind: String,
    pub transport: Transport,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<Expectation>,
    /// Its releases, newest first (at most [`RELEASES_LISTED`]).
    pub releases: Vec<Release>,
    /// Versions its joined neurons run, most neurons first.
    pub versions: Vec<VersionCount>,
    /// Joined neurons of the kind.
    pub joined: u64,
    /// Joined neurons that differ from the expected release.
    pub drifting: u64,
    /// Joined neurons by their last migration's state.
    pub migrations: BTreeMap<String, u64>,
    /// Its joined neurons (at most [`NEURONS_LISTED`]): failed migrations first, then
    /// drifting ones, then by id.
    pub neurons: Vec<NeuronRelease>,
}

/// Every kind's releases and what its neurons run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ReleaseBoard {
    pub kinds: Vec<KindReleases>,
}

impl ReleaseBoard {
    /// Builds the board: every kind (by name), its releases newest first (`releases` may
    /// hold only the newest of each kind), and its joined neurons measured against its
    /// expected release (`expected`: kind → release, as [`mark_drift`] takes it).
    pub fn build(
        kinds: &[NeuronKind],
        mut releases: Vec<Release>,
        expectations: &[Expectation],
        expected: &BTreeMap<String, Release>,
        neurons: &[Neuron],
    ) -> Self {
        releases.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| b.version.cmp(&a.version))
        });
        let expected_by_kind = expected;
        let mut board = ReleaseBoard::default();
        for k in kinds {
            let expected = expectations.iter().find(|e| e.kind == k.name).cloned();
            let described: Vec<&Release> = releases.iter().filter(|r| r.kind == k.name).collect();
            let expected_release = expected_by_kind.get(&k.name);
            let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
            let mut migrations: BTreeMap<String, u64> = BTreeMap::new();
            let mut listed = Vec::new();
            let mut drifting = 0;
            for n in neurons
                .iter()
                .filter(|n| n.kind == k.name && n.status.is_joined())
            {
                *counts.entry(n.version.as_str()).or_default() += 1;
                if let Some(m) = &n.migration {
                    *migrations.entry(m.state.as_str().to_string()).or_default() += 1;
                }
                let d = expected_release.map(|r| drift(n, r)).unwrap_or_default();
                if !d.is_empty() {
                    drifting += 1;
                }
                listed.push(NeuronRelease {
                    id: n.id.to_string(),
                    version: n.version.clone(),
                    status: n.status,
                    fingerprints: n.fingerprints.clone(),
                    drift: d,
                    migration: n.migration.clone(),
                });
            }
            let joined = listed.len() as u64;
            let failed = |n: &NeuronRelease| {
                n.migration
                    .as_ref()
                    .is_some_and(|m| m.state == MigrationState::Failed)
            };
            listed.sort_by(|a, b| {
                failed(b)
                    .cmp(&failed(a))
                    .then_with(|| a.drift.is_empty().cmp(&b.drift.is_empty()))
                    .then_with(|| a.id.cmp(&b.id))
            });
            listed.truncate(NEURONS_LISTED);
            let mut versions: Vec<VersionCount> = counts
                .into_iter()
                .map(|(v, c)| VersionCount {
                    version: v.to_string(),
                    neurons: c,
                    expected: expected.as_ref().is_some_and(|e| e.version == v),
                    described: described.iter().any(|r| r.version == v)
                        || expected_release.is_some_and(|r| r.version == v),
                })
                .collect();
            versions.sort_by(|a, b| {
                b.neurons
                    .cmp(&a.neurons)
                    .then_with(|| a.version.cmp(&b.version))
            });
            board.kinds.push(KindReleases {
                kind: k.name.clone(),
                transport: k.transport,
                expected,
                releases: described
                    .into_iter()
                    .take(RELEASES_LISTED)
                    .cloned()
                    .collect(),
                versions,
                joined,
                drifting,
                migrations,
                neurons: listed,
            });
        }
        board
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000, 0).unwrap()
    }

    fn neuron(id: &str, version: &str, schema: Option<&str>) -> Neuron {
        Neuron {
            slug: "shop".into(),
            fingerprints: Fingerprints {
                schema: schema.map(str::to_string),
                api: None,
            },
            ..test_neuron(id, "api-service", version)
        }
    }

    fn release(version: &str, schema: Option<&str>) -> Release {
        ReleaseForCreate {
            kind: "api-service".into(),
            version: version.into(),
            bundle: None,
            pre_migrations: vec!["0001_add".into()],
            post_migrations: vec![],
            fingerprints: Fingerprints {
                schema: schema.map(str::to_string),
                api: None,
            },
            notes: String::new(),
        }
        .into_release("user:op", at())
    }

    #[test]
    fn drift_names_what_differs() {
        let r = release("2.0", Some("sha256:aa"));
        assert!(drift(&neuron("a", "2.0", Some("sha256:aa")), &r).is_empty());
        let d = drift(&neuron("b", "1.9", Some("sha256:bb")), &r);
        assert_eq!(
            d.iter().map(|d| d.what).collect::<Vec<_>>(),
            [DriftKind::Version, DriftKind::Schema]
        );
        assert_eq!(
            d[1].describe(),
            "schema: expected sha256:aa, reports sha256:bb"
        );
        // A fingerprint not reported is drift; one the release does not name is not.
        let d = drift(&neuron("c", "2.0", None), &r);
        assert_eq!(d[0].reported, None);
        assert!(drift(&neuron("d", "2.0", Some("x")), &release("2.0", None)).is_empty());
    }

    #[test]
    fn board_counts_and_orders() {
        let kinds = [NeuronKind {
            name: "api-service".into(),
            transport: Transport::Server,
            description: String::new(),
            capabilities: vec![],
            health_checks: vec![],
            health_path: "/healthz".into(),
        }];
        let mut failed = neuron("z", "2.0", Some("sha256:aa"));
        failed.migration = Some(MigrationReport {
            id: "0001_add".into(),
            phase: MigrationPhase::Pre,
            state: MigrationState::Failed,
            at: at(),
            output_tail: "boom".into(),
        });
        let mut retired = neuron("r", "0.1", None);
        retired.status = NeuronStatus::Retired;
        let neurons = [
            neuron("a", "2.0", Some("sha256:aa")),
            neuron("b", "1.9", Some("sha256:aa")),
            failed,
            retired,
        ];
        let exp = [Expectation {
            kind: "api-service".into(),
            version: "2.0".into(),
            set_by: "user:op".into(),
            set_at: at(),
        }];
        let expected: BTreeMap<String, Release> =
            [("api-service".to_string(), release("2.0", Some("sha256:aa")))].into();
        let board = ReleaseBoard::build(
            &kinds,
            vec![release("1.9", None), release("2.0", Some("sha256:aa"))],
            &exp,
            &expected,
            &neurons,
        );
        let k = &board.kinds[0];
        assert_eq!((k.joined, k.drifting), (3, 1));
        assert_eq!(k.versions[0].version, "2.0");
        assert!(k.versions[0].expected && k.versions[0].described);
        assert_eq!(k.migrations["failed"], 1);
        let order: Vec<&str> = k.neurons.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(order, ["z", "b", "a"]);
    }

    #[test]
    fn releases_are_checked() {
        let ok = ReleaseForCreate {
            kind: "api-service".into(),
            version: "2.0".into(),
            bundle: None,
            pre_migrations: vec!["0001_add".into()],
            post_migrations: vec!["0002_drop".into()],
            fingerprints: Fingerprints::default(),
            notes: String::new(),
        };
        assert!(ok.validate().is_ok());
        let bad = |f: fn(&mut ReleaseForCreate)| {
            let mut r = ok.clone();
            f(&mut r);
            r.validate().unwrap_err().field
        };
        assert_eq!(bad(|r| r.version = "\u{202e}2.0".into()), "version");
        assert_eq!(
            bad(|r| r.pre_migrations.push("rm -rf /".into())),
            "preMigrations[1]"
        );
        assert_eq!(
            bad(|r| r.pre_migrations.push("../secrets".into())),
            "preMigrations[1]"
        );
        assert_eq!(
            bad(|r| r.pre_migrations.push("/etc/x".into())),
            "preMigrations[1]"
        );
        assert!(check_migration_id("id", "orders/0042_total.sql").is_ok());
        assert_eq!(
            bad(|r| r.post_migrations.push("0002_drop".into())),
            "postMigrations[1]"
        );
        assert_eq!(
            bad(|r| r.fingerprints.api = Some("<script>".into())),
            "fingerprints.api"
        );
        assert_eq!(bad(|r| r.notes = "x".repeat(MAX_NOTES + 1)), "notes");
        assert_eq!(bad(|r| r.notes = "a\u{0}b".into()), "notes");
        assert_eq!(bad(|r| r.notes = "a\u{2067}b".into()), "notes");
        assert_eq!(
            bad(|r| r.post_migrations.push("0001_add".into())),
            "postMigrations[1]"
        );
        assert_eq!(
            bad(|r| r.bundle = Some(BundleRef {
                scope: Scope::Global,
                revision: 0
            })),
            "bundle.revision"
        );
    }

    #[test]
    fn output_is_cut_and_cleaned() {
        let long = format!("{}\x1b[31mred\r\nend\u{202e}", "é".repeat(3000));
        let tail = output_tail(&long);
        assert!(tail.len() <= MAX_OUTPUT_TAIL);
        assert!(tail.ends_with("\u{fffd}[31mred\u{fffd}\nend\u{fffd}"));
        assert_eq!(
            fingerprint(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
