//! Pure domain logic: no I/O, no clocks, unit-tested in place.

pub mod ids;
pub mod report;
pub mod username;
pub mod watch_paths;
