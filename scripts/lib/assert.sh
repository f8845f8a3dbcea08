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
