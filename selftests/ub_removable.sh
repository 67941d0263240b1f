#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Removable media: a removable usb-storage disk (INQUIRY RMB) is a removable ub
# disk that reports media changes through the block layer's disk events. The
# eject ioctl (the eject tool) sends START STOP UNIT and the medium goes; a medium
# pulled from outside (the QEMU monitor's eject) is noticed; opening a disk without
# a medium fails with ENOMEDIUM (O_NDELAY opens still work, for eject and polling)
# and its size is 0; a new medium of another size (the monitor's change) gets its
# capacity revalidated at the next open, with its own data readable.
#
# Guest devices: rem0 (usb-storage, removable, 16 MiB, named drive drv-rem0) and
# its second medium $UB_RUNDIR/rem0.media2.img (32 MiB, label ub-image:rem0.media2).

. "$(dirname "$0")/lib.sh"

ktap_print_header
ktap_set_plan 5

load_ub_and_wait || ktap_exit_fail_msg "$(count_ub_disks) ub disks for: $UB_DISKS"
dev=$(disk_by_label rem0) || ktap_exit_fail_msg "no disk for rem0"
media2=$UB_RUNDIR/rem0.media2.img
# Poll for media changes every half second, as udisks would set it up.
echo 500 >/sys/block/$dev/events_poll_msecs

# read_label: the label at the start of the disk, or the error dd gives.
read_label() {
	local err
	err=$(dd if=/dev/$dev of=/tmp/label.bin bs=512 count=1 iflag=direct status=none 2>&1) ||
		{ echo "$err"; return; }
	head -c 32 /tmp/label.bin | tr -d '\0'
}

# eject_ioctl: eject(1) (CDROM_LOCKDOOR 0, then CDROMEJECT on an O_NONBLOCK
# open); without it, the same two ioctls from python.
eject_ioctl() {
	if command -v eject >/dev/null; then
		eject -r "/dev/$dev" 2>&1
	else
		python3 -c "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK); fcntl.ioctl(fd, 0x5329, 0); fcntl.ioctl(fd, 0x5309)" "/dev/$dev" 2>&1
	fi
}

test_begin "removable usb-storage is a removable disk with media change events"
[ "$(cat /sys/block/$dev/removable)" = 1 ] || fail "/sys/block/$dev/removable is $(cat /sys/block/$dev/removable)"
grep -qw media_change /sys/block/$dev/events || fail "events: '$(cat /sys/block/$dev/events)'"
dmesg | grep -q "ub: $dev: .*, removable, " || fail "the disk line does not say removable"
[ "$(read_label)" = "ub-image:rem0" ] || fail "label: $(read_label)"
test_end

test_begin "eject ioctl sends START STOP UNIT: no medium, open fails with ENOMEDIUM, size 0"
out=$(eject_ioctl) || fail "eject failed: $out"
out=$(read_label)
[[ $out == *"No medium found"* ]] || fail "read after eject: '$out', expected ENOMEDIUM"
[ "$(cat /sys/block/$dev/size)" = 0 ] || fail "size $(cat /sys/block/$dev/size) after eject"
test_dmesg | grep -q "ub: .*: no medium" || fail "no 'no medium' line"
test_end

test_begin "a new medium of another size (monitor change): new capacity and its data after reopen"
out=$(monitor "change drv-rem0 $media2 raw")
[ -z "$(echo "$out" | grep -i error)" ] || fail "change: $out"
wait_for 20 eval '[ "$(read_label)" = "ub-image:rem0.media2" ]' || fail "label after change: '$(read_label)'"
[ "$(cat /sys/block/$dev/size)" = 65536 ] || fail "size $(cat /sys/block/$dev/size), expected 65536 (32 MiB)"
test_dmesg | grep -q "new medium: 65536 512-byte blocks (32 MiB)" || fail "no 'new medium' line"
msg=$(write_readback "$dev" 16777216 65536) || fail "$msg"
test_end

test_begin "a medium pulled from outside (monitor eject) is noticed: ENOMEDIUM, size 0"
out=$(monitor "eject -f drv-rem0")
[ -z "$(echo "$out" | grep -i error)" ] || fail "eject: $out"
wait_for 20 eval '[[ "$(read_label)" == *"No medium found"* ]]' || fail "read after the medium went: '$(read_label)'"
[ "$(cat /sys/block/$dev/size)" = 0 ] || fail "size $(cat /sys/block/$dev/size)"
test_end

test_begin "the first medium back: its size and label again"
out=$(monitor "change drv-rem0 $UB_RUNDIR/rem0.img raw")
wait_for 20 eval '[ "$(read_label)" = "ub-image:rem0" ]' || fail "label: '$(read_label)'"
[ "$(cat /sys/block/$dev/size)" = 32768 ] || fail "size $(cat /sys/block/$dev/size), expected 32768"
test_end

ktap_finished
