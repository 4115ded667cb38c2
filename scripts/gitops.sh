#!/usr/bin/env bash
# o2kit's pipeline as one script any CI can call (the GitHub workflows .github/workflows/o2kit.yml
# and o2kit-drift.yml and the Action action.yml only call this).
#
#   bash scripts/gitops.sh pr       o2kit test (once), then per environment: validate and
#                                   plan --markdown; the plans go to $O2KIT_OUT, the CI job summary
#                                   and (on GitHub) one pull-request comment
#   bash scripts/gitops.sh deploy   per environment: apply --auto-approve; a failed environment
#                                   does not stop the next one, but the script exits 1 at the end
#   bash scripts/gitops.sh drift    per environment: plan --markdown --detailed-exitcode against
#                                   the server; the report goes to $O2KIT_OUT/drift.md, the job
#                                   summary and (on GitHub) one issue, opened or updated while the
#                                   server differs from git and closed once it matches again.
#                                   Exit 0 in sync, 2 drift, 1 a failure
#   bash scripts/gitops.sh envs     print the environments the others would use
#
# Environments: $O2KIT_ENVS (names, space- or comma-separated), else every envs/*.yaml, else the
# base o2kit.yaml alone (shown as "-", and "-" in $O2KIT_ENVS means it). "all" in $O2KIT_ENVS
# means the default list.
#
# Settings (all optional except the server ones for plan/deploy):
#   OPENOBSERVE_URL, OPENOBSERVE_USER, OPENOBSERVE_PASSWORD   the server; a variable suffixed with
#       the environment's name in upper case ('-' → '_'), e.g. OPENOBSERVE_PASSWORD_PROD, wins for
#       that environment. Secrets the project references (${env:SLACK_WEBHOOK_URL}) as usual.
#   OPENOBSERVE_ORG      refused with more than one environment (each envs/NAME.yaml names its org)
#   O2KIT_PROJECT        repository root (default: the repository holding this script)
#   O2KIT_OUT            where plan-<env>.md, apply-<env>.log and comment.md go
#                        (default: $O2KIT_PROJECT/build/gitops)
#   O2KIT_SKIP_INSTALL=1 use the o2kit already on PATH instead of scripts/_venv.sh
#   O2KIT_OFFLINE=1      pr: validate and test only, no server (e.g. a pull request from a fork,
#                        which gets no secrets)
#   O2KIT_TESTS_DIR      pr: run `o2kit test` only when this folder exists (default alert-tests).
#                        It runs once, with o2kit.yaml alone: alert tests state the thresholds
#                        they were written for, and an overlay may change them (envs/staging.yaml
#                        lowers throttle_threshold), so per environment they would fail.
#   O2KIT_PLAN_ARGS, O2KIT_APPLY_ARGS   extra flags, e.g. "--prune" (word-split)
#   O2KIT_BACKTEST=0     pr: no backtest. Otherwise, per environment whose plan ran, the alerts
#                        the plan creates or updates are backtested on that server's data
#                        (`o2kit test --backtest --changed`) and the comment says how often each
#                        would have fired; best effort: when it cannot run, one line says so
#   O2KIT_BACKTEST_SINCE pr: how far back (default 7d)
#   GITHUB_STEP_SUMMARY  when set (GitHub Actions), results are appended to the job summary
#   O2KIT_COMMENT=0      never post a pull-request comment
#   GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_API_URL, O2KIT_PR_NUMBER (else read from
#       GITHUB_EVENT_PATH), O2KIT_COMMIT   for the pull-request comment
#   O2KIT_ISSUE=0        drift: never open, update or close the drift issue (GITHUB_TOKEN with
#                        issues: write, GITHUB_REPOSITORY, GITHUB_API_URL as for the comment)
#
# Exit status: 0 when every step of every environment succeeded (a plan with changes is a
# success), 1 otherwise, 64 for a usage error.
set -euo pipefail

MARKER='<!-- o2kit-plan -->'
DRIFT_MARKER='<!-- o2kit-drift -->'
# GitHub refuses comments over 65,536 characters and job summaries over 1 MiB per step.
COMMENT_LIMIT=60000
SUMMARY_LIMIT=900000

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$script_dir/.." && pwd)"
project="$(cd "${O2KIT_PROJECT:-$repo_root}" && pwd)"
out_dir="${O2KIT_OUT:-$project/build/gitops}"
# --env is always passed explicitly; an inherited O2KIT_ENV would redirect the base config.
unset O2KIT_ENV

