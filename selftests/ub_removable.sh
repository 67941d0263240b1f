#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Removable media: a removable usb-storage disk (INQUIRY RMB) is a removable ub
# disk that reports media changes through the block layer's disk events. The
# eject ioctl (the eject tool) sends START STOP UNIT and the medium goes; a medium
# pulled from outside (the QEMU monitor's eject) is noticed; opening a disk without
# a medium fails with ENOMEDIUM (O_NDELAY opens still work, for eject and polling)
# and its size is 0; a new medium of another size (the monitor's change) gets its
# capacity revalidated at the next open, with its own data readable. A medium
# changed under an open disk fails that open's I/O with EIO until the disk is opened
# again (as sd does): nothing queued for the old medium lands on the new one. A
# reader probed empty takes the write cache of the medium it is given: the queue
# says "write back" and fsync reaches the device as SYNCHRONIZE CACHE. With the
# block layer's default polling on (2 s, as udev sets it), an idle reader that
# nobody holds open and that autosuspends between polls reports a new and a
# pulled medium as media-change uevents.
#
# Guest devices: rem0 (usb-storage, removable, 16 MiB, named drive drv-rem0) and
# its second medium $UB_RUNDIR/rem0.media2.img (32 MiB, label ub-image:rem0.media2);
# rem1 (usb-bot, no medium, serial UBREM1, named drive drv-rem1) and the medium to
# give it, $UB_RUNDIR/rem1.media2.img (16 MiB, label ub-image:rem1.media2; QEMU's
# scsi-hd has its write cache on).

. "$(dirname "$0")/lib.sh"

ktap_print_header
ktap_set_plan 8

load_ub_and_wait || ktap_exit_fail_msg "$(count_ub_disks) ub disks for: $UB_DISKS"
dev=$(disk_by_label rem0) || ktap_exit_fail_msg "no disk for rem0"
media2=$UB_RUNDIR/rem0.media2.img
# Poll for media changes every half second, as udisks would set it up.
echo 500 >/sys/block/$dev/events_poll_msecs

# read_label [DEV]: the label at the start of the disk, or the error dd gives.
read_label() {
	local err
	err=$(dd if=/dev/${1:-$dev} of=/tmp/label.bin bs=512 count=1 iflag=direct status=none 2>&1) ||
		{ echo "$err"; return; }
	head -c 32 /tmp/label.bin | tr -d '\0'
}

# eject_ioctl: eject(1) (CDROM_LOCKDOOR 0, then CDROMEJECT on an O_NONBLOCK
# open); without it, the same two ioctls from python.
eject_ioctl() {
	if command -v eject >/dev/null; then
		eject -r "/dev/$dev" 2>&1
	else
		python3 -S -c "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK); fcntl.ioctl(fd, 0x5329, 0); fcntl.ioctl(fd, 0x5309)" "/dev/$dev" 2>&1
	fi
}

test_begin "removable usb-storage is a removable disk with media change events"
[ "$(</sys/block/$dev/removable)" = 1 ] || fail "/sys/block/$dev/removable is $(</sys/block/$dev/removable)"
grep -qw media_change /sys/block/$dev/events || fail "events: '$(</sys/block/$dev/events)'"
dmesg | grep -q -E "$UB_LOG\[$dev\] .*, removable, " || fail "the disk line does not say removable"
[ "$(read_label)" = "ub-image:rem0" ] || fail "label: $(read_label)"
test_end

test_begin "eject ioctl sends START STOP UNIT: no medium, open fails with ENOMEDIUM, size 0"
out=$(eject_ioctl) || fail "eject failed: $out"
out=$(read_label)
[[ $out == *"No medium found"* ]] || fail "read after eject: '$out', expected ENOMEDIUM"
[ "$(</sys/block/$dev/size)" = 0 ] || fail "size $(</sys/block/$dev/size) after eject"
logged -E "$UB_LOG(LUN [0-9]+: )?no medium$" || fail "no 'no medium' line"
test_end

test_begin "a new medium of another size (monitor change): new capacity and its data after reopen"
out=$(monitor "change drv-rem0 $media2 raw")
[ -z "$(echo "$out" | grep -i error)" ] || fail "change: $out"
wait_for 20 eval '[ "$(read_label)" = "ub-image:rem0.media2" ]' || fail "label after change: '$(read_label)'"
[ "$(</sys/block/$dev/size)" = 65536 ] || fail "size $(</sys/block/$dev/size), expected 65536 (32 MiB)"
logged "new medium: 65536 512-byte blocks (32 MiB)" || fail "no 'new medium' line"
msg=$(write_readback "$dev" 16777216 65536) || fail "$msg"
test_end

