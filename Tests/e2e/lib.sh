# shellcheck shell=bash
# Helpers for warren's end-to-end suites, in the style of WireGuard's netns.sh.
#
# A suite sources this file, then:
#   topo_up                        two namespaces ($NS1, $NS2) joined by a veth "wire"
#   write_conf FILE key=value...   a wg-quick style config for either implementation
#   node_start NAME KIND NS IF CONF [VAR=VALUE...]
#                                  KIND is "warren", "wireguard-go" or "subject" (the
#                                  implementation under test: warren, unless
#                                  E2E_SUBJECT=wireguard-go stands in to validate the harness)
#   check "case name" cmd...       runs cmd, prints PASS/FAIL with the last line it printed
#   summary                        prints "N passed, N failed" and exits
# Everything lives in namespaces named after our PID and is removed by the EXIT trap.
#
# Addresses: the wire is 10.77.0.0/24 and fd77::/64 (ns1 = .1/::1, ns2 = .2/::2);
# inside the tunnel 192.168.77.0/24 and fd78::/64 with the same host numbers.
#
# Environment:
#   WARREN        path of the binary (default .build/release/warren)
#   E2E_SUBJECT   "warren" (default) or "wireguard-go" to run the suite against wireguard-go
#                 on both sides; warren-only assertions are then reported as SKIP
#   E2E_VERBOSE=1 print every namespaced command before running it
#   E2E_KEEP=1    keep the temporary directory (logs, configs, captures)
#   E2E_SUITE_MODE=0  for scripts that are not suites (demo, bench): no summary on abort

set -u

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$E2E_DIR/../.." && pwd)
WARREN=${WARREN:-$REPO/.build/release/warren}
E2E_SUBJECT=${E2E_SUBJECT:-warren}
E2E_VERBOSE=${E2E_VERBOSE:-0}
SUITE=$(basename "$0" .sh)
PYTHON=${PYTHON:-python3}

NS1="wre2e-$$-1"
NS2="wre2e-$$-2"
V4_1=10.77.0.1 V4_2=10.77.0.2
V6_1=fd77::1 V6_2=fd77::2
T4_1=192.168.77.1 T4_2=192.168.77.2
T6_1=fd78::1 T6_2=fd78::2

E2E_TMP=$(mktemp -d "/tmp/warren-e2e-$SUITE.XXXXXX")
PASSED=0
FAILED=0
SKIPPED=0
SUMMARY_DONE=0
CHECK_SEQ=0
BG_PIDS=()
NAMESPACES=()
declare -A NODE_KIND=() NODE_NS=() NODE_IF=() NODE_PID=() NODE_LOG=() NODE_CONF=()

# ---------------------------------------------------------------- output and bookkeeping

say() { printf '%s\n' "$*"; }
trace() {
	printf '[+] %s\n' "$*" >>"$E2E_TMP/trace.log"
	[[ $E2E_VERBOSE == 1 ]] && printf '\033[2m[+] %s\033[0m\n' "$*" >&2
	return 0
}

# Run a command inside a namespace, printing it first (netns.sh's n1/n2). Not for background
# jobs: `n1 cmd &` forks a subshell, so $! would not be the command's PID.
nsx() { local ns=$1; shift; trace "$ns: $*"; ip netns exec "$ns" "$@"; }
n1() { nsx "$NS1" "$@"; }
n2() { nsx "$NS2" "$@"; }

pass() { PASSED=$((PASSED + 1)); say "PASS $1${2:+: $2}"; }
fail() { FAILED=$((FAILED + 1)); say "FAIL $1${2:+: $2}"; }
skip() { SKIPPED=$((SKIPPED + 1)); say "SKIP $1${2:+: $2}"; }

# check NAME cmd... — the command's last output line is the reason shown on both outcomes;
# on failure the tail of its output and of every running node's log follow, indented.
check() {
	local name=$1; shift
	CHECK_SEQ=$((CHECK_SEQ + 1))
	local out="$E2E_TMP/check-$CHECK_SEQ.log"
	trace "check '$name': $*"
	"$@" >"$out" 2>&1
	local rc=$?
	local reason
	reason=$(grep -v '^[[:space:]]*$' "$out" | tail -n 1)
	if [[ $rc == 0 ]]; then
		pass "$name" "$reason"
	else
		fail "$name" "${reason:-exit status $rc}"
		if [[ $(wc -l <"$out") -gt 1 ]]; then
			tail -n 15 "$out" | sed 's/^/    | /'
		fi
		dump_node_logs
	fi
	return $rc
}

# Warren-only assertions: skipped when wireguard-go stands in for warren.
check_subject() {
	if [[ $E2E_SUBJECT != warren ]]; then
		skip "$1" "warren-only assertion ($E2E_SUBJECT stands in)"
		return 0
	fi
	check "$@"
}

dump_node_logs() {
	local n
	for n in "${!NODE_PID[@]}"; do
		[[ -s ${NODE_LOG[$n]} ]] || continue
		say "    --- log of node $n (${NODE_KIND[$n]} in ${NODE_NS[$n]}), last lines:"
		tail -n 15 "${NODE_LOG[$n]}" | sed 's/^/    | /'
	done
}

summary() {
	SUMMARY_DONE=1
	[[ $SKIPPED -gt 0 ]] && say "($SKIPPED skipped)"
	say "$PASSED passed, $FAILED failed"
	[[ $FAILED == 0 ]]
	exit $?
}

# ---------------------------------------------------------------- cleanup

stop_pid() { # stop_pid PID [SECONDS] — TERM, bounded wait, then KILL
	local pid=$1 limit=$((${2:-3} * 10)) i
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < limit; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	return 0
}

cleanup() {
	local rc=$? pid n ns
	set +e
	trap - EXIT INT TERM
	for n in "${!NODE_PID[@]}"; do stop_pid "${NODE_PID[$n]}" 3; done
	for pid in "${BG_PIDS[@]}"; do stop_pid "$pid" 2; done
	for ns in "${NAMESPACES[@]}"; do
		# Anything still running inside our own namespaces was started by this suite.
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null
	done
	for n in "${!NODE_IF[@]}"; do
		rm -f "/run/warren/${NODE_IF[$n]}.sock" "/var/run/wireguard/${NODE_IF[$n]}.sock"
	done
	wait 2>/dev/null
	if [[ ${E2E_KEEP:-0} == 1 ]]; then
		echo "(kept $E2E_TMP)" >&2
	else
		rm -rf "$E2E_TMP"
	fi
	if [[ $SUMMARY_DONE == 0 && ${E2E_SUITE_MODE:-1} == 1 ]]; then
		fail "$SUITE" "suite aborted (exit status $rc) before its summary"
		say "$PASSED passed, $FAILED failed"
		exit 1
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- waiting

# wait_for SECONDS WHAT cmd... — poll cmd every 0.1 s until it succeeds or the deadline passes;
# prints one line either way.
wait_for() {
	local seconds=$1 what=$2 i start deadline now; shift 2
	start=$(now_ms)
	deadline=$((start + seconds * 1000))
	for ((i = 0; i < seconds * 10; i++)); do # the count bounds it even if the clock jumps
		if "$@" >/dev/null 2>&1; then
			now=$(( $(now_ms) - start ))
			echo "$what: after $((now / 1000)).$((now % 1000 / 100)) s"
			return 0
		fi
		[[ $(now_ms) -lt $deadline ]] || break
		sleep 0.1
	done
	echo "timed out after ${seconds}s waiting for $what"
	return 1
}
now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }

