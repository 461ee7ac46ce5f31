#!/usr/bin/env bash
# Run the main job locally, end to end: start moto (AWS) and the Code42
# simulator, seed a WorkSpaces directory, three WorkSpaces and the Code42
# secret, run the Lambda handler (the CLI's `invoke`) on a creation event,
# then show the result and the Code42 state; run it again to show that a
# second run writes nothing. Stops everything it started.
set -euo pipefail

# The whole script is one function, read before it runs: editing the file
# during a long run cannot change what runs.
main() {
cd "$(dirname "$0")/.."

scripts/setup.sh
echo "demo: building the release binary (first time: a few minutes)" >&2
cargo build --locked --release --bin workspaces-code42 >&2

source scripts/lib.sh
start MOTO moto tools/moto_launcher.py --port 0
start SIM code42 tools/code42_sim.py --port 0 --seed tools/demo/code42-seed.json
echo "demo: moto at $MOTO, Code42 simulator at $SIM" >&2

export AWS_ENDPOINT_URL=$MOTO AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_REGION=us-east-1
seeded=$(.venv/bin/python tools/seed_aws.py --endpoint "$MOTO" - <<JSON
{"directories": [{"name": "corp.example.com"}],
 "workspaces": [{"user": "asmith", "os": "WINDOWS_SERVER_2022"},
                {"user": "cwong", "os": "WINDOWS_11"},
                {"user": "dlinux", "os": "AMAZON_LINUX_2"}],
 "secrets": [{"name": "code42/workspaces", "value":
   {"api_url": "$SIM", "api_client_id": "key-demo", "api_client_secret": "demo-secret-not-real"}}]}
JSON
)
# The batch sample event, pointed at the WorkSpaces just created.
.venv/bin/python - "$seeded" > "$work/event.json" <<'PY'
import json, sys
seeded = json.loads(sys.argv[1])
event = json.load(open("events/create-workspaces-batch.json"))
event["detail"]["responseElements"]["pendingRequests"] = [
    {"workspaceId": w["workspace_id"], "directoryId": w["directory_id"], "userName": w["user"],
     "state": "PENDING", "bundleId": "wsb-12345abcd"} for w in seeded["workspaces"]]
json.dump(event, sys.stdout)
PY

# Each Windows WorkSpace's Code42 agent, as the app registers it (named after
# the WorkSpace's computer name), so the result shows them covered.
.venv/bin/python - "$seeded" "$SIM" <<'PY'
import json, sys, urllib.request
seeded, sim = json.loads(sys.argv[1]), sys.argv[2]
user_ids = {"asmith": "920000000000000011", "cwong": "920000000000000012"}
for n, w in enumerate(x for x in seeded["workspaces"] if x["user"] in user_ids):
    host = "WSAMZN-" + w["workspace_id"][3:].upper()
    agent = {"agentId": f"94000000000000001{n}", "userId": user_ids[w["user"]], "name": host,
             "osHostname": host, "appVersion": "1.6.0", "active": True}
    urllib.request.urlopen(urllib.request.Request(
        f"{sim}/_sim/agents", data=json.dumps(agent).encode(), method="POST",
        headers={"Content-Type": "application/json"})).read()
PY

create_ledger_table workspaces-code42-ledger

export CODE42_SECRET_ID=code42/workspaces CODE42_ORG=WorkSpaces RUST_LOG=${RUST_LOG:-warn}
export CODE42_LEDGER_TABLE=workspaces-code42-ledger
echo; echo "== 1st run: workspaces-code42 invoke --event events/create-workspaces-batch.json (ids from moto)"
start_ns=$(date +%s%N)
target/release/workspaces-code42 invoke --event "$work/event.json"
echo "(exit $?, $(( ($(date +%s%N) - start_ns) / 1000000 )) ms)"

echo; echo "== Code42 state afterwards (from the simulator)"
.venv/bin/python tools/demo/show_state.py "$SIM"

echo; echo "== 2nd run (a fresh process, same event): nothing left to change"
start_ns=$(date +%s%N)
target/release/workspaces-code42 invoke --event "$work/event.json" | .venv/bin/python -c '
import json, sys; r = json.load(sys.stdin); print("  org:", r["org"]["status"], "| summary:", r["summary"])'
echo "  ($(( ($(date +%s%N) - start_ns) / 1000000 )) ms)"
.venv/bin/python tools/demo/show_state.py "$SIM"

echo; echo "== workspaces-code42 history: every move, recorded before it was made (DynamoDB in moto)"
target/release/workspaces-code42 history
}
main "$@"
