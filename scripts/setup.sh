#!/usr/bin/env bash
# Install what the project's commands need, pinned, into project-local
# virtualenvs (idempotent; a virtualenv is rebuilt when its pins change):
#   .venv      moto[server], boto3, the SAM translator, pytest   (tools/requirements.txt)
#   .venv-iac  cfn-lint, checkov                                 (tools/requirements-iac.txt)
#   .venv-sam  SAM CLI, cargo-lambda (brings zig)                 (tools/requirements-sam.txt)
# and, with --sam, the aarch64 Rust target for the arm64 Lambda build.
# (checkov and the SAM CLI cannot share a virtualenv: their boto3 pins clash.)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

venv() { # dir requirements
  local dir=$1 req=$2 stamp=$1/.requirements.sha256 want
  want=$(sha256sum "$req" | cut -d' ' -f1)
  if [[ -x $dir/bin/python && -f $stamp && "$(cat "$stamp")" == "$want" ]]; then
    return
  fi
  echo "setup: creating $dir with $(tr '\n' ' ' < "$req")" >&2
  rm -rf "$dir"
  "$PYTHON" -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
}

venv .venv tools/requirements.txt
if [[ " $* " == *" --iac "* || " $* " == *" --sam "* ]]; then
  venv .venv-iac tools/requirements-iac.txt
  venv .venv-sam tools/requirements-sam.txt
fi
if [[ " $* " == *" --sam "* ]] && ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  echo "setup: adding the aarch64-unknown-linux-gnu Rust target (arm64 Lambda build)" >&2
  rustup target add aarch64-unknown-linux-gnu
fi
