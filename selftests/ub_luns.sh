#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Multi-LUN: a card reader, that is one Bulk-Only device (QEMU usb-bot) with four
# LUNs of different sizes, block sizes and caches, one of them without a medium.
# ub must make one disk per LUN below the one interface, each with its LUN's
# geometry, keep the LUNs' data apart while I/O to several of them interleaves on
# the device's single pipe pair, and release and re-create all of them on unbind
# and bind.
#
# Guest devices: card0 (usb-bot, LUN 0, no medium), card1 (LUN 1, 32 MiB,
# 512-byte blocks), card2 (LUN 2, 16 MiB, 4096-byte blocks), card3 (LUN 3, 16 MiB,
# write cache off). The LUN without a medium is LUN 0 because QEMU answers REQUEST
# SENSE on other LUNs with LOGICAL UNIT NOT SUPPORTED whenever sense is pending.

. "$(dirname "$0")/lib.sh"

# A few hundred commands per LUN show the interleaving; more only cost time (a
# command takes milliseconds under TCG, tens on the full-speed controllers).
case $UB_CONTROLLER in
ohci | uhci) fio_size=128K ;;
*) fio_size=256K ;;
esac

ktap_print_header
ktap_set_plan 5

load_ub_and_wait || ktap_exit_fail_msg "$(count_ub_disks) ub disks for: $UB_DISKS"
card1=$(disk_by_label card1) || ktap_exit_fail_msg "no disk for card1"
intf=$(basename "$(readlink -f /sys/block/$card1/device)")
[ -f "/sys/bus/usb/devices/$intf/bInterfaceClass" ] || ktap_exit_fail_msg "$card1 is not below a USB interface"

# The disk of LUN N: the one whose log line names "(INTERFACE LUN N)".
lun_disk() {
	dmesg | sed -n "s/.* ub $intf: \[\(ub[a-z]*\)\] .* (LUN $1), .*/\1/p" | tail -n 1
}

test_begin "card reader (usb-bot, 4 LUNs): one disk per LUN below one interface"
n=$(ls /sys/bus/usb/devices/$intf/block 2>/dev/null | wc -l)
[ "$n" = 4 ] || fail "$n disks below $intf, expected 4: $(ls /sys/bus/usb/devices/$intf/block 2>/dev/null)"
for l in 0 1 2 3; do
	d=$(lun_disk $l)
	[ -n "$d" ] && [ -e "/sys/bus/usb/devices/$intf/block/$d" ] || fail "no disk line for LUN $l"
done
for l in 1 2 3; do
	[ "$(lun_disk $l)" = "$(disk_by_label card$l)" ] || fail "LUN $l is $(lun_disk $l), not the card$l image"
done
dmesg | grep -q "ub $intf: \[ub[a-z]*\] .*(LUN 1), .*, 4 LUN(s)" || fail "no '4 LUN(s)' line"
test_end

test_begin "each LUN has its own capacity, block size and write cache"
check_geometry card1
check_geometry card2
check_geometry card3
[ "$(</sys/block/$card1/queue/write_cache)" = "write back" ] || fail "card1: $(</sys/block/$card1/queue/write_cache)"
c3=$(disk_by_label card3)
[ "$(</sys/block/$c3/queue/write_cache)" = "write through" ] || fail "card3: $(</sys/block/$c3/queue/write_cache)"
test_end

test_begin "a LUN without a medium still gets a disk, of size 0"
d0=$(lun_disk 0)
[ -n "$d0" ] || fail "no disk for LUN 0"
[ "$(rd /sys/block/$d0/size)" = 0 ] || fail "$d0: size $(rd /sys/block/$d0/size)"
dmesg | grep -q "ub $intf: \[$d0\] .*(LUN 0), no medium, removable" || fail "no 'no medium, removable' line for $d0"
test_end

test_begin "I/O to three LUNs at once interleaves on one device and each LUN keeps its own data"
# Same offsets on every LUN: a command sent to the wrong LUN would show as another
# LUN's pattern.
for id in card1 card2 card3; do
	head -c 65536 /dev/urandom >/tmp/lun.$id
	dd if=/tmp/lun.$id of=/dev/$(disk_by_label $id) bs=64k seek=8 oflag=direct status=none || fail "write to $id failed"
done
# One fio, a job (a thread: a process costs ~0.2 s under TCG) per LUN.
jobs=()
for id in card1 card2 card3; do
	jobs+=(--name=lun-$id --filename=/dev/$(disk_by_label $id))
done
fio --thread --allow_file_create=0 --direct=1 --ioengine=io_uring --iodepth=8 --rw=randwrite --bs=4k \
	--offset=1M --size=$fio_size --verify=crc32c --verify_fatal=1 "${jobs[@]}" --output=/tmp/fio.luns >/dev/null 2>&1 ||
	fail "a fio verify job failed: $(grep -i -m1 error /tmp/fio.luns 2>/dev/null)"
for id in card1 card2 card3; do
	dd if=/dev/$(disk_by_label $id) of=/tmp/lun.back bs=64k skip=8 count=1 iflag=direct status=none &&
		cmp -s /tmp/lun.$id /tmp/lun.back || fail "$id: the pattern at 512 KiB changed"
done
test_end

test_begin "unbind releases every LUN's disk, bind brings all four back with their data"
echo "$intf" >/sys/bus/usb/drivers/ub/unbind || fail "unbind failed"
wait_for 30 test -z "$(ls /sys/bus/usb/devices/$intf/block 2>/dev/null)" || fail "disks left after unbind"
echo "$intf" >/sys/bus/usb/drivers/ub/bind || fail "bind failed"
wait_for 60 test "$(ls /sys/bus/usb/devices/$intf/block 2>/dev/null | wc -l)" = 4 || fail "not four disks after bind"
for id in card1 card2 card3; do
	dev=$(disk_by_label $id) || { fail "no disk for $id after bind"; continue; }
	dd if=/dev/$dev of=/tmp/lun.back bs=64k skip=8 count=1 iflag=direct status=none &&
		cmp -s /tmp/lun.$id /tmp/lun.back || fail "$id: pattern lost across unbind and bind"
done
test_end

ktap_finished
