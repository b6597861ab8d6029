#!/usr/bin/env bash
# The shipped files: init/ and scripts/install.
#
#   1. scripts/install --root DIR (systemd and procd): the binary, the units and the procd
#      script land where the docs say, with one binary path; enabling makes the right links.
#   2. systemd-analyze verify of the installed units (offline, --root DIR) says nothing.
#   3. The kill switch loaders (warren-killswitch.service's ExecStart, the procd script's
#      load_killswitches) try every file and report a failure instead of swallowing it.
#   4. Every role starts and works under the capabilities of init/warren@.service: the suite
#      reads User=, CapabilityBoundingSet=, AmbientCapabilities= and NoNewPrivileges= from the
#      unit file and starts `warren up` through setpriv with exactly those, and imitates its
#      ProtectSystem=strict and ProtectHome= in a mount namespace (unit-fs; the writable
#      directories also from the unit): a plain tunnel (with ListenPort 443, below 1024), a
#      provider (DNS forwarder behind a dnat of port 53), a consumer of it and a gateway (a consumer for a
#      LAN). The same provider under the old bounding set (CAP_NET_ADMIN CAP_NET_RAW) fails:
#      the wrapper does restrict. The device, socket-family and kernel settings need systemd
#      itself; only systemd-analyze verify sees them.
#   5. The exit statuses the unit's RestartPreventExitStatus= lists are the ones `warren up`
#      gives for what a restart cannot fix (a config error), and not for what it can (a
#      provider that does not answer).
# Run as root; everything happens in namespaces and directories this suite creates.
#
#   [pv]  wan0 192.0.2.2 (provider, wpv: 10.99.0.1) ── r-pv ┐
#   [c]   wan0 198.18.1.2 (consumer) ─────────────── r-c  ┤ [inet] router
#   [lc] 192.168.60.10 ── lan0 [gw] wan0 198.18.3.2 ─ r-gw ┤
#   [web] 203.0.113.9 (whoami :80), 203.0.113.53 (dnsd) ─ r-web ┘
#   ns1 ── veth ── ns2: the plain tunnel (lib.sh's topo_up), warren in ns1, wireguard-go in ns2
source "$(dirname "$0")/lib.sh"
WARREN_BIN=$WARREN

require_root_tools
for t in nft curl setpriv unshare findmnt systemd-analyze systemctl cmp; do
	command -v "$t" >/dev/null 2>&1 || { fail "$SUITE setup" "missing tool: $t (Debian: systemd, util-linux, diffutils)"; summary; }
done

UNIT=$REPO/init/warren@.service
KS_UNIT=$REPO/init/warren-killswitch.service
PROCD=$REPO/init/warren.procd
BIN_PATH=/usr/sbin/warren

# ---------------------------------------------------------------- reading the unit

