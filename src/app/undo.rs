//! `undo --run RUN_ID`: move a run's moved users back to where they were,
//! from the ledger — only users still in the WorkSpaces org with no later
//! entry; planned first, capped, each move recorded, and the users held so
//! no later run moves them again until `undo --release RUN_ID`. Settings are
//! never undone: `history` shows their values before.

use std::collections::HashMap;

use tokio::time::Instant;

use crate::config::Mode;
use crate::domain::ledger::{EntryState, HistoryFilter, LedgerEntry, MOVE_USER};
use crate::domain::model::Code42User;
use crate::domain::report::{Action, Ending, InvocationReport, Status, Summary, WorkspaceReport};
use crate::error::InvocationError;
use crate::ports::{Code42, Code42Service, Ledger, WorkQueue, Workspaces};

use super::context::App;
use super::ledger::{RunLedger, Subject};
use super::outcome::{InvocationFailure, fail_if_any_failed};

/// What `undo` is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndoRequest {
    pub run_id: String,
    pub dry_run: bool,
    /// At most this many moves back; None: that run's moves.
    pub max_moves: Option<usize>,
}

/// One user to move back: the run's entry, the user now, and the move back
/// as planned (reported, `applied`, once made).
struct Planned {
    entry: LedgerEntry,
    user: Code42User,
    action: Action,
}

impl<W: Workspaces, C: Code42Service, Q: WorkQueue> App<W, C, Q> {
    pub async fn undo(
        &self,
        request: &UndoRequest,
        deadline: Instant,
    ) -> Result<InvocationReport, InvocationFailure> {
        let fail = |e: InvocationError| InvocationFailure::new(e, None);
        let ledger = self
            .ledger
            .as_deref()
            .ok_or(fail(InvocationError::NoLedger))?;
        if self.config.mode == Mode::Verify && !request.dry_run {
            return Err(fail(InvocationError::UndoInVerify));
        }
        let mut report = self.report("undo");
        let code42 = self.code42.session(deadline);
        let (moves, rows) = self
            .plan_undo(ledger, &code42, &request.run_id)
            .await
            .map_err(fail)?;
        let cap = request.max_moves.unwrap_or(moves);
        report.workspaces = rows.iter().map(|(_, row)| row.clone()).collect();
        let planned: Vec<&Planned> = rows.iter().filter_map(|(p, _)| p.as_ref()).collect();
        if planned.len() > cap {
            let error = InvocationError::TooManyMoves {
                would_move: planned.len(),
                max_moves: cap,
            };
            return Err(InvocationFailure::new(error, Some(report)));
        }
        report.note = Some(format!(
            "run {}: {moves} move(s) in the ledger, {} to move back",
            request.run_id,
            planned.len()
        ));
        if !request.dry_run {
            let run = RunLedger {
                ledger,
                run_id: &report.run_id.clone(),
            };
            let mut done = Vec::new();
            for (planned, row) in &rows {
                done.push(match planned {
                    Some(p) => {
                        let caller = self.caller.get().map(String::as_str);
                        move_back(&code42, run, p, &request.run_id, caller).await
                    }
                    None => row.clone(),
                });
            }
            report.workspaces = done;
        }
        report.summary = Summary::of(&report.workspaces);
        fail_if_any_failed(report)
    }

    /// Release the users held by the undo of `run_id`.
    pub async fn release(&self, run_id: &str) -> Result<InvocationReport, InvocationFailure> {
        let fail = |e: InvocationError| InvocationFailure::new(e, None);
        let ledger = self
            .ledger
            .as_deref()
            .ok_or(fail(InvocationError::NoLedger))?;
        let released = ledger
            .release(run_id)
            .await
            .map_err(|e| fail(InvocationError::LedgerUnreadable(e)))?;
        let mut report = self.report("undo --release");
        report.note = Some(format!(
            "{released} user(s) held by the undo of run {run_id} released: later runs may move them again"
        ));
        Ok(report)
    }

    /// The run's moves (`done`), each either planned back or skipped with why:
    /// (how many the run made, one row per move).
    async fn plan_undo(
        &self,
        ledger: &dyn Ledger,
        code42: &impl Code42,
        run_id: &str,
    ) -> Result<(usize, Vec<(Option<Planned>, WorkspaceReport)>), InvocationError> {
        let unreadable = InvocationError::LedgerUnreadable;
        let run = HistoryFilter {
            run: Some(run_id.to_string()),
            kind: Some(MOVE_USER.to_string()),
            ..HistoryFilter::default()
        };
        let moves: Vec<LedgerEntry> = ledger
            .entries(&run)
            .await
            .map_err(unreadable)?
            .into_iter()
            .filter(|e| e.state == EntryState::Done)
            .collect();
        let since = HistoryFilter {
            since: moves.first().map(|e| e.at.clone()),
            ..HistoryFilter::default()
        };
        let later = ledger.entries(&since).await.map_err(unreadable)?;
        let names: HashMap<String, String> = code42
            .list_orgs()
            .await?
            .into_iter()
            .map(|o| (o.org_guid, o.org_name))
            .collect();
        let mut rows = Vec::new();
        for entry in moves.iter().cloned() {
            rows.push(plan_one(code42, entry, &later, &names).await?);
        }
        Ok((moves.len(), rows))
    }
}

