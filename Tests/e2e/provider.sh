#!/usr/bin/env bash
# Provider mode: a box sells its connection as a whitelisted exit to consumers it has never
# met. Consumers open a session with nothing but the provider's identity and endpoint; the
# provider gives them addresses from its pool, forwards only to whitelisted destinations
# (a listed CIDR, or addresses its DNS forwarder learned for whitelisted names), never to its
# own LAN, its own addresses, port 25 or another consumer, meters their bytes, shrugs off bad
# session requests and ends a session when its consumer stops.
# Run as root.
#
#   plan 192.168.77.10 ── lan0 [prov] wan0 192.0.2.2 ── r-pv ┐
#                        192.168.77.1   wpv: 10.99.0.1 fd99::1  │
#   [c1]  wan0 198.18.1.2 ─────────────────────────── r-c1 ┤
#   [c2]  wan0 198.18.2.2 ─────────────────────────── r-c2 ┤  [inet] router, knows only its links
#   [atk] wan0 198.18.4.2 ─────────────────────────── r-atk┤
#   [lc] 192.168.60.10 ── lan0 [gw] wan0 198.18.3.2 ── r-gw ┤
#   [web] 203.0.113.9 (whoami :80, :25, files :8080), 203.0.113.10 (whoami :80),
#         203.0.113.53 (dnsd: every A → 203.0.113.9) ── r-web ┤
#   [cidr] 198.51.100.8 (whoami :80) ─────────────────── r-cidr┘
#
# Whitelist: stream.example and 198.51.100.0/24. 203.0.113.10 is neither listed nor ever
# answered by the DNS forwarder. The provider's resolver is /etc/netns/<prov>/resolv.conf.
PV_WARREN_GIVEN=${WARREN:-}
source "$(dirname "$0")/lib.sh"
# Without WARREN in the environment, the newer of the release and debug builds.
if [[ -z $PV_WARREN_GIVEN && -x $REPO/.build/debug/warren && ( ! -x $WARREN || $REPO/.build/debug/warren -nt $WARREN ) ]]; then
	WARREN=$REPO/.build/debug/warren
fi
say "(warren binary: $WARREN)"

require_root_tools
for t in nft curl sha256sum; do
	command -v "$t" >/dev/null 2>&1 || { fail "$SUITE setup" "missing tool: $t"; summary; }
done
"$PYTHON" -c 'import cryptography.hazmat.primitives.asymmetric.x25519' 2>/dev/null ||
	{ fail "$SUITE setup" "python3-cryptography missing (sessionpkt.py needs it)"; summary; }

P="wre2e-$$"
NS_R="$P-inet" NS_PV="$P-prov" NS_PLAN="$P-plan" NS_C1="$P-c1" NS_C2="$P-c2" NS_ATK="$P-atk"
NS_GW="$P-gw" NS_LC="$P-lc" NS_WEB="$P-web" NS_CIDR="$P-cidr"
PV_WAN4=192.0.2.2 PV_LAN4=192.168.77.1 PLAN4=192.168.77.10
C1_WAN4=198.18.1.2 C2_WAN4=198.18.2.2 GW_WAN4=198.18.3.2 ATK_WAN4=198.18.4.2
GW_LAN4=192.168.60.1 LC4=192.168.60.10
WEB4=203.0.113.9 WEB_OTHER4=203.0.113.10 DNS4=203.0.113.53 CIDR4=198.51.100.8
PV_T4=10.99.0.1 PV_T6=fd99::1 PORT=51820
STREAM=stream.example
IF_PV="wpv$$" IF_C1="wca$$" IF_C2="wcb$$" IF_GW="wcg$$" IF_X="wcx$$"
PV_STATE="$E2E_TMP/state-PV"
SPKT=("$PYTHON" "$E2E_DIR/sessionpkt.py")

# ---------------------------------------------------------------- topology and services

pv_topo_up() {
	local ns
	for ns in "$NS_R" "$NS_PV" "$NS_PLAN" "$NS_C1" "$NS_C2" "$NS_ATK" "$NS_GW" "$NS_LC" "$NS_WEB" "$NS_CIDR"; do
		ns_add "$ns" || return 1
	done
	veth_pair "$NS_PV" wan0 "$NS_R" r-pv &&
		veth_pair "$NS_PV" lan0 "$NS_PLAN" eth0 &&
		veth_pair "$NS_C1" wan0 "$NS_R" r-c1 &&
		veth_pair "$NS_C2" wan0 "$NS_R" r-c2 &&
		veth_pair "$NS_ATK" wan0 "$NS_R" r-atk &&
		veth_pair "$NS_GW" wan0 "$NS_R" r-gw &&
		veth_pair "$NS_GW" lan0 "$NS_LC" eth0 &&
		veth_pair "$NS_WEB" eth0 "$NS_R" r-web &&
		veth_pair "$NS_CIDR" eth0 "$NS_R" r-cidr || return 1
	addr_add "$NS_R" r-pv 192.0.2.1/24 && addr_add "$NS_R" r-c1 198.18.1.1/24 &&
		addr_add "$NS_R" r-c2 198.18.2.1/24 && addr_add "$NS_R" r-gw 198.18.3.1/24 &&
		addr_add "$NS_R" r-atk 198.18.4.1/24 && addr_add "$NS_R" r-web 203.0.113.1/24 &&
		addr_add "$NS_R" r-cidr 198.51.100.1/24 || return 1
	addr_add "$NS_PV" wan0 "$PV_WAN4/24" && addr_add "$NS_PV" lan0 "$PV_LAN4/24" &&
		addr_add "$NS_PLAN" eth0 "$PLAN4/24" &&
		addr_add "$NS_C1" wan0 "$C1_WAN4/24" && addr_add "$NS_C2" wan0 "$C2_WAN4/24" &&
		addr_add "$NS_ATK" wan0 "$ATK_WAN4/24" &&
		addr_add "$NS_GW" wan0 "$GW_WAN4/24" && addr_add "$NS_GW" lan0 "$GW_LAN4/24" &&
		addr_add "$NS_LC" eth0 "$LC4/24" &&
		addr_add "$NS_WEB" eth0 "$WEB4/24" "$WEB_OTHER4/24" "$DNS4/24" &&
		addr_add "$NS_CIDR" eth0 "$CIDR4/24" || return 1
	ip -n "$NS_PV" route add default via 192.0.2.1 &&
		ip -n "$NS_PLAN" route add default via "$PV_LAN4" &&
		ip -n "$NS_C1" route add default via 198.18.1.1 &&
		ip -n "$NS_C2" route add default via 198.18.2.1 &&
		ip -n "$NS_GW" route add default via 198.18.3.1 &&
		ip -n "$NS_ATK" route add default via 198.18.4.1 &&
		ip -n "$NS_LC" route add default via "$GW_LAN4" &&
		ip -n "$NS_WEB" route add default via 203.0.113.1 &&
		ip -n "$NS_CIDR" route add default via 198.51.100.1 || return 1
	ip netns exec "$NS_R" sysctl -qw net.ipv4.ip_forward=1 || return 1
	wait_for 10 "c1 → provider WAN" ip netns exec "$NS_C1" ping -n -c 1 -W 1 "$PV_WAN4" &&
		wait_for 10 "c2 → provider WAN" ip netns exec "$NS_C2" ping -n -c 1 -W 1 "$PV_WAN4" &&
		wait_for 10 "gw → provider WAN" ip netns exec "$NS_GW" ping -n -c 1 -W 1 "$PV_WAN4" &&
		wait_for 10 "atk → provider WAN" ip netns exec "$NS_ATK" ping -n -c 1 -W 1 "$PV_WAN4" &&
		wait_for 10 "provider → web" ip netns exec "$NS_PV" ping -n -c 1 -W 1 "$WEB4" &&
		wait_for 10 "provider → cidr" ip netns exec "$NS_PV" ping -n -c 1 -W 1 "$CIDR4" &&
		wait_for 10 "provider → its LAN host" ip netns exec "$NS_PV" ping -n -c 1 -W 1 "$PLAN4" &&
		wait_for 10 "LAN client → gw" ip netns exec "$NS_LC" ping -n -c 1 -W 1 "$GW_LAN4" || return 1
	echo "10 namespaces up: router, provider + its LAN host, c1, c2, atk, gw + LAN client, web, cidr"
}

