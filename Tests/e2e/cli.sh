#!/usr/bin/env bash
# What a router owner meets at the command line and in the log: `warren --version` and the
# version in `status --json`; one warning per ignored wg-quick key; a full tunnel with DNS and
# no [Gateway] refused (docs/OPERATIONS.md: warren does not change the host's resolver);
# `warren channel` on a missing state directory and `warren id` with a bad --endpoint fail;
# control bytes from a config escaped in errors; a permission error that says what to do
# without call names or errno numbers; log lines with their syslog priority when stderr is a
# file. Run as root; everything happens in namespaces and a temporary directory of its own.
source "$(dirname "$0")/lib.sh"

require_root_tools
VERSION=$(sed -n 's/.*static let current = "\(.*\)".*/\1/p' "$REPO/Sources/Agent/WarrenVersion.swift")

# ---------------------------------------------------------------- --version

# version_is — `warren --version` prints the WarrenVersion constant and exits 0
version_is() {
	local out
	out=$(timeout 10 "$WARREN" --version 2>&1) || { echo "warren --version failed: $out"; return 1; }
	[[ -n $VERSION && $out == "$VERSION" ]] || { echo "printed '$out', expected '$VERSION'"; return 1; }
	echo "warren --version: $out"
}
check "warren --version prints the version" version_is

# ---------------------------------------------------------------- a tunnel with hooks

check "setup: namespaces and v4/v6 veth wire" topo_up || summary
KEY_A=$(genkey) KEY_B=$(genkey)
PUB_B=$(pubkey <<<"$KEY_B")
IF_A="wcl$$"
CONF_A="$E2E_TMP/hooks.conf"
# A server's stock config: NAT in PostUp (twice), undone in PostDown. Lines 4 and 6 are PostUp.
cat >"$CONF_A" <<CONF
[Interface]
PrivateKey = $KEY_A
Address = $T4_1/24
PostUp = iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE
PostDown = iptables -t nat -D POSTROUTING -o eth0 -j MASQUERADE
PostUp = logger warren up
ListenPort = 51820

[Peer]
PublicKey = $PUB_B
AllowedIPs = $T4_2/32
CONF
chmod 600 "$CONF_A"
check "setup: warren up with PostUp and PostDown" node_start A warren "$NS1" "$IF_A" "$CONF_A" || summary
LOG_A=${NODE_LOG[A]}

# lines_matching FILE REGEX N — exactly N lines of FILE match REGEX (printed)
lines_matching() {
	local n
	n=$(grep -cE -- "$2" "$1")
	grep -E -- "$2" "$1"
	[[ $n == "$3" ]] || { echo "$n line(s) match '$2', expected $3"; return 1; }
	echo "$n line(s) match '$2'"
}
check "exactly one warning names PostUp, at its first line, with the other" \
	lines_matching "$LOG_A" "PostUp" 1
check "  … and it is a warning that says the hooks are not run (lines 4 and 6)" \
	lines_matching "$LOG_A" "^<4>warren\[$IF_A\] warning: $CONF_A:4: PostUp: ignored: warren never runs hook commands.*also on line 6" 1
check "exactly one warning names PostDown" lines_matching "$LOG_A" "warning: $CONF_A:5: PostDown: ignored" 1

# status_version — status --json carries "version": the constant
status_version() {
	local v
	v=$(node_eval A "d.get('version')") || { echo "$v"; return 1; }
	[[ $v == "$VERSION" ]] || { echo "status --json version is '$v', expected '$VERSION'"; return 1; }
	echo "status --json version: $v"
}
check "status --json carries the version" status_version

# every_line_prefixed FILE — every line starts with <N> (3, 4 or 6), and an info line is <6>
every_line_prefixed() {
	local bad
	bad=$(grep -cvE '^<[3-7]>warren' "$1")
	[[ $bad == 0 ]] || { grep -vE '^<[3-7]>warren' "$1" | head -n 3; echo "$bad line(s) without a <N> priority prefix"; return 1; }
	grep -qE "^<6>warren\[$IF_A\] info: interface $IF_A up" "$1" || { echo "no <6> info line for the interface"; return 1; }
	echo "$(wc -l <"$1") line(s), each with its priority; $(grep -c '^<4>' "$1") warning(s), $(grep -c '^<6>' "$1") info"
}
check "log lines in a file carry the syslog priority (<4> warning, <6> info)" every_line_prefixed "$LOG_A"
node_stop A 10

# ---------------------------------------------------------------- a full tunnel with DNS

CONF_D="$E2E_TMP/fulltunnel.conf"
IF_D="wcd$$"
cat >"$CONF_D" <<CONF
[Interface]
PrivateKey = $KEY_B
Address = $T4_2/24
DNS = $T4_1

[Peer]
PublicKey = $(pubkey <<<"$KEY_A")
Endpoint = $V4_1:51820
AllowedIPs = 0.0.0.0/0
CONF
chmod 600 "$CONF_D"

