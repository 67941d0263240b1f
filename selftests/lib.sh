#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Shared helpers for the ub kselftests, run inside the guest. TAP output comes from the
# kernel's own KTAP helpers; on top of them every test checks that the kernel log it
# produced holds no report (WARNING, BUG, KASAN, lockdep, kmemleak, DMA-API...).

self_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
for helpers in "$self_dir/../kselftest/ktap_helpers.sh" \
	"${UB_KSRC:-/nonexistent}/tools/testing/selftests/kselftest/ktap_helpers.sh"; do
	[ -f "$helpers" ] && break
done
# shellcheck source=/dev/null
. "$helpers" || { echo "Bail out! no ktap_helpers.sh"; exit 1; }

UB_HC=${UB_HC:-unknown}
# The host controller (xhci, ehci, ohci, uhci); UB_HC names the boot in test names
# (xhci+iommu, debian).
UB_CONTROLLER=${UB_CONTROLLER:-$UB_HC}
UB_KO=${UB_KO:-${UB_REPO:-$self_dir/..}/build/${UB_PROFILE:-test}/ub.ko}
REPORTS=$self_dir/kernel-reports

# Every process a test starts costs ~0.2 s on the debug kernel under TCG (a
# subshell alone ~0.05 s, python3 ~1.8 s): helpers here use bash builtins where
# they can, and the report patterns are split once, not per test.
# The patterns of selftests/kernel-reports as two alternations (lines starting
# with ! are the exceptions), read once and passed to awk and grep -E through the
# environment (awk -v would interpret backslashes).
_match=() _except=('^$')
while IFS= read -r _l; do
	case $_l in
	'#'* | '') ;;
	'!'*) _except+=("${_l#!}") ;;
	*) _match+=("$_l") ;;
	esac
done <"$REPORTS"
_ifs=$IFS IFS='|'
UB_REPORTS_RE="${_match[*]}" UB_EXCEPT_RE="${_except[*]}"
IFS=$_ifs
export UB_REPORTS_RE UB_EXCEPT_RE
unset _match _except _l _ifs

# rd FILE: the contents of FILE (a sysfs attribute, say), or nothing and status 1
# if it cannot be read; `cat FILE 2>/dev/null` without starting a process.
rd() {
	{
		local v
		v=$(<"$1")
	} 2>/dev/null && printf '%s\n' "$v"
}

# nap SECONDS: sleep(1) as a builtin: a read that times out on a pipe nobody
# writes to (this shell holds its only writer).
exec {NAP_FD}<> <(:)
nap() {
	read -r -t "$1" -u "$NAP_FD" _ || true
}

