#!/usr/bin/env bash
# Provider edges: a provider on a home network with global IPv6, beside the host's own resolver.
#
#   (a) The owner's home has global addresses (2001:db8:…, documentation space standing in
#       for an ISP's prefix): the provider's WAN link to the owner's router, and the LAN
#       behind the provider. A whitelisted name whose answer points there must teach the exit
#       nothing: the consumer's packets are dropped and counted in the data plane, and the
#       nftables sets host4/host6 hold the same networks. A prefix added while the provider
#       runs is protected within seconds, and one removed is released.
#   (b) A resolver of the host (a dnsmasq stand-in) already holds *:53, UDP and TCP, v4 and v6:
#       the provider still starts, its consumers' DNS goes to its own forwarder (redirected
#       from port 53 to a port of its own) and never to the host's resolver.
# Run as root.
#
#   [home] 192.168.77.10 2001:db8:77::10 ── lan0 [prov] wan0 ── r-pv [router] ─┬─ r-c1 ── wan0 [c1]
#          (whoami :80)    192.168.77.1 2001:db8:77::1   192.0.2.2          192.0.2.1                198.18.1.2
#                          wpv: 10.99.0.1 fd99::1        2001:db8:1::2      2001:db8:1::1 (whoami :80)
#                          dnsmasq stand-in on *:53                         │
#   [web] 203.0.113.9 2001:db8:f00::9 (whoami :80), 203.0.113.53 (dnsd) ─── r-web
#
# The router is the owner's router: its addresses on the provider's link are home addresses.
# Every address lives in namespaces this suite creates; the EXIT trap removes them.
#
# PE_NO_LOCAL_RESOLVER=1 leaves the dnsmasq stand-in out, so that (a) can be run against a
# provider that cannot start beside it.
PE_WARREN_GIVEN=${WARREN:-}
source "$(dirname "$0")/lib.sh"
if [[ -z $PE_WARREN_GIVEN && -x $REPO/.build/debug/warren && ( ! -x $WARREN || $REPO/.build/debug/warren -nt $WARREN ) ]]; then
	WARREN=$REPO/.build/debug/warren
fi
say "(warren binary: $WARREN)"

require_root_tools
for t in nft curl; do
	command -v "$t" >/dev/null 2>&1 || { fail "$SUITE setup" "missing tool: $t"; summary; }
done

P="wre2e-$$"
NS_R="$P-rt" NS_PV="$P-prov" NS_HOME="$P-home" NS_C1="$P-c1" NS_WEB="$P-web"
PV_WAN4=192.0.2.2 PV_WAN6=2001:db8:1::2 RT4=192.0.2.1 RT6=2001:db8:1::1
PV_LAN4=192.168.77.1 PV_LAN6=2001:db8:77::1 HOME4=192.168.77.10 HOME6=2001:db8:77::10
C1_WAN4=198.18.1.2 WEB4=203.0.113.9 WEB6=2001:db8:f00::9 DNS4=203.0.113.53
LATER_PV6=2001:db8:99::1 LATER_HOME6=2001:db8:99::10
PV_T4=10.99.0.1 PV_T6=fd99::1 PORT=51820
STREAM=stream.example
IF_PV="wpe$$" IF_C1="wce$$"
PV_TABLE=$(warren_table "$IF_PV" provider)

# ---------------------------------------------------------------- topology and services

