#!/usr/bin/env bash
# Payment channel end to end: a consumer pays a provider in vouchers that stream inside the
# tunnel, the provider settles the best voucher on the local ledger after disconnect, and
# neither side loses money across crashes (issue 6, Tests). Run as root.
#
#   [prov] wan0 192.0.2.2 ── r-pv ┐
#          wpv: 10.99.0.1          │
#   [cons] wan0 198.18.1.2 ─ r-c ──┤ [inet] router, knows only its links
#   [web]  203.0.113.9 ── r-web ┘
#          paysink.py: byte-counting sinks on :9002 and :9004-9010, a source of zeros on :9003;
#          tcpxfer.py (checksummed transfers) on :5201 and :5205
#
# The provider's resolv.conf names 203.0.113.53 (on web; nothing answers there: no case
# resolves a name).
#
# One provider (node PV, one state directory for the whole suite) and one consumer at a
# time (node Cn, a fresh state directory, wallet and identity per case), all on one local
# ledger directory. Tariff 2/GiB + 0.001/min, CreditWindow 4 MiB (a stranger's first window
# 256 KiB), PersistInterval 1 s, PaymentGrace 5 s, SettleThreshold 0.
#
#   PAY_CASES="1 3"   run only these cases (default: all, 1 to 9)
PAY_WARREN_GIVEN=${WARREN:-}
source "$(dirname "$0")/lib.sh"
# Without WARREN in the environment, the newer of the release and debug builds.
if [[ -z $PAY_WARREN_GIVEN && -x $REPO/.build/debug/warren && ( ! -x $WARREN || $REPO/.build/debug/warren -nt $WARREN ) ]]; then
	WARREN=$REPO/.build/debug/warren
fi
say "(warren binary: $WARREN)"
PAY_CASES=${PAY_CASES:-1 2 3 4 5 6 7 8 9}
want_case() { [[ " $PAY_CASES " == *" $1 "* ]]; }

require_root_tools
for t in nft sha256sum; do
	command -v "$t" >/dev/null 2>&1 || { fail "$SUITE setup" "missing tool: $t"; summary; }
done

P="wre2e-$$"
NS_R="$P-inet" NS_PV="$P-prov" NS_C="$P-cons" NS_WEB="$P-web"
PV_WAN4=192.0.2.2 C_WAN4=198.18.1.2 WEB4=203.0.113.9 DNS4=203.0.113.53 PORT=51820
IF_PV="wpv$$" IF_C="wpc$$"
LEDGER="$E2E_TMP/ledger"
PV_STATE="$E2E_TMP/state-PV"
PV_CONF="$E2E_TMP/provider.conf"
SINK=("$PYTHON" "$E2E_DIR/paysink.py")
E18=1000000000000000000
FUND=10
# Amounts are decimal strings: 10 tokens do not fit in bash's 64-bit integers.
FUNDED=${FUND}000000000000000000
DEPOSIT=5000000000000000000
isub() { "$PYTHON" -c 'import sys; print(int(sys.argv[1]) - sum(int(x) for x in sys.argv[2:]))' "$@"; }
# The tariff, in base units, and the credit window, in bytes (as in the provider's config).
PER_GIB=$((2 * E18)) PER_MIN=$((E18 / 1000)) WINDOW=$((4 << 20))

# ---------------------------------------------------------------- topology and services

pay_topo_up() {
	local ns
	for ns in "$NS_R" "$NS_PV" "$NS_C" "$NS_WEB"; do ns_add "$ns" || return 1; done
	veth_pair "$NS_PV" wan0 "$NS_R" r-pv && veth_pair "$NS_C" wan0 "$NS_R" r-c &&
		veth_pair "$NS_WEB" eth0 "$NS_R" r-web || return 1
	addr_add "$NS_R" r-pv 192.0.2.1/24 && addr_add "$NS_R" r-c 198.18.1.1/24 &&
		addr_add "$NS_R" r-web 203.0.113.1/24 || return 1
	addr_add "$NS_PV" wan0 "$PV_WAN4/24" && addr_add "$NS_C" wan0 "$C_WAN4/24" &&
		addr_add "$NS_WEB" eth0 "$WEB4/24" "$DNS4/24" || return 1
	ip -n "$NS_PV" route add default via 192.0.2.1 && ip -n "$NS_C" route add default via 198.18.1.1 &&
		ip -n "$NS_WEB" route add default via 203.0.113.1 || return 1
	ip netns exec "$NS_R" sysctl -qw net.ipv4.ip_forward=1 || return 1
	# The consumer reaches web only through the tunnel: whatever web receives went through the
	# provider, also once a consumer agent has exited and taken its routes away.
	ip netns exec "$NS_R" nft -f - <<-NFT || return 1
		table inet pay_router {
			chain forward {
				type filter hook forward priority filter; policy accept;
				iifname "r-c" oifname "r-web" drop
				iifname "r-web" oifname "r-c" drop
			}
		}
	NFT
	wait_for 10 "consumer → provider WAN" ip netns exec "$NS_C" ping -n -c 1 -W 1 "$PV_WAN4" &&
		wait_for 10 "provider → web" ip netns exec "$NS_PV" ping -n -c 1 -W 1 "$WEB4" || return 1
	if ip netns exec "$NS_C" ping -n -c 1 -W 1 "$WEB4" >/dev/null 2>&1; then
		echo "the consumer reaches $WEB4 without a tunnel"
		return 1
	fi
	echo "4 namespaces up: router, provider, consumer, web; consumer → web only through a tunnel"
}

# sink PORT — a byte-counting TCP sink on web:PORT; its count file is $E2E_TMP/sink-PORT
sink_start() {
	bg "$NS_WEB" "$E2E_TMP/sink-$1.out" "${SINK[@]}" sink "$WEB4" "$1" "$E2E_TMP/sink-$1"
	wait_for 10 "sink on web:$1" tcp_listening "$NS_WEB" "$1"
}
sink_bytes() { cut -d' ' -f1 "$E2E_TMP/sink-$1" 2>/dev/null || echo 0; }
source_start() {
	bg "$NS_WEB" "$E2E_TMP/source-$1.out" "${SINK[@]}" source "$WEB4" "$1"
	wait_for 10 "source on web:$1" tcp_listening "$NS_WEB" "$1"
}
# upload_bg PORT MB SECONDS [--persist] — background upload from the consumer to the sink on
# web:PORT (paysink.py send); its PID in $XFER_PID
upload_bg() {
	[[ -s $E2E_TMP/upload-$1.out ]] && cat "$E2E_TMP/upload-$1.out" >>"$E2E_TMP/upload-$1.all"
	bg "$NS_C" "$E2E_TMP/upload-$1.out" timeout $(($3 + 15)) "${SINK[@]}" send "$WEB4" "$1" "$2" "$3" ${4:-}
	XFER_PID=$BG_LAST
}
xfer_stop() { [[ -n ${XFER_PID:-} ]] && stop_pid "$XFER_PID" 2; wait "${XFER_PID:-0}" 2>/dev/null; XFER_PID=""; return 0; }

# ---------------------------------------------------------------- JSON, ledger and channels

