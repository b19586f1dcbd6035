//! Resolving a page for a visitor: the answer to `apply` (shared between visitors whose
//! rules decide alike, serialised once), and the page this hub renders itself. Whatever goes
//! wrong inside the engine, the caller gets a complete layout.

use chrono::{DateTime, Utc};
use cortex_core::context::Context;
use cortex_core::layout::Layout;
use cortex_core::rules::{Applied, ApplyRequest};
use cortex_core::ErrorCode;

use super::in_force::warnings_for;
use super::{in_page, InForce, Mutations};
use crate::error::ApiError;

impl Mutations {
    /// Resolves a page for a visitor. Unknown page: 404. A broken rule or a failure inside
    /// the engine never fails the call: the answer is the base layout with warnings.
    pub async fn apply(&self, req: &ApplyRequest, now: DateTime<Utc>) -> Result<Applied, ApiError> {
        let (mut applied, trace) = self.resolve(req, now).await?;
        if req.explain {
            applied.trace = Some(trace);
        }
        Ok(applied)
    }

    /// [`Mutations::apply`] for callers that may share an answer (not a browser, which
    /// gets its own receipt). Without `explain`, on a page's newest layout, the answer is the
    /// same for every visitor whose rules decide alike: it is serialised once per rule set
    /// and reused ([`Answer::Shared`]).
    pub async fn apply_shared(
        &self,
        req: &ApplyRequest,
        now: DateTime<Utc>,
    ) -> Result<Answer, ApiError> {
        let loaded = self.current();
        let newest = loaded
            .layout(&req.page_slug)
            .filter(|l| req.layout_version.is_none_or(|v| v == l.version));
        match newest {
            Some(base) if !req.explain => {
                shared_answer(&loaded, base, &req.context, &req.events, now)
            }
            _ => Ok(Answer::Own(Box::new(self.apply(req, now).await?))),
        }
    }

    /// Like [`Mutations::apply`] on the newest layout of `page_slug`, for a page this hub
    /// renders: also what the browser needs to apply the event-triggered rules itself, and
    /// what the page's receipt may allow (see [`in_page`]).
    pub fn apply_in_page(
        &self,
        page_slug: &str,
        context: &Context,
        now: DateTime<Utc>,
    ) -> Result<in_page::InPage, ApiError> {
        let loaded = self.current();
        let base = loaded.layout(page_slug).ok_or_else(|| {
            ApiError::new(
                ErrorCode::NotFound,
                format!("unknown page `{page_slug}`: it has no base layout"),
            )
        })?;
        Ok(in_page::resolve(&loaded, base, context, now))
    }

    /// Resolves a page: the answer (without trace) and the trace.
    async fn resolve(
        &self,
        req: &ApplyRequest,
        now: DateTime<Utc>,
    ) -> Result<(Applied, Vec<cortex_core::resolve::TraceEntry>), ApiError> {
        let loaded = self.current();
        let newest = loaded.layout(&req.page_slug);
        let pinned;
        let base = match (req.layout_version, newest) {
            (Some(v), Some(l)) if l.version != v => {
                pinned = self
                    .store
                    .layout(&req.page_slug, Some(v))
                    .await?
                    .ok_or_else(|| {
                        ApiError::new(
                            ErrorCode::NotFound,
                            format!("page `{}` has no layout version {v}", req.page_slug),
                        )
                    })?;
                &pinned
            }
            (_, Some(l)) => l,
            (_, None) => {
                return Err(ApiError::new(
                    ErrorCode::NotFound,
                    format!("unknown page `{}`: it has no base layout", req.page_slug),
                ))
            }
        };
        Ok(resolve_safely(
            &loaded,
            base,
            &req.context,
            &req.events,
            req.explain,
            now,
        ))
    }

    // ---- changes (each audited, each pushes the new rule set) ----
}

