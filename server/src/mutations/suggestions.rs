//! The suggestion engine at work (see `cortex_core::suggest`): proposals of new draft rules
//! from the last four weeks of page views and clicks per segment, listed for editors, who
//! accept one (it is saved as a draft experiment, switched off) or dismiss it. Nothing is
//! applied without an editor.

use chrono::{DateTime, Duration, Utc};
use cortex_core::audit::AuditRecord;
use cortex_core::rules::RuleVersion;
use cortex_core::suggest::{Suggestion, SuggestionState};
use cortex_core::user::Principal;
use cortex_core::{ErrorCode, Role};

use super::Mutations;
use crate::auth::require_role;
use crate::error::ApiError;
use crate::store::layouts::Head;

/// Days of events the engine reads.
pub const SUGGESTION_DAYS: i64 = 28;

/// How long the engine's answer is reused while the rule set stays the same (it reads four
/// weeks of events).
pub const SUGGESTIONS_FRESH: std::time::Duration = std::time::Duration::from_secs(600);

/// The last answer: the rule-set revision and time it was computed at.
pub(super) type Cache = std::sync::Arc<
    std::sync::Mutex<
        Option<(
            cortex_core::ids::Revision,
            std::time::Instant,
            Vec<Suggestion>,
        )>,
    >,
>;

/// Longest suggestion id a request may name.
const MAX_ID: usize = 100;

impl Mutations {
    /// The suggestions now, strongest first, each with what an editor did with it, if
    /// anything. Viewer.
    pub async fn suggestions(
        &self,
        who: &Principal,
        now: DateTime<Utc>,
    ) -> Result<Vec<Suggestion>, ApiError> {
        require_role(who, Role::Viewer)?;
        let list = self.computed_suggestions(now).await?;
        let states = self.store.suggestion_states().await?;
        Ok(cortex_core::suggest::with_states(list, &states))
    }

