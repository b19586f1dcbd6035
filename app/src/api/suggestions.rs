//! The suggestions page's data and actions: draft rules the suggestion engine proposes from
//! the analytics, accepted (saved as a draft, switched off) or dismissed by an editor.

use crate::error::AppError;
pub use cortex_core::suggest::{Suggestion, SuggestionState};
use leptos::prelude::*;

/// The suggestions now, strongest evidence first, each with what an editor did with it.
/// Viewer.
#[server(name = ListSuggestions, prefix = "/api", endpoint = "suggestions", input = leptos::server_fn::codec::GetUrl)]
pub async fn list_suggestions() -> Result<Vec<Suggestion>, AppError> {
    let (services, who) = super::guard::require(cortex_core::Role::Viewer)?;
    Ok(services
        .mutations
        .suggestions(&who, chrono::Utc::now())
        .await?)
}

/// Saves suggestion `id`'s draft as a new rule, switched off (audited as
/// `layout-mutation.save` and `suggestion.accept`): switch it on from its page when ready.
/// 404 when the engine no longer proposes it, 409 when it was accepted or dismissed. Editor.
#[server(name = AcceptSuggestion, prefix = "/api", endpoint = "suggestions/accept")]
pub async fn accept_suggestion(id: String) -> Result<cortex_core::rules::RuleVersion, AppError> {
    let (services, who) = super::guard::require(cortex_core::Role::Editor)?;
    super::guard::require_writable(&services)?;
    let saved = services.mutations.accept_suggestion(&id, &who).await?;
    // Without JavaScript, the browser goes to the new draft's page.
    if super::guard::plain_form_post() {
        leptos_axum::redirect(&format!(
            "/admin/layout-mutations/{}?created=1",
            cortex_core::urls::encode_component(saved.rule.id.as_str())
        ));
    }
    Ok(saved)
}

/// Dismisses suggestion `id` (audited as `suggestion.dismiss`); it stays listed as
/// dismissed. 404 when the engine no longer proposes it, 409 when it was decided. Editor.
#[server(name = DismissSuggestion, prefix = "/api", endpoint = "suggestions/dismiss")]
pub async fn dismiss_suggestion(id: String) -> Result<SuggestionState, AppError> {
    let (services, who) = super::guard::require(cortex_core::Role::Editor)?;
    super::guard::require_writable(&services)?;
    Ok(services.mutations.dismiss_suggestion(&id, &who).await?)
}
