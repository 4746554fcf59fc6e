#!/usr/bin/env bash
# Regenerates the README's images of `ailinux inspect` (docs/images/inspect-page.png,
# inspect-machine.png and inspect-machine.svg, and the compact picture of both profiles and of an
# expanded step: inspect-compact-minimal.png, inspect-compact-ailinux.png, inspect-expanded.png)
# with the browser test itself: it builds, runs a
# fake-tools build twice (the second reuses the first one's checkpoints) in headless Chromium, and
# saves the page and the machine picture mid-build. Needs root and Debian's chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ]; then
  echo "screenshots: /usr/bin/chromium is missing: apt-get install -y --no-install-recommends chromium" >&2
  exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "screenshots: run me as root: the fake-tools build it photographs needs root" >&2
  exit 2
fi
npm run build
INSPECT_SCREENSHOTS_DIR=docs/images npx vitest run --project integration tests/integration/inspect-browser.test.ts
ls -l docs/images/inspect-*