test_begin "a medium pulled from outside (monitor eject) is noticed: ENOMEDIUM, size 0"
out=$(monitor "eject -f drv-rem0")
[ -z "$(echo "$out" | grep -i error)" ] || fail "eject: $out"
wait_for 20 eval '[[ "$(read_label)" == *"No medium found"* ]]' || fail "read after the medium went: '$(read_label)'"
[ "$(</sys/block/$dev/size)" = 0 ] || fail "size $(</sys/block/$dev/size)"
test_end

test_begin "the first medium back: its size and label again"
out=$(monitor "change drv-rem0 $UB_RUNDIR/rem0.img raw")
wait_for 20 eval '[ "$(read_label)" = "ub-image:rem0" ]' || fail "label: '$(read_label)'"
[ "$(</sys/block/$dev/size)" = 32768 ] || fail "size $(</sys/block/$dev/size), expected 32768"
test_end

# A program that holds the disk open (O_DIRECT) across the change and then
# writes through that same open file: a new open would revalidate the medium.
HOLD_AND_WRITE='
import mmap, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_DIRECT)
open(sys.argv[2], "w").close()
while not os.path.exists(sys.argv[3]):
    time.sleep(0.1)
buf = mmap.mmap(-1, 4096)
buf.write(b"old medium data " * 256)
for what, op in (("write", lambda: os.pwrite(fd, buf, 8 << 20)), ("read", lambda: os.preadv(fd, [buf], 0))):
    try:
        op()
        print(what, "ok")
    except OSError as e:
        print(what, os.strerror(e.errno))
'

test_begin "a medium changed under an open disk: that open gets EIO, a new open the new medium"
rm -f /tmp/held /tmp/changed
python3 -S -c "$HOLD_AND_WRITE" /dev/$dev /tmp/held /tmp/changed >/tmp/held.out 2>&1 &
holder=$!
# Python starts slowly over 9p with another guest on the host.
wait_for 60 test -e /tmp/held || fail "the holder did not open the disk"
out=$(monitor "change drv-rem0 $media2 raw")
[ -z "$(echo "$out" | grep -i error)" ] || fail "change: $out"
# Give the media polling a chance to see the change first (then the write fails
# without reaching the device); without it the write itself meets the UNIT ATTENTION.
nap 1
touch /tmp/changed
wait_for 30 eval '! kill -0 $holder 2>/dev/null' || fail "the holder hangs"
grep -qx "write Input/output error" /tmp/held.out || fail "write through the old open: $(head -n 1 /tmp/held.out)"
grep -qx "read Input/output error" /tmp/held.out || fail "read through the old open: $(tail -n 1 /tmp/held.out)"
logged "the medium changed; I/O fails until the disk is opened again" || fail "no line saying why I/O fails"
[ "$(read_label)" = "ub-image:rem0.media2" ] || fail "label after reopening: '$(read_label)'"
# The old medium's write never reached the new one: its block is still empty.
[ "$(dd if=/dev/$dev bs=4096 skip=2048 count=1 iflag=direct status=none | tr -d '\0' | wc -c)" = 0 ] ||
	fail "the write through the old open landed on the new medium"
msg=$(write_readback "$dev" 4194304 65536) || fail "$msg"
test_end

test_begin "an empty reader given a medium with a write cache: write back, fsync sends SYNCHRONIZE CACHE"
dev1=$(disk_by_serial UBREM1) || fail "no disk for rem1"
if [ -n "$dev1" ]; then
	[ "$(</sys/block/$dev1/queue/write_cache)" = "write through" ] ||
		fail "empty: write_cache '$(</sys/block/$dev1/queue/write_cache)'"
	out=$(monitor "change drv-rem1 $UB_RUNDIR/rem1.media2.img raw")
	[ -z "$(echo "$out" | grep -i error)" ] || fail "change: $out"
	wait_for 20 eval '[ "$(read_label $dev1)" = "ub-image:rem1.media2" ]' || fail "label after change: '$(read_label $dev1)'"
	[ "$(</sys/block/$dev1/queue/write_cache)" = "write back" ] ||
		fail "with the medium: write_cache '$(</sys/block/$dev1/queue/write_cache)'"
	logged "new medium: 32768 512-byte blocks (16 MiB), write cache" || fail "no 'new medium ... write cache' line"
	DDC=/sys/kernel/debug/dynamic_debug/control
	echo 'module ub +p' >$DDC
	head -c 4096 /dev/urandom | dd of=/dev/$dev1 bs=4096 seek=10 conv=fsync status=none || fail "write + fsync failed"
	echo 'module ub -p' >$DDC
	test_dmesg | grep -q "CBW tag [0-9]* LUN 0 opcode 0x35 " || fail "no SYNCHRONIZE CACHE(10) after fsync"
