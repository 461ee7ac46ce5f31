//! workspaces-code42: keep Amazon WorkSpaces users in their Code42 org and
//! that org's file-activity watch paths (`:main`, `D:`) set and locked.
//!
//! Layers, each importing only those above it:
//! - `domain`: pure rules and types (ids, the per-WorkSpace plan, org policies, reports);
//! - `error`, `config`, `secret`: typed errors, validated settings, the secret's contract;
//! - `ports`: the I/O the application needs, as traits;
//! - `input`: recognising events and payloads;
//! - `app`: the flow (WorkSpace → Code42 user → org → settings), the handler and fleet runs, generic over the ports;
//! - `adapters`: AWS SDK, Code42 HTTP and SQS implementations of the ports;
//! - `render`: the CLI's table and JSON output.

pub mod adapters;
pub mod app;
pub mod config;
pub mod domain;
pub mod error;
pub mod input;
pub mod ports;
pub mod render;
pub mod secret;