pe_topo_up() {
	local ns
	for ns in "$NS_R" "$NS_PV" "$NS_HOME" "$NS_C1" "$NS_WEB"; do ns_add "$ns" || return 1; done
	veth_pair "$NS_PV" wan0 "$NS_R" r-pv && veth_pair "$NS_PV" lan0 "$NS_HOME" eth0 &&
		veth_pair "$NS_C1" wan0 "$NS_R" r-c1 && veth_pair "$NS_WEB" eth0 "$NS_R" r-web || return 1
	addr_add "$NS_R" r-pv "$RT4/24" "$RT6/64" && addr_add "$NS_R" r-c1 198.18.1.1/24 &&
		addr_add "$NS_R" r-web 203.0.113.1/24 2001:db8:f00::1/64 || return 1
	addr_add "$NS_PV" wan0 "$PV_WAN4/24" "$PV_WAN6/64" && addr_add "$NS_PV" lan0 "$PV_LAN4/24" "$PV_LAN6/64" &&
		addr_add "$NS_HOME" eth0 "$HOME4/24" "$HOME6/64" && addr_add "$NS_C1" wan0 "$C1_WAN4/24" &&
		addr_add "$NS_WEB" eth0 "$WEB4/24" "$WEB6/64" "$DNS4/24" || return 1
	ip -n "$NS_PV" route add default via "$RT4" && ip -n "$NS_PV" -6 route add default via "$RT6" &&
		ip -n "$NS_HOME" route add default via "$PV_LAN4" && ip -n "$NS_HOME" -6 route add default via "$PV_LAN6" &&
		ip -n "$NS_C1" route add default via 198.18.1.1 &&
		ip -n "$NS_WEB" route add default via 203.0.113.1 && ip -n "$NS_WEB" -6 route add default via 2001:db8:f00::1 || return 1
	ip netns exec "$NS_R" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 || return 1
	wait_for 10 "c1 → provider WAN" ip netns exec "$NS_C1" ping -n -c 1 -W 1 "$PV_WAN4" &&
		wait_for 10 "provider → web" ip netns exec "$NS_PV" ping -n -c 1 -W 1 "$WEB4" &&
		wait_for 10 "provider → web over IPv6" ip netns exec "$NS_PV" ping -6 -n -c 1 -W 1 "$WEB6" &&
		wait_for 10 "provider → home host over IPv6" ip netns exec "$NS_PV" ping -6 -n -c 1 -W 1 "$HOME6" || return 1
	echo "5 namespaces up: router, provider + home host, c1, web"
}

