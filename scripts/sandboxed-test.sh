#!/usr/bin/env bash
# Runs the tests (npm test: `bash scripts/sandboxed-test.sh vitest run ...`) as root inside the same kind of sandbox
# a build runs in (docs/safety.md § The read-only host): a private mount namespace where every host mount is
# read-only except the tests' own temp dir (TMPDIR, a new /tmp/ailinux-tests-XXXXXX) and what the runner itself
# writes in the checkout. A wrong test then can no more harm the machine than the product can. Not as root, or
# where no mount namespace can be made, it runs the command as it is (then the root tiers skip, or fail under
# AILINUX_REQUIRE_ROOT_TIERS=1). The temp dir is removed when the tests pass, and kept (and named) when not.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

if [ "$(id -u)" != 0 ] || ! unshare --mount --propagation private -- true 2>/dev/null; then
  exec "$@"
fi

tmp=$(mktemp -d /tmp/ailinux-tests-XXXXXX)
# like /tmp itself: tests run some of their commands as nobody
chmod 1777 "$tmp"
# what vitest writes in the checkout: its cache, its bundled config, coverage reports, the browser test's screenshots
writable=("$repo/node_modules/.vite" "$repo/node_modules/.vite-temp" "$repo/coverage" "$repo/test-artifacts")
# and what a caller adds, ':'-separated absolute paths: the opt-in ailinux end-to-end test keeps its build there
if [ -n "${AILINUX_TEST_WRITABLE:-}" ]; then
  IFS=: read -r -a extra <<<"$AILINUX_TEST_WRITABLE"
  for dir in "${extra[@]}"; do
    case "$dir" in
      /?*) writable+=("$dir") ;;
      *)
        echo "test sandbox: AILINUX_TEST_WRITABLE takes absolute paths, got '$dir'" >&2
        rmdir -- "$tmp"
        exit 2
        ;;
    esac
  done
fi
mkdir -p "${writable[@]}"
# the shared deb cache of every build the tests run: in their temp dir, never the host's ~/.cache/ailinux
export AILINUX_CACHE_DIR="$tmp/deb-cache"
export AILINUX_SANDBOX_FROM
AILINUX_SANDBOX_FROM=$(readlink /proc/self/ns/mnt)

# shellcheck disable=SC2016 # expanded by the inner shell, in the new namespace
unshare --mount --propagation private -- bash -c '
  repo=$1 tmp=$2
  shift 2
  dirs=()
  while [ "$1" != -- ]; do dirs+=("$1"); shift; done
  shift
  node "$repo/scripts/test-sandbox.mjs" "$tmp" "${dirs[@]}" || exit 125
  export TMPDIR=$tmp
  exec "$@"
' bash "$repo" "$tmp" "${writable[@]}" -- "$@"
rc=$?
if [ "$rc" = 0 ]; then
  rm -rf --one-file-system -- "$tmp"
else
  echo "test sandbox: the tests' temp dir is kept: $tmp" >&2
fi
exit "$rc"
