#!/bin/bash
# trustloop `command` adapter program for the `firewall-drop` remediation workflow on network
# namespaces (see netns-lab.sh for the lab it expects). One call per run, by TRUSTLOOP_STEP_ROLE:
#
#   apply     add `ip saddr ADDR tcp dport PORT drop` (commented trustloop:<action id>) to the
#             host's `inet trustloop input` chain — once: applying twice leaves one rule
#   check     probe for real: a TCP connection from the subject's namespace to the host must fail
#             (refused or timed out), and one from the allowed peer's must succeed
#   rollback  delete the action's rules (none left: nothing to do)
#
# The host is the phase's namespace: TRUSTLOOP_NETNS_TARGET in the target phase,
# TRUSTLOOP_NETNS_SANDBOX in the sandbox phase (TRUSTLOOP_PHASE, set by the adapter).
#
#   [enforcement.adapters.netns]
#   type = "command"
#   program = "deploy/enforcement/netns-firewall.sh"
#   env = { TRUSTLOOP_NETNS_TARGET = "lab-target", TRUSTLOOP_NETNS_SANDBOX = "lab-sandbox" }
#
# and in the policy:
#
#   enforcement:
#     workflows:
#       firewall-drop:
#         steps:
#           - name: drop
#             adapter: netns
#             params: {addr: '{{subject}}', port: '8080'}
#             check: {params: {addr: '{{subject}}', port: '8080', host_addr: 10.77.1.1, peer_host_addr: 10.77.2.1}}
#             rollback: {params: {addr: '{{subject}}', port: '8080'}}
#
# Parameters (TRUSTLOOP_PARAM_*): ADDR the subject's IPv4 address (or a block, a.b.c.d/n); PORT the port; for the check,
# HOST_ADDR / PEER_HOST_ADDR the host's address as the subject / the peer reach it.
# Exit status: 0 done (check: as wanted); 1 the check found it otherwise; 64 an unknown role;
# 65 a bad address or port; 78 misconfigured.
set -euo pipefail

fail() {
    code=$1
    shift
    printf 'netns-firewall.sh: %s\n' "$*" >&2
    exit "$code"
}

role=${TRUSTLOOP_STEP_ROLE:-}
case ${TRUSTLOOP_PHASE:-} in
sandbox) host=${TRUSTLOOP_NETNS_SANDBOX:-} ;;
target) host=${TRUSTLOOP_NETNS_TARGET:-} ;;
*) fail 78 "TRUSTLOOP_PHASE must be sandbox or target (a workflow call)" ;;
esac
[ -n "$host" ] || fail 78 "TRUSTLOOP_NETNS_TARGET and TRUSTLOOP_NETNS_SANDBOX must name the host namespaces"
addr=${TRUSTLOOP_PARAM_ADDR:-}
port=${TRUSTLOOP_PARAM_PORT:-}
[[ $addr =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}(/[0-9]{1,2})?$ ]] || fail 65 "ADDR is not an IPv4 address or block: '$addr'"
[[ $port =~ ^[0-9]{1,5}$ ]] || fail 65 "PORT is not a port: '$port'"
tag="trustloop:${TRUSTLOOP_ACTION_ID:?}"

in_host() { ip netns exec "$host" "$@"; }

handles() { # the handles of this action's rules
    in_host nft -a list chain inet trustloop input | awk -v tag="\"$tag\"" '$0 ~ tag { print $NF }'
}

connects() { # connects NS ADDR: whether a TCP connection from NS to ADDR:PORT succeeds within 1 s
    ip netns exec "$1" timeout 1 bash -c "</dev/tcp/$2/$port" 2>/dev/null
}

case $role in
apply)
    if [ -z "$(handles)" ]; then
        in_host nft add rule inet trustloop input ip saddr "$addr" tcp dport "$port" drop comment "\"$tag\""
    fi
    echo "drop rule for $addr:$port in $host: $(handles | wc -l) rule(s)"
    ;;
check)
    host_addr=${TRUSTLOOP_PARAM_HOST_ADDR:-}
    peer_host_addr=${TRUSTLOOP_PARAM_PEER_HOST_ADDR:-}
    [ -n "$host_addr" ] && [ -n "$peer_host_addr" ] || fail 78 "the check needs HOST_ADDR and PEER_HOST_ADDR"
    if connects "$host-s" "$host_addr"; then
        fail 1 "$host-s ($addr) still connects to $host_addr:$port"
    fi
    connects "$host-p" "$peer_host_addr" || fail 1 "the allowed peer $host-p no longer connects to $peer_host_addr:$port"
    echo "probe: $host-s refused, $host-p connected"
    ;;
rollback)
    for h in $(handles); do
        in_host nft delete rule inet trustloop input handle "$h"
    done
    echo "drop rule for $addr:$port removed from $host"
    ;;
*) fail 64 "TRUSTLOOP_STEP_ROLE must be apply, check or rollback, not '$role'" ;;
esac
