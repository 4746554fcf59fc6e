#!/bin/sh
# A binary hook: runs on the host, inside the build's sandbox, after bootloaders and before the ISO is made, as
#   hooks/medium.sh <ISO tree, read-only> <add dir>
# What it writes into the add dir is put on the medium; it may add files, not replace one the build wrote.
set -eu
tree=$1
add=$2
# read the tree (the live system's files are there) and add a README at the top of the medium
[ -d "$tree/live" ]
{
  echo 'example-custom: a live image built by ailinux from examples/custom.'
  echo 'Boot it and log in as live (password live).'
} > "$add/README.txt"