# jeval JSON EXPR — a Python expression over the document `d`; prints its value
jeval() {
	"$PYTHON" -c '
import json, sys
d = json.loads(sys.argv[1])
try:
    v = eval(sys.argv[2])
except (KeyError, IndexError, TypeError, ValueError) as err:
    print(f"no {sys.argv[2]} ({err!r})"); sys.exit(1)
print(json.dumps(v) if isinstance(v, (list, dict, bool)) or v is None else v)' "$1" "$2"
}
ledger_json() { timeout 10 "$WARREN" ledger show --dir "$LEDGER" --json; }
ledger_eval() { local j; j=$(ledger_json) || { echo "warren ledger --json failed"; return 1; }; jeval "$j" "$1"; }
chan_json() { timeout 10 "$WARREN" channel --state-dir "$E2E_TMP/state-$1" --json; }
# chan_eval NODE EXPR — over `warren channel --json` of the node's state directory
chan_eval() { local j; j=$(chan_json "$1") || { echo "warren channel --json of $1 failed"; return 1; }; jeval "$j" "$2"; }
# chan_field NODE CHANNEL FIELD — one field of one channel in the node's store ("none" if absent)
chan_field() {
	chan_eval "$1" "([c['$3'] for c in d['channels'] if c['id'] == '$2'] or ['none'])[0]"
}
lchan_field() { ledger_eval "([c['$2'] for c in d['channels'] if c['id'] == '$1'] or ['none'])[0]"; }
balance_of() { ledger_eval "([int(b['balance']) for b in d['balances'] if b['address'].lower() == '$1'.lower()] or [0])[0]"; }
tokens() { "$PYTHON" -c 'import sys; from decimal import Decimal; print(Decimal(int(sys.argv[1])) / 10**18)' "$1"; }

# cost BYTES SECONDS — the tariff's price in base units (the issue's formula, integers only)
cost() { "$PYTHON" -c 'import sys; b, s, g, m = map(int, sys.argv[1:]); print(b * g // 2**30 + s * m // 60)' "$1" "$2" "$PER_GIB" "$PER_MIN"; }
# allowance WINDOW_BYTES — the bytes a session with no payment may carry at its start: the
# window's money, cost(window, 60 s), turned back into bytes
allowance() { "$PYTHON" -c 'import sys; w, g, m = map(int, sys.argv[1:]); money = w * g // 2**30 + 60 * m // 60; print(money * 2**30 // g)' "$1" "$PER_GIB" "$PER_MIN"; }

# journal_once — every claim id appears at most once in the ledger's journal (read directly),
# and the ledger's own tally (claims[].submissions) agrees
journal_once() {
	local j
	j=$(ledger_json) || { echo "warren ledger --json failed"; return 1; }
	"$PYTHON" - "$LEDGER/journal" "$j" <<-'PY'
		import collections, json, sys
		counts = collections.Counter()
		amounts = {}
		for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
		    f = line.split()
		    if len(f) >= 3 and f[1] in ("claim", "claim-refused"):
		        counts[f[2]] += 1
		        amounts[f[2]] = [x for x in f if x.startswith("amount=")]
		tally = {c["id"]: c["submissions"] for c in json.loads(sys.argv[2])["claims"]}
		twice = {k: v for k, v in counts.items() if v > 1}
		bad_tally = {k: (v, counts.get(k, 0)) for k, v in tally.items() if v != counts.get(k, 0)}
		for k, v in twice.items():
		    print(f"claim id {k} ({amounts[k]}) submitted {v} times")
		for k, (t, n) in bad_tally.items():
		    print(f"ledger --json says claim {k} was submitted {t} times, the journal has {n}")
		if twice or bad_tally:
		    sys.exit(1)
		print(f"{len(counts)} claim id(s) in the journal, each submitted once; warren ledger --json agrees")
	PY
}
# journal_claims CHANNEL — the journal's claim lines for one channel (for the report)
journal_claims() { grep -E " claim(-refused)? .* channel=$1 " "$LEDGER/journal" | sed 's/^/    /'; }

# ---------------------------------------------------------------- agents

PV_ID="" PV_WALLET=""
cat >"$PV_CONF" <<EOF
[Interface]
ListenPort = $PORT

[Provider]
WAN = wan0
Pool = 10.99.0.0/24
Exit = open
Price = 2/GiB, 0.001/min
CreditWindow = 4MiB
PersistInterval = 1
PaymentGrace = 5
ExpiryMargin = 60
SettleThreshold = 0
Ledger = $LEDGER
EOF
sed 's/^ExpiryMargin = 60$/ExpiryMargin = 30/' "$PV_CONF" >"$E2E_TMP/provider-short.conf"
# Case 9: strangers (consumers that have not paid a first window's money yet) together may
# leave at most 2 first windows' money unpaid per hour.
STRANGERS9=2
sed "s/^Ledger = .*/&\nStrangerWindows = $STRANGERS9/" "$PV_CONF" >"$E2E_TMP/provider-strangers.conf"

consumer_conf() { # consumer_conf FILE [MAXSPEND] [LIFETIME]
	cat >"$1" <<-EOF
		[Interface]

		[Exit]
		Provider = $PV_ID@$PV_WAN4:$PORT
		Deposit = 5
		MaxSpend = ${2:-4}
		PersistInterval = 1
		ChannelLifetime = ${3:-3600}
		Ledger = $LEDGER
	EOF
	chmod 600 "$1"
}