udp_listening() { # udp_listening NS PORT
	[[ -n $(ip netns exec "$1" ss -Hlnu "sport = :$2" 2>/dev/null) ]]
}
tcp_listening() { # tcp_listening NS PORT
	[[ -n $(ip netns exec "$1" ss -Hltn "sport = :$2" 2>/dev/null) ]]
}
link_is_up() { # link_is_up NS IF — administratively up
	ip -n "$1" -o link show dev "$2" 2>/dev/null | grep -q '[<,]UP[,>]'
}
link_exists() { ip -n "$1" link show dev "$2" >/dev/null 2>&1; }

# ---------------------------------------------------------------- topology

require_root_tools() {
	local t missing=()
	[[ $(id -u) == 0 ]] || { fail "$SUITE setup" "must run as root"; summary; }
	for t in ip wg wireguard-go ping ss tcpdump "$PYTHON" timeout; do
		command -v "$t" >/dev/null 2>&1 || missing+=("$t")
	done
	if [[ ${#missing[@]} -gt 0 ]]; then
		fail "$SUITE setup" "missing tools: ${missing[*]}"
		summary
	fi
	if [[ $E2E_SUBJECT == warren && ! -x $WARREN ]]; then
		fail "$SUITE setup" "warren binary not found at $WARREN (run swift build -c release)"
		summary
	fi
}

ns_add() {
	local ns=$1
	ip netns add "$ns" || return 1
	NAMESPACES+=("$ns")
	ip -n "$ns" link set lo up
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0
}

# Two namespaces and a veth wire between them, v4 and v6, without DAD delays.
topo_up() {
	ns_add "$NS1" && ns_add "$NS2" || return 1
	ip -n "$NS1" link add veth1 type veth peer name veth2 netns "$NS2" || return 1
	ip -n "$NS1" addr add "$V4_1/24" dev veth1
	ip -n "$NS2" addr add "$V4_2/24" dev veth2
	ip -n "$NS1" addr add "$V6_1/64" dev veth1 nodad
	ip -n "$NS2" addr add "$V6_2/64" dev veth2 nodad
	ip -n "$NS1" link set veth1 up
	ip -n "$NS2" link set veth2 up
	wait_for 10 "veth wire to come up" \
		bash -c "ip -n $NS1 -o link show veth1 | grep -q 'state UP' && ip -n $NS2 -o link show veth2 | grep -q 'state UP'" || return 1
	wait_for 10 "wire ping v4" ip netns exec "$NS1" ping -c 1 -W 1 "$V4_2" || return 1
	wait_for 10 "wire ping v6" ip netns exec "$NS1" ping -6 -c 1 -W 1 "$V6_2" || return 1
}

# ---------------------------------------------------------------- keys and configs

genkey() { wg genkey; }
pubkey() { wg pubkey; }
genpsk() { wg genpsk; }

# write_conf FILE priv=KEY addr=A[,B] port=N mtu=N peer=PUB allowed=A[,B] endpoint=H:P psk=K keepalive=N
# Writes a wg-quick file (the format warren reads); empty values are left out.
write_conf() {
	local file=$1; shift
	local priv="" addr="" port="" mtu=1420 peer="" allowed="" endpoint="" psk="" keepalive="" kv
	for kv in "$@"; do
		case $kv in
		priv=*) priv=${kv#*=} ;;
		addr=*) addr=${kv#*=} ;;
		port=*) port=${kv#*=} ;;
		mtu=*) mtu=${kv#*=} ;;
		peer=*) peer=${kv#*=} ;;
		allowed=*) allowed=${kv#*=} ;;
		endpoint=*) endpoint=${kv#*=} ;;
		psk=*) psk=${kv#*=} ;;
		keepalive=*) keepalive=${kv#*=} ;;
		*) echo "write_conf: unknown key $kv" >&2; return 1 ;;
		esac
	done
	{
		echo "[Interface]"
		echo "PrivateKey = $priv"
		[[ -n $addr ]] && echo "Address = $addr"
		[[ -n $port ]] && echo "ListenPort = $port"
		[[ -n $mtu ]] && echo "MTU = $mtu"
		echo
		echo "[Peer]"
		echo "PublicKey = $peer"
		[[ -n $psk ]] && echo "PresharedKey = $psk"
		[[ -n $endpoint ]] && echo "Endpoint = $endpoint"
		echo "AllowedIPs = $allowed"
		[[ -n $keepalive ]] && echo "PersistentKeepalive = $keepalive"
	} >"$file"
	chmod 600 "$file"
}

# wg-quick strip: what `wg setconf` accepts.
conf_strip() {
	awk '
		/^[[:space:]]*\[/ { print; next }
		{ key = $0; sub(/[[:space:]]*=.*/, "", key); gsub(/^[[:space:]]+/, "", key) }
		tolower(key) ~ /^(address|mtu|dns|table|preup|postup|predown|postdown|saveconfig)$/ { next }
		{ print }' "$1"
}
conf_value() { # conf_value FILE KEY — first value of KEY
	awk -v k="$(echo "$2" | tr 'A-Z' 'a-z')" '
		{ key = $0; sub(/[[:space:]]*=.*/, "", key); gsub(/^[[:space:]]+/, "", key) }
		tolower(key) == k { v = $0; sub(/^[^=]*=[[:space:]]*/, "", v); sub(/[[:space:]]+$/, "", v); print v; exit }' "$1"
}

# ---------------------------------------------------------------- nodes

# node_start NAME KIND NS IF CONF [VAR=VALUE...] — start a tunnel endpoint and wait until its
# device is up. For warren the agent configures its own device; for wireguard-go the script
# does what wg-quick would (setconf, addresses, MTU, up).
node_start() {
	local name=$1 kind=$2 ns=$3 ifname=$4 conf=$5; shift 5
	[[ $kind == subject ]] && kind=$E2E_SUBJECT
	local log="$E2E_TMP/node-$name.log" pid
	NODE_KIND[$name]=$kind NODE_NS[$name]=$ns NODE_IF[$name]=$ifname NODE_LOG[$name]=$log NODE_CONF[$name]=$conf
	case $kind in
	warren)
		mkdir -p "$E2E_TMP/state-$name"
		trace "$ns: env $* $WARREN up --interface $ifname --state-dir $E2E_TMP/state-$name $conf"
		# --default-signal: bash starts background jobs with SIGINT ignored; undo that so the
		# agent sees SIGINT as it would from a terminal.
		ip netns exec "$ns" env --default-signal=INT "$@" "$WARREN" up --interface "$ifname" \
			--state-dir "$E2E_TMP/state-$name" "$conf" >"$log" 2>&1 &
		pid=$!
		NODE_PID[$name]=$pid
		local i state=1
		for ((i = 0; i < 200; i++)); do # 20 s, but give up as soon as the agent exits
			node_ready "$name"
			state=$?
			[[ $state == 1 ]] || break
			sleep 0.1
		done
		if [[ $state != 0 ]]; then
			[[ $state == 1 ]] && echo "warren $name: device $ifname not up or control socket silent after 20 s"
			node_start_failed "$name"
			return 1
		fi
		echo "warren $name: device $ifname up and control socket answering after $((i / 10)).$((i % 10)) s"
		;;
	wireguard-go)
		trace "$ns: env WG_PROCESS_FOREGROUND=1 LOG_LEVEL=verbose $* wireguard-go $ifname"
		ip netns exec "$ns" env --default-signal=INT WG_PROCESS_FOREGROUND=1 LOG_LEVEL=verbose "$@" \
			wireguard-go "$ifname" >"$log" 2>&1 &
		pid=$!
		NODE_PID[$name]=$pid
		if ! wait_for 10 "wireguard-go $name: uapi socket" \
			bash -c "kill -0 $pid && test -S /var/run/wireguard/$ifname.sock && ip -n $ns link show dev $ifname"; then
			node_start_failed "$name"
			return 1
		fi
		conf_strip "$conf" >"$conf.wg"
		nsx "$ns" timeout 10 wg setconf "$ifname" "$conf.wg" || { node_start_failed "$name"; return 1; }
		local a mtu
		mtu=$(conf_value "$conf" MTU)
		for a in $(conf_value "$conf" Address | tr ',' ' '); do
			if [[ $a == *:* ]]; then
				nsx "$ns" ip addr add "$a" dev "$ifname" nodad
			else
				nsx "$ns" ip addr add "$a" dev "$ifname"
			fi
		done
		nsx "$ns" ip link set "$ifname" up mtu "${mtu:-1420}"
		wait_for 10 "wireguard-go $name: $ifname up" link_is_up "$ns" "$ifname" || {
			node_start_failed "$name"; return 1; }
		;;
	*)
		echo "node_start: unknown kind $kind"
		return 1
		;;
	esac
}

