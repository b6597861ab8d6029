#!/usr/bin/env bash
# Payment signatures cross-checked with eth-account (PyPI), an Ethereum implementation nobody
# here wrote: the address of a key, the EIP-712 digest of a voucher, warren's signature
# recovered by eth-account and eth-account's signature recovered by warren, over a fixed
# well-known key and a few random ones. No namespaces and no root needed.
#
# eth-account goes into a venv at .build-venv (created on first run; PyPI must be reachable).
# Environment: WARREN (default .build/release/warren), as for every suite.
source "$(dirname "$0")/lib.sh"

VENV=$REPO/.build-venv
ETH() { "$VENV/bin/python" "$E2E_DIR/eth_crosscheck.py" "$@"; }

setup_venv() {
	if [[ -x $VENV/bin/python ]] && "$VENV/bin/python" -c 'import eth_account' 2>/dev/null; then
		echo "eth-account $("$VENV/bin/python" -c 'import eth_account; print(eth_account.__version__)') already in $VENV"
		return 0
	fi
	python3 -m venv "$VENV" && "$VENV/bin/pip" install -q eth-account || return 1
	echo "installed eth-account $("$VENV/bin/python" -c 'import eth_account; print(eth_account.__version__)')"
}

has_voucher_command() {
	[[ -x $WARREN ]] || { echo "no warren binary at $WARREN"; return 1; }
	"$WARREN" voucher sign --help >/dev/null 2>&1 || { echo "$WARREN has no 'voucher' command"; return 1; }
	echo "$WARREN voucher is there"
}

check "setup: eth-account in $VENV" setup_venv || summary
check "setup: warren voucher command" has_voucher_command || summary

# warren_sign KEY CHANNEL AMOUNT CHAIN CONTRACT NAME VERSION -> sets W_SIG, W_DIGEST, W_ADDRESS
warren_sign() {
	local out
	out=$("$WARREN" voucher sign --key "$1" --channel "$2" --amount "$3" --chain-id "$4" \
		--contract "$5" --name "$6" --version "$7") || return 1
	W_SIG=$(awk '$1 == "signature" {print $2}' <<<"$out")
	W_DIGEST=$(awk '$1 == "digest" {print $2}' <<<"$out")
	W_ADDRESS=$(awk '$1 == "address" {print $2}' <<<"$out")
}

warren_recover() { # SIGNATURE CHANNEL AMOUNT CHAIN CONTRACT NAME VERSION
	"$WARREN" voucher recover --signature "$1" --channel "$2" --amount "$3" --chain-id "$4" \
		--contract "$5" --name "$6" --version "$7"
}

same() { # same WHAT A B
	if [[ $2 == "$3" ]]; then
		echo "$1: $2"
		return 0
	fi
	echo "$1 differ: warren $2, eth-account $3"
	return 1
}

different() { # different WHAT A B — A must be an answer, and not B
	if [[ -n $2 && $2 != "$3" ]]; then
		echo "$1: $2 is not $3"
		return 0
	fi
	echo "$1: both $2"
	return 1
}

refused() { # refused WHY cmd... — the command must fail, saying WHY on stderr
	local why=$1 err; shift
	if err=$("$@" 2>&1 >/dev/null); then
		echo "accepted: $*"
		return 1
	fi
	if [[ $err != *"$why"* ]]; then
		echo "refused, but not for $why: $err"
		return 1
	fi
	echo "refused: $err"
}

# One voucher checked both ways. The arguments are the key and the voucher's fields.
crosscheck() {
	local name=$1 key=$2; shift 2
	local fields=("$@") eth_sig
	if ! warren_sign "$key" "${fields[@]}"; then
		check "$name: warren signs" false
		return
	fi
	check "$name: address of the key" same address "$W_ADDRESS" "$(ETH address "$key")"
	check "$name: EIP-712 digest" same digest "$W_DIGEST" "$(ETH digest "${fields[@]}")"
	check "$name: eth-account recovers warren's signature" same signer "$(ETH recover "$W_SIG" "${fields[@]}")" "$W_ADDRESS"
	eth_sig=$(ETH sign "$key" "${fields[@]}")
	check "$name: warren recovers eth-account's signature" same signer "$(warren_recover "$eth_sig" "${fields[@]}")" "$W_ADDRESS"
	check "$name: identical signatures (RFC 6979)" same signature "$W_SIG" "$eth_sig"
}

CONTRACT=0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC
CHANNEL=0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
KNOWN_KEY=0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318

crosscheck "documented key" "$KNOWN_KEY" "$CHANNEL" 1234567890123456789012345 31337 "$CONTRACT" warren 1
check "documented key: its published address" same address "$W_ADDRESS" 0x2c7536E3605D9C16a7a3D7b1898e529396a65c23

for i in 1 2 3; do
	key=$(ETH randkey)
	channel=0x$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
	contract=$(ETH address "$(ETH randkey)")
	case $i in
	1) amount=0 chain=1 ;;
	2) amount=340282366920938463463374607431768211455 chain=137 ;; # 2^128 - 1
	3) amount=$((RANDOM * 1000000007)) chain=11155111 ;;
	esac
	crosscheck "random key $i (amount $amount, chain $chain)" "$key" "$channel" "$amount" "$chain" "$contract" "warren test" "2"
done

# What must not verify: another amount, another domain, the malleated twin.
warren_sign "$KNOWN_KEY" "$CHANNEL" 1000 31337 "$CONTRACT" warren 1
ETH_SIG=$(ETH sign "$KNOWN_KEY" "$CHANNEL" 1000 31337 "$CONTRACT" warren 1)
check "another amount recovers another signer" different signer \
	"$(warren_recover "$ETH_SIG" "$CHANNEL" 1001 31337 "$CONTRACT" warren 1)" "$W_ADDRESS"
check "another chain id recovers another signer" different signer \
	"$(warren_recover "$ETH_SIG" "$CHANNEL" 1000 1 "$CONTRACT" warren 1)" "$W_ADDRESS"
check "high-s twin of eth-account's signature is refused" refused highS \
	warren_recover "$(ETH highs "$ETH_SIG")" "$CHANNEL" 1000 31337 "$CONTRACT" warren 1
check "wrong checksum in the contract address is refused" refused badChecksum \
	warren_recover "$ETH_SIG" "$CHANNEL" 1000 31337 0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCccccccCC warren 1

summary
