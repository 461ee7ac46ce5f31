//! Pure domain logic: no I/O, no clocks, unit-tested in place.

pub mod backup;
pub mod check;
pub mod coverage;
pub mod hygiene;
pub mod ids;
pub mod ledger;
pub mod location;
pub mod metrics;
pub mod model;
pub mod orgs;
pub mod plan;
pub mod policy;
pub mod report;
pub mod username;
pub mod watch_paths;
