#!/usr/bin/env bash
# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
# Runs a command in a network namespace of its own whose loopback is up with
# both 127.0.0.1 and ::1, and deletes the namespace afterwards: the transport
# link tests need an IPv6 loopback whether or not the host has one. Fails,
# with the reason, when no such namespace can be made (needs root).
# Usage: netns-run.sh COMMAND [ARG...]
set -u
ns=ha-transport-link-$$
if ! ip netns add "$ns"; then
	echo "netns-run: cannot create network namespace $ns (needs root and iproute2)" >&2
	exit 1
fi
trap 'ip netns delete "$ns"' EXIT
ip -n "$ns" link set lo up || { echo "netns-run: cannot bring up lo in $ns" >&2; exit 1; }
if [[ ! -d /proc/sys/net/ipv6 ]]; then
	echo "netns-run: this kernel has no IPv6, so no [::1] loopback" >&2
	exit 1
fi
# A new namespace takes IPv6 from the host's default, which may be off.
ip netns exec "$ns" sysctl -qw net.ipv6.conf.lo.disable_ipv6=0 || {
	echo "netns-run: cannot enable IPv6 on lo in $ns" >&2
	exit 1
}
if ! ip -n "$ns" -6 addr show dev lo | grep -q 'inet6 ::1/128'; then
	echo "netns-run: lo in $ns has no ::1 address:" >&2
	ip -n "$ns" addr show dev lo >&2
	exit 1
fi
ip netns exec "$ns" "$@"
