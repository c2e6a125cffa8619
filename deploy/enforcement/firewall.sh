#!/bin/sh
# trustloop enforcement program for the `command` adapter: keeps a host's DROP rule in a rules file
# (iptables-restore syntax, one rule per line), e.g. a file that a firewall loader includes.
#
#   [enforcement.adapters.edge-firewall]
#   type = "command"
#   program = "deploy/enforcement/firewall.sh"
#   env = { TRUSTLOOP_FIREWALL_RULES = "/etc/trustloop/deny.rules" }
#
# isolate / quarantine add the rule `-A <chain> -s <subject> -j DROP`, lift_quarantine removes it;
# a revert step (TRUSTLOOP_REVERT=true) does the opposite. Idempotent: applying twice leaves one line,
# removing an absent rule changes nothing. After the change the file is read again and
# {"verified": true} is printed when the rule is as wanted.
#
# Environment (set by the adapter unless noted):
#   TRUSTLOOP_ACTION_SUBJECT   the host: an address, a CIDR block or a host name
#   TRUSTLOOP_ACTION_KIND      isolate | quarantine | lift_quarantine
#   TRUSTLOOP_REVERT           true | false
#   TRUSTLOOP_SANDBOX          true for the sandbox step: the rule goes to the sandbox rules file
#   TRUSTLOOP_FIREWALL_RULES   (configured) the rules file
#   TRUSTLOOP_FIREWALL_SANDBOX_RULES  (optional) the sandbox rules file, default "$TRUSTLOOP_FIREWALL_RULES.sandbox"
#   TRUSTLOOP_FIREWALL_CHAIN   (optional) the chain, default trustloop-deny
#
# Exit status: 0 done; 64 an action this script does not handle; 65 a subject that is not a host;
# 75 the rules file is locked by another change (retry); 78 misconfigured; 1 the rule is not as wanted
# after the change.

set -eu

fail() {
    code=$1
    shift
    printf 'firewall.sh: %s\n' "$*" >&2
    exit "$code"
}

[ -n "${TRUSTLOOP_FIREWALL_RULES:-}" ] || fail 78 "TRUSTLOOP_FIREWALL_RULES must name the rules file"
rules=$TRUSTLOOP_FIREWALL_RULES
if [ "${TRUSTLOOP_SANDBOX:-false}" = true ]; then
    rules=${TRUSTLOOP_FIREWALL_SANDBOX_RULES:-$rules.sandbox}
fi
host=${TRUSTLOOP_ACTION_SUBJECT:-}
kind=${TRUSTLOOP_ACTION_KIND:-}
revert=${TRUSTLOOP_REVERT:-false}
chain=${TRUSTLOOP_FIREWALL_CHAIN:-trustloop-deny}

case $host in
    '' | -* | *[!A-Za-z0-9.:/_-]*) fail 65 "refusing subject '$host': expected an address, a CIDR block or a host name" ;;
esac
case $chain in
    '' | -* | *[!A-Za-z0-9_-]*) fail 78 "refusing chain name '$chain'" ;;
esac
case $kind in
    isolate | quarantine) want=present ;;
    lift_quarantine) want=absent ;;
    *) fail 64 "cannot enforce '$kind' actions (only isolate, quarantine and lift_quarantine)" ;;
esac
case $revert in
    true) if [ "$want" = present ]; then want=absent; else want=present; fi ;;
    false) ;;
    *) fail 64 "TRUSTLOOP_REVERT must be true or false, not '$revert'" ;;
esac

dir=$(dirname -- "$rules")
[ -d "$dir" ] || fail 78 "the directory of $rules does not exist"

rule="-A $chain -s $host -j DROP"

has_rule() {
    [ -f "$rules" ] && grep -qxF -e "$rule" -- "$rules"
}

# One change at a time: mkdir is atomic; the holder's pid is kept in the lock. A lock whose holder is
# gone (killed at the adapter's timeout, which no trap survives) is taken over. Give up after ~10 s
# (EX_TEMPFAIL: the adapter retries).
lock=$rules.lock
tries=0
until mkdir -- "$lock" 2>/dev/null; do
    holder=$(cat -- "$lock/pid" 2>/dev/null || :)
    # A holder writes its pid right after mkdir: a lock still without one after 3 s is stale too.
    if { [ -n "$holder" ] && ! kill -0 "$holder" 2>/dev/null; } || { [ -z "$holder" ] && [ "$tries" -ge 3 ]; }; then
        printf 'firewall.sh: taking over %s from process %s, which is gone\n' "$lock" "${holder:-?}" >&2
        rm -f -- "$lock/pid"
        rmdir -- "$lock" 2>/dev/null || :
        continue
    fi
    tries=$((tries + 1))
    [ "$tries" -lt 10 ] || fail 75 "$lock is held by process ${holder:-?} (remove it if no change is running)"
    sleep 1
done
printf '%s\n' "$$" >"$lock/pid"
trap 'rm -f -- "$lock/pid"; rmdir -- "$lock" 2>/dev/null || :' EXIT
trap 'exit 75' HUP INT TERM

tmp=$rules.tmp.$$
if [ "$want" = present ]; then
    if has_rule; then
        done="already present"
    else
        # Rewrite through a temporary file (awk also ends a last line lacking its newline).
        {
            if [ -f "$rules" ]; then awk '{ print }' "$rules"; fi
            printf '%s\n' "$rule"
        } >"$tmp"
        mv -f -- "$tmp" "$rules"
        done="added"
    fi
else
    if has_rule; then
        RULE=$rule awk '$0 != ENVIRON["RULE"]' "$rules" >"$tmp"
        mv -f -- "$tmp" "$rules"
        done="removed"
    else
        done="already absent"
    fi
fi

# Verify by reading the file again.
if has_rule; then now=present; else now=absent; fi
if [ "$now" != "$want" ]; then
    printf '{"verified": false}\n'
    fail 1 "after the change the rule '$rule' is $now in $rules, not $want"
fi
printf 'firewall.sh: %s: %s (%s)\n' "$done" "$rule" "$rules"
printf '{"verified": true}\n'
