//! The command line's arguments and subcommands (clap).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use workspaces_code42::domain::model::{FilterField, FleetFilter};
use workspaces_code42::domain::report::Status;
use workspaces_code42::render::OutputFormat;

/// Keep Amazon WorkSpaces users in their Code42 org, with the org's
/// file-activity watch paths (:main and D:) set and locked.
///
/// Configuration comes from the environment, exactly as for the Lambda:
/// CODE42_SECRET_ID, CODE42_ORG, CODE42_MODE (apply|verify) and the optional
/// settings listed in docs/configuration.md. AWS access uses the standard configuration
/// (AWS_PROFILE including SSO profiles, AWS_REGION, AWS_ENDPOINT_URL, ...).
///
/// Exit codes: 0 ok / compliant, 1 error, 2 drift or not covered (verify),
/// 64 usage error.
#[derive(Parser)]
#[command(name = "workspaces-code42", version, about, long_about)]
pub(crate) struct Cli {
    /// More log output (debug for this tool, warnings from the AWS SDK);
    /// RUST_LOG, when set, decides instead.
    #[arg(short, long, global = true)]
    pub(crate) verbose: bool,
    /// Run with the deployed function's settings (its environment: secret,
    /// org, mode, templates, protected orgs, plan, queue). Environment
    /// variables set here still win and are listed as overrides, except that
    /// a function in verify mode keeps the CLI in verify.
    #[arg(
        long,
        global = true,
        value_name = "NAME",
        env = "WORKSPACES_CODE42_FUNCTION"
    )]
    pub(crate) function_name: Option<String>,
    /// The AWS profile (as in the aws and sam CLIs).
    #[arg(long, global = true, value_name = "NAME", env = "AWS_PROFILE")]
    pub(crate) profile: Option<String>,
    /// The AWS region: the home of the AWS clients, and the default of --regions.
    #[arg(long, global = true, value_name = "REGION", env = "AWS_REGION")]
    pub(crate) region: Option<String>,
    /// The AWS accounts whose WorkSpaces are served (comma-separated ids, or
    /// `organization` for every active account; CODE42_ACCOUNTS). Accounts
    /// other than the credentials' own are read through the member role
    /// (CODE42_MEMBER_ROLE), which must trust you.
    #[arg(long, global = true, value_name = "IDS")]
    pub(crate) accounts: Option<String>,
    /// The regions whose WorkSpaces are served, in every account
    /// (comma-separated; CODE42_REGIONS). Default: --region.
    #[arg(long, global = true, value_name = "REGIONS")]
    pub(crate) regions: Option<String>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Run the Lambda handler locally on an event file and print its JSON result.
    ///
    /// Exits 0 when the handler succeeds and 1 when it fails (the Lambda
    /// would then be retried and dead-lettered); the JSON printed on failure
    /// has "error", "retryable" and the partial "result".
    Invoke {
        /// The event (JSON), or - for standard input.
        #[arg(long, value_name = "FILE")]
        event: PathBuf,
        /// Time budget, like the Lambda's timeout: retries and waits stop before it.
        #[arg(long, value_name = "SECONDS", default_value_t = 60)]
        timeout: u64,
    },
    /// Apply the flow to every existing WorkSpace (or those selected).
    ///
    /// Plans first with a read-only pass. Moving a user moves all of their
    /// devices, so if the plan would move more than --max-moves users nothing
    /// is moved (or queued) and the command says how many it would move.
    /// Exits 0 when done, 1 on errors (including too many moves).
    Backfill {
        #[command(flatten)]
        fleet: FleetArgs,
        /// Report what would change (including the exact setting value); change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Stop before the first move when more users than this would move
        /// [default: 25].
        #[arg(long, value_name = "N", env = "CODE42_MAX_MOVES")]
        max_moves: Option<usize>,
        /// Send the planned moves to the deployed function's work queue
        /// (--queue-url or WORK_QUEUE_URL) instead of moving locally.
        #[arg(long)]
        enqueue: bool,
        /// The work queue's URL (the stack output WorkQueueUrl).
        #[arg(long, value_name = "URL", requires = "enqueue", env = "WORK_QUEUE_URL")]
        queue_url: Option<String>,
    },
    /// Read-only audit of the WorkSpaces (or those selected) and the org setting.
    ///
    /// Exits 0 when everything is compliant; 2 when drift is found or a
    /// Windows WorkSpace's user is not in the WorkSpaces org (users not yet in
    /// Code42 count); 1 on errors. Suitable as a pipeline gate.
    Verify {
        #[command(flatten)]
        fleet: FleetArgs,
    },
    /// A read-only checklist of everything apply needs: AWS access, the
    /// secret, tokens, the org, the settings resource and key, the user-name
    /// template on sample users, guard-rail orgs, the plan. Each check says
    /// what it found and the exact fix. Writes nothing. Exits 0 when
    /// everything apply needs works (warnings allowed), 1 otherwise.
    Doctor {
        /// A checklist for people, or JSON.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
        /// Time budget.
        #[arg(long, value_name = "SECONDS", default_value_t = 120)]
        timeout: u64,
    },
    /// The agent hygiene report: each active agent of the WorkSpaces org's
    /// users, with its finding — current, duplicate (an older agent on the
    /// same WorkSpace host as a more recent one), orphan (on a host that
    /// looks like a WorkSpace, CODE42_WORKSPACE_HOST_PREFIXES, with no live
    /// WorkSpace in any served account and region) or other_device (a
    /// laptop: never cleaned up) — and the org's users without a WorkSpace.
    /// Read-only, unless --deactivate. Exits 0, 2 when it finds duplicates
    /// or orphans, 1 on errors (also when an account or region could not be
    /// listed).
    ///
    /// --deactivate orphans|duplicates cleans up within guards: apply mode
    /// (or --dry-run), at most --max-deactivations, only agents idle for
    /// --min-idle-days, never a user's most recently connected agent, legal
    /// hold skipped, on backup plans only with CODE42_DEACTIVATE_WITH_BACKUP,
    /// refused when any account or region could not be listed; one user's
    /// agents spaced apart; each deactivation in the ledger when there is one.
    Agents {
        /// Deactivate these (after the report's guards).
        #[arg(long, value_enum, value_name = "WHICH")]
        deactivate: Option<CleanupArg>,
        /// At most this many deactivations (its own cap, not the move budget).
        #[arg(long, value_name = "N", default_value_t = 10)]
        max_deactivations: usize,
        /// Only agents last connected at least this many days ago.
        #[arg(long, value_name = "DAYS", default_value_t = 30)]
        min_idle_days: u64,
        /// Move the WorkSpaces org's users without a live WorkSpace back to
        /// CODE42_RETURN_ORG (planned first; within --max-moves and the
        /// hourly move budget; refused when a location could not be listed).
        #[arg(long, conflicts_with = "deactivate")]
        return_users: bool,
        /// The cap on --return-users moves (default: CODE42_MAX_MOVES).
        #[arg(long, value_name = "N", requires = "return_users")]
        max_moves: Option<usize>,
        /// Show what --deactivate or --return-users would do; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// A table for people, JSON (under "agents" and "users_without_workspace") or CSV.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
        /// Time budget.
        #[arg(long, value_name = "SECONDS", default_value_t = 300)]
        timeout: u64,
    },
    /// The ledger: every move recorded before it was made, with its source
    /// and target org, state, run and origin (needs CODE42_LEDGER_TABLE or
    /// --function-name). Read-only. Exits 0, or 1 when the ledger cannot be read.
    History {
        /// Only entries of this Code42 username (case-insensitive).
        #[arg(long, value_name = "USERNAME")]
        user: Option<String>,
        /// Only entries of this WorkSpace.
        #[arg(long, value_name = "ID")]
        workspace_id: Option<String>,
        /// Only entries of this run (a report's run_id).
        #[arg(long, value_name = "RUN_ID")]
        run: Option<String>,
        /// Only entries of this kind (move_user, …).
        #[arg(long, value_name = "KIND")]
        kind: Option<String>,
        /// Only entries at or after this time (RFC 3339, e.g. 2026-12-01T00:00:00Z).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// A table for people, JSON (entries under "entries") or CSV.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
    /// Move a run's moved users back to the orgs they came from (from the
    /// ledger): only users still in the WorkSpaces org with no later ledger
    /// entry. Plans and prints first; --dry-run stops there. Refused in
    /// verify mode. Each move back is recorded, and the users are held (no
    /// later run moves them again) until `undo --release RUN_ID`. Settings
    /// are never undone: `history` shows their values before.
    /// Exits 0 when done, 1 on errors (including more moves than --max-moves).
    Undo {
        /// The run to undo (a report's run_id, as `history` shows it).
        #[arg(
            long,
            value_name = "RUN_ID",
            required_unless_present = "release",
            conflicts_with = "release"
        )]
        run: Option<String>,
        /// Release the users held by the undo of this run instead.
        #[arg(long, value_name = "RUN_ID")]
        release: Option<String>,
        /// Print the plan; move nobody.
        #[arg(long)]
        dry_run: bool,
        /// Stop before the first move back when more than this would move
        /// [default: the run's moves].
        #[arg(long, value_name = "N")]
        max_moves: Option<usize>,
        /// A table for people, JSON or CSV.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
    /// Print a shell completion script, e.g.
    /// `workspaces-code42 completions bash > /etc/bash_completion.d/workspaces-code42`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Args)]
