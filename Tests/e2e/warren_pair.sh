#!/usr/bin/env bash
# warren ↔ warren: keys, tunnel in both address families, a checksummed transfer, status
# output, clean shutdown on SIGTERM/SIGINT, restart, and config errors that name file:line.
# Run as root. E2E_SUBJECT=wireguard-go runs the tunnel cases with wireguard-go on both sides.
source "$(dirname "$0")/lib.sh"

require_root_tools
check "setup: namespaces and v4/v6 veth wire" topo_up || summary

b64_key_ok() { # b64_key_ok KEY [clamped] — 32 bytes of base64, optionally a clamped X25519 key
	"$PYTHON" -c '
import base64, binascii, sys
key, clamped = sys.argv[1], len(sys.argv) > 2
try:
    raw = base64.b64decode(key, validate=True)
except binascii.Error as e:
    sys.exit(f"{key!r} is not base64: {e}")
if len(raw) != 32 or len(key) != 44:
    sys.exit(f"{key!r}: {len(raw)} bytes, {len(key)} chars (want 32 bytes, 44 chars)")
if clamped and (raw[0] & 7 or raw[31] & 0x80 or not raw[31] & 0x40):
    sys.exit(f"{key!r} is not clamped like wg genkey output")
print(f"{key[:8]}... is 32 bytes of base64" + (", clamped" if clamped else ""))' "$@"
}
pubkey_matches_wg() { # pubkey_matches_wg PRIVATE
	local ours theirs
	ours=$("$WARREN" pubkey <<<"$1") || { echo "warren pubkey failed"; return 1; }
	theirs=$(wg pubkey <<<"$1")
	if [[ $ours == "$theirs" ]]; then
		echo "warren pubkey = wg pubkey = $ours"
		return 0
	fi
	echo "warren pubkey gave '$ours', wg pubkey gave '$theirs'"
	return 1
}
genpsk_ok() {
	local a b
	a=$("$WARREN" genpsk) && b=$("$WARREN" genpsk) || { echo "warren genpsk failed"; return 1; }
	b64_key_ok "$a" || return 1
	[[ $a != "$b" ]] || { echo "two genpsk calls gave the same key"; return 1; }
	echo "genpsk gives fresh 32-byte keys"
}

if [[ $E2E_SUBJECT == warren ]]; then
	KEY_A=$("$WARREN" keygen) KEY_B=$("$WARREN" keygen)
	check "keys: warren keygen output is a wg-style private key" b64_key_ok "$KEY_A" clamped
	differ() { [[ $1 != "$2" ]] && echo "two keygen calls gave different keys" || { echo "two keygen calls gave '$1'"; return 1; }; }
	check "keys: two keygen calls differ" differ "$KEY_A" "$KEY_B"
	check "keys: warren pubkey of a warren key" pubkey_matches_wg "$KEY_A"
	check "keys: warren pubkey of a wg genkey key" pubkey_matches_wg "$(wg genkey)"
	check "keys: warren pubkey of an unclamped key" pubkey_matches_wg "$(head -c 32 /dev/urandom | base64)"
	check "keys: warren genpsk" genpsk_ok
	check "keys: warren pubkey rejects garbage" bash -c "! echo not-a-key | $WARREN pubkey"
	PUB_A=$("$WARREN" pubkey <<<"$KEY_A") PUB_B=$("$WARREN" pubkey <<<"$KEY_B")
else
	skip "keys: warren keygen/pubkey/genpsk" "warren-only"
	KEY_A=$(genkey) KEY_B=$(genkey)
	PUB_A=$(pubkey <<<"$KEY_A") PUB_B=$(pubkey <<<"$KEY_B")
fi
[[ -n $PUB_A && -n $PUB_B ]] || { fail "keys" "no public keys, cannot continue"; summary; }

