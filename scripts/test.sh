#!/usr/bin/env bash
# The whole test suite (what CI runs): formatting, lints, unit tests,
# integration tests over the wire against moto and the Code42 simulator (each
# test binary starts and stops its own emulators), the infrastructure checks
# (cfn-lint, checkov, sam validate, pattern and deployment tests against moto)
# and the arm64 `sam build`. Installs what it needs first (scripts/setup.sh).
#   SKIP_SAM_BUILD=1 scripts/test.sh   # everything but the (slow) arm64 build
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*" >&2; }
log=$(mktemp)
trap 'rm -f "$log" "$log.bench"' EXIT
if [[ -n "${SKIP_SAM_BUILD:-}" ]]; then scripts/setup.sh --iac; else scripts/setup.sh --sam; fi

step "cargo fmt --check"
cargo fmt --all --check
step "cargo clippy -D warnings"
cargo clippy --locked --all-targets -- -D warnings
step "python tools compile"
.venv/bin/python -m py_compile tools/*.py tools/demo/*.py tests/infra/*.py
step "cargo test (unit + integration)"
cargo test --locked --lib --tests 2>&1 | tee -a "$log"

step "benchmark script, small size (it runs and prints its table; the numbers are not checked)"
N=30 USERS=80 AGENTS=40 MOVES=10 LATENCY_MS=5 SKIP_ZIP=1 BIN=target/debug/workspaces-code42 \
  FLEET_N=40 FLEET_ACCOUNTS=2 FLEET_REGIONS=2 FLEET_USERS=80 FLEET_AGENTS=50 WS_LATENCY_MS=2 \
  scripts/bench.sh > "$log.bench"
cat "$log.bench"
if [[ $(grep -c '^| ([abcdef])' "$log.bench") -ne 7 ]]; then echo "bench.sh: table incomplete" >&2; exit 1; fi
# A smoke run, not a test: reported on its own line, not counted as passed.
echo "bench smoke run: all seven rows printed"

step "infra: cfn-lint"
.venv-iac/bin/cfn-lint infra/template.yaml infra/member.yaml
step "infra: checkov (offline)"
.venv-iac/bin/checkov --file infra/template.yaml --file infra/member.yaml --framework cloudformation --compact --quiet --skip-download
step "infra: sam validate --lint (offline, dummy credentials)"
( cd infra && SAM_CLI_TELEMETRY=0 AWS_ACCESS_KEY_ID=dummy AWS_SECRET_ACCESS_KEY=dummy AWS_DEFAULT_REGION=us-east-1 \
    ../.venv-sam/bin/sam validate --lint --template template.yaml )
step "infra: event patterns and deployment to moto (pytest)"
.venv/bin/python -m pytest -q -p no:cacheprovider tests/infra 2>&1 | tee -a "$log"

if [[ -z "${SKIP_SAM_BUILD:-}" ]]; then
  step "infra: sam build (arm64, cargo-lambda)"
  ( cd infra && PATH="$PWD/../.venv-sam/bin:$PATH" SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 \
      ../.venv-sam/bin/sam build --template template.yaml )
  .venv/bin/python tools/check_bootstrap.py infra/.aws-sam/build/Function/bootstrap
fi

# One closing line for the whole suite (every runner above stops the script on a failure).
passed=0
for n in $(grep -hoE '[0-9]+ passed' "$log" | grep -oE '[0-9]+'); do passed=$((passed + n)); done
printf '\nsuite: %s passed, 0 failed\n' "$passed"
