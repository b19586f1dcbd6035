//! Releases as people manage them: the release board (every kind's releases, what its
//! neurons run and how they drift), describing a release, and choosing the one a kind is
//! expected to run. The rules (what a valid release is, what counts as drift) are in
//! `cortex_core::federation::releases`.

use chrono::{DateTime, Utc};
use cortex_core::audit::AuditRecord;
use cortex_core::federation::{Expectation, Release, ReleaseBoard, ReleaseForCreate};
use cortex_core::user::Principal;
use cortex_core::{ErrorCode, Role};
use std::collections::BTreeMap;

use super::Federation;
use crate::auth::require_role;
use crate::error::ApiError;

impl Federation {
    /// Every kind's releases, expected release, the versions its joined neurons run, their
    /// migrations and their drift. Viewer.
    pub async fn release_board(&self, who: &Principal) -> Result<ReleaseBoard, ApiError> {
        require_role(who, Role::Viewer)?;
        let kinds = self.store.neuron_kinds().await?;
        let releases = self.store.releases().await?;
        let expectations = self.store.expected_releases().await?;
        let expected = self.expected_by_kind().await?;
        let neurons = self.store.list_neurons().await?;
        Ok(ReleaseBoard::build(
            &kinds,
            releases,
            &expectations,
            &expected,
            &neurons,
        ))
    }

    /// Describes a release (audited as `release.create`). 400 for a malformed release, an
    /// unknown kind or a bundle revision never pushed; 409 when the kind has that version
    /// already (releases do not change). Operator.
    pub async fn create_release(
        &self,
        form: ReleaseForCreate,
        who: &Principal,
        now: DateTime<Utc>,
    ) -> Result<Release, ApiError> {
        require_role(who, Role::Operator)?;
        form.validate()
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let kinds = self.store.neuron_kinds().await?;
        if !kinds.iter().any(|k| k.name == form.kind) {
            let names: Vec<&str> = kinds.iter().map(|k| k.name.as_str()).collect();
            return Err(ApiError::bad_request(format!(
                "kind: no neuron kind `{}`; the hub knows {}",
                form.kind,
                names.join(", ")
            )));
        }
        if let Some(b) = &form.bundle {
            if !self.store.bundle_exists(&b.scope, b.revision).await? {
                return Err(ApiError::bad_request(format!(
                    "bundle: no bundle was pushed to `{}` at revision {}",
                    b.scope, b.revision
                )));
            }
        }
        let release = form.into_release(&who.actor, now);
        let audit = AuditRecord::new(who.actor.as_str(), "release.create", String::new());
        self.store.create_release(&release, audit).await?;
        Ok(release)
    }

    /// Makes release `version` the one kind `kind` is expected to run (audited as
    /// `release.expect`, with the previous one): neurons that run anything else, or report
    /// other fingerprints than it names, are flagged as drifting. 404 when the kind has no
    /// such release. Operator.
    pub async fn expect_release(
        &self,
        kind: &str,
        version: &str,
        who: &Principal,
        now: DateTime<Utc>,
    ) -> Result<Expectation, ApiError> {
        require_role(who, Role::Operator)?;
        cortex_core::federation::check_name("kind", kind)
            .and_then(|()| cortex_core::federation::check_display_text("version", version))
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        if self.store.release(kind, version).await?.is_none() {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                format!("kind `{kind}` has no release `{version}`; describe it first"),
            ));
        }
        let expectation = Expectation {
            kind: kind.to_string(),
            version: version.to_string(),
            set_by: who.actor.clone(),
            set_at: now,
        };
        let audit = AuditRecord::new(who.actor.as_str(), "release.expect", String::new());
        self.store.set_expected_release(&expectation, audit).await?;
        Ok(expectation)
    }

    /// Each kind's expected release (kind → release), for drift.
    pub(crate) async fn expected_by_kind(&self) -> Result<BTreeMap<String, Release>, ApiError> {
        let expected = self.store.expected_releases().await?;
        if expected.is_empty() {
            return Ok(BTreeMap::new());
        }
        let mut by_kind = BTreeMap::new();
        for e in expected {
            if let Some(r) = self.store.release(&e.kind, &e.version).await? {
                by_kind.insert(e.kind, r);
            }
        }
        Ok(by_kind)
    }
}
