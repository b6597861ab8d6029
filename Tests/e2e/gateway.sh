#!/usr/bin/env bash
# Gateway mode: warren at the edge of a home LAN tunnels every LAN device's traffic through a
# WireGuard exit (wireguard-go), fail-closed: no leak when the exit or the agent goes away, no
# DNS leak, no IPv6 leak; bypassed devices go straight out. Topology: see wh_topo_up in lib.sh
# (client and client2 on the gw's LAN bridge, gw's WAN to a router, the exit and a web server
# behind it). Leaks are checked by capturing on the gateway's WAN (wan0): nothing may appear
# there but the tunnel's UDP flow gw:51820 ↔ exit:51820.
# Run as root.
source "$(dirname "$0")/lib.sh"

require_root_tools
for t in nft curl; do
	command -v "$t" >/dev/null 2>&1 || { fail "$SUITE setup" "missing tool: $t"; summary; }
done
check "setup: client, client2, gw, router, exit, web namespaces" wh_topo_up || summary
wh_keys
check "setup: exit runs wireguard-go on $WH_EXIT4:$WH_PORT with NAT" wh_exit_start || summary
check "setup: whoami.py on web, dnsd.py on the exit" wh_services_start || summary
check "setup: the web server sees the exit as $WH_EXIT4" wh_seen_as "$WH_EXIT" "http://$WH_WEB4/" "$WH_EXIT4"

