# Shared by demo.sh and bench.sh: start local servers, stop them on exit.
# Source it after `cd` to the repository root.

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# start VAR NAME SCRIPT ARGS...: run a tool that prints "LISTENING <url>",
# wait for that line, and set VAR to the url. (Not in a subshell, so the
# process is recorded for cleanup.)
start() {
  local var=$1 name=$2; shift 2
  .venv/bin/python "$@" > "$work/$name.out" 2> "$work/$name.log" &
  pids+=($!)
  for _ in $(seq 200); do
    if grep -q '^LISTENING ' "$work/$name.out" 2>/dev/null; then
      printf -v "$var" '%s' "$(awk '{print $2; exit}' "$work/$name.out")"
      return
    fi
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  cat "$work/$name.log" >&2
  echo "$name did not start" >&2
  exit 1
}

# stop_last: stop the most recently started tool.
stop_last() {
  kill "${pids[-1]}" 2>/dev/null || true
  wait "${pids[-1]}" 2>/dev/null || true
  unset 'pids[-1]'
}

# create_ledger_table NAME: the ledger table in moto, as the stack defines it
# (keys pk, sk; on-demand). Needs AWS_ENDPOINT_URL and AWS_REGION.
create_ledger_table() {
  .venv/bin/python - "$1" <<'PY'
import os, sys, boto3
boto3.client("dynamodb", region_name=os.environ["AWS_REGION"]).create_table(
    TableName=sys.argv[1], BillingMode="PAY_PER_REQUEST",
    AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in ("pk", "sk")],
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
PY
}

# aws_calls PREFIX: how many requests moto (tools/moto_launcher.py) has
# served whose operation starts with PREFIX (DynamoDB_, WorkspacesService.).
aws_calls() {
  curl -s "$AWS_ENDPOINT_URL/_launcher/calls" \
    | .venv/bin/python -c 'import json,sys; print(sum(c["count"] for c in json.load(sys.stdin) if c["operation"].startswith(sys.argv[1])))' "$1"
}
