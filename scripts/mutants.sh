#!/usr/bin/env bash
# Mutation testing of what users fear most: the decisions (src/domain/) and
# the payload parsing (src/input/), against the unit tests (--lib). Prints
# caught, missed and timed-out mutants and the score:
#   score = (caught + timed out + listed equivalents) / (caught + missed + timed out)
# A missed mutant that cannot change behaviour is listed, exactly as
# cargo-mutants names it, in scripts/mutants-equivalent.txt with the reason
# in a comment above it. Not part of .ci/run (a full run takes long on 2 cores).
#   scripts/mutants.sh                       # the whole set
#   scripts/mutants.sh --in-diff changes.diff  # only mutants in a diff
#   scripts/mutants.sh -f src/domain/orgs.rs   # one file (any cargo-mutants option)
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=27.1.0
BIN=.tools/bin/cargo-mutants
if ! [[ -x $BIN ]] || ! "$BIN" mutants --version | grep -qF "$VERSION"; then
  echo "mutants: installing cargo-mutants $VERSION into .tools/" >&2
  cargo install cargo-mutants --version "$VERSION" --locked --root .tools
fi
files=(--file 'src/domain/**/*.rs' --file 'src/input/**/*.rs')
for arg in "$@"; do [[ $arg == -f || $arg == --file ]] && files=(); done
started=$(date +%s)
# Exit code 2 means some mutants were missed: the summary below says which.
set +e
"$BIN" mutants "${files[@]}" --cargo-arg=--lib --timeout-multiplier 3 "$@"
code=$?
set -e
if [[ $code -ne 0 && $code -ne 2 && $code -ne 3 ]]; then exit "$code"; fi
count() { if [[ -f mutants.out/$1 ]]; then grep -c . "mutants.out/$1" || true; else echo 0; fi; }
caught=$(count caught.txt); missed=$(count missed.txt); timeout=$(count timeout.txt)
unviable=$(count unviable.txt)
listed=$(grep -vE '^[[:space:]]*(#|$)' scripts/mutants-equivalent.txt || true)
touch mutants.out/missed.txt
# Names are compared without their line:column, which move as files change.
split_missed() { # $1 = 1: the listed equivalents; 0: the others
  awk -v want="$1" 'NR == FNR { if ($0 != "") eq[$0] = 1; next }
    { name = $0; sub(/:[0-9]+:[0-9]+:/, ":", name); if ((name in eq) == want) print }' \
    <(printf '%s\n' "$listed") mutants.out/missed.txt
}
equivalent=$(split_missed 1 | grep -c . || true)
unexplained=$(split_missed 0)
echo
echo "missed (not listed as equivalent):"
if [[ -n $unexplained ]]; then printf '  %s\n' "$unexplained" | sed '2,$s/^/  /'; else echo "  none"; fi
viable=$((caught + missed + timeout))
printf '\nmutants: %s caught, %s missed (%s listed equivalent), %s timed out, %s unviable; %s s\n' \
  "$caught" "$missed" "$equivalent" "$timeout" "$unviable" "$(( $(date +%s) - started ))"
if [[ $viable -gt 0 ]]; then
  awk -v c="$caught" -v t="$timeout" -v e="$equivalent" -v v="$viable" \
    'BEGIN { printf "mutation score: %.1f %% ((%d + %d + %d) / %d)\n", 100 * (c + t + e) / v, c, t, e, v }'
fi