node_ready() { # 0 ready, 1 not yet, 2 the process has exited
	local n=$1
	kill -0 "${NODE_PID[$n]}" 2>/dev/null || return 2
	link_is_up "${NODE_NS[$n]}" "${NODE_IF[$n]}" || return 1
	ip netns exec "${NODE_NS[$n]}" timeout 5 "$WARREN" status --interface "${NODE_IF[$n]}" --json >/dev/null 2>&1 || return 1
}

node_start_failed() {
	local n=$1
	echo "node $n (${NODE_KIND[$n]}) did not come up; its log:"
	tail -n 40 "${NODE_LOG[$n]}"
	local why="did not come up"
	if ! kill -0 "${NODE_PID[$n]}" 2>/dev/null; then
		wait "${NODE_PID[$n]}" 2>/dev/null
		why="exited with status $? before coming up"
		unset "NODE_PID[$n]"
	fi
	echo "node $n (${NODE_KIND[$n]}) $why"
}

# node_stop NAME [SECONDS] — SIGTERM, wait (bounded) and return the exit status (137 if killed).
node_stop() {
	local n=$1 limit=$((${2:-10} * 10)) pid i rc
	pid=${NODE_PID[$n]:-}
	[[ -n $pid ]] || return 0
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < limit; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		rc=137
	else
		wait "$pid" 2>/dev/null
		rc=$?
	fi
	unset "NODE_PID[$n]"
	return $rc
}

nodes_stop_all() {
	local n
	for n in "${!NODE_PID[@]}"; do node_stop "$n" 5 || true; done
	return 0
}

node_alive() {
	local pid=${NODE_PID[$1]:-}
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		echo "node $1 (pid $pid) is alive"
		return 0
	fi
	echo "node $1 is not running"
	return 1
}

# node_json NAME — warren status --json of the agent
node_json() {
	ip netns exec "${NODE_NS[$1]}" timeout 5 "$WARREN" status --interface "${NODE_IF[$1]}" --json
}

# node_peer_field NAME FIELD — latestHandshake | rxBytes | txBytes of the first peer
node_peer_field() {
	local n=$1 field=$2
	case ${NODE_KIND[$n]} in
	warren)
		node_json "$n" | "$PYTHON" -c '
import json, sys
print(json.load(sys.stdin)["peers"][0][sys.argv[1]])' "$field"
		;;
	wireguard-go)
		case $field in
		latestHandshake) ip netns exec "${NODE_NS[$n]}" timeout 5 wg show "${NODE_IF[$n]}" latest-handshakes | awk 'NR==1 {print $2}' ;;
		rxBytes) ip netns exec "${NODE_NS[$n]}" timeout 5 wg show "${NODE_IF[$n]}" transfer | awk 'NR==1 {print $2}' ;;
		txBytes) ip netns exec "${NODE_NS[$n]}" timeout 5 wg show "${NODE_IF[$n]}" transfer | awk 'NR==1 {print $3}' ;;
		*) return 1 ;;
		esac
		;;
	esac
}
node_handshake() { node_peer_field "$1" latestHandshake; }
node_rx() { node_peer_field "$1" rxBytes; }
node_tx() { node_peer_field "$1" txBytes; }

# node_drop NAME COUNTER — one of warren's drop counters
node_drop() {
	node_json "$1" | "$PYTHON" -c '
import json, sys
print(json.load(sys.stdin)["drops"][sys.argv[1]])' "$2"
}

has_handshake() { local h; h=$(node_handshake "$1") && [[ ${h:-0} -gt 0 ]]; }

# ---------------------------------------------------------------- traffic

# ping_works NS DST — wait (bounded) for a first reply, then require 4 of 5 replies.
ping_works() {
	local ns=$1 dst=$2 out got
	if ! wait_for 15 "a first ping reply from $dst" ip netns exec "$ns" ping -n -c 1 -W 1 "$dst"; then
		ip netns exec "$ns" ping -n -c 1 -W 1 "$dst"
		ip netns exec "$ns" ip route get "$dst"
		ip -n "$ns" -brief address 2>/dev/null
		echo "no ping reply from $dst within 15s"
		return 1
	fi
	out=$(ip netns exec "$ns" ping -n -q -c 5 -i 0.2 -W 2 "$dst" 2>&1)
	got=$(sed -n 's/.* \([0-9]\+\) received.*/\1/p' <<<"$out")
	echo "$out"
	if [[ ${got:-0} -ge 4 ]]; then
		echo "$dst answers from $ns ($got/5 after handshake)"
		return 0
	fi
	echo "$dst: only ${got:-0}/5 replies after the first"
	return 1
}

# loss_below OUTFILE PERCENT — parse a ping summary
ping_loss() { sed -n 's/.* \([0-9.]\+\)% packet loss.*/\1/p' "$1"; }

