//! Neuron federation: what neurons send when they join and heartbeat, what the hub keeps
//! about them, and the signature both sides compute. Shared by the hub, the SDK and the
//! browser bundle.
//!
//! - [`signing`]: the signed request and the hub's identity;
//! - [`registration`]: joining, neuron kinds and the join policy;
//! - [`fleet`]: neurons, their health and the fleet view;
//! - [`guard`]: when a change made its neurons worse (automatic rollback);
//! - [`overrides`]: one neuron's config pinned or overridden, until an expiry;
//! - [`bundles`]: scopes, audiences and pushed bundles;
//! - [`releases`]: what each kind should run, what neurons report, and the drift;
//! - [`review`]: stale pushes, scope policies and change requests;
//! - [`rollback`]: a scope's history and what rolling it back would change;
//! - [`rollouts`]: moving neurons to a release, staged, and each neuron's update;
//! - [`wire`]: the push channel's messages and commands;
//! - [`transitions`]: the status changes people may make;
//! - [`watch`]: what about the fleet is worth an alert.

pub mod bundles;
pub mod fleet;
pub mod guard;
pub mod overrides;
pub mod registration;
pub mod releases;
pub mod review;
pub mod rollback;
pub mod rollouts;
pub mod signing;
pub mod transitions;
pub mod watch;
pub mod wire;

pub use bundles::*;
pub use fleet::*;
pub use registration::*;
pub use releases::*;
pub use rollouts::*;
pub use signing::*;
pub use wire::*;