/// Resolves `base` for a visitor; whatever goes wrong inside, the caller gets a complete
/// layout (the base, with a warning).
pub fn resolve_safely(
    loaded: &InForce,
    base: &Layout,
    context: &Context,
    events: &[cortex_core::mutation::TriggerEvent],
    explain: bool,
    now: DateTime<Utc>,
) -> (Applied, Vec<cortex_core::resolve::TraceEntry>) {
    let mut warnings = warnings_for(loaded, base);
    let visitor = loaded.visitor(context, now);
    let resolved = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        loaded
            .plan
            .resolve_to_send(base, &visitor.visit(events, explain))
    }));
    let (layout, exposures, trace) = match resolved {
        Ok(r) => (r.layout, r.exposures, r.trace),
        Err(_) => {
            tracing::error!(page = %base.page_slug, "resolving layout mutations panicked; serving the base layout");
            warnings.push("the mutation engine failed; this is the base layout".into());
            (base.clone(), Vec::new(), Vec::new())
        }
    };
    (answer(loaded, base, layout, exposures, warnings), trace)
}

/// The answer for `base`'s page from the rule set `loaded`, without trace.
pub(super) fn answer(
    loaded: &InForce,
    base: &Layout,
    layout: Layout,
    exposures: Vec<cortex_core::resolve::Exposure>,
    warnings: Vec<String>,
) -> Applied {
    Applied {
        page_slug: base.page_slug.clone(),
        revision: loaded.set.revision,
        layout_version: base.version,
        layout,
        exposures,
        trace: None,
        warnings,
        receipt: None,
    }
}

/// What [`Mutations::apply_shared`] answers.
pub enum Answer {
    /// The answer of every visitor whose rules decide alike, serialised once and kept with
    /// the rule set in force.
    Shared(SharedJson),
    /// This visitor's own answer: with a trace, or on an older layout.
    Own(Box<Applied>),
}

/// An `apply` answer serialised as JSON once, shared by reference.
#[derive(Clone)]
pub struct SharedJson(bytes::Bytes);

impl SharedJson {
    /// `applied` serialised into one buffer of about its final size (a `Vec` grows from
    /// nothing; an answer is a few kilobytes).
    fn of(applied: &Applied) -> Result<Self, ApiError> {
        let mut buf = Vec::with_capacity(8 * 1024);
        serde_json::to_writer(&mut buf, applied).map_err(|e| {
            ApiError::new(ErrorCode::Internal, format!("answer not serialisable: {e}"))
        })?;
        Ok(Self(buf.into()))
    }

    /// The JSON (a cheap reference-counted copy).
    pub fn bytes(&self) -> bytes::Bytes {
        self.0.clone()
    }
}

/// The answer for `base`, the newest layout of its page, reused from
/// [`InForce::answers`] when a visitor with the same decisions was answered before. Falls
/// back to [`resolve_safely`] (which serves the base layout) if the engine panics.
fn shared_answer(
    loaded: &InForce,
    base: &Layout,
    context: &Context,
    events: &[cortex_core::mutation::TriggerEvent],
    now: DateTime<Utc>,
) -> Result<Answer, ApiError> {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    let safely = || {
        Ok(Answer::Own(Box::new(
            resolve_safely(loaded, base, context, events, false, now).0,
        )))
    };
    let visitor = loaded.visitor(context, now);
    let decided = catch_unwind(AssertUnwindSafe(|| {
        loaded.plan.decide(base, &visitor.visit(events, false))
    }));
    let Ok(decided) = decided else {
        return safely();
    };
    let key = decided.key();
    if let Some(json) = loaded.answers.get(&base.page_slug, &key) {
        return Ok(Answer::Shared(json));
    }
    let resolved = catch_unwind(AssertUnwindSafe(|| {
        loaded.plan.resolve_decided(base, decided, false)
    }));
    let Ok(resolved) = resolved else {
        return safely();
    };
    let warnings = warnings_for(loaded, base);
    let json = SharedJson::of(&answer(
        loaded,
        base,
        resolved.layout,
        resolved.exposures,
        warnings,
    ))?;
    loaded.answers.put(&base.page_slug, key, json.clone());
    Ok(Answer::Shared(json))
}