WEB_LOG="$E2E_TMP/whoami-web.log" HOME_LOG="$E2E_TMP/whoami-home.log" RT_LOG="$E2E_TMP/whoami-router.log"
DNS_LOG="$E2E_TMP/dnsd.log" LOCAL_DNS_LOG="$E2E_TMP/dnsmasq-standin.log"
pe_services_start() {
	: >"$WEB_LOG"; : >"$HOME_LOG"; : >"$RT_LOG"; : >"$LOCAL_DNS_LOG"
	# whoami.py looks its own name up as it binds: an unreachable resolver would stall it.
	local ns
	for ns in "$NS_HOME" "$NS_R" "$NS_WEB"; do netns_etc_file "$ns" resolv.conf "nameserver 127.0.0.1" >/dev/null || return 1; done
	bg "$NS_WEB" "$E2E_TMP/web.out" "$PYTHON" "$E2E_DIR/whoami.py" --port 80 --log "$WEB_LOG" "$WEB4" "$WEB6"
	bg "$NS_HOME" "$E2E_TMP/home.out" "$PYTHON" "$E2E_DIR/whoami.py" --port 80 --log "$HOME_LOG" "$HOME4" "$HOME6"
	bg "$NS_R" "$E2E_TMP/router.out" "$PYTHON" "$E2E_DIR/whoami.py" --port 80 --log "$RT_LOG" "$RT4" "$RT6"
	# The host's own resolver (dnsmasq, Pi-hole): every port 53 of the provider's host, UDP and
	# TCP, SO_REUSEADDR as dnsmasq sets it. It answers every A with 192.0.2.123, which nothing
	# through the provider may ever see.
	if [[ ${PE_NO_LOCAL_RESOLVER:-0} != 1 ]]; then
		bg "$NS_PV" "$E2E_TMP/dnsmasq.out" "$PYTHON" "$E2E_DIR/dnsd.py" serve --a 192.0.2.123 --log "$LOCAL_DNS_LOG" 0.0.0.0 ::
		wait_for 10 "the dnsmasq stand-in on *:53 of the provider" udp_listening "$NS_PV" 53 || { tail -n 3 "$E2E_TMP"/*.out; return 1; }
	fi
	wait_for 20 "whoami on web :80" listening_on "$NS_WEB" "[$WEB6]:80" &&
		wait_for 20 "whoami on the home host :80" listening_on "$NS_HOME" "[$HOME6]:80" &&
		wait_for 20 "whoami on the router :80" listening_on "$NS_R" "[$RT6]:80" || {
		tail -n 3 "$E2E_TMP"/*.out; return 1; }
	dnsd_answers "$WEB6"
}
listening_on() { # listening_on NS ADDR:PORT — a TCP listener there (the last address whoami binds)
	ip netns exec "$1" ss -Hltn | grep -qF " $2 "
}
# dnsd_answers AAAA [A] — (re)start the Internet's resolver: every A is A (default $WEB4),
# every AAAA is AAAA; its log is kept across restarts
DNSD_PID=""
dnsd_answers() {
	[[ -n $DNSD_PID ]] && stop_pid "$DNSD_PID" 3
	bg "$NS_WEB" "$E2E_TMP/dnsd.out" "$PYTHON" "$E2E_DIR/dnsd.py" serve --a "${2:-$WEB4}" --aaaa "$1" --log "$DNS_LOG" "$DNS4"
	DNSD_PID=${BG_PIDS[-1]}
	wait_for 10 "dnsd (AAAA $1) on $DNS4:53" dns_is "$NS_R" "$DNS4" probe.example "$1" AAAA
}

# ---------------------------------------------------------------- helpers

pv() { node_eval PV "$1"; }
sess() { echo "d['provider']['sessions'][0]['$1']"; }
expect() { # expect EXPR VALUE
	local got
	got=$(pv "$1") || { echo "$got"; return 1; }
	[[ $got == "$2" ]] || { echo "$1 is $got, expected $2"; return 1; }
	echo "$1 = $got"
}
not_grown() { # not_grown EXPR BEFORE — learned addresses may expire meanwhile, never grow
	local now
	now=$(pv "$1") || { echo "$now"; return 1; }
	[[ $now =~ ^[0-9]+$ && $now -le $2 ]] || { echo "$1 grew: $2 → $now"; return 1; }
	echo "$1: $2 → $now"
}
grew() { # grew EXPR BEFORE
	local now
	now=$(pv "$1") || { echo "$now"; return 1; }
	[[ $now =~ ^[0-9]+$ && $now -gt $2 ]] || { echo "$1 stayed at $now (was $2)"; return 1; }
	echo "$1: $2 → $now"
}
# host_networks_has PREFIX... / host_networks_lacks PREFIX... — the provider's status
host_networks_has() {
	local list p
	list=$(pv "d['provider'].get('hostNetworks')") || { echo "$list"; return 1; }
	for p in "$@"; do grep -q "\"$p\"" <<<"$list" || { echo "hostNetworks = $list"; echo "no $p in status hostNetworks"; return 1; }; done
	echo "hostNetworks = $list"
}
host_networks_lacks() {
	local list p
	list=$(pv "d['provider'].get('hostNetworks')") || { echo "$list"; return 1; }
	[[ $list == \[* ]] || { echo "hostNetworks = $list"; echo "status has no hostNetworks list"; return 1; }
	for p in "$@"; do grep -q "\"$p\"" <<<"$list" && { echo "hostNetworks = $list"; echo "$p is still in status hostNetworks"; return 1; }; done
	echo "hostNetworks = $list"
}
# nft_set_has SET PREFIX... / nft_set_lacks SET PREFIX... — elements of a set of inet warren_provider
nft_set_elements() {
	ip netns exec "$NS_PV" nft -j list set inet "$PV_TABLE" "$1" 2>&1 | "$PYTHON" -c '
import json, sys
try:
    doc = json.load(sys.stdin)
except ValueError as err:
    print(f"no set: {err}"); sys.exit(1)
out = []
for o in doc["nftables"]:
    for e in o.get("set", {}).get("elem", []):
        if isinstance(e, dict) and "prefix" in e:
            p = e["prefix"]
            out.append("%s/%s" % (p["addr"], p["len"]))
        elif isinstance(e, dict) and "range" in e:
            r = e["range"]
            out.append("%s-%s" % (r[0], r[1]))
        else:
            out.append(str(e))
print(" ".join(out))'
}
nft_set_has() {
	local set=$1 elements p; shift
	elements=$(nft_set_elements "$set") || { echo "$elements"; echo "no set $set in inet $PV_TABLE"; return 1; }
	for p in "$@"; do [[ " $elements " == *" $p "* ]] || { echo "set $set: $elements"; echo "no $p in set $set"; return 1; }; done
	echo "set $set: $elements"
}
nft_set_lacks() {
	local set=$1 elements p; shift
	elements=$(nft_set_elements "$set") || { echo "$elements"; echo "no set $set in inet $PV_TABLE"; return 1; }
	for p in "$@"; do [[ " $elements " == *" $p "* ]] && { echo "set $set: $elements"; echo "$p is still in set $set"; return 1; }; done
	echo "set $set: $elements"
}
# rebinding_cases WHO ADDRESS LOG [TYPE] [LOGCHECK] — $STREAM's answer (AAAA, or A) is ADDRESS,
# an address of the owner's home: c1 gets the answer, but the provider learns nothing (and says
# so in its log, once per 5 s: LOGCHECK=1 looks for it), drops c1's packets to it and counts
# them, and the home service in LOG (- for none) never sees a request
rebinding_cases() {
	local who=$1 addr=$2 log=$3 type=${4:-AAAA} logcheck=${5:-0} learned0 local0 url
	if [[ $type == AAAA ]]; then dnsd_answers "$addr" >/dev/null; url="http://[$addr]/"; else dnsd_answers "$WEB6" "$addr" >/dev/null; url="http://$addr/"; fi
	learned0=$(pv "d['provider']['learnedAddresses']")
	check "$c: $STREAM $type → $who $addr: c1 gets the answer through $PV_T4" dns_is "$NS_C1" "$PV_T4" "$STREAM" "$addr" "$type"
	check "$c: the provider learned nothing from it" not_grown "d['provider']['learnedAddresses']" "$learned0"
	[[ $logcheck == 1 ]] && check "$c: the provider logged the address it refused to learn" \
		log_has "${NODE_LOG[PV]}" "not learned from the answer for $STREAM: .*$addr" "provider"
	local0=$(pv "$(sess droppedLocal)")
	[[ $log != - ]] && check "$c: control: the provider itself reaches $url" seen_as "$NS_PV" "$url" "$(own_source "$addr")" 5
	check "$c: c1 → $url fails" fails_from "$NS_C1" "HTTP to $url" curl -sS -g --max-time 3 "$url"
	check "$c: the data plane dropped and counted it (droppedLocal)" grew "$(sess droppedLocal)" "${local0:-0}"
	[[ $log != - ]] && check "$c: $who saw no request but the provider's own" only_provider_asked "$log"
}
own_source() { # own_source ADDRESS — the provider's source address toward ADDRESS
	case $1 in
	192.0.2.*) echo "$PV_WAN4" ;;
	2001:db8:1::*) echo "$PV_WAN6" ;;
	2001:db8:77::*) echo "$PV_LAN6" ;;
	2001:db8:99::*) echo "$LATER_PV6" ;;
	*) echo "?" ;;
	esac
}
only_provider_asked() { # only_provider_asked LOG — every request in a whoami log came from the provider itself
	local others
	others=$(grep 'request from' "$1" | grep -vE "request from ($PV_WAN4|$PV_WAN6|$PV_LAN4|$PV_LAN6|$LATER_PV6) ")
	[[ -z $others ]] || { echo "$others" | tail -n 2; echo "someone else reached $(basename "$1")"; return 1; }
	echo "$(grep -c 'request from' "$1") request(s) in $(basename "$1"), all from the provider itself"
}

# ---------------------------------------------------------------- setup

WHITELIST="$E2E_TMP/whitelist"
printf '%s\n' "$STREAM" >"$WHITELIST"
cat >"$E2E_TMP/provider.conf" <<EOF
[Interface]
ListenPort = $PORT

[Provider]
WAN = wan0
Pool = 10.99.0.0/24, fd99::/64
Exit = whitelist
Whitelist = $WHITELIST
MaxSessions = 4
IdleTimeout = 180
EOF

check "setup: namespaces, router, links (global IPv6 on the home side)" pe_topo_up || summary
check "setup: web, home host, router services, dnsd and the dnsmasq stand-in on *:53" pe_services_start || summary
check "setup: resolv.conf of the provider's namespace names dnsd ($DNS4)" \
	netns_etc_file "$NS_PV" resolv.conf "nameserver $DNS4" || summary
if [[ ${PE_NO_LOCAL_RESOLVER:-0} != 1 ]]; then
	check "setup: the dnsmasq stand-in answers on $PV_LAN4:53 (192.0.2.123)" dns_is "$NS_HOME" "$PV_LAN4" any.example 192.0.2.123
	check "setup: and over IPv6 on [$PV_LAN6]:53" dns_is "$NS_HOME" "$PV_LAN6" any.example 192.0.2.123
fi
check "setup: the home host answers the provider over IPv6" seen_as "$NS_PV" "http://[$HOME6]/" "$PV_LAN6" 5
check "setup: the router answers the provider over IPv6" seen_as "$NS_PV" "http://[$RT6]/" "$PV_WAN6" 5
mkdir -p "$E2E_TMP/state-PV"
PV_ADDR=$(ip netns exec "$NS_PV" timeout 10 "$WARREN" id --state-dir "$E2E_TMP/state-PV" --endpoint "$PV_WAN4:$PORT" 2>&1)

# =============================================================================== (b) beside a resolver
c="b: beside a resolver on *:53"
if ! check "$c: the provider starts while the host's resolver holds *:53" \
	node_start PV warren "$NS_PV" "$IF_PV" "$E2E_TMP/provider.conf"; then
	say "(the provider did not start: nothing else can be checked)"
	summary
fi
forwarder_port() { # the port of the forwarder on $PV_T4, from status
	local list
	list=$(pv "d['provider'].get('dnsForwarder')") || return 1
	grep -oE "\"${PV_T4//./\\.}:[0-9]+\"" <<<"$list" | tr -d '"' | cut -d: -f2
}
FWD_PORT=$(forwarder_port)
check "$c: status names the forwarder on $PV_T4 and [$PV_T6] at ports of their own" \
	bash -c "[[ '${FWD_PORT:-}' =~ ^[0-9]+$ && '${FWD_PORT:-53}' != 53 ]] && echo 'dnsForwarder: $(pv "d['provider'].get('dnsForwarder')")' || { echo 'dnsForwarder: $(pv "d['provider'].get('dnsForwarder')")'; exit 1; }"
warren_not_on_53() {
	local out
	out=$(ip netns exec "$NS_PV" ss -Hlnup 'sport = :53')
	grep -q warren <<<"$out" && { echo "$out"; echo "warren holds port 53"; return 1; }
	out=$(ip netns exec "$NS_PV" ss -Hanup "sport = :${FWD_PORT:-0}")
	grep -q warren <<<"$out" || { echo "$out"; echo "no warren socket on port ${FWD_PORT:-?}"; return 1; }
	echo "port 53 belongs to the stand-in only; warren listens on ${FWD_PORT}: $(tr -s ' ' <<<"$out" | cut -d' ' -f4 | tr '\n' ' ')"
}
check "$c: nothing of warren's on port 53; the forwarder's socket is on $FWD_PORT" warren_not_on_53
consumer_conf() {
	printf '[Interface]\n\n[Exit]\nProvider = %s\n' "$PV_ADDR" >"$E2E_TMP/c1.conf"
	chmod 600 "$E2E_TMP/c1.conf"
}
consumer_conf
if ! check "$c: consumer c1 comes up" node_start C1 warren "$NS_C1" "$IF_C1" "$E2E_TMP/c1.conf"; then
	summary
fi
check "$c: c1 resolves $STREAM at $PV_T4:53 (the provider's forwarder, not the stand-in)" dns_is "$NS_C1" "$PV_T4" "$STREAM" "$WEB4"
check "$c: and $STREAM AAAA at [$PV_T6]:53" dns_is "$NS_C1" "$PV_T6" "$STREAM" "$WEB6" AAAA
check "$c: a name off the list is REFUSED by the forwarder" bash -c "ip netns exec $NS_C1 timeout 10 $PYTHON $E2E_DIR/dnsd.py query $PV_T4 blocked.example --timeout 3 | grep -q 'empty answer (rcode 5)' && echo 'blocked.example: REFUSED'"
check "$c: c1 reaches http://$STREAM/ ($WEB4), seen as $PV_WAN4" seen_as "$NS_C1" "http://$WEB4/" "$PV_WAN4" 10
check "$c: c1 reaches http://[$WEB6]/ over IPv6, seen as $PV_WAN6" seen_as "$NS_C1" "http://[$WEB6]/" "$PV_WAN6" 10
check "$c: DNS over TCP to $PV_T4:53 is refused, not answered by the host's resolver" \
	fails_from "$NS_C1" "a TCP query to $PV_T4" timeout 10 "$PYTHON" "$E2E_DIR/dnsd.py" query "$PV_T4" "$STREAM" --tcp --timeout 3
check "$c: the forwarder's own port $FWD_PORT is closed to a direct query from the tunnel" \
	fails_from "$NS_C1" "a query to $PV_T4:$FWD_PORT" timeout 10 "$PYTHON" "$E2E_DIR/dnsd.py" query "$PV_T4" "$STREAM" --port "${FWD_PORT:-1}" --timeout 2
check "$c: and from the WAN ($PV_WAN4:$FWD_PORT)" \
	fails_from "$NS_C1" "a query to $PV_WAN4:$FWD_PORT" timeout 10 "$PYTHON" "$E2E_DIR/dnsd.py" query "$PV_WAN4" "$STREAM" --port "${FWD_PORT:-1}" --timeout 2
check "$c: the host's resolver never got a query from the tunnel" log_lacks "$LOCAL_DNS_LOG" "query .* from (10\.99\.|fd99:)" "stand-in"

# =============================================================================== (a) global IPv6 home
c="a: the home's global prefixes"
check "$c: status hostNetworks has the WAN link and the LAN, v4 and global v6" \
	host_networks_has 192.0.2.0/24 192.168.77.0/24 2001:db8:1::/64 2001:db8:77::/64
check "$c: but not the consumer pool" host_networks_lacks 10.99.0.0/24 fd99::/64
check "$c: nftables set host6 holds the global v6 prefixes" nft_set_has host6 2001:db8:1::/64 2001:db8:77::/64
check "$c: nftables set host4 holds the WAN link and the LAN" nft_set_has host4 192.0.2.0/24 192.168.77.0/24
check "$c: forward chain drops tunnel traffic to @host6" bash -c "ip netns exec $NS_PV nft list chain inet $PV_TABLE forward | grep -E 'iifname \"$IF_PV\" ip6 daddr @host6 .*drop'"

# Control: a public IPv6 answer is learned and reachable, so the refusals below are about the home.
learned0=$(pv "d['provider']['learnedAddresses']")
check "$c: control: $STREAM AAAA → $WEB6 (public) is learned" dns_is "$NS_C1" "$PV_T4" "$STREAM" "$WEB6" AAAA
check "$c: control: http://[$WEB6]/ through the provider, seen as $PV_WAN6" seen_as "$NS_C1" "http://[$WEB6]/" "$PV_WAN6" 10

rebinding_cases "the home host" "$HOME6" "$HOME_LOG" AAAA 1
rebinding_cases "the router (global v6)" "$RT6" "$RT_LOG"
rebinding_cases "the router (v4)" "$RT4" "$RT_LOG" A
rebinding_cases "the provider's own LAN address" "$PV_LAN6" -

c="a: kept current"
check "$c: a new global prefix appears on the provider's LAN ($LATER_PV6/64, home host $LATER_HOME6)" \
	bash -c "ip -n $NS_PV addr add $LATER_PV6/64 dev lan0 nodad && ip -n $NS_HOME addr add $LATER_HOME6/64 dev eth0 nodad && echo added"
LATER_LOG="$E2E_TMP/whoami-home-later.log"
: >"$LATER_LOG"
bg "$NS_HOME" "$E2E_TMP/home-later.out" "$PYTHON" "$E2E_DIR/whoami.py" --port 80 --log "$LATER_LOG" "$LATER_HOME6"
check "$c: the home host serves on [$LATER_HOME6]:80" wait_for 20 "whoami on [$LATER_HOME6]:80" listening_on "$NS_HOME" "[$LATER_HOME6]:80"
check "$c: status hostNetworks has 2001:db8:99::/64 within 10 s" wait_for 10 "2001:db8:99::/64 in hostNetworks" host_networks_has 2001:db8:99::/64
check "$c: nftables set host6 has it within 10 s" wait_for 10 "2001:db8:99::/64 in set host6" nft_set_has host6 2001:db8:99::/64
check "$c: the provider logged the change once" bash -c "n=\$(grep -c 'networks changed (added 2001:db8:99::/64' '${NODE_LOG[PV]}'); [[ \$n == 1 ]] && grep 'networks changed (added 2001:db8:99::/64' '${NODE_LOG[PV]}' || { echo \"\$n lines\"; exit 1; }"
rebinding_cases "the home host on the new prefix" "$LATER_HOME6" "$LATER_LOG"
check "$c: the prefix goes away" bash -c "ip -n $NS_PV addr del $LATER_PV6/64 dev lan0 && echo removed"
check "$c: status hostNetworks loses it within 10 s" wait_for 10 "2001:db8:99::/64 gone from hostNetworks" host_networks_lacks 2001:db8:99::/64
check "$c: nftables set host6 loses it within 10 s" wait_for 10 "2001:db8:99::/64 gone from set host6" nft_set_lacks host6 2001:db8:99::/64
check "$c: and keeps the rest" nft_set_has host6 2001:db8:1::/64 2001:db8:77::/64

c="stop"
check "$c: c1 stops" node_stop C1 10
check "$c: the provider stops on SIGTERM with status 0" node_stop PV 10
check "$c: nft table inet $PV_TABLE removed" \
	bash -c "! ip netns exec $NS_PV nft list table inet $PV_TABLE >/dev/null 2>&1 && echo 'no inet $PV_TABLE table'"
[[ ${PE_NO_LOCAL_RESOLVER:-0} != 1 ]] && check "$c: the host's resolver still answers on $PV_LAN4:53" dns_is "$NS_HOME" "$PV_LAN4" any.example 192.0.2.123


# A start that fails after the provider changed the host (table, forwarding) undoes it all.
# The failure: the control socket's path is taken by a directory (the last step of a start).
c="failed start"
ip netns exec "$NS_PV" sysctl -qw net.ipv4.ip_forward=0
ipf0=0
check "$c: the provider's start fails at its last step" up_fails_at_last_step "$NS_PV" "$IF_PV" "$E2E_TMP/state-PV" \
	"$E2E_TMP/provider.conf" "start failed, undone: nftables table inet $PV_TABLE"
check "$c: no table inet $PV_TABLE left" bash -c "! ip netns exec $NS_PV nft list table inet $PV_TABLE >/dev/null 2>&1 && echo 'no table'"
check "$c: ip_forward back to $ipf0" sysctl_is "$NS_PV" net.ipv4.ip_forward "$ipf0"
check "$c: no interface $IF_PV left" bash -c "! ip -n $NS_PV link show dev $IF_PV 2>/dev/null && echo 'no interface'"
check "$c: no journal left" bash -c "[[ ! -e $E2E_TMP/state-PV/$IF_PV.changes.json ]] && echo 'no journal'"

summary
