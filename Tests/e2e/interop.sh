#!/usr/bin/env bash
# warren ↔ wireguard-go interop: warren (node A) in ns1, wireguard-go (node B) in ns2.
# Run as root. E2E_SUBJECT=wireguard-go runs the same cases with wireguard-go on both sides.
source "$(dirname "$0")/lib.sh"

require_root_tools
check "setup: namespaces and v4/v6 veth wire" topo_up || summary

KEY_A=$(genkey) KEY_B=$(genkey)
PUB_A=$(pubkey <<<"$KEY_A") PUB_B=$(pubkey <<<"$KEY_B")

# Who is on side A, in case names.
if [[ $E2E_SUBJECT == warren ]]; then A_NAME=warren; else A_NAME="stand-in $E2E_SUBJECT"; fi

# Four pings: v4 and v6 inside the tunnel, from each side.
pings_both_ways() {
	local c=$1
	check "$c: ping $T4_2 from $A_NAME side" ping_works "$NS1" "$T4_2"
	check "$c: ping $T6_2 from $A_NAME side" ping_works "$NS1" "$T6_2"
	check "$c: ping $T4_1 from wireguard-go side" ping_works "$NS2" "$T4_1"
	check "$c: ping $T6_1 from wireguard-go side" ping_works "$NS2" "$T6_1"
}

endpoint_seen_by_b() { # the endpoint wireguard-go learned for A
	local ep
	ep=$(ip netns exec "$NS2" timeout 5 wg show "$IF_B" endpoints | awk 'NR==1 {print $2}')
	if [[ $ep == "$1" ]]; then
		echo "wireguard-go sees A at $ep"
		return 0
	fi
	echo "wireguard-go sees A at '$ep', expected $1"
	return 1
}

# (a) and (b): wireguard-go has no endpoint for A, so the endpoint it reports afterwards was
# learned from A's authenticated packets over that address family.
# ----------------------------------------------------------------------------- (a)
c="a: outer IPv4"
if check "$c: tunnel up" pair_up subject wireguard-go wire=4 b_endpoint=no; then
	pings_both_ways "$c"
	check "$c: endpoint is IPv4" endpoint_seen_by_b "$V4_1:$PORT_A"
fi
pair_down

# ----------------------------------------------------------------------------- (b)
c="b: outer IPv6"
if check "$c: tunnel up" pair_up subject wireguard-go wire=6 b_endpoint=no; then
	pings_both_ways "$c"
	check "$c: endpoint is IPv6" endpoint_seen_by_b "[$V6_1]:$PORT_A"
fi
pair_down

# ----------------------------------------------------------------------------- (c)
c="c: PresharedKey"
if check "$c: tunnel up" pair_up subject wireguard-go psk=same; then
	pings_both_ways "$c"
fi
pair_down

no_tunnel() { # no_tunnel NS DST SECONDS — nothing may get through
	if ip netns exec "$1" ping -n -q -c "$3" -i 1 -W 1 "$2" >/dev/null 2>&1; then
		echo "ping to $2 got an answer"
		return 1
	fi
	echo "no reply from $2 in $3 s, as expected"
}
c="c: mismatched PresharedKey"
if check "$c: agents up" pair_up subject wireguard-go psk=mismatch; then
	check "$c: no tunnel from $A_NAME side" no_tunnel "$NS1" "$T4_2" 4
	check "$c: no tunnel from wireguard-go side" no_tunnel "$NS2" "$T4_1" 4
	check "$c: $A_NAME process survives" node_alive A
fi
pair_down

# ----------------------------------------------------------------------------- (d)
# first_initiator PCAP EXPECTED_SRC — the first handshake initiation on the wire came from SRC
first_initiator() {
	local src
	src=$("$PYTHON" "$E2E_DIR/wgpkt.py" first-init "$1")
	if [[ $src == "$2" ]]; then
		echo "first initiation came from $src"
		return 0
	fi
	echo "first initiation came from '$src', expected $2"
	return 1
}
initiated_by() { # initiated_by SIDE_NAME FROM_NS DST EXPECTED_SRC
	local c="d: handshake initiated by $1"
	if check "$c: tunnel up" pair_up subject wireguard-go; then
		check "$c: capture on the wire" capture_start "$NS2" veth2 "$E2E_TMP/d-${4}.pcap" udp
		check "$c: ping $3" ping_works "$2" "$3"
		capture_stop
		check "$c: initiator on the wire" first_initiator "$E2E_TMP/d-${4}.pcap" "$4"
		check "$c: $A_NAME has a handshake" has_handshake A
		check "$c: wireguard-go has a handshake" has_handshake B
		if [[ $1 == wireguard-go ]]; then
			check "$c: pings back" ping_works "$NS1" "$T6_2"
		else
			check "$c: pings back" ping_works "$NS2" "$T6_1"
		fi
	fi
	pair_down
}
initiated_by wireguard-go "$NS2" "$T4_1" "$V4_2"
initiated_by "$A_NAME" "$NS1" "$T4_2" "$V4_1"

