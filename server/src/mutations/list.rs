//! The rule list: the newest version of each rule, with why it is skipped if it is broken,
//! filtered as the console asks.

use cortex_core::rules::{RuleFilter, RuleRow};
use cortex_core::user::Principal;
use cortex_core::Role;

use super::Mutations;
use crate::auth::require_role;
use crate::error::ApiError;

impl Mutations {
    /// The rules `filter` shows (deleted ones only when it asks for them). Viewer.
    pub async fn list_rules(
        &self,
        filter: &RuleFilter,
        who: &Principal,
    ) -> Result<Vec<RuleRow>, ApiError> {
        require_role(who, Role::Viewer)?;
        let heads = self.store.rule_heads().await?;
        let broken = &self.current().broken;
        Ok(heads
            .into_iter()
            .map(|v| RuleRow {
                broken: broken.get(&v.rule.id).cloned(),
                version: v,
            })
            .filter(|r| filter.matches(r))
            .collect())
    }
}
