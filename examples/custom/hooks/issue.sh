#!/bin/sh
# A chroot hook: runs inside the image as root, right after the packages step, with the clean environment and the
# image's root as its working directory (as chroot(1) leaves it). What it changes lands in its own layer.
set -eu
# the login prompt shows /etc/issue: say which image this is
printf 'example-custom: built from examples/custom of ailinux\n\n' >> etc/issue