# unit_list FILE SECTION KEY — a list setting as systemd sees it: assignments accumulate, an
# empty one resets
unit_list() {
	awk -v sec="[$2]" -v key="$3" '
		/^[[:space:]]*[#;]/ { next }
		/^[[:space:]]*\[/ { cur = $1; next }
		cur != sec { next }
		{
			k = $0; sub(/=.*/, "", k); gsub(/[[:space:]]/, "", k)
			if (k != key) next
			v = $0; sub(/^[^=]*=[[:space:]]*/, "", v); sub(/[[:space:]]+$/, "", v)
			acc = (v == "") ? "" : (acc == "" ? v : acc " " v)
		}
		END { print acc }' "$1"
}
# unit_value FILE SECTION KEY — a single setting: the last assignment wins
unit_value() {
	awk -v sec="[$2]" -v key="$3" '
		/^[[:space:]]*[#;]/ { next }
		/^[[:space:]]*\[/ { cur = $1; next }
		cur != sec { next }
		{
			k = $0; sub(/=.*/, "", k); gsub(/[[:space:]]/, "", k)
			if (k != key) next
			v = $0; sub(/^[^=]*=[[:space:]]*/, "", v); sub(/[[:space:]]+$/, "", v); last = v
		}
		END { print last }' "$1"
}

CAP_NAMES=(chown dac_override dac_read_search fowner fsetid kill setgid setuid setpcap linux_immutable
	net_bind_service net_broadcast net_admin net_raw ipc_lock ipc_owner sys_module sys_rawio sys_chroot
	sys_ptrace sys_pacct sys_admin sys_boot sys_nice sys_resource sys_time sys_tty_config mknod lease
	audit_write audit_control setfcap mac_override mac_admin syslog wake_alarm block_suspend audit_read
	perfmon bpf checkpoint_restore)
# caps_norm "CAP_NET_ADMIN CAP_X" — sorted lower-case names without the cap_ prefix, one line
caps_norm() {
	local c out=()
	for c in $1; do c=${c,,}; out+=("${c#cap_}"); done
	[[ ${#out[@]} -gt 0 ]] && printf '%s\n' "${out[@]}" | sort -u | paste -sd, -
	return 0
}
# caps_decode HEXMASK — the same form, from a /proc/PID/status mask
caps_decode() {
	local mask=$((16#$1)) i out=()
	for ((i = 0; i < 64; i++)); do
		((mask >> i & 1)) || continue
		out+=("${CAP_NAMES[$i]:-cap$i}")
	done
	[[ ${#out[@]} -gt 0 ]] && printf '%s\n' "${out[@]}" | sort | paste -sd, -
	return 0
}
# setpriv_caps "a,b" — setpriv's form: -all,+a,+b
setpriv_caps() {
	local out=-all c
	IFS=, read -ra list <<<"$1"
	for c in "${list[@]}"; do [[ -n $c ]] && out+=",+$c"; done
	echo "$out"
}

U_USER=$(unit_value "$UNIT" Service User)
U_BOUND_RAW=$(unit_list "$UNIT" Service CapabilityBoundingSet)
U_AMB_RAW=$(unit_list "$UNIT" Service AmbientCapabilities)
U_NNP=$(unit_value "$UNIT" Service NoNewPrivileges)
U_PREVENT=$(unit_list "$UNIT" Service RestartPreventExitStatus)
U_RESTART=$(unit_value "$UNIT" Service Restart)
U_EXEC=$(unit_value "$UNIT" Service ExecStart)
U_BOUND=$(caps_norm "$U_BOUND_RAW")
U_PROTECT_SYSTEM=$(unit_value "$UNIT" Service ProtectSystem)
U_PROTECT_HOME=$(unit_value "$UNIT" Service ProtectHome)
U_RW=$(unit_list "$UNIT" Service ReadWritePaths)
U_STATE_DIR=$(unit_list "$UNIT" Service StateDirectory)
U_RUNTIME_DIR=$(unit_list "$UNIT" Service RuntimeDirectory)
U_AMB=$(caps_norm "$U_AMB_RAW")

unit_caps_read() {
	[[ -n $U_BOUND_RAW ]] || { echo "$UNIT has no CapabilityBoundingSet="; return 1; }
	[[ $U_BOUND_RAW$U_AMB_RAW != *"~"* ]] || { echo "an inverted (~) capability list is not handled by this suite"; return 1; }
	local u=${U_USER:-root}
	if [[ $u != root && $u != 0 ]]; then
		id -u "$u" >/dev/null 2>&1 || { echo "User=$u does not exist here"; return 1; }
		# systemd would chown the StateDirectory= and RuntimeDirectory= to the user.
		[[ $(stat -c %U /run/warren 2>/dev/null) == "$u" ]] || {
			echo "User=$u: /run/warren is not $u's; this suite does not change the host's /run/warren"; return 1; }
	fi
	echo "User=${U_USER:-root (none set)}, CapabilityBoundingSet=$U_BOUND, AmbientCapabilities=${U_AMB:-none}, NoNewPrivileges=${U_NNP:-no}, ProtectSystem=${U_PROTECT_SYSTEM:-no}"
}
check "setup: read the unit's user and capabilities from init/warren@.service" unit_caps_read || summary

# The agent as the unit starts it: `up` goes through setpriv with the unit's user, bounding set
# and ambient set (plus no_new_privs if the unit asks) and, with ProtectSystem=strict, through
# unit-fs with the unit's writable directories (StateDirectory= stands for the node's
# --state-dir, RuntimeDirectory=NAME for /run/NAME, ReadWritePaths= as written); status, id and
# down run as plain root. Every step execs, so a node's PID is the agent's.
write_wrapper() { # write_wrapper FILE BOUNDING AMBIENT USER NNP
	local file=$1 bound=$2 amb=$3 user=${4:-root} nnp=$5 ids="" nnp_opt="" fs="" home=no d rw=""
	if [[ $user != root && $user != 0 ]]; then
		ids="--reuid=$(id -u "$user") --regid=$(id -g "$user") --init-groups"
	fi
	[[ ${nnp,,} =~ ^(yes|true|on|1)$ ]] && nnp_opt=--no-new-privs
	if [[ $U_PROTECT_SYSTEM == strict ]]; then
		[[ $U_PROTECT_HOME =~ ^(yes|true|on|1|tmpfs)$ ]] && home=yes
		[[ -n $U_STATE_DIR ]] && rw+=' "$state"'
		for d in $U_RUNTIME_DIR; do rw+=" /run/$d"; done
		for d in $U_RW; do rw+=" ${d#-}"; done
		fs="unshare --mount --propagation private -- $E2E_DIR/unit-fs \"\$parent\" $home$rw --"
	fi
	cat >"$file" <<-EOF
		#!/bin/sh
		# warren up as init/warren@.service runs it: User=$user, bounding {$bound}, ambient {$amb},
		# ProtectSystem=${U_PROTECT_SYSTEM:-no}, ProtectHome=${U_PROTECT_HOME:-no}
		[ "\$1" = up ] || exec "$WARREN_BIN" "\$@"
		state=/var/lib/warren prev=
		for a in "\$@"; do [ "\$prev" = --state-dir ] && state=\$a; prev=\$a; done
		parent=\$(readlink /proc/self/ns/mnt)
		exec $fs setpriv $ids --bounding-set $(setpriv_caps "$bound") --inh-caps $(setpriv_caps "$amb") \\
			--ambient-caps $(setpriv_caps "$amb") $nnp_opt -- "$WARREN_BIN" "\$@"
	EOF
	chmod 755 "$file"
}
UNIT_WARREN=$E2E_TMP/warren-as-unit
OLD_WARREN=$E2E_TMP/warren-old-caps
write_wrapper "$UNIT_WARREN" "$U_BOUND" "$U_AMB" "$U_USER" "$U_NNP"
# A control: a bounding set without CAP_NET_ADMIN, which no role can run with.
write_wrapper "$OLD_WARREN" "net_raw,net_bind_service" "net_bind_service" "$U_USER" "$U_NNP"
WARREN=$UNIT_WARREN

# agent_caps NODE — the running agent's bounding and effective sets are the unit's
agent_caps() {
	local pid=${NODE_PID[$1]:-} bnd eff want_eff nnp
	[[ -n $pid && -r /proc/$pid/status ]] || { echo "node $1 is not running"; return 1; }
	[[ $(cat "/proc/$pid/comm") == warren ]] || { echo "pid $pid is $(cat "/proc/$pid/comm"), not warren"; return 1; }
	bnd=$(caps_decode "$(awk '/^CapBnd:/ {print $2}' "/proc/$pid/status")")
	eff=$(caps_decode "$(awk '/^CapEff:/ {print $2}' "/proc/$pid/status")")
	nnp=$(awk '/^NoNewPrivs:/ {print $2}' "/proc/$pid/status")
	want_eff=$U_BOUND
	[[ ${U_USER:-root} == root || $U_USER == 0 ]] || want_eff=$U_AMB
	local seen="agent $1 (pid $pid): CapBnd={$bnd} CapEff={$eff} NoNewPrivs=$nnp"
	[[ $bnd == "$U_BOUND" ]] || { echo "$seen: the bounding set is not the unit's {$U_BOUND}"; return 1; }
	[[ $eff == "$want_eff" ]] || { echo "$seen: the effective set is not {$want_eff}"; return 1; }
	if [[ ${U_NNP,,} =~ ^(yes|true|on|1)$ && $nnp != 1 ]]; then echo "$seen: NoNewPrivs is not set"; return 1; fi
	if [[ $U_PROTECT_SYSTEM == strict ]]; then
		# mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS ...
		awk '$5 == "/" && $6 ~ /^ro(,|$)/ { ok = 1 } END { exit !ok }' "/proc/$pid/mountinfo" ||
			{ echo "$seen: / is not read-only for it (ProtectSystem=strict)"; return 1; }
		seen+=", / read-only"
	fi
	echo "$seen"
}

# ---------------------------------------------------------------- 1. scripts/install

INST=$E2E_TMP/root-systemd
INST_P=$E2E_TMP/root-procd
mkdir -p "$INST/etc/warren"
printf '[Interface]\nPrivateKey = %s\n' "$(genkey)" >"$INST/etc/warren/wg0.conf"
chmod 600 "$INST/etc/warren/wg0.conf"

install_systemd() {
	"$REPO/scripts/install" --root "$INST" --binary "$WARREN_BIN" || return 1
	local bad=()
	cmp -s "$WARREN_BIN" "$INST$BIN_PATH" || bad+=("$BIN_PATH is not the binary")
	[[ $(stat -c %a "$INST$BIN_PATH") == 755 ]] || bad+=("$BIN_PATH mode $(stat -c %a "$INST$BIN_PATH")")
	cmp -s "$UNIT" "$INST/etc/systemd/system/warren@.service" || bad+=("warren@.service differs from init/")
	cmp -s "$KS_UNIT" "$INST/etc/systemd/system/warren-killswitch.service" || bad+=("warren-killswitch.service differs")
	[[ -L $INST/etc/systemd/system/sysinit.target.wants/warren-killswitch.service ]] || bad+=("kill switch not enabled")
	[[ -L $INST/etc/systemd/system/multi-user.target.wants/warren@wg0.service ]] || bad+=("warren@wg0 not enabled for /etc/warren/wg0.conf")
	[[ $(stat -c %a "$INST/etc/warren") == 700 ]] || bad+=("/etc/warren mode $(stat -c %a "$INST/etc/warren")")
	[[ $(stat -c %a "$INST/var/lib/warren") == 700 ]] || bad+=("/var/lib/warren mode $(stat -c %a "$INST/var/lib/warren")")
	cmp -s "$REPO/rootfs-overlay/etc/warren/whitelists/streaming" "$INST/etc/warren/whitelists/streaming" || bad+=("whitelist not installed")
	[[ ${#bad[@]} == 0 ]] || { printf '%s\n' "${bad[@]}"; return 1; }
	echo "binary at $BIN_PATH, both units in /etc/systemd/system, kill switch and warren@wg0 enabled"
}
check "1: scripts/install --root DIR (systemd): binary, units, enabled links" install_systemd

exec_path_installed() {
	local bin=${U_EXEC%% *}
	[[ $bin == "$BIN_PATH" ]] || { echo "ExecStart runs $bin, scripts/install puts the binary at $BIN_PATH"; return 1; }
	[[ -x $INST$bin ]] || { echo "$bin is not in the installed tree"; return 1; }
	[[ $U_EXEC == *"--interface %i"* && $U_EXEC == *"/etc/warren/%i.conf" ]] || { echo "ExecStart: $U_EXEC"; return 1; }
	echo "ExecStart=$U_EXEC (installed)"
}
check "1: the unit's ExecStart runs the installed binary on /etc/warren/%i.conf" exec_path_installed

install_again() {
	local edited=$INST/etc/warren/whitelists/streaming
	echo "owner.example" >>"$edited"
	cp "$INST/etc/warren/wg0.conf" "$E2E_TMP/wg0.conf.before"
	"$REPO/scripts/install" --root "$INST" --binary "$WARREN_BIN" >"$E2E_TMP/install2.log" 2>&1 || { cat "$E2E_TMP/install2.log"; return 1; }
	grep -qx owner.example "$edited" || { echo "the second install overwrote an edited whitelist"; return 1; }
	grep -q "kept /etc/warren/whitelists/streaming" "$E2E_TMP/install2.log" || { cat "$E2E_TMP/install2.log"; return 1; }
	cmp -s "$INST/etc/warren/wg0.conf" "$E2E_TMP/wg0.conf.before" || { echo "the config changed"; return 1; }
	echo "a second install succeeds and keeps the edited whitelist and the config"
}
check "1: installing again keeps configs and edited whitelists" install_again

install_procd() {
	mkdir -p "$INST_P/etc" && echo "DISTRIB_ID='OpenWrt'" >"$INST_P/etc/openwrt_release"
	"$REPO/scripts/install" --root "$INST_P" --binary "$WARREN_BIN" || return 1
	local bad=() s path
	[[ -x $INST_P/etc/init.d/warren ]] && cmp -s "$PROCD" "$INST_P/etc/init.d/warren" || bad+=("/etc/init.d/warren missing or not init/warren.procd")
	[[ ! -e $INST_P/etc/systemd ]] || bad+=("systemd units installed on OpenWrt")
	for s in S19warren K90warren; do
		[[ $(readlink "$INST_P/etc/rc.d/$s") == ../init.d/warren ]] || bad+=("/etc/rc.d/$s is not a link to ../init.d/warren")
	done
	path=$(sed -n 's/^WARREN=//p' "$PROCD")
	[[ $path == "$BIN_PATH" && -x $INST_P$path ]] || bad+=("the procd script runs '$path', the binary is at $BIN_PATH")
	[[ ${#bad[@]} == 0 ]] || { printf '%s\n' "${bad[@]}"; return 1; }
	echo "OpenWrt detected: /etc/init.d/warren (WARREN=$path, installed), S19/K90 links, no systemd units"
}
check "1: scripts/install --root DIR on OpenWrt: procd script, same binary path, enabled" install_procd

install_destdir() {
	local d=$E2E_TMP/root-destdir
	DESTDIR=$d "$REPO/scripts/install" --init systemd --no-enable --binary "$WARREN_BIN" || return 1
	cmp -s "$WARREN_BIN" "$d$BIN_PATH" && cmp -s "$UNIT" "$d/etc/systemd/system/warren@.service" ||
		{ echo "DESTDIR=$d: binary or unit missing"; return 1; }
	[[ ! -e $d/etc/systemd/system/sysinit.target.wants ]] || { echo "--no-enable enabled something"; return 1; }
	echo "DESTDIR=DIR installs into DIR like --root; --no-enable makes no links"
}
check "1: DESTDIR=DIR and --no-enable" install_destdir

one_binary_path() {
	local hits
	hits=$(grep -rn -E '/usr/local/s?bin/warren|/usr/bin/warren|/sbin/warren' "$REPO/README.md" "$REPO/docs" "$REPO/init" \
		"$REPO/rootfs-overlay" "$REPO/scripts/install" | grep -v -F "$BIN_PATH")
	[[ -z $hits ]] || { echo "$hits"; echo "another path for the binary than $BIN_PATH"; return 1; }
	grep -q -F "$BIN_PATH" "$REPO/docs/OPERATIONS.md" || { echo "docs/OPERATIONS.md does not name $BIN_PATH"; return 1; }
	grep -q -F "scripts/install" "$REPO/docs/OPERATIONS.md" || { echo "docs/OPERATIONS.md does not mention scripts/install"; return 1; }
	echo "README, docs, init/, rootfs-overlay and scripts/install name only $BIN_PATH"
}
check "1: docs, init files and overlay agree on $BIN_PATH" one_binary_path

# ---------------------------------------------------------------- 2. systemd-analyze verify

# verify_prepare — the installed tree plus what verify needs to resolve: the stock targets and
# /bin/sh (the kill switch's ExecStart)
verify_prepare() {
	mkdir -p "$INST/usr/lib/systemd" "$INST/bin" || return 1
	cp -a /usr/lib/systemd/system "$INST/usr/lib/systemd/" && cp -L /bin/sh "$INST/bin/sh" || return 1
	echo "stock units from /usr/lib/systemd/system and /bin/sh copied into the installed tree"
}
verify_units() {
	local out rc
	out=$(timeout 60 systemd-analyze verify --root="$INST" warren@wg0.service warren-killswitch.service 2>&1)
	rc=$?
	[[ $rc == 0 && -z $out ]] || { echo "$out"; echo "systemd-analyze verify: exit status $rc, $(grep -c . <<<"$out") line(s)"; return 1; }
	echo "systemd-analyze $(systemd-analyze --version | awk 'NR==1 {print $2}') verify --root: warren@wg0.service and warren-killswitch.service, no complaint"
}
verify_has_teeth() {
	local out
	sed 's/^RestartSec=.*/&\nRestartSecc=5/' "$UNIT" >"$INST/etc/systemd/system/warren-typo@.service"
	out=$(timeout 60 systemd-analyze verify --root="$INST" warren-typo@wg0.service 2>&1)
	rm -f "$INST/etc/systemd/system/warren-typo@.service"
	grep -q "RestartSecc" <<<"$out" || { echo "$out"; echo "a misspelt key went unnoticed"; return 1; }
	echo "a copy with a misspelt key is reported: $(grep RestartSecc <<<"$out" | head -n 1 | sed 's/.*: //')"
}
if check "2: prepare the tree for systemd-analyze verify" verify_prepare; then
	check "2: systemd-analyze verify of the installed units says nothing" verify_units
	check "2: (control) verify reports a misspelt key" verify_has_teeth
fi

# ---------------------------------------------------------------- 3. kill switch loaders

KS_NS="wre2e-$$-ks"
KS_DIR=$E2E_TMP/ks-state
ks_file() { # ks_file NAME good|broken — a kill switch file like the ones the gateway writes
	local hook=forward
	[[ $2 == good ]] || hook=nowhere
	printf 'table inet wks_%s {\n\tchain f {\n\t\ttype filter hook %s priority 0; policy drop;\n\t}\n}\n' \
		"${1#w}" "$hook" >"$KS_DIR/$1.killswitch.nft"
}
ks_setup() {
	ns_add "$KS_NS" || return 1
	mkdir -p "$KS_DIR" && chmod 700 "$KS_DIR" || return 1
	# Loaded in name order: a good one, a broken one, another good one.
	ks_file wa good && ks_file wb broken && ks_file wc good
	echo "namespace $KS_NS, kill switch files wa (good), wb (broken), wc (good)"
}
ks_tables() { ip netns exec "$KS_NS" nft list tables 2>/dev/null | awk '{print $3}' | grep '^wks_' | sort | paste -sd' ' -; }
ks_flush() { ip netns exec "$KS_NS" nft flush ruleset; }
# ks_unit_script DIR — the unit's ExecStart script, for DIR instead of /var/lib/warren
ks_unit_script() {
	local line
	line=$(unit_value "$KS_UNIT" Service ExecStart)
	[[ $line == "/bin/sh -c '"*"'" ]] || { echo "ExecStart is not /bin/sh -c '…': $line" >&2; return 1; }
	line=${line#"/bin/sh -c '"}
	line=${line%"'"}
	[[ $line != *'${'* && $line != *%* ]] || { echo "ExecStart has \${ or % (systemd would expand them)" >&2; return 1; }
	echo "${line//\/var\/lib\/warren/$1}"
}
ks_unit_run() { # ks_unit_run WANT_RC TABLES
	local script out rc
	script=$(ks_unit_script "$KS_DIR") || return 1
	ks_flush
	out=$(ip netns exec "$KS_NS" timeout 30 /bin/sh -c "$script" 2>&1)
	rc=$?
	echo "$out"
	echo "exit status $rc, tables: $(ks_tables)"
	[[ ($1 == 0 && $rc == 0) || ($1 != 0 && $rc != 0) ]] && [[ $(ks_tables) == "$2" ]]
}
ks_unit_broken() {
	local rc
	ks_unit_run 1 "wks_a wks_c" >"$E2E_TMP/ks.out" 2>&1
	rc=$?
	grep -v '^exit status' "$E2E_TMP/ks.out"
	grep -q "FAILED to load $KS_DIR/wb.killswitch.nft" "$E2E_TMP/ks.out" || { echo "no line names the broken file"; return 1; }
	tail -n 1 "$E2E_TMP/ks.out"
	return $rc
}
ks_procd_run() { # ks_procd_run — load_killswitches of the procd script, logger captured
	local log=$E2E_TMP/procd-logger.log
	: >"$log"
	ks_flush
	ip netns exec "$KS_NS" timeout 30 /bin/sh -c '
		log=$3
		. "$1"
		logger() { echo "logger $*" >>"$log"; }
		STATE_DIR=$2
		load_killswitches' sh "$PROCD" "$KS_DIR" "$log"
	cat "$log"
	echo "tables: $(ks_tables)"
	[[ $(ks_tables) == "wks_a wks_c" ]] &&
		grep -q "daemon.err FAILED to load $KS_DIR/wb.killswitch.nft" "$log" &&
		grep -q "daemon.info loaded $KS_DIR/wc.killswitch.nft" "$log"
}
if check "3: setup" ks_setup; then
	check "3: warren-killswitch.service: a broken file fails the unit, the others still load" ks_unit_broken
	rm -f "$KS_DIR/wb.killswitch.nft"
	check "3: warren-killswitch.service: all files good, exit status 0" ks_unit_run 0 "wks_a wks_c"
	ks_file wb broken
	check "3: the procd script logs a broken file as daemon.err and loads the others" ks_procd_run
	rm -f "$KS_DIR"/*.killswitch.nft
	check "3: warren-killswitch.service: no file, exit status 0" ks_unit_run 0 ""
	check "3: warren-killswitch.service: RequiresMountsFor= the state directory" \
		bash -c "v=\$(grep '^RequiresMountsFor=' '$KS_UNIT'); echo \"\$v\"; [[ \$v == 'RequiresMountsFor=/var/lib/warren' ]]"
fi

# ---------------------------------------------------------------- 4. every role under the unit

P="wre2e-$$"
NS_R="$P-inet" NS_PV="$P-prov" NS_C="$P-c" NS_GW="$P-gw" NS_LC="$P-lc" NS_WEB="$P-web"
PV_WAN4=192.0.2.2 C_WAN4=198.18.1.2 GW_WAN4=198.18.3.2 GW_LAN4=192.168.60.1 LC4=192.168.60.10
WEB4=203.0.113.9 DNS4=203.0.113.53 PV_T4=10.99.0.1 PORT=51820 STREAM=stream.example
IF_PV="wpv$$" IF_C="wcc$$" IF_GW="wcg$$" IF_X="wcx$$"
PV_STATE="$E2E_TMP/state-PV"

roles_topo_up() {
	local ns
	for ns in "$NS_R" "$NS_PV" "$NS_C" "$NS_GW" "$NS_LC" "$NS_WEB"; do ns_add "$ns" || return 1; done
	veth_pair "$NS_PV" wan0 "$NS_R" r-pv && veth_pair "$NS_C" wan0 "$NS_R" r-c &&
		veth_pair "$NS_GW" wan0 "$NS_R" r-gw && veth_pair "$NS_GW" lan0 "$NS_LC" eth0 &&
		veth_pair "$NS_WEB" eth0 "$NS_R" r-web || return 1
	addr_add "$NS_R" r-pv 192.0.2.1/24 && addr_add "$NS_R" r-c 198.18.1.1/24 &&
		addr_add "$NS_R" r-gw 198.18.3.1/24 && addr_add "$NS_R" r-web 203.0.113.1/24 &&
		addr_add "$NS_PV" wan0 "$PV_WAN4/24" && addr_add "$NS_C" wan0 "$C_WAN4/24" &&
		addr_add "$NS_GW" wan0 "$GW_WAN4/24" && addr_add "$NS_GW" lan0 "$GW_LAN4/24" &&
		addr_add "$NS_LC" eth0 "$LC4/24" && addr_add "$NS_WEB" eth0 "$WEB4/24" "$DNS4/24" || return 1
	ip -n "$NS_PV" route add default via 192.0.2.1 && ip -n "$NS_C" route add default via 198.18.1.1 &&
		ip -n "$NS_GW" route add default via 198.18.3.1 && ip -n "$NS_LC" route add default via "$GW_LAN4" &&
		ip -n "$NS_WEB" route add default via 203.0.113.1 || return 1
	ip netns exec "$NS_R" sysctl -qw net.ipv4.ip_forward=1 || return 1
	wait_for 10 "consumer → provider" ip netns exec "$NS_C" ping -n -c 1 -W 1 "$PV_WAN4" &&
		wait_for 10 "gateway → provider" ip netns exec "$NS_GW" ping -n -c 1 -W 1 "$PV_WAN4" &&
		wait_for 10 "provider → web" ip netns exec "$NS_PV" ping -n -c 1 -W 1 "$WEB4" &&
		wait_for 10 "LAN client → gateway" ip netns exec "$NS_LC" ping -n -c 1 -W 1 "$GW_LAN4" || return 1
	echo "router, provider, consumer, gateway + LAN client, web"
}
roles_services() {
	trace "$NS_WEB: whoami.py and dnsd.py (background)"
	ip netns exec "$NS_WEB" timeout 3600 "$PYTHON" "$E2E_DIR/whoami.py" --port 80 "$WEB4" >"$E2E_TMP/whoami.out" 2>&1 &
	BG_PIDS+=("$!")
	ip netns exec "$NS_WEB" timeout 3600 "$PYTHON" "$E2E_DIR/dnsd.py" serve --a "$WEB4" --log "$E2E_TMP/dnsd.log" "$DNS4" \
		>"$E2E_TMP/dnsd.out" 2>&1 &
	BG_PIDS+=("$!")
	wait_for 10 "whoami on web :80" tcp_listening "$NS_WEB" 80 &&
		wait_for 10 "dnsd on $DNS4:53" tcp_listening "$NS_WEB" 53 || { tail -n 3 "$E2E_TMP"/*.out; return 1; }
}
dns_answers() { # dns_answers NS SERVER NAME WANT
	local out
	out=$(ip netns exec "$1" timeout 10 "$PYTHON" "$E2E_DIR/dnsd.py" query "$2" "$3" --timeout 3 2>&1)
	echo "$out"
	grep -qx "$4" <<<"$out" || { echo "expected $4 for $3 from $2"; return 1; }
}
consumer_conf() { # consumer_conf FILE PROVIDER [LAN]
	{
		printf '[Interface]\n\n[Exit]\nProvider = %s\n' "$2"
		[[ -z ${3:-} ]] || printf '\n[Gateway]\nLAN = %s\n' "$3"
	} >"$1"
	chmod 600 "$1"
}
cat >"$E2E_TMP/whitelist" <<EOF
$STREAM
203.0.113.0/24
EOF
cat >"$E2E_TMP/provider.conf" <<EOF
[Interface]
ListenPort = $PORT

[Provider]
WAN = wan0
Pool = 10.99.0.0/24
Exit = whitelist
Whitelist = $E2E_TMP/whitelist
EOF
chmod 600 "$E2E_TMP/provider.conf"

# term_ok NODE — SIGTERM (bounded): the agent tears down under the same capabilities and exits 0
term_ok() {
	node_stop "$1" 10
	local rc=$?
	echo "node $1 exited with status $rc after SIGTERM"
	[[ $rc == 0 ]]
}

# 4a: plain tunnel, ListenPort 443
c="4a: plain tunnel under the unit's capabilities"
plain_up() {
	topo_up || return 1
	KEY_A=$(genkey) KEY_B=$(genkey)
	PUB_A=$(pubkey <<<"$KEY_A") PUB_B=$(pubkey <<<"$KEY_B")
	write_conf "$E2E_TMP/a.conf" priv="$KEY_A" addr="$T4_1/24" port=443 peer="$PUB_B" allowed="$T4_2/32" \
		endpoint="$V4_2:$PORT_B" keepalive=1
	write_conf "$E2E_TMP/b.conf" priv="$KEY_B" addr="$T4_2/24" port=$PORT_B peer="$PUB_A" allowed="$T4_1/32" \
		endpoint="$V4_1:443"
	node_start B wireguard-go "$NS2" "$IF_B" "$E2E_TMP/b.conf" && node_start A warren "$NS1" "$IF_A" "$E2E_TMP/a.conf"
}
if check "$c: warren (ListenPort 443) in ns1, wireguard-go in ns2" plain_up; then
	check "$c: the agent has exactly the unit's capabilities and file system view" agent_caps A
	check "$c: UDP port 443 is bound" wait_for 5 "UDP port 443" udp_listening "$NS1" 443
	check "$c: ping through the tunnel" ping_works "$NS1" "$T4_2"
	check "$c: SIGTERM: exit status 0, a clean stop" term_ok A
	node_stop B 5 >/dev/null
fi

# 4b: provider (and, first, the control: the same provider under the old bounding set)
c="4b: provider under the unit's capabilities"
provider_id() {
	mkdir -p "$PV_STATE" || return 1
	PV_ADDR=$(ip netns exec "$NS_PV" timeout 10 "$WARREN" id --state-dir "$PV_STATE" --endpoint "$PV_WAN4:$PORT" 2>&1)
	echo "warren id: $PV_ADDR"
	[[ $PV_ADDR =~ ^wr1[A-Za-z0-9_-]{46}@$PV_WAN4:$PORT$ ]]
}
old_caps_fail() {
	local out rc
	out=$(ip netns exec "$NS_PV" timeout -s INT 30 "$OLD_WARREN" up --interface "$IF_PV" --state-dir "$PV_STATE" \
		"$E2E_TMP/provider.conf" 2>&1)
	rc=$?
	echo "exit status $rc"
	echo "$out" | tail -n 1
	[[ $rc == 77 && " $U_PREVENT " == *" 77 "* ]] && grep -q "CAP_NET_ADMIN" <<<"$out" && ! link_exists "$NS_PV" "$IF_PV" &&
		! ip netns exec "$NS_PV" nft list table inet "$(warren_table "$IF_PV" provider)" >/dev/null 2>&1
}
ROLES=0
check "$c: setup: namespaces and links" roles_topo_up && check "$c: setup: web and DNS services" roles_services &&
	check "$c: setup: the provider's resolv.conf names dnsd" netns_etc_file "$NS_PV" resolv.conf "nameserver $DNS4" &&
	check "$c: setup: warren id" provider_id && ROLES=1
if [[ $ROLES == 1 ]]; then
	check "$c: (control) without CAP_NET_ADMIN in the bounding set it fails, names the capability and leaves nothing" old_caps_fail
	if check "$c: warren up" node_start PV warren "$NS_PV" "$IF_PV" "$E2E_TMP/provider.conf"; then
		check "$c: the agent has exactly the unit's capabilities and file system view" agent_caps PV
		check "$c: the DNS forwarder listens on $PV_T4 at a port of its own, nothing on 53" wait_for 5 "UDP $PV_T4 forwarder" \
			bash -c "ip netns exec $NS_PV ss -Hlnu | grep -Eq '$PV_T4\]?:[0-9]' && ! ip netns exec $NS_PV ss -Hlnu 'sport = :53' | grep -q ."
		check "$c: nft table inet $(warren_table "$IF_PV" provider)" bash -c "ip netns exec $NS_PV nft list table inet $(warren_table "$IF_PV" provider) >/dev/null && echo 'table there'"
	else
		ROLES=0
	fi
fi

# 4c: consumer
c="4c: consumer under the unit's capabilities"
if [[ $ROLES == 1 ]]; then
	consumer_conf "$E2E_TMP/c.conf" "$PV_ADDR"
	if check "$c: warren up with [Exit] Provider = the provider" node_start C warren "$NS_C" "$IF_C" "$E2E_TMP/c.conf"; then
		check "$c: the agent has exactly the unit's capabilities and file system view" agent_caps C
		check "$c: $STREAM resolves through the provider's forwarder" dns_answers "$NS_C" "$PV_T4" "$STREAM" "$WEB4"
		check "$c: web sees the consumer as the provider ($PV_WAN4)" wh_seen_as "$NS_C" "http://$WEB4/" "$PV_WAN4" 15
		check "$c: SIGTERM: exit status 0, a clean stop" term_ok C
	fi
fi

# 4d: gateway (a consumer for a LAN)
gw_term() {
	term_ok GW || return 1
	ip netns exec "$NS_GW" nft list table inet "$(warren_table "$IF_GW")" >/dev/null || { echo "the kill switch is gone"; return 1; }
	echo "table inet $(warren_table "$IF_GW") still there"
}
gw_down() {
	local out rc
	out=$(ip netns exec "$NS_GW" timeout 30 "$WARREN" down --interface "$IF_GW" --state-dir "$E2E_TMP/state-GW" 2>&1)
	rc=$?
	echo "$out"
	[[ $rc == 0 ]] && ! ip netns exec "$NS_GW" nft list table inet "$(warren_table "$IF_GW")" >/dev/null 2>&1
}
c="4d: gateway under the unit's capabilities"
if [[ $ROLES == 1 ]]; then
	consumer_conf "$E2E_TMP/gw.conf" "$PV_ADDR" lan0
	if check "$c: warren up with [Exit] and [Gateway] LAN = lan0" node_start GW warren "$NS_GW" "$IF_GW" "$E2E_TMP/gw.conf"; then
		check "$c: the agent has exactly the unit's capabilities and file system view" agent_caps GW
		check "$c: kill switch table inet $(warren_table "$IF_GW")" bash -c "ip netns exec $NS_GW nft list table inet $(warren_table "$IF_GW") >/dev/null && echo 'table there'"
		check "$c: forwarding switched on" sysctl_is "$NS_GW" net.ipv4.ip_forward 1
		check "$c: the LAN client's DNS (to 9.9.9.9) is answered through the tunnel" dns_answers "$NS_LC" 9.9.9.9 "lan.$STREAM" "$WEB4"
		check "$c: web sees the LAN client as the provider ($PV_WAN4)" wh_seen_as "$NS_LC" "http://$WEB4/" "$PV_WAN4" 15
		check "$c: SIGTERM: exit status 0, the kill switch stays armed" gw_term
		check "$c: warren down (as the operator) removes it" gw_down
	fi
fi

# ---------------------------------------------------------------- 5. exit statuses and restarts

c="5: exit statuses"
prevented() { [[ " $U_PREVENT " == *" $1 "* ]]; }
# up_status NS IF CONF — run `warren up` as the unit would (bounded), print its exit status
up_status() {
	local out rc
	out=$(ip netns exec "$1" timeout -s INT 60 "$WARREN" up --interface "$2" --state-dir "$E2E_TMP/state-exit" "$3" 2>&1)
	rc=$?
	echo "$out" | tail -n 1
	UP_RC=$rc
}
NS_X="$P-x"
config_error() {
	ip netns list | grep -qw "$NS_X" || ns_add "$NS_X" || return 1
	printf '[Interface]\nPrivateKey = %s\nListenPort = 70000\n' "$(genkey)" >"$E2E_TMP/bad.conf"
	up_status "$NS_X" "$IF_X" "$E2E_TMP/bad.conf"
	echo "exit status $UP_RC; RestartPreventExitStatus=$U_PREVENT"
	[[ $UP_RC == 78 ]] && prevented 78
}
provider_silent() {
	consumer_conf "$E2E_TMP/silent.conf" "${PV_ADDR%@*}@192.0.2.99:$PORT"
	up_status "$NS_C" "$IF_X" "$E2E_TMP/silent.conf"
	echo "exit status $UP_RC; Restart=$U_RESTART, RestartPreventExitStatus=$U_PREVENT"
	[[ $UP_RC == 1 ]] && ! prevented 1 && [[ $U_RESTART == on-failure || $U_RESTART == always ]]
}
stops_are_clean() {
	# 0 comes from a signal or `warren down`: on-failure leaves it stopped, so `warren down`
	# (which stops the agent to open the LAN) is not undone by a restart.
	echo "Restart=$U_RESTART; 3 (the consumer ended the session: over-invoiced, spending cap) prevented: $(prevented 3 && echo yes || echo no)"
	[[ $U_RESTART == on-failure ]] && prevented 3 && ! prevented 4
}
check "$c: a config error exits 78, which the unit does not restart" config_error
[[ $ROLES == 1 ]] && check "$c: a provider that does not answer: exit 1, which the unit restarts" provider_silent
check "$c: exit 0 (stopped) and 3 are not restarted, 4 (session lost) is" stops_are_clean

nodes_stop_all
summary