    async fn computed_suggestions(&self, now: DateTime<Utc>) -> Result<Vec<Suggestion>, ApiError> {
        let revision = self.current().set.revision;
        let fresh = || {
            self.suggestions_cache.lock().ok().and_then(|held| {
                held.as_ref()
                    .filter(|(r, at, _)| *r == revision && at.elapsed() < SUGGESTIONS_FRESH)
                    .map(|(_, _, list)| list.clone())
            })
        };
        if let Some(list) = fresh() {
            return Ok(list);
        }
        // One computation at a time: callers that waited take its answer.
        let _one = self.suggesting.lock().await;
        if let Some(list) = fresh() {
            return Ok(list);
        }
        let counts = self
            .store
            .segment_counts(now - Duration::days(SUGGESTION_DAYS), now)
            .await?;
        let layouts = self.current().set.layouts.clone();
        let mut list = cortex_core::suggest::suggestions(&counts, &layouts, now);
        let rule_counts = self
            .store
            .rule_counts(now - Duration::days(SUGGESTION_DAYS), now)
            .await?;
        let rules: Vec<_> = self
            .current()
            .set
            .rules
            .iter()
            .filter(|r| r.is_active)
            .cloned()
            .collect();
        list.extend(cortex_core::suggest::rule_suggestions(
            &rule_counts,
            &rules,
            now,
        ));
        cortex_core::suggest::strongest_first(&mut list);
        if let Some(llm) = &self.llm {
            let known = cortex_core::suggest::known_counts(&counts, &layouts);
            match llm.propose(&layouts, &known).await {
                Ok(proposals) => {
                    for p in proposals {
                        match self.model_suggestion(p, now) {
                            Ok(s) => list.push(s),
                            Err(why) => {
                                metrics::counter!("cortex_llm_proposals_refused_total")
                                    .increment(1);
                                tracing::warn!(%why, "refused a rule the language model proposed");
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "the language model gave no suggestion"),
            }
        }
        if let Ok(mut held) = self.suggestions_cache.lock() {
            *held = Some((revision, std::time::Instant::now(), list.clone()));
        }
        Ok(list)
    }

    /// A model's proposal as a suggestion, if it is a rule that could be saved: parsed,
    /// validated like any save (fields, conditions, links, targets in the page's layout),
    /// bounded in size, and made a switched-off draft.
    fn model_suggestion(
        &self,
        p: crate::llm::Proposal,
        now: DateTime<Utc>,
    ) -> Result<Suggestion, String> {
        // The id is the model's proposal as it wrote it: the same proposal keeps its id (and
        // so what an editor did with it) however often the model is asked.
        let id = format!(
            "l-{}",
            cortex_core::suggest::stable_id(&["llm", &p.rule.to_string()])
        );
        let mut v = p.rule;
        let o = v.as_object_mut().ok_or("the rule is not a JSON object")?;
        // What decisions write is the engine's, never a proposal's.
        if let Some(x) = o.get_mut("experiment").and_then(|x| x.as_object_mut()) {
            for owned in ["winner", "stopped", "decisions", "reweights"] {
                x.remove(owned);
            }
        }
        o.insert("isActive".into(), false.into());
        o.insert("createdBy".into(), "cortex:llm".into());
        o.insert("timestamp".into(), serde_json::json!(now));
        o.insert("version".into(), 0.into());
        o.remove("rollbackPointer");
        let rule: cortex_core::mutation::LayoutMutation =
            serde_json::from_value(v).map_err(|e| format!("not a rule: {e}"))?;
        rule.validate().map_err(|e| e.to_string())?;
        super::check_against_layouts(&rule, &self.current().layouts).map_err(|e| e.to_string())?;
        let size = serde_json::to_vec(&rule)
            .map(|b| b.len())
            .unwrap_or(usize::MAX);
        if size > cortex_core::rules::MAX_RULE_BYTES {
            return Err(format!("the rule is {size} bytes"));
        }
        Ok(Suggestion {
            id,
            kind: "llm".into(),
            page: rule.page_slug.to_string(),
            title: format!(
                "A language model proposes `{}`: a {} rule on {}",
                rule.id,
                rule.mutation_type(),
                rule.page_slug
            ),
            why: if p.why.trim().is_empty() {
                "(the model gave no reason)".into()
            } else {
                p.why
            },
            evidence: None,
            conversion: None,
            draft: rule,
            state: None,
        })
    }

    /// The suggestion `id` as listed now, if nobody accepted or dismissed it yet: 404 when
    /// the engine no longer proposes it, 409 when it was decided.
    async fn open_suggestion(&self, id: &str, who: &Principal) -> Result<Suggestion, ApiError> {
        if id.is_empty() || id.len() > MAX_ID {
            return Err(ApiError::bad_request(format!(
                "id: a suggestion id, 1 to {MAX_ID} characters"
            )));
        }
        let s = self
            .suggestions(who, Utc::now())
            .await?
            .into_iter()
            .find(|s| s.id == id)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::NotFound,
                    format!("no suggestion `{id}` now: the numbers behind it changed; reload the suggestions"),
                )
            })?;
        if let Some(done) = &s.state {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!(
                    "suggestion `{id}` was {} by {} already",
                    done.state, done.actor
                ),
            ));
        }
        Ok(s)
    }

    /// Saves suggestion `id`'s draft as a new rule, switched off (audited as
    /// `layout-mutation.save`, then `suggestion.accept`). Editor.
    pub async fn accept_suggestion(
        &self,
        id: &str,
        who: &Principal,
    ) -> Result<RuleVersion, ApiError> {
        require_role(who, Role::Editor)?;
        let s = self.open_suggestion(id, who).await?;
        let mut draft = s.draft.clone();
        draft.is_active = false;
        let saved = self.save_rule(draft, Head::Absent, who).await?;
        let state = SuggestionState {
            id: s.id.clone(),
            state: "accepted".into(),
            actor: who.actor.clone(),
            at: crate::store::ms_precision(Utc::now()),
            rule_id: Some(saved.rule.id.to_string()),
        };
        let audit = AuditRecord::new(who.actor.as_str(), "suggestion.accept", String::new());
        self.store.set_suggestion_state(&state, audit).await?;
        Ok(saved)
    }

    /// Dismisses suggestion `id`: it stays listed as dismissed (audited as
    /// `suggestion.dismiss`). Editor.
    pub async fn dismiss_suggestion(
        &self,
        id: &str,
        who: &Principal,
    ) -> Result<SuggestionState, ApiError> {
        require_role(who, Role::Editor)?;
        let s = self.open_suggestion(id, who).await?;
        let state = SuggestionState {
            id: s.id,
            state: "dismissed".into(),
            actor: who.actor.clone(),
            at: crate::store::ms_precision(Utc::now()),
            rule_id: None,
        };
        let audit = AuditRecord::new(who.actor.as_str(), "suggestion.dismiss", String::new());
        if !self.store.set_suggestion_state(&state, audit).await? {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("suggestion `{id}` was decided by someone else a moment ago; reload"),
            ));
        }
        Ok(state)
    }
}