# tcp_transfer FROM_NS TO_NS DST_ADDR MEGABYTES [PORT] — send random data, compare sha256
tcp_transfer() {
	local from=$1 to=$2 dst=$3 mb=$4 port=${5:-5201} spid rc
	local bind=$dst
	trace "$to: $PYTHON tcpxfer.py recv $bind $port (background)"
	ip netns exec "$to" timeout 300 "$PYTHON" "$E2E_DIR/tcpxfer.py" recv "$bind" "$port" \
		>"$E2E_TMP/xfer-recv.log" 2>&1 &
	spid=$!
	BG_PIDS+=("$spid")
	if ! wait_for 10 "receiver on $dst:$port" tcp_listening "$to" "$port"; then
		cat "$E2E_TMP/xfer-recv.log"
		echo "receiver did not listen on $bind:$port"
		return 1
	fi
	nsx "$from" timeout 300 "$PYTHON" "$E2E_DIR/tcpxfer.py" send "$dst" "$port" "$mb"
	rc=$?
	stop_pid "$spid" 5
	wait "$spid" 2>/dev/null
	[[ $rc == 0 ]] || cat "$E2E_TMP/xfer-recv.log"
	return $rc
}

# capture_start NS IF FILE FILTER — tcpdump to a pcap, returns once it is capturing
CAPTURE_PID=""
capture_start() {
	local ns=$1 ifname=$2 file=$3 filter=$4
	trace "$ns: tcpdump -i $ifname -n -U --immediate-mode -Z root -w $file $filter"
	ip netns exec "$ns" timeout 300 tcpdump -i "$ifname" -n -U --immediate-mode -Z root -w "$file" "$filter" \
		>"$file.log" 2>&1 &
	CAPTURE_PID=$!
	BG_PIDS+=("$CAPTURE_PID")
	wait_for 10 "tcpdump to start" grep -q "listening on" "$file.log" || { cat "$file.log"; return 1; }
}
capture_stop() {
	[[ -n $CAPTURE_PID ]] || return 0
	sleep 0.2 # let the last packets reach the file
	kill -INT "$CAPTURE_PID" 2>/dev/null
	local i
	for ((i = 0; i < 50; i++)); do
		kill -0 "$CAPTURE_PID" 2>/dev/null || break
		sleep 0.1
	done
	stop_pid "$CAPTURE_PID" 1
	wait "$CAPTURE_PID" 2>/dev/null
	CAPTURE_PID=""
	return 0
}

# ---------------------------------------------------------------- the usual pair

# pair_up KIND_A KIND_B [wire=4|6] [psk=same|mismatch|none] [keepalive=N] [b_endpoint=yes|no]
#         [-- VAR=VALUE...]
# Node A in ns1 (interface $IF_A, port $PORT_A), node B in ns2 ($IF_B, $PORT_B); tunnel
# addresses .1/::1 and .2/::2. Environment after "--" goes to node A. Keys: $KEY_A/$PUB_A,
# $KEY_B/$PUB_B (generate them before calling).
PORT_A=51820
PORT_B=51821
IF_A="wa$$"
IF_B="wb$$"
pair_up() {
	local kind_a=$1 kind_b=$2; shift 2
	local wire=4 psk=none keepalive="" b_endpoint=yes envs=() kv
	while [[ $# -gt 0 ]]; do
		kv=$1; shift
		case $kv in
		wire=*) wire=${kv#*=} ;;
		psk=*) psk=${kv#*=} ;;
		keepalive=*) keepalive=${kv#*=} ;;
		b_endpoint=*) b_endpoint=${kv#*=} ;;
		--) envs=("$@"); break ;;
		*) echo "pair_up: unknown option $kv"; return 1 ;;
		esac
	done
	local ep_a ep_b psk_a="" psk_b=""
	if [[ $wire == 6 ]]; then
		ep_a="[$V6_1]:$PORT_A" ep_b="[$V6_2]:$PORT_B"
	else
		ep_a="$V4_1:$PORT_A" ep_b="$V4_2:$PORT_B"
	fi
	[[ $b_endpoint == yes ]] || ep_a=""
	case $psk in
	same) psk_a=$(genpsk); psk_b=$psk_a ;;
	mismatch) psk_a=$(genpsk); psk_b=$(genpsk) ;;
	esac
	write_conf "$E2E_TMP/a.conf" priv="$KEY_A" addr="$T4_1/24,$T6_1/64" port=$PORT_A \
		peer="$PUB_B" allowed="$T4_2/32,$T6_2/128" endpoint="$ep_b" psk="$psk_a" keepalive="$keepalive"
	write_conf "$E2E_TMP/b.conf" priv="$KEY_B" addr="$T4_2/24,$T6_2/64" port=$PORT_B \
		peer="$PUB_A" allowed="$T4_1/32,$T6_1/128" endpoint="$ep_a" psk="$psk_b"
	node_start A "$kind_a" "$NS1" "$IF_A" "$E2E_TMP/a.conf" "${envs[@]}" || return 1
	node_start B "$kind_b" "$NS2" "$IF_B" "$E2E_TMP/b.conf" || return 1
	wait_for 10 "UDP ports $PORT_A and $PORT_B" \
		bash -c "[[ -n \$(ip netns exec $NS1 ss -Hlnu 'sport = :$PORT_A') && -n \$(ip netns exec $NS2 ss -Hlnu 'sport = :$PORT_B') ]]" || return 1
	echo "A=${NODE_KIND[A]} in ns1 ($IF_A :$PORT_A), B=${NODE_KIND[B]} in ns2 ($IF_B :$PORT_B), wire IPv$wire${psk:+, psk $psk}${keepalive:+, keepalive $keepalive}"
}

# pair_down — stop both nodes; make sure their devices are gone before the next case.
pair_down() {
	nodes_stop_all
	local n
	for n in A B; do
		[[ -n ${NODE_IF[$n]:-} ]] || continue
		if ! wait_for 5 "device ${NODE_IF[$n]} to disappear" \
			bash -c "! ip -n ${NODE_NS[$n]} link show dev ${NODE_IF[$n]}" >/dev/null; then
			ip -n "${NODE_NS[$n]}" link del "${NODE_IF[$n]}" 2>/dev/null
		fi
	done
	return 0
}

# ---------------------------------------------------------------- more namespaces, captures

# veth_pair NS_A IF_A NS_B IF_B — a veth cable between two namespaces, both ends up
veth_pair() {
	ip -n "$1" link add "$2" type veth peer name "$4" netns "$3" || return 1
	ip -n "$1" link set "$2" up && ip -n "$3" link set "$4" up
}

# addr_add NS DEV ADDR/LEN... — v4 and v6 addresses (v6 without DAD), then the device up
addr_add() {
	local ns=$1 dev=$2 a; shift 2
	for a in "$@"; do
		if [[ $a == *:* ]]; then
			ip -n "$ns" addr add "$a" dev "$dev" nodad || return 1
		else
			ip -n "$ns" addr add "$a" dev "$dev" || return 1
		fi
	done
	ip -n "$ns" link set "$dev" up
}

# sysctl_is NS KEY VALUE — the namespace's sysctl has this value
sysctl_is() {
	local v
	v=$(ip netns exec "$1" sysctl -n "$2" 2>&1)
	if [[ $v == "$3" ]]; then
		echo "$2 = $v"
		return 0
	fi
	echo "$2 = $v, expected $3"
	return 1
}