# ----------------------------------------------------------------------------- (e)
c="e: TCP transfer"
if check "$c: tunnel up" pair_up subject wireguard-go; then
	check "$c: first ping" ping_works "$NS1" "$T4_2"
	check "$c: 32 MiB $A_NAME → wireguard-go over v4" tcp_transfer "$NS1" "$NS2" "$T4_2" 32 5201
	check "$c: 32 MiB wireguard-go → $A_NAME over v4" tcp_transfer "$NS2" "$NS1" "$T4_1" 32 5202
	check "$c: 8 MiB $A_NAME → wireguard-go over v6" tcp_transfer "$NS1" "$NS2" "$T6_2" 8 5203
	check "$c: $A_NAME process survives" node_alive A
fi
pair_down

# ----------------------------------------------------------------------------- (f)
handshake_advanced() { # handshake_advanced NODE BEFORE
	local now
	now=$(node_handshake "$1")
	if [[ ${now:-0} -gt $2 ]]; then
		echo "latest handshake of $1 moved from $2 to $now"
		return 0
	fi
	echo "latest handshake of $1 still ${now:-?} (was $2)"
	return 1
}
loss_below() { # loss_below PINGLOG PERCENT
	local loss
	loss=$(ping_loss "$1")
	tail -n 2 "$1"
	if [[ -n $loss ]] && awk -v l="$loss" -v m="$2" 'BEGIN { exit !(l < m) }'; then
		echo "${loss}% loss (< $2%)"
		return 0
	fi
	echo "${loss:-?}% loss (limit $2%)"
	return 1
}
c="f: rekey (WARREN_REKEY_AFTER_TIME=8)"
if check "$c: tunnel up" pair_up subject wireguard-go -- WARREN_REKEY_AFTER_TIME=8; then
	check "$c: first ping ($A_NAME initiates)" ping_works "$NS1" "$T4_2"
	h0_a=$(node_handshake A) h0_b=$(node_handshake B)
	n1 timeout 40 ping -n -q -c 110 -i 0.2 -W 1 "$T4_2" >"$E2E_TMP/f-ping.log" 2>&1
	check "$c: pings kept succeeding for 22 s" loss_below "$E2E_TMP/f-ping.log" 5
	check_subject "$c: $A_NAME latest handshake advanced" handshake_advanced A "$h0_a"
	check_subject "$c: wireguard-go latest handshake advanced" handshake_advanced B "$h0_b"
	check "$c: $A_NAME process survives" node_alive A
fi
pair_down

# ----------------------------------------------------------------------------- (g)
cookie_replies() { # cookie_replies PCAP — A sent at least one cookie reply to B
	local n
	n=$("$PYTHON" "$E2E_DIR/wgpkt.py" count "$1" "$V4_2" "$PORT_B" 3)
	if [[ ${n:-0} -ge 1 ]]; then
		echo "$n cookie reply message(s) from A on the wire"
		return 0
	fi
	echo "no cookie reply (type 3) from A to B on the wire"
	return 1
}
ping_works_slow() { # the cookie round costs wireguard-go one REKEY_TIMEOUT (5 s)
	wait_for 25 "a first ping reply from $2 (after the cookie round)" \
		ip netns exec "$1" ping -n -c 1 -W 1 "$2" || return 1
	ping_works "$1" "$2"
}
c="g: cookie under load (WARREN_UNDER_LOAD=1)"
if check "$c: tunnel up" pair_up subject wireguard-go -- WARREN_UNDER_LOAD=1; then
	check "$c: capture on the wire" capture_start "$NS2" veth2 "$E2E_TMP/g.pcap" udp
	check "$c: wireguard-go initiates, ping $T4_1" ping_works_slow "$NS2" "$T4_1"
	capture_stop
	check_subject "$c: $A_NAME answered with a cookie reply" cookie_replies "$E2E_TMP/g.pcap"
	check "$c: ping back $T6_2" ping_works "$NS1" "$T6_2"
	check "$c: $A_NAME process survives" node_alive A
fi
pair_down

# ----------------------------------------------------------------------------- (h)
transfer_grows() { # transfer_grows NODE SECONDS — rx bytes of NODE increase without traffic
	local r0 r1 i
	r0=$(node_rx "$1")
	for ((i = 0; i < $2 * 10; i++)); do
		r1=$(node_rx "$1")
		if [[ ${r1:-0} -gt ${r0:-0} ]]; then
			echo "rx of $1 grew from $r0 to $r1 bytes without traffic"
			return 0
		fi
		sleep 0.1
	done
	echo "rx of $1 stuck at ${r0:-?} bytes for $2 s"
	return 1
}
c="h: persistent keepalive 2 s, no traffic"
if check "$c: tunnel up" pair_up subject wireguard-go keepalive=2 b_endpoint=no; then
	check "$c: wireguard-go gets a handshake by itself" \
		wait_for 10 "a handshake on the wireguard-go side" has_handshake B
	check "$c: wireguard-go transfer grows" transfer_grows B 6
	check "$c: wireguard-go learned A's endpoint" endpoint_seen_by_b "$V4_1:$PORT_A"
fi
pair_down

summary
