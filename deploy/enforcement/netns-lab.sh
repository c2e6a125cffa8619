#!/bin/bash
# A network-namespace lab for the `firewall-drop` remediation workflow (netns-firewall.sh): a
# target host and its sandbox clone, each with a subject and an allowed peer, on veth links.
#
#   netns-lab.sh up PREFIX [PORT]   create the lab (root; PORT default 8080)
#   netns-lab.sh down PREFIX        remove it (every namespace named PREFIX-*, the listeners)
#
# Each site — PREFIX-target (the target host) and PREFIX-sandbox (its clone) — is three namespaces:
#
#   SITE      the host: nftables table `inet trustloop`, chain `input` (policy accept), a TCP
#             listener on PORT; 10.77.1.1/24 towards the subject, 10.77.2.1/24 towards the peer
#   SITE-s    the subject (10.77.1.2), whose traffic the workflow drops
#   SITE-p    an allowed peer (10.77.2.2), which must still get through
#
# The sandbox is cloned from the target: the same links and addresses, and the target host's
# ruleset, as `nft list ruleset` prints it, loaded into the sandbox host (`nft -f -`). Only root,
# loopback and veth links are used; nothing touches the namespace trustloop runs in.
set -euo pipefail

die() {
    printf 'netns-lab.sh: %s\n' "$*" >&2
    exit "${code:-1}"
}

[ $# -ge 2 ] || code=64 die "usage: netns-lab.sh up|down PREFIX [PORT]"
cmd=$1
prefix=$2
port=${3:-8080}
case $prefix in
*[!A-Za-z0-9_-]* | '') code=64 die "PREFIX must be letters, digits, _ or -: $prefix" ;;
esac
state=${TRUSTLOOP_NETNS_STATE:-/run/trustloop-netns}/$prefix

site() { # site NAME: the host and its subject and peer, linked, with the listener
    local host=$1
    ip netns add "$host"
    ip netns add "$host-s"
    ip netns add "$host-p"
    for ns in "$host" "$host-s" "$host-p"; do
        ip -n "$ns" link set lo up
    done
    ip link add name vs netns "$host" type veth peer name vh netns "$host-s"
    ip link add name vp netns "$host" type veth peer name vh netns "$host-p"
    ip -n "$host" addr add 10.77.1.1/24 dev vs
    ip -n "$host" addr add 10.77.2.1/24 dev vp
    ip -n "$host-s" addr add 10.77.1.2/24 dev vh
    ip -n "$host-p" addr add 10.77.2.2/24 dev vh
    ip -n "$host" link set vs up
    ip -n "$host" link set vp up
    ip -n "$host-s" link set vh up
    ip -n "$host-p" link set vh up
}

listen() { # listen HOST: a TCP listener on PORT in the host namespace, its pid in the state dir
    local host=$1
    ip netns exec "$host" python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(64)
while True:
    c, _ = s.accept()
    c.close()
' "$port" </dev/null >/dev/null 2>&1 &
    echo $! >"$state/$host.pid"
}

case $cmd in
up)
    [ "$(id -u)" = 0 ] || code=77 die "network namespaces need root"
    command -v nft >/dev/null || code=69 die "nft is not installed (apt-get install nftables)"
    mkdir -p "$state"
    site "$prefix-target"
    ip netns exec "$prefix-target" nft -f - <<'EOF'
table inet trustloop {
    chain input {
        type filter hook input priority 0; policy accept;
    }
}
EOF
    site "$prefix-sandbox"
    ip netns exec "$prefix-target" nft list ruleset | ip netns exec "$prefix-sandbox" nft -f -
    listen "$prefix-target"
    listen "$prefix-sandbox"
    # Wait for both listeners (at most 5 s).
    for host in "$prefix-target" "$prefix-sandbox"; do
        for _ in $(seq 50); do
            ip netns exec "$host-p" timeout 1 bash -c "</dev/tcp/10.77.2.1/$port" 2>/dev/null && continue 2
            sleep 0.1
        done
        die "the listener in $host did not start"
    done
    ;;
down)
    for pid in "$state"/*.pid; do
        [ -e "$pid" ] || continue
        kill "$(cat "$pid")" 2>/dev/null || true
        rm -f "$pid"
    done
    rmdir "$state" 2>/dev/null || true
    for ns in $(ip netns list | awk '{print $1}'); do
        case $ns in
        "$prefix"-*) ip netns del "$ns" ;;
        esac
    done
    ;;
*) code=64 die "unknown command $cmd: up or down" ;;
esac
