# shellcheck shell=bash
# Tiny assertion helpers for the end-to-end scenarios: each check prints one line, failures are counted.

E2E_PASSED=${E2E_PASSED:-0}
E2E_FAILED=${E2E_FAILED:-0}

ok() { E2E_PASSED=$((E2E_PASSED + 1)); echo "  ok   $*"; }
fail() { E2E_FAILED=$((E2E_FAILED + 1)); echo "  FAIL $*"; }

# check DESCRIPTION COMMAND...: passes when COMMAND succeeds.
check() {
    local what="$1"
    shift
    if "$@" >/dev/null 2>&1; then ok "$what"; else fail "$what"; fi
}

# check_eq DESCRIPTION EXPECTED ACTUAL
check_eq() {
    if [ "$2" = "$3" ]; then ok "$1 ($3)"; else fail "$1: expected '$2', got '$3'"; fi
}

# skip_scenario NAME REASON: the scenario cannot run here. Prints the reason, the count line scripts/test
# reads, and a line scripts/test counts as one skipped scenario; exits 0.
skip_scenario() {
    echo "  SKIP $2"
    echo "$1: skipped: $2"
    echo "$1: 0 passed, 0 failed"
    exit 0
}
