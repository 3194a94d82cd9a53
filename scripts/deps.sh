#!/usr/bin/env bash
# Installs what building zpipe needs on a Debian machine, only when missing:
# libzmq (with headers) and pkg-config for the cgo transport, and a C
# compiler for cgo. Go itself must be 1.21 or newer; the toolchain named in
# go.mod is then fetched by the go command.
set -euo pipefail

need=()
pkg-config --exists libzmq 2>/dev/null || need+=(libzmq3-dev)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)

if [ ${#need[@]} -gt 0 ]; then
  echo "deps: installing ${need[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

if ! command -v go >/dev/null 2>&1; then
  echo "deps: no Go toolchain found; install Go 1.21 or newer" >&2
  exit 1
fi
echo "deps: libzmq $(pkg-config --modversion libzmq), $(go version)"
