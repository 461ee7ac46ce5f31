#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests, and integration tests
# over the wire against moto and the Code42 simulator (each test binary starts
# and stops its own emulators). Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
step() { printf '\n== %s\n' "$*" >&2; }

step "cargo fmt --check"
cargo fmt --all --check
step "cargo clippy"
cargo clippy --locked --all-targets -- -D warnings
step "python tools compile"
.venv/bin/python -m py_compile tools/*.py
step "cargo test (unit + integration)"
cargo test --locked --all-targets
