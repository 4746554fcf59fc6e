#!/bin/sh
# Builds the example's local packages: each directory under packages-src/ (DEBIAN/control and the files) becomes
# debs/<package>_<version>_<arch>.deb, which packages.local installs. dpkg-deb is on every Debian and Ubuntu host.
# The tree is copied first and its modes made 0755/0644 whatever the checkout's umask, so the package is the same.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$here/debs"
for src in "$here"/packages-src/*/; do
  name=$(basename "$src")
  cp -R "$src" "$work/$name"
  chmod -R u+rwX,go+rX,go-w "$work/$name"
  dpkg-deb --root-owner-group --build "$work/$name" "$here/debs"
done
