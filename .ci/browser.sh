#!/bin/bash
# Installs what the web monitor's browser test (monitor/internal/browsertest)
# needs, from Debian's packages:
#
#   chromium           headless Chromium, which the test drives over the
#                      DevTools protocol (chromedp)
#   fonts-dejavu-core  a font for the pages' text: installed without its
#                      recommended packages, chromium brings none, and the
#                      screenshots would show boxes for letters
#
# Run it as root on Debian bookworm:
#
#     bash .ci/browser.sh
#
# Idempotent: when everything is installed it does nothing (~0.1 s).
# Nothing is started: the test starts its own browser and stops it.
# Diagnostics go to stderr; stdout stays empty.
set -euo pipefail

ci_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
source "$ci_dir/lib.sh"

packages=(chromium fonts-dejavu-core)

# all_installed: succeeds when every package is installed.
all_installed() {
	local pkg
	for pkg in "${packages[@]}"; do
		if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
			return 1
		fi
	done
}
if all_installed; then
	exit 0
fi

[[ "$(id -u)" == 0 ]] || ci_die "browser.sh: run as root (it installs Debian packages)"

# Other jobs on a shared machine may hold the dpkg lock for a while: wait for
# it rather than fail. APT_CONFIG adds to apt's configuration; it replaces
# nothing.
apt_config=$(mktemp /tmp/statebackend-apt-XXXXXX)
trap 'rm -f "$apt_config"' EXIT
trap 'exit 1' INT TERM HUP
echo 'DPkg::Lock::Timeout "600";' >"$apt_config"
export APT_CONFIG=$apt_config

start=$SECONDS
ci_apt_install "${packages[@]}"
ci_log "browser packages installed in $((SECONDS - start))s"
