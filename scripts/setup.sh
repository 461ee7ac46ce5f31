#!/usr/bin/env bash
# Create (or refresh) the project-local virtualenv .venv with the pinned
# emulators: moto[server] and boto3 (tools/requirements.txt). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
stamp=.venv/.requirements.sha256
want=$(sha256sum tools/requirements.txt | cut -d' ' -f1)
if [[ -x .venv/bin/python && -f $stamp && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
echo "setup: creating .venv with $(tr '\n' ' ' < tools/requirements.txt)" >&2
rm -rf .venv
"$PYTHON" -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -r tools/requirements.txt
echo "$want" > "$stamp"
