#!/usr/bin/env bash
# Queues purges on a purgehook deployment through its API (POST /api/v1/purge):
# one request per kind given. Used by action.yml; runs anywhere with bash and
# curl.
#
# Environment:
#   PURGEHOOK_URL          the deployment's base URL (https://purge.example.com)
#   PURGEHOOK_TOKEN        an API token ([server] api_tokens)
#   PURGEHOOK_TARGET       the target id
#   PURGEHOOK_URLS         newline-separated URLs        \
#   PURGEHOOK_PREFIXES     newline-separated prefixes     | at least one, or
#   PURGEHOOK_TAGS         newline-separated tags        /
#   PURGEHOOK_EVERYTHING   "true" to purge everything (alone)
#   PURGEHOOK_ATTEMPTS     tries per request while the API answers 503 or
#                          cannot be reached (default 5)
#   PURGEHOOK_MAX_WAIT     longest wait between tries, in seconds (default 60)
#   GITHUB_OUTPUT          when set, `job-ids=<ids>` is appended to it
#
# A 503 is tried again after its Retry-After (seconds or an HTTP date,
# at most PURGEHOOK_MAX_WAIT), a connection failure after 1, 2, 4… s.
# Any other error stops at once with the API's message.
# Exit: 0 every purge queued; 1 an error from the API or no answer; 2 bad input.
set -uo pipefail

fail() { echo "::error::$*" >&2; exit "${2:-1}"; }
usage() { echo "::error::$1" >&2; exit 2; }

url=${PURGEHOOK_URL:-}
token=${PURGEHOOK_TOKEN:-}
target=${PURGEHOOK_TARGET:-}
attempts=${PURGEHOOK_ATTEMPTS:-5}
max_wait=${PURGEHOOK_MAX_WAIT:-60}
everything=${PURGEHOOK_EVERYTHING:-false}

[ -n "$url" ] || usage "url is required (the purgehook deployment, e.g. https://purge.example.com)"
[ -n "$token" ] || usage "token is required (an API token of the deployment; pass it from a secret)"
[ -n "$target" ] || usage "target is required (a target id of the deployment)"
[[ $attempts =~ ^[1-9][0-9]*$ ]] || usage "attempts must be a positive integer, not \"$attempts\""
[[ $max_wait =~ ^[0-9]+$ ]] || usage "max wait must be a number of seconds, not \"$max_wait\""
case $everything in true | false | "") ;; *) usage "everything must be true or false, not \"$everything\"" ;; esac

# A JSON string of $1.
json_string() {
	local s=$1
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	s=${s//$'\t'/\\t}
	printf '"%s"' "$s"
}

# A JSON list of the non-empty, trimmed lines of $1; empty output if none.
json_list() {
	local line items=()
	while IFS= read -r line || [ -n "$line" ]; do
		line=${line%$'\r'}
		line=${line#"${line%%[![:space:]]*}"}
		line=${line%"${line##*[![:space:]]}"}
		[ -n "$line" ] && items+=("$(json_string "$line")")
	done <<<"$1"
	[ ${#items[@]} -gt 0 ] || return 0
	local IFS=,
	printf '[%s]' "${items[*]}"
}

requests=()
names=()
for kind in urls prefixes tags; do
	var="PURGEHOOK_${kind^^}"
	list=$(json_list "${!var:-}")
	if [ -n "$list" ]; then
		requests+=("{\"target\": $(json_string "$target"), \"action\": {\"kind\": \"$kind\", \"$kind\": $list}}")
		names+=("$kind")
	fi
done
if [ "$everything" = true ]; then
	[ ${#requests[@]} -eq 0 ] || usage "everything purges all; give it alone, without urls, prefixes or tags"
	requests+=("{\"target\": $(json_string "$target"), \"action\": {\"kind\": \"everything\"}}")
	names+=("everything")
fi
[ ${#requests[@]} -gt 0 ] || usage "nothing to purge: give urls, prefixes or tags (one per line), or everything: true"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umask 077
# The token goes to curl in a file, never on its command line.
printf 'Authorization: Bearer %s\nContent-Type: application/json\n' "$token" >"$work/headers"

# Seconds to wait for a Retry-After value (seconds or an HTTP date).
retry_after() {
	local value=$1 seconds when
	if [[ $value =~ ^[0-9]+$ ]]; then
		seconds=$value
	else
		when=$(date -d "$value" +%s 2>/dev/null) || when=$(date +%s)
		seconds=$((when - $(date +%s)))
		[ "$seconds" -ge 0 ] || seconds=0
	fi
	[ "$seconds" -le "$max_wait" ] || seconds=$max_wait
	echo "$seconds"
}

# The API's message in an error body ({"error", "message"}; it names the
# field of a 400), else the body.
message() {
	local body=$1 text
	if command -v jq >/dev/null 2>&1 && text=$(jq -er '.message' <<<"$body" 2>/dev/null); then
		echo "$text"
	elif text=$(sed -n 's/.*"message" *: *"\(\([^"\\]\|\\.\)*\)".*/\1/p' <<<"$body") && [ -n "$text" ]; then
		echo "${text//\\\"/\"}"
	else
		echo "$body"
	fi
}

# POSTs $1; prints the job id; exits on failure.
purge() {
	local request=$1 kind=$2 attempt=1 backoff=1 status wait body why
	while :; do
		status=$(curl -sS --max-time 30 -o "$work/body" -D "$work/answer" -w '%{http_code}' \
			-H @"$work/headers" --data-binary "$request" "${url%/}/api/v1/purge" 2>"$work/error")
		body=$(cat "$work/body" 2>/dev/null)
		case $status in
		202)
			sed -n 's/.*"job_id" *: *"\([^"]*\)".*/\1/p' <<<"$body"
			return 0
			;;
		503 | 000)
			if [ "$status" = 503 ]; then
				wait=$(sed -n 's/^[Rr]etry-[Aa]fter: *\([^[:cntrl:]]*\).*/\1/p' "$work/answer" | tail -n 1)
				wait=$(retry_after "${wait:-$backoff}")
				why="purgehook answered 503 ($(message "$body"))"
			else
				wait=$(retry_after "$backoff")
				why="purgehook cannot be reached ($(tr -d '\n' <"$work/error"))"
			fi
			[ "$attempt" -lt "$attempts" ] || fail "$kind purge not queued after $attempts attempts: $why"
			echo "$why; trying again in ${wait}s (attempt $((attempt + 1)) of $attempts)" >&2
			sleep "$wait"
			attempt=$((attempt + 1))
			backoff=$((backoff * 2))
			;;
		*)
			fail "$kind purge refused: purgehook answered $status: $(message "$body")"
			;;
		esac
	done
}

ids=()
for i in "${!requests[@]}"; do
	id=$(purge "${requests[$i]}" "${names[$i]}") || exit 1
	echo "queued ${names[$i]} purge for target $target (job $id)"
	ids+=("$id")
done
if [ -n "${GITHUB_OUTPUT:-}" ]; then
	echo "job-ids=${ids[*]}" >>"$GITHUB_OUTPUT"
fi
