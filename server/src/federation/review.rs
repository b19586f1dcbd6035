//! Conflicts between editors (`cortex_core::federation::review`): each scope's policy (a
//! setting an admin changes), and the change requests stale or protected pushes become:
//! listed, shown with their diff against the scope now, commented on, approved by another
//! editor or an admin (then pushed) or rejected (kept in the history).

use chrono::Utc;
use cortex_core::audit::AuditRecord;
use cortex_core::federation::review::{
    tidy_text, ChangeRequest, ChangeRequestState, ChangeRequestView, ReviewComment, ScopePolicies,
    ScopePolicy, MAX_COMMENTS, MAX_COMMENT_CHARS, MAX_REASON_CHARS,
};
use cortex_core::federation::rollback::comparable_body;
use cortex_core::federation::{BundleKind, PushResult, Scope};
use cortex_core::user::Principal;
use cortex_core::{ErrorCode, Role};

use super::Federation;
use crate::auth::require_role;
use crate::error::ApiError;
use crate::store::review::Decision;

/// The setting the scope policies are kept in (JSON).
pub const POLICIES_SETTING: &str = "scope_policies";

/// Change requests a list returns at most.
pub const LISTED_REQUESTS: u32 = 100;

/// The policies as stored (`None`: none set). An error names a stored value that does not
/// read.
fn parse_policies(json: Option<&str>) -> Result<ScopePolicies, String> {
    match json {
        Some(json) => serde_json::from_str(json)
            .map_err(|e| format!("the `{POLICIES_SETTING}` setting does not read: {e}")),
        None => Ok(ScopePolicies::default()),
    }
}

impl Federation {
    /// Every scope's conflict policy (scopes left out are last write wins). Viewer.
    pub async fn scope_policies(&self, who: &Principal) -> Result<ScopePolicies, ApiError> {
        require_role(who, Role::Viewer)?;
        self.scope_policies_now().await
    }

    /// The policies now. An unreadable setting fails closed (an error, not "last write
    /// wins" for every scope).
    pub(crate) async fn scope_policies_now(&self) -> Result<ScopePolicies, ApiError> {
        parse_policies(self.store.setting(POLICIES_SETTING).await?.as_deref())
            .map_err(|m| ApiError::new(ErrorCode::Internal, m))
    }

    /// Sets one scope's policy (last write wins and unprotected: back to the default).
    /// Audited as `scope-policy.set`. The read and the write are one transaction, so two
    /// admins changing different scopes at once both keep their change. Admin.
    pub async fn set_scope_policy(
        &self,
        scope: &Scope,
        policy: ScopePolicy,
        who: &Principal,
    ) -> Result<ScopePolicies, ApiError> {
        require_role(who, Role::Admin)?;
        // Fails closed on a stored value that does not read (500), before any change.
        self.scope_policies_now().await?;
        let (actor, scope) = (who.actor.clone(), scope.clone());
        let update = move |now: Option<&str>| {
            let before = parse_policies(now)?;
            let mut policies = before.clone();
            policies.set(&scope, policy).map_err(|e| e.to_string())?;
            let mut audit = AuditRecord::new(&actor, "scope-policy.set", format!("scope:{scope}"));
            audit.before = serde_json::to_value(before.of(&scope)).unwrap_or_default();
            audit.after = serde_json::to_value(policy).unwrap_or_default();
            let json = serde_json::to_string(&policies).map_err(|e| e.to_string())?;
            Ok((json, audit))
        };
        let json = self
            .store
            .update_setting(POLICIES_SETTING, &update)
            .await?
            .map_err(ApiError::bad_request)?;
        parse_policies(Some(&json)).map_err(|m| ApiError::new(ErrorCode::Internal, m))
    }

    /// The newest revision of `kind` in `scope`, if any.
    pub(crate) async fn newest_of_kind(
        &self,
        scope: &Scope,
        kind: BundleKind,
    ) -> Result<Option<u64>, ApiError> {
        Ok(self.store.newest_revision(scope, kind).await?)
    }

    /// Change requests, newest first (`state`: only those; none: all), at most
    /// [`LISTED_REQUESTS`]. Viewer.
    pub async fn change_requests(
        &self,
        state: Option<ChangeRequestState>,
        who: &Principal,
    ) -> Result<Vec<ChangeRequest>, ApiError> {
        require_role(who, Role::Viewer)?;
        Ok(self.store.change_requests(state, LISTED_REQUESTS).await?)
    }

