#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A misbehaving device: selftests/bot-device (ub-bot-device) serves a RAM disk over
# raw-gadget + dummy_hcd and misbehaves on command. Each test arms one misbehaviour
# for one command, runs one 4 KiB direct read or write, and asserts the exact
# outcome: the error the reader or writer gets (or none), the recovery step ub logs,
# what the device saw (its log), the time taken, and that a known pattern elsewhere
# on the disk is intact afterwards. Then: faults during probe (absurd capacities,
# learned signature, bogus residues), a device that goes mute (its I/O fails
# within io_timeout), a disconnect in the data stage, and the random-response mode (a
# share of all commands misbehaves) for UB_RANDOM_COMMANDS commands (default
# 500) or UB_RANDOM_SECONDS (default 75), whichever ends first, with the
# default timeouts, no rebind, every I/O timed and every read checked. The soak
# run sets 10000 commands, short stage timeouts and a larger budget. After it,
# with short stage timeouts: a device that claims RECOVERED ERROR but moves nothing, a flood of
# failing reads (the log stays bounded), an unbind while ioctls wait for the
# transport (nothing is sent after it), short INQUIRY strings in sysfs, and, on a
# super-speed dummy_hcd (whose host queues a read's data behind its CBW), a device
# that answers a read before it takes its CBW.
#
# Guest devices: none from QEMU; the emulator runs on dummy_hcd in the guest.

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/bot_lib.sh"

random_commands=${UB_RANDOM_COMMANDS:-500}
random_seconds=${UB_RANDOM_SECONDS:-75}
# What README and recovery.rst promise: every request ends within io_timeout (8 s
# by default, asserted below) plus the block layer's timer, which rounds its
# expiry up to a whole second.
IO_BOUND_MS=9000

# Single-command faults: "MODE OP rw EXPECT COUNTER RECOVERY", where EXPECT is ok,
# EIO, ENODATA or ETIMEDOUT for the dd, COUNTER the ub_stats counter the fault must
# raise (or "-"), and RECOVERY is the ub log line it must cause (a regular
# expression), or "-" for none; a recovery also raises the recoveries counter.
SINGLE_FAULTS=(
	"silent-cbw           -     r ok      timeouts         timeout in CBW stage; reset recovery: device answers again"
	"silent-data          read  r ok      timeouts         timeout in data stage; reset recovery: device answers again"
	"silent-data          write w ok      timeouts         timeout in data stage; reset recovery: device answers again"
	"silent-csw           read  r ok      timeouts         timeout in CSW stage; reset recovery: device answers again"
	"silent-csw           write w ok      timeouts         timeout in CSW stage; reset recovery: device answers again"
	"stall-in             read  r ok      stalls           -"
	"stall-out            write w ok      stalls           -"
	"stall-csw            read  r ok      stalls           -"
	"bad-signature        read  r ok      bad_csws         invalid CSW in CSW stage; reset recovery: device answers again"
	"wrong-tag            read  r ok      tag_mismatches   CSW tag mismatch in CSW stage; reset recovery: device answers again"
	"phase-error          write w ok      phase_errors     phase error in CSW stage; reset recovery: device answers again"
	"status-3             read  r ok      phase_errors     phase error in CSW stage; reset recovery: device answers again"
	"residue-too-large    read  r ok      bad_residues     -"
	"short-no-residue     read  r EIO     residues         bytes not transferred"
	"csw-as-data          read  r EIO     residues         sent its CSW in place of data"
	"zero-length-csw      read  r ok      -                -"
	"zero-length-csw-only read  r ok      timeouts         timeout in CSW stage; reset recovery: device answers again"
	"garbage-sense        read  r EIO     check_conditions failed, no sense data"
	"bogus-residue        read  r EIO     residues         bytes not transferred"
	"not-ready            read  r ok      check_conditions -"
	"unit-attention       write w ok      check_conditions -"
	"aborted              read  r ok      check_conditions -"
	"recovered-error      read  r ok      check_conditions -"
	"medium-error         read  r ENODATA check_conditions sense MediumError 11/00"
	"medium-error         write w ENODATA check_conditions sense MediumError 11/00"
)