on_github() { [ "${GITHUB_ACTIONS:-}" = "true" ]; }
group() { if on_github; then echo "::group::$*"; else echo "== $*"; fi; }
endgroup() { if on_github; then echo "::endgroup::"; fi; }
annotate() {  # annotate error|warning MESSAGE
  if on_github; then echo "::$1 title=o2kit::$2"; else echo "$1: $2" >&2; fi
}
summary() {  # append stdin to the CI job summary, if there is one
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then cat >> "$GITHUB_STEP_SUMMARY"; else cat > /dev/null; fi
}

usage() {
  awk 'NR > 1 && /^# Settings/ { exit } NR > 1' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 64
}

install() {
  if [ "${O2KIT_SKIP_INSTALL:-}" = "1" ]; then
    command -v o2kit > /dev/null || { echo "O2KIT_SKIP_INSTALL=1 but no o2kit on PATH" >&2; exit 1; }
  else
    # Creates .venv and installs o2kit on first use or when pyproject.toml changed; puts it on PATH.
    # shellcheck source=scripts/_venv.sh
    source "$script_dir/_venv.sh"
  fi
}

list_envs() {  # one name per line; an empty line means "the base config"
  local requested="${O2KIT_ENVS:-all}" names=() f
  requested="${requested//,/ }"
  if [ -n "${requested// /}" ] && [ "$(echo $requested)" != "all" ]; then
    # "-" is the base config alone, as `envs` prints it (one CI job per name it printed).
    # shellcheck disable=SC2086 # word splitting is the point
    printf '%s\n' $requested | sed 's/^-$//'
    return
  fi
  if [ -d "$project/envs" ]; then
    for f in "$project"/envs/*.yaml; do
      if [ -e "$f" ]; then names+=("$(basename "$f" .yaml)"); fi
    done
  fi
  if [ "${#names[@]}" -eq 0 ]; then echo ""; else printf '%s\n' "${names[@]}" | sort; fi
}

label() { printf '%s' "${1:--}"; }
file_label() { printf '%s' "${1:-base}"; }

pick() {  # pick NAME ENV: $NAME_<ENV> when set, else $NAME
  local name="$1" env="$2" specific
  if [ -n "$env" ]; then
    specific="${name}_$(printf '%s' "$env" | tr '[:lower:]-' '[:upper:]_')"
    if [ -n "${!specific:-}" ]; then printf '%s' "${!specific}"; return; fi
  fi
  printf '%s' "${!name:-}"
}

o2() {  # o2 ENV ARGS...: o2kit for one environment, with that environment's server settings
  local env="$1"; shift
  local env_flag=()
  if [ -n "$env" ]; then env_flag=(--env "$env"); fi
  OPENOBSERVE_URL="$(pick OPENOBSERVE_URL "$env")" \
  OPENOBSERVE_USER="$(pick OPENOBSERVE_USER "$env")" \
  OPENOBSERVE_PASSWORD="$(pick OPENOBSERVE_PASSWORD "$env")" \
    o2kit --project "$project" --no-color "${env_flag[@]}" "$@"
}

load_envs() {
  mapfile -t envs < <(list_envs)
  if [ -n "${OPENOBSERVE_ORG:-}" ] && [ "${#envs[@]}" -gt 1 ]; then
    annotate error "OPENOBSERVE_ORG=$OPENOBSERVE_ORG would send every environment to one organisation; unset it (each envs/NAME.yaml names its org)"
    exit 1
  fi
  mkdir -p "$out_dir"
}

has_test_command() { o2kit test --help > /dev/null 2>&1; }

strip_marker() { grep -vxF "$MARKER" "$1" || true; }

# --- the pull-request comment (GitHub only; everything else works without it) ------------------

pr_number() {
  if [ -n "${O2KIT_PR_NUMBER:-}" ]; then echo "$O2KIT_PR_NUMBER"; return; fi
  if [ -z "${GITHUB_EVENT_PATH:-}" ] || [ ! -f "$GITHUB_EVENT_PATH" ]; then return 0; fi
  python3 -c 'import json,sys; e=json.load(open(sys.argv[1])); print((e.get("pull_request") or {}).get("number") or "")' \
    "$GITHUB_EVENT_PATH"
}

# What the GitHub REST calls below share (standard library only): api, repo and
# call(method, url, payload), with the token from GITHUB_TOKEN.
read -r -d '' GITHUB_PY <<'PY' || true
import json, os, sys, urllib.error, urllib.request

api = os.environ.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
repo = os.environ["GITHUB_REPOSITORY"]
headers = {
    "Authorization": f"Bearer {os.environ['GITHUB_TOKEN']}",
    "Accept": "application/vnd.github+json",
    "X-GitHub-Api-Version": "2022-11-28",
    "User-Agent": "o2kit-gitops",
}

def call(method, url, payload=None):
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={
        **headers, **({"Content-Type": "application/json"} if data else {})})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)
PY

github_py() {  # github_py SCRIPT ARGS...: run the Python SCRIPT after the shared prelude
  local script="$1"
  shift
  python3 -c "$GITHUB_PY"$'\n'"$script" "$@"
}

upsert_pr_comment() {  # upsert_pr_comment BODY_FILE: create the marked comment, or update it
  local body_file="$1" number
  if [ "${O2KIT_COMMENT:-1}" = "0" ]; then echo "O2KIT_COMMENT=0: pull-request comment skipped"; return 0; fi
  number="$(pr_number)"
  if [ -z "${GITHUB_TOKEN:-}" ] || [ -z "${GITHUB_REPOSITORY:-}" ] || [ -z "$number" ]; then
    echo "Not a GitHub pull request with GITHUB_TOKEN: pull-request comment skipped"
    return 0
  fi
  # The existing comment is the first one whose body starts with the marker (a reply quoting it
  # starts with "> "), so each run edits it instead of adding another. Standard library only.
  github_py "$(cat <<'PY'
number, body_file, marker = sys.argv[1:4]
with open(body_file, encoding="utf-8") as f:
    body = f.read()
try:
    found, page = None, 1
    while found is None:
        batch = call("GET", f"{api}/repos/{repo}/issues/{number}/comments?per_page=100&page={page}")
        found = next((c for c in batch if (c.get("body") or "").startswith(marker)), None)
        if len(batch) < 100:
            break
        page += 1
    if found:
        done = call("PATCH", f"{api}/repos/{repo}/issues/comments/{found['id']}", {"body": body})
        print(f"Updated the plan comment: {done.get('html_url', found['id'])}")
    else:
        done = call("POST", f"{api}/repos/{repo}/issues/{number}/comments", {"body": body})
        print(f"Posted the plan comment: {done.get('html_url', '')}")
except (urllib.error.URLError, OSError, ValueError) as exc:
    detail = exc.read().decode(errors="replace")[:300] if isinstance(exc, urllib.error.HTTPError) else ""
    print(f"could not post the pull-request comment: {exc} {detail}".strip(), file=sys.stderr)
    sys.exit(1)
PY
)" "$number" "$body_file" "$MARKER"
}

# --- pr ------------------------------------------------------------------------------------------

backtest_env() {  # backtest_env ENV: how often the alerts this plan changes would have fired
  local env="$1" lbl flab file rc=0
  lbl="$(label "$env")"; flab="$(file_label "$env")"; file="$out_dir/backtest-$flab.md"
  rm -f "$file"
  if [ "${O2KIT_BACKTEST:-1}" = "0" ]; then return 0; fi
  if ! has_test_command; then
    echo "_Backtest ($lbl): not run, this o2kit has no \`test\` command._" > "$file"
    return 0
  fi
  group "backtest ($lbl)"
  o2 "$env" test --backtest --remote --changed --since "${O2KIT_BACKTEST_SINCE:-7d}" --markdown \
    > "$file.tmp" || rc=$?
  endgroup
  if [ "$rc" -eq 0 ] && [ -s "$file.tmp" ]; then
    mv "$file.tmp" "$file"
  else
    rm -f "$file.tmp"
    echo "_Backtest ($lbl): could not run (exit $rc; the job log says why)._" > "$file"
    annotate warning "the backtest could not run for environment $lbl (the plan is unaffected)"
  fi
}

cmd_pr() {
  install
  load_envs
  local failed=0 env lbl flab rc result_rows="" test_state="skipped" plan_state
  local offline="${O2KIT_OFFLINE:-}"
  local tests_dir="${O2KIT_TESTS_DIR:-alert-tests}"
  if ! has_test_command; then
    test_state="skipped (this o2kit has no test command)"
    echo "o2kit has no 'test' command in this version: test step skipped"
  elif [ ! -d "$project/$tests_dir" ]; then
    test_state="skipped (no $tests_dir/)"
    echo "no alert tests in $tests_dir/: test step skipped"
  else
    group "test (o2kit.yaml)"
    rc=0; o2 "" test || rc=$?
    endgroup
    if [ "$rc" -eq 0 ]; then test_state="✓ passed"; else
      test_state="✗ failed"; failed=1; annotate error "o2kit test failed (the log above says which)"
    fi
  fi
  local plan_args=()
  # shellcheck disable=SC2206 # extra flags are word-split on purpose
  if [ -n "${O2KIT_PLAN_ARGS:-}" ]; then plan_args=(${O2KIT_PLAN_ARGS}); fi

  for env in "${envs[@]}"; do
    lbl="$(label "$env")"; flab="$(file_label "$env")"
    rm -f "$out_dir/plan-$flab.md" "$out_dir/backtest-$flab.md"

    group "validate ($lbl)"
    rc=0; o2 "$env" validate || rc=$?
    endgroup
    if [ "$rc" -ne 0 ]; then
      annotate error "validate failed for environment $lbl"
      failed=1
      result_rows+="| $lbl | ✗ failed | – |"$'\n'
      continue
    fi

    if [ -n "$offline" ]; then
      plan_state="skipped (offline)"
    else
      group "plan ($lbl)"
      rc=0
      o2 "$env" plan --markdown --detailed-exitcode "${plan_args[@]}" \
        > "$out_dir/plan-$flab.md" || rc=$?
      cat "$out_dir/plan-$flab.md"
      endgroup
      case "$rc" in
        0) plan_state="no changes" ;;
        2) plan_state="changes" ;;
        *) plan_state="✗ failed"; failed=1; rm -f "$out_dir/plan-$flab.md"
           annotate error "plan failed for environment $lbl (the log above says why)" ;;
      esac
      if [ "$rc" -eq 2 ]; then backtest_env "$env"; fi
    fi
    result_rows+="| $lbl | ✓ | $plan_state |"$'\n'
  done

  # One document for the job summary and the comment: results table, then each plan.
  local report="$out_dir/comment.md" head="$out_dir/comment-head.md"
  {
    echo "$MARKER"
    echo "## o2kit: pull-request check"
    echo
    echo "Alert tests (\`o2kit test\`, o2kit.yaml): $test_state"
    echo
    echo "| environment | validate | plan |"
    echo "|---|---|---|"
    printf '%s' "$result_rows"
    echo
    if [ "$failed" != 0 ]; then echo "**Something failed: see the job log.**"; echo; fi
    if [ -n "$offline" ]; then
      echo "_Plan skipped: no server access for this run (O2KIT_OFFLINE)._"; echo
    fi
    if [ -n "${O2KIT_COMMIT:-}" ]; then printf '_Planned at %s._\n' "${O2KIT_COMMIT:0:12}"; fi
  } > "$head"
  {
    cat "$head"
    for env in "${envs[@]}"; do
      flab="$(file_label "$env")"
      if [ -f "$out_dir/plan-$flab.md" ]; then echo; strip_marker "$out_dir/plan-$flab.md"; fi
      if [ -f "$out_dir/backtest-$flab.md" ]; then echo; strip_marker "$out_dir/backtest-$flab.md"; fi
    done
  } > "$report"

  if [ "$(wc -c < "$report")" -le "$SUMMARY_LIMIT" ]; then
    summary < "$report"
  else
    { cat "$head"; echo; echo "The plans are too long for the job summary: see $out_dir."; } \
      | summary
  fi

  if [ -z "$offline" ]; then
    local comment="$report"
    if [ "$(wc -c < "$report")" -gt "$COMMENT_LIMIT" ]; then
      comment="$out_dir/comment-short.md"
      { cat "$head"; echo; echo "The plans are too long for a comment: see the job summary."; } \
        > "$comment"
    fi
    upsert_pr_comment "$comment" || annotate warning "the plan comment could not be posted (the job summary has the plan)"
  fi
  return "$failed"
}

# --- deploy --------------------------------------------------------------------------------------

cmd_deploy() {
  install
  load_envs
  local failed=() applied=() env lbl flab rc
  local apply_args=()
  # shellcheck disable=SC2206 # extra flags are word-split on purpose
  if [ -n "${O2KIT_APPLY_ARGS:-}" ]; then apply_args=(${O2KIT_APPLY_ARGS}); fi
  for env in "${envs[@]}"; do
    lbl="$(label "$env")"; flab="$(file_label "$env")"
    group "apply ($lbl)"
    rc=0
    o2 "$env" apply --auto-approve "${apply_args[@]}" > "$out_dir/apply-$flab.log" 2>&1 || rc=$?
    cat "$out_dir/apply-$flab.log"
    endgroup
    if [ "$rc" -eq 0 ]; then applied+=("$lbl"); else
      failed+=("$lbl"); annotate error "apply failed for environment $lbl (exit $rc); the next environments were still applied"
    fi
  done
  {
    echo "## o2kit: deploy"
    echo
    echo "| environment | apply |"
    echo "|---|---|"
    for env in "${envs[@]}"; do
      lbl="$(label "$env")"; flab="$(file_label "$env")"
      if printf '%s\n' "${failed[@]+"${failed[@]}"}" | grep -qxF -- "$lbl"; then
        echo "| $lbl | ✗ failed |"
      else
        echo "| $lbl | ✓ $(grep -E '^(Apply:|No changes)' "$out_dir/apply-$flab.log" | head -n 1) |"
      fi
    done
    for env in "${envs[@]}"; do
      flab="$(file_label "$env")"
      printf '\n<details><summary>%s</summary>\n\n```\n' "$(label "$env")"
      head -c 200000 "$out_dir/apply-$flab.log"
      printf '```\n\n</details>\n'
    done
  } | summary
  echo "Deploy: ${#applied[@]} environment(s) applied, ${#failed[@]} failed${failed[*]:+: ${failed[*]}}"
  [ "${#failed[@]}" -eq 0 ]
}

# --- drift: does the server still match git? ---------------------------------------------------

upsert_drift_issue() {  # upsert_drift_issue open|close BODY_FILE
  local action="$1" body_file="$2"
  if [ "${O2KIT_ISSUE:-1}" = "0" ]; then echo "O2KIT_ISSUE=0: drift issue left alone"; return 0; fi
  if [ -z "${GITHUB_TOKEN:-}" ] || [ -z "${GITHUB_REPOSITORY:-}" ]; then
    echo "No GITHUB_TOKEN and GITHUB_REPOSITORY: drift issue skipped"
    return 0
  fi
  # The drift issue is the open issue whose body starts with the marker (never a pull request,
  # which the issues API lists too). Open or update it on drift; comment and close it when the
  # server matches again. Standard library only; at most 10 pages of open issues are read.
  github_py "$(cat <<'PY'
action, body_file, marker = sys.argv[1:4]
with open(body_file, encoding="utf-8") as f:
    body = f.read()
try:
    found = None
    for page in range(1, 11):
        batch = call("GET", f"{api}/repos/{repo}/issues?state=open&per_page=100&page={page}")
        found = next((i for i in batch if "pull_request" not in i
                      and (i.get("body") or "").startswith(marker)), None)
        if found is not None or len(batch) < 100:
            break
    if action == "open" and found:
        done = call("PATCH", f"{api}/repos/{repo}/issues/{found['number']}", {"body": body})
        print(f"Updated the drift issue: {done.get('html_url', found['number'])}")
    elif action == "open":
        done = call("POST", f"{api}/repos/{repo}/issues",
                    {"title": "o2kit: the server differs from git", "body": body})
        print(f"Opened the drift issue: {done.get('html_url', '')}")
    elif found:
        call("POST", f"{api}/repos/{repo}/issues/{found['number']}/comments", {"body": body})
        call("PATCH", f"{api}/repos/{repo}/issues/{found['number']}",
             {"state": "closed", "state_reason": "completed"})
        print(f"Closed the drift issue #{found['number']}: the server matches git again")
    else:
        print("No drift and no open drift issue: nothing to do")
except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError) as exc:
    detail = exc.read().decode(errors="replace")[:300] if isinstance(exc, urllib.error.HTTPError) else ""
    print(f"could not update the drift issue: {exc} {detail}".strip(), file=sys.stderr)
    sys.exit(1)
PY
)" "$action" "$body_file" "$DRIFT_MARKER"
}

cmd_drift() {
  install
  load_envs
  local broken=0 drifted=0 env lbl flab rc state result_rows=""
  local plan_args=()
  # shellcheck disable=SC2206 # extra flags are word-split on purpose
  if [ -n "${O2KIT_PLAN_ARGS:-}" ]; then plan_args=(${O2KIT_PLAN_ARGS}); fi
  for env in "${envs[@]}"; do
    lbl="$(label "$env")"; flab="$(file_label "$env")"
    rm -f "$out_dir/plan-$flab.md"
    group "plan ($lbl)"
    rc=0
    o2 "$env" plan --markdown --detailed-exitcode "${plan_args[@]}" \
      > "$out_dir/plan-$flab.md" || rc=$?
    cat "$out_dir/plan-$flab.md"
    endgroup
    case "$rc" in
      0) state="in sync"; rm -f "$out_dir/plan-$flab.md" ;;
      2) state="**drift**"; drifted=1
         annotate warning "environment $lbl differs from git (the plan above says how)" ;;
      *) state="✗ failed"; broken=1; rm -f "$out_dir/plan-$flab.md"
         annotate error "plan failed for environment $lbl (the log above says why)" ;;
    esac
    result_rows+="| $lbl | $state |"$'\n'
  done

  local report="$out_dir/drift.md" head="$out_dir/drift-head.md"
  {
    echo "$DRIFT_MARKER"
    if [ "$drifted" = 1 ]; then
      echo "## o2kit: the server differs from git"
      echo
      echo "Someone changed the server by hand, or a merge was not applied. \`o2kit apply\` (or"
      echo "the next deploy) puts back what git says; \`o2kit export\` brings a wanted change into"
      echo "git. This issue is updated on every drift check and closed when they match again."
    else
      echo "## o2kit: the server matches git"
    fi
    echo
    echo "| environment | state |"
    echo "|---|---|"
    printf '%s' "$result_rows"
    echo
    if [ "$broken" != 0 ]; then echo "**A check failed: see the job log.**"; echo; fi
    if [ -n "${O2KIT_COMMIT:-}" ]; then printf '_Checked at %s._\n' "${O2KIT_COMMIT:0:12}"; fi
  } > "$head"
  {
    cat "$head"
    for env in "${envs[@]}"; do
      flab="$(file_label "$env")"
      if [ -f "$out_dir/plan-$flab.md" ]; then echo; strip_marker "$out_dir/plan-$flab.md"; fi
      if [ -f "$out_dir/backtest-$flab.md" ]; then echo; strip_marker "$out_dir/backtest-$flab.md"; fi
    done
  } > "$report"
  if [ "$(wc -c < "$report")" -le "$SUMMARY_LIMIT" ]; then summary < "$report"; else
    { cat "$head"; echo; echo "The plans are too long for the job summary: see $out_dir."; } \
      | summary
  fi
  local body="$report"
  if [ "$(wc -c < "$report")" -gt "$COMMENT_LIMIT" ]; then
    body="$out_dir/drift-short.md"
    { cat "$head"; echo; echo "The plans are too long for an issue: see the job summary."; } > "$body"
  fi
  # A failed check says nothing about drift: the issue is closed only when every environment was
  # checked and matched.
  if [ "$drifted" = 1 ]; then
    upsert_drift_issue open "$body" || { annotate error "the drift issue could not be updated"; broken=1; }
  elif [ "$broken" = 0 ]; then
    upsert_drift_issue close "$body" || { annotate error "the drift issue could not be closed"; broken=1; }
  fi
  if [ "$broken" != 0 ]; then return 1; fi
  if [ "$drifted" = 1 ]; then echo "Drift: the server differs from git"; return 2; fi
  echo "No drift: the server matches git"
}

cmd_envs() {
  local env
  while IFS= read -r env; do label "$env"; echo; done < <(list_envs)
}

case "${1:-}" in
  pr) cmd_pr ;;
  deploy) cmd_deploy ;;
  drift) cmd_drift ;;
  envs) cmd_envs ;;
  *) usage ;;
esac
