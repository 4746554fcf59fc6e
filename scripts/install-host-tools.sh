#!/usr/bin/env bash
# Installs the Debian/Ubuntu host tools ailinux drives (as root). Nothing else on the host is changed.
# gpg (of the GnuPG suite) checks the Ubuntu archive keyring a Debian host fetches for the ailinux profile
# (src/steps/archive-keyring.ts); dpkg-deb, which unpacks it, is in dpkg and always there. dpkg-dev's
# dpkg-scanpackages indexes packages.local's .deb files into a local apt repository (src/steps/local-packages.ts).
# rsvg-convert (librsvg2-bin) renders the built-in SVG logo and wallpaper (assets/branding) for the branding step.
# --with-test-tools also installs what only the test suite needs (chromium, for the browser test;
# stress-ng, to load the CPU while the suite runs and show that it does not flake; zsh and fish, whose
# completion scripts the completion test parses; man-db and groff-base, which render the man page in its test;
# diffoscope-minimal, with genisoimage's isoinfo and libarchive-tools to look into an ISO, which says where two ISOs
# differ when the end-to-end tier's two builds of one config do not give the same bytes: under 3 MB installed).
# --with-bench also installs Debian's live-build, which `npm run bench` builds the same minimal ISO with to compare
# (scripts/bench/live-build.ts; docs/performance.md). Not in CI's default: `npm run bench -- --quick` needs no live-build.
# Usage: bash scripts/install-host-tools.sh [--with-test-tools] [--with-bench]
set -euo pipefail
test_tools=false
bench=false
for arg in "$@"; do
  case "$arg" in
    --with-test-tools) test_tools=true ;;
    --with-bench) bench=true ;;
    *)
      echo "install-host-tools: unknown argument '$arg'; usage: bash scripts/install-host-tools.sh [--with-test-tools] [--with-bench]" >&2
      exit 2
      ;;
  esac
done
if [ "$(id -u)" -ne 0 ]; then
  echo "install-host-tools: run me as root (sudo bash scripts/install-host-tools.sh)" >&2
  exit 2
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  debootstrap mmdebstrap squashfs-tools xorriso \
  grub-pc-bin grub-efi-amd64-bin grub-common mtools dosfstools \
  qemu-system-x86 qemu-utils ovmf isolinux syslinux-common \
  zstd cpio util-linux ca-certificates gpg dpkg-dev librsvg2-bin
if [ "$test_tools" = true ]; then
  apt-get install -y -qq --no-install-recommends chromium stress-ng zsh fish man-db groff-base \
    diffoscope-minimal genisoimage libarchive-tools
fi
if [ "$bench" = true ]; then
  apt-get install -y -qq --no-install-recommends live-build
fi
echo "install-host-tools: done"
