#!/bin/sh
# System packages Kinkyu needs beyond Python (Debian/Ubuntu), installed only when missing.
#
#   fonts-noto-cjk       Japanese fonts (Noto Sans/Serif CJK JP) that PDF reports embed
#   libharfbuzz-subset0  HarfBuzz's font subsetter, which WeasyPrint uses to embed only the glyphs used
#   libpango-1.0-0,
#   libpangoft2-1.0-0    Pango, WeasyPrint's text layout (usually present already)
#   poppler-utils        pdftotext / pdffonts: the tests read generated PDFs back
#   chromium             (tests only) the browser the console's browser tests drive through
#                        Playwright (tests/browser; Playwright never downloads one of its own)
#
# Idempotent: every package is checked with `dpkg -s` first; nothing is installed when all are
# present, and apt is not touched at all. Runs apt-get as root, through sudo when not root and
# sudo exists; otherwise prints the command to run and exits 1. On a system without dpkg/apt
# it says what to install and exits 0 (PDF output then reports exactly what is missing).
#
# Usage: scripts/system-deps.sh [--check] [--runtime]
#   --check    report what is missing, install nothing
#   --runtime  only what Kinkyu needs to run, not what its tests need (the Docker image)
set -eu

RUNTIME_PACKAGES="fonts-noto-cjk libharfbuzz-subset0 libpango-1.0-0 libpangoft2-1.0-0 poppler-utils"
TEST_PACKAGES="chromium"
PACKAGES="$RUNTIME_PACKAGES $TEST_PACKAGES"

check_only=0
for arg in "$@"; do
    case "$arg" in
        --check) check_only=1 ;;
        --runtime) PACKAGES="$RUNTIME_PACKAGES" ;;
        *) echo "usage: scripts/system-deps.sh [--check] [--runtime]" >&2; exit 2 ;;
    esac
done

if ! command -v dpkg >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    echo "system-deps: no dpkg/apt-get here; install these (or your system's equivalents) yourself:" >&2
    echo "  $PACKAGES" >&2
    echo "  (Japanese fonts: Noto Sans CJK JP; PDF tools: pdftotext, pdffonts; a chromium browser," >&2
    echo "   named to the browser tests by KINKYU_CHROMIUM when it is not /usr/bin/chromium)" >&2
    exit 0
fi

missing=""
for pkg in $PACKAGES; do
    # "install ok installed" is the only state in which the files are really there.
    if ! dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed'; then
        missing="$missing $pkg"
    fi
done

if [ -z "$missing" ]; then
    echo "system-deps: all present ($PACKAGES)"
    exit 0
fi

echo "system-deps: missing:$missing"
if [ "$check_only" -eq 1 ]; then
    exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
    run=""
elif command -v sudo >/dev/null 2>&1; then
    run="sudo"
else
    echo "system-deps: not root and no sudo; as root, run:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends$missing" >&2
    exit 1
fi

# shellcheck disable=SC2086  # $run is empty or "sudo"; $missing is a list of package names
$run env DEBIAN_FRONTEND=noninteractive apt-get update -qq
# shellcheck disable=SC2086
$run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
# New fonts are found by fontconfig once its cache knows them.
if command -v fc-cache >/dev/null 2>&1; then
    $run fc-cache -f >/dev/null 2>&1 || true
fi
echo "system-deps: installed:$missing"