WEB_LOG="$E2E_TMP/whoami-web.log" CIDR_LOG="$E2E_TMP/whoami-cidr.log" SMTP_LOG="$E2E_TMP/whoami-25.log"
PLAN_LOG="$E2E_TMP/whoami-plan.log" DNS_LOG="$E2E_TMP/dnsd.log" FILES="$E2E_TMP/www"
pv_services_start() {
	: >"$WEB_LOG"; : >"$CIDR_LOG"; : >"$SMTP_LOG"; : >"$PLAN_LOG"; : >"$DNS_LOG"
	mkdir -p "$FILES" && head -c $((20 << 20)) /dev/urandom >"$FILES/blob" || return 1
	bg "$NS_WEB" "$E2E_TMP/web.out" "$PYTHON" "$E2E_DIR/whoami.py" --port 80 --log "$WEB_LOG" "$WEB4" "$WEB_OTHER4"
	bg "$NS_WEB" "$E2E_TMP/smtp.out" "$PYTHON" "$E2E_DIR/whoami.py" --port 25 --log "$SMTP_LOG" "$WEB4"
	bg "$NS_WEB" "$E2E_TMP/files.out" "$PYTHON" -m http.server 8080 --bind "$WEB4" --directory "$FILES"
	bg "$NS_WEB" "$E2E_TMP/dnsd.out" "$PYTHON" "$E2E_DIR/dnsd.py" serve --a "$WEB4" --log "$DNS_LOG" "$DNS4"
	bg "$NS_CIDR" "$E2E_TMP/cidr.out" "$PYTHON" "$E2E_DIR/whoami.py" --port 80 --log "$CIDR_LOG" "$CIDR4"
	bg "$NS_PLAN" "$E2E_TMP/plan.out" "$PYTHON" "$E2E_DIR/whoami.py" --port 80 --log "$PLAN_LOG" "$PLAN4"
	wait_for 10 "whoami on web :80" tcp_listening "$NS_WEB" 80 &&
		wait_for 10 "whoami on web :25 (the SMTP stand-in)" tcp_listening "$NS_WEB" 25 &&
		wait_for 10 "files on web :8080" tcp_listening "$NS_WEB" 8080 &&
		wait_for 10 "dnsd on $DNS4:53" tcp_listening "$NS_WEB" 53 &&
		wait_for 10 "whoami on cidr :80" tcp_listening "$NS_CIDR" 80 &&
		wait_for 10 "whoami on the provider's LAN host :80" tcp_listening "$NS_PLAN" 80 || {
		tail -n 3 "$E2E_TMP"/*.out; return 1; }
}

# seen_as NS URL EXPECTED [SECONDS] [curl options...] — wait (bounded) for an HTTP answer; it
# must be EXPECTED (whoami.py answers with the client address it sees)
# stream_seen_as NS RESOLVER EXPECTED [SECONDS] — resolve $STREAM at RESOLVER (the provider
# learns the answer, for its TTL), then fetch http://$STREAM/ at that address
stream_seen_as() {
	local out addr
	out=$(ip netns exec "$1" timeout 10 "$PYTHON" "$E2E_DIR/dnsd.py" query "$2" "$STREAM" --timeout 3 2>&1)
	addr=$(grep -Em1 '^[0-9.]+$' <<<"$out")
	[[ -n $addr ]] || { echo "$out"; echo "$STREAM did not resolve at $2"; return 1; }
	echo "$STREAM resolved to $addr at $2"
	seen_as "$1" "http://$STREAM/" "$3" "${4:-10}" --resolve "$STREAM:80:$addr"
}
# dns_rcode NS SERVER NAME RCODE — the answer is empty with this rcode
dns_rcode() {
	local out
	out=$(ip netns exec "$1" timeout 10 "$PYTHON" "$E2E_DIR/dnsd.py" query "$2" "$3" --timeout 3 2>&1)
	echo "$out"
	grep -q "empty answer (rcode $4)" <<<"$out" || { echo "expected rcode $4 for $3 from $2"; return 1; }
}

# ---------------------------------------------------------------- status helpers

pv() { node_eval PV "$1"; }
# session expression for the consumer whose WireGuard key is KEY
sess_expr() { echo "[s for s in d['provider']['sessions'] if s['publicKey'] == '$1'][0]['$2']"; }
sess_field() { pv "$(sess_expr "$1" "$2")"; }
consumer_key() { node_eval "$1" "d['publicKey']"; }
peer_count() { pv "len(d['peers'])"; }
session_count() { pv "len(d['provider']['sessions'])"; }
# expect EXPR VALUE [NODE] — a status expression equals VALUE (compared as printed)
expect() {
	local got
	got=$(node_eval "${3:-PV}" "$1") || { echo "$got"; return 1; }
	[[ $got == "$2" ]] || { echo "$1 is $got, expected $2"; return 1; }
	echo "$1 = $got"
}
# grew EXPR BEFORE [NODE]
grew() {
	local now
	now=$(node_eval "${3:-PV}" "$1") || { echo "$now"; return 1; }
	[[ $now =~ ^[0-9]+$ && $now -gt $2 ]] || { echo "$1 stayed at $now (was $2)"; return 1; }
	echo "$1: $2 → $now"
}
# grew_by_at_least EXPR BEFORE MIN
grew_by_at_least() {
	local now
	now=$(pv "$1") || { echo "$now"; return 1; }
	[[ $now =~ ^[0-9]+$ && $((now - $2)) -ge $3 ]] || { echo "$1: $2 → $now, expected at least +$3"; return 1; }
	echo "$1: $2 → $now (+$((now - $2)), at least +$3 expected)"
}
# snapshot — sessions and peers of the provider, as one comparable line
snapshot() {
	pv "[sorted((s['id'], s['publicKey'], s['addresses']) for s in d['provider']['sessions']), sorted(p['publicKey'] for p in d['peers'])]"
}
same_snapshot() { # same_snapshot BEFORE
	local now
	now=$(snapshot) || { echo "$now"; return 1; }
	[[ $now == "$1" ]] || { echo "before: $1"; echo "now:    $now"; echo "the provider's sessions or peers changed"; return 1; }
	echo "sessions and peers unchanged ($(session_count) session(s), $(peer_count) peer(s))"
}
pv_alive() {
	node_alive PV >/dev/null || { echo "the provider agent is not running"; return 1; }
	ip netns exec "$NS_PV" timeout 5 "$WARREN" status --interface "$IF_PV" --json >/dev/null ||
		{ echo "the provider agent runs but its control socket does not answer"; return 1; }
	echo "the provider agent (pid ${NODE_PID[PV]}) is alive and answers status"
}
no_session_for() { # no_session_for KEY — neither a session nor a peer with this key
	local s p
	s=$(pv "len([s for s in d['provider']['sessions'] if s['publicKey'] == '$1'])") &&
		p=$(pv "len([p for p in d['peers'] if p['publicKey'] == '$1'])") || return 1
	[[ $s == 0 && $p == 0 ]]
}

# ---------------------------------------------------------------- configs

WHITELIST="$E2E_TMP/whitelist"
cat >"$WHITELIST" <<EOF
# streaming services, by name
$STREAM
# a listed network, reachable without DNS
198.51.100.0/24
EOF
cat >"$E2E_TMP/provider.conf" <<EOF
[Interface]
ListenPort = $PORT

[Provider]
WAN = wan0
Pool = 10.99.0.0/24, fd99::/64
Exit = whitelist
Whitelist = $WHITELIST
MaxSessions = 8
IdleTimeout = 180
EOF
consumer_conf() { # consumer_conf FILE PROVIDER [LAN]
	{
		echo "[Interface]"
		echo
		echo "[Exit]"
		echo "Provider = $2"
		if [[ -n ${3:-} ]]; then
			echo
			echo "[Gateway]"
			echo "LAN = $3"
		fi
	} >"$1"
	chmod 600 "$1"
}

provider_id() {
	mkdir -p "$PV_STATE" || return 1
	PV_ADDR=$(ip netns exec "$NS_PV" timeout 10 "$WARREN" id --state-dir "$PV_STATE" --endpoint "$PV_WAN4:$PORT" 2>&1)
	PV_ID=${PV_ADDR%@*}
	echo "warren id: $PV_ADDR"
	[[ $PV_ADDR =~ ^wr1[A-Za-z0-9_-]{46}@$PV_WAN4:$PORT$ ]] || { echo "not wr1…@$PV_WAN4:$PORT"; return 1; }
	local again
	again=$(ip netns exec "$NS_PV" timeout 10 "$WARREN" id --state-dir "$PV_STATE")
	[[ $again == "$PV_ID" ]] || { echo "a second warren id printed $again"; return 1; }
	echo "identity $PV_ID, stable across calls"
}
policy_routed() { # policy_routed NS IF
	local rules routes
	rules=$(ip -n "$1" -4 rule show) routes=$(ip -n "$1" -4 route show table 51820 2>/dev/null)
	grep -Eq 'not .*fwmark 0xca6c .*lookup 51820' <<<"$rules" || { echo "$rules"; echo "no 'not fwmark 0xca6c lookup 51820' rule"; return 1; }
	grep -Eq "^default dev $2" <<<"$routes" || { echo "table 51820: $routes"; echo "no default via $2 in table 51820"; return 1; }
	echo "fwmark 0xca6c rule and default dev $2 in table 51820"
}
nft_table_there() { # nft_table_there NS TABLE
	ip netns exec "$1" nft list table $2 >/dev/null 2>&1 || { echo "no nft table $2"; return 1; }
	echo "nft table $2 is there"
}
addrs_in_pool() { # addrs_in_pool NODE — the consumer's exit.addresses are one v4 /32 and one v6 /128 of the pool
	local a
	a=$(node_eval "$1" "d['exit']['addresses']") || { echo "$a"; return 1; }
	[[ $a =~ ^\[\"10\.99\.0\.([0-9]+)/32\",\ \"fd99::([0-9a-f]+)/128\"\]$ ]] || { echo "exit.addresses = $a"; return 1; }
	echo "exit.addresses = $a"
}

# ---------------------------------------------------------------- setup

check "setup: namespaces, router, links" pv_topo_up || summary
check "setup: web, SMTP stand-in, files, dnsd, cidr and LAN-host services" pv_services_start || summary
check "setup: resolv.conf of the provider's namespace names dnsd ($DNS4)" \
	netns_etc_file "$NS_PV" resolv.conf "nameserver $DNS4" || summary
check "setup: the provider's namespace sees it" \
	bash -c "ip netns exec $NS_PV cat /etc/resolv.conf | grep -qx 'nameserver $DNS4' && echo 'nameserver $DNS4 inside $NS_PV'"
check "setup: web sees the provider as $PV_WAN4 without a tunnel" seen_as "$NS_PV" "http://$WEB4/" "$PV_WAN4" 5
check "setup: $WEB_OTHER4 answers without a tunnel" seen_as "$NS_ATK" "http://$WEB_OTHER4/" "$ATK_WAN4" 5
check "setup: the SMTP stand-in on $WEB4:25 answers without a tunnel" seen_as "$NS_ATK" "http://$WEB4:25/" "$ATK_WAN4" 5
check "setup: dnsd answers $STREAM with $WEB4 directly" dns_is "$NS_PV" "$DNS4" "$STREAM" "$WEB4"
check "setup: warren id prints the identity and endpoint" provider_id || summary

# The first session request of c1, captured on the router for the replays of case 5.
REQ_PCAP="$E2E_TMP/requests.pcap"
check "setup: capture UDP to $PV_WAN4:$PORT on the router" pcap_start req "$NS_R" r-pv "$REQ_PCAP" "udp and dst port $PORT"

c="setup: provider"
check "$c: warren up (no PrivateKey, [Provider] Exit = whitelist)" \
	node_start PV warren "$NS_PV" "$IF_PV" "$E2E_TMP/provider.conf" || summary
check "$c: UDP $PORT open" wait_for 10 "UDP port $PORT" udp_listening "$NS_PV" "$PORT"
check "$c: status identity is the one warren id printed" expect "d['identity']" "$PV_ID"
check "$c: status provider object" json_expect "$(node_json PV)" "provider.identity=\"$PV_ID\"" 'provider.wan="wan0"' \
	'provider.exit="whitelist"' 'provider.pool=["10.99.0.0/24","fd99::/64"]' provider.maxSessions=8 'provider.sessions=[]'
check "$c: the tunnel has $PV_T4 and $PV_T6" bash -c "ip -n $NS_PV -br addr show dev $IF_PV | grep -q '$PV_T4/' && ip -n $NS_PV -br addr show dev $IF_PV | grep -q '$PV_T6/' && ip -n $NS_PV -br addr show dev $IF_PV"
check "$c: nft table inet $(warren_table "$IF_PV" provider)" nft_table_there "$NS_PV" "inet $(warren_table "$IF_PV" provider)"
forwarder_listening() {
	local list port out
	list=$(pv "d['provider'].get('dnsForwarder')") || { echo "$list"; return 1; }
	port=$(grep -oE "\"${PV_T4//./\\.}:[0-9]+\"" <<<"$list" | tr -d '"' | cut -d: -f2)
	[[ $port =~ ^[0-9]+$ && $port != 53 ]] || { echo "dnsForwarder: $list"; echo "no forwarder port of its own on $PV_T4"; return 1; }
	out=$(ip netns exec "$NS_PV" ss -Hlnu "sport = :$port")
	grep -Eq "(\[::ffff:)?${PV_T4//./\\.}\]?(%[^ :]*)?:$port" <<<"$out" || { echo "ss: ${out:-nothing}"; echo "no UDP socket on $PV_T4:$port"; return 1; }
	out=$(ip netns exec "$NS_PV" ss -Hlnu 'sport = :53')
	[[ -z $out ]] || { echo "$out"; echo "something listens on port 53 of the provider"; return 1; }
	echo "dnsForwarder: $list; nothing on port 53 (consumers' port 53 is redirected)"
}
check "$c: DNS forwarder on $PV_T4 at a port of its own, nothing on :53" forwarder_listening
check "$c: the forwarder is not open on the WAN ($PV_WAN4:53)" fails_from "$NS_C1" "a DNS query to $PV_WAN4" \
	timeout 5 "$PYTHON" "$E2E_DIR/dnsd.py" query "$PV_WAN4" "$STREAM" --timeout 2

# =============================================================================== case 1
c="1: plain consumer"
consumer_conf "$E2E_TMP/c1.conf" "$PV_ADDR"
if check "$c: warren up with only [Exit] Provider = wr1…@$PV_WAN4:$PORT" node_start C1 warren "$NS_C1" "$IF_C1" "$E2E_TMP/c1.conf"; then
	pcap_stop req
	C1_KEY=$(consumer_key C1)
	check "$c: consumer status exit object" json_expect "$(node_json C1)" "exit.provider=\"$PV_ADDR\""
	check "$c: consumer got pool addresses" addrs_in_pool C1
	C1_T4=$(node_eval C1 "d['exit']['addresses'][0].split('/')[0]")
	C1_T6=$(node_eval C1 "d['exit']['addresses'][1].split('/')[0]")
	check "$c: consumer's sessionID matches the provider's session" \
		expect "$(sess_expr "$C1_KEY" id)" "$(node_eval C1 "d['exit']['sessionID']")"
	check "$c: provider has one session with the consumer's addresses" \
		expect "$(sess_expr "$C1_KEY" addresses)" "$(node_eval C1 "[a for a in d['exit']['addresses']]")"
	check "$c: provider session names the consumer's identity" \
		expect "$(sess_expr "$C1_KEY" consumer)" "$(node_eval C1 "d['identity']")"
	check "$c: provider added the consumer as a WireGuard peer" \
		expect "[p['publicKey'] for p in d['peers']]" "[\"$C1_KEY\"]"
	check "$c: policy routing on the consumer" policy_routed "$NS_C1" "$IF_C1"
	check "$c: resolve $STREAM through the provider's DNS $PV_T4" dns_is "$NS_C1" "$PV_T4" "$STREAM" "$WEB4"
	check "$c: dnsd got the query from the provider's WAN address" log_has "$DNS_LOG" "query $STREAM A from $PV_WAN4 " "dnsd"
	check "$c: the provider learned the answer" grew "d['provider']['learnedAddresses']" 0
	hits0=$(sess_field "$C1_KEY" whitelistHits)
	check "$c: http://$STREAM/ seen as the provider's $PV_WAN4" \
		seen_as "$NS_C1" "http://$STREAM/" "$PV_WAN4" 15 --resolve "$STREAM:80:$WEB4"
	check "$c: the web server never saw the consumer's own addresses" \
		log_lacks "$WEB_LOG" "request from ($C1_WAN4|$C1_T4) " "web"
	check "$c: session whitelistHits grew" grew "$(sess_expr "$C1_KEY" whitelistHits)" "${hits0:-0}"
	check "$c: session bytesFromConsumer and bytesToConsumer count" \
		expect "$(sess_expr "$C1_KEY" bytesFromConsumer) > 0 and $(sess_expr "$C1_KEY" bytesToConsumer) > 0" true
else
	pcap_stop req
	dump_node_logs
	say "(case 1 failed to start the consumer: the remaining cases need it)"
	summary
fi

# =============================================================================== case 2
c="2: whitelist"
ref0=$(sess_field "$C1_KEY" namesRefused)
check "$c: blocked.example gets REFUSED (rcode 5) from $PV_T4" dns_rcode "$NS_C1" "$PV_T4" blocked.example 5
check "$c: session namesRefused grew" grew "$(sess_expr "$C1_KEY" namesRefused)" "${ref0:-0}"
check "$c: the refused name never reached dnsd" log_lacks "$DNS_LOG" "query blocked.example " "dnsd"
check "$c: a sub-name of the whitelisted one resolves" dns_is "$NS_C1" "$PV_T4" "cdn.$STREAM" "$WEB4"
nw0=$(sess_field "$C1_KEY" droppedNotWhitelisted)
webreq0=$(grep -c . "$WEB_LOG")
check "$c: HTTP to $WEB_OTHER4 by raw IP (not listed, not learned) fails" \
	fails_from "$NS_C1" "HTTP to $WEB_OTHER4" curl -sS --max-time 3 "http://$WEB_OTHER4/"
check "$c: ping $WEB_OTHER4 fails" fails_from "$NS_C1" "ping $WEB_OTHER4" ping -n -c 2 -i 0.3 -W 1 "$WEB_OTHER4"
check "$c: session droppedNotWhitelisted grew" grew "$(sess_expr "$C1_KEY" droppedNotWhitelisted)" "${nw0:-0}"
check "$c: web logged no request meanwhile" bash -c "[[ \$(grep -c . '$WEB_LOG') == $webreq0 ]] && echo 'no new request in the web log' || { tail -n 2 '$WEB_LOG'; echo 'web logged new requests'; exit 1; }"
check "$c: $CIDR4 (listed CIDR) answers without DNS, seen as $PV_WAN4" seen_as "$NS_C1" "http://$CIDR4/" "$PV_WAN4" 10
check "$c: ping $CIDR4 works" ping_works "$NS_C1" "$CIDR4"

# =============================================================================== case 3
c="3: host protection"
check "$c: resolve $STREAM again (learned addresses live for their TTL, 60 s here)" dns_is "$NS_C1" "$PV_T4" "$STREAM" "$WEB4"
loc0=$(sess_field "$C1_KEY" droppedLocal)
smtp0=$(sess_field "$C1_KEY" droppedSMTP)
check "$c: HTTP to the provider's LAN host $PLAN4 fails" fails_from "$NS_C1" "HTTP to $PLAN4" curl -sS --max-time 3 "http://$PLAN4/"
check "$c: ping $PLAN4 fails" fails_from "$NS_C1" "ping $PLAN4" ping -n -c 2 -i 0.3 -W 1 "$PLAN4"
check "$c: the LAN host never saw the consumer" log_lacks "$PLAN_LOG" "request from" "LAN host"
check "$c: ping the provider's LAN address $PV_LAN4 fails" fails_from "$NS_C1" "ping $PV_LAN4" ping -n -c 2 -i 0.3 -W 1 "$PV_LAN4"
check "$c: ping the provider's WAN address $PV_WAN4 (through the tunnel) fails" \
	fails_from "$NS_C1" "ping $PV_WAN4" ping -n -c 2 -i 0.3 -W 1 "$PV_WAN4"
check "$c: ping the provider's tunnel address $PV_T4 fails" fails_from "$NS_C1" "ping $PV_T4" ping -n -c 2 -i 0.3 -W 1 "$PV_T4"
check "$c: TCP to $WEB4:25 fails" fails_from "$NS_C1" "TCP to $WEB4:25" curl -sS --max-time 3 "http://$WEB4:25/"
check "$c: the SMTP stand-in never saw the provider" log_lacks "$SMTP_LOG" "request from $PV_WAN4 " "port 25"
check "$c: port 80 on the same host still works" stream_seen_as "$NS_C1" "$PV_T4" "$PV_WAN4" 5
check "$c: session droppedLocal grew" grew "$(sess_expr "$C1_KEY" droppedLocal)" "${loc0:-0}"
check "$c: session droppedSMTP grew" grew "$(sess_expr "$C1_KEY" droppedSMTP)" "${smtp0:-0}"

# =============================================================================== case 4
c="4: metering"
# Independent counts of the IP bytes of c1's session, read around a 20 MiB upload and a 20 MiB
# download (plus their TCP/IP overhead, ACKs and anything else c1 sends meanwhile; c1 is the
# only consumer now):
#   - the provider's own TUN device: rx = what the agent handed the kernel from consumers,
#     tx = what the kernel gave the agent for consumers. The meter must be within 1 % of them.
#   - c1's TUN device: tx = what c1 put into the tunnel, rx = what came out of it. The issue
#     asks for the meter within 1 % of these too; packets lost inside the tunnel (UDP receive
#     buffer overflow at the receiving agent, shown as RcvbufErrors) make the difference.
tun_bytes() { # tun_bytes NS IF — "rx tx" of the device
	ip -n "$1" -s -j link show dev "$2" | "$PYTHON" -c '
import json, sys
s = json.load(sys.stdin)[0]["stats64"]
print(s["rx"]["bytes"], s["tx"]["bytes"])'
}
meter_bytes() { pv "'%d %d' % ($(sess_expr "$C1_KEY" bytesToConsumer), $(sess_expr "$C1_KEY" bytesFromConsumer))"; }
snmp() { # snmp NS PROTO FIELD — a /proc/net/snmp counter of the namespace
	ip netns exec "$1" awk -v p="$2:" -v f="$3" '$1 == p && !n { for (i = 2; i <= NF; i++) h[i] = $i; n = 1; next }
		$1 == p && n { for (i = 2; i <= NF; i++) if (h[i] == f) print $i }' /proc/net/snmp
}
download() { # download NS URL — sha256 must match the served file
	local out want got
	want=$(sha256sum <"$FILES/blob" | cut -d' ' -f1)
	out=$(ip netns exec "$1" curl -sS --max-time 120 -o "$E2E_TMP/blob.down" -w '%{size_download} bytes in %{time_total} s' "$2" 2>&1) ||
		{ echo "$out"; echo "download failed"; return 1; }
	got=$(sha256sum <"$E2E_TMP/blob.down" | cut -d' ' -f1)
	[[ $got == "$want" ]] || { echo "$out"; echo "sha256 mismatch"; return 1; }
	echo "$out, sha256 matches"
}
# close_to WHAT METERED COUNTED [PAYLOAD] [NOTE] — METERED within 1 % of COUNTED (and COUNTED
# within PAYLOAD .. PAYLOAD + 6 % if PAYLOAD is not 0)
close_to() {
	"$PYTHON" - "$@" <<-'PY'
		import sys
		what, m, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
		p = int(sys.argv[4]) if len(sys.argv) > 4 else 0
		note = sys.argv[5] if len(sys.argv) > 5 else ""
		diff = abs(m - n) / n * 100 if n else float("inf")
		line = f"{what}: metered {m} B, counted {n} B ({diff:.3f} % apart)"
		ok = diff <= 1.0
		if p:
		    line += f"; payload {p} B, {(n - p) / p * 100:.2f} % on top"
		    ok = ok and p <= n <= p * 1.06
		print(line + (f"; {note}" if note else ""))
		if not ok:
		    print(f"{what}: expected within 1 %" + (" and the count within payload .. payload + 6 %" if p else ""))
		sys.exit(0 if ok else 1)
	PY
}
# Learned addresses expire with their TTL (60 s): resolve again, as a client would.
check "$c: resolve $STREAM again" dns_is "$NS_C1" "$PV_T4" "$STREAM" "$WEB4"
read -r tun_rx0 tun_tx0 < <(tun_bytes "$NS_C1" "$IF_C1")
read -r pv_rx0 pv_tx0 < <(tun_bytes "$NS_PV" "$IF_PV")
read -r m_to0 m_from0 < <(meter_bytes)
pv_rcvbuf0=$(snmp "$NS_PV" Udp RcvbufErrors) c1_rcvbuf0=$(snmp "$NS_C1" Udp RcvbufErrors)
c1_retrans0=$(snmp "$NS_C1" Tcp RetransSegs) web_retrans0=$(snmp "$NS_WEB" Tcp RetransSegs)
check "$c: 20 MiB upload to $WEB4 through the tunnel (tcpxfer)" tcp_transfer "$NS_C1" "$NS_WEB" "$WEB4" 20 5201
check "$c: 20 MiB download from $WEB4 through the tunnel (curl)" download "$NS_C1" "http://$WEB4:8080/blob"
sleep 1
read -r tun_rx1 tun_tx1 < <(tun_bytes "$NS_C1" "$IF_C1")
read -r pv_rx1 pv_tx1 < <(tun_bytes "$NS_PV" "$IF_PV")
read -r m_to1 m_from1 < <(meter_bytes)
pv_rcvbuf=$(( $(snmp "$NS_PV" Udp RcvbufErrors) - pv_rcvbuf0 )) c1_rcvbuf=$(( $(snmp "$NS_C1" Udp RcvbufErrors) - c1_rcvbuf0 ))
c1_retrans=$(( $(snmp "$NS_C1" Tcp RetransSegs) - c1_retrans0 )) web_retrans=$(( $(snmp "$NS_WEB" Tcp RetransSegs) - web_retrans0 ))
up_note="upload: c1 retransmitted $c1_retrans TCP segments, the provider's UDP socket dropped $pv_rcvbuf datagrams (RcvbufErrors)"
down_note="download: web retransmitted $web_retrans TCP segments, c1's UDP socket dropped $c1_rcvbuf datagrams (RcvbufErrors)"
say "    (c1 → provider: c1 $IF_C1 tx +$((tun_tx1 - tun_tx0)), provider $IF_PV rx +$((pv_rx1 - pv_rx0)), meter +$((m_from1 - m_from0));" \
	"provider → c1: provider $IF_PV tx +$((pv_tx1 - pv_tx0)), meter +$((m_to1 - m_to0)), c1 $IF_C1 rx +$((tun_rx1 - tun_rx0)))"
say "    ($up_note; $down_note)"
check "$c: bytesFromConsumer within 1 % of the IP bytes the provider's $IF_PV received" \
	close_to "c1 → provider, at the provider" $((m_from1 - m_from0)) $((pv_rx1 - pv_rx0)) 0
check "$c: bytesToConsumer within 1 % of the IP bytes the provider's $IF_PV sent" \
	close_to "provider → c1, at the provider" $((m_to1 - m_to0)) $((pv_tx1 - pv_tx0)) 0
check "$c: bytesFromConsumer within 1 % of the IP bytes c1's $IF_C1 sent (20 MiB + overhead)" \
	close_to "c1 → provider, at c1" $((m_from1 - m_from0)) $((tun_tx1 - tun_tx0)) $((20 << 20)) "$up_note"
check "$c: bytesToConsumer within 1 % of the IP bytes c1's $IF_C1 received (20 MiB + overhead)" \
	close_to "provider → c1, at c1" $((m_to1 - m_to0)) $((tun_rx1 - tun_rx0)) $((20 << 20)) "$down_note"

# =============================================================================== case 5
c="5: bad session requests"
REQ="$E2E_TMP/c1-request.bin" CTRL_REQ="$E2E_TMP/control-request.bin" CTRL_ID="$E2E_TMP/control.id"
check "$c: the capture holds c1's request (276 bytes)" "${SPKT[@]}" extract "$REQ_PCAP" "$PV_WAN4" "$PORT" "$REQ"
# Control: a request built by sessionpkt.py for a fresh identity is accepted, so the refusals
# below are about what was wrong with each request, not about the builder.
snap0=$(snapshot)
drop0=$(pv "d['provider']['requestsDropped']")
check "$c: control: a well-formed request from a new identity is answered" \
	ip netns exec "$NS_ATK" timeout 10 "${SPKT[@]}" request "$PV_ID" "$PV_WAN4" "$PORT" --identity "$CTRL_ID" --save "$CTRL_REQ" --wait 5
CTRL_WR1=$("${SPKT[@]}" newid "$CTRL_ID")
check "$c: control: it got a session and a peer" \
	pv "[s['id'] for s in d['provider']['sessions'] if s['consumer'] == '$CTRL_WR1'][0]"
CTRL_SID=$(pv "[s['id'] for s in d['provider']['sessions'] if s['consumer'] == '$CTRL_WR1'][0]") || CTRL_SID=0
CTRL_KEY=$(pv "[s['publicKey'] for s in d['provider']['sessions'] if s['consumer'] == '$CTRL_WR1'][0]") || CTRL_KEY=none
check "$c: control: requestsDropped unchanged" expect "d['provider']['requestsDropped']" "$drop0"
check "$c: control: a signed close ends it" ip netns exec "$NS_ATK" "${SPKT[@]}" close "$CTRL_ID" "${CTRL_SID:-0}" "$PV_WAN4" "$PORT"
check "$c: control: session and peer gone" wait_for 5 "the control session to end" no_session_for "${CTRL_KEY:-none}"
check "$c: control: back to the sessions and peers before" same_snapshot "$snap0"
sleep 2.5 # refill the per-source budget (5/s, burst 10) before counting drops one by one

expect_drops() { # expect_drops BEFORE N — requestsDropped grew by exactly N
	local now
	now=$(pv "d['provider']['requestsDropped']") || { echo "$now"; return 1; }
	[[ $((now - $1)) == "$2" ]] || { echo "requestsDropped: $1 → $now, expected +$2"; return 1; }
	echo "requestsDropped: $1 → $now (+$2)"
}
d0=$(pv "d['provider']['requestsDropped']")
check "$c: the control request replayed after its close" \
	ip netns exec "$NS_ATK" "${SPKT[@]}" replay "$CTRL_REQ" "$PV_WAN4" "$PORT" 1
check "$c: c1's captured request replayed" ip netns exec "$NS_ATK" "${SPKT[@]}" replay "$REQ" "$PV_WAN4" "$PORT" 1
sleep 0.5
check "$c: both replays dropped and counted" expect_drops "$d0" 2
check "$c: no session came back for the control identity" no_session_for "${CTRL_KEY:-none}"
d0=$(pv "d['provider']['requestsDropped']")
check "$c: 11 damaged copies (flipped bits, truncated, extended)" \
	ip netns exec "$NS_ATK" "${SPKT[@]}" mutate "$REQ" "$PV_WAN4" "$PORT" --interval 0.3
sleep 0.5
check "$c: each damaged copy dropped and counted" expect_drops "$d0" 11
d0=$(pv "d['provider']['requestsDropped']")
check "$c: 12 random datagrams with first byte 5" \
	ip netns exec "$NS_ATK" "${SPKT[@]}" garbage "$PV_WAN4" "$PORT" 12 --interval 0.3
sleep 0.5
check "$c: each one dropped and counted" expect_drops "$d0" 12
d0=$(pv "d['provider']['requestsDropped']")
check "$c: a request sealed to another key gets no answer" fails_from "$NS_ATK" "the wrong-key request" \
	timeout 10 "${SPKT[@]}" request "$PV_ID" "$PV_WAN4" "$PORT" --wrong-key --wait 3
check "$c: a request stamped 10 minutes ago gets no answer" fails_from "$NS_ATK" "the stale request" \
	timeout 10 "${SPKT[@]}" request "$PV_ID" "$PV_WAN4" "$PORT" --age 600 --wait 3
check "$c: both dropped and counted" expect_drops "$d0" 2
# warren itself, pointed at the right endpoint with another node's identity.
OTHER_ID=$(mkdir -p "$E2E_TMP/state-other" && "$WARREN" id --state-dir "$E2E_TMP/state-other")
consumer_conf "$E2E_TMP/wrongid.conf" "$OTHER_ID@$PV_WAN4:$PORT"
wrong_identity_consumer() {
	local out rc
	mkdir -p "$E2E_TMP/state-X"
	out=$(ip netns exec "$NS_ATK" timeout -s INT 5 "$WARREN" up --interface "$IF_X" --state-dir "$E2E_TMP/state-X" \
		"$E2E_TMP/wrongid.conf" 2>&1)
	rc=$?
	echo "$out" | tail -n 3
	if ip -n "$NS_ATK" link show dev "$IF_X" >/dev/null 2>&1; then
		echo "the consumer brought $IF_X up (exit status $rc): it got a session"
		return 1
	fi
	echo "warren up for $OTHER_ID@$PV_WAN4:$PORT got no session (exit status $rc after 5 s)"
}
d0=$(pv "d['provider']['requestsDropped']")
check "$c: warren as consumer of another identity at $PV_WAN4 gets no session" wrong_identity_consumer
check "$c: its requests were dropped and counted" grew "d['provider']['requestsDropped']" "$d0"
sleep 2.5
d0=$(pv "d['provider']['requestsDropped']")
check "$c: flood: c1's request replayed 500 times from one source" \
	ip netns exec "$NS_ATK" "${SPKT[@]}" replay "$REQ" "$PV_WAN4" "$PORT" 500
sleep 1
check "$c: the flood was dropped and counted (allowing for socket-buffer loss)" \
	grew_by_at_least "d['provider']['requestsDropped']" "$d0" 400
check "$c: the provider is alive" pv_alive
check "$c: sessions and peers unchanged through all of it" same_snapshot "$snap0"
C1_SID=$(sess_field "$C1_KEY" id)
check "$c: a close for c1's session claiming c1's identity, signed by another key" \
	ip netns exec "$NS_ATK" "${SPKT[@]}" close "$E2E_TMP/forger.id" "$C1_SID" "$PV_WAN4" "$PORT" \
	--claim "$(node_eval C1 "d['identity']")"
check "$c: a close for c1's session from another identity" \
	ip netns exec "$NS_ATK" "${SPKT[@]}" close "$CTRL_ID" "$C1_SID" "$PV_WAN4" "$PORT"
sleep 1
check "$c: c1's session survives the forged closes" same_snapshot "$snap0"
check "$c: c1 still reaches $STREAM" stream_seen_as "$NS_C1" "$PV_T4" "$PV_WAN4" 5

# =============================================================================== case 6
c="6: two consumers"
consumer_conf "$E2E_TMP/c2.conf" "$PV_ADDR"
if check "$c: a second consumer comes up" node_start C2 warren "$NS_C2" "$IF_C2" "$E2E_TMP/c2.conf"; then
	C2_KEY=$(consumer_key C2)
	check "$c: c2 got pool addresses" addrs_in_pool C2
	C2_T4=$(node_eval C2 "d['exit']['addresses'][0].split('/')[0]")
	C2_T6=$(node_eval C2 "d['exit']['addresses'][1].split('/')[0]")
	check "$c: addresses are distinct (c1 $C1_T4 $C1_T6, c2 $C2_T4 $C2_T6)" \
		bash -c "[[ '$C1_T4' != '$C2_T4' && '$C1_T6' != '$C2_T6' && '$C1_KEY' != '$C2_KEY' ]] && echo distinct"
	check "$c: the provider has two sessions and two peers" \
		expect "[len(d['provider']['sessions']), len(d['peers'])]" "[2, 2]"
	check "$c: c2 resolves $STREAM and reaches http://$STREAM/ as $PV_WAN4" stream_seen_as "$NS_C2" "$PV_T4" "$PV_WAN4" 15
	# A bare TCP listener (whoami.py's HTTPServer looks its own address up in DNS first, which
	# from inside a consumer goes into the tunnel and takes a long time to fail).
	listener() { # listener NS ADDR PORT LOG
		bg "$1" "$4" "$PYTHON" -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(8)
print("listening on", sys.argv[1], sys.argv[2], flush=True)
while True:
    c, a = s.accept()
    print("connection from", a[0], flush=True)
    c.sendall(a[0].encode() + b"\n")
    c.close()' "$2" "$3"
	}
	tcp_hello() { # tcp_hello NS ADDR PORT — connect, print the first line the listener sends
		ip netns exec "$1" timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2" && head -n 1 <&3' _ "$2" "$3"
	}
	listener "$NS_C2" "$C2_T4" 7000 "$E2E_TMP/c2-listener.log"
	listener "$NS_C1" "$C1_T4" 7000 "$E2E_TMP/c1-listener.log"
	check "$c: control: c2's own listener on $C2_T4:7000 answers locally" \
		wait_for 10 "c2's listener to answer c2" tcp_hello "$NS_C2" "$C2_T4" 7000
	check "$c: control: c1's own listener on $C1_T4:7000 answers locally" \
		wait_for 10 "c1's listener to answer c1" tcp_hello "$NS_C1" "$C1_T4" 7000
	loc0=$(sess_field "$C1_KEY" droppedLocal)
	check "$c: c1 → c2 ping $C2_T4 fails" fails_from "$NS_C1" "ping $C2_T4" ping -n -c 2 -i 0.3 -W 1 "$C2_T4"
	check "$c: c1 → c2 TCP $C2_T4:7000 fails" fails_from "$NS_C1" "TCP to $C2_T4:7000" \
		timeout 3 bash -c "exec 3<>/dev/tcp/$C2_T4/7000 && head -n 1 <&3"
	check "$c: c1 → c2 ping6 $C2_T6 fails" fails_from "$NS_C1" "ping $C2_T6" ping -6 -n -c 2 -i 0.3 -W 1 "$C2_T6"
	check "$c: c2 → c1 ping $C1_T4 fails" fails_from "$NS_C2" "ping $C1_T4" ping -n -c 2 -i 0.3 -W 1 "$C1_T4"
	check "$c: c2 → c1 TCP $C1_T4:7000 fails" fails_from "$NS_C2" "TCP to $C1_T4:7000" \
		timeout 3 bash -c "exec 3<>/dev/tcp/$C1_T4/7000 && head -n 1 <&3"
	check "$c: c2's listener never saw c1" log_lacks "$E2E_TMP/c2-listener.log" "connection from $C1_T4\$" "c2:7000"
	check "$c: c1's listener never saw c2" log_lacks "$E2E_TMP/c1-listener.log" "connection from $C2_T4\$" "c1:7000"
	check "$c: c1's droppedLocal grew" grew "$(sess_expr "$C1_KEY" droppedLocal)" "${loc0:-0}"
fi

# =============================================================================== case 7
c="7: consumer behind a gateway"
consumer_conf "$E2E_TMP/gw.conf" "$PV_ADDR" lan0
if check "$c: gateway with [Exit] and [Gateway] LAN = lan0 comes up" node_start GW warren "$NS_GW" "$IF_GW" "$E2E_TMP/gw.conf"; then
	GW_KEY=$(consumer_key GW)
	check "$c: the gateway got pool addresses" addrs_in_pool GW
	check "$c: the provider has a session for the gateway" sess_field "$GW_KEY" id
	check "$c: LAN client's DNS to 9.9.9.9 answered (redirected to $PV_T4)" dns_is "$NS_LC" 9.9.9.9 "lan.$STREAM" "$WEB4"
	check "$c: dnsd saw it from the provider's WAN address" log_has "$DNS_LOG" "query lan.$STREAM A from $PV_WAN4 " "dnsd"
	check "$c: LAN client's blocked name gets REFUSED" dns_rcode "$NS_LC" 9.9.9.9 blocked2.example 5
	check "$c: LAN client resolves (9.9.9.9) and fetches http://$STREAM/, seen as $PV_WAN4" \
		stream_seen_as "$NS_LC" 9.9.9.9 "$PV_WAN4" 20
	check "$c: web never saw the gateway's WAN or the LAN client" log_lacks "$WEB_LOG" "request from ($GW_WAN4|$LC4) " "web"
	check "$c: LAN client cannot reach the provider's LAN host" fails_from "$NS_LC" "HTTP to $PLAN4" \
		curl -sS --max-time 3 "http://$PLAN4/"
	check "$c: LAN client cannot reach $WEB_OTHER4" fails_from "$NS_LC" "HTTP to $WEB_OTHER4" \
		curl -sS --max-time 3 "http://$WEB_OTHER4/"
fi

# =============================================================================== case 8
c="8: session close"
c1_term() {
	node_stop C1 10
	local rc=$?
	echo "consumer c1 exited with status $rc after SIGTERM"
	[[ $rc == 0 ]]
}
check "$c: c1 stops on SIGTERM" c1_term
check "$c: c1's session and peer are gone within 5 s" wait_for 5 "c1's session to end" no_session_for "$C1_KEY"
check "$c: c1's policy routing is gone" bash -c "! ip -n $NS_C1 rule show | grep -q 0xca6c && echo 'no fwmark rule left' || { ip -n $NS_C1 rule show; exit 1; }"
[[ -n ${NODE_PID[C2]:-} ]] && check "$c: c2 stops on SIGTERM" node_stop C2 10
[[ -n ${NODE_PID[GW]:-} ]] && check "$c: the gateway stops on SIGTERM" node_stop GW 10
check "$c: no session and no peer left within 5 s" wait_for 5 "sessions and peers to be 0" \
	bash -c "[[ \$(ip netns exec $NS_PV timeout 5 $WARREN status --interface $IF_PV --json | $PYTHON -c 'import json,sys; d=json.load(sys.stdin); print(len(d[\"provider\"][\"sessions\"]), len(d[\"peers\"]))') == '0 0' ]]"
check "$c: sessions = [] and peers = []" expect "[d['provider']['sessions'], d['peers']]" "[[], []]"
d0=$(pv "d['provider']['requestsDropped']")
sleep 2
check "$c: c1's old request replayed after its close" ip netns exec "$NS_ATK" "${SPKT[@]}" replay "$REQ" "$PV_WAN4" "$PORT" 1
sleep 0.5
check "$c: it is dropped, no session comes back" expect "[len(d['provider']['sessions']), len(d['peers']), d['provider']['requestsDropped'] - $d0]" "[0, 0, 1]"

# =============================================================================== 9: provider stop
c="9: provider stop"
pv_term() {
	node_stop PV 10
	local rc=$?
	echo "provider exited with status $rc after SIGTERM"
	[[ $rc == 0 ]]
}
check "$c: the provider stops on SIGTERM" pv_term
check "$c: $IF_PV is gone" wait_for 5 "$IF_PV to disappear" bash -c "! ip -n $NS_PV link show dev $IF_PV"
check "$c: nft table inet $(warren_table "$IF_PV" provider) removed" \
	bash -c "! ip netns exec $NS_PV nft list table inet $(warren_table "$IF_PV" provider) >/dev/null 2>&1 && echo 'no provider table'"
check "$c: ip_forward restored to 0" sysctl_is "$NS_PV" net.ipv4.ip_forward 0
check "$c: IPv6 forwarding restored to 0" sysctl_is "$NS_PV" net.ipv6.conf.all.forwarding 0

summary
