//! Targeting: who a rule applies to. Conditions use the MongoDB-style language of GrowthBook
//! and evaluate exactly as its reference SDK does.

pub mod condition;
pub mod js;
pub mod version;

pub use condition::{Condition, ConditionError, SavedGroups};
