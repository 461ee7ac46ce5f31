#!/usr/bin/env bash
# Benchmark (not a test, not in CI): backfill simulated WorkSpaces against
# moto and the Code42 simulator with 50 ms latency per Code42 call, and print
# wall time, Code42 calls and peak memory of the CLI.
#
#   scripts/bench.sh                # 10,000 WorkSpaces; default concurrency;
#                                   # then with a simulator rate limit; then
#                                   # 1,000 sequentially (extrapolated)
#   N=2000 RATE=20 scripts/bench.sh # smaller / other limit
set -euo pipefail

# The whole script is one function, read before it runs: editing the file
# during a long run cannot change what runs.
main() {
cd "$(dirname "$0")/.."
N=${N:-10000}
SEQ_N=${SEQ_N:-1000}
RATE=${RATE:-100}
LATENCY_MS=${LATENCY_MS:-50}

scripts/setup.sh
cargo build --locked --release --bin workspaces-code42 >&2
source scripts/lib.sh

start MOTO moto tools/moto_launcher.py --port 0
export AWS_ENDPOINT_URL=$MOTO AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
.venv/bin/python - "$N" "$SEQ_N" > "$work/spec.json" <<'PY'
import json, sys
n, seq = int(sys.argv[1]), int(sys.argv[2])
print(json.dumps({"directories": [{"name": "bench.example.com"}, {"name": "seq.example.com"}],
  "workspaces": [{"user": f"user{i:05d}", "os": "WINDOWS_10", "directory": 0} for i in range(n)]
              + [{"user": f"seq{i:05d}", "os": "WINDOWS_10", "directory": 1} for i in range(seq)]}))
PY
echo "bench: seeding $N + $SEQ_N WorkSpaces in moto" >&2
seeded=$(.venv/bin/python tools/seed_aws.py --endpoint "$MOTO" "$work/spec.json")
read -r DIR SEQ_DIR < <(echo "$seeded" | .venv/bin/python -c 'import json,sys; d=json.load(sys.stdin)["directories"]; print(d[0], d[1])')

# A Code42 tenant where every user still has to be moved.
.venv/bin/python - "$N" "$SEQ_N" > "$work/seed.json" <<'PY'
import json, sys
n, seq = int(sys.argv[1]), int(sys.argv[2])
users = [{"userId": f"9{i:08d}", "username": f"user{i:05d}@bench.example.com", "orgGuid": "880000000000000002"} for i in range(n)]
users += [{"userId": f"8{i:08d}", "username": f"seq{i:05d}@seq.example.com", "orgGuid": "880000000000000002"} for i in range(seq)]
print(json.dumps({"clients": [{"id": "bench", "secret": "bench-secret"}],
  "orgs": [{"orgGuid": "880000000000000001", "orgName": "Acme", "legacyOrgId": 1001, "parentOrgGuid": None},
           {"orgGuid": "880000000000000002", "orgName": "Default", "legacyOrgId": 1002, "parentOrgGuid": "880000000000000001"},
           {"orgGuid": "880000000000000003", "orgName": "WorkSpaces", "legacyOrgId": 1003, "parentOrgGuid": "880000000000000001"}],
  "users": users}))
PY

run() { # label, rate limit, concurrency, directory
  local label=$1 rate=$2 concurrency=$3 dir=$4
  local sim secret
  start sim "sim-$label" tools/code42_sim.py --port 0 --seed "$work/seed.json"
  curl -s -X POST "$sim/_sim/config" -d "{\"latency_ms\": $LATENCY_MS, \"rate_limit_per_second\": $rate}" > /dev/null
  secret="bench/$label"
  echo "{\"secrets\": [{\"name\": \"$secret\", \"value\": {\"api_url\": \"$sim\", \"api_client_id\": \"bench\", \"api_client_secret\": \"bench-secret\"}}]}" \
    | .venv/bin/python tools/seed_aws.py --endpoint "$MOTO" - > /dev/null
  CODE42_SECRET_ID=$secret CODE42_ORG=WorkSpaces RUST_LOG=error \
    /usr/bin/time -f '%e %M' -o "$work/time" \
    target/release/workspaces-code42 backfill --directory-id "$dir" --max-moves 1000000 \
      --concurrency "$concurrency" --output json --timeout 7200 > "$work/out.json"
  read -r wall rss < "$work/time"
  local calls limited total
  calls=$(curl -s "$sim/_sim/counters" | .venv/bin/python -c 'import json,sys; c=json.load(sys.stdin); print(c["total"], c["rate_limited"])')
  total=$(.venv/bin/python -c 'import json,sys; s=json.load(open(sys.argv[1]))["summary"]; print(s["total"], s["configured"], s["failed"])' "$work/out.json")
  printf '%-28s wall %8.1f s  peak RSS %6d KiB  Code42 calls %-13s  WorkSpaces/configured/failed %s\n' \
    "$label" "$wall" "$rss" "$calls" "$total"
  stop_last
}

echo "bench: latency ${LATENCY_MS} ms per Code42 call; 'Code42 calls' = total and rate-limited (429)" >&2
run "default-concurrency-4" 0 4 "$DIR"
run "concurrency-16" 0 16 "$DIR"
run "rate-limit-${RATE}-per-s" "$RATE" 16 "$DIR"
run "sequential-$SEQ_N" 0 1 "$SEQ_DIR"
echo "bound implied by a ${RATE}/s limit: (calls) / ${RATE} seconds; sequential estimate for $N: wall x $N / $SEQ_N" >&2
}
main "$@"