# up_refused NAME CONF IF PATTERN — `warren up` exits non-zero within 20 s with a line matching
# PATTERN on stderr (a file), without leaving the interface behind
up_refused() {
	local name=$1 conf=$2 ifname=$3 pattern=$4 err="$E2E_TMP/$1.err" rc
	mkdir -p "$E2E_TMP/state-$name"
	ip netns exec "$NS2" timeout 20 "$WARREN" up --interface "$ifname" --state-dir "$E2E_TMP/state-$name" "$conf" \
		>/dev/null 2>"$err"
	rc=$?
	cat "$err"
	[[ $rc != 0 && $rc != 124 ]] || { echo "warren up exited $rc, expected a refusal"; return 1; }
	link_exists "$NS2" "$ifname" && { echo "interface $ifname was left behind"; return 1; }
	grep -qE -- "$pattern" "$err" || { echo "no line matching '$pattern' (exit status $rc)"; return 1; }
	echo "refused with exit status $rc: $(grep -E -- "$pattern" "$err" | head -n 1)"
}
check "DNS on a full tunnel without [Gateway] is refused, naming file, line and key" \
	up_refused fulltunnel "$CONF_D" "$IF_D" "^<3>warren: $CONF_D:4: DNS: refusing to start: the \[Peer\] on line 6 routes 0\.0\.0\.0/0"

# ---------------------------------------------------------------- control bytes in a config

CONF_E="$E2E_TMP/escape.conf"
printf '[Interface]\nPrivateKey = %s\nAddress = 10.0.0.1\033[2J\007\n' "$KEY_A" >"$CONF_E"
chmod 600 "$CONF_E"
# no_raw_controls FILE — the file holds no byte below 0x20 but newline, and no DEL
no_raw_controls() {
	if LC_ALL=C grep -q $'[\x01-\x09\x0b-\x1f\x7f]' "$1"; then
		echo "raw control bytes in $(basename "$1"): $(od -c "$1" | head -n 3 | tr -s ' ')"
		return 1
	fi
	echo "no raw control bytes in $(basename "$1")"
}
check "control bytes from a config are escaped in the error" \
	up_refused escape "$CONF_E" "wce$$" "Address: '10\.0\.0\.1\\\\x1b\[2J\\\\x07' is not an IP prefix"
check "  … and none reach the terminal raw" no_raw_controls "$E2E_TMP/escape.err"

# ---------------------------------------------------------------- a permission error

# unprivileged_up — `warren up` as nobody: the error says what to do, without call or errno
unprivileged_up() {
	local dir="$E2E_TMP/nobody" err rc
	mkdir -p "$dir/state" && cp "$CONF_A" "$dir/a.conf" && chown -R 65534:65534 "$dir" && chmod 755 "$E2E_TMP" || return 1
	err="$dir/err"
	ip netns exec "$NS2" timeout 20 setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
		"$WARREN" up --interface "wcn$$" --state-dir "$dir/state" "$dir/a.conf" >/dev/null 2>"$err"
	rc=$?
	grep -v 'warning:' "$err"
	[[ $rc != 0 && $rc != 124 ]] || { echo "warren up as nobody exited $rc"; return 1; }
	grep -qE '^<3>warren: .*CAP_NET_ADMIN.*run as root|^<3>warren: .*run as root.*CAP_NET_ADMIN' "$err" ||
		{ echo "no <3> error saying to run as root or grant CAP_NET_ADMIN"; return 1; }
	if grep -qE 'errno|ioctl\(|TUNSETIFF|rtnl_|setsockopt' "$err"; then echo "a call name or errno number is shown"; return 1; fi
	echo "as nobody: exit status $rc; the error names CAP_NET_ADMIN and running as root"
}
check "a permission error says what to do, without call names or errno numbers" unprivileged_up

# ---------------------------------------------------------------- warren channel and warren id

# fails_with WHAT PATTERN cmd... — cmd exits non-zero within 10 s, its stderr matching PATTERN
fails_with() {
	local pattern=$1 out rc; shift
	out=$(timeout 10 "$@" 2>&1 >/dev/null)
	rc=$?
	echo "$out"
	[[ $rc != 0 && $rc != 124 ]] || { echo "exit status $rc, expected a failure"; return 1; }
	grep -qE -- "$pattern" <<<"$out" || { echo "no line matching '$pattern'"; return 1; }
	echo "failed as expected (exit status $rc)"
}
check "warren channel --state-dir on a missing directory fails" \
	fails_with "no state directory at $E2E_TMP/nonexistent" "$WARREN" channel --state-dir "$E2E_TMP/nonexistent"
mkdir -p "$E2E_TMP/empty-state"
check "  … while an existing state directory without channels says so" \
	bash -c "out=\$(timeout 10 '$WARREN' channel --state-dir '$E2E_TMP/empty-state') && echo \"\$out\" && [[ \$out == 'no channels' ]]"

ID_DIR="$E2E_TMP/id-state"
check "warren id --endpoint bad:port fails, saying why" \
	fails_with "--endpoint 'bad:port': port 'port' is not 1\.\.\.65535" "$WARREN" id --state-dir "$ID_DIR" --endpoint bad:port
check "warren id --endpoint with an unbracketed IPv6 address fails" \
	fails_with "needs brackets" "$WARREN" id --state-dir "$ID_DIR" --endpoint 2001:db8::1:51820
check "warren id --endpoint with a host name a consumer would refuse fails" \
	fails_with "bad host 'bad_host'" "$WARREN" id --state-dir "$ID_DIR" --endpoint bad_host:51820
check "  … and no identity was created by the failed attempts" \
	bash -c "[[ ! -e '$ID_DIR' ]] && echo 'no $ID_DIR'"
check "warren id --endpoint 192.0.2.8:51820 prints the Provider line" \
	bash -c "out=\$(timeout 10 '$WARREN' id --state-dir '$ID_DIR' --endpoint 192.0.2.8:51820) && echo \"\$out\" && [[ \$out =~ ^wr1[^@]+@192\.0\.2\.8:51820\$ ]]"

summary
