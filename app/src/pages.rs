//! One file per page.

pub mod admin;
pub mod alerts;
pub mod audit;
pub mod browser_keys;
pub mod changes;
pub mod experiments;
pub mod federation;
pub mod fleet_ops;
pub mod home;
pub mod layout_mutations;
pub mod login;
pub mod migration;
pub mod overview;
pub mod preview;
pub mod releases;
pub mod rollouts;
pub mod rule;
pub mod rule_form;
pub mod scope;
pub mod setup;
pub mod shop;
pub mod status;
pub mod suggestions;
pub mod users;
