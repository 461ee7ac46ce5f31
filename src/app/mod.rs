//! The application layer: one WorkSpace (`workspace`), the org (`org`), a pass
//! over many (`reconcile`), the event handler (`handler`) and the fleet runs
//! (`fleet`), all generic over the ports and held together by `App`.

mod agents;
mod cache;
mod context;
mod doctor;
#[cfg(test)]
mod fakes;
mod fleet;
mod handler;
mod history;
mod ledger;
mod lifecycle;
mod org;
mod outcome;
mod reconcile;
mod returning;
mod snapshot;
mod terminate;
mod undo;
mod workspace;

pub use context::App;
pub use fleet::{FleetProgress, NoProgress};
pub use outcome::{FailureDocument, InvocationFailure, Output};
pub use undo::UndoRequest;

#[cfg(test)]
#[path = "app_tests.rs"]
mod tests;