pv_identity() {
	mkdir -p "$PV_STATE" "$LEDGER" || return 1
	PV_ID=$(ip netns exec "$NS_PV" timeout 10 "$WARREN" id --state-dir "$PV_STATE") || { echo "$PV_ID"; return 1; }
	PV_WALLET=$(timeout 10 "$WARREN" wallet --state-dir "$PV_STATE" --ledger "$LEDGER" | sed -n 's/^address: //p')
	[[ $PV_WALLET =~ ^0x[0-9a-fA-F]{40}$ ]] || { echo "no address from warren wallet"; return 1; }
	echo "provider $PV_ID, wallet $PV_WALLET"
}
# keep_log NAME — node_start truncates node-NAME.log: keep the last run's as node-NAME.log.N
keep_log() {
	local log="$E2E_TMP/node-$1.log" i=1
	[[ -s $log ]] || return 0
	while [[ -e $log.$i ]]; do i=$((i + 1)); done
	mv "$log" "$log.$i"
}
# pv_start [CONF] [VAR=VALUE...] — (re)start the provider on its state directory
pv_start() {
	local conf=${1:-$PV_CONF}; shift 2>/dev/null
	keep_log PV
	node_start PV warren "$NS_PV" "$IF_PV" "$conf" "$@"
}
pv_restart() { node_stop PV 10; pv_start "$@"; }
# node_kill NAME — SIGKILL, as a power cut would
node_kill() {
	local pid=${NODE_PID[$1]:-}
	[[ -n $pid ]] || { echo "node $1 is not running"; return 1; }
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	unset "NODE_PID[$1]"
	echo "node $1 (pid $pid) killed with SIGKILL"
}
# node_wait_exit NAME SECONDS — wait (bounded) for the agent to exit by itself; its status is
# then in NODE_RC[NAME]
declare -A NODE_RC=()
node_wait_exit() {
	local n=$1 limit=$(($2 * 10)) pid i start
	pid=${NODE_PID[$n]:-}
	[[ -n $pid ]] || { echo "node $n is not running"; return 1; }
	start=$(now_ms)
	for ((i = 0; i < limit; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "node $n still running after $2 s"
		return 1
	fi
	wait "$pid" 2>/dev/null
	NODE_RC[$n]=$?
	unset "NODE_PID[$n]"
	echo "node $n exited with status ${NODE_RC[$n]} after $(( ($(now_ms) - start) / 1000 )) s"
}
# exited_with NAME SECONDS CODE
exited_with() {
	node_wait_exit "$1" "$2" || return 1
	[[ ${NODE_RC[$1]} == "$3" ]] || { echo "expected exit status $3"; return 1; }
}
# stopped NAME — SIGTERM (bounded), any exit status
stopped() {
	node_stop "$1" 15
	echo "node $1 exited with status $? after SIGTERM"
}
# stopped_ok NAME — SIGTERM, exits 0
stopped_ok() {
	node_stop "$1" 15
	local rc=$?
	echo "node $1 exited with status $rc after SIGTERM"
	[[ $rc == 0 ]]
}
# fund NAME — the node's wallet gets $FUND tokens on the ledger; its address in C_ADDR[NAME]
declare -A C_ADDR=()
fund() {
	local st="$E2E_TMP/state-$1" a out
	mkdir -p "$st" || return 1
	a=$(timeout 10 "$WARREN" wallet --state-dir "$st" --ledger "$LEDGER" | sed -n 's/^address: //p')
	[[ $a =~ ^0x[0-9a-fA-F]{40}$ ]] || { echo "no address from warren wallet --state-dir $st"; return 1; }
	C_ADDR[$1]=$a
	out=$(timeout 10 "$WARREN" ledger fund --dir "$LEDGER" --address "$a" --amount "$FUND" 2>&1) || { echo "$out"; return 1; }
	local b
	b=$(balance_of "$a")
	[[ $b == "$FUNDED" ]] || { echo "$out"; echo "balance of $a is $b after funding, expected $FUNDED"; return 1; }
	echo "$1's wallet $a funded with $FUND"
}
# consumer_up NAME [CONF] [VAR=VALUE...]
consumer_up() {
	local n=$1 conf=${2:-$E2E_TMP/consumer.conf}; shift 2 2>/dev/null || shift $#
	keep_log "$n"
	node_start "$n" warren "$NS_C" "$IF_C" "$conf" "$@"
}
# c_down NAME — `warren down` for the consumer interface after a crash (what a service manager's
# ExecStopPost would do)
c_down() { ip netns exec "$NS_C" timeout 10 "$WARREN" down --interface "$IF_C" --state-dir "$E2E_TMP/state-$1"; }

# lost_or_renewed NAME SECONDS — the consumer exits with status 4, or renews its session (its
# log says "renewed"), within SECONDS
lost_or_renewed() {
	local n=$1 limit=$(($2 * 10)) i pid=${NODE_PID[$1]:-}
	[[ -n $pid ]] || { echo "node $n is not running"; return 1; }
	for ((i = 0; i < limit; i++)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid" 2>/dev/null
			NODE_RC[$n]=$?
			unset "NODE_PID[$n]"
			echo "node $n exited with status ${NODE_RC[$n]} after $((i / 10)) s"
			[[ ${NODE_RC[$n]} == 4 ]]
			return
		fi
		if grep -q 'renewed' "${NODE_LOG[$n]}"; then
			grep 'renewed' "${NODE_LOG[$n]}" | tail -n 1
			echo "node $n renewed its session after $((i / 10)) s"
			return 0
		fi
		sleep 0.1
	done
	echo "node $n neither exited nor renewed its session within $2 s"
	return 1
}
c_best_above() { # c_best_above NAME CHANNEL AMOUNT
	local b
	b=$(c_best "$1" "$2") || return 1
	"$PYTHON" -c 'import sys; sys.exit(0 if int(sys.argv[1]) > int(sys.argv[2]) else 1)' "$b" "$3" 2>/dev/null
}
# consumers_stop — no consumer left running (between cases: one consumer interface at a time)
consumers_stop() {
	local n
	for n in "${!NODE_PID[@]}"; do
		[[ $n == C* ]] || continue
		say "    (stopping consumer $n, still running)"
		node_stop "$n" 15
	done
	return 0
}

# Status helpers. The provider's session of a consumer is found by the consumer's WireGuard key.
pv() { node_eval PV "$1"; }
sess_expr() { echo "[s for s in d['provider']['sessions'] if s['publicKey'] == '$1'][0]['$2']"; }
sess() { pv "$(sess_expr "$1" "$2")"; }
no_session_for() {
	local n
	n=$(pv "len([s for s in d['provider']['sessions'] if s['publicKey'] == '$1'])") || return 1
	[[ $n == 0 ]]
}
sess_channel_is() { [[ $(sess "$1" channel 2>/dev/null) == "$2" ]]; } # sess_channel_is KEY CHANNEL
is_paused() { [[ $(sess "$1" paused 2>/dev/null) == true ]]; }
# cmp_eq WHAT A B — two values equal (prints both)
cmp_eq() {
	[[ $2 == "$3" ]] || { echo "$1: $2 ≠ $3"; return 1; }
	echo "$1: $2 = $3"
}
# int_cmp WHAT A OP B — integer comparison with python (amounts exceed 64 bits)
int_cmp() {
	"$PYTHON" -c '
import sys
what, a, op, b = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
ok = {"<=": a <= b, ">=": a >= b, "==": a == b, "<": a < b, ">": a > b}[op]
print(f"{what}: {a} {op} {b}" + ("" if ok else "  — NOT TRUE"))
sys.exit(0 if ok else 1)' "$1" "$2" "$3" "$4"
}
# ledger_claimed_is CHANNEL AMOUNT — the ledger's claimed for the channel is AMOUNT
ledger_claimed_is() { [[ $(lchan_field "$1" claimed) == "$2" ]]; }
ledger_reclaimed() { [[ $(lchan_field "$1" reclaimed) == true ]]; }
# consumer's best voucher on its channel, from its state directory (on disk)
c_best() { chan_field "$1" "$2" bestVoucher; }
pv_best() { chan_field PV "$1" bestVoucher; }

# claim_matches NAME CHANNEL — ledger claimed == the consumer's best == the provider's best
claim_matches() {
	local c p l
	c=$(c_best "$1" "$2") && p=$(pv_best "$2") && l=$(lchan_field "$2" claimed) || { echo "$c $p $l"; return 1; }
	echo "ledger claimed $l ($(tokens "$l")), consumer's best voucher $c, provider's best voucher $p"
	[[ $l == "$c" && $c == "$p" ]] || { journal_claims "$2"; echo "they differ"; return 1; }
	[[ $l != 0 ]] || { echo "nothing was claimed"; return 1; }
}
claim_caught_up() { # claim_caught_up NAME CHANNEL — ledger claimed = the consumer's best > 0
	local c l
	c=$(c_best "$1" "$2") && l=$(lchan_field "$2" claimed) || return 1
	[[ $c != 0 && $c != none && $c == "$l" ]]
}
wait_claim() { # wait_claim NAME CHANNEL SECONDS — bounded wait until the ledger shows the claim
	wait_for "$3" "the ledger to show the claim of $2" claim_caught_up "$1" "$2" || { claim_matches "$1" "$2"; return 1; }
	claim_matches "$1" "$2"
}
# pv_claimed_best CHANNEL — ledger claimed = the provider's best voucher on disk
pv_claimed_best() {
	local b l
	b=$(pv_best "$1") && l=$(lchan_field "$1" claimed) || return 1
	echo "provider's best voucher on disk $b, ledger claimed $l"
	[[ $b != none && $b == "$l" ]]
}
pv_best_nonzero() { local b; b=$(pv_best "$1") && [[ $b != 0 && $b != none ]]; }
zero_or_absent() { echo "$1: $2"; [[ $2 == 0 || $2 == none ]]; }
# node_true NAME EXPR — a status expression of the node is True
node_true() { [[ $(node_eval "$1" "$2" 2>/dev/null) == true ]]; }
# seconds_left WHAT UNIX_TIME MIN [MAX] — UNIX_TIME − now within MIN..MAX
seconds_left() {
	local left=$(($2 - $(date +%s)))
	echo "$1 in $left s"
	((left >= $3)) && [[ -z ${4:-} || $left -le ${4:-0} ]]
}

# ---------------------------------------------------------------- setup

check "setup: namespaces, router, links" pay_topo_up || summary
check "setup: resolv.conf of the provider's namespace (its DNS forwarder's upstream, $DNS4)" \
	netns_etc_file "$NS_PV" resolv.conf "nameserver $DNS4" || summary
check "setup: provider identity and wallet" pv_identity || summary
consumer_conf "$E2E_TMP/consumer.conf"
check "setup: provider up (Price 2/GiB + 0.001/min, CreditWindow 4MiB, Ledger $LEDGER)" pv_start || summary
check "setup: status shows the provider's wallet" cmp_eq "provider.wallet" "$(pv "d['provider']['wallet']")" "$PV_WALLET"
for port in 9002 9004 9005 9006 9007 9008 9009 9010; do sink_start "$port" >/dev/null || { fail "setup: sink on web:$port"; summary; }; done
check "setup: sources and sinks on web" source_start 9003

# =============================================================================== case 1
# A paid session moves 30 MiB; the consumer stops with SIGTERM (it pays the last invoice and
# closes); the provider claims at once (SettleThreshold 0).
# provider_paid_up KEY NODE — everything the provider metered in bytes is paid: the provider's
# due (cumulative on the channel) minus the consumer's best voucher (payment.paid) is no more
# than the price of 6 s (invoices go out every 5 s when only time moved)
provider_paid_up() {
	local due paid
	due=$(sess "$1" due) && paid=$(node_eval "$2" "d['payment']['paid']") || return 1
	"$PYTHON" -c 'import sys; due, paid, per_min = map(int, sys.argv[1:]); sys.exit(0 if due - paid <= 6 * per_min // 60 else 1)' \
		"$due" "$paid" "$PER_MIN"
}
# earnings_match CLAIMED BYTES SECONDS — |claimed − cost(bytes, seconds)| ≤ the price of 10 s
# and 64 KiB (invoices lag the meter by up to 5 s; payment and keepalive packets after the read)
earnings_match() {
	"$PYTHON" - "$@" "$PER_GIB" "$PER_MIN" <<-'PY'
		import sys
		claimed, b, s, g, m = map(int, sys.argv[1:])
		want = b * g // 2**30 + s * m // 60
		tol = (64 << 10) * g // 2**30 + 10 * m // 60
		print(f"claimed {claimed} base units; tariff.cost({b} B, {s} s) = {b * g // 2**30} + {s * m // 60} = {want};"
		      f" difference {claimed - want} (tolerance ±{tol}, {abs(claimed - want) / want * 100 if want else 0:.3f} %)")
		sys.exit(0 if abs(claimed - want) <= tol else 1)
	PY
}
if want_case 1; then
	c="1: paid session"
	check "$c: fund the consumer's wallet with $FUND" fund C1
	if check "$c: consumer up (Deposit 5, MaxSpend 4)" consumer_up C1; then
		C1_KEY=$(node_eval C1 "d['publicKey']")
		CH1=$(node_eval C1 "d['payment']['channel']")
		check "$c: the consumer pays on a channel to the provider's wallet" \
			cmp_eq "payment.providerWallet" "$(node_eval C1 "d['payment']['providerWallet']")" "$PV_WALLET"
		check "$c: the channel is on the ledger with the deposit" cmp_eq "ledger deposit of $CH1" "$(lchan_field "$CH1" deposit)" "$DEPOSIT"
		check "$c: 30 MiB upload to $WEB4 through the tunnel, sha256 checked" tcp_transfer "$NS_C" "$NS_WEB" "$WEB4" 30 5201
		check "$c: the provider bound the session to the channel" cmp_eq "session channel" "$(sess "$C1_KEY" channel)" "$CH1"
		check "$c: the consumer pays what is invoiced (bounded wait)" \
			wait_for 20 "the provider's due minus the consumer's paid to drop to the price of 6 s" provider_paid_up "$C1_KEY" C1
		C1_BYTES=$(pv "$(sess_expr "$C1_KEY" bytesFromConsumer) + $(sess_expr "$C1_KEY" bytesToConsumer)")
		C1_SINCE=$(sess "$C1_KEY" since)
		say "    (consumer: $(node_eval C1 "'paid %s, invoices %s, vouchers %s, spentToday %s' % (d['payment']['paid'], d['payment']['invoices'], d['payment']['vouchers'], d['payment']['spentToday'])");" \
			"provider: $(pv "'due %s, earned %s, window %s, invoicesSent %s, vouchersRefused %s' % ($(sess_expr "$C1_KEY" due), $(sess_expr "$C1_KEY" earned), $(sess_expr "$C1_KEY" creditWindow), d['provider']['invoicesSent'], d['provider']['vouchersRefused'])"))"
		check "$c: the session's credit window grew to CreditWindow (4 MiB)" cmp_eq "creditWindow" "$(sess "$C1_KEY" creditWindow)" "$WINDOW"
		C1_STOP=$(date +%s)
		check "$c: the consumer stops on SIGTERM (exit 0)" stopped_ok C1
		check "$c: its session is gone at the provider" wait_for 10 "the session to end" no_session_for "$C1_KEY"
		check "$c: the ledger shows the claim: claimed = consumer's best voucher = provider's best voucher" wait_claim C1 "$CH1" 30
		C1_CLAIMED=$(lchan_field "$CH1" claimed)
		check "$c: earnings = tariff.cost(metered bytes, seconds) within rounding" \
			earnings_match "$C1_CLAIMED" "$C1_BYTES" $((C1_STOP - C1_SINCE))
		check "$c: the provider's balance on the ledger is what it claimed" \
			cmp_eq "provider balance" "$(balance_of "$PV_WALLET")" "$C1_CLAIMED"
		check "$c: the journal shows each claim id once" journal_once
		check "$c: consumer's balance = funded − deposit" \
			cmp_eq "consumer balance" "$(balance_of "${C_ADDR[C1]}")" "$(isub "$FUNDED" "$DEPOSIT")"
		check "$c: consumer's channel on disk: session ended" cmp_eq "session" "$(chan_field C1 "$CH1" session)" "ended"
	fi
	consumers_stop
fi

# =============================================================================== case 2
# WARREN_TEST_STOP_PAYING_AFTER=0: the consumer never sends a voucher, not even the channel
# announcement. The provider must pause it within its first window (CreditWindow/16 = 256 KiB,
# plus the window's minute of time, turned into bytes) and end it after PaymentGrace (5 s).
# The consumer then exits 4 (the provider refuses to renew an unpaid session), and restarted
# with the same identity it gets no second window: what reaches web stays within one window.
if want_case 2; then
	c="2: consumer that never pays"
	ALLOW0=$(allowance $((WINDOW / 16)))
	check "$c: fund the consumer's wallet" fund C2
	if check "$c: consumer up with WARREN_TEST_STOP_PAYING_AFTER=0" consumer_up C2 "" WARREN_TEST_STOP_PAYING_AFTER=0; then
		C2_KEY=$(node_eval C2 "d['publicKey']")
		C2_ID=$(node_eval C2 "d['identity']")
		check "$c: a stranger's first window is CreditWindow/16" cmp_eq "creditWindow" "$(sess "$C2_KEY" creditWindow)" $((WINDOW / 16))
		# The upload goes on (connecting again after stalls) through the pause, the end of the
		# session and whatever the consumer does next.
		upload_bg 9002 100 60 --persist
		check "$c: the provider pauses the session" wait_for 20 "session paused" is_paused "$C2_KEY"
		C2_PAUSED=$(now_ms)
		C2_BILLED=$(pv "$(sess_expr "$C2_KEY" bytesFromConsumer) + $(sess_expr "$C2_KEY" bytesToConsumer)")
		check "$c: billed bytes at the pause ≤ the first window's allowance ($ALLOW0 B)" int_cmp "bytes from + to" "$C2_BILLED" "<=" "$ALLOW0"
		sleep 2
		check "$c: 2 s later the session is still there, paused (grace 5 s)" cmp_eq "paused" "$(sess "$C2_KEY" paused)" true
		check "$c: the provider ends the session after the grace" wait_for 15 "the session to end" no_session_for "$C2_KEY"
		C2_ENDED=$(now_ms)
		check "$c: pause to end took at least PaymentGrace" int_cmp "ms from pause seen to end seen" $((C2_ENDED - C2_PAUSED)) ">=" 4000
		check "$c: the provider's log says why" log_has "${NODE_LOG[PV]}" "ended \(stopped paying" "provider"
		check "$c: the consumer exits with status 4 (session lost) within 40 s" exited_with C2 40 4
		xfer_stop
		say "    ($(cat "$E2E_TMP/upload-9002.out"))"
		check "$c: bytes that reached the server, whole case, ≤ the first window's allowance + 2 KiB" \
			int_cmp "TCP payload received at $WEB4:9002" "$(sink_bytes 9002)" "<=" $((ALLOW0 + 2048))
		# A service manager restarts it (same state directory: same identity, same channel). What
		# reaches the server now must fit in what is left of the one window.
		consumers_stop
		c2_second_window() {
			local before left
			before=$(sink_bytes 9002)
			left=$((ALLOW0 + 2048 - (before < ALLOW0 ? before : ALLOW0)))
			consumer_up C2 "" WARREN_TEST_STOP_PAYING_AFTER=0 || {
				echo "the restarted consumer got no session: no second window"
				return 0
			}
			upload_bg 9002 100 12 --persist
			wait "$XFER_PID" 2>/dev/null
			XFER_PID=""
			cat "$E2E_TMP/upload-9002.out"
			stopped C2
			grep -E "session [0-9]+ (opened for|of) $C2_ID" "${NODE_LOG[PV]}" | sed 's/^/provider: /'
			int_cmp "TCP payload that reached $WEB4:9002 after the restart (before it: $before)" \
				$(($(sink_bytes 9002) - before)) "<=" "$left"
		}
		check "$c: restarted (as Restart=always would), the same identity gets no second window" c2_second_window
	fi
	consumers_stop
fi

# =============================================================================== case 3
paused_after() { # paused_after KEY BYTES — paused, and the provider sent the consumer more than BYTES
	[[ $(pv "[s['paused'] and s['bytesToConsumer'] > $2 for s in d['provider']['sessions'] if s['publicKey'] == '$1'][0]") == true ]]
}
# WARREN_TEST_STOP_PAYING_AFTER=5000000: the consumer pays while it downloads its first 5 MB,
# then stops. Paused within one (grown) window, ended after the grace, and the provider claims
# the last voucher it got.
if want_case 3; then
	c="3: consumer that stops paying mid-transfer"
	check "$c: fund the consumer's wallet" fund C3
	if check "$c: consumer up with WARREN_TEST_STOP_PAYING_AFTER=5000000" consumer_up C3 "" WARREN_TEST_STOP_PAYING_AFTER=5000000; then
		C3_KEY=$(node_eval C3 "d['publicKey']")
		CH3=$(node_eval C3 "d['payment']['channel']")
		bg "$NS_C" "$E2E_TMP/download-9003.out" timeout 60 "${SINK[@]}" recv "$WEB4" 9003 200 45
		XFER_PID=$BG_LAST
		# A paying stranger may be paused for a moment early on, until its first vouchers arrive:
		# wait for the pause after the 5 MB.
		check "$c: the provider pauses the session after the consumer got 5 MB" \
			wait_for 40 "session paused with bytesToConsumer > 5000000" paused_after "$C3_KEY" 5000000
		read -r C3_DUE C3_EARNED C3_WIN C3_TO < <(pv "'%s %s %s %s' % ($(sess_expr "$C3_KEY" due), $(sess_expr "$C3_KEY" earned), $(sess_expr "$C3_KEY" creditWindow), $(sess_expr "$C3_KEY" bytesToConsumer))")
		say "    (at the pause: due $C3_DUE, earned $C3_EARNED, window $C3_WIN B, bytesToConsumer $C3_TO)"
		check "$c: unpaid at the pause ≤ one window's money (cost(window, 60 s)) + 10 s of time" \
			int_cmp "due − earned" "$(isub "$C3_DUE" "$C3_EARNED")" "<=" "$(cost "$C3_WIN" 70)"
		check "$c: the provider ends the session after the grace" wait_for 15 "the session to end" no_session_for "$C3_KEY"
		xfer_stop
		say "    ($(cat "$E2E_TMP/download-9003.out"))"
		# One window's money in bytes: the window's bytes and the minute of time that the money
		# also holds, which a pause early in the session has barely used.
		check "$c: after its 5 MB it got at most one window's money more (provider's meter at the pause)" \
			int_cmp "bytesToConsumer" "${C3_TO:-0}" "<=" $((5000000 + $(allowance "${C3_WIN:-0}") + (64 << 10)))
		check "$c: the consumer exits with status 4 within 40 s" exited_with C3 40 4
		consumers_stop # if it did not exit by itself: its close makes the provider settle now
		check "$c: the ledger claim equals the consumer's last voucher (and the provider's best)" wait_claim C3 "$CH3" 20
		check "$c: the journal shows each claim id once" journal_once
	fi
	consumers_stop
fi

# =============================================================================== case 4
# WARREN_TEST_OVERCHARGE_PERCENT=50: every invoice asks 50 % (+1 base unit) more than the
# tariff gives for its own counts. The consumer must refuse the first, close, exit 3, and never
# sign a voucher above 0 (the announcement).
if want_case 4; then
	c="4: over-invoicing provider"
	check "$c: provider restarted with WARREN_TEST_OVERCHARGE_PERCENT=50" pv_restart "$PV_CONF" WARREN_TEST_OVERCHARGE_PERCENT=50
	check "$c: fund the consumer's wallet" fund C4
	if check "$c: consumer up" consumer_up C4; then
		CH4=$(node_eval C4 "d['payment']['channel']" 2>/dev/null || chan_eval C4 "d['channels'][0]['id']")
		upload_bg 9004 10 20
		check "$c: the consumer exits with status 3" exited_with C4 30 3
		xfer_stop
		check "$c: its log says it was over-invoiced" log_has "${NODE_LOG[C4]}" "over-invoiced" "consumer"
		check "$c: it signed no voucher above 0" cmp_eq "best voucher on disk" "$(c_best C4 "$CH4")" 0
		check "$c: the provider holds no voucher above 0 either" \
			zero_or_absent "the provider's best voucher on disk" "$(pv_best "$CH4")"
	fi
	check "$c: provider restarted without the switch" pv_restart "$PV_CONF"
	consumers_stop
fi

# =============================================================================== case 5
# The provider is killed (SIGKILL) at random moments of a paid transfer and restarted on the
# same state directory. After the first crash the consumer either exits 4 or renews its session
# in place (then it must announce its channel again so that the new provider process binds the
# session to it); after the others it is stopped and restarted (as a service manager would).
# Each time it goes on paying on the same channel and announces its best voucher. At the end:
# claimed = the highest voucher the consumer signed, no claim id twice.
if want_case 5; then
	c="5: provider crashes"
	check "$c: fund the consumer's wallet" fund C5
	CH5="" C5_BESTS=()
	for round in 1 2 3; do
		r="$c: round $round"
		if [[ -z ${NODE_PID[C5]:-} ]]; then
			check "$r: consumer up" consumer_up C5 || break
			if [[ -z $CH5 ]]; then
				CH5=$(node_eval C5 "d['payment']['channel']")
			else
				check "$r: the consumer pays on the same channel again" log_has "${NODE_LOG[C5]}" "paying on channel $CH5" "consumer"
			fi
		fi
		best0=$(c_best C5 "$CH5")
		upload_bg 9005 500 60
		delay=$((RANDOM % 7)).$((RANDOM % 10)) # 0.0 to 6.9 s after the first voucher
		check "$r: vouchers flow (the consumer's best on disk grows)" wait_for 20 "a voucher above $best0" \
			c_best_above C5 "$CH5" "$best0"
		sleep "$delay"
		check "$r: SIGKILL the provider after ${delay} s more of transfer" node_kill PV
		xfer_stop
		C5_BESTS+=("$(c_best C5 "$CH5")")
		say "    (consumer's best voucher on disk at the crash: ${C5_BESTS[-1]}; the provider's: $(pv_best "$CH5"))"
		check "$r: the provider restarts on the same state directory" pv_start
		check "$r: at start it claims the best voucher it had persisted" \
			wait_for 15 "ledger claimed = the provider's best on disk" \
			pv_claimed_best "$CH5"
		if [[ $round == 1 ]]; then
			# The brief: the consumer exits 4 (a service manager restarts it). A consumer that asks
			# for a new session itself and keeps its addresses goes on paying on the same channel.
			check "$r: the consumer notices the lost session (exits with status 4, or renews it)" lost_or_renewed C5 45
			if [[ -n ${NODE_PID[C5]:-} ]]; then
				# Renewed in place: the consumer must announce its channel again, so that the new
				# provider process binds the session to it (and learns the vouchers it lost).
				C5_KEY=$(node_eval C5 "d['publicKey']")
				check "$r: after the renewal the provider binds the session to the channel again" \
					wait_for 15 "the renewed session to pay on $CH5" sess_channel_is "$C5_KEY" "$CH5"
				say "    (consumer after the renewal: $(node_eval C5 "'handshake %s s ago, payment %s' % (__import__('time').time() - d['peers'][0]['latestHandshake'], {k: d['payment'][k] for k in ('invoices', 'vouchers', 'paid', 'due')})" 2>&1);" \
					"provider session: $(node_eval PV "[{k: s[k] for k in ('id', 'channel', 'paused', 'due', 'bytesFromConsumer')} for s in d['provider']['sessions']]" 2>&1))"
			fi
		else
			check "$r: the consumer is stopped (SIGTERM)" stopped C5
		fi
	done
	if check "$c: consumer up for the last time" consumer_up C5; then
		C5_KEY=$(node_eval C5 "d['publicKey']")
		check "$c: the consumer pays on the same channel again" log_has "${NODE_LOG[C5]}" "paying on channel $CH5" "consumer"
		check "$c: 5 MiB upload through the tunnel, sha256 checked" tcp_transfer "$NS_C" "$NS_WEB" "$WEB4" 5 5205
		check "$c: the consumer pays what is invoiced" wait_for 20 "due − paid ≤ 6 s of time" provider_paid_up "$C5_KEY" C5
		check "$c: the consumer stops on SIGTERM (exit 0)" stopped_ok C5
		check "$c: claimed = the highest voucher the consumer signed = the provider's best" wait_claim C5 "$CH5" 30
		C5_CLAIMED=$(lchan_field "$CH5" claimed)
		for i in "${!C5_BESTS[@]}"; do
			check "$c: claimed ≥ the consumer's best at crash $((i + 1))" int_cmp "claimed vs best then" "$C5_CLAIMED" ">=" "${C5_BESTS[$i]}"
		done
		check "$c: no claim id submitted twice" journal_once
		say "    (journal claims of $CH5:)"
		journal_claims "$CH5"
	fi
	consumers_stop
fi

# =============================================================================== case 6
# The consumer is killed (SIGKILL) mid-transfer and restarted on its state directory: its
# cumulative amount never goes back, and its daily cap (MaxSpend 0.02 tokens ≈ 10 MiB at
# 2/GiB) holds across the restart: it pays up to the cap, exits 3 and says why.
MAXSPEND6=20000000000000000
# c6_again — `warren up` of the capped consumer (bounded: SIGINT after 20 s if it stays up): it
# must exit non-zero by itself, say the cap is reached, open no session, sign nothing more
c6_again() {
	local out rc n0 n1 best
	n0=$(grep -c "opened for $C6_ID" "${NODE_LOG[PV]}")
	out=$(ip netns exec "$NS_C" timeout -s INT 20 "$WARREN" up --interface "$IF_C" --state-dir "$E2E_TMP/state-C6" \
		"$E2E_TMP/consumer-cap.conf" 2>&1)
	rc=$?
	n1=$(grep -c "opened for $C6_ID" "${NODE_LOG[PV]}")
	best=$(c_best C6 "$CH6")
	echo "$out" | tail -n 2
	echo "exit status $rc; provider sessions opened for it: $n0 before, $n1 after; best voucher $best (was $C6_AFTER)"
	[[ $rc != 0 && $rc != 124 ]] && grep -q "spending cap is reached" <<<"$out" && [[ $n1 == "$n0" && $best == "$C6_AFTER" ]]
}
if want_case 6; then
	c="6: consumer crash and the daily cap"
	consumer_conf "$E2E_TMP/consumer-cap.conf" 0.02
	check "$c: fund the consumer's wallet" fund C6
	if check "$c: consumer up (MaxSpend 0.02)" consumer_up C6 "$E2E_TMP/consumer-cap.conf"; then
		CH6=$(node_eval C6 "d['payment']['channel']")
		C6_ID=$(node_eval C6 "d['identity']")
		check "$c: status shows the daily cap" cmp_eq "payment.dailyCap" "$(node_eval C6 "d['payment']['dailyCap']")" "$MAXSPEND6"
		upload_bg 9006 500 60
		check "$c: the consumer pays for a few MB" wait_for 30 "payment.paid ≥ 0.006 tokens" \
			node_true C6 "int(d['payment']['paid']) >= 6 * 10**15"
		C6_SEEN=$(node_eval C6 "d['payment']['paid']")
		check "$c: SIGKILL the consumer mid-transfer" node_kill C6
		xfer_stop
		C6_BEFORE=$(c_best C6 "$CH6")
		check "$c: its best voucher on disk is at least what status showed before the kill" \
			int_cmp "best on disk vs paid in status" "$C6_BEFORE" ">=" "$C6_SEEN"
		check "$c: warren down cleans up after the crash" c_down C6
		if check "$c: consumer restarted on the same state directory" consumer_up C6 "$E2E_TMP/consumer-cap.conf"; then
			check "$c: it pays on the same channel" log_has "${NODE_LOG[C6]}" "paying on channel $CH6" "consumer"
			check "$c: its cumulative amount did not go back (status)" \
				int_cmp "payment.paid after restart vs best before" "$(node_eval C6 "d['payment']['paid']")" ">=" "$C6_BEFORE"
			check "$c: spentToday survived the restart" \
				int_cmp "payment.spentToday after restart vs best before" "$(node_eval C6 "d['payment']['spentToday']")" ">=" "$C6_BEFORE"
			upload_bg 9006 500 60
			C6_MAXSPENT=0 C6_MINBEST=$C6_BEFORE
			for ((i = 0; i < 150; i++)); do # 75 s at most
				kill -0 "${NODE_PID[C6]}" 2>/dev/null || break
				read -r sp pd < <(node_eval C6 "'%s %s' % (d['payment']['spentToday'], d['payment']['paid'])" 2>/dev/null)
				[[ -n ${sp:-} ]] && C6_MAXSPENT=$("$PYTHON" -c 'import sys; print(max(map(int, sys.argv[1:])))' "$C6_MAXSPENT" "$sp")
				[[ -n ${pd:-} ]] && C6_MINBEST=$("$PYTHON" -c 'import sys; print(min(map(int, sys.argv[1:])))' "$C6_MINBEST" "$pd")
				sleep 0.5
			done
			check "$c: the consumer exits with status 3 at the cap" exited_with C6 15 3
			xfer_stop
			check "$c: its log says the spending cap was reached" log_has "${NODE_LOG[C6]}" "spending cap is reached" "consumer"
			C6_AFTER=$(c_best C6 "$CH6")
			check "$c: its best voucher never went back" int_cmp "best at the end vs before the kill" "$C6_AFTER" ">=" "$C6_BEFORE"
			check "$c: no status read after the restart showed less than before" int_cmp "lowest paid seen" "$C6_MINBEST" ">=" "$C6_BEFORE"
			check "$c: spentToday never passed MaxSpend" int_cmp "highest spentToday seen" "$C6_MAXSPENT" "<=" "$MAXSPEND6"
			check "$c: everything it signed today ≤ MaxSpend" int_cmp "sum of its channels' best vouchers" \
				"$(chan_eval C6 "sum(int(c['bestVoucher']) for c in d['channels'])")" "<=" "$MAXSPEND6"
			check "$c: it got close to the cap (within 1 %)" int_cmp "best voucher" "$C6_AFTER" ">=" $((MAXSPEND6 / 100 * 99))
			check "$c: the ledger claim equals its last voucher" wait_claim C6 "$CH6" 30
			check "$c: no claim id submitted twice" journal_once
			check "$c: started again the same day, it asks for no session and says why" c6_again
		fi
	fi
	consumers_stop
fi

# =============================================================================== case 7
# Watchdog with a short expiry: ChannelLifetime 90 s at the consumer, ExpiryMargin 30 s at
# the provider. The provider dies (SIGKILL) during a paid session, the consumer stops; the
# provider comes back before expiry − margin and claims at start. After expiry the consumer,
# restarted, reclaims what is left of its deposit.
if want_case 7; then
	c="7: watchdog with a short expiry"
	consumer_conf "$E2E_TMP/consumer-short.conf" 4 90
	check "$c: provider restarted with ExpiryMargin 30" pv_restart "$E2E_TMP/provider-short.conf"
	check "$c: fund the consumer's wallet" fund C7
	if check "$c: consumer up (ChannelLifetime 90)" consumer_up C7 "$E2E_TMP/consumer-short.conf"; then
		CH7=$(node_eval C7 "d['payment']['channel']")
		EXP7=$(node_eval C7 "d['payment']['expiry']")
		check "$c: the channel expires in about 90 s" seconds_left "expiry" "$EXP7" 80 90
		upload_bg 9007 500 60
		check "$c: the provider persists vouchers" wait_for 20 "the provider's best voucher on disk > 0" \
			pv_best_nonzero "$CH7"
		sleep 2
		check "$c: SIGKILL the provider while the session runs" node_kill PV
		xfer_stop
		check "$c: stop the consumer (SIGTERM)" stopped C7
		P7=$(pv_best "$CH7")
		say "    (the provider's best voucher on disk: $P7; the consumer's: $(c_best C7 "$CH7"))"
		check "$c: the provider comes back before expiry − margin" \
			seconds_left "expiry − margin" $((EXP7 - 30)) 5
		check "$c: provider up again" pv_start "$E2E_TMP/provider-short.conf"
		check "$c: it claims its best persisted voucher at start" wait_for 15 "ledger claimed = $P7" ledger_claimed_is "$CH7" "$P7"
		check "$c: claimed > 0" int_cmp "claimed" "$(lchan_field "$CH7" claimed)" ">" 0
		check "$c: its log says so" log_has "${NODE_LOG[PV]}" "claimed .* on the local ledger" "provider"
		check "$c: no claim id submitted twice" journal_once
		wait_s=$((EXP7 + 2 - $(date +%s)))
		say "    (waiting ${wait_s} s for the channel to expire)"
		((wait_s > 0)) && sleep "$wait_s"
		if check "$c: consumer restarted after expiry" consumer_up C7 "$E2E_TMP/consumer-short.conf"; then
			check "$c: the ledger shows the channel reclaimed" wait_for 20 "reclaimed = true" \
				ledger_reclaimed "$CH7"
			check "$c: the consumer's log says so" log_has "${NODE_LOG[C7]}" "reclaimed .* from expired channel $CH7" "consumer"
			CL7=$(lchan_field "$CH7" claimed)
			# Another channel the restarted consumer opened holds a deposit of its own.
			OTHER7=$(ledger_eval "sum(int(c['deposit']) for c in d['channels'] if c['consumer'].lower() == '${C_ADDR[C7]}'.lower() and c['id'] != '$CH7' and not c['reclaimed'])")
			check "$c: consumer's balance = funded − claimed (− the deposit of the new channel it opened, $OTHER7)" \
				cmp_eq "consumer balance" "$(balance_of "${C_ADDR[C7]}")" "$(isub "$FUNDED" "$CL7" "$OTHER7")"
			check "$c: its channel on disk is reclaimed" cmp_eq "state" "$(chan_field C7 "$CH7" state)" reclaimed
			check "$c: the consumer stops on SIGTERM (exit 0)" stopped_ok C7
		fi
	fi
	consumers_stop
fi

# =============================================================================== case 8
# A consumer that never pays (WARREN_TEST_STOP_PAYING_AFTER=0) while sessionpkt.py asks for a
# session again in its name (its identity, its tunnel key) as fast as it likes for 25 s (from
# another address, so that the provider's per-source rate limit leaves the consumer's own
# requests alone; it admits 5 a second from one address): each
# request replaces the session's account, and before issue 9 each brought a fresh free
# window (about 83 MB in 25 s). What reaches the server must stay within one first window.
# Then a paying consumer that comes back (killed, restarted before the provider's idle
# timeout) on another channel: the provider settles the old channel when the new one binds.
if want_case 8; then
	c="8: a consumer that asks again as fast as it likes"
	ALLOW0=$(allowance $((WINDOW / 16)))
	check "$c: provider restarted (its memory of consumers is empty)" pv_restart "$PV_CONF"
	check "$c: fund the consumer's wallet" fund C8
	if check "$c: consumer up with WARREN_TEST_STOP_PAYING_AFTER=0" consumer_up C8 "" WARREN_TEST_STOP_PAYING_AFTER=0; then
		C8_KEY=$(node_eval C8 "d['publicKey']")
		C8_REFUSED0=$(pv "d['provider']['refused']")
		upload_bg 9008 200 30 --persist
		# From the router's namespace: the consumer's own namespace routes everything but the
		# agent's socket into the tunnel. The provider knows a consumer by its keys, not its address.
		bg "$NS_R" "$E2E_TMP/reask.out" "$PYTHON" "$E2E_DIR/sessionpkt.py" reask "$PV_ID" "$PV_WAN4" "$PORT" \
			"$E2E_TMP/state-C8/identity" 25
		REASK_PID=$BG_LAST
		wait "$REASK_PID"
		say "    ($(cat "$E2E_TMP/reask.out"))"
		check "$c: the requests were in the consumer's name (its tunnel key)" \
			cmp_eq "tunnel key" "$(sed -n 's/^tunnel key \([^:]*\):.*/\1/p' "$E2E_TMP/reask.out")" "$C8_KEY"
		check "$c: the provider answered some of them" \
			int_cmp "answered" "$(sed -n 's/.*, \([0-9]*\) answered$/\1/p' "$E2E_TMP/reask.out")" ">" 10
		sleep 3
		xfer_stop
		say "    ($(cat "$E2E_TMP/upload-9008.out"))"
		check "$c: bytes that reached the server ≤ one first window's allowance + 2 KiB" \
			int_cmp "TCP payload received at $WEB4:9008" "$(sink_bytes 9008)" "<=" $((ALLOW0 + 2048))
		check "$c: the provider refused it once its window was used" \
			int_cmp "provider.refused" "$(pv "d['provider']['refused']")" ">" "$C8_REFUSED0"
		check "$c: its log says why" log_has "${NODE_LOG[PV]}" "refused: (unpaid from earlier sessions|an earlier session was not paid)" "provider"
	fi
	consumers_stop

	c="8: a returning consumer on another channel"
	check "$c: fund the consumer's wallet" fund C9
	consumer_conf "$E2E_TMP/consumer-long.conf" 4 20000
	if check "$c: consumer up" consumer_up C9; then
		C9_KEY=$(node_eval C9 "d['publicKey']")
		CH9A=$(node_eval C9 "d['payment']['channel']")
		upload_bg 9009 500 30
		check "$c: the provider persists its vouchers on the first channel" wait_for 20 "the provider's best voucher on disk > 0" \
			pv_best_nonzero "$CH9A"
		check "$c: SIGKILL the consumer" node_kill C9
		xfer_stop
		check "$c: warren down cleans up after the crash" c_down C9
		check "$c: the provider still holds its session" node_true PV "len([s for s in d['provider']['sessions'] if s['publicKey'] == '$C9_KEY']) == 1"
		check "$c: the first channel is not claimed yet" ledger_claimed_is "$CH9A" 0
		# ChannelLifetime 20000: the first channel (3600 s) has less than a quarter of that left,
		# so the restarted consumer opens another.
		if check "$c: consumer restarted with ChannelLifetime 20000" consumer_up C9 "$E2E_TMP/consumer-long.conf"; then
			CH9B=$(node_eval C9 "d['payment']['channel']")
			check "$c: it pays on a new channel" test "$CH9B" != "$CH9A"
			check "$c: the provider binds the session to the new channel" wait_for 15 "the session to pay on $CH9B" sess_channel_is "$C9_KEY" "$CH9B"
			check "$c: the replaced channel is claimed at once (ledger claimed = the provider's best)" \
				wait_for 15 "ledger claimed of $CH9A = the provider's best on disk" pv_claimed_best "$CH9A"
			check "$c: claimed > 0" int_cmp "claimed" "$(lchan_field "$CH9A" claimed)" ">" 0
			check "$c: the provider's record of it says the session ended" cmp_eq "session" "$(chan_field PV "$CH9A" session)" "ended"
			check "$c: the provider's log says so" log_has "${NODE_LOG[PV]}" "replaced channel $CH9A with $CH9B" "provider"
			# A session stopped within its first second may not have been invoiced yet: wait for a
			# voucher on the new channel, so its claim has something to equal.
			check "$c: the consumer pays on the new channel" wait_for 20 "the provider's best voucher on $CH9B > 0" pv_best_nonzero "$CH9B"
			check "$c: the consumer stops on SIGTERM (exit 0)" stopped_ok C9
			check "$c: the new channel's claim = the consumer's last voucher" wait_claim C9 "$CH9B" 30
			check "$c: no claim id submitted twice" journal_once
		fi
	fi
	consumers_stop
fi

# =============================================================================== case 9
# Identities cost nothing: four fresh consumers (new state directories) that never pay, one
# after the other, with StrangerWindows = 2. Together what reaches the server stays within two
# first windows; the later ones are refused ("credit for new consumers used up").
if want_case 9; then
	c="9: fresh identities together"
	ALLOW0=$(allowance $((WINDOW / 16)))
	check "$c: provider restarted with StrangerWindows = $STRANGERS9" pv_restart "$E2E_TMP/provider-strangers.conf"
	S9_UP=0
	for n in 1 2 3 4; do
		check "$c: fund stranger CS$n's wallet" fund "CS$n" || continue
		if consumer_up "CS$n" "" WARREN_TEST_STOP_PAYING_AFTER=0; then
			S9_UP=$((S9_UP + 1))
			upload_bg 9010 100 8 --persist
			wait "$XFER_PID" 2>/dev/null
			XFER_PID=""
			say "    (CS$n: $(cat "$E2E_TMP/upload-9010.out"))"
			stopped "CS$n" >/dev/null
		else
			say "    (CS$n got no session: $(grep -o 'refused.*' "${NODE_LOG[CS$n]}" | tail -n 1))"
		fi
	done
	check "$c: bytes that reached the server from all four ≤ $STRANGERS9 first windows' allowance + 2 KiB each" \
		int_cmp "TCP payload received at $WEB4:9010" "$(sink_bytes 9010)" "<=" $((STRANGERS9 * (ALLOW0 + 2048)))
	check "$c: at most $STRANGERS9 of them got a session" int_cmp "sessions" "$S9_UP" "<=" "$STRANGERS9"
	check "$c: the provider's log says why the others were refused" log_has "${NODE_LOG[PV]}" "refused: credit for new consumers used up" "provider"
	consumers_stop
	check "$c: provider restarted with the suite's config" pv_restart "$PV_CONF"
fi

# =============================================================================== the whole run
c="ledger"
check "$c: across the suite, no claim id was submitted twice" journal_once
check "$c: the journal has no unreadable line" cmp_eq "journal.skippedLines" "$(ledger_eval "d['journal']['skippedLines']")" 0
check "$c: the provider is still running" node_alive PV
check "$c: the provider stops on SIGTERM (exit 0)" stopped_ok PV

summary