pub(crate) struct FleetArgs {
    /// Only WorkSpaces in this directory (repeatable).
    #[arg(long = "directory-id", value_name = "ID")]
    pub(crate) directory_ids: Vec<String>,
    /// Only this WorkSpace (repeatable).
    #[arg(long = "workspace-id", value_name = "ID")]
    pub(crate) workspace_ids: Vec<String>,
    /// Only WorkSpaces of this WorkSpaces user name (case-insensitive).
    #[arg(long, value_name = "NAME")]
    pub(crate) user: Option<String>,
    /// How to print the result: a table for people, JSON or CSV for machines.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub(crate) output: OutputFormat,
    /// Show only WorkSpaces with this status (repeatable); the summary counts all.
    #[arg(long = "status", value_name = "STATUS",
          value_parser = clap::builder::PossibleValuesParser::new(Status::ALL.map(Status::as_str)))]
    pub(crate) statuses: Vec<String>,
    /// WorkSpaces checked at once, and the ceiling of Code42 requests in
    /// flight (which adapts below it) [default: 16].
    #[arg(long, value_name = "N", env = "CODE42_CONCURRENCY")]
    pub(crate) concurrency: Option<usize>,
    /// Time budget for the whole run.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    pub(crate) timeout: u64,
}

impl FleetArgs {
    pub(crate) fn filter(&self) -> anyhow::Result<FleetFilter> {
        FleetFilter::parse(
            &self.directory_ids,
            &self.workspace_ids,
            self.user.as_deref(),
        )
        .map_err(|e| {
            let flag = match e.field {
                FilterField::DirectoryIds => "--directory-id",
                FilterField::WorkspaceIds => "--workspace-id",
            };
            anyhow::anyhow!("{flag}: {e}")
        })
    }
}

/// What `agents --deactivate` cleans up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum CleanupArg {
    /// Agents on WorkSpace hosts with no live WorkSpace.
    Orphans,
    /// Older agents on the same WorkSpace host as a more recent one.
    Duplicates,
}

impl CleanupArg {
    pub(crate) fn cleanup(self) -> workspaces_code42::domain::hygiene::Cleanup {
        use workspaces_code42::domain::hygiene::Cleanup;
        match self {
            CleanupArg::Orphans => Cleanup::Orphans,
            CleanupArg::Duplicates => Cleanup::Duplicates,
        }
    }
}
