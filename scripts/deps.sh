#!/usr/bin/env bash
# Installs the Debian packages that building and testing need, and nothing
# that is already there. Fails loudly when a package cannot be installed.
set -euo pipefail

packages=(
	gcc make pkg-config
	libuv1-dev libssl-dev libjansson-dev zlib1g-dev
	libcmocka-dev
	clang-14 libfuzzer-14-dev libclang-rt-14-dev clang-format-14
	mosquitto mosquitto-dev libmosquitto-dev mosquitto-clients
	python3-pytest python3-paho-mqtt
	nftables iptables iproute2 haproxy
	libraft-dev gnuplot-nox
	cmake libcjson-dev dpkg-dev
)

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ "$status" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
	echo "deps: missing Debian packages: ${missing[*]}" >&2
	echo "deps: run as root (or install them) and try again" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get update -qq || ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
	echo "deps: apt-get could not install: ${missing[*]}" >&2
	exit 1
fi
# The brokers these packages bring must not run as services: tests start
# their own.
if command -v systemctl >/dev/null && systemctl is-active --quiet mosquitto 2>/dev/null; then
	systemctl stop mosquitto || true
fi
