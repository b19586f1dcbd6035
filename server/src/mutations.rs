//! The mutation service: keeps the rule set in force compiled in memory (and in an
//! atomically written snapshot file, so pages render while the database is away), resolves
//! pages for visitors, and validates, versions, rolls back and pushes rules.
//!
//! A page never fails because of a rule: a broken rule is skipped with a warning, and if
//! resolution fails for any reason the base layout is served.

mod cache;
mod changes;
mod decisions;
mod experiments;
mod guard;
mod history;
pub mod http;
mod in_force;
pub mod in_page;
mod list;
mod loading;
pub mod migration;
pub mod receipts;
mod report;
mod resolution;
pub mod sticky;
pub mod suggestions;

pub use history::diff_lines;
pub use in_force::{check_against_layouts, InForce};
pub use resolution::{resolve_safely, Answer, SharedJson};

use cortex_core::mutation::RuleError;
use cortex_core::rules::RuleSet;
use cortex_core::ErrorCode;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use crate::error::ApiError;
use crate::store::DynStore;

/// A new anonymous visitor id.
pub fn new_visitor_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The pairs of a query string (`a=1&b=2`, with or without the `?`).
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.trim_start_matches('?').as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The mutation service. Cheap to clone.
#[derive(Clone)]
pub struct Mutations {
    store: DynStore,
    loaded: Arc<RwLock<Arc<InForce>>>,
    snapshot: Option<PathBuf>,
    federation: Option<crate::federation::Federation>,
    /// One reload at a time (the loader's tick and a change's own reload): an older set is
    /// never installed over a newer one. It holds the revision last found missing from the
    /// database (said once, not every second).
    reloading: Arc<tokio::sync::Mutex<cortex_core::ids::Revision>>,
    /// Where automatic decisions and guard rollbacks are announced, if anywhere.
    webhook: Option<crate::webhook::Webhook>,
    /// The experiments page's last answer (see [`experiments::EXPERIMENTS_FRESH`]).
    experiments_cache: experiments::Cache,
    /// The suggestion engine's last answer (see [`suggestions::SUGGESTIONS_FRESH`]).
    suggestions_cache: suggestions::Cache,
    /// Experiments' visitor history, recently read (see [`report::HISTORY_FRESH`]).
    history_cache: report::HistoryCache,
    /// The language model the suggestion engine also asks, if any.
    llm: Option<crate::llm::Llm>,
    /// Held while the suggestions are computed (one computation at a time).
    suggesting: Arc<tokio::sync::Mutex<()>>,
}

/// Runs `job` every `every` while the database is ready; the first run is one interval
/// after the start, once the hub has loaded its rules.
async fn run_every<F, Fut>(health: crate::db_health::DbHealth, every: std::time::Duration, job: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        if health.is_ready() {
            job().await;
        }
    }
}

/// 404 for a rule id with no version.
fn no_rule(id: &str) -> ApiError {
    ApiError::new(ErrorCode::NotFound, format!("no rule with id `{id}`"))
}

fn bad_rule(e: RuleError) -> ApiError {
    ApiError::bad_request(e.to_string())
}

impl Mutations {
    /// A service over `store`; `snapshot` is the last-known-good file (none: memory only);
    /// `federation` pushes every rule-set change to the neurons.
    pub fn new(
        store: DynStore,
        snapshot: Option<PathBuf>,
        federation: Option<crate::federation::Federation>,
    ) -> Self {
        let this = Self {
            store,
            loaded: Arc::new(RwLock::new(Arc::new(InForce::new(RuleSet::default())))),
            snapshot,
            federation,
            reloading: Arc::default(),
            webhook: None,
            experiments_cache: Arc::default(),
            suggestions_cache: Arc::default(),
            history_cache: Arc::default(),
            llm: None,
            suggesting: Arc::default(),
        };
        this.load_snapshot();
        this
    }

    /// Asks `llm` for draft rules too when suggesting.
    pub fn with_llm(mut self, llm: Option<crate::llm::Llm>) -> Self {
        self.llm = llm;
        self
    }

    /// Announces automatic decisions and guard rollbacks to `webhook` as well.
    pub fn with_webhook(mut self, webhook: Option<crate::webhook::Webhook>) -> Self {
        self.webhook = webhook;
        self
    }

    /// The alert webhook, if there is one (its delivery loop runs beside the hub).
    pub fn webhook(&self) -> Option<&crate::webhook::Webhook> {
        self.webhook.as_ref()
    }

    /// Keeps `alert` for the dashboard and sends it to the webhook, if there is one.
    fn alert(&self, alert: crate::webhook::Alert) {
        crate::webhook::raise(&self.store, self.webhook.as_ref(), alert);
    }

    /// The rule set in force.
    pub fn current(&self) -> Arc<InForce> {
        self.loaded
            .read()
            .map(|l| l.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }
}