fi
test_end

# media_uevents DISK: how many media-change uevents udevadm has seen for DISK.
media_uevents() {
	awk -v d="$1" 'BEGIN { RS = "" } /DISK_MEDIA_CHANGE=1/ && $0 ~ ("DEVNAME=(/dev/)?" d "\n") { n++ } END { print n + 0 }' /tmp/uevents
}

# usb_status DISK: the runtime PM status of the disk's USB device.
usb_status() {
	rd "$(usb_dev_of $1)/power/runtime_status"
}

# change_noticed WHAT MONITOR-COMMAND: with the reader autosuspended and nobody
# holding the disk, the change must come as a uevent from the first poll after it
# (each poll resumes the reader: the resumes counted from just before the change
# to the uevent are the polls it took; one, or two when a poll began just before the
# change), and the reader must go back to sleep. Polls are counted, not timed: under
# emulation a poll's resume takes seconds when the machine is busy.
change_noticed() {
	local n0 t0 r0 ms out polls
	wait_for 20 eval '[ "$(usb_status $dev1)" = suspended ]' || { fail "$1: the reader did not autosuspend: $(usb_status $dev1)"; return; }
	n0=$(media_uevents $dev1)
	r0=$(ub_stat $dev1 resumes)
	t0=${EPOCHREALTIME/./}
	out=$(monitor "$2")
	[ -z "$(echo "$out" | grep -i error)" ] || fail "$1: monitor: $out"
	wait_for 20 eval '[ "$(media_uevents $dev1)" -gt $n0 ]' || { fail "$1: no media-change uevent in 20 s"; return; }
	polls=$(($(ub_stat $dev1 resumes) - r0))
	ms=$(( (${EPOCHREALTIME/./} - t0) / 1000 ))
	ktap_print_msg "$1: uevent after $ms ms, $polls resume(s) of the reader"
	[ "$polls" -le 2 ] || fail "$1: the uevent came after $polls polls of the reader (poll interval 2000 ms)"
	wait_for 20 eval '[ "$(usb_status $dev1)" = suspended ]' || fail "$1: the reader stays awake: $(usb_status $dev1)"
}

test_begin "an idle autosuspended reader polled every 2 s: a new and a pulled medium raise media-change uevents"
dev1=$(disk_by_serial UBREM1) || fail "no disk for rem1"
if [ -n "$dev1" ]; then
	usb1=$(usb_dev_of $dev1)
	dfl=/sys/module/block/parameters/events_dfl_poll_msecs
	old_dfl=$(<$dfl)
	udevadm monitor --kernel --property --subsystem-match=block >/tmp/uevents 2>&1 &
	mon=$!
	wait_for 10 grep -q '^KERNEL - ' /tmp/uevents || fail "udevadm monitor did not start: $(</tmp/uevents)"
	[ "$(</sys/block/$dev1/events_poll_msecs)" = -1 ] || fail "events_poll_msecs is $(</sys/block/$dev1/events_poll_msecs), not the default"
	echo 2000 >$dfl
	echo 300 >$usb1/power/autosuspend_delay_ms
	echo auto >$usb1/power/control
	r0=$(ub_stat $dev1 resumes)
	change_noticed "new medium" "change drv-rem1 $UB_RUNDIR/rem1.media2.img raw"
	# What udev's blkid does on the uevent: open the disk, which revalidates
	# it and lets the block layer report the next change.
	[ "$(read_label $dev1)" = "ub-image:rem1.media2" ] || fail "label after the new medium: '$(read_label $dev1)'"
	change_noticed "medium pulled" "eject -f drv-rem1"
	[ "$(ub_stat $dev1 resumes)" -gt "$r0" ] || fail "ub_stats/resumes stayed at $r0: the polls never woke the reader"
	out=$(read_label $dev1)
	[[ $out == *"No medium found"* ]] || fail "read after the medium went: '$out', expected ENOMEDIUM"
	echo "$old_dfl" >$dfl
	echo on >$usb1/power/control
	kill $mon 2>/dev/null
	wait $mon 2>/dev/null
fi
test_end

ktap_finished
