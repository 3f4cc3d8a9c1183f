#!/usr/bin/env bash
# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
#
# A three-node mosquitto-ha cluster on this machine, for trying it out.
#
#   scripts/demo.sh start   (make demo)       stop any earlier demo, install
#                                             what is missing, build, start
#                                             three brokers, create the cluster
#   scripts/demo.sh stop    (make demo-stop)  stop the brokers it started
#
# Brokers (Debian's mosquitto 2.0) listen for clients on 127.0.0.1:18831,
# 18832 and 18833 and talk to each other on 127.0.0.1:17001..17003
# (HA_DEMO_CLIENT_BASE=18830 and HA_DEMO_CLUSTER_BASE=17000 move them).
# Everything lives in .cache/demo: configs, logs, data folders, passwords.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
demo="$root/.cache/demo"
broker=/usr/sbin/mosquitto
# BUILD=DIR (as for make) when the plugin is built elsewhere.
build=${BUILD:-build}
[[ $build == /* ]] || build="$root/$build"
plugin="$build/mosquitto_ha.so"
host=127.0.0.1
# HA_DEMO_CLIENT_BASE / HA_DEMO_CLUSTER_BASE move the ports (base + 1..3).
client_base=${HA_DEMO_CLIENT_BASE:-18830}
cluster_base=${HA_DEMO_CLUSTER_BASE:-17000}
client_ports=($((client_base + 1)) $((client_base + 2)) $((client_base + 3)))
cluster_ports=($((cluster_base + 1)) $((cluster_base + 2)) $((cluster_base + 3)))
clustername=demo
request_topic='$CONTROL/cedalo/ha/v1'
response_topic='$CONTROL/cedalo/ha/v1/response'

say() { echo "demo: $*"; }
die() {
	echo "demo: $*" >&2
	exit 1
}

# Stops the brokers whose pid files the demo wrote, and only those: all
# are asked at once, then waited for (10 s, then SIGKILL).
stop_demo() {
	local i pidfile pid pids=()
	for i in 1 2 3; do
		pidfile="$demo/n$i/mosquitto.pid"
		[[ -f $pidfile ]] || continue
		pid=$(cat "$pidfile")
		# Only a mosquitto started with this node's config is ours.
		if [[ $pid =~ ^[0-9]+$ ]] && [[ -r /proc/$pid/cmdline ]] &&
			tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$demo/n$i/mosquitto.conf"; then
			kill "$pid" 2>/dev/null || true
			pids+=("$pid")
		fi
		rm -f "$pidfile"
	done
	for pid in "${pids[@]}"; do
		for _ in $(seq 100); do
			[[ -d /proc/$pid ]] || break
			sleep 0.1
		done
		if [[ -d /proc/$pid ]]; then
			kill -9 "$pid" 2>/dev/null || true
		fi
	done
	say "stopped ${#pids[@]} broker(s)"
}

# ctl PORT JSON CORRELATION: sends one control request as the administrator
# and prints the reply that carries CORRELATION.
ctl() {
	local port=$1 payload=$2 corr=$3
	local out="$demo/ctl.out" sub i
	: >"$out"
	# Line-buffered, so that SUBACK shows before the request goes out.
	stdbuf -oL -eL mosquitto_sub -d -h "$host" -p "$port" -u admin -P "$admin_pw" \
		-t "$response_topic" -W 15 >"$out" 2>&1 &
	sub=$!
	for i in $(seq 100); do
		grep -qi "received SUBACK" "$out" && break
		sleep 0.05
	done
	mosquitto_pub -h "$host" -p "$port" -u admin -P "$admin_pw" -q 1 \
		-t "$request_topic" -m "$payload"
	for i in $(seq 200); do
		grep -qF "\"correlationData\":\"$corr\"" "$out" && break
		sleep 0.05
	done
	kill "$sub" 2>/dev/null || true
	wait "$sub" 2>/dev/null || true
	grep -m1 -F "\"correlationData\":\"$corr\"" "$out" ||
		die "no reply from the broker on port $port to: $payload"
}

# The error of the first response in a reply, or nothing.
reply_error() {
	python3 -c 'import json,sys; r=json.loads(sys.stdin.read())["responses"][0]; print(r.get("error",""))'
}

nodes_json() {
	local mine=$1 i sep="" out="["
	for i in 1 2 3; do
		out+="$sep{\"address\":\"$host\",\"port\":${cluster_ports[$((i - 1))]},\"nodeid\":$i"
		[[ $i == "$mine" ]] && out+=",\"mynode\":true"
		out+="}"
		sep=","
	done
	echo "$out]"
}

start_demo() {
	stop_demo
	say "checking Debian packages"
	bash "$root/scripts/deps.sh"
	say "building the plugin"
	make -C "$root" --no-print-directory BUILD="$build" "$plugin" >/dev/null
	[[ -f $plugin ]] || die "$plugin was not built"

	local port
	for port in "${client_ports[@]}" "${cluster_ports[@]}"; do
		if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
			die "port $port on $host is in use by another program; stop it first"
		fi
	done

	# A fresh cluster every time: the old data would hold the old membership.
	rm -rf "$demo"
	mkdir -p "$demo"
	admin_pw=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
	client_pw=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
	secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
	mosquitto_passwd -b -c "$demo/passwords" admin "$admin_pw"
	mosquitto_passwd -b "$demo/passwords" client "$client_pw"
	chmod 0600 "$demo/passwords"
	printf 'admin %s\nclient %s\n' "$admin_pw" "$client_pw" >"$demo/credentials"
	chmod 0600 "$demo/credentials"

	local i d
	for i in 1 2 3; do
		d="$demo/n$i"
		mkdir -p "$d/data"
		cat >"$d/mosquitto.conf" <<EOF
# mosquitto-ha demo node $i (written by scripts/demo.sh)
plugin $plugin
plugin_opt_data_dir $d/data
plugin_opt_cluster_secret $secret
plugin_opt_admin_users admin
plugin_opt_acl_fallback allow
listener ${client_ports[$((i - 1))]} $host
allow_anonymous false
password_file $demo/passwords
pid_file $d/mosquitto.pid
user root
log_dest file $d/mosquitto.log
log_type all
EOF
		setsid "$broker" -c "$d/mosquitto.conf" </dev/null >"$d/stderr.log" 2>&1 &
	done
	for i in 1 2 3; do
		port=${client_ports[$((i - 1))]}
		for _ in $(seq 100); do
			(exec 3<>"/dev/tcp/$host/$port") 2>/dev/null && break
			sleep 0.1
		done
		(exec 3<>"/dev/tcp/$host/$port") 2>/dev/null ||
			die "broker $i did not start; see $demo/n$i/stderr.log and mosquitto.log"
	done
	say "three brokers running"

	local reply err
	reply=$(ctl "${client_ports[0]}" "{\"commands\":[{\"command\":\"createCluster\",\"clustername\":\"$clustername\",\"nodes\":$(nodes_json 1),\"correlationData\":\"create\"}]}" create)
	err=$(reply_error <<<"$reply")
	[[ -z $err ]] || die "createCluster on node 1: $err"
	for i in 2 3; do
		reply=$(ctl "${client_ports[$((i - 1))]}" "{\"commands\":[{\"command\":\"joinCluster\",\"clustername\":\"$clustername\",\"nodes\":$(nodes_json $i),\"correlationData\":\"join$i\"}]}" "join$i")
		err=$(reply_error <<<"$reply")
		[[ -z $err ]] || die "joinCluster on node $i: $err"
	done
	say "cluster '$clustername' created; waiting for a leader"

	local leader="" try
	for try in $(seq 50); do
		for i in 1 2 3; do
			reply=$(ctl "${client_ports[$((i - 1))]}" "{\"commands\":[{\"command\":\"isLeader\",\"correlationData\":\"lead$try$i\"}]}" "lead$try$i")
			if python3 -c 'import json,sys; sys.exit(0 if json.loads(sys.stdin.read())["responses"][0]["data"]["leader"] else 1)' <<<"$reply"; then
				leader=$i
			fi
		done
		[[ -n $leader ]] && break
		sleep 0.2
	done
	[[ -n $leader ]] || die "no leader after 10 s; see the logs in $demo/n*/mosquitto.log"

	for i in 1 2 3; do
		echo
		echo "getRaftStatus of node $i (127.0.0.1:${client_ports[$((i - 1))]}):"
		ctl "${client_ports[$((i - 1))]}" "{\"commands\":[{\"command\":\"getRaftStatus\",\"correlationData\":\"status$i\"}]}" "status$i" |
			python3 -c 'import json,sys; print(json.dumps(json.loads(sys.stdin.read())["responses"][0]["data"], indent=2))'
	done

	local lp=${client_ports[$((leader - 1))]}
	cat <<EOF

The cluster '$clustername' runs; node $leader leads, so only 127.0.0.1:$lp serves
ordinary clients (the others refuse them with "not authorised" until they lead).

  ordinary client:  user client, password $client_pw
      mosquitto_sub -h 127.0.0.1 -p $lp -u client -P $client_pw -t 'demo/#' -v
      mosquitto_pub -h 127.0.0.1 -p $lp -u client -P $client_pw -t demo/hello -m hi

  administrator:    user admin, password $admin_pw (every node, control API)
      mosquitto_rr -h 127.0.0.1 -p ${client_ports[1]} -u admin -P $admin_pw \\
          -t '$request_topic' -e '$response_topic' \\
          -m '{"commands":[{"command":"isLeader"}]}'

  (passwords also in $demo/credentials; logs in $demo/n1..n3/mosquitto.log)

Stop it with:  make demo-stop
EOF
}

case ${1:-start} in
start) start_demo ;;
stop) stop_demo ;;
*) die "usage: $0 start|stop" ;;
esac
