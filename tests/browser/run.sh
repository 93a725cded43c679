#!/usr/bin/env bash
# The page `descent graph --html` writes, in a real browser: headless Chromium (Debian's
# chromium package, installed here if missing) steps it by key presses and reads it
# (tests/browser/step.py). Skipped, with the reason, where Chromium cannot be installed.
# UPDATE_SCREENSHOT=1 also copies the final state to docs/img/graph-page.png.
set -euo pipefail
cd "$(dirname "$0")/../.."
skip() { echo "browser test skipped: $*"; exit 0; }
if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing Debian's chromium"
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium) >/dev/null 2>&1 \
            || skip "chromium could not be installed (apt-get failed)"
    else
        skip "chromium is not installed and this user cannot install it (needs root and apt-get)"
    fi
fi
command -v python3 >/dev/null 2>&1 || skip "python3 is not installed"
cargo build --quiet --bin descent
tmp=$(mktemp -d)
cleanup() {
    if [ -n "${browser:-}" ]; then kill "$browser" 2>/dev/null || true; wait "$browser" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
model='y = m*x + b'
init='m=0.9,b=0.1'
target/debug/descent graph tests/data/dosage.csv --target y --model "$model" --init "$init" --html "$tmp/page.html"
port=$((20000 + RANDOM % 20000))
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$tmp/profile" --remote-debugging-port="$port" about:blank >"$tmp/chromium.log" 2>&1 &
browser=$!
python3 tests/browser/step.py "$port" "$tmp/page.html" target/debug/descent tests/data/dosage.csv \
    "$model" "$init" "$tmp/graph-page.png"
if [ "${UPDATE_SCREENSHOT:-0}" = 1 ]; then
    cp "$tmp/graph-page.png" docs/img/graph-page.png
    echo "wrote docs/img/graph-page.png"
fi
