//! Rolling a scope back by hand: its history, the diff a rollback would make, and the
//! rollback itself (the chosen revision's body pushed again as the next revision, to
//! everyone in the scope, audited as `bundle.rollback`). Layout rule bundles are left out:
//! the hub pushes them after every rule change, and rules are rolled back on their own page.

use cortex_core::audit::AuditRecord;
use cortex_core::federation::rollback::{comparable_body, RollbackPreview, ScopeHistory};
use cortex_core::federation::{Audience, Bundle, BundleKind, PushResult, Scope};
use cortex_core::user::Principal;
use cortex_core::{ErrorCode, Role};

use super::Federation;
use crate::auth::require_role;
use crate::error::ApiError;

impl Federation {
    /// The revisions of `scope`, newest first, each marked when it is the newest of its
    /// kind. Viewer.
    pub async fn scope_history(
        &self,
        scope: &Scope,
        who: &Principal,
    ) -> Result<ScopeHistory, ApiError> {
        require_role(who, Role::Viewer)?;
        let bundles = self.store.bundles_since(&[(scope.clone(), 0)]).await?;
        Ok(ScopeHistory::of(scope.clone(), bundles))
    }

    /// The revision to roll back to and the newest of its kind now. 404 for a revision the
    /// scope never had; 400 for layout rules.
    async fn rollback_plan(
        &self,
        scope: &Scope,
        revision: u64,
    ) -> Result<(Bundle, Bundle), ApiError> {
        let target = self.store.bundle(scope, revision).await?.ok_or_else(|| {
            ApiError::new(
                ErrorCode::NotFound,
                format!("scope `{scope}` has no revision {revision}"),
            )
        })?;
        if target.kind == BundleKind::LayoutRules {
            return Err(ApiError::bad_request(
                "revision: layout rules are pushed by the hub after every rule change; roll a rule back on its page instead",
            ));
        }
        let current = self
            .store
            .bundles_since(&[(scope.clone(), revision)])
            .await?
            .into_iter()
            .filter(|b| b.kind == target.kind)
            .max_by_key(|b| b.revision)
            .unwrap_or_else(|| target.clone());
        Ok((target, current))
    }

    /// What rolling `scope` back to `revision` would change, as a diff of the bundle. Viewer.
    pub async fn rollback_preview(
        &self,
        scope: &Scope,
        revision: u64,
        who: &Principal,
    ) -> Result<RollbackPreview, ApiError> {
        require_role(who, Role::Viewer)?;
        let (target, current) = self.rollback_plan(scope, revision).await?;
        Ok(RollbackPreview {
            scope: scope.clone(),
            kind: target.kind,
            to_revision: target.revision,
            current_revision: current.revision,
            diff: crate::mutations::diff_lines(
                &comparable_body(&current.body),
                &comparable_body(&target.body),
            ),
        })
    }

    /// Rolls `scope` back to `revision`: its body is pushed again as the next revision, to
    /// everyone in the scope (audited as `bundle.rollback`, naming both revisions). In a
    /// protected scope it is held for review like any push. 409 when neurons hold that
    /// content already. Editor, as pushing is.
    pub async fn rollback_scope(
        &self,
        scope: &Scope,
        revision: u64,
        who: &Principal,
    ) -> Result<PushResult, ApiError> {
        require_role(who, Role::Editor)?;
        let (target, current) = self.rollback_plan(scope, revision).await?;
        if current.revision == target.revision || current.body == target.body {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!(
                    "revision {revision} of `{scope}` is what its neurons hold already (revision {}); nothing to roll back",
                    current.revision
                ),
            ));
        }
        let mut audit = AuditRecord::new(who.actor.as_str(), "bundle.rollback", String::new());
        audit.before = serde_json::json!({"scope": scope.to_string(), "kind": target.kind.as_str(),
            "replaced": current.revision, "rolledBackTo": target.revision});
        // Made from the revision it replaces, so only a protected scope holds it for review.
        let check = crate::store::neurons::PushCheck {
            base: Some(current.revision),
            policy: self.scope_policies_now().await?.of(scope),
            only_if_current: false,
        };
        self.store_and_send_checked(
            scope,
            target.kind,
            &target.body,
            &Audience::default(),
            &check,
            audit,
        )
        .await
    }
}