# Several captures at once, by name (capture_start above keeps a single one).
#   pcap_start NAME NS IF FILE [FILTER]   returns once tcpdump is capturing
#   pcap_stop NAME
#   pcap_read FILE [FILTER]               one line per packet (tcpdump -r -nn); fails if tcpdump does
declare -A PCAP_PID=()
pcap_start() {
	local name=$1 ns=$2 ifname=$3 file=$4 filter=${5:-}
	trace "$ns: tcpdump -i $ifname -nn -U --immediate-mode -Z root -w $file $filter (capture $name)"
	# shellcheck disable=SC2086 # an empty filter must vanish
	ip netns exec "$ns" timeout 600 tcpdump -i "$ifname" -nn -U --immediate-mode -Z root -w "$file" $filter \
		>"$file.log" 2>&1 &
	PCAP_PID[$name]=$!
	BG_PIDS+=("${PCAP_PID[$name]}")
	local out
	out=$(wait_for 10 "tcpdump on $ifname in $ns to start" grep -q "listening on" "$file.log") || {
		cat "$file.log"; echo "$out"; return 1; }
}
pcap_stop() {
	local pid=${PCAP_PID[$1]:-} i
	[[ -n $pid ]] || return 0
	sleep 0.2 # let the last packets reach the file
	kill -INT "$pid" 2>/dev/null
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	stop_pid "$pid" 1
	wait "$pid" 2>/dev/null
	unset "PCAP_PID[$1]"
	return 0
}
pcap_read() {
	local file=$1 filter=${2:-} err
	err=$(mktemp "$E2E_TMP/tcpdump-r.XXXXXX")
	# shellcheck disable=SC2086
	if ! tcpdump -r "$file" -nn -tt $filter 2>"$err"; then
		echo "tcpdump -r $file failed: $(grep -v '^reading from' "$err" | head -n 3)" >&2
		rm -f "$err"
		return 1
	fi
	rm -f "$err"
}