# Begin a test: remember where the kernel log stands.
test_begin() {
	TEST_NAME="$UB_HC $*"
	# UB_TRACE_PROCS (scripts/test): name the test in the fork and exec trace.
	[ -z "${UB_TRACE_PROCS:-}" ] || echo "TEST $TEST_NAME" 2>/dev/null >/sys/kernel/tracing/trace_marker
	# Where the previous test's end found the log, if a test ended since the
	# program started (what was logged between the two counts as this test's);
	# else one process, not three ($(dmesg | wc -l)): each costs ~0.2 s here.
	if [ -n "${TEST_NEXT_MARK:-}" ]; then
		TEST_MARK=$TEST_NEXT_MARK
	else
		mapfile -t _log < <(dmesg)
		TEST_MARK=${#_log[@]}
		unset _log
	fi
	TEST_FAIL=""
	uptime_ms
	TEST_START=$UPTIME_MS
}

# Kernel log lines since test_begin.
test_dmesg() {
	test_log
	[ -z "$TEST_LOG" ] || printf '%s\n' "$TEST_LOG"
}

# test_log: the kernel log lines since test_begin in TEST_LOG (newline-separated)
# and TEST_LOG_LINES (an array), read with one process (dmesg): a pipe into grep
# costs three or four.
test_log() {
	mapfile -t -s "$TEST_MARK" TEST_LOG_LINES < <(dmesg)
	local IFS=$'\n'
	TEST_LOG="${TEST_LOG_LINES[*]}"
}

# logged [-E] PATTERN: the test's kernel log has a line containing PATTERN (a
# fixed string, or with -E an extended regular expression matched line by line);
# `test_dmesg | grep -q [-E] PATTERN` in one process. LOG_N is the number of
# such lines (`grep -c`).
logged() {
	local l
	LOG_N=0
	test_log
	if [ "$1" = -E ]; then
		for l in "${TEST_LOG_LINES[@]}"; do
			[[ $l =~ $2 ]] && LOG_N=$((LOG_N + 1))
		done
	else
		# Most tests look for a line that is not there: one match over the
		# whole log settles that.
		[[ $TEST_LOG == *"$1"* ]] || return 1
		for l in "${TEST_LOG_LINES[@]}"; do
			[[ $l == *"$1"* ]] && LOG_N=$((LOG_N + 1))
		done
	fi
	[ "$LOG_N" -gt 0 ]
}

# logged_line [-E] PATTERN: print the last such line (for a failure message).
logged_line() {
	local l last=
	test_log
	for l in "${TEST_LOG_LINES[@]}"; do
		if [ "$1" = -E ]; then [[ $l =~ $2 ]] && last=$l; else [[ $l == *"$1"* ]] && last=$l; fi
	done
	printf '%s\n' "$last"
}

# ub logs on its interface, as usb-storage does: "ub 1-1:1.0: ...". An ERE
# for that prefix, and the test's lines from ub.
UB_LOG='(^| )ub [0-9]+-[0-9.]+:[0-9]+\.[0-9]+: '
ub_dmesg() {
	test_dmesg | grep -E "$UB_LOG"
}

# Record a failed check; the test goes on so that one run shows every failure.
fail() {
	ktap_print_msg "$TEST_NAME: $*"
	TEST_FAIL=${TEST_FAIL:-$*}
}

# End a test: it fails if a check failed or the kernel reported anything meanwhile.
test_end() {
	local l reports=()
	# The test's kernel log lines that are reports: the log read once, one
	# match over all of it, line by line only where that finds something.
	test_log
	TEST_NEXT_MARK=$((TEST_MARK + ${#TEST_LOG_LINES[@]}))
	if [[ $TEST_LOG =~ $UB_REPORTS_RE ]]; then
		for l in "${TEST_LOG_LINES[@]}"; do
			[[ $l =~ $UB_REPORTS_RE ]] && ! [[ $l =~ $UB_EXCEPT_RE ]] && reports+=("$l")
		done
	fi
	if [ ${#reports[@]} -gt 0 ]; then
		for l in "${reports[@]:0:20}"; do ktap_print_msg "kernel: $l"; done
		fail "kernel report during the test"
	fi
	if [ -n "$TEST_FAIL" ]; then
		ktap_test_fail "$TEST_NAME"
	else
		ktap_test_pass "$TEST_NAME"
	fi
	# Where a boot's time goes, for the runner's summary (not part of the TAP).
	uptime_ms
	[ -d /run/ub ] && echo "$((UPTIME_MS - TEST_START)) $TEST_NAME" >>/run/ub/test-times
}

skip_test() {
	ktap_test_skip "$UB_HC $1"
}

# wait_for SECONDS COMMAND...: poll COMMAND every 0.2 s until it succeeds.
wait_for() {
	local deadline=$((EPOCHSECONDS + $1))
	shift
	until "$@"; do
		[ "$EPOCHSECONDS" -lt "$deadline" ] || return 1
		nap 0.2
	done
}

# The interface name (1-1:1.0) of the first USB interface with this class triple
# on a device with this vendor id, or nothing.
find_interface() {
	local class=$1 sub=$2 proto=$3 vid=$4 i
	for i in /sys/bus/usb/devices/*:*; do
		[ -f "$i/bInterfaceClass" ] || continue
		[ "$(<"$i/bInterfaceClass")" = "$class" ] || continue
		[ -z "$sub" ] || [ "$(<"$i/bInterfaceSubClass")" = "$sub" ] || continue
		[ -z "$proto" ] || [ "$(<"$i/bInterfaceProtocol")" = "$proto" ] || continue
		[ "$(<"$i/../idVendor")" = "$vid" ] || continue
		echo "${i##*/}"
		return 0
	done
	return 1
}

# The Bulk-Only interface of the USB device whose iSerial is SERIAL (the runner
# gives disk N the serial UB000N).
interface_by_serial() {
	local i
	for i in /sys/bus/usb/devices/*:*; do
		# $(<FILE) reads without a process; a device without an iSerial
		# has no serial file.
		[ "$(<"$i/bInterfaceClass")" = 08 ] || continue
		[ -f "$i/../serial" ] && [ "$(<"$i/../serial")" = "$1" ] || continue
		echo "${i##*/}"
		return 0
	done
	return 1
}

# The driver bound to a USB interface, or nothing.
driver_of() {
	local link=/sys/bus/usb/devices/$1/driver
	[ -L "$link" ] && basename "$(readlink "$link")"
}

# kmemleak: forget what is already suspected, so that a later scan shows only new leaks.
kmemleak_reset() {
	local f=/sys/kernel/debug/kmemleak
	[ -w "$f" ] || return 0
	echo scan >"$f"
	echo clear >"$f"
}

# kmemleak: print new suspected leaks (objects need ~5 s of age to be reported).
kmemleak_report() {
	local f=/sys/kernel/debug/kmemleak
	if [ ! -w "$f" ]; then
		# Only the test kernel must have it; the others' boots say so.
		if [ "$UB_PROFILE" = test ]; then
			echo "kmemleak is not available"
		else
			ktap_print_msg "the $UB_PROFILE kernel has no kmemleak: leaks are checked in the test kernel's boots" >&2
		fi
		return 0
	fi
	# A suspect is reported by the second scan that finds it unreferenced, and
	# only once it is 5 s old: the second scan starts 6 s after the first (a
	# scan alone takes about 8 s under TCG).
	local t0 ms
	uptime_ms
	t0=$UPTIME_MS
	echo scan >"$f"
	uptime_ms
	ms=$((6000 - UPTIME_MS + t0))
	[ "$ms" -le 0 ] || nap "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
	echo scan >"$f"
	cat "$f"
}

# Disks the runner attached, one "id:bytes:lbs:ro|rw:wc:device" entry each.
disk_field() { # disk_field ID N
	local d
	for d in $UB_DISKS; do
		[ "${d%%:*}" = "$1" ] && { echo "$d" | cut -d: -f"$2"; return 0; }
	done
	return 1
}

# check_geometry ID: fail the current test unless the disk of runner disk ID has
# the image's size and logical block size.
check_geometry() {
	local dev bytes lbs
	dev=$(disk_by_label "$1") || { fail "no disk for $1"; return; }
	bytes=$(disk_field "$1" 2)
	lbs=$(disk_field "$1" 3)
	[ "$(($(</sys/block/$dev/size) * 512))" = "$bytes" ] ||
		fail "$1 ($dev): $(($(</sys/block/$dev/size) * 512)) bytes, image has $bytes"
	[ "$(</sys/block/$dev/queue/logical_block_size)" = "$lbs" ] ||
		fail "$1 ($dev): logical block size $(</sys/block/$dev/queue/logical_block_size), image has $lbs"
	[ "$(blockdev --getsize64 /dev/$dev)" = "$bytes" ] || fail "$1 ($dev): BLKGETSIZE64 disagrees"
}

# The ub block device (uba...) whose first sector holds the runner's label for ID.
disk_by_label() {
	local b label want="ub-image:$1"
	for b in /sys/block/ub*; do
		[ -e "$b" ] || continue
		# read, not head | tr: two processes a disk cost ~0.5 s under TCG.
		label=""
		{ read -r -d "" -n ${#want} label <"/dev/${b##*/}"; } 2>/dev/null || [ -n "$label" ] || continue
		[ "$label" = "$want" ] && { echo "${b##*/}"; return 0; }
	done
	return 1
}

# The ub block device of the USB device whose iSerial is SERIAL (disk N of the
# runner has serial UB000N), or nothing.
disk_by_serial() {
	local intf b
	intf=$(interface_by_serial "$1") || return 1
	for b in "/sys/bus/usb/devices/$intf/block/"*; do
		[ -e "$b" ] && { echo "${b##*/}"; return 0; }
	done
	return 1
}

count_ub_disks() {
	local n=0 b
	for b in /sys/block/ub*; do [ -e "$b" ] && n=$((n + 1)); done
	echo "$n"
}

# Load ub (if needed) and wait until every runner disk has a block device.
load_ub_and_wait() {
	local want
	want=$(echo $UB_DISKS | wc -w)
	[ -d /sys/module/ub ] || insmod "$UB_KO" || return 1
	wait_for 60 test "$(count_ub_disks)" -ge "$want"
}

# write_readback DEV OFFSET_BYTES SIZE_BYTES: direct write of random data, direct
# read back, compare.
write_readback() {
	local dev=$1 off=$2 size=$3
	head -c "$size" /dev/urandom >/tmp/wr.pat
	dd if=/tmp/wr.pat of="/dev/$dev" bs="$size" count=1 seek="$off" oflag=direct,seek_bytes status=none ||
		{ echo "write of $size bytes at $off failed"; return 1; }
	dd if="/dev/$dev" of=/tmp/wr.back bs="$size" count=1 skip="$off" iflag=direct,skip_bytes status=none ||
		{ echo "read of $size bytes at $off failed"; return 1; }
	cmp -s /tmp/wr.pat /tmp/wr.back || { echo "data read back at $off ($size bytes) differs"; return 1; }
}

# monitor COMMAND...: run a QEMU monitor command through the runner's agent
# (scripts/ubvm MonitorAgent) and print its output. `unplug ID` and `replug ID`
# detach and re-attach a runner disk.
monitor() {
	local dir=/run/ub/monitor n
	[ -d "$dir" ] || { echo "no monitor agent"; return 1; }
	MONITOR_SEQ=$((${MONITOR_SEQ:-0} + 1))
	n=$dir/$$-$MONITOR_SEQ
	echo "$*" >"$n.tmp" && mv "$n.tmp" "$n.cmd"
	wait_for 30 test -e "$n.out" || { echo "monitor agent did not answer '$*'"; return 1; }
	cat "$n.out"
	rm -f "$n.out"
}

# uptime_ms: milliseconds since boot in UPTIME_MS, without a process (now_ms
# prints it: $(now_ms) is a fork).
uptime_ms() {
	local up
	read -r up _ </proc/uptime
	UPTIME_MS=$((${up%.*} * 1000 + 10#${up#*.} * 10))
}
now_ms() {
	uptime_ms
	echo "$UPTIME_MS"
}

# kmemleak_test NAME: a whole test that fails if kmemleak suspects a new leak. The
# bench and Debian's kernels have no kmemleak: there the test is skipped (never
# passed unchecked); a test kernel without it fails.
kmemleak_test() {
	if [ "$UB_PROFILE" != test ] && [ ! -e /sys/kernel/debug/kmemleak ]; then
		skip_test "$1 (the $UB_PROFILE kernel has no kmemleak)"
		return
	fi
	test_begin "$1"
	kmemleak_check
	test_end
}

# kmemleak_check: fail the current test if kmemleak suspects a new leak.
kmemleak_check() {
	local leaks
	leaks=$(kmemleak_report)
	[ -z "$leaks" ] && return 0
	echo "$leaks" | head -n 20 | while IFS= read -r l; do ktap_print_msg "$l"; done
	fail "kmemleak reports"
}

# ub_stat DISK NAME: counter NAME of the device behind ub disk DISK (uba).
ub_stat() {
	rd "/sys/block/$1/device/ub_stats/$2" || echo "?"
}

# The USB device directory (for its power/ attributes) of ub disk DISK.
usb_dev_of() {
	readlink -f "/sys/block/$1/device/.."
}