c="pair"
if check "$c: two agents up" pair_up subject subject psk=same; then
	check "$c: ping $T4_2 from A" ping_works "$NS1" "$T4_2"
	check "$c: ping $T6_2 from A" ping_works "$NS1" "$T6_2"
	check "$c: ping $T4_1 from B" ping_works "$NS2" "$T4_1"
	check "$c: ping $T6_1 from B" ping_works "$NS2" "$T6_1"
	check "$c: 32 MiB A → B, sha256" tcp_transfer "$NS1" "$NS2" "$T4_2" 32 5201
	check "$c: 32 MiB B → A, sha256" tcp_transfer "$NS2" "$NS1" "$T4_1" 32 5202
	check "$c: 8 MiB B → A over v6, sha256" tcp_transfer "$NS2" "$NS1" "$T6_1" 8 5203

	status_text_ok() { # status_text_ok NODE PEER_PUB
		local out
		out=$(ip netns exec "${NODE_NS[$1]}" timeout 5 "$WARREN" status --interface "${NODE_IF[$1]}" 2>&1)
		echo "$out"
		grep -qi "latest handshake" <<<"$out" || { echo "no 'latest handshake' in the status text"; return 1; }
		grep -qF "$2" <<<"$out" || { echo "peer key $2 missing from the status text"; return 1; }
		grep -qi "transfer" <<<"$out" || { echo "no 'transfer' line in the status text"; return 1; }
		echo "status text of $1 shows the peer, its latest handshake and transfer"
	}
	status_json_ok() { # status_json_ok NODE OWN_PUB PEER_PUB PORT PEER_ENDPOINT PEER_ALLOWED
		node_json "$1" | "$PYTHON" -c '
import json, sys, time
own, peer, port, endpoint, allowed = sys.argv[1:6]
s = json.load(sys.stdin)
peers = s.get("peers") or [{}]
p = peers[0]
hs = p.get("latestHandshake", 0)
age = time.time() - hs if isinstance(hs, int) else -1
checks = [
    (s.get("publicKey") == own, "publicKey", s.get("publicKey")),
    (s.get("listenPort") == int(port), "listenPort", s.get("listenPort")),
    (bool(s.get("interface")), "interface", s.get("interface")),
    (len(s.get("peers") or []) == 1, "number of peers", len(s.get("peers") or [])),
    (p.get("publicKey") == peer, "peer publicKey", p.get("publicKey")),
    (p.get("endpoint") == endpoint, "endpoint (want %s)" % endpoint, p.get("endpoint")),
    (allowed in (p.get("allowedIPs") or []), "allowedIPs (want %s)" % allowed, p.get("allowedIPs")),
    (isinstance(p.get("rxBytes"), int) and p["rxBytes"] > 0, "rxBytes", p.get("rxBytes")),
    (isinstance(p.get("txBytes"), int) and p["txBytes"] > 0, "txBytes", p.get("txBytes")),
    (0 <= age < 600, "latestHandshake (recent unix seconds)", hs),
    (isinstance(s.get("drops"), dict) and all(isinstance(v, int) for v in s["drops"].values()), "drops", s.get("drops")),
]
problems = ["%s = %r" % (what, got) for ok, what, got in checks if not ok]
if problems:
    print(json.dumps(s))
    sys.exit("status --json: " + "; ".join(problems))
print("rx %d B, tx %d B, handshake %d s ago, endpoint %s" % (p["rxBytes"], p["txBytes"], age, p["endpoint"]))
' "${@:2}"
	}
	check_subject "$c: status text of A" status_text_ok A "$PUB_B"
	check_subject "$c: status text of B" status_text_ok B "$PUB_A"
	check_subject "$c: status --json of A" status_json_ok A "$PUB_A" "$PUB_B" "$PORT_A" "$V4_2:$PORT_B" "$T4_2/32"
	check_subject "$c: status --json of B" status_json_ok B "$PUB_B" "$PUB_A" "$PORT_B" "$V4_1:$PORT_A" "$T4_1/32"
	check_subject "$c: status of an interface nobody runs fails" \
		bash -c "! timeout 10 $WARREN status --interface nosuch$$ --json"

	stops_cleanly() { # stops_cleanly NODE SIGNAL
		local n=$1 sig=$2 pid=${NODE_PID[$1]} i rc
		kill "-$sig" "$pid"
		for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		if kill -0 "$pid" 2>/dev/null; then
			echo "still running 10 s after SIG$sig"
			return 1
		fi
		wait "$pid"
		rc=$?
		unset "NODE_PID[$n]"
		tail -n 5 "${NODE_LOG[$n]}"
		[[ $rc == 0 ]] || { echo "exit status $rc after SIG$sig (want 0)"; return 1; }
		wait_for 5 "device ${NODE_IF[$n]} to disappear" \
			bash -c "! ip -n ${NODE_NS[$n]} link show dev ${NODE_IF[$n]}" || return 1
		if [[ ${NODE_KIND[$n]} == warren && -e /run/warren/${NODE_IF[$n]}.sock ]]; then
			echo "control socket /run/warren/${NODE_IF[$n]}.sock left behind"
			return 1
		fi
		echo "exit status 0 after SIG$sig, device and control socket gone"
	}
	check "$c: SIGTERM stops A cleanly" stops_cleanly A TERM
	check "$c: B notices nothing answers" bash -c "! ip netns exec $NS2 ping -c 2 -i 0.5 -W 1 $T4_1"
	check "$c: A restarts on the same interface" node_start A subject "$NS1" "$IF_A" "$E2E_TMP/a.conf"
	check "$c: ping after restart" ping_works "$NS2" "$T4_1"
	check "$c: SIGINT stops B cleanly" stops_cleanly B INT
