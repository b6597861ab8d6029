#!/usr/bin/env bash
# Hostile datagrams at warren's UDP port while a session with wireguard-go carries a ping:
# garbage, wrongly sized messages, replayed and tampered transport packets, a replayed
# initiation, wrongly keyed initiations. warren (node A, ns1) must stay alive, keep the
# session, and count each kind of drop in `warren status --json`.
# Run as root. E2E_SUBJECT=wireguard-go runs the same attacks against wireguard-go (the
# drop counters are then skipped).
source "$(dirname "$0")/lib.sh"

require_root_tools
check "setup: namespaces and v4/v6 veth wire" topo_up || summary

KEY_A=$(genkey) KEY_B=$(genkey)
PUB_A=$(pubkey <<<"$KEY_A") PUB_B=$(pubkey <<<"$KEY_B")
if [[ $E2E_SUBJECT == warren ]]; then A_NAME=warren; else A_NAME="stand-in $E2E_SUBJECT"; fi
PCAP="$E2E_TMP/wire.pcap"
WGPKT=("$PYTHON" "$E2E_DIR/wgpkt.py")

check "setup: $A_NAME ↔ wireguard-go up" pair_up subject wireguard-go || summary

# Capture what wireguard-go sends to A while it initiates the session, for the replays.
check "setup: capture B → A on the wire" capture_start "$NS2" veth2 "$PCAP" "udp and dst port $PORT_A"
check "setup: wireguard-go initiates, ping $T4_1" ping_works "$NS2" "$T4_1"
capture_stop
captured_count() { # captured_count TYPE MIN
	local n
	n=$("${WGPKT[@]}" count "$PCAP" "$V4_1" "$PORT_A" "$1")
	echo "$n captured type-$1 messages"
	[[ ${n:-0} -ge $2 ]]
}
check "setup: capture holds the initiation" captured_count 1 1
check "setup: capture holds transport packets" captured_count 4 4
# Our MAC1 code (used by mac1init below) must agree with wireguard-go's.
check "setup: MAC1 of captured initiations verifies with wgpkt.py" \
	"${WGPKT[@]}" check-mac1 "$PCAP" "$PUB_A"

# A ping runs through every attack; it is stopped (SIGINT prints its summary) at the end.
PING_LOG="$E2E_TMP/background-ping.log"
trace "$NS2: ping -n -q -i 0.2 -w 120 -W 1 $T4_1 (background)"
ip netns exec "$NS2" ping -n -q -i 0.2 -w 120 -W 1 "$T4_1" >"$PING_LOG" 2>&1 &
PING_PID=$!
BG_PIDS+=("$PING_PID")

# drops_grew BEFORE_JSON SECONDS COUNTER... — the sum of these counters grew (bounded wait)
drops_grew() {
	local before=$1 seconds=$2 i out; shift 2
	for ((i = 0; i < seconds * 10; i++)); do
		out=$(node_json A | "$PYTHON" -c '
import json, sys
before = json.loads(sys.argv[1])["drops"]
after = json.load(sys.stdin)["drops"]
names = sys.argv[2:]
grew = sum(after[n] for n in names) > sum(before[n] for n in names)
delta = ", ".join(f"{k} +{after[k] - before.get(k, 0)}" for k in after if after[k] != before.get(k, 0))
print(("ok: " if grew else "no growth in " + "/".join(names) + ": ") + (delta or "no counter moved"))
sys.exit(0 if grew else 1)' "$before" "$@") && { echo "$out"; return 0; }
		sleep 0.1
	done
	echo "${out:-warren status --json failed}"
	return 1
}

# attack NAME "COUNTERS" wgpkt-args... — send, then check: counters grew, A alive, session works
attack() {
	local name=$1 counters=$2; shift 2
	local before=""
	[[ $E2E_SUBJECT == warren ]] && before=$(node_json A 2>/dev/null)
	[[ -n $before ]] || before='{"drops": {}}'
	check "$name: send" n2 "${WGPKT[@]}" "$@"
	# shellcheck disable=SC2086
	check_subject "$name: drop counter ${counters// / or } grew" drops_grew "$before" 5 $counters
	check "$name: $A_NAME still running" node_alive A
	check "$name: session still answers" ping_works "$NS1" "$T4_2"
}

attack "garbage (600 random datagrams, 0-1500 bytes)" "malformed" \
	garbage "$V4_1" "$PORT_A" 600
attack "wrongly sized (type 1/147 B, type 4/20 B, ...)" "malformed" \
	truncated "$V4_1" "$PORT_A"
attack "replayed transport packets" "replayed decryptFailed" \
	replay "$PCAP" "$V4_1" "$PORT_A" 4
attack "tampered transport packets" "decryptFailed" \
	tamper "$PCAP" "$V4_1" "$PORT_A"
attack "transport for unknown receivers" "unknownReceiver" \
	unknownrx "$V4_1" "$PORT_A" 50
attack "replayed handshake initiation" "handshakeRejected replayed" \
	replay "$PCAP" "$V4_1" "$PORT_A" 1
attack "wrongly keyed initiations (random 148 B)" "invalidMac handshakeRejected" \
	badinit "$V4_1" "$PORT_A" 50
attack "initiations with valid MAC1, undecryptable body" "handshakeRejected" \
	mac1init "$V4_1" "$PORT_A" "$PUB_A" 20
attack "garbage flood (5000 datagrams)" "malformed" \
	garbage "$V4_1" "$PORT_A" 5000

kill -INT "$PING_PID" 2>/dev/null
wait_for 5 "background ping to finish" bash -c "! kill -0 $PING_PID" >/dev/null || stop_pid "$PING_PID" 1
wait "$PING_PID" 2>/dev/null
background_ping_ok() {
	local loss
	cat "$PING_LOG"
	loss=$(ping_loss "$PING_LOG")
	if [[ -n $loss ]] && awk -v l="$loss" 'BEGIN { exit !(l < 5) }'; then
		echo "ping during the attacks: ${loss}% loss"
		return 0
	fi
	echo "ping during the attacks: ${loss:-?}% loss (limit 5%)"
	return 1
}
check "ping kept working during all attacks" background_ping_ok
check "session still works both ways afterwards" ping_works "$NS2" "$T6_1"
check "$A_NAME still running at the end" node_alive A
if [[ $E2E_SUBJECT == warren ]]; then
	check "warren status --json still answers" bash -c "ip netns exec $NS1 timeout 5 $WARREN status --interface $IF_A --json | $PYTHON -c 'import json,sys; d=json.load(sys.stdin)[\"drops\"]; print(\"drops:\", d)'"
fi
pair_down
summary
