#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# kmemleak over a whole boot. `ub_leaks.sh start`, which the runner calls before
# the first program, turns the automatic scans off (each costs ~8 s under TCG,
# every ten minutes, and would print its finds into whichever test runs then)
# and forgets what the boot itself left suspected. This program, which the runner
# runs after the last one that drives a device, then fails if anything the test
# programs allocated was lost: ub's own objects, the USB core's and the block
# layer's on its behalf, across unplugs, rebinding, rmmod and faults. One check a
# boot instead of one a program: a check needs two scans.
#
# Guest devices: any (it looks at memory, not at a device).

. "$(dirname "$0")/lib.sh"

if [ "${1:-}" = start ]; then
	[ -w /sys/kernel/debug/kmemleak ] && echo scan=off >/sys/kernel/debug/kmemleak
	kmemleak_reset
	exit 0
fi

ktap_print_header
ktap_set_plan 1
kmemleak_test "no leak after ${UB_LEAK_PROGS:-the programs of this boot} (kmemleak)"
ktap_finished
