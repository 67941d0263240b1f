#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Power management: an idle ub disk is runtime-suspended with power/control=auto
# and resumed by the next I/O; a mounted ext4 written in bursts across suspends
# keeps its data; with the USB core's RESET_RESUME quirk every resume is a
# reset-resume (the device was reset, as after a system sleep that cut its power)
# and I/O goes on with the data intact.
#
# System sleep (S3) is ub_sleep.sh's, last in its boot: it breaks the 9p root.
#
# Guest devices: pm0 (usb-storage, 32 MiB). Needs the monitor agent (replug).

. "$(dirname "$0")/lib.sh"

ktap_print_header
ktap_set_plan 3

MNT=/tmp/ub-pm
load_ub_and_wait || ktap_exit_fail_msg "$(count_ub_disks) ub disks for: $UB_DISKS"
pm=$(disk_by_label pm0) || ktap_exit_fail_msg "no disk for pm0"
serial=$(<"$(usb_dev_of $pm)/serial")

autosuspend() { # autosuspend DISK on|off
	local u
	u=$(usb_dev_of $1)
	if [ "$2" = on ]; then
		echo 200 >$u/power/autosuspend_delay_ms
		echo auto >$u/power/control
	else
		echo on >$u/power/control
	fi
}

status_is() { # status_is DISK suspended|active
	[ "$(<"$(usb_dev_of $1)/power/runtime_status")" = "$2" ]
}

# write_files DIR N: N files of random data, synced; their sums in DIR.sums.
write_files() {
	local i
	for i in $(seq "$2"); do
		head -c $((256 << 10)) /dev/urandom >"$1/f$i.$RANDOM" || return 1
		sync -f "$1" || return 1
		# Idle long enough for an autosuspend between bursts.
		nap 1
	done
	(cd "$1" && md5sum f* >"$1.sums")
}

test_begin "runtime autosuspend of an idle disk, resumed by the next read, data intact"
write_readback $pm $((1 << 20)) $((1 << 20)) >/tmp/pm.err || fail "$(</tmp/pm.err)"
s0=$(ub_stat $pm suspends) r0=$(ub_stat $pm resumes)
autosuspend $pm on
wait_for 20 status_is $pm suspended || fail "not suspended: $(<"$(usb_dev_of $pm)/power/runtime_status")"
[ "$(ub_stat $pm suspends)" -gt "$s0" ] || fail "ub_stats/suspends stayed at $s0"
dd if=/dev/$pm of=/tmp/pm.back bs=1M skip=1 count=1 iflag=direct status=none || fail "read failed"
cmp -s /tmp/wr.pat /tmp/pm.back || fail "data read after resume differs"
[ "$(ub_stat $pm resumes)" -gt "$r0" ] || fail "ub_stats/resumes stayed at $r0"
autosuspend $pm off
status_is $pm active || fail "still suspended with power/control=on"
test_end

test_begin "mounted ext4 written in bursts across autosuspends: files intact after remount, fsck clean"
mkdir -p $MNT
mkfs.ext4 -q -F /dev/$pm || fail "mkfs failed"
mount /dev/$pm $MNT || fail "mount failed"
s0=$(ub_stat $pm suspends)
autosuspend $pm on
write_files $MNT 5 || fail "writing failed"
umount $MNT || fail "umount failed"
wait_for 20 status_is $pm suspended || fail "not suspended after umount"
[ "$(ub_stat $pm suspends)" -ge $((s0 + 3)) ] || fail "only $(($(ub_stat $pm suspends) - s0)) suspends during the bursts"
mount /dev/$pm $MNT || fail "remount failed"
(cd $MNT && md5sum -c --quiet $MNT.sums) || fail "files differ after remount"
umount $MNT
autosuspend $pm off
fsck.ext4 -fn /dev/$pm >/tmp/pm.fsck 2>&1 || fail "fsck: $(tail -n 3 /tmp/pm.fsck)"
test_end

test_begin "reset-resume (USB quirk RESET_RESUME): I/O after each autoresume, files intact"
# The quirk applies to devices enumerated after it is set, and is looked up again at
# each reset: set it, plug pm0 again, and clear it only at the end.
vidpid="$(<"$(usb_dev_of $pm)/idVendor"):$(<"$(usb_dev_of $pm)/idProduct")"
echo "$vidpid:b" >/sys/module/usbcore/parameters/quirks
monitor unplug pm0 >/dev/null
wait_for 20 test ! -e /sys/block/$pm || fail "pm0 did not go"
monitor replug pm0 >/dev/null
wait_for 30 disk_by_serial $serial >/dev/null || fail "pm0 did not come back"
pm=$(disk_by_serial $serial)
rr0=$(ub_stat $pm reset_resumes)
autosuspend $pm on
for round in 1 2 3; do
	wait_for 20 status_is $pm suspended || fail "round $round: not suspended"
	mount /dev/$pm $MNT || { fail "round $round: mount failed"; break; }
	(cd $MNT && md5sum -c --quiet $MNT.sums) || fail "round $round: files differ"
	write_files $MNT 1 || fail "round $round: writing failed"
	umount $MNT
done
autosuspend $pm off
# Only now: a reset-resume looks the device's quirks up again.
echo "" >/sys/module/usbcore/parameters/quirks
rr=$(ub_stat $pm reset_resumes)
[ "$rr" -ge $((rr0 + 3)) ] || fail "ub_stats/reset_resumes: $rr0 -> $rr"
[ "$(ub_stat $pm resumes)" = 0 ] || fail "plain resumes with the quirk: $(ub_stat $pm resumes)"
fsck.ext4 -fn /dev/$pm >/tmp/pm.fsck 2>&1 || fail "fsck: $(tail -n 3 /tmp/pm.fsck)"
test_end

ktap_finished