    async fn request(&self, id: &str) -> Result<ChangeRequest, ApiError> {
        self.store
            .change_request(id)
            .await?
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no change request `{id}`")))
    }

    /// One change request with its diff against its scope's newest revision of its kind
    /// (what approving it would replace). Viewer.
    pub async fn change_request(
        &self,
        id: &str,
        who: &Principal,
    ) -> Result<ChangeRequestView, ApiError> {
        require_role(who, Role::Viewer)?;
        let request = self.request(id).await?;
        let current = match self
            .store
            .newest_revision(&request.scope, request.kind)
            .await?
        {
            Some(r) => self.store.bundle(&request.scope, r).await?,
            None => None,
        };
        let pushed_since_base = match request.base_revision {
            Some(base) => {
                self.store
                    .count_revisions_after(&request.scope, request.kind, base)
                    .await?
            }
            None => 0,
        };
        let diff = crate::mutations::diff_lines(
            &current
                .as_ref()
                .map(|b| comparable_body(&b.body))
                .unwrap_or_default(),
            &comparable_body(&request.body),
        );
        Ok(ChangeRequestView {
            current_revision: current.map(|b| b.revision),
            pushed_since_base,
            diff,
            request,
        })
    }

    /// Comments on an open change request (1 to [`MAX_COMMENT_CHARS`] characters, at most
    /// [`MAX_COMMENTS`] per request). Audited as `changeRequest.comment`. Editor.
    pub async fn comment_change_request(
        &self,
        id: &str,
        text: &str,
        who: &Principal,
    ) -> Result<ChangeRequest, ApiError> {
        require_role(who, Role::Editor)?;
        let text = tidy_text("text", text, MAX_COMMENT_CHARS, false)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let comment = ReviewComment {
            by: who.actor.clone(),
            at: Utc::now(),
            text,
        };
        let audit = AuditRecord::new(&who.actor, "changeRequest.comment", String::new());
        Ok(self
            .store
            .comment_change_request(id, &comment, MAX_COMMENTS, audit)
            .await?)
    }

    /// Approves an open change request and pushes it as its scope's next revision (to its
    /// audience, sent at once), if its scope's newest revision of its kind is still `seen`,
    /// the one the approver read its diff against (`None`: none). Its author may not approve
    /// it unless an admin. Audited as `changeRequest.approve` and `bundle.push`. 403 for the
    /// author; 409 once decided or when the scope moved on. Editor.
    pub async fn approve_change_request(
        &self,
        id: &str,
        seen: Option<u64>,
        who: &Principal,
    ) -> Result<(ChangeRequest, PushResult), ApiError> {
        require_role(who, Role::Editor)?;
        let request = self.request(id).await?;
        request
            .may_approve(&who.actor, who.role)
            .map_err(|m| ApiError::new(ErrorCode::Forbidden, m))?;
        let mut audit = AuditRecord::new(&who.actor, "changeRequest.approve", String::new());
        if request.created_by == who.actor {
            audit.before = serde_json::json!({"selfApproved": true});
        }
        let (request, bundle) = self
            .store
            .decide_change_request(
                id,
                &Decision::Approve { seen },
                &who.actor,
                Utc::now(),
                audit,
            )
            .await?;
        let bundle = bundle.ok_or_else(|| {
            ApiError::new(ErrorCode::Internal, "the approved change was not stored")
        })?;
        let pushed = self.send_stored(&bundle).await?;
        Ok((request, pushed))
    }

    /// Rejects an open change request, with a reason (at most [`MAX_REASON_CHARS`]
    /// characters, may be empty); it stays in the history. Its author may reject (withdraw)
    /// it. Audited as `changeRequest.reject`. 409 once decided. Editor.
    pub async fn reject_change_request(
        &self,
        id: &str,
        note: &str,
        who: &Principal,
    ) -> Result<ChangeRequest, ApiError> {
        require_role(who, Role::Editor)?;
        let note = tidy_text("note", note, MAX_REASON_CHARS, true)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let audit = AuditRecord::new(&who.actor, "changeRequest.reject", String::new());
        let (request, _) = self
            .store
            .decide_change_request(
                id,
                &Decision::Reject { note },
                &who.actor,
                Utc::now(),
                audit,
            )
            .await?;
        Ok(request)
    }
}
