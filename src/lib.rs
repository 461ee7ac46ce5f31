//! workspaces-code42: keep Amazon WorkSpaces users in their Code42 org and
//! that org's file-activity watch paths (`:main`, `D:`) set and locked.
//!
//! Layout: `domain` (pure rules), `ports` (the I/O it needs, as traits),
//! `adapters` (AWS SDK, Code42 HTTP), `reconcile` (the flow), `handler` (the
//! entry point shared by the Lambda and the CLI).

pub mod adapters;
pub mod config;
pub mod domain;
pub mod error;
pub mod fleet;
pub mod handler;
pub mod input;
pub mod ports;
pub mod reconcile;
pub mod secret;
