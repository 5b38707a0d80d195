#!/usr/bin/env bash
# `buf breaking` against the previous commit (make lint, CI): a change to a proto that breaks its wire or
# its generated code fails. The typed-contracts refactor (issue 20) broke every contract once, on purpose;
# protos/BREAKING_BASELINE holds the commit from which the check applies (the refactor's merge). Until that
# file exists, or while HEAD~1 is older than that commit, this says so and checks nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
BUF=${BUF:-.tools/node_modules/.bin/buf}
BASELINE_FILE=protos/BREAKING_BASELINE

if [[ ! -f $BASELINE_FILE ]]; then
  echo "buf breaking: $BASELINE_FILE does not exist yet (no baseline after the typed-contracts refactor): nothing checked"
  exit 0
fi
baseline=$(tr -d '[:space:]' <"$BASELINE_FILE")
if ! git cat-file -e "${baseline}^{commit}" 2>/dev/null; then
  echo "buf breaking: $BASELINE_FILE names \"$baseline\", which is no commit of this repository" >&2
  exit 1
fi
if ! previous=$(git rev-parse -q --verify 'HEAD~1^{commit}'); then
  echo "buf breaking: no previous commit to compare with: nothing checked"
  exit 0
fi
if ! git merge-base --is-ancestor "$baseline" "$previous"; then
  echo "buf breaking: HEAD~1 ($previous) is older than the baseline $baseline: nothing checked"
  exit 0
fi
# The commit by its hash: in a git worktree `.git` is a file and HEAD names the main checkout's head.
exec "$BUF" breaking --against "$(git rev-parse --git-common-dir)#ref=$previous"