# The plan: one test per single fault, then the named tests below.
ktap_print_header
ktap_set_plan $((${#SINGLE_FAULTS[@]} + 22))

setup_bot_device

start_device || ktap_exit_fail_msg "the emulated device did not come up"
write_pattern || ktap_exit_fail_msg "cannot write the pattern"
head -c 4096 /dev/urandom >$W/wr

# The stage timeouts at 1 s for this loop: a silent stage costs that, not the
# default 3 or 5 s (the defaults are checked, and shown to take effect, below).
stage_timeouts() { # CBW_MS DATA_MS CSW_MS
	echo "$1" >/sys/block/$DEV/device/cbw_timeout_ms &&
		echo "$2" >/sys/block/$DEV/device/data_timeout_ms &&
		echo "$3" >/sys/block/$DEV/device/csw_timeout_ms
}
stage_defaults="$(</sys/block/$DEV/device/cbw_timeout_ms) $(</sys/block/$DEV/device/data_timeout_ms) $(</sys/block/$DEV/device/csw_timeout_ms)"
stage_timeouts 1000 1000 1000 || ktap_exit_fail_msg "cannot set the stage timeouts"
block=100
for spec in "${SINGLE_FAULTS[@]}"; do
	read -r mode op rw expect counter recovery <<<"$spec"
	block=$((block + 1))
	if [ "$rw" = r ]; then what=read expect_file=$W/wr; else what=write expect_file=""; fi
	test_begin "bot-device $mode on a $what: $expect"
	# Processes cost ~0.2 s each under TCG: the I/O goes through io's helper, the
	# logs and sysfs are read by this shell.
	stats=/sys/block/$DEV/device/ub_stats
	# Known data in the block, so a read that passes can be checked.
	io w $block
	[ "$GOT" = ok ] || fail "setup write: $GOT"
	[ "$counter" = - ] || c0=$(<$stats/$counter)
	rec0=$(<$stats/recoveries)
	if [ "$op" = - ]; then arm "fault $mode"; else arm "fault $mode op=$op"; fi
	io "$rw" $block 1 $expect_file
	[ "$GOT" = "$expect" ] || fail "dd: $GOT, expected $expect"
	if [ "$rw" = r ] && [ "$GOT" = ok ]; then
		[ "$DATA" = same ] || fail "the read returned wrong data"
	fi
	dev_logged "fault done $mode*" || fail "the device never acted on the fault"
	test_log
	log=$TEST_LOG
	if [ "$recovery" = - ]; then
		[[ $log =~ reset\ recovery|port\ reset ]] && fail "unexpected reset: $(ub_dmesg | tail -n 2)"
	else
		[[ $log =~ $recovery ]] || fail "no '$recovery' in the log: $(ub_dmesg | tail -n 2)"
	fi
	[[ $log == *"not even after a port reset"* ]] && fail "the device was given up"
	# A fault seen once is no evidence of a quirk.
	[[ $log == *"learned quirk"* ]] && fail "a quirk learned from one fault: $(logged_line 'learned quirk')"
	quirks=$(</sys/block/$DEV/device/quirks)
	[ -z "$quirks" ] || fail "device/quirks reads '$quirks'"
	if [ "$counter" != - ] && ! [ "$(<$stats/$counter)" -gt "$c0" ]; then
		fail "ub_stats/$counter stayed at $c0"
	fi
	rec=$(<$stats/recoveries)
	if [ "$recovery" = - ] || [[ $recovery != *reset* ]]; then
		[ "$rec" = "$rec0" ] || fail "ub_stats/recoveries went from $rec0 to $rec"
	else
		[ "$rec" -gt "$rec0" ] || fail "ub_stats/recoveries stayed at $rec0"
	fi
	[ "$IO_MS" -le $IO_BOUND_MS ] || fail "took $IO_MS ms, more than io_timeout allows ($IO_BOUND_MS)"
	# The next read: the device works after the fault, and nothing else changed.
	pattern_intact || fail "the next read failed, or the pattern at 1 MiB changed"
	test_end
done
# shellcheck disable=SC2086 # three numbers
stage_timeouts $stage_defaults || ktap_exit_fail_msg "cannot restore the stage timeouts"

# A SYNCHRONIZE CACHE answers once the cache is on the medium: seconds on a disk
# with a large cache. 6 s is more than csw_timeout_ms (5 s) and less than the
# flush's io_timeout (8 s): a slow flush is waited for, not reset.
test_begin "bot-device SYNCHRONIZE CACHE answered after 6 s: fsync waits for it, no timeout, no reset"
to0=$(ub_stat $DEV timeouts) rec0=$(ub_stat $DEV recoveries)
arm "fault slow-csw op=sync ms=6000"
t0=$(date +%s%N)
dd if=$W/wr of=/dev/$DEV bs=4k seek=300 oflag=direct conv=fsync status=none || fail "write + fsync failed"
ms=$((($(date +%s%N) - t0) / 1000000))
dev_logged "fault done slow-csw*" || fail "the device never delayed a SYNCHRONIZE CACHE"
[ "$ms" -ge 6000 ] || fail "fsync returned after $ms ms, before the device answered"
[ "$(ub_stat $DEV timeouts)" = "$to0" ] || fail "ub_stats/timeouts: $to0 -> $(ub_stat $DEV timeouts)"
[ "$(ub_stat $DEV recoveries)" = "$rec0" ] || fail "ub_stats/recoveries: $rec0 -> $(ub_stat $DEV recoveries)"
logged -E "timeout in CSW stage|reset recovery" && fail "the flush was reset: $(ub_dmesg | tail -n 2)"
test_end

# The stage timeouts are per device in sysfs, from the module parameters at bind.
# Each is shown to take effect: set to 500 ms, a stage the device leaves silent
# costs about that, where the default alone takes longer than the whole read may.
test_begin "bot-device stage timeouts in sysfs (cbw, data, csw): 500 ms makes a silent stage cost 0.5 s, not the default; bad values refused"
for spec in "cbw 3000 silent-cbw - CBW" "data 5000 silent-data read data" "csw 5000 silent-csw read CSW"; do
	read -r stage def mode op what <<<"$spec"
	knob=/sys/block/$DEV/device/${stage}_timeout_ms
	[ "$(rd $knob)" = "$def" ] || fail "${stage}_timeout_ms reads '$(rd $knob)', not the parameter's $def"
	echo 500 >$knob || fail "writing 500 to ${stage}_timeout_ms failed"
	[ "$(rd $knob)" = 500 ] || fail "${stage}_timeout_ms reads '$(rd $knob)' after writing 500"
	{ echo 50 >$knob; } 2>/dev/null && fail "${stage}_timeout_ms: 50 ms (below 100) was accepted"
	{ echo soon >$knob; } 2>/dev/null && fail "${stage}_timeout_ms: a word was accepted"
	[ "$(rd $knob)" = 500 ] || fail "a refused write changed ${stage}_timeout_ms to '$(rd $knob)'"
	dd if=$W/wr of=/dev/$DEV bs=4k seek=6 oflag=direct status=none || fail "setup write failed"
	n0=$(test_dmesg | grep -c "timeout in $what stage")
	if [ "$op" = - ]; then arm "fault $mode"; else arm "fault $mode op=$op"; fi
	io r 6
	[ "$GOT" = ok ] || fail "$mode: read: $GOT"
	cmp -s $W/rd $W/wr || fail "$mode: the read returned wrong data"
	# With the default, the silent stage alone takes $def ms.
	[ "$IO_MS" -lt "$def" ] || fail "$mode: the read took $IO_MS ms with ${stage}_timeout_ms=500"
	[ "$(test_dmesg | grep -c "timeout in $what stage")" -gt "$n0" ] || fail "no '$what' stage timeout line"
	echo "$def" >$knob || fail "writing $def back failed"
	ktap_print_msg "a silent $what stage with ${stage}_timeout_ms=500: $IO_MS ms"
done
test_end

# ctrl_timeout_ms bounds each control request of a recovery. A device that
# answers them 1.5 s late (slow-control) gets its Bulk-Only reset done with 3000,
# and timed out with the default 1000: a port reset follows, which this device,
# still answering a request the host gave up on, may not survive (the USB core
# then disconnects it). A new device serves the tests after this one.
test_begin "bot-device ctrl_timeout_ms in sysfs: a Bulk-Only reset answered after 1.5 s works at 3000, fails at the default 1000"
knob=/sys/block/$DEV/device/ctrl_timeout_ms
[ "$(rd $knob)" = 1000 ] || fail "ctrl_timeout_ms reads '$(rd $knob)', not the parameter's 1000"
echo 500 >/sys/block/$DEV/device/data_timeout_ms || fail "writing data_timeout_ms failed"
dd if=$W/wr of=/dev/$DEV bs=4k seek=6 oflag=direct status=none || fail "setup write failed"
for spec in "3000 device answers again" "1000 failed"; do
	read -r ms outcome <<<"$spec"
	echo "$ms" >$knob || fail "writing $ms to ctrl_timeout_ms failed"
	line="timeout in data stage; reset recovery: $outcome"
	n0=$(test_dmesg | grep -c "$line")
	arm "slow-control ms=1500"
	arm "fault silent-data op=read"
	io r 6
	[ "$ms" = 3000 ] && { [ "$GOT" = ok ] && cmp -s $W/rd $W/wr || fail "3000: read: $GOT"; }
	[ "$(test_dmesg | grep -c "$line")" -gt "$n0" ] || fail "$ms: no '$line' line: $(ub_dmesg | tail -n 2)"
	echo "slow-control ms=0" >$CTL
	ktap_print_msg "ctrl_timeout_ms=$ms, control requests answered after 1.5 s: reset recovery $outcome; the read: $GOT after $IO_MS ms"
done
[ -e /sys/block/$DEV ] && echo 5000 >/sys/block/$DEV/device/data_timeout_ms
stop_device >/dev/null
start_device || fail "the emulated device did not come back"
write_pattern || fail "cannot write the pattern"
test_end

test_begin "bot-device not ready for good: the read fails with EIO after bounded retries"
arm "fault not-ready op=read count=forever"
io r 7
[ "$GOT" = EIO ] || fail "dd: $GOT, expected EIO"
logged "sense NotReady 04/01" || fail "no NOT READY line"
[ "$IO_MS" -lt 5000 ] || fail "took $IO_MS ms"
echo clear >$CTL
nap 0.5
io r 7
[ "$GOT" = ok ] || fail "read after the device became ready: $GOT"
test_end

# A device whose firmware hung with its port still up answers nothing: no CSW, no
# control request, no enumeration after a port reset. Every I/O ends within
# io_timeout (the deadline, not the count of tries, bounds it); the port reset that
# fails gives the device up, and the USB core, which could not enumerate it
# again, disconnects it: the disk goes.
test_begin "bot-device mute device (no answer, not even to a port reset): pending I/O fails within io_timeout, the disk goes"
arm_mute() {
	local before
	before=$(grep -c '^fault armed mute' $DEVLOG)
	echo mute >$CTL
	wait_for 10 test "$(grep -c '^fault armed mute' $DEVLOG)" -gt "$before" || echo "mute not armed"
}
[ "$(rd /sys/block/$DEV/queue/io_timeout)" = 8000 ] || fail "queue/io_timeout is $(rd /sys/block/$DEV/queue/io_timeout), not the default 8000"
arm_mute
( nap 0.5; io r 9; echo "$GOT $IO_MS" >$W/bg1 ) &
bg=$!
io r 8
t_dead=$IO_MS
wait $bg
read -r bg_got bg_ms <$W/bg1
[ "$GOT" != ok ] || fail "the read of a mute device succeeded"
[ "$bg_got" != ok ] || fail "the queued read of a mute device succeeded"
[ "$t_dead" -le $IO_BOUND_MS ] || fail "the mute device took $t_dead ms to fail the I/O"
[ "${bg_ms:-99999}" -le $IO_BOUND_MS ] || fail "the queued read took $bg_ms ms to fail"
ktap_print_msg "mute device: read failed with $GOT after $t_dead ms, the queued one with $bg_got after $bg_ms ms"
wait_for 120 test ! -e "/sys/block/$DEV" || fail "$DEV still there 120 s after the device went mute"
logged "reset recovery: failed" || fail "no failed reset recovery line"
logged "port reset" || fail "no port reset line"
logged -E "not even after a port reset|released" || fail "neither given up nor released"
dev_logged 'event control-ignored*' || fail "ub sent the mute device no control request"
io r 10
[ "$GOT" != ok ] || fail "a read after the disk went succeeded"
echo clear >$CTL
stop_device
test_end

# reads_in_one_process BLOCK...: direct 4 KiB reads of the blocks, one after
# another from one open file (no process start between them); prints
# "RESULT MS" for each (RESULT ok or errnoN).
reads_in_one_process() {
	timeout 60 python3 -S -c '
import mmap, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT)
buf = mmap.mmap(-1, 4096)
for b in sys.argv[2:]:
    t0 = time.monotonic()
    try:
        os.preadv(fd, [buf], int(b) * 4096)
        res = "ok"
    except OSError as e:
        res = "errno%d" % e.errno
    print(res, int((time.monotonic() - t0) * 1000), end=" ")
' /dev/$DEV "$@"
}

# A reader that reads one block after another from a device that hangs on every
# read, with a recovery of its own between two reads: the request that failed
# is over before its recovery runs, and the next read, sent at once, waits for
# that recovery. The wait is not free: that read too ends within io_timeout of
# when it was sent. (The recovery is slow here: every control request of its
# Bulk-Only reset answered 700 ms late, 2 s in all.)
test_begin "bot-device reads back to back, each hanging, recovery between them: the read that waited for it ends within io_timeout too"
if start_device; then
	arm "slow-control ms=700"
	arm "fault silent-data op=read count=forever"
	out=$(reads_in_one_process 40 41)
	read -r got1 ms1 got2 ms2 <<<"$out"
	echo clear >$CTL
	ktap_print_msg "the first read: $got1 after $ms1 ms; the second, sent during the recovery after it: $got2 after $ms2 ms"
	[ -n "$got1" ] && [ "$got1" != ok ] || fail "the first read of a device silent on reads: '$out'"
	[ -n "$got2" ] && [ "$got2" != ok ] || fail "the second read of a device silent on reads: '$out'"
	[ "${ms1:-99999}" -le $IO_BOUND_MS ] || fail "the first read took $ms1 ms"
	[ "${ms2:-99999}" -le $IO_BOUND_MS ] || fail "the read that waited for the recovery took $ms2 ms"
	dev_logged 'event control-delayed*' || fail "no control request was answered late"
	logged "reset recovery: device answers again" || fail "no reset recovery that worked"
	logged "not even after a port reset" && fail "the device was given up"
	check_io 42; msg=$CHECK_IO
	[ -z "$msg" ] || fail "I/O after the device behaves again: $msg"
	stop_device >/dev/null
else
	fail "the emulated device did not come up"
fi
test_end

# A device given up (a port reset that failed: debug_fail_port_resets fails the
# first one without trying it, so the device stays connected, as one whose port
# reset failed but which the hub did not drop) is tried again by the first request
# after its 1 s backoff: a port reset, then a TEST UNIT READY, which have no
# deadline of their own. Here the device re-enumerates slowly (every control
# request answered 4 s late: the enumeration takes about 20 s): the request ends by
# its io_timeout all the same, and the device answers again after.
test_begin "bot-device given-up device: I/O fails at once during the backoff; re-enumerating slowly after it, the request that revives it ends within io_timeout, the device comes back"
rmmod ub || fail "rmmod ub"
insmod "$UB_KO" debug_fail_port_resets=1 || fail "insmod ub debug_fail_port_resets=1"
if start_device; then
	dd if=$W/wr of=/dev/$DEV bs=4k seek=30 oflag=direct status=none || fail "setup write failed"
	resets0=$(ub_stat $DEV port_resets)
	arm "fault silent-cbw count=forever"
	# Two reads back to back in one process: the first gives the device up,
	# the second comes within its 1 s backoff and must fail at once.
	out=$(reads_in_one_process 30 30)
	read -r got1 ms1 got2 ms2 <<<"$out"
	[ -n "$got1" ] && [ "$got1" != ok ] || fail "a read from a device that takes no CBW: '$out'"
	[ "${ms1:-99999}" -le $IO_BOUND_MS ] || fail "the read that gave the device up took $ms1 ms"
	[ -n "$got2" ] && [ "$got2" != ok ] || fail "the read during the backoff: '$out'"
	[ "${ms2:-99999}" -lt 500 ] || fail "the read during the backoff took $ms2 ms, not at once"
	logged "port reset not tried, failed as debug_fail_port_resets asks" || fail "the port reset was not failed"
	logged "not even after a port reset" || fail "the device was not given up"
	ktap_print_msg "given up: the read failed ($got1) after $ms1 ms, the next, during the backoff, ($got2) after $ms2 ms"
	echo clear >$CTL
	arm "slow-control ms=4000"
	nap 1.5
	io r 30
	revive_got=$GOT revive_ms=$IO_MS
	[ "$revive_got" != ok ] || fail "the read succeeded: the device re-enumerated faster than the test needs"
	[ "$revive_ms" -le $IO_BOUND_MS ] || fail "the read that revived the device took $revive_ms ms ($revive_got)"
	wait_for 60 eval 'logged "device answers again after a port reset"' ||
		fail "no 'device answers again' line"
	delayed=$(grep -c '^event control-delayed' $DEVLOG)
	echo "slow-control ms=0" >$CTL
	[ "$(ub_stat $DEV port_resets)" -gt "$resets0" ] || fail "ub_stats/port_resets stayed at $resets0"
	[ -e "/sys/block/$DEV" ] || fail "$DEV went"
	io r 30
	[ "$GOT" = ok ] || fail "the read after the device came back: $GOT"
	cmp -s $W/rd $W/wr || fail "the read after the device came back returned wrong data"
	ktap_print_msg "revive: the request ended with $revive_got after $revive_ms ms; $delayed control requests answered 4 s late"
	stop_device >/dev/null
else
	fail "the emulated device did not come up with debug_fail_port_resets=1"
fi
rmmod ub && insmod "$UB_KO" || fail "reloading ub with defaults"
test_end

# A USB hard disk that spun down answers NOT READY, INITIALIZING COMMAND REQUIRED
# (02/04/02) until it gets START STOP UNIT; sd's spin-up starts it, and so does ub,
# at probe and on I/O.
test_begin "bot-device spun-down disk (02/04/02): START STOP UNIT at probe and on a read, data intact"
start_device --arm "fault not-ready-until-start" || fail "no disk from a spun-down device"
dev_logged 'fault done not-ready-until-start*' || fail "the probe never started the unit"
dd if=$W/wr of=/dev/$DEV bs=4k seek=12 oflag=direct status=none || fail "write after the probe's spin-up failed"
arm "fault not-ready-until-start"
starts=$(grep -c '^cmd .* op=0x1b ' $DEVLOG)
io r 12
[ "$GOT" = ok ] || fail "read of a spun-down disk: $GOT"
cmp -s $W/rd $W/wr || fail "the read returned wrong data"
[ "$(grep -c '^cmd .* op=0x1b ' $DEVLOG)" -gt "$starts" ] || fail "no START STOP UNIT for the read"
logged "spinning up (START STOP UNIT)" || fail "no spin-up line"
stop_device >/dev/null
test_end

test_begin "bot-device disconnect in the data stage fails the write and removes the disk"
start_device || fail "the emulated device did not come back"
arm "fault disconnect-data op=write"
io w 20
[[ $GOT == EIO || $GOT == ENODEV ]] || fail "dd: $GOT, expected EIO or ENODEV"
wait_for 30 test ! -e "/sys/block/$DEV" || fail "$DEV still there"
logged "released" || fail "no released line"
wait "$BOT_PID" 2>/dev/null
BOT_PID=""
test_end

# Probe-time faults: the emulator arms them before it connects.
probe_fault() { # FAULT disk|nodisk LOGLINE [emulator options]
	local intf
	: >$DEVLOG
	"$BOT" --blocks 131072 --serial UBFAULT0 --control $CTL --log $DEVLOG --arm "$1" "${@:4}" >>$W/bot.out 2>&1 &
	BOT_PID=$!
	wait_for 60 dev_logged 'ready*' || { fail "device not configured"; return; }
	wait_for 30 eval 'intf=$(interface_by_serial UBFAULT0)' || { fail "no interface"; return; }
	DEV=""
	if [ "$2" = disk ]; then
		wait_for 60 eval 'DEV=$(ls /sys/bus/usb/devices/$intf/block 2>/dev/null | head -n 1); [ -n "$DEV" ]' ||
			fail "no disk"
	else
		wait_for 30 eval 'logged -E "$3"' || fail "no '$3' line"
		[ -z "$(ls /sys/bus/usb/devices/$intf/block 2>/dev/null)" ] || fail "a disk was made"
		[ "$(driver_of "$intf")" != ub ] || fail "ub stayed bound"
	fi
	[ -z "$3" ] || logged -E "$3" || fail "no '$3' line"
}

test_begin "bot-device absurd capacities at probe are refused with a log line, no disk"
for f in capacity-bs1 capacity-bs1m capacity-maxlba; do
	probe_fault "fault $f count=forever" nodisk "unusable READ CAPACITY data"
	stop_device >/dev/null
done
test_end

test_begin "bot-device capacity zero at probe is refused with a log line, no disk"
probe_fault "fault capacity-zero count=forever" nodisk "unusable READ CAPACITY data: Empty"
stop_device >/dev/null
test_end

test_begin "bot-device a non-standard CSW signature from the first CSW is learned"
probe_fault "fault alt-signature sig=olympus count=forever" disk "signs its CSWs 0x55425355"
head -c 4096 /dev/urandom >$W/wr
dd if=$W/wr of=/dev/$DEV bs=4k seek=3 oflag=direct status=none || fail "write failed"
io r 3
[ "$GOT" = ok ] && cmp -s $W/rd $W/wr || fail "read back failed: $GOT"
stop_device >/dev/null
test_end

# A residue reported for a complete INQUIRY is usb-storage's sign of a device
# whose residues are bogus: quirk r, learned.
test_begin "bot-device bogus residue on INQUIRY: quirk r learned, residues ignored, reads work"
probe_fault "fault bogus-residue op=inquiry" disk \
	"learned quirk r: residue [0-9]+ reported for a complete INQUIRY, residues ignored; quirks=1d6b:0104:r makes it permanent"
[ "$(test_dmesg | grep -c 'learned quirk')" = 1 ] || fail "learned lines: $(test_dmesg | grep 'learned quirk')"
[ "$(rd /sys/block/$DEV/device/quirks)" = "learned: r" ] || fail "device/quirks reads '$(rd /sys/block/$DEV/device/quirks)'"
arm "fault bogus-residue op=read"
io r 2
[ "$GOT" = ok ] || fail "read with a bogus residue failed: $GOT"
stop_device >/dev/null
test_end

test_begin "bot-device without Bulk-Only reset: a timeout at probe is recovered by a port reset"
# The probe holds the USB device lock: the port reset must not wait for it.
probe_fault "fault silent-csw op=inquiry" disk "INQUIRY .*timeout in CSW stage; port reset: device answers again" --no-bulk-reset
dev_logged 'event bulk-reset refused*' || fail "ub never tried the Bulk-Only reset"
dev_logged 'event port-reset*' || fail "the device saw no port reset"
logged "reset recovery: failed" || fail "no failed reset recovery line"
logged "not even after a port reset" && fail "the device was given up"
if [ -n "$DEV" ]; then
	write_pattern || fail "write after the probe-time reset failed"
	pattern_intact || fail "read back after the probe-time reset failed"
fi
stop_device >/dev/null
test_end

# A SAT bridge (most USB hard disk enclosures) passes ATA commands through
# SG_IO. SMART RETURN STATUS answers with its registers in 22 bytes of
# descriptor sense, which a REQUEST SENSE of 18 bytes cuts off: ub asks for 96
# once the device has completed an ATA PASS-THROUGH (as usb-storage does), and
# for the auto-sense of an ATA PASS-THROUGH itself (usb-storage does not: the
# first CK_COND command, sg_raw's below, would lose its registers).
test_begin "bot-device SAT bridge: smartctl -d sat -H -i prints the model and PASSED, REQUEST SENSE of 96 bytes"
start_device || fail "no disk"
# SMART RETURN STATUS with CK_COND through SG_IO: the whole ATA Status Return
# descriptor, LBA mid/high 4Fh/C2h ("healthy"), reaches the caller.
out=$(sg_raw -v /dev/$DEV 85 06 20 00 da 00 00 00 00 00 4f 00 c2 00 b0 00 2>&1)
echo "$out" | grep -q 'lba=0xc24f00' ||
	fail "SMART RETURN STATUS registers: $(echo "$out" | grep -A2 'ATA Status Return' | tr -s ' \n' ' ')"
out=$(smartctl -d sat -H -i /dev/$DEV 2>&1)
rc=$?
echo "$out" | grep -q "^Device Model: *UBTEST BOT FAULTS$" || fail "no model: $(echo "$out" | tail -n 4)"
echo "$out" | grep -q "^Serial Number: *UBFAULT0$" || fail "no serial number"
echo "$out" | grep -q "^User Capacity: *67,108,864 bytes" || fail "no capacity"
echo "$out" | grep -q "SMART overall-health self-assessment test result: PASSED" ||
	fail "health not PASSED: $(echo "$out" | tail -n 3)"
# From SMART RETURN STATUS's registers, not smartctl's fallback to the
# attributes when the registers are cut off.
echo "$out" | grep -q -i -E "attribute check|registers missing|not supported" &&
	fail "health not from the registers: $(echo "$out" | grep -i -E 'attribute check|registers missing|not supported' | head -n 2)"
# smartctl's exit status: bit 1 open failed, bit 2 a SMART command failed, bit 3 failing.
[ $((rc & 0x0e)) = 0 ] || fail "smartctl -H -i exit status $rc"
echo "$out" | grep -E '^(Device Model|Serial Number|User Capacity|SMART overall)' | while IFS= read -r l; do ktap_print_msg "smartctl: $l"; done
dev_logged 'cmd * op=0x03 * len=96 *' || fail "no REQUEST SENSE of 96 bytes"
out=$(smartctl -d sat -a /dev/$DEV 2>&1)
rc=$?
echo "$out" | grep -q "Power_On_Hours .* 1234$" || fail "-a: no attributes: $(echo "$out" | tail -n 4)"
[ $((rc & 0x0e)) = 0 ] || fail "smartctl -a exit status $rc: $(echo "$out" | grep -i -E 'fail|error|not supported' | head -n 3)"
stop_device >/dev/null
test_end

# A disk with a bad block: as sd, ub completes the blocks before the one the
# sense data's INFORMATION names and fails only the rest. A reader sees it when
# one request carries several I/Os: 32 direct 4 KiB I/Os submitted at once are
# merged into one 128 KiB request. partial_fio read|write prints how many of them
# failed (EIO and ENODATA, a read's medium error, both counted: fio stops at
# other errors).
partial_fio() {
	rm -f $W/partial.json
	fio --name=partial --filename=/dev/$DEV --rw=$1 --bs=4k --size=128k --offset=2m \
		--ioengine=libaio --direct=1 --iodepth=32 --iodepth_batch_submit=32 \
		--iodepth_batch_complete_min=32 --continue_on_error=all --ignore_error=5:61,5:61 \
		--buffer_pattern='"ub-partial"' \
		--output-format=json --output=$W/partial.json >$W/partial.err 2>&1
	python3 -S -c 'import json, sys; print(json.load(open(sys.argv[1]))["jobs"][0]["total_err"])' \
		$W/partial.json 2>/dev/null || echo "no fio result: $(tail -n 2 $W/partial.err)"
}

test_begin "bot-device bad block in a 128 KiB request: the 5 I/Os before it complete, 27 fail (sense INFORMATION)"
# LBA 4136: sector 40 of the request at 2 MiB, inside its sixth 4 KiB block.
start_device --bad-block 4136 || fail "no disk"
head -c $((5 * 4096)) /dev/urandom >$W/good5
dd if=$W/good5 of=/dev/$DEV bs=4k seek=512 oflag=direct status=none || fail "setup write failed"
errs=$(partial_fio read)
[ "$errs" = 27 ] || fail "read: $errs of 32 I/Os failed, expected the 27 from the bad block on"
logged "read at sector 4096 failed at sector 4136 (the 40 sectors before it completed): sense MediumError 11/00" ||
	fail "no line naming the bad sector: $(ub_dmesg | tail -n 1)"
errs=$(partial_fio write)
[ "$errs" = 27 ] || fail "write: $errs of 32 I/Os failed, expected 27"
logged "write at sector 4096 failed at sector 4136 (the 40 sectors before it completed): sense MediumError 0c/00" ||
	fail "no line naming the bad sector of the write: $(ub_dmesg | tail -n 1)"
python3 -S -c 'import sys; sys.stdout.buffer.write((b"ub-partial" * 410)[:4096] * 5)' >$W/pat5
dd if=/dev/$DEV of=$W/back5 bs=4k skip=512 count=5 iflag=direct status=none || fail "read back failed"
cmp -s $W/back5 $W/pat5 || fail "the 5 blocks before the bad one do not hold the written data"
stop_device >/dev/null
test_end

# The random I/O of the random-response test: one process, 4 KiB O_DIRECT reads
# and writes at random in the first 16 MiB, each timed around its system call.
# It remembers what each block holds (what the last successful write put there;
# a failed write leaves its block unknown) and checks every successful read of a
# known block against it: a read that succeeds with wrong data, here or in a
# neighbour, is the worst thing a driver can do. "run" stops after SECONDS or
# once the device has seen COMMANDS commands (its log), or when the disk
# vanishes; "verify" reads back every known block. Prints "key value" lines.
RANDOM_IO_PY='
import errno, mmap, os, pickle, sys, time
mode, dev, state = sys.argv[1], sys.argv[2], sys.argv[3]
BS, BLOCKS = 4096, 4096
buf = mmap.mmap(-1, BS)
fd = os.open("/dev/" + dev, os.O_RDWR | os.O_DIRECT)
def out(k, v):
    print(k, v, flush=True)
if mode == "verify":
    known = pickle.load(open(state, "rb"))
    bad = []
    for b, data in sorted(known.items()):
        os.preadv(fd, [buf], b * BS)
        if buf[:] != data:
            bad.append(b)
    out("verified", len(known))
    out("mismatches", len(bad))
    if bad:
        out("bad_blocks", " ".join(map(str, bad[:20])))
    sys.exit(0)
seconds, commands, devlog, seed = float(sys.argv[4]), int(sys.argv[5]), sys.argv[6], int(sys.argv[7])
import random
rnd = random.Random(seed)
known, ok, errs, worst, slow, corrupt, seen = {}, 0, {}, 0.0, 0, 0, 0
log = open(devlog, "rb")
log.seek(0, 2)
end = time.monotonic() + seconds
vanished = False
n = 0
while time.monotonic() < end:
    n += 1
    if n % 20 == 0:
        seen += log.read().count(b"\ncmd ")
        if seen >= commands:
            break
        if not os.path.exists("/sys/block/" + dev):
            vanished = True
            break
    b = rnd.randrange(BLOCKS)
    write = rnd.random() < 0.5
    if write:
        data = rnd.randbytes(BS)
        buf[:] = data
    t0 = time.monotonic()
    try:
        if write:
            os.pwrite(fd, buf, b * BS)
        else:
            os.preadv(fd, [buf], b * BS)
        res = None
    except OSError as e:
        res = errno.errorcode.get(e.errno, str(e.errno))
    dt = time.monotonic() - t0
    worst = max(worst, dt)
    if dt >= 5:
        slow += 1
    if res is None:
        ok += 1
        if write:
            known[b] = data
        elif b in known and buf[:] != known[b]:
            corrupt += 1
            known[b] = buf[:]
    else:
        errs[res] = errs.get(res, 0) + 1
        if write:
            known.pop(b, None)
pickle.dump(known, open(state, "wb"))
out("ios", n)
out("ok", ok)
out("errors", " ".join(f"{k}:{v}" for k, v in sorted(errs.items())) or "none")
out("slowest_ms", int(worst * 1000))
out("over_5s", slow)
out("corrupt", corrupt)
out("vanished", int(vanished))
'

# A device that misbehaves on a share of its commands at random, as a marginal
# cable or a buggy bridge does: every I/O ends (data or error) within io_timeout, the
# disk is never given up or lost while the device answers, no successful read
# returns wrong data, and once the device behaves the same disk works without a
# rebind. UB_RANDOM_RATE (default 30) is the percentage of commands that
# misbehave, UB_RANDOM_SEED the seed; UB_RANDOM_FAST=1 shortens the stage
# timeouts (soaks: more commands per hour; the bound holds either way).
random_rate=${UB_RANDOM_RATE:-30}
random_seed=${UB_RANDOM_SEED:-1}
test_begin "bot-device random responses (seed $random_seed, $random_rate % of commands): every I/O ends within io_timeout, the disk stays, data intact"
if [ "${UB_RANDOM_FAST:-0}" = 1 ]; then
	rmmod ub || fail "rmmod"
	insmod "$UB_KO" cbw_timeout_ms=300 data_timeout_ms=500 csw_timeout_ms=500 ctrl_timeout_ms=200 || fail "insmod"
fi
start_device || fail "the emulated device did not come up"
b0=$(ub_stat $DEV bulk_resets) p0=$(ub_stat $DEV port_resets) d0=$(ub_stat $DEV dead)
mark=$(wc -l <$DEVLOG)
echo "random seed=$random_seed count=forever rate=$random_rate" >$CTL
t0=$EPOCHSECONDS
timeout $((random_seconds + 120)) python3 -S -c "$RANDOM_IO_PY" run "$DEV" $W/known "$random_seconds" \
	"$random_commands" $DEVLOG "$random_seed" >$W/random.out 2>&1
rc=$?
echo clear >$CTL
[ $rc = 124 ] && fail "an I/O hung (no end 120 s after the run's time)"
[ $rc = 0 ] || [ $rc = 124 ] || fail "the I/O process failed: $(tail -n 2 $W/random.out)"
declare -A R=()
while read -r k v; do R[$k]=$v; done <$W/random.out
cmds=$(tail -n +$((mark + 1)) $DEVLOG | grep -c '^cmd ')
faults=$(tail -n +$((mark + 1)) $DEVLOG | grep '^random ' | grep -vc 'pick=none')
bulk=$(($(ub_stat $DEV bulk_resets) - b0)) port=$(($(ub_stat $DEV port_resets) - p0))
ktap_print_msg "seed $random_seed rate $random_rate%: $cmds commands, $faults faults, ${R[ios]:-?} I/Os in $((EPOCHSECONDS - t0)) s: ${R[ok]:-?} ok, errors ${R[errors]:-?}; slowest ${R[slowest_ms]:-?} ms; $((bulk + port)) resets ($bulk Bulk-Only, $port port), $(((bulk + port) * 100 / (faults > 0 ? faults : 1))) per 100 faults"
[ "${R[slowest_ms]:-99999}" -le $IO_BOUND_MS ] || fail "an I/O took ${R[slowest_ms]:-?} ms"
[ "${R[corrupt]:-1}" = 0 ] || fail "${R[corrupt]:-?} reads returned wrong data"
[ "${R[vanished]:-1}" = 0 ] || fail "the disk vanished while the device still answered"
[ "$(ub_stat $DEV dead)" = "$d0" ] || fail "the device was given up: $(test_dmesg | grep 'not answering' | tail -n 1)"
[ "${R[ok]:-0}" -gt 0 ] || fail "no I/O succeeded"
[ "$cmds" -ge 100 ] || fail "only $cmds commands in $random_seconds s"
# The faults have stopped: the same disk, no rebind, must hold the data written
# during the run (checked first: the pattern below lies in the random region) and
# take new writes.
if [ -e "/sys/block/$DEV" ]; then
	out=$(timeout 300 python3 -S -c "$RANDOM_IO_PY" verify "$DEV" $W/known 2>&1)
	[[ $out == *"mismatches 0"* ]] || fail "blocks written during the run read back wrong: $out"
	ktap_print_msg "after the run: ${out//$'\n'/, }"
	write_pattern || fail "write after the random run failed"
	pattern_intact || fail "read back after the random run failed"
else
	fail "no disk after the random run"
fi
stop_device >/dev/null
test_end

# The tests below run with short timeouts.
rmmod ub || ktap_print_msg "rmmod ub failed"
insmod "$UB_KO" cbw_timeout_ms=300 data_timeout_ms=500 csw_timeout_ms=500 ctrl_timeout_ms=200 ||
	ktap_print_msg "insmod ub with short timeouts failed"
test_begin "bot-device recovered error that moves no data on every try: reads and writes fail with EIO"
start_device || fail "the emulated device did not come up"
head -c 4096 /dev/urandom >$W/old
dd if=$W/old of=/dev/$DEV bs=4k seek=40 oflag=direct status=none || fail "setup write failed"
arm "fault recovered-error op=read count=forever"
io r 40
[ "$GOT" = EIO ] || fail "read: $GOT, expected EIO (the device moved no data)"
echo clear >$CTL
head -c 4096 /dev/urandom >$W/wr
arm "fault recovered-error op=write count=forever"
io w 40
[ "$GOT" = EIO ] || fail "write: $GOT, expected EIO (the device stored nothing)"
echo clear >$CTL
io r 40
[ "$GOT" = ok ] || fail "read after the fault: $GOT"
cmp -s $W/rd $W/old || fail "the block changed although the device stored nothing"
logged "sense RecoveredError 17/01, data missing" || fail "no line naming the missing data"
test_end

test_begin "bot-device 10 s of failing reads: a bounded number of log lines, every error counted"
c0=$(ub_stat $DEV check_conditions)
arm "fault medium-error op=read count=forever"
# One process reading for 10 s, whatever each read returns.
timeout 60 python3 -S -c '
import mmap, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT)
buf, end, n = mmap.mmap(-1, 4096), time.monotonic() + 10, 0
while time.monotonic() < end:
    try:
        os.preadv(fd, [buf], (n % 256) * 4096)
    except OSError:
        pass
    n += 1
' /dev/$DEV
echo clear >$CTL
errors=$(($(ub_stat $DEV check_conditions) - c0))
lines=$(ub_dmesg | wc -l)
ktap_print_msg "$errors failed reads in 10 s, $lines ub log lines"
[ "$errors" -ge 20 ] || fail "only $errors check conditions counted"
# 10 lines per 5 s, plus a note of what was suppressed.
[ "$lines" -le 40 ] || fail "$lines log lines for $errors errors: $(ub_dmesg | tail -n 2)"
logged "I/O error messages suppressed" || fail "no line counting the suppressed messages"
test_end

# The interface goes to the next driver (usb-storage) at once, as when a user moves
# it: from then on the endpoints are enabled again, and a door lock that was still
# waiting for ub's transport would send its command into the other driver's traffic.
test_begin "bot-device unbind while two door-lock ioctls wait on a silent device: nothing sent after it"
intf=$(interface_by_serial UBFAULT0)
modprobe usb-storage || fail "modprobe usb-storage failed"
arm "fault silent-data op=0x1e count=forever"
( eject -i on /dev/$DEV >/dev/null 2>&1; echo $? >$W/lock1 ) &
l1=$!
nap 0.3
( eject -i on /dev/$DEV >/dev/null 2>&1; echo $? >$W/lock2 ) &
l2=$!
nap 0.5
t0=$(now_ms)
echo "$intf" >/sys/bus/usb/drivers/ub/unbind || fail "unbind failed"
t_unbind=$(($(now_ms) - t0))
mark=$(grep -c '^cmd ' $DEVLOG)
echo "$intf" >/sys/bus/usb/drivers/usb-storage/bind || fail "bind to usb-storage failed"
wait_for 30 eval '! kill -0 $l1 2>/dev/null && ! kill -0 $l2 2>/dev/null' || fail "an ioctl still waits 30 s after the unbind"
nap 1
# usb-storage probes with its own commands; a door lock (0x1e) is only ub's.
locks=$(grep '^cmd ' $DEVLOG | tail -n +$((mark + 1)) | grep -c 'op=0x1e')
[ "$locks" = 0 ] || fail "$locks door lock(s) reached the device after the unbind: $(grep '^cmd .*op=0x1e' $DEVLOG | tail -n 1)"
[ "$(driver_of "$intf")" = usb-storage ] || fail "$intf is bound to '$(driver_of "$intf")', not usb-storage"
[ "$(rd $W/lock2)" != 0 ] || fail "the second door lock succeeded after the unbind"
test_dmesg | grep -q "ub $intf: released$" || fail "no released line"
ktap_print_msg "unbind took $t_unbind ms (it waits for the command in flight)"
echo clear >$CTL
stop_device >/dev/null
rmmod usb-storage || fail "rmmod usb-storage failed"
test_end

test_begin "bot-device short INQUIRY strings: vendor, model and rev read exactly what the device sent"
start_device --vendor AB --product X || fail "the emulated device did not come up"
intf=$(interface_by_serial UBFAULT0)
d=/sys/bus/usb/devices/$intf
[ "$(cat $d/vendor 2>/dev/null | od -An -c | tr -d ' ')" = 'AB\n' ] || fail "vendor: $(od -An -c $d/vendor)"
[ "$(cat $d/model 2>/dev/null | od -An -c | tr -d ' ')" = 'X\n' ] || fail "model: $(od -An -c $d/model)"
[ "$(cat /sys/block/$DEV/ub/vendor 2>/dev/null | od -An -c | tr -d ' ')" = 'AB\n' ] || fail "ub/vendor: $(od -An -c /sys/block/$DEV/ub/vendor)"
[ "$(cat /sys/block/$DEV/ub/model 2>/dev/null | od -An -c | tr -d ' ')" = 'X\n' ] || fail "ub/model: $(od -An -c /sys/block/$DEV/ub/model)"
stop_device >/dev/null
test_end

# A host controller that queues a read's data behind its CBW (xHCI; dummy_hcd with
# is_super_speed=1 says it is one) sees the data and the CSW complete before the
# CBW when the device answers early: the command must not count as done with its
# CBW transfer still in flight (the next command would reuse it).
test_begin "bot-device super-speed dummy_hcd, data and CSW before the CBW: the read is retried, data intact"
# Default timeouts again: the device holds its CBW back 300 ms after an early answer.
rmmod ub && insmod "$UB_KO" || fail "reloading ub with defaults"
rmmod dummy_hcd && modprobe dummy_hcd is_super_speed=1 || fail "cannot reload dummy_hcd for super speed"
start_device || fail "the emulated device did not come up"
head -c 65536 /dev/urandom >$W/seq
dd if=$W/seq of=/dev/$DEV bs=64k seek=50 oflag=direct status=none || fail "setup write failed"
arm "fault early-answer op=read count=4"
dd if=/dev/$DEV of=$W/seqback bs=4k skip=800 count=16 iflag=direct status=none || fail "the reads failed"
cmp -s $W/seq $W/seqback || fail "the reads returned wrong data"
dev_logged 'early * sent*' || fail "the host never took an early answer (data not queued behind the CBW?): $(grep '^early' $DEVLOG | tail -n 2)"
# Each early answer costs its command one Bulk-Only reset. A CBW URB left in flight
# makes the next command fail too, and recovery escalates to port resets.
logged -E "port reset|still not answering" &&
	fail "the early answers escalated: $(test_dmesg | grep -E 'port reset|still not answering' | tail -n 1)"
stop_device >/dev/null
test_end


ktap_finished
