//! `history`: the ledger's entries, filtered (read-only).

use crate::domain::ledger::HistoryFilter;
use crate::error::InvocationError;
use crate::ports::{Code42Service, WorkQueue, Workspaces};

use super::context::App;
use super::outcome::InvocationFailure;
use crate::domain::report::InvocationReport;

impl<W: Workspaces, C: Code42Service, Q: WorkQueue> App<W, C, Q> {
    /// The entries `filter` admits, oldest first, under `entries`.
    pub async fn history(
        &self,
        filter: &HistoryFilter,
    ) -> Result<InvocationReport, InvocationFailure> {
        let Some(ledger) = &self.ledger else {
            return Err(InvocationFailure::new(InvocationError::NoLedger, None));
        };
        let entries = ledger
            .entries(filter)
            .await
            .map_err(|e| InvocationFailure::new(InvocationError::LedgerUnreadable(e), None))?;
        let mut report = self.report("history");
        report.note = Some(format!("{} ledger entr(ies)", entries.len()));
        report.entries = Some(entries);
        Ok(report)
    }
}
