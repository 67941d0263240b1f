#!/usr/bin/env bash
# The guest half of `make demo`.
set -euo pipefail
ko=$UB_REPO/build/$UB_PROFILE/ub.ko
step() { printf '\n== %s\n' "$*"; }

step "insmod $ko"
insmod "$ko"
for _ in $(seq 100); do
	[ -n "$(ls /sys/bus/usb/drivers/ub/ 2>/dev/null | grep ':')" ] && break
	sleep 0.2
done
step "interfaces bound to ub"
for i in /sys/bus/usb/drivers/ub/*:*; do
	d=$(dirname "$(readlink -f "$i")")
	printf '%s  %s:%s  %s %s  speed %s Mbit/s\n' "$(basename "$i")" "$(cat "$d/idVendor")" \
		"$(cat "$d/idProduct")" "$(cat "$d/manufacturer" 2>/dev/null)" "$(cat "$d/product" 2>/dev/null)" \
		"$(cat "$d/speed")"
done
step "kernel log"
dmesg | grep -E 'ub: '