fi
pair_down

# ---------------------------------------------------------------- config errors
# bad_config NAME LINE CONTENT — `warren up` must fail fast, name FILE:LINE, leave no device.
bad_config() {
	local name=$1 line=$2 conf="$E2E_TMP/$1.conf" rc out ifname="wx$$"
	printf '%s\n' "$3" >"$conf"
	out=$(ip netns exec "$NS1" timeout 10 "$WARREN" up --interface "$ifname" \
		--state-dir "$E2E_TMP/state-bad" "$conf" 2>&1)
	rc=$?
	echo "$out" | tail -n 5
	[[ $rc == 124 ]] && { echo "warren up still running after 10 s"; return 1; }
	[[ $rc != 0 ]] || { echo "warren up exited 0 on a bad config"; return 1; }
	if ip -n "$NS1" link show dev "$ifname" >/dev/null 2>&1; then
		echo "device $ifname left behind"
		return 1
	fi
	if grep -qE "($conf|$name\.conf):$line([^0-9]|$)" <<<"$out"; then
		echo "exit status $rc, error names $name.conf:$line"
		return 0
	fi
	echo "exit status $rc, but the error does not name $name.conf:$line"
	return 1
}
KEY_OK=$(wg genkey) PUB_OK=$(wg pubkey <<<"$(wg genkey)")
if [[ $E2E_SUBJECT == warren ]]; then
	check "config: bad PrivateKey names file:line" bad_config badkey 2 "[Interface]
PrivateKey = not-a-key
Address = $T4_1/24"
	check "config: ListenPort out of range names file:line" bad_config badport 4 "[Interface]
PrivateKey = $KEY_OK
Address = $T4_1/24
ListenPort = 99999"
	check "config: bad AllowedIPs names file:line" bad_config badallowed 7 "[Interface]
PrivateKey = $KEY_OK
Address = $T4_1/24

[Peer]
PublicKey = $PUB_OK
AllowedIPs = 192.168.77.300/32"
	check "config: unknown key names file:line" bad_config badkeyname 3 "[Interface]
PrivateKey = $KEY_OK
Colour = blue"
	check "config: line without '=' names file:line" bad_config noequals 3 "[Interface]
PrivateKey = $KEY_OK
this is not a config line"
	check "config: missing file fails" bash -c "! timeout 10 ip netns exec $NS1 $WARREN up --interface wy$$ $E2E_TMP/does-not-exist.conf"
else
	skip "config: error messages" "warren-only"
fi

summary
