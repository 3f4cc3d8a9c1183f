#!/usr/bin/env bash
# SPDX-License-Identifier: EPL-2.0 OR BSD-3-Clause
#
# A three-node mosquitto-ha cluster on this machine, for trying it out.
#
#   scripts/demo.sh start   (make demo)       stop any earlier demo, install
#                                             what is missing, build, start
#                                             three brokers, form the cluster
#                                             with mosquitto_ha_ctrl and show
#                                             its status table
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
ctrl="$build/mosquitto_ha_ctrl"
host=127.0.0.1
# HA_DEMO_CLIENT_BASE / HA_DEMO_CLUSTER_BASE move the ports (base + 1..3).
client_base=${HA_DEMO_CLIENT_BASE:-18830}
cluster_base=${HA_DEMO_CLUSTER_BASE:-17000}
client_ports=($((client_base + 1)) $((client_base + 2)) $((client_base + 3)))
cluster_ports=($((cluster_base + 1)) $((cluster_base + 2)) $((cluster_base + 3)))
clustername=demo

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

start_demo() {
	stop_demo
	say "checking Debian packages"
	bash "$root/scripts/deps.sh"
	say "building the plugin and mosquitto_ha_ctrl"
	make -C "$root" --no-print-directory BUILD="$build" "$plugin" "$ctrl" >/dev/null
	[[ -f $plugin ]] || die "$plugin was not built"
	[[ -x $ctrl ]] || die "$ctrl was not built"

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
	# mosquitto_ha_ctrl's options: the administrator and every node's
	# cluster address and MQTT listener. It holds a password: mode 0600.
	(
		umask 077
		{
			printf -- '-h %s\n-u admin\n-P %s\n' "$host" "$admin_pw"
			for i in 1 2 3; do
				printf -- '--node %d@%s:%d,mqtt=%s:%d\n' "$i" "$host" \
					"${cluster_ports[$((i - 1))]}" "$host" "${client_ports[$((i - 1))]}"
			done
		} >"$demo/ctrl.options"
	)

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

	local opts="$demo/ctrl.options" leader status
	echo
	echo "\$ mosquitto_ha_ctrl -o $opts form --name $clustername"
	"$ctrl" -o "$opts" form --name "$clustername" --timeout 15 ||
		die "the cluster did not form; see the logs in $demo/n*/mosquitto.log"
	echo
	echo "\$ mosquitto_ha_ctrl -o $opts status"
	status=$("$ctrl" -o "$opts" status) || die "status: not every node answered"
	echo "$status"
	leader=$(awk '$4 == "leader" { print $1 }' <<<"$status")
	[[ -n $leader ]] || die "no leader in the status table"

	local lp=${client_ports[$((leader - 1))]}
	cat <<EOF

The cluster '$clustername' runs; node $leader leads, so only 127.0.0.1:$lp serves
ordinary clients (the others refuse them with "not authorised" until they lead).

  ordinary client:  user client, password $client_pw
      mosquitto_sub -h 127.0.0.1 -p $lp -u client -P $client_pw -t 'demo/#' -v
      mosquitto_pub -h 127.0.0.1 -p $lp -u client -P $client_pw -t demo/hello -m hi

  administrator:    user admin, password $admin_pw (every node, control API)
      $ctrl -o $opts status --watch 1
      $ctrl -o $opts -p $lp cluster
      $ctrl -o $opts -p ${client_ports[1]} is-leader

  (passwords also in $demo/credentials, the administrator's options in
   $opts; logs in $demo/n1..n3/mosquitto.log)

Stop it with:  make demo-stop
EOF
}

case ${1:-start} in
start) start_demo ;;
stop) stop_demo ;;
*) die "usage: $0 start|stop" ;;
esac