# nft_counter NS FAMILY TABLE NAME — packets of a named nftables counter
# warren_table NAME — the name (without family) of the gateway's nftables table for interface
# NAME: "warren_" and the name with every character but letters and digits written _xx (hex).
warren_table() {
	local name=$1 out="" c i
	for ((i = 0; i < ${#name}; i++)); do
		c=${name:i:1}
		if [[ $c == [A-Za-z0-9] ]]; then out+=$c; else out+=$(printf '_%02x' "'$c"); fi
	done
	echo "warren_${2:+$2_}$out"
}

# ---------------------------------------------------------------- helpers the service suites share

# bg NS LOG cmd... — a bounded background service in NS (killed by the EXIT trap); its PID in $BG_LAST
bg() {
	local ns=$1 log=$2; shift 2
	trace "$ns: $* (background)"
	ip netns exec "$ns" timeout 3600 "$@" >"$log" 2>&1 &
	BG_LAST=$!
	BG_PIDS+=("$BG_LAST")
}
seen_as() {
	local ns=$1 url=$2 want=$3 seconds=${4:-10} got="" i; shift 4 2>/dev/null || shift $#
	for ((i = 0; i < seconds; i++)); do
		got=$(ip netns exec "$ns" curl -sS -g --max-time 1 "$@" "$url" 2>&1) && break
		got=""
		sleep 0.5
	done
	if [[ -z $got ]]; then
		ip netns exec "$ns" curl -sS -g --max-time 2 "$@" "$url" 2>&1 | tail -n 1
		echo "no HTTP answer from $url within about $((seconds * 3 / 2)) s"
		return 1
	fi
	[[ $got == "$want" ]] || { echo "$url answered: the server sees $got, expected $want"; return 1; }
	echo "$url answered: the server sees $got"
}
# fails_from NS WHAT cmd... — must fail
fails_from() {
	local ns=$1 what=$2 out; shift 2
	if out=$(ip netns exec "$ns" "$@" 2>&1); then
		echo "$out" | tail -n 3
		echo "$what succeeded, expected it to fail"
		return 1
	fi
	echo "$what fails, as expected ($(tail -n 1 <<<"$out" | cut -c1-100))"
}
# dns_is NS SERVER NAME WANT [TYPE] — dnsd.py query answers WANT
dns_is() {
	local out
	out=$(ip netns exec "$1" timeout 10 "$PYTHON" "$E2E_DIR/dnsd.py" query "$2" "$3" --type "${5:-A}" --timeout 3 2>&1)
	echo "$out"
	grep -qx "$4" <<<"$out" || { echo "expected $4 for $3 ${5:-A} from $2"; return 1; }
}
log_has() { # log_has FILE REGEX WHAT
	local line
	line=$(grep -E "$2" "$1" | tail -n 1)
	[[ -n $line ]] || { echo "$3: no line matching '$2' in $(basename "$1") ($(grep -c . "$1") lines)"; return 1; }
	echo "$3: $line"
}
log_lacks() { # log_lacks FILE REGEX WHAT
	local line
	line=$(grep -E "$2" "$1" | tail -n 1)
	[[ -z $line ]] || { echo "$3: found '$line' in $(basename "$1")"; return 1; }
	echo "$3: nothing matching '$2' in $(basename "$1") ($(grep -c . "$1") lines)"
}

# up_fails_at_last_step NS IF STATE CONF [TEXT] — `warren up` must fail at its last step (the
# control socket, whose path a directory takes for the test) and print TEXT if given. The path
# is freed again before returning.
up_fails_at_last_step() {
	local ns=$1 ifname=$2 state=$3 conf=$4 text=${5:-} out rc
	mkdir -p "/run/warren/$ifname.sock"
	out=$(ip netns exec "$ns" timeout 30 "$WARREN" up --interface "$ifname" --state-dir "$state" "$conf" 2>&1)
	rc=$?
	rmdir "/run/warren/$ifname.sock" 2>/dev/null
	echo "$out" | tail -n 4
	[[ $rc != 0 && $rc != 124 ]] || { echo "warren up exited with status $rc, expected a failure"; return 1; }
	grep -q "control socket" <<<"$out" || { echo "the error does not name the control socket"; return 1; }
	[[ -z $text ]] || grep -qF -- "$text" <<<"$out" || { echo "the output does not say: $text"; return 1; }
	echo "warren up failed (status $rc) at the control socket${text:+ and said: $text}"
}

nft_counter() {
	ip netns exec "$1" nft -j list counter "$2" "$3" "$4" | "$PYTHON" -c '
import json, sys
for o in json.load(sys.stdin)["nftables"]:
    if "counter" in o:
        print(o["counter"]["packets"]); break
else:
    sys.exit(1)'
}

# json_expect JSON PATH=VALUE... — each dotted PATH of the JSON document equals VALUE (a JSON
# literal: 51820, true, "block", ["lan0"]); prints the mismatches, or the values that matched.
json_expect() {
	"$PYTHON" -c '
import json, sys
try:
    doc = json.loads(sys.argv[1])
except ValueError as err:
    print(f"not JSON ({err}): {sys.argv[1][:200]!r}"); sys.exit(1)
bad, good = [], []
for item in sys.argv[2:]:
    path, _, want = item.partition("=")
    node, ok = doc, True
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        else:
            ok = False; break
    if not ok:
        bad.append(f"{path} missing"); continue
    if node != json.loads(want):
        bad.append(f"{path} is {json.dumps(node)}, expected {want}")
    else:
        good.append(f"{path}={json.dumps(node)}")
if bad:
    print("; ".join(bad)); sys.exit(1)
print(", ".join(good))' "$@"
}

# ---------------------------------------------------------------- whole-home gateway topology
#
#   client  192.168.50.10 fd50::10 ─┐ lanp1
#                                   ├─ lan0 (bridge) [gw] wan0 ──── r-gw [router] r-exit ──── wan0 [exit]
#   client2 192.168.50.7  fd50::7  ─┘ lanp2  .50.1      172.30.1.2  .1.1          .2.1       172.30.2.2
#                                           fd50::1     2001:db8:1::2             r-web      2001:db8:2::2
#                                                                                   │        wgx: 10.64.0.1 fd64::1
#                                                                       eth0 [web] 172.30.3.2 2001:db8:3::2
#
# The router is "the internet": it knows its three links and nothing else, so neither the LAN
# nor the tunnel addresses can be reached back without NAT. The exit runs wireguard-go as the
# WireGuard server on port 51820 (peer: the gateway, 10.64.0.2 and fd64::2), masquerades
# 10.64.0.0/24 and fd64::/64 out of its wan0 and answers DNS on 10.64.0.1 and fd64::1 (dnsd.py:
# every A question gets the web server's address); web runs whoami.py on port 80.
#
#   wh_topo_up          the six namespaces, addresses, routes, the exit's NAT; gw forwards nothing yet
#   wh_keys             WH_GW_KEY/WH_GW_PUB, WH_EXIT_KEY/WH_EXIT_PUB
#   wh_exit_start       wireguard-go on the exit (node EXIT); node_stop EXIT stops it
#   wh_services_start   whoami.py on web, dnsd.py on exit
#   wh_gateway_conf FILE key=value...   the gateway's warren config ([Gateway] section included)
#   wh_whoami NS URL    what the web server says the client's address is
WH_CLIENT="wre2e-$$-client" WH_CLIENT2="wre2e-$$-client2" WH_GW="wre2e-$$-gw"
WH_ROUTER="wre2e-$$-router" WH_EXIT="wre2e-$$-exit" WH_WEB="wre2e-$$-web"
WH_C4=192.168.50.10 WH_C6=fd50::10 WH_C2_4=192.168.50.7 WH_C2_6=fd50::7
WH_LAN4=192.168.50.1 WH_LAN6=fd50::1
WH_WAN4=172.30.1.2 WH_WAN6=2001:db8:1::2
WH_EXIT4=172.30.2.2 WH_EXIT6=2001:db8:2::2
WH_WEB4=172.30.3.2 WH_WEB6=2001:db8:3::2
WH_XT4=10.64.0.1 WH_XT6=fd64::1 # the exit's tunnel addresses, also the resolver
WH_GT4=10.64.0.2 WH_GT6=fd64::2 # the gateway's
WH_PORT=51820
WH_LAN=lan0 WH_WAN=wan0
WH_TUN="wgw$$" WH_XIF="wgx$$"
WH_TABLE=$(warren_table "$WH_TUN")

wh_topo_up() {
	local ns
	for ns in "$WH_CLIENT" "$WH_CLIENT2" "$WH_GW" "$WH_ROUTER" "$WH_EXIT" "$WH_WEB"; do
		ns_add "$ns" || return 1
	done
	veth_pair "$WH_CLIENT" eth0 "$WH_GW" lanp1 &&
		veth_pair "$WH_CLIENT2" eth0 "$WH_GW" lanp2 &&
		veth_pair "$WH_GW" "$WH_WAN" "$WH_ROUTER" r-gw &&
		veth_pair "$WH_ROUTER" r-exit "$WH_EXIT" wan0 &&
		veth_pair "$WH_ROUTER" r-web "$WH_WEB" eth0 || return 1
	# The LAN is a bridge, as on a home router.
	ip -n "$WH_GW" link add "$WH_LAN" type bridge stp_state 0 mcast_snooping 0 || return 1
	ip -n "$WH_GW" link set lanp1 master "$WH_LAN" && ip -n "$WH_GW" link set lanp2 master "$WH_LAN" || return 1
	addr_add "$WH_GW" "$WH_LAN" "$WH_LAN4/24" "$WH_LAN6/64" &&
		addr_add "$WH_GW" "$WH_WAN" "$WH_WAN4/24" "$WH_WAN6/64" &&
		addr_add "$WH_CLIENT" eth0 "$WH_C4/24" "$WH_C6/64" &&
		addr_add "$WH_CLIENT2" eth0 "$WH_C2_4/24" "$WH_C2_6/64" &&
		addr_add "$WH_ROUTER" r-gw 172.30.1.1/24 2001:db8:1::1/64 &&
		addr_add "$WH_ROUTER" r-exit 172.30.2.1/24 2001:db8:2::1/64 &&
		addr_add "$WH_ROUTER" r-web 172.30.3.1/24 2001:db8:3::1/64 &&
		addr_add "$WH_EXIT" wan0 "$WH_EXIT4/24" "$WH_EXIT6/64" &&
		addr_add "$WH_WEB" eth0 "$WH_WEB4/24" "$WH_WEB6/64" || return 1
	local gw4 gw6
	for ns in "$WH_CLIENT" "$WH_CLIENT2"; do
		ip -n "$ns" route add default via "$WH_LAN4" && ip -n "$ns" -6 route add default via "$WH_LAN6" || return 1
	done
	for ns in "$WH_GW:1" "$WH_EXIT:2" "$WH_WEB:3"; do
		gw4=172.30.${ns##*:}.1 gw6=2001:db8:${ns##*:}::1
		ip -n "${ns%:*}" route add default via "$gw4" && ip -n "${ns%:*}" -6 route add default via "$gw6" || return 1
	done
	ip netns exec "$WH_ROUTER" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 || return 1
	ip netns exec "$WH_EXIT" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 || return 1
	# The gateway forwards nothing until the agent (or a test) says so.
	ip netns exec "$WH_GW" sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0 || return 1
	ip netns exec "$WH_EXIT" nft -f - <<-NFT || return 1
		table inet exit_nat {
			chain postrouting {
				type nat hook postrouting priority srcnat; policy accept;
				oifname "wan0" ip saddr 10.64.0.0/24 masquerade
				oifname "wan0" ip6 saddr fd64::/64 masquerade
			}
		}
	NFT
	wait_for 10 "client → gw (v4)" ip netns exec "$WH_CLIENT" ping -n -c 1 -W 1 "$WH_LAN4" &&
		wait_for 10 "client → gw (v6)" ip netns exec "$WH_CLIENT" ping -n -c 1 -W 1 "$WH_LAN6" &&
		wait_for 10 "client2 → gw (v4)" ip netns exec "$WH_CLIENT2" ping -n -c 1 -W 1 "$WH_LAN4" &&
		wait_for 10 "gw → web through the router (v4)" ip netns exec "$WH_GW" ping -n -c 1 -W 1 "$WH_WEB4" &&
		wait_for 10 "gw → web through the router (v6)" ip netns exec "$WH_GW" ping -n -c 1 -W 1 "$WH_WEB6" &&
		wait_for 10 "exit → web through the router (v4)" ip netns exec "$WH_EXIT" ping -n -c 1 -W 1 "$WH_WEB4" &&
		wait_for 10 "exit → web through the router (v6)" ip netns exec "$WH_EXIT" ping -n -c 1 -W 1 "$WH_WEB6" ||
		return 1
	echo "client, client2, gw, router, exit and web namespaces up"
}

wh_keys() {
	WH_GW_KEY=$(genkey) WH_EXIT_KEY=$(genkey)
	WH_GW_PUB=$(pubkey <<<"$WH_GW_KEY") WH_EXIT_PUB=$(pubkey <<<"$WH_EXIT_KEY")
}

# wh_exit_start — wireguard-go as the exit's WireGuard server (node EXIT); it learns the
# gateway's endpoint from the gateway's handshake.
wh_exit_start() {
	write_conf "$E2E_TMP/exit.conf" priv="$WH_EXIT_KEY" addr="$WH_XT4/24,$WH_XT6/64" port=$WH_PORT \
		peer="$WH_GW_PUB" allowed="$WH_GT4/32,$WH_GT6/128"
	node_start EXIT wireguard-go "$WH_EXIT" "$WH_XIF" "$E2E_TMP/exit.conf" || return 1
	wait_for 10 "the exit's UDP port $WH_PORT" udp_listening "$WH_EXIT" "$WH_PORT"
}

WH_WEB_LOG="" WH_DNS_LOG=""
wh_services_start() {
	WH_WEB_LOG=$E2E_TMP/whoami.log WH_DNS_LOG=$E2E_TMP/dnsd.log
	: >"$WH_WEB_LOG"
	: >"$WH_DNS_LOG"
	trace "$WH_WEB: whoami.py --port 80 (background)"
	ip netns exec "$WH_WEB" timeout 3600 "$PYTHON" "$E2E_DIR/whoami.py" --port 80 --log "$WH_WEB_LOG" \
		"$WH_WEB4" "$WH_WEB6" >"$E2E_TMP/whoami.out" 2>&1 &
	BG_PIDS+=("$!")
	trace "$WH_EXIT: dnsd.py serve $WH_XT4 $WH_XT6 (background)"
	ip netns exec "$WH_EXIT" timeout 3600 "$PYTHON" "$E2E_DIR/dnsd.py" serve --a "$WH_WEB4" --aaaa "$WH_WEB6" \
		--log "$WH_DNS_LOG" "$WH_XT4" "$WH_XT6" >"$E2E_TMP/dnsd.out" 2>&1 &
	BG_PIDS+=("$!")
	wait_for 10 "whoami.py on web port 80" tcp_listening "$WH_WEB" 80 &&
		wait_for 10 "dnsd.py on the exit's port 53" tcp_listening "$WH_EXIT" 53 || {
		cat "$E2E_TMP/whoami.out" "$E2E_TMP/dnsd.out"; return 1; }
}

# wh_gateway_conf FILE key=value... — keys: priv addr dns mtu port fwmark peer endpoint allowed
# keepalive lan killswitch bypass ipv6. Defaults: the gateway's key and 10.64.0.2/32, DNS
# 10.64.0.1, port 51820, the exit as peer at 172.30.2.2:51820 with 0.0.0.0/0, ::/0 and
# keepalive 5, LAN = lan0; empty values leave the key out.
wh_gateway_conf() {
	local file=$1; shift
	local priv=${WH_GW_KEY:-} addr="$WH_GT4/32" dns=$WH_XT4 mtu=1420 port=$WH_PORT fwmark=""
	local peer=${WH_EXIT_PUB:-} endpoint="$WH_EXIT4:$WH_PORT" allowed="0.0.0.0/0, ::/0" keepalive=5
	local lan=$WH_LAN killswitch="" bypass="" ipv6="" kv
	for kv in "$@"; do
		case $kv in
		priv=*) priv=${kv#*=} ;; addr=*) addr=${kv#*=} ;; dns=*) dns=${kv#*=} ;;
		mtu=*) mtu=${kv#*=} ;; port=*) port=${kv#*=} ;; fwmark=*) fwmark=${kv#*=} ;;
		peer=*) peer=${kv#*=} ;; endpoint=*) endpoint=${kv#*=} ;; allowed=*) allowed=${kv#*=} ;;
		keepalive=*) keepalive=${kv#*=} ;; lan=*) lan=${kv#*=} ;; killswitch=*) killswitch=${kv#*=} ;;
		bypass=*) bypass=${kv#*=} ;; ipv6=*) ipv6=${kv#*=} ;;
		*) echo "wh_gateway_conf: unknown key $kv" >&2; return 1 ;;
		esac
	done
	{
		echo "[Interface]"
		echo "PrivateKey = $priv"
		[[ -n $addr ]] && echo "Address = $addr"
		[[ -n $dns ]] && echo "DNS = $dns"
		[[ -n $mtu ]] && echo "MTU = $mtu"
		[[ -n $port ]] && echo "ListenPort = $port"
		[[ -n $fwmark ]] && echo "FwMark = $fwmark"
		echo
		echo "[Peer]"
		echo "PublicKey = $peer"
		[[ -n $endpoint ]] && echo "Endpoint = $endpoint"
		echo "AllowedIPs = $allowed"
		[[ -n $keepalive ]] && echo "PersistentKeepalive = $keepalive"
		echo
		echo "[Gateway]"
		echo "LAN = $lan"
		[[ -n $killswitch ]] && echo "KillSwitch = $killswitch"
		[[ -n $bypass ]] && echo "Bypass = $bypass"
		[[ -n $ipv6 ]] && echo "IPv6 = $ipv6"
	} >"$file"
	chmod 600 "$file"
}

# wh_whoami NS URL [SECONDS] — one HTTP GET; prints the address the web server saw
wh_whoami() {
	ip netns exec "$1" curl -sS -g --max-time "${3:-5}" "$2"
}

# wh_seen_as NS URL EXPECTED [SECONDS] — wait (bounded) for an answer, then it must be EXPECTED
wh_seen_as() {
	local ns=$1 url=$2 want=$3 seconds=${4:-15} got="" i
	for ((i = 0; i < seconds; i++)); do
		got=$(wh_whoami "$ns" "$url" 1 2>&1) && break
		got=""
		sleep 0.5
	done
	if [[ -z $got ]]; then
		wh_whoami "$ns" "$url" 2 2>&1 | tail -n 1
		echo "no HTTP answer from $url within about $((seconds * 3 / 2)) s"
		return 1
	fi
	if [[ $got == "$want" ]]; then
		echo "$url answered: the web server sees $got"
		return 0
	fi
	echo "$url answered: the web server sees $got, expected $want"
	return 1
}

# wh_client_traffic NS SECONDS — the kind of traffic a LAN device makes, toward the internet
# (pings v4 and v6, TCP connections to the web server, DNS to an outside resolver); bounded,
# failures ignored.
wh_client_traffic() {
	local ns=$1 s=$2 i p4 p6
	ip netns exec "$ns" timeout $((s + 3)) ping -n -q -i 0.2 -c $((s * 5)) -W 1 "$WH_WEB4" >/dev/null 2>&1 &
	p4=$!
	ip netns exec "$ns" timeout $((s + 3)) ping -6 -n -q -i 0.5 -c $((s * 2)) -W 1 "$WH_WEB6" >/dev/null 2>&1 &
	p6=$!
	for ((i = 0; i < s; i++)); do
		ip netns exec "$ns" curl -s -o /dev/null --connect-timeout 0.4 --max-time 0.5 "http://$WH_WEB4/" >/dev/null 2>&1
		ip netns exec "$ns" timeout 2 "$PYTHON" "$E2E_DIR/dnsd.py" query 9.9.9.9 "noise$i.warren.test" --timeout 0.3 \
			>/dev/null 2>&1
	done
	wait "$p4" "$p6" 2>/dev/null
	return 0
}

# What may appear on the gateway's WAN: the tunnel's UDP flow between gw:51820 and exit:51820,
# ICMP errors about that flow (the exit's port is closed while wireguard-go is down), ARP,
# link-local and multicast IPv6 (neighbour discovery, MLD) and ND messages.
wh_tunnel_filter() {
	echo "udp and ((src host $WH_WAN4 and src port $WH_PORT and dst host $WH_EXIT4 and dst port $WH_PORT)" \
		"or (src host $WH_EXIT4 and src port $WH_PORT and dst host $WH_WAN4 and dst port $WH_PORT))"
}
wh_allowed_filter() {
	echo "arp or ($(wh_tunnel_filter))" \
		"or (icmp and src host $WH_EXIT4 and dst host $WH_WAN4 and icmp[0] == 3 and icmp[17] == 17 and icmp[30:2] == $WH_PORT)" \
		"or (ip6 and (src net fe80::/10 or dst net ff00::/8))" \
		"or (ip6 and ip6[6] == 58 and ip6[40] >= 133 and ip6[40] <= 137)"
}

# wh_wan_clean PCAP [MIN_TUNNEL] — nothing but what wh_allowed_filter lets through, and at
# least MIN_TUNNEL packets of the tunnel's flow (to show the capture worked).
wh_wan_clean() {
	local f=$1 min=${2:-0} total tunnel leaks n
	total=$(pcap_read "$f" | wc -l) && tunnel=$(pcap_read "$f" "$(wh_tunnel_filter)" | wc -l) &&
		leaks=$(pcap_read "$f" "not ($(wh_allowed_filter))") || { echo "could not read $f"; return 1; }
	n=$(grep -c . <<<"$leaks")
	if [[ $n -gt 0 ]]; then
		head -n 12 <<<"$leaks"
		echo "$n packet(s) on $WH_WAN besides the tunnel's UDP flow (first ones above; $total captured)"
		return 1
	fi
	if [[ $tunnel -lt $min ]]; then
		echo "only $tunnel packet(s) of the tunnel's UDP flow among $total captured on $WH_WAN, expected >= $min"
		return 1
	fi
	echo "$total packet(s) on $WH_WAN, $tunnel of them the tunnel's UDP flow, nothing else"
}

# pcap_count_at_least PCAP FILTER MIN WHAT — the capture holds at least MIN such packets
pcap_count_at_least() {
	local n
	n=$(pcap_read "$1" "$2" | wc -l) || { echo "could not read $1"; return 1; }
	if [[ $n -ge $3 ]]; then
		echo "$n packet(s) of $4 captured"
		return 0
	fi
	echo "only $n packet(s) of $4 captured (expected >= $3)"
	return 1
}

# wh_gateway_clean — nothing of a gateway agent left in the gw namespace: no nft table
# "inet $WH_TABLE", no ip rule mentioning the mark, table 51820 or suppress_prefixlength, no
# route in table 51820, no TUN device.
wh_gateway_clean() {
	local bad=() out
	ip netns exec "$WH_GW" nft list table inet "$WH_TABLE" >/dev/null 2>&1 && bad+=("nft table inet $WH_TABLE still there")
	out=$({ ip -n "$WH_GW" -4 rule show; ip -n "$WH_GW" -6 rule show; } 2>&1 | grep -E '0xca6c|51820|suppress_prefixlength')
	[[ -n $out ]] && bad+=("ip rules left: $(tr '\n' ';' <<<"$out")")
	out=$({ ip -n "$WH_GW" -4 route show table 51820; ip -n "$WH_GW" -6 route show table 51820; } 2>/dev/null)
	[[ -n $out ]] && bad+=("routes left in table 51820: $(tr '\n' ';' <<<"$out")")
	link_exists "$WH_GW" "$WH_TUN" && bad+=("device $WH_TUN still there")
	if [[ ${#bad[@]} -gt 0 ]]; then
		printf '%s\n' "${bad[@]}"
		return 1
	fi
	echo "no inet $WH_TABLE table, no rules for 0xca6c/51820/suppress_prefixlength, table 51820 empty, no $WH_TUN"
}

# ---------------------------------------------------------------- per-namespace /etc files (provider suite)
#
#   netns_etc_file NS NAME CONTENT   writes /etc/netns/NS/NAME (ip netns exec bind-mounts it over
#                                    /etc/NAME inside NS), e.g. a resolv.conf for the namespace;
#                                    the directory is removed on exit, before the namespaces go
E2E_ETC_NETNS=()
etc_netns_cleanup() {
	local d
	for d in "${E2E_ETC_NETNS[@]}"; do
		# Only directories this suite made, for its own namespaces.
		[[ $d == /etc/netns/wre2e-$$-* ]] && rm -rf "$d"
	done
	return 0
}
netns_etc_file() {
	local ns=$1 name=$2 content=$3 dir="/etc/netns/$1"
	[[ $ns == wre2e-$$-* ]] || { echo "netns_etc_file: $ns is not one of this suite's namespaces"; return 1; }
	mkdir -p "$dir" || return 1
	printf '%s\n' "$content" >"$dir/$name" || return 1
	E2E_ETC_NETNS+=("$dir")
	# Run before lib.sh's cleanup, keeping the exit status it reports.
	trap 'e2e_rc=$?; etc_netns_cleanup; (exit $e2e_rc); cleanup' EXIT
	echo "$dir/$name: $(tr '\n' ' ' <"$dir/$name")"
}

# node_eval NAME EXPR — a Python expression over warren status --json of node NAME (the
# document is `d`); prints its value (JSON for lists and objects)
node_eval() {
	local j
	j=$(node_json "$1") || { echo "warren status --json of $1 failed"; return 1; }
	"$PYTHON" -c '
import json, sys
d = json.loads(sys.argv[1])
try:
    v = eval(sys.argv[2], {"d": d, "len": len, "sum": sum, "sorted": sorted})
except (KeyError, IndexError, TypeError) as err:
    print(f"status has no {sys.argv[2]} ({err!r})"); sys.exit(1)
print(json.dumps(v) if isinstance(v, (list, dict, bool)) or v is None else v)' "$j" "$2"
}
