//! The demo, in one place: the storefront a new hub shows at `/shop` ([`storefront`], seeded
//! into an empty database unless `CORTEX_DEMO_SHOP=false`), and a small fleet of neurons
//! (`cortex demo-neurons`, [`neurons`]).

pub mod neurons;
pub mod storefront;
