# shellcheck shell=bash
# Shared by scripts/test, scripts/demo and bench/throughput: toolchain and packages.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# Debian packages the build and the end-to-end suites need.
WARREN_APT_PACKAGES=(
	libsodium-dev libnl-3-dev libnl-route-3-dev libsecp256k1-dev pkg-config
	nftables iproute2 iputils-ping wireguard-go wireguard-tools iperf3 tcpdump
	python3 python3-venv python3-cryptography curl git ca-certificates binutils procps coreutils
	systemd util-linux diffutils # units.sh: systemd-analyze verify, systemctl --root, setpriv, cmp
)

log_step() { printf '\n==> %s\n' "$*"; }

# Install whatever is missing; skip apt entirely when everything is there.
ensure_packages() {
	local p missing=()
	for p in "${WARREN_APT_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[[ ${#missing[@]} -eq 0 ]] && return 0
	log_step "installing ${missing[*]}"
	if [[ $(id -u) != 0 ]]; then
		echo "need root to install: ${missing[*]}" >&2
		return 1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get update -q &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

ensure_swift() {
	if ! command -v swift >/dev/null 2>&1 && [[ -x /opt/swift/usr/bin/swift ]]; then
		export PATH=/opt/swift/usr/bin:$PATH
	fi
	command -v swift >/dev/null 2>&1 || { echo "swift not found (looked on PATH and in /opt/swift)" >&2; return 1; }
}
