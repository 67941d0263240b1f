#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Hot unplug under I/O, through the QEMU monitor (the runner's agent): the disk
# "plug" is pulled while fio writes and verifies; fio must end with an error within
# seconds (no hang), the disk must go away (del_gendisk, worker stopped, released),
# and the re-plugged device must come back as a working disk. Repeated
# UB_UNPLUG_ITERATIONS times (2 on xHCI, 1 elsewhere, 100 in `make soak`). Then
# the same with an ext4 filesystem mounted and written: I/O errors, a clean umount,
# and after re-plug the journal replays to a filesystem fsck finds clean. Then the
# whole host controller goes (its PCI function removed, as a dock unplug does)
# while the disk is held open: closing it afterwards must not touch what the
# controller owned, and a PCI rescan brings a working disk back (ub_leaks.sh,
# after it, checks that nothing leaked). This program removes the controller: it
# runs last of the programs that use a disk in its boot.
#
# Guest devices: plug (usb-storage, 64 MiB, serial UBPLUG), on every host
# controller.

. "$(dirname "$0")/lib.sh"

# Two cycles on xHCI, one on the other controllers (whose unplug path the ext4
# and PCI-remove tests below take again); `make soak` sets 100.
case $UB_CONTROLLER in
xhci*) iterations=${UB_UNPLUG_ITERATIONS:-2} ;;
*) iterations=${UB_UNPLUG_ITERATIONS:-1} ;;
esac

ktap_print_header
ktap_set_plan 3

load_ub_and_wait || ktap_exit_fail_msg "ub disks missing"

# The ub disk of "plug" (waits for it to come back after a replug or a rescan,
# which re-enumerates a hub and everything behind it). By serial, not by label:
# mkfs overwrites the label.
plug_disk() {
	wait_for 60 disk_by_serial UBPLUG >/dev/null && disk_by_serial UBPLUG
}

# disk_writes_above DEV N: more than N write requests completed on DEV.
disk_writes_above() {
	local stat
	read -r -a stat <"/sys/block/$1/stat" 2>/dev/null || return 1
	[ "${stat[4]}" -gt "$2" ]
}

# unplug_and_check DEV PID: pull the device, then wait (bounded) for PID and the disk.
unplug_and_check() { # DEV PID
	local dev=$1 pid=$2 t0 t1
	t0=$(now_ms)
	monitor unplug plug >/dev/null || { fail "unplug failed"; return 1; }
	local i=0
	while kill -0 "$pid" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 300 ] || { fail "I/O still running 30 s after the unplug"; kill -9 "$pid"; break; }
		nap 0.1
	done
	wait "$pid"
	WAIT_RC=$?
	wait_for 30 test ! -e "/sys/block/$dev" || fail "$dev still exists 30 s after the unplug"
	t1=$(now_ms)
	UNPLUG_MS=$((t1 - t0))
}

times="$iterations times"
[ "$iterations" = 1 ] && times=once
test_begin "hot unplug during fio verify fails the I/O and replug gives a working disk ($times)"
worst=0
for i in $(seq "$iterations"); do
	dev=$(plug_disk) || { fail "iteration $i: disk did not come back"; break; }
	# allow_file_create=0: never write a regular file where the device node was.
	fio --name=unplug --filename=/dev/$dev --allow_file_create=0 --direct=1 --ioengine=libaio --iodepth=16 \
		--rw=randwrite --bsrange=4k-256k --size=32M --verify=crc32c --time_based --runtime=60 \
		--output=/tmp/unplug-fio.log >/dev/null 2>&1 &
	pid=$!
	# Pull the plug only once fio's writes reach the disk, at a random moment.
	wait_for 60 disk_writes_above "$dev" 64 || fail "iteration $i: fio did not start writing"
	nap "0.$((RANDOM % 9 + 1))"
	unplug_and_check "$dev" "$pid" || break
	[ "$WAIT_RC" != 0 ] || fail "iteration $i: fio reported success although the disk vanished"
	[ "$UNPLUG_MS" -gt "$worst" ] && worst=$UNPLUG_MS
	# One 'released' line per unplug so far: an earlier iteration's does not count.
	logged -E "${UB_LOG}released$"
	n=$LOG_N
	[ "$n" -ge "$i" ] || fail "iteration $i: $n 'released' lines for $i unplugs"
	out=$(monitor replug plug)
	[ -z "$out" ] || fail "iteration $i: replug: $out"
done
dev=$(plug_disk) || fail "disk missing after the last replug"
[ -n "$dev" ] && { msg=$(write_readback "$dev" 1048576 1048576) || fail "after the unplugs: $msg"; }
ktap_print_msg "slowest unplug to disk gone: $worst ms"
test_end

test_begin "hot unplug of a mounted ext4 gives I/O errors; after replug the journal replays clean"
dev=$(plug_disk)
mkfs.ext4 -q -F /dev/$dev || fail "mkfs failed"
mkdir -p /mnt/plug
mount /dev/$dev /mnt/plug || fail "mount failed"
# Synchronous 64 KiB writes, 64 to a process (a process costs ~0.2 s under
# TCG), over eight 4 MiB files rewritten in place.
( i=0; while :; do
	i=$((i + 1))
	dd if=/dev/urandom of=/mnt/plug/f$((i % 8)) bs=64k count=64 conv=notrunc oflag=sync \
		status=none 2>/dev/null || exit 0
done ) &
writer=$!
# Started: some writes done (the loop is slow with another guest on the host).
wait_for 60 disk_writes_above "$dev" 40 || fail "the writer did not start"
unplug_and_check "$dev" "$writer"
umount /mnt/plug 2>/dev/null || umount -l /mnt/plug || fail "umount after the unplug failed"
logged -E "I/O error|Buffer I/O" || fail "the filesystem saw no I/O error"
monitor replug plug >/dev/null
dev=$(plug_disk) || fail "disk did not come back"
if [ -n "$dev" ]; then
	mount /dev/$dev /mnt/plug || fail "mount after replug failed"
	ls /mnt/plug >/dev/null || fail "listing after replug failed"
	umount /mnt/plug || fail "umount after replug failed"
	out=$(e2fsck -f -n /dev/$dev 2>&1) || fail "fsck after journal replay: $(echo "$out" | tail -n 3)"
fi
test_end

# The PCI function of the host controller a disk hangs off: the nearest ancestor
# of its sysfs device named like 0000:00:04.0.
pci_function_of() {
	local d
	d=$(readlink -f "/sys/block/$1/device")
	while [ "$d" != / ]; do
		[[ ${d##*/} =~ ^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$ ]] && { echo "$d"; return 0; }
		d=${d%/*}
	done
	return 1
}

test_begin "host controller removed (PCI remove) under an open disk: clean close, rescan gives a working disk"
dev=$(plug_disk) || fail "no disk"
pci=$(pci_function_of "$dev") || fail "no PCI function above $dev"
if [ -n "$pci" ]; then
	exec 4</dev/$dev || fail "cannot open /dev/$dev"
	echo 1 >"$pci/remove" || fail "PCI remove failed"
	wait_for 30 test ! -e "/sys/block/$dev" || fail "$dev still exists after the controller went"
	# The last reference to the driver's device goes with this close.
	exec 4<&-
	nap 1
	echo 1 >/sys/bus/pci/rescan || fail "PCI rescan failed"
	dev=$(plug_disk) || fail "no disk after the rescan"
	[ -n "$dev" ] && { msg=$(write_readback "$dev" 2097152 65536) || fail "after the rescan: $msg"; }
fi
test_end

ktap_finished
