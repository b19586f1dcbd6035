//! Loading the rule set: from the last-known-good snapshot file at start, then from the
//! database whenever it changes (written back to the snapshot), and what a neuron holding an
//! older revision needs to catch up.

use super::{InForce, Mutations};
use crate::db_health::DbHealth;
use crate::error::ApiError;
use crate::store::layouts::Head;
use crate::store::{Store, StoreResult};
use cortex_core::audit::AuditRecord;
use cortex_core::ids::Revision;
use cortex_core::rules::RuleSet;
use std::sync::Arc;

/// How often a hub looks for rule changes made elsewhere (another hub, the CLI).
const RELOAD_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl Mutations {
    fn install(&self, set: RuleSet) {
        let loaded = Arc::new(InForce::new(set));
        match self.loaded.write() {
            Ok(mut l) => *l = loaded,
            Err(p) => *p.into_inner() = loaded,
        }
    }

    /// Reads the last-known-good snapshot, if there is one.
    pub(super) fn load_snapshot(&self) {
        let Some(path) = &self.snapshot else { return };
        match std::fs::read(path) {
            Ok(bytes) => match serde_json::from_slice::<RuleSet>(&bytes) {
                Ok(set) => {
                    tracing::info!(
                        revision = %set.revision,
                        "layout rules loaded from the snapshot"
                    );
                    self.install(set);
                }
                Err(e) => {
                    tracing::warn!(error = %e, path = %path.display(), "layout snapshot unreadable; ignored")
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(error = %e, "layout snapshot unreadable; ignored"),
        }
    }

    /// Loads the rule set from the database if it changed; writes the snapshot. Returns the
    /// revision in force.
    pub async fn reload(&self) -> Result<Revision, ApiError> {
        let mut missing = self.reloading.lock().await;
        let current = self.current();
        let held = current.set.revision;
        let changes = self.store.rule_changes(held).await?;
        if changes.revision == held {
            return Ok(held);
        }
        if changes.revision == 0 {
            // Revisions only grow, so a database at 0 under a hub that held a later one was
            // replaced: keep serving the rule set held, and have the health watch check now
            // (it restores the whole control state, rules included, into the new database).
            if *missing != held {
                tracing::warn!(
                    %held,
                    "the database has no layout rules but this hub held a rule set: serving the held rules until the database is restored"
                );
                *missing = held;
            }
            crate::store::CHECK_NOW.notify_waiters();
            return Ok(held);
        }
        let set = self.store.rule_set().await?;
        let revision = set.revision;
        if let Some(path) = &self.snapshot {
            let bytes = serde_json::to_vec(&set).unwrap_or_default();
            if let Err(e) = crate::fsutil::write_private(path, &bytes) {
                tracing::warn!(error = %e, "could not write the layout snapshot");
            }
        }
        self.install(set);
        Ok(revision)
    }

    /// Keeps the rule set current: loads it when the database is ready and whenever it
    /// changes; stores the rule set `seed` makes (its layouts and rules, written by the
    /// actor it names) into an empty database once.
    pub async fn run_loader(self, health: DbHealth, seed: Option<(fn() -> RuleSet, &'static str)>) {
        let mut seeded = seed.is_none();
        // The migration check runs once the rule set is first loaded: a restore or a copy-to
        // may bring layouts and rules that disagree.
        let mut checked = false;
        let mut tick = tokio::time::interval(RELOAD_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if !health.is_ready() {
                continue;
            }
            // A hub that holds a rule set (from its snapshot) restores that into an empty
            // database instead of seeding.
            seeded |= self.current().set.revision > 0;
            if let (false, Some((set, actor))) = (seeded, &seed) {
                match seed_empty(self.store.as_ref(), &set(), actor).await {
                    Ok(()) => seeded = true,
                    Err(e) => tracing::warn!(error = %e, "could not seed the first rule set"),
                }
            }
            if let Err(e) = self.reload().await {
                tracing::warn!(error = %e, "could not load layout rules; serving the last ones");
                continue;
            }
            if !checked {
                checked = true;
                if let Err(e) = self.heal_all().await {
                    tracing::warn!(error = %e.message, "layout migration check failed at start");
                }
            }
        }
    }

    /// What a neuron holding revision `held` needs: nothing, a diff or the full set.
    pub async fn sync(&self, held: Revision) -> Result<cortex_core::rules::SyncAnswer, ApiError> {
        let changes = self.store.rule_changes(held).await?;
        let loaded = self.current();
        let full = if loaded.set.revision == changes.revision {
            loaded.set.clone()
        } else {
            self.store.rule_set().await?
        };
        Ok(cortex_core::rules::SyncAnswer::for_holder(
            held, changes, &full,
        ))
    }
}

/// Stores `set`'s layouts and rules (audited as written by `actor`) if the database has no
/// layout rules yet.
async fn seed_empty(store: &dyn Store, set: &RuleSet, actor: &str) -> StoreResult<()> {
    if store.rule_changes(Revision::NONE).await?.revision > 0 {
        return Ok(());
    }
    for layout in &set.layouts {
        let audit = AuditRecord::new(actor, "layout.save", String::new());
        store.put_layout(layout.clone(), None, audit).await?;
    }
    for rule in &set.rules {
        let audit = AuditRecord::new(actor, "layout-mutation.save", String::new());
        store
            .put_rule(rule.clone(), false, Head::Any, audit)
            .await?;
    }
    tracing::info!(
        layouts = set.layouts.len(),
        rules = set.rules.len(),
        "seeded the first rule set"
    );
    Ok(())
}
