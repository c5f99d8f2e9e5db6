#!/bin/sh
# Installs the Debian packages tagbench needs that this machine lacks (apt-get when root,
# otherwise prints the exact command). Idempotent and quiet when nothing is missing.
# The last group is for the tests that look at real pixels (xterm -ti vt340 under Xvfb) and the
# preview benchmark (img2sixel as the peer).
PKGS="make gcc libc6-dev pkg-config libncurses-dev libsixel-dev libcjson-dev libstb-dev libopenblas-dev tmux python3 patch
      xvfb xterm x11-apps xdotool fonts-dejavu-core libsixel-bin"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
    echo "tagbench needs these Debian packages (or your system's equivalents):$missing" >&2; exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages:$missing" >&2
    echo "install them with: sudo apt-get update && sudo apt-get install -y$missing" >&2; exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null || {
    echo "apt-get install failed for:$missing" >&2; exit 1; }