GW_STATE="$E2E_TMP/state-GW"
set_forwarding() { # set_forwarding V4 V6 — the gateway's sysctls before the agent starts
	ip netns exec "$WH_GW" sysctl -qw net.ipv4.ip_forward="$1" net.ipv6.conf.all.forwarding="$2"
}
gw_json() { node_json GW; }
gw_status_is() { # gw_status_is PATH=VALUE... — fields of the "gateway" object of status --json
	local j args=() kv
	j=$(gw_json) || { echo "warren status --json failed"; return 1; }
	for kv in "$@"; do args+=("gateway.$kv"); done
	json_expect "$j" "${args[@]}"
}
gw_status_field() { gw_json | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["gateway"][sys.argv[1]])' "$1"; }
gw_status_text_has() { # warren status (text) mentions each word
	local out w missing=()
	out=$(ip netns exec "$WH_GW" timeout 5 "$WARREN" status --interface "$WH_TUN" 2>&1) || {
		echo "$out"; echo "warren status failed"; return 1; }
	for w in "$@"; do grep -qiF -- "$w" <<<"$out" || missing+=("$w"); done
	if [[ ${#missing[@]} -gt 0 ]]; then
		echo "$out"
		echo "text status does not mention: ${missing[*]}"
		return 1
	fi
	echo "text status mentions $*"
}
gw_start() { # gw_start CONF — warren up in the gw namespace (node GW)
	node_start GW warren "$WH_GW" "$WH_TUN" "$1" || return 1
	wait_for 10 "warren's UDP port $WH_PORT" udp_listening "$WH_GW" "$WH_PORT"
}
gw_kill() { # SIGKILL the agent; the TUN device must go with it
	local pid=${NODE_PID[GW]:-}
	[[ -n $pid ]] || { echo "no agent running"; return 1; }
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null
	unset "NODE_PID[GW]"
	wait_for 5 "$WH_TUN to disappear with the process" bash -c "! ip -n $WH_GW link show dev $WH_TUN"
}
gw_down() { # warren down; prints its output
	local out rc
	out=$(ip netns exec "$WH_GW" timeout 30 "$WARREN" down --interface "$WH_TUN" --state-dir "$GW_STATE" 2>&1)
	rc=$?
	[[ -n $out ]] && echo "$out"
	echo "warren down exited with status $rc"
	return $rc
}
rules_installed() { # rules_installed -4|-6 — the agent's policy routing is there
	local fam=$1 rules routes
	rules=$(ip -n "$WH_GW" "$fam" rule show)
	routes=$(ip -n "$WH_GW" "$fam" route show table 51820 2>/dev/null)
	echo "$rules"
	echo "table 51820: $routes"
	grep -Eq '^32764:.*suppress_prefixlength 0' <<<"$rules" || { echo "no rule 32764 lookup main suppress_prefixlength 0 ($fam)"; return 1; }
	grep -Eq '^32765:.*not .*fwmark 0xca6c .*lookup 51820' <<<"$rules" || { echo "no rule 32765 not fwmark 0xca6c lookup 51820 ($fam)"; return 1; }
	grep -Eq "^32697:.*fwmark 0xca6c lookup main" <<<"$rules" || { echo "no rule 32697 fwmark 0xca6c lookup main ($fam)"; return 1; }
	grep -Eq "^32699:.*iif $WH_LAN lookup 51820" <<<"$rules" || { echo "no rule 32699 iif $WH_LAN lookup 51820 ($fam)"; return 1; }
	grep -Eq "^default dev $WH_TUN" <<<"$routes" || { echo "no default route via $WH_TUN in table 51820 ($fam)"; return 1; }
	echo "rules 32697-32699 (iif $WH_LAN), 32764/32765 and table 51820 default via $WH_TUN ($fam)"
}
rules_once() { # rules_once -4|-6 — the agent's rules, not duplicated: the LAN pair and the host pair
	local fam=$1 rules n1 n2 n3
	rules=$(ip -n "$WH_GW" "$fam" rule show)
	n1=$(grep -c 'suppress_prefixlength 0' <<<"$rules")
	n2=$(grep -c 'fwmark 0xca6c' <<<"$rules")
	n3=$(grep -c "iif $WH_LAN lookup 51820" <<<"$rules")
	if [[ $n1 == 2 && $n2 == 2 && $n3 == 1 ]]; then
		echo "two suppress_prefixlength rules, two fwmark rules, one iif $WH_LAN rule ($fam)"
		return 0
	fi
	echo "$rules"
	echo "$n1 suppress_prefixlength rule(s), $n2 fwmark rule(s), $n3 iif $WH_LAN rule(s) ($fam), expected 2, 2, 1"
	return 1
}
nft_table_exists() {
	if ip netns exec "$WH_GW" nft list table inet "$WH_TABLE" >/dev/null 2>&1; then
		echo "nft table inet $WH_TABLE is there"
		return 0
	fi
	echo "no nft table inet $WH_TABLE"
	return 1
}
counter_grew() { # counter_grew NAME BEFORE — via nft (the agent may be dead)
	local now
	now=$(nft_counter "$WH_GW" inet "$WH_TABLE" "$1") || { echo "cannot read counter $1"; return 1; }
	if [[ $now -gt $2 ]]; then
		echo "nft counter $1: $2 → $now packets"
		return 0
	fi
	echo "nft counter $1 stayed at $now packets (was $2)"
	return 1
}
status_counter_grew() { # status_counter_grew FIELD BEFORE — via warren status --json
	local now
	now=$(gw_status_field "$1") || { echo "warren status has no gateway.$1"; return 1; }
	if [[ $now -gt $2 ]]; then
		echo "status gateway.$1: $2 → $now"
		return 0
	fi
	echo "status gateway.$1 stayed at $now (was $2)"
	return 1
}
dns_answer() { # dns_answer NS SERVER NAME [--tcp|--type AAAA] — dnsd's answer through the gateway
	local ns=$1 server=$2 name=$3 out want=$WH_WEB4; shift 3
	[[ " $* " == *" AAAA "* ]] && want=$WH_WEB6
	out=$(ip netns exec "$ns" timeout 10 "$PYTHON" "$E2E_DIR/dnsd.py" query "$server" "$name" --timeout 3 "$@" 2>&1)
	echo "$out"
	grep -qx "$want" <<<"$out" || { echo "expected the answer $want for $name from $server"; return 1; }
}
dnsd_saw() { # dnsd_saw NAME FROM — dnsd logged the query, from the gateway's tunnel address
	local line
	line=$(grep -F "query $1 " "$WH_DNS_LOG" | tail -n 1)
	if [[ -z $line ]]; then
		echo "dnsd never saw a query for $1"
		return 1
	fi
	if [[ $line != *" from $2 "* ]]; then
		echo "dnsd: $line (expected it from $2)"
		return 1
	fi
	echo "dnsd: $line"
}
web_never_saw() { # web_never_saw ADDR... — whoami.py's log has no request from these
	local a hits=()
	for a in "$@"; do
		grep -q "request from $a " "$WH_WEB_LOG" && hits+=("$a")
	done
	if [[ ${#hits[@]} -gt 0 ]]; then
		grep -E "request from ($(IFS='|'; echo "${hits[*]}")) " "$WH_WEB_LOG" | tail -n 3
		echo "the web server saw requests from ${hits[*]}"
		return 1
	fi
	echo "the web server never saw $* ($(grep -c . "$WH_WEB_LOG") requests logged)"
}
syn_mss_at_most() { # syn_mss_at_most PCAP MAX — every SYN toward web:80 carries mss <= MAX
	local lines mss bad=0 n=0
	lines=$(tcpdump -r "$1" -nn -v 'tcp[tcpflags] & tcp-syn != 0 and tcp[tcpflags] & tcp-ack == 0 and dst port 80' 2>/dev/null |
		grep -o 'mss [0-9]*')
	for mss in $(awk '{print $2}' <<<"$lines"); do
		n=$((n + 1))
		[[ $mss -le $2 ]] || bad=$((bad + 1))
	done
	if [[ $n == 0 ]]; then
		echo "no SYN toward port 80 captured on web"
		return 1
	fi
	if [[ $bad -gt 0 ]]; then
		echo "$bad of $n SYNs arrived with an MSS above $2: $(tr '\n' ' ' <<<"$lines")"
		return 1
	fi
	echo "$n SYN(s) at the web server, MSS $(awk '{print $2}' <<<"$lines" | sort -u | tr '\n' ' ')(<= $2)"
}
pcap_none() { # pcap_none PCAP FILTER — the capture holds no such packet
	local lines n
	lines=$(pcap_read "$1" "$2") || { echo "could not read $1"; return 1; }
	n=$(grep -c . <<<"$lines")
	if [[ $n -gt 0 ]]; then
		head -n 10 <<<"$lines"
		echo "$n packet(s) matching '$2' captured (first ones above)"
		return 1
	fi
	echo "no packet matching '$2' among $(pcap_read "$1" | wc -l) captured"
}
gw_term() { # SIGTERM the agent; it must exit 0
	node_stop GW 10
	local rc=$?
	echo "agent exited with status $rc after SIGTERM"
	[[ $rc == 0 ]]
}
policy_routing_gone() {
	local r t
	r=$({ ip -n "$WH_GW" -4 rule show; ip -n "$WH_GW" -6 rule show; } 2>&1 | grep -E '0xca6c|51820|suppress_prefixlength')
	t=$({ ip -n "$WH_GW" -4 route show table 51820; ip -n "$WH_GW" -6 route show table 51820; } 2>/dev/null)
	if [[ -n $r || -n $t ]]; then
		echo "left behind: rules: ${r:-none}; table 51820: ${t:-empty}"
		return 1
	fi
	echo "no rules for 0xca6c/51820/suppress_prefixlength, table 51820 empty"
}
leak_window() { # leak_window TAG SECONDS — capture wan0 and lan0 while the client makes traffic
	pcap_start "$1-wan" "$WH_GW" "$WH_WAN" "$E2E_TMP/$1-wan.pcap" &&
		pcap_start "$1-lan" "$WH_GW" "$WH_LAN" "$E2E_TMP/$1-lan.pcap" || return 1
	wh_client_traffic "$WH_CLIENT" "$2"
	pcap_stop "$1-wan"
	pcap_stop "$1-lan"
	echo "captured $(pcap_read "$E2E_TMP/$1-wan.pcap" | wc -l) packets on $WH_WAN and $(pcap_read "$E2E_TMP/$1-lan.pcap" | wc -l) on $WH_LAN during ${2}s of client traffic"
}
client_tried() { # client_tried TAG — the client really sent traffic during the window (positive control)
	pcap_count_at_least "$E2E_TMP/$1-lan.pcap" "src host $WH_C4 and not dst host $WH_LAN4" 10 \
		"the client's traffic toward the internet on $WH_LAN"
}

# =============================================================================== phase 1
# IPv4 tunnel, IPv6 by default blocked, bypass for client2; the gateway starts with
# ip_forward=0 (restored by `down`) and v6 forwarding on (a router with native IPv6: the
# kill switch must block it, not the sysctl).
set_forwarding 0 1
wh_gateway_conf "$E2E_TMP/gw1.conf" bypass="$WH_C2_4"
c="setup"
if check "$c: warren up as gateway (LAN = $WH_LAN, Bypass = $WH_C2_4, IPv6 default)" gw_start "$E2E_TMP/gw1.conf"; then
	check "status: gateway object in status --json" gw_status_is 'lan=["lan0"]' killSwitch=true killSwitchArmed=true \
		"bypass=[\"$WH_C2_4/32\"]" "dns=[\"$WH_XT4\"]" 'ipv6="block"' firewallMark=51820 table=51820
	check "status: text status shows the gateway" gw_status_text_has "$WH_LAN" "$WH_C2_4" "$WH_XT4"
	check "setup: policy routing v4" rules_installed -4
	check "setup: ip_forward turned on" sysctl_is "$WH_GW" net.ipv4.ip_forward 1

	c="1: LAN client through the exit"
	pcap_start syn "$WH_WEB" eth0 "$E2E_TMP/1-web.pcap" "tcp port 80"
	check "$c: web server sees the exit's $WH_EXIT4" wh_seen_as "$WH_CLIENT" "http://$WH_WEB4/" "$WH_EXIT4" 20
	pcap_stop syn
	check "$c: MSS clamped to the tunnel's MTU" syn_mss_at_most "$E2E_TMP/1-web.pcap" 1380
	check "$c: 4 MiB TCP client → web, checksummed" tcp_transfer "$WH_CLIENT" "$WH_WEB" "$WH_WEB4" 4 5201
	check "$c: web never saw the gateway's WAN or the LAN address" web_never_saw "$WH_WAN4" "$WH_C4"

	c="3: DNS"
	pcap_start dns "$WH_GW" "$WH_WAN" "$E2E_TMP/3-wan.pcap"
	check "$c: UDP query to 9.9.9.9 answered through the tunnel" dns_answer "$WH_CLIENT" 9.9.9.9 udp.dns3.warren.test
	check "$c: dnsd saw the UDP query, from the tunnel" dnsd_saw udp.dns3.warren.test "$WH_GT4"
	check "$c: TCP query to 1.1.1.1 answered through the tunnel" dns_answer "$WH_CLIENT" 1.1.1.1 tcp.dns3.warren.test --tcp
	check "$c: dnsd saw the TCP query, from the tunnel" dnsd_saw tcp.dns3.warren.test "$WH_GT4"
	check "$c: query to the LAN's own resolver $WH_LAN4 goes to dnsd too" dns_answer "$WH_CLIENT" "$WH_LAN4" lan.dns3.warren.test
	pcap_stop dns
	check "$c: no port-53 packet on $WH_WAN" pcap_none "$E2E_TMP/3-wan.pcap" "port 53"
	check "$c: nothing but the tunnel on $WH_WAN" wh_wan_clean "$E2E_TMP/3-wan.pcap" 4

	c="2a: leaks while the tunnel is up"
	check "$c: 5 s of client pings, TCP and DNS" leak_window 2a 5
	check "$c: the client's traffic reached $WH_LAN" client_tried 2a
	check "$c: only the tunnel's UDP flow on $WH_WAN" wh_wan_clean "$E2E_TMP/2a-wan.pcap" 20

	c="2d: LAN traffic to the WAN's own subnet"
	ks0=$(gw_status_field killSwitchDropped)
	pcap_start 2d "$WH_GW" "$WH_WAN" "$E2E_TMP/2d-wan.pcap"
	check "$c: ping 172.30.1.1 (next to wan0, not via the tunnel) fails" fails_from "$WH_CLIENT" "ping 172.30.1.1" \
		ping -n -c 3 -i 0.3 -W 1 172.30.1.1
	pcap_stop 2d
	check "$c: nothing but the tunnel on $WH_WAN" wh_wan_clean "$E2E_TMP/2d-wan.pcap"
	check "$c: status killSwitchDropped grew" status_counter_grew killSwitchDropped "${ks0:-0}"

	c="4a: IPv6 = block (default without an IPv6 Address)"
	v6b0=$(gw_status_field ipv6Blocked)
	pcap_start 4a "$WH_GW" "$WH_WAN" "$E2E_TMP/4a-wan.pcap"
	check "$c: HTTP to [$WH_WEB6] fails" fails_from "$WH_CLIENT" "curl -6 http://[$WH_WEB6]/" \
		curl -sS -g --max-time 3 "http://[$WH_WEB6]/"
	check "$c: ping $WH_WEB6 fails" fails_from "$WH_CLIENT" "ping $WH_WEB6" ping -6 -n -c 3 -i 0.3 -W 1 "$WH_WEB6"
	pcap_stop 4a
	check "$c: nothing of the client's IPv6 on $WH_WAN" wh_wan_clean "$E2E_TMP/4a-wan.pcap"
	check "$c: status ipv6Blocked grew" status_counter_grew ipv6Blocked "${v6b0:-0}"
	check "$c: web never saw the client's IPv6" web_never_saw "$WH_C6" "$WH_WAN6" "$WH_EXIT6"

	c="5: Bypass = $WH_C2_4"
	check "$c: client2 reaches the web directly, seen as the gateway's $WH_WAN4" \
		wh_seen_as "$WH_CLIENT2" "http://$WH_WEB4/" "$WH_WAN4" 10
	check "$c: client is still seen as the exit's $WH_EXIT4" wh_seen_as "$WH_CLIENT" "http://$WH_WEB4/" "$WH_EXIT4" 10

	c="2b: exit stopped"
	node_stop EXIT 5
	check "$c: wireguard-go on the exit is gone" wait_for 5 "$WH_XIF to disappear" \
		bash -c "! ip -n $WH_EXIT link show dev $WH_XIF"
	check "$c: 5 s of client pings, TCP and DNS" leak_window 2b 5
	check "$c: the client's traffic reached $WH_LAN" client_tried 2b
	check "$c: only the tunnel's UDP flow on $WH_WAN" wh_wan_clean "$E2E_TMP/2b-wan.pcap" 1
	check "$c: the web server is unreachable for the client" fails_from "$WH_CLIENT" "HTTP to $WH_WEB4" \
		curl -sS --max-time 2 "http://$WH_WEB4/"
	check "$c: exit back, wireguard-go restarted" wh_exit_start
	check "$c: the tunnel recovers, the client is seen as $WH_EXIT4" \
		wh_seen_as "$WH_CLIENT" "http://$WH_WEB4/" "$WH_EXIT4" 30

	c="2c: agent killed (SIGKILL)"
	ks0=$(nft_counter "$WH_GW" inet "$WH_TABLE" killswitch_dropped)
	check "$c: agent killed, $WH_TUN gone with it" gw_kill
	check "$c: the nft table stays" nft_table_exists
	check "$c: 5 s of client pings, TCP and DNS" leak_window 2c 5
	check "$c: the client's traffic reached $WH_LAN" client_tried 2c
	check "$c: nothing of the client's on $WH_WAN" wh_wan_clean "$E2E_TMP/2c-wan.pcap"
	check "$c: nft counter killswitch_dropped grew" counter_grew killswitch_dropped "${ks0:-0}"
	check "$c: client2 (bypass) still goes out directly" wh_seen_as "$WH_CLIENT2" "http://$WH_WEB4/" "$WH_WAN4" 5

	c="6: restart over the leftovers of SIGKILL"
	check "$c: warren up again" gw_start "$E2E_TMP/gw1.conf"
	check "$c: client seen as $WH_EXIT4" wh_seen_as "$WH_CLIENT" "http://$WH_WEB4/" "$WH_EXIT4" 20
	check "$c: each rule once (v4)" rules_once -4
	check "$c: killed again (SIGKILL)" gw_kill

	c="6: warren down after SIGKILL"
	check "$c: warren down succeeds" gw_down
	check "$c: nothing left behind" wh_gateway_clean
	check "$c: ip_forward restored to 0 (its value before the first up)" sysctl_is "$WH_GW" net.ipv4.ip_forward 0
	check "$c: src_valid_mark restored to 0" sysctl_is "$WH_GW" net.ipv4.conf.all.src_valid_mark 0
	check "$c: IPv6 forwarding untouched (1)" sysctl_is "$WH_GW" net.ipv6.conf.all.forwarding 1
fi
node_stop GW 5 >/dev/null 2>&1

# =============================================================================== phase 2
# IPv6 tunnelled: the gateway gets fd64::2/128 and IPv6 = tunnel, DNS on both families.
set_forwarding 0 0
wh_gateway_conf "$E2E_TMP/gw2.conf" addr="$WH_GT4/32, $WH_GT6/128" dns="$WH_XT4, $WH_XT6" ipv6=tunnel
c="4b: IPv6 = tunnel"
if check "$c: warren up with $WH_GT6/128" gw_start "$E2E_TMP/gw2.conf"; then
	check "$c: status shows ipv6 tunnel" gw_status_is 'ipv6="tunnel"' "dns=[\"$WH_XT4\",\"$WH_XT6\"]" 'bypass=[]'
	check "$c: policy routing v4" rules_installed -4
	check "$c: policy routing v6" rules_installed -6
	check "$c: IPv6 forwarding turned on" sysctl_is "$WH_GW" net.ipv6.conf.all.forwarding 1
	pcap_start 4b "$WH_GW" "$WH_WAN" "$E2E_TMP/4b-wan.pcap"
	check "$c: client's IPv6 reaches web, seen as the exit's $WH_EXIT6" \
		wh_seen_as "$WH_CLIENT" "http://[$WH_WEB6]/" "$WH_EXIT6" 20
	check "$c: client's IPv4 still seen as $WH_EXIT4" wh_seen_as "$WH_CLIENT" "http://$WH_WEB4/" "$WH_EXIT4" 10
	check "$c: ping $WH_WEB6 through the tunnel" ping_works "$WH_CLIENT" "$WH_WEB6"
	check "$c: DNS over IPv6 to [2001:4860:4860::8888] answered through the tunnel" \
		dns_answer "$WH_CLIENT" 2001:4860:4860::8888 v6.dns4b.warren.test --type AAAA
	check "$c: dnsd saw the IPv6 query, from the tunnel" dnsd_saw v6.dns4b.warren.test "$WH_GT6"
	check "$c: 2 MiB TCP client → web over IPv6" tcp_transfer "$WH_CLIENT" "$WH_WEB" "$WH_WEB6" 2 5202
	pcap_stop 4b
	check "$c: nothing of the client's IPv6 in the clear on $WH_WAN" wh_wan_clean "$E2E_TMP/4b-wan.pcap" 10
	check "$c: web never saw the LAN's or the gateway's IPv6" web_never_saw "$WH_C6" "$WH_WAN6" "$WH_GT6"

	c="7: warren down while the agent runs"
	gw_pid=${NODE_PID[GW]}
	check "$c: warren down succeeds" gw_down
	check "$c: the agent exits" wait_for 15 "agent $gw_pid to exit" bash -c "! kill -0 $gw_pid"
	wait "$gw_pid" 2>/dev/null
	unset "NODE_PID[GW]"
	check "$c: nothing left behind" wh_gateway_clean
	check "$c: ip_forward restored to 0" sysctl_is "$WH_GW" net.ipv4.ip_forward 0
	check "$c: IPv6 forwarding restored to 0" sysctl_is "$WH_GW" net.ipv6.conf.all.forwarding 0
	check "$c: src_valid_mark restored to 0" sysctl_is "$WH_GW" net.ipv4.conf.all.src_valid_mark 0
fi
node_stop GW 5 >/dev/null 2>&1

# =============================================================================== phase 3
# SIGTERM keeps the kill switch. The gateway forwards on its own (ip_forward=1 before up, as a
# home router does), so only the kill switch stands between the LAN and the WAN.
set_forwarding 1 1
wh_gateway_conf "$E2E_TMP/gw3.conf" killswitch=on ipv6=block
c="8: SIGTERM keeps the kill switch"
if check "$c: warren up (KillSwitch = on, IPv6 = block)" gw_start "$E2E_TMP/gw3.conf"; then
	check "$c: client seen as $WH_EXIT4" wh_seen_as "$WH_CLIENT" "http://$WH_WEB4/" "$WH_EXIT4" 20
	check "$c: agent exits with status 0 on SIGTERM" gw_term
	check "$c: $WH_TUN removed" wait_for 5 "$WH_TUN to disappear" bash -c "! ip -n $WH_GW link show dev $WH_TUN"
	check "$c: the nft table stays" nft_table_exists
	check "$c: rules and table 51820 removed" policy_routing_gone
	check "$c: ip_forward restored to 1" sysctl_is "$WH_GW" net.ipv4.ip_forward 1
	ks0=$(nft_counter "$WH_GW" inet "$WH_TABLE" killswitch_dropped)
	check "$c: 5 s of client pings, TCP and DNS" leak_window 8 5
	check "$c: the client's traffic reached $WH_LAN" client_tried 8
	check "$c: nothing of the client's on $WH_WAN" wh_wan_clean "$E2E_TMP/8-wan.pcap"
	check "$c: nft counter killswitch_dropped grew" counter_grew killswitch_dropped "${ks0:-0}"
	check "$c: warren up again" gw_start "$E2E_TMP/gw3.conf"
	check "$c: client seen as $WH_EXIT4 again" wh_seen_as "$WH_CLIENT" "http://$WH_WEB4/" "$WH_EXIT4" 20
	check "$c: kill switch armed again" gw_status_is killSwitchArmed=true
	check "$c: warren down" gw_down
	node_stop GW 5 >/dev/null 2>&1
	check "$c: nothing left behind" wh_gateway_clean
	check "$c: ip_forward back to 1" sysctl_is "$WH_GW" net.ipv4.ip_forward 1
	check "$c: src_valid_mark back to 0" sysctl_is "$WH_GW" net.ipv4.conf.all.src_valid_mark 0
fi
node_stop GW 5 >/dev/null 2>&1

# =============================================================================== phase 4
# A second `warren up` for an interface that a running agent owns must fail without touching
# the running agent's kill switch (here the intruder's config names another LAN, kill switch off).
set_forwarding 1 1
wh_gateway_conf "$E2E_TMP/gw4.conf"
wh_gateway_conf "$E2E_TMP/gw4-other.conf" lan=lan9 killswitch=off
second_up_fails() {
	local out rc
	out=$(ip netns exec "$WH_GW" timeout 20 "$WARREN" up --interface "$WH_TUN" --state-dir "$GW_STATE" \
		"$E2E_TMP/gw4-other.conf" 2>&1)
	rc=$?
	echo "$out" | tail -n 3
	if [[ $rc == 0 || $rc == 124 ]]; then
		echo "the second warren up exited with status $rc, expected a failure"
		return 1
	fi
	echo "the second warren up failed (status $rc)"
}
c="9: second up on a busy interface"
if check "$c: warren up" gw_start "$E2E_TMP/gw4.conf"; then
	check "$c: client seen as $WH_EXIT4" wh_seen_as "$WH_CLIENT" "http://$WH_WEB4/" "$WH_EXIT4" 20
	check "$c: a second warren up (LAN = lan9, KillSwitch = off) fails" second_up_fails
	check "$c: the first agent still runs" node_alive GW
	check "$c: status still shows the kill switch for lan0" gw_status_is 'lan=["lan0"]' killSwitch=true killSwitchArmed=true
	check "$c: the first agent killed (SIGKILL)" gw_kill
	ks0=$(nft_counter "$WH_GW" inet "$WH_TABLE" killswitch_dropped 2>/dev/null || echo 0)
	check "$c: 5 s of client pings, TCP and DNS" leak_window 9 5
	check "$c: the client's traffic reached $WH_LAN" client_tried 9
	check "$c: the kill switch held: nothing of the client's on $WH_WAN" wh_wan_clean "$E2E_TMP/9-wan.pcap"
	check "$c: nft counter killswitch_dropped grew" counter_grew killswitch_dropped "${ks0:-0}"
	check "$c: warren down" gw_down
	check "$c: nothing left behind" wh_gateway_clean
	check "$c: ip_forward back to 1" sysctl_is "$WH_GW" net.ipv4.ip_forward 1
fi
node_stop GW 5 >/dev/null 2>&1

# =============================================================================== phase 5
# Two gateways on two interfaces (A = the real one, B on a second LAN): no command aimed at
# one name, a wrong name, no name or without privilege, and no second agent of any role, may
# touch the other's table, rules or sysctls.
set_forwarding 0 0
ip -n "$WH_GW" link add lanb type veth peer name lanb-peer
ip -n "$WH_GW" link set lanb up
IF_B="wgb$$" IF_C="wgc$$"
B_TABLE=$(warren_table "$IF_B")
B_STATE="$E2E_TMP/state-B"
wh_gateway_conf "$E2E_TMP/gw5a.conf" killswitch=on
wh_gateway_conf "$E2E_TMP/gw5b.conf" lan=lanb killswitch=on port=$((WH_PORT + 1))
# C: a plain tunnel with a default route (policy routing of its own), no gateway.
{
	echo "[Interface]"; echo "PrivateKey = $(genkey)"; echo "Address = 10.255.9.2/32"; echo "ListenPort = $((WH_PORT + 2))"
	echo; echo "[Peer]"; echo "PublicKey = $WH_EXIT_PUB"; echo "Endpoint = $WH_EXIT4:$WH_PORT"; echo "AllowedIPs = 0.0.0.0/0"
} >"$E2E_TMP/plain5c.conf"
chmod 600 "$E2E_TMP/plain5c.conf"

gw_state_snapshot() { # the host state of both gateways, one line per item, sorted
	{
		ip netns exec "$WH_GW" nft list tables
		ip -n "$WH_GW" -4 rule show
		ip -n "$WH_GW" -6 rule show
		ip -n "$WH_GW" -4 route show table all | grep -v '^local\|^broadcast\|^multicast' | grep -E 'table (5182[0-9])'
		sysctl_value() { ip netns exec "$WH_GW" sysctl -n "$1"; }
		echo "ip_forward=$(sysctl_value net.ipv4.ip_forward) src_valid_mark=$(sysctl_value net.ipv4.conf.all.src_valid_mark)"
	} 2>&1 | sort
}
state_unchanged() { # state_unchanged FILE — the snapshot equals the one saved in FILE
	local now
	now=$(gw_state_snapshot)
	if [[ $now != "$(cat "$1")" ]]; then
		diff <(cat "$1") <(echo "$now")
		echo "host state changed"
		return 1
	fi
	echo "host state unchanged ($(wc -l <"$1") lines: tables, rules, routes, sysctls)"
}
warren_in_gw() { ip netns exec "$WH_GW" timeout 30 "$WARREN" "$@"; }
cmd_fails_saying() { # cmd_fails_saying TEXT cmd... — exits non-zero and prints TEXT
	local text=$1 out rc; shift
	out=$("$@" 2>&1)
	rc=$?
	echo "$out" | tail -n 3
	[[ $rc != 0 ]] || { echo "exited 0, expected a failure"; return 1; }
	grep -qF -- "$text" <<<"$out" || { echo "the message does not say: $text"; return 1; }
	echo "failed with status $rc and said: $text"
}
cmd_succeeds_saying() { # cmd_succeeds_saying TEXT cmd... — exits 0 and prints TEXT
	local text=$1 out rc; shift
	out=$("$@" 2>&1)
	rc=$?
	echo "$out" | tail -n 3
	[[ $rc == 0 ]] || { echo "exited $rc, expected success"; return 1; }
	grep -qF -- "$text" <<<"$out" || { echo "the output does not say: $text"; return 1; }
	echo "succeeded and said: $text"
}
nobody_in_gw() { ip netns exec "$WH_GW" setpriv --reuid=65534 --regid=65534 --clear-groups "$WARREN" "$@"; }
table_there() { # table_there NAME
	ip netns exec "$WH_GW" nft list table inet "$1" >/dev/null 2>&1 && echo "table inet $1 is there" && return 0
	echo "no table inet $1"
	return 1
}
two_gateways_rules() { # A's and B's rules, each LAN to its own table
	local r
	r=$(ip -n "$WH_GW" -4 rule show)
	echo "$r"
	[[ $(grep -c suppress_prefixlength <<<"$r") == 4 ]] || { echo "expected 4 suppress_prefixlength rules"; return 1; }
	grep -q "iif $WH_LAN lookup 51820" <<<"$r" || { echo "no iif $WH_LAN rule to 51820"; return 1; }
	grep -Eq "iif lanb( \[detached\])? lookup 51821" <<<"$r" || { echo "no iif lanb rule to 51821"; return 1; }
	grep -q "not from all fwmark 0xca6c lookup 51820" <<<"$r" && grep -q "not from all fwmark 0xca6d lookup 51821" <<<"$r" ||
		{ echo "expected a host rule per gateway"; return 1; }
	echo "each gateway: its LAN rule, its host rule, its own suppress rules"
}
rule_count() { { ip -n "$WH_GW" -4 rule show; ip -n "$WH_GW" -6 rule show; } | wc -l; }

c="10: two gateways"
rules0=$(rule_count)
if check "$c: gateway A up on $WH_TUN" gw_start "$E2E_TMP/gw5a.conf" &&
	check "$c: gateway B up on $IF_B (LAN lanb)" node_start B warren "$WH_GW" "$IF_B" "$E2E_TMP/gw5b.conf"; then
	check "$c: A's client seen as $WH_EXIT4" wh_seen_as "$WH_CLIENT" "http://$WH_WEB4/" "$WH_EXIT4" 20
	check "$c: A's table inet $WH_TABLE" table_there "$WH_TABLE"
	check "$c: B's table inet $B_TABLE" table_there "$B_TABLE"
	check "$c: B has its own mark and table (51821)" bash -c "ip netns exec $WH_GW timeout 5 $WARREN status --interface $IF_B --json | grep -q '\"table\":51821'"
	check "$c: two pairs of IPv4 rules per gateway (LAN and host)" two_gateways_rules
	gw_state_snapshot >"$E2E_TMP/10-state"

	check "$c: down --interface typo fails, names the running agents" cmd_fails_saying "no warren interface named typo" \
		warren_in_gw down --interface typo --state-dir "$GW_STATE"
	check "$c: ... and changed nothing" state_unchanged "$E2E_TMP/10-state"
	check "$c: bare down with two agents fails and lists both" cmd_fails_saying "$IF_B" warren_in_gw down --state-dir "$GW_STATE"
	check "$c: ... and changed nothing" state_unchanged "$E2E_TMP/10-state"
	check "$c: down --interface ../../etc/x refused" cmd_fails_saying "not a valid interface name" warren_in_gw down --interface ../../etc/x
	check "$c: status --interface ../../etc/x refused" cmd_fails_saying "not a valid interface name" warren_in_gw status --interface ../../etc/x
	check "$c: unprivileged down fails naming CAP_NET_ADMIN" cmd_fails_saying "CAP_NET_ADMIN" \
		nobody_in_gw down --interface "$WH_TUN" --state-dir "$GW_STATE"
	check "$c: unprivileged status fails (root-only socket)" cmd_fails_saying "root" \
		nobody_in_gw status --interface "$WH_TUN"
	check "$c: unprivileged bare status says it lacks the privilege" cmd_fails_saying "run as root" nobody_in_gw status
	check "$c: unprivileged bare down says it lacks the privilege" cmd_fails_saying "CAP_NET_ADMIN" nobody_in_gw down
	check "$c: ... and changed nothing" state_unchanged "$E2E_TMP/10-state"
	check "$c: bare status shows both" bash -c "out=\$(ip netns exec $WH_GW $WARREN status); grep -q 'interface: $WH_TUN' <<<\"\$out\" && grep -q 'interface: $IF_B' <<<\"\$out\" && echo both shown"
	check "$c: bare status --json is an array of 2" bash -c "ip netns exec $WH_GW $WARREN status --json | $PYTHON -c 'import json,sys; d=json.load(sys.stdin); assert isinstance(d, list) and len(d) == 2, d; print(\"2 objects\")'"
	check "$c: a second up for A is refused" cmd_fails_saying "another warren agent" \
		warren_in_gw up --interface "$WH_TUN" --state-dir "$GW_STATE" "$E2E_TMP/gw5b.conf"
	check "$c: ... and changed nothing" state_unchanged "$E2E_TMP/10-state"

	# A plain tunnel with its own default route starts and stops beside the gateways.
	if check "$c: plain tunnel C up (default route, policy routing)" node_start C warren "$WH_GW" "$IF_C" "$E2E_TMP/plain5c.conf"; then
		check "$c: C's rules have their own table (51822)" bash -c "ip -n $WH_GW -4 rule show | grep -q 'lookup 51822' && echo 'rule for table 51822'"
		check "$c: C's own UDP (mark 0xca6e) leaves by the WAN, not another tunnel" \
			bash -c "ip -n $WH_GW route get $WH_EXIT4 mark 0xca6e | tee /dev/stderr | grep -q 'dev $WH_WAN'"
		check "$c: A's own UDP (mark 0xca6c) too" bash -c "ip -n $WH_GW route get $WH_EXIT4 mark 0xca6c | tee /dev/stderr | grep -q 'dev $WH_WAN'"
		check "$c: A's LAN still goes to A's tunnel" bash -c "ip -n $WH_GW route get $WH_WEB4 from $WH_C4 iif $WH_LAN | tee /dev/stderr | grep -q 'dev $WH_TUN'"
		check "$c: C stops with SIGTERM" node_stop C 10
	fi
	check "$c: ... A's and B's state unchanged after C" state_unchanged "$E2E_TMP/10-state"
	check "$c: A's client still seen as $WH_EXIT4" wh_seen_as "$WH_CLIENT" "http://$WH_WEB4/" "$WH_EXIT4" 10

	check "$c: B stops with SIGTERM (its kill switch stays)" node_stop B 10
	check "$c: B's table stays" table_there "$B_TABLE"
	check "$c: A's table, rules and ip_forward=1 untouched" bash -c "ip netns exec $WH_GW nft list table inet $WH_TABLE >/dev/null && ip -n $WH_GW -4 rule show | grep -q 'lookup 51820' && [[ \$(ip netns exec $WH_GW sysctl -n net.ipv4.ip_forward) == 1 ]] && echo 'A intact'"
	check "$c: warren down --interface $IF_B" warren_in_gw down --interface "$IF_B" --state-dir "$B_STATE"
	check "$c: B's table gone" bash -c "! ip netns exec $WH_GW nft list table inet $B_TABLE 2>/dev/null && echo gone"
	check "$c: A still armed, routed and forwarding" bash -c "ip netns exec $WH_GW nft list table inet $WH_TABLE >/dev/null && ip -n $WH_GW -4 rule show | grep -q 'lookup 51820' && [[ \$(ip netns exec $WH_GW sysctl -n net.ipv4.ip_forward) == 1 ]] && echo 'A intact'"
	check "$c: A's status: kill switch armed" gw_status_is killSwitchArmed=true
	check "$c: A's client still seen as $WH_EXIT4" wh_seen_as "$WH_CLIENT" "http://$WH_WEB4/" "$WH_EXIT4" 10
	gw_pid=${NODE_PID[GW]}
	check "$c: bare warren down takes down the only agent (A)" warren_in_gw down --state-dir "$GW_STATE"
	check "$c: A exits" wait_for 15 "agent $gw_pid to exit" bash -c "! kill -0 $gw_pid"
	wait "$gw_pid" 2>/dev/null
	unset "NODE_PID[GW]"
	check "$c: nothing of A left" wh_gateway_clean
	check "$c: as many rules as before both" bash -c "[[ \$({ ip -n $WH_GW -4 rule show; ip -n $WH_GW -6 rule show; } | wc -l) == $rules0 ]] && echo '$rules0 rules'"
	check "$c: ip_forward back to 0, src_valid_mark 0" bash -c "[[ \$(ip netns exec $WH_GW sysctl -n net.ipv4.ip_forward) == 0 && \$(ip netns exec $WH_GW sysctl -n net.ipv4.conf.all.src_valid_mark) == 0 ]] && echo restored"
	check "$c: bare down with nothing running fails" cmd_fails_saying "no warren agent is running" warren_in_gw down --state-dir "$GW_STATE"
	# What an older warren left (NAME.gateway.json, the shared table inet warren) still goes.
	mkdir -p "$E2E_TMP/state-L"
	printf '{"interface":"warren0","firewallMark":0,"table":0,"ipv6Rules":false,"sysctlOriginals":{},"gatewayTable":true}' \
		>"$E2E_TMP/state-L/warren0.gateway.json"
	ip netns exec "$WH_GW" nft add table inet warren
	check "$c: down --interface warren0 removes an older warren's kill switch" cmd_succeeds_saying "removed nftables table inet warren" \
		warren_in_gw down --interface warren0 --state-dir "$E2E_TMP/state-L"
	check "$c: ... table inet warren gone" bash -c "! ip netns exec $WH_GW nft list table inet warren 2>/dev/null && echo gone"
fi
node_stop B 5 >/dev/null 2>&1
node_stop C 5 >/dev/null 2>&1
node_stop GW 5 >/dev/null 2>&1

# =============================================================================== phase 6
# A start that fails after it changed the host undoes it all but the kill switch (the LAN stays
# closed until `warren down`). The failure: the control socket's path is taken by a directory.
set_forwarding 0 0
c="11: failed start"
check "$c: warren up fails at its last step" up_fails_at_last_step "$WH_GW" "$WH_TUN" "$GW_STATE" "$E2E_TMP/gw5a.conf" \
	"start failed, undone: policy routing rule"
check "$c: no rules or routes left" policy_routing_gone
check "$c: ip_forward restored to 0" sysctl_is "$WH_GW" net.ipv4.ip_forward 0
check "$c: src_valid_mark restored to 0" sysctl_is "$WH_GW" net.ipv4.conf.all.src_valid_mark 0
check "$c: $WH_TUN gone" bash -c "! ip -n $WH_GW link show dev $WH_TUN 2>/dev/null && echo gone"
check "$c: the kill switch stays (LAN closed)" nft_table_exists
check "$c: warren down removes it" gw_down
check "$c: nothing left behind" wh_gateway_clean

# =============================================================================== phase 7
# Names follow wg-quick: a config file names its interface; a bare name means /etc/warren/NAME.conf.
c="12: names"
IF_N="wgn$$"
mkdir -p "$E2E_TMP/names"
cp "$E2E_TMP/plain5c.conf" "$E2E_TMP/names/$IF_N.conf"
chmod 644 "$E2E_TMP/names/$IF_N.conf"
named_by_file() {
	ip netns exec "$WH_GW" env --default-signal=INT "$WARREN" up --state-dir "$E2E_TMP/state-N" "$E2E_TMP/names/$IF_N.conf" \
		>"$E2E_TMP/names.log" 2>&1 &
	NODE_PID[N]=$! NODE_NS[N]=$WH_GW NODE_IF[N]=$IF_N NODE_LOG[N]="$E2E_TMP/names.log" NODE_KIND[N]=warren
	wait_for 20 "$IF_N to come up" link_is_up "$WH_GW" "$IF_N"
}
check "$c: warren up DIR/$IF_N.conf creates $IF_N" named_by_file
check "$c: a config readable by others is warned about" wait_for 5 "the warning" grep -q "readable by others" "$E2E_TMP/names.log"
check "$c: bare status finds it (the only agent)" bash -c "ip netns exec $WH_GW timeout 5 $WARREN status | grep -q 'interface: $IF_N' && echo found"
check "$c: warren down --interface $IF_N" warren_in_gw down --interface "$IF_N" --state-dir "$E2E_TMP/state-N"
check "$c: $IF_N gone" wait_for 10 "$IF_N to go" bash -c "! ip -n $WH_GW link show dev $IF_N 2>/dev/null"
node_stop N 5 >/dev/null 2>&1
check "$c: warren up wgq$$ looks for /etc/warren/wgq$$.conf" cmd_fails_saying "/etc/warren/wgq$$.conf" \
	warren_in_gw up --state-dir "$E2E_TMP/state-N" "wgq$$"
check "$c: a file name that is no interface name needs --interface" cmd_fails_saying "--interface" \
	warren_in_gw up --state-dir "$E2E_TMP/state-N" "$E2E_TMP/names/this name is far too long.conf"

summary