/// One of the run's moves: planned back, or skipped with why.
async fn plan_one(
    code42: &impl Code42,
    entry: LedgerEntry,
    later: &[LedgerEntry],
    names: &HashMap<String, String>,
) -> Result<(Option<Planned>, WorkspaceReport), InvocationError> {
    let username = entry.username.clone().unwrap_or_default();
    let mut row = WorkspaceReport::new(entry.workspace_id.as_deref(), Status::Failed);
    row.code42_username = Some(username.clone());
    let skip = |mut row: WorkspaceReport, reason: String| {
        row.end(Ending::Skipped { reason });
        Ok((None, row))
    };
    let changed = later.iter().find(|e| {
        e.id > entry.id
            && e.username
                .as_deref()
                .is_some_and(|u| u.eq_ignore_ascii_case(&username))
    });
    if let Some(e) = changed {
        return skip(
            row,
            format!(
                "changed since (ledger entry {} of run {}): not moved back",
                e.id, e.run_id
            ),
        );
    }
    let Some(user) = code42.find_user(&username).await? else {
        return skip(row, format!("{username} is no longer in Code42"));
    };
    let (Some(from), Some(to)) = (entry.after.clone(), entry.before.clone()) else {
        return skip(row, "the ledger entry names no orgs".into());
    };
    if user.org_guid != from {
        return skip(
            row,
            format!("{username} is no longer in the WorkSpaces org ({from}): not moved back"),
        );
    }
    let action = Action::MoveUser {
        user_id: user.user_id.clone(),
        username: user.username.clone(),
        from_org_guid: from.clone(),
        from_org_name: names.get(&from).cloned().unwrap_or_default(),
        to_org_guid: to.clone(),
        to_org_name: names.get(&to).cloned().unwrap_or_default(),
        applied: false,
        other_devices: Vec::new(),
    };
    row.actions.push(action.clone());
    let reason = format!("would move {username} back to org {to}");
    row.end(Ending::Drift {
        reason: Some(reason),
    });
    Ok((
        Some(Planned {
            entry,
            user,
            action,
        }),
        row,
    ))
}

/// Move one user back: recorded first, read back, then held.
async fn move_back(
    code42: &impl Code42,
    ledger: RunLedger<'_>,
    planned: &Planned,
    undone_run: &str,
    caller: Option<&str>,
) -> WorkspaceReport {
    let Planned {
        entry,
        user,
        action,
    } = planned;
    let (from, to) = (
        entry.after.clone().unwrap_or_default(),
        entry.before.clone().unwrap_or_default(),
    );
    let mut row = WorkspaceReport::new(entry.workspace_id.as_deref(), Status::Failed);
    row.code42_username = Some(user.username.clone());
    let origin = match caller {
        Some(arn) => format!("undo:{undone_run} (cli {arn})"),
        None => format!("undo:{undone_run}"),
    };
    let subject = Subject {
        username: Some(&user.username),
        workspace_id: entry.workspace_id.as_deref(),
        origin: &origin,
    };
    let recorded = match ledger
        .intent(MOVE_USER, subject, Some(from.clone()), Some(to.clone()))
        .await
    {
        Ok(recorded) => recorded,
        Err(e) => {
            row.end(Ending::failed(
                format!("the ledger could not be written ({e}); not moved back"),
                e.retryable,
            ));
            return row;
        }
    };
    let moved = match code42.move_user(&user.user_id, &to).await {
        Ok(()) => code42
            .get_user(&user.user_id)
            .await
            .map(|u| u.org_guid == to),
        Err(e) => Err(e),
    };
    let state = match &moved {
        Ok(true) => EntryState::Done,
        Ok(false) => EntryState::Unconfirmed,
        Err(_) => EntryState::Failed,
    };
    ledger
        .settle(
            &recorded,
            state,
            Some(&to)
                .filter(|_| state == EntryState::Done)
                .map(String::as_str),
        )
        .await;
    let mut action = action.clone();
    if let Action::MoveUser { applied, .. } = &mut action {
        *applied = moved.is_ok();
    }
    row.actions.push(action);
    let ending = hold_or_fail(ledger, user, &to, undone_run, moved).await;
    row.end(ending);
    row
}

/// A user moved back is held (no later run moves them again); else why it failed.
async fn hold_or_fail(
    ledger: RunLedger<'_>,
    user: &Code42User,
    to: &str,
    undone_run: &str,
    moved: Result<bool, crate::error::Code42Error>,
) -> Ending {
    let username = &user.username;
    match moved {
        Ok(true) => {
            if let Err(e) = ledger.ledger.hold(username, undone_run).await {
                let error = format!(
                    "moved back, but could not be held ({e}): a later run may move {username} again"
                );
                return Ending::failed(error, true);
            }
            tracing::warn!(%username, to_org_guid = %to, undone_run, "moved a user back (undo); held");
            let reason =
                format!("moved back to org {to}; held until `undo --release {undone_run}`");
            Ending::Configured {
                reason: Some(reason),
            }
        }
        Ok(false) => Ending::failed(
            format!("Code42 accepted the move back of {username} but the user is not in org {to}"),
            true,
        ),
        Err(e) => Ending::failed(&e, e.retryable()),
    }
}
