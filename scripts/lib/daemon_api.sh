# shellcheck shell=bash
# The socket API of a routerd-*-client daemon run on its own (no routerd), for the end-to-end scenarios
# that drive one directly (scripts/e2e/dhcpv4.sh, scripts/e2e/dhcpv6_daemon.sh). Sourced after netns.sh
# (rd_wait_for, RD_PIDS, RD_TMP, NS_ROUTER). The caller sets:
#   DAEMON  the binary          NAME  its --name        W  its --state-dir (holds config.json, events.jsonl)
#   SOCK    its --socket
# and start_daemon sets DPID. Every query fails when the daemon does not answer.
#
#   py CODE                         python3 -c CODE
#   dapi CURL-ARGS...               curl against SOCK (HTTP errors are not failures; see events)
#   status                          GET /v1/status
#   phase / phase_is PHASE          the phase of the daemon's resource
#   phase_reason [SOCK]             "phase reason-of-the-first-condition" of the daemon on SOCK
#   phase_reason_is SOCK WANT       ... equals WANT
#   cursor                          the status's eventCursor
#   events TOPIC SINCE              the matching events after cursor SINCE ("" = all), one JSON per line
#   has_event / no_event TOPIC SINCE  some / none of them (both fail when the query fails)
#   event_with TOPIC SINCE KEY VALUE  some matching event has attribute KEY = VALUE
#   attr TOPIC SINCE KEY            attribute KEY of the last matching event
#   command_code COMMAND            POST /v1/commands/COMMAND: prints the HTTP code, body in $RD_TMP/cmd.json
#   last_file_cursor                the newest cursor in W/events.jsonl (the socket is gone after kill -9)
#   start_daemon                    start it in NS_ROUTER (log: $RD_TMP/daemon.log), wait for its socket

py() { python3 -c "$@"; }
dapi() { curl -sS --max-time 10 --unix-socket "$SOCK" "$@"; }
status() { dapi --fail http://d/v1/status; }
phase() { status | py "import json,sys; print(json.load(sys.stdin)['resources'][0]['phase'])"; }
phase_is() { [ "$(phase 2>/dev/null)" = "$1" ]; }
phase_reason() {
    curl -sS --fail --max-time 5 --unix-socket "${1:-$SOCK}" http://d/v1/status |
        py "import json,sys; r=json.load(sys.stdin)['resources'][0]; print(r['phase'], r['conditions'][0]['reason'])"
}
phase_reason_is() { [ "$(phase_reason "$1" 2>/dev/null)" = "$2" ]; }
cursor() { status | py "import json,sys; print(json.load(sys.stdin)['eventCursor'])"; }
events() {
    (
        set -o pipefail
        dapi --fail "http://d/v1/events?since=$2&topic=$1&limit=1000" |
            py "import json,sys; [print(json.dumps(e)) for e in json.load(sys.stdin)['items']]"
    )
}
has_event() { local out; out="$(events "$1" "$2")" && [ -n "$out" ]; }
no_event() { local out; out="$(events "$1" "$2")" && [ -z "$out" ]; }
event_with() {
    local out
    out="$(events "$1" "$2")" || return 1
    printf '%s\n' "$out" |
        py "import json,sys; sys.exit(0 if any(json.loads(l)['attributes'].get(sys.argv[1]) == sys.argv[2] for l in sys.stdin if l.strip()) else 1)" "$3" "$4"
}
attr() {
    local out
    out="$(events "$1" "$2")" || return 1
    printf '%s\n' "$out" | tail -1 | py "import json,sys; print(json.load(sys.stdin)['attributes'].get(sys.argv[1]))" "$3"
}
command_code() {
    curl -s --max-time 10 --unix-socket "$SOCK" -X POST -o "$RD_TMP/cmd.json" -w '%{http_code}' "http://d/v1/commands/$1"
}
last_file_cursor() { grep -o '"cursor":"[^"]*"' "$W/events.jsonl" | tail -1 | cut -d'"' -f4; }

start_daemon() {
    ip netns exec "$NS_ROUTER" "$DAEMON" --name "$NAME" --config "$W/config.json" --socket "$SOCK" \
        --state-dir "$W" >>"$RD_TMP/daemon.log" 2>&1 &
    DPID=$!
    RD_PIDS+=("$DPID")
    rd_wait_for "the daemon's socket" 10 dapi --fail http://d/v1/healthz
}
