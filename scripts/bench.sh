#!/usr/bin/env bash
# Benchmark (not a test): the Rust CLI beside a straightforward Python
# (boto3 + requests) implementation of the same per-WorkSpace flow
# (tools/bench_python.py), on this machine, in one invocation, against the
# same simulators (moto and the Code42 simulator on loopback). Prints one
# Markdown table:
#   (a) one creation event, cold process to result: wall time, peak RSS;
#   (b) verify of N WorkSpaces, USERS Code42 users and AGENTS agents at
#       LATENCY_MS per Code42 call: wall time, Code42 requests, 429s, RSS;
#   (c) a backfill with MOVES moves at LATENCY_MS per call under a simulator
#       limit of RATE requests/s: wall time against the bound the limit implies
#       ((requests - RATE) / RATE: the simulator's bucket starts full);
#   (d) the arm64 Lambda zip (from `sam build`; built first if absent);
#   (e) the ledger's cost: the (c) backfill without a limit, once without and
#       once with CODE42_LEDGER_TABLE (DynamoDB in moto): wall time and
#       DynamoDB calls per move; and the (b) verify with the table, whose
#       read-only WorkSpaces should cost no ledger call;
#   (f) verify of FLEET_N WorkSpaces over FLEET_ACCOUNTS accounts x
#       FLEET_REGIONS regions (each read through its member role; WorkSpaces
#       25 a page at WS_LATENCY_MS per call), FLEET_USERS Code42 users and
#       FLEET_AGENTS agents at LATENCY_MS: wall time, peak RSS, Code42 requests
#       and WorkSpaces calls against their bounds; Python reads in bulk too.
#
#   scripts/bench.sh                          # the sizes above: 10,000 / 20,000 / 12,000 / 1,000;
#                                             # (f) 100,000 in 20 x 3, 200,000 users, 120,000 agents
#   N=200 USERS=400 AGENTS=240 MOVES=20 scripts/bench.sh   # smaller
#   BIN=target/debug/workspaces-code42 SKIP_ZIP=1 ...     # (the suite's smoke run)
#   KEEP=/tmp/bench RUST_LOG=info ...                     # keep each run's output and log
#   SKIP_PYTHON=1 ...                                     # the Rust column only
#   ROWS=f ...                                            # only the rows named
set -euo pipefail

# The whole script is one function, read before it runs.
main() {
cd "$(dirname "$0")/.."
N=${N:-10000}
USERS=${USERS:-20000}
AGENTS=${AGENTS:-12000}
MOVES=${MOVES:-1000}
RATE=${RATE:-100}
LATENCY_MS=${LATENCY_MS:-50}
WORKERS=${WORKERS:-4}
ROWS=${ROWS:-abcdef}
FLEET_N=${FLEET_N:-100000}
FLEET_ACCOUNTS=${FLEET_ACCOUNTS:-20}
FLEET_REGIONS=${FLEET_REGIONS:-3}
FLEET_USERS=${FLEET_USERS:-200000}
FLEET_AGENTS=${FLEET_AGENTS:-120000}
WS_LATENCY_MS=${WS_LATENCY_MS:-20}
# Users per page in (f), both sides (the tool's default is the incydr SDK's 100).
FLEET_USERS_PAGE_SIZE=${FLEET_USERS_PAGE_SIZE:-500}
BIN=${BIN:-target/release/workspaces-code42}

scripts/setup.sh
if [[ $BIN == target/release/* ]]; then cargo build --locked --release --bin workspaces-code42 >&2; fi
source scripts/lib.sh

start MOTO moto tools/moto_launcher.py --port 0
export AWS_ENDPOINT_URL=$MOTO AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
echo "bench: seeding $N + $MOVES + 1 WorkSpaces in moto" >&2
.venv/bin/python - "$N" "$MOVES" > "$work/spec.json" <<'PY'
import json, sys
n, moves = int(sys.argv[1]), int(sys.argv[2])
print(json.dumps({"directories": [{"name": "bench.example.com"}, {"name": "moves.example.com"}, {"name": "event.example.com"}],
  "workspaces": [{"user": f"user{i:05d}", "os": "WINDOWS_10", "directory": 0} for i in range(n)]
              + [{"user": f"mv{i:05d}", "os": "WINDOWS_10", "directory": 1} for i in range(moves)]
              + [{"user": "ev00000", "os": "WINDOWS_11", "directory": 2}]}))
PY
.venv/bin/python tools/seed_aws.py --endpoint "$MOTO" "$work/spec.json" > "$work/seeded.json"

# The Code42 tenant: the verify fleet's users in the WorkSpaces org, each with
# an agent on their WorkSpace; the backfill's and the event's users elsewhere;
# other users and agents up to USERS and AGENTS; the org's setting compliant.
.venv/bin/python tools/bench_tenant.py --users "$USERS" --agents "$AGENTS" --in-org bench.example.com \
  "$work/seeded.json" > "$work/seed.json"
read -r DIR MOVES_DIR EVENT_DIR < <(.venv/bin/python -c 'import json,sys; print(*json.load(open(sys.argv[1]))["directories"])' "$work/seeded.json")
.venv/bin/python - "$work/seeded.json" "$EVENT_DIR" > "$work/event.json" <<'PY'
import json, sys
seeded, directory = json.load(open(sys.argv[1])), sys.argv[2]
event = json.load(open("events/create-workspaces.json"))
event["detail"]["responseElements"]["pendingRequests"] = [
    {"workspaceId": w["workspace_id"], "directoryId": w["directory_id"], "userName": w["user"],
     "state": "PENDING", "bundleId": "wsb-12345abcd"} for w in seeded["workspaces"] if w["directory_id"] == directory]
json.dump(event, sys.stdout)
PY

export CODE42_ORG=WorkSpaces RUST_LOG=${RUST_LOG:-error} CODE42_PLAN=professional WORKERS
n_secret=0
# tenant LATENCY RATE [SEED]: a fresh simulator (and its secret); sets SIM and CODE42_SECRET_ID.
tenant() {
  start SIM "sim-$n_secret" tools/code42_sim.py --port 0 --seed "${3:-$work/seed.json}"
  curl -s -X POST "$SIM/_sim/config" -d "{\"latency_ms\": $1, \"rate_limit_per_second\": $2}" > /dev/null
  n_secret=$((n_secret + 1))
  export CODE42_SECRET_ID="bench/$n_secret"
  echo "{\"secrets\": [{\"name\": \"$CODE42_SECRET_ID\", \"value\": {\"api_url\": \"$SIM\", \"api_client_id\": \"bench\", \"api_client_secret\": \"bench-secret\"}}]}" \
    | .venv/bin/python tools/seed_aws.py --endpoint "$MOTO" - > /dev/null
}
# measure NAME CMD...: run, record "wall_s rss_kib requests 429s dynamodb_calls
# workspaces_calls" in $work/NAME (exit codes 0 and 2 are results).
measure() {
  local name=$1; shift
  local code=0 dynamodb_before workspaces_before
  dynamodb_before=$(aws_calls DynamoDB_)
  workspaces_before=$(aws_calls WorkspacesService.)
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" > "$work/$name.out" 2> "$work/$name.err" || code=$?
  if (( code != 0 && code != 2 )); then
    echo "bench: $name failed (exit $code)" >&2; cat "$work/$name.err" >&2; exit 1
  fi
  local counters
  counters=$(curl -s "$SIM/_sim/counters" | .venv/bin/python -c 'import json,sys; c=json.load(sys.stdin); print(c["total"], c["rate_limited"])')
  echo "$(cat "$work/time") $counters $(( $(aws_calls DynamoDB_) - dynamodb_before ))" \
    "$(( $(aws_calls WorkspacesService.) - workspaces_before ))" > "$work/$name"
  if [[ -n ${KEEP:-} ]]; then mkdir -p "$KEEP" && cp "$work/$name.out" "$work/$name.err" "$KEEP/"; fi
}
py=(.venv/bin/python tools/bench_python.py)

row_a() {
echo "bench: (a) one creation event, cold process" >&2
tools=(rust); [[ -n ${SKIP_PYTHON:-} ]] || tools+=(python)
for tool in "${tools[@]}"; do
  tenant 0 0
  if [[ $tool == rust ]]; then measure a-rust "$BIN" invoke --event "$work/event.json"
  else measure a-python "${py[@]}" event "$work/event.json"; fi
  stop_last
done
}
row_b() {
echo "bench: (b) verify of $N WorkSpaces, $USERS users, $AGENTS agents, ${LATENCY_MS} ms per call" >&2
tenant "$LATENCY_MS" 0
measure b-rust "$BIN" verify --directory-id "$DIR" --output json --timeout 7200
stop_last
if [[ -z ${SKIP_PYTHON:-} ]]; then
  tenant "$LATENCY_MS" 0
  measure b-python "${py[@]}" verify --directory-id "$DIR"
  stop_last
fi
}
row_c() {
echo "bench: (c) backfill with $MOVES moves, ${LATENCY_MS} ms per call, simulator limit $RATE/s" >&2
tenant "$LATENCY_MS" "$RATE"
CODE42_MAX_RPS=$RATE measure c-rust "$BIN" backfill --directory-id "$MOVES_DIR" --max-moves "$MOVES" --output json --timeout 7200
stop_last
if [[ -z ${SKIP_PYTHON:-} ]]; then
  tenant "$LATENCY_MS" "$RATE"
  measure c-python "${py[@]}" backfill --directory-id "$MOVES_DIR"
  stop_last
fi
}
row_e() {
echo "bench: (e) the ledger: backfill with $MOVES moves without and with the table, verify of $N with it" >&2
create_ledger_table bench-ledger
tenant "$LATENCY_MS" 0
measure e-plain "$BIN" backfill --directory-id "$MOVES_DIR" --max-moves "$MOVES" --output json --timeout 7200
stop_last
tenant "$LATENCY_MS" 0
CODE42_LEDGER_TABLE=bench-ledger CODE42_MAX_MOVES_PER_HOUR=$MOVES \
  measure e-ledger "$BIN" backfill --directory-id "$MOVES_DIR" --max-moves "$MOVES" --output json --timeout 7200
stop_last
tenant "$LATENCY_MS" 0
CODE42_LEDGER_TABLE=bench-ledger measure e-verify "$BIN" verify --directory-id "$DIR" --output json --timeout 7200
stop_last
}
row_f() {
echo "bench: (f) verify of $FLEET_N WorkSpaces in $FLEET_ACCOUNTS accounts x $FLEET_REGIONS regions" >&2
# Each account x region: one directory and its share of the WorkSpaces,
# seeded through that account's role (moto keeps them apart), 4 at a time.
fleet_accounts=$(seq -f "2100000000%02g" 1 "$FLEET_ACCOUNTS" | paste -sd, -)
fleet_regions=$(echo eu-west-1,eu-west-2,eu-central-1,sa-east-1,ap-south-1 | cut -d, -f1-"$FLEET_REGIONS")
mkdir -p "$work/fleet"
.venv/bin/python - "$work/fleet" "$FLEET_N" "$fleet_accounts" "$fleet_regions" <<'PY'
import json, sys
out, n, accounts, regions = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(","), sys.argv[4].split(",")
locations = [(a, r) for a in accounts for r in regions]
for k, (account, region) in enumerate(locations):
    share = n // len(locations) + (1 if k < n % len(locations) else 0)
    json.dump({"account": account, "region": region, "directories": [{"name": "fleet.example.com"}],
               "workspaces": [{"user": f"f{k:03d}x{i:05d}", "os": "WINDOWS_10"} for i in range(share)]},
              open(f"{out}/spec-{k:03d}.json", "w"))
PY
find "$work/fleet" -name 'spec-*.json' -print0 \
  | xargs -0 -P 4 -I{} sh -c '.venv/bin/python tools/seed_aws.py --endpoint "$1" "$2" > "$2.out"' _ "$MOTO" {}
.venv/bin/python tools/bench_tenant.py --users "$FLEET_USERS" --agents "$FLEET_AGENTS" --in-org fleet.example.com \
  "$work"/fleet/spec-*.json.out > "$work/fleet-seed.json"
curl -s -X POST "$MOTO/_launcher/config" -d "{\"workspaces_latency_ms\": $WS_LATENCY_MS}" > /dev/null
fleet=(--accounts "$fleet_accounts" --regions "$fleet_regions")
tenant "$LATENCY_MS" 0 "$work/fleet-seed.json"
CODE42_USERS_PAGE_SIZE=$FLEET_USERS_PAGE_SIZE measure f-rust "$BIN" verify "${fleet[@]}" --output json --timeout 7200
stop_last
if [[ -z ${SKIP_PYTHON:-} ]]; then
  tenant "$LATENCY_MS" 0 "$work/fleet-seed.json"
  CODE42_ACCOUNTS=$fleet_accounts CODE42_REGIONS=$fleet_regions CODE42_USERS_PAGE_SIZE=$FLEET_USERS_PAGE_SIZE \
    measure f-python "${py[@]}" fleet-verify
  stop_last
fi
curl -s -X POST "$MOTO/_launcher/config" -d '{"workspaces_latency_ms": 0}' > /dev/null
}
row_d() {
if [[ -z ${SKIP_ZIP:-} ]]; then
  if [[ ! -f infra/.aws-sam/build/Function/bootstrap ]]; then
    scripts/setup.sh --sam
    ( cd infra && PATH="$PWD/../.venv-sam/bin:$PATH" SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 \
        ../.venv-sam/bin/sam build --template template.yaml >&2 )
  fi
  zip_size=$(.venv/bin/python - <<'PY'
import io, os, zipfile
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
    z.write("infra/.aws-sam/build/Function/bootstrap", "bootstrap")
print(f"{len(buf.getvalue()) / 1e6:.1f} MB (bootstrap {os.path.getsize('infra/.aws-sam/build/Function/bootstrap') / 1e6:.1f} MB)")
PY
)
fi
}
zip_size="(skipped)"
for row in $(grep -o . <<< "$ROWS"); do "row_$row"; done

.venv/bin/python - "$work" "$N" "$USERS" "$AGENTS" "$MOVES" "$RATE" "$LATENCY_MS" "$WORKERS" "$zip_size" \
  "$FLEET_N" "$FLEET_ACCOUNTS" "$FLEET_REGIONS" "$FLEET_USERS" "$FLEET_AGENTS" "$WS_LATENCY_MS" "$FLEET_USERS_PAGE_SIZE" <<'PY'
import json, sys
(work, n, users, agents, moves, rate, latency, workers, zip_size,
 fleet_n, fleet_accounts, fleet_regions, fleet_users, fleet_agents, ws_latency, users_page) = sys.argv[1:]
import math, os
def row(name):
    if not os.path.exists(f"{work}/{name}"):
        return math.nan, math.nan, 0, 0, 0, 0  # not run (SKIP_PYTHON)
    wall, rss, total, limited, dynamodb, workspaces = open(f"{work}/{name}").read().split()
    return float(wall), int(rss) / 1024, int(total), int(limited), int(dynamodb), int(workspaces)
def summary(name):
    try:
        text = open(f"{work}/{name}.out").read()
        doc = json.loads(text)
        s = doc.get("summary", doc)
        return ", ".join(f"{k} {s[k]}" for k in ("configured", "compliant", "drift", "deferred", "failed") if s.get(k))
    except (ValueError, OSError):
        return "-"
a_r, a_p, b_r, b_p, c_r, c_p = (row(x) for x in ("a-rust", "a-python", "b-rust", "b-python", "c-rust", "c-python"))
print(f"| scenario | Rust (`workspaces-code42`) | Python yardstick ({workers} threads) | Python ÷ Rust |")
print("|---|---|---|---|")
print(f"| (a) one creation event, cold process | {a_r[0]*1000:.0f} ms, {a_r[1]:.1f} MB peak RSS | {a_p[0]*1000:.0f} ms, {a_p[1]:.1f} MB | {a_p[0]/a_r[0]:.1f}× |")
print(f"| (b) verify {int(n):,} WorkSpaces ({int(users):,} users, {int(agents):,} agents, {latency} ms/call) | {b_r[0]:.1f} s, {b_r[2]:,} requests, {b_r[3]} × 429, {b_r[1]:.0f} MB; {summary('b-rust')} | {b_p[0]:.1f} s, {b_p[2]:,} requests, {b_p[3]} × 429, {b_p[1]:.0f} MB; {summary('b-python')} | {b_p[0]/b_r[0]:.1f}× |")
# The simulator's bucket starts full (RATE requests at once), then refills at RATE/s.
bound = lambda r: max(0.0, r[2] - float(rate)) / float(rate)
ratio = lambda r: f"{r[0] / bound(r):.2f}×" if bound(r) > 0 else "within the initial burst"
print(f"| (c) backfill, {int(moves):,} moves, {latency} ms/call, limit {rate}/s | {c_r[0]:.1f} s (bound {bound(c_r):.1f} s: {ratio(c_r)}), {c_r[2]:,} requests, {c_r[3]} × 429 ({100*c_r[3]/max(1,c_r[2]):.2f} %); {summary('c-rust')} | {c_p[0]:.1f} s (bound {bound(c_p):.1f} s), {c_p[2]:,} requests, {c_p[3]} × 429; {summary('c-python')} | {c_p[0]/c_r[0]:.1f}× |")
print(f"| (d) arm64 Lambda zip | {zip_size} | — | |")
# (f): Code42 pages at the sizes both sides ask for (users FLEET_USERS_PAGE_SIZE, agents 500);
# WorkSpaces: every location's pages of 25, its directory look-up.
f_r, f_p = row("f-rust"), row("f-python")
locations = int(fleet_accounts) * int(fleet_regions)
per_location = [int(fleet_n) // locations + (1 if k < int(fleet_n) % locations else 0) for k in range(locations)]
code42_bound = math.ceil(int(fleet_users) / int(users_page)) + math.ceil(int(fleet_agents) / 500) + 100
workspaces_bound = sum(max(1, math.ceil(c / 25)) for c in per_location) + locations + 100
def fleet(r, name):
    return (f"{r[0]:.1f} s, {r[1]:.0f} MB peak RSS, {r[2]:,} Code42 requests (bound {code42_bound:,}), "
            f"{r[5]:,} WorkSpaces calls (bound {workspaces_bound:,}); {summary(name)}")
print(f"| (f) verify {int(fleet_n):,} WorkSpaces in {fleet_accounts} accounts × {fleet_regions} regions "
      f"(WorkSpaces 25/page, {ws_latency} ms/call; Code42 {int(fleet_users):,} users {users_page}/page, {int(fleet_agents):,} agents 500/page, {latency} ms/call) "
      f"| {fleet(f_r, 'f-rust')} | {fleet(f_p, 'f-python')} | {f_p[0]/f_r[0]:.1f}× |")
e_plain, e_ledger, e_verify = row("e-plain"), row("e-ledger"), row("e-verify")
per_move = (e_ledger[0] - e_plain[0]) * 1000 / max(1, int(moves))
print()
print("| the ledger (DynamoDB in moto) | without the table | with the table | cost |")
print("|---|---|---|---|")
print(f"| (e) backfill, {int(moves):,} moves, {latency} ms/call, no limit | {e_plain[0]:.1f} s, {e_plain[4]} DynamoDB calls; {summary('e-plain')} "
      f"| {e_ledger[0]:.1f} s, {e_ledger[4]:,} DynamoDB calls; {summary('e-ledger')} "
      f"| {e_ledger[4] / max(1, int(moves)):.1f} DynamoDB calls and {per_move:+.1f} ms wall per move |")
print(f"| (e) verify {int(n):,} WorkSpaces (read-only) | {b_r[0]:.1f} s (b) | {e_verify[0]:.1f} s, {e_verify[4]} DynamoDB calls; {summary('e-verify')} "
      f"| {e_verify[4] / max(1, int(n)):.4f} DynamoDB calls per WorkSpace |")
PY
}
main "$@"
