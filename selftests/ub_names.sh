#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Names: the bound interface carries the device's identification (INQUIRY vendor,
# product and revision, the USB serial number) as sysfs attributes, where
# /sys/block/ubX/device points, so that lsblk (here without udev, from sysfs) shows
# vendor, model, serial, removable, read-only and size as for a usb-storage disk.
# (lsblk's TRAN column stays empty: util-linux derives it from a SCSI host or from
# nvme/vd/mmcblk names only.)
#
# Guest devices: stick0 (usb-storage, serial UB0000, 64 MiB), ro0 (read-only,
# serial UB0001), card0 (usb-bot, LUN 0 removable without a medium).

. "$(dirname "$0")/lib.sh"

ktap_print_header
ktap_set_plan 3

load_ub_and_wait || ktap_exit_fail_msg "$(count_ub_disks) ub disks for: $UB_DISKS"
stick=$(disk_by_label stick0) || ktap_exit_fail_msg "no disk for stick0"
ro=$(disk_by_label ro0) || ktap_exit_fail_msg "no disk for ro0"

test_begin "sysfs vendor, model, rev and serial below the disk"
d=/sys/block/$stick/device
[ "$(cat $d/vendor 2>/dev/null)" = QEMU ] || fail "vendor '$(cat $d/vendor 2>/dev/null)'"
[ "$(cat $d/model 2>/dev/null)" = "QEMU HARDDISK" ] || fail "model '$(cat $d/model 2>/dev/null)'"
[ -n "$(cat $d/rev 2>/dev/null)" ] || fail "no rev"
[ "$(cat $d/serial 2>/dev/null)" = UB0000 ] || fail "serial '$(cat $d/serial 2>/dev/null)'"
test_end

test_begin "lsblk shows vendor, model, serial, removable, read-only and size"
line=$(lsblk -dn -o VENDOR,MODEL,SERIAL,RM,RO,SIZE -P /dev/$stick)
[ "$line" = 'VENDOR="QEMU" MODEL="QEMU HARDDISK" SERIAL="UB0000" RM="0" RO="0" SIZE="64M"' ] ||
	fail "stick0: $line"
line=$(lsblk -dn -o SERIAL,RO,SIZE -P /dev/$ro)
[ "$line" = 'SERIAL="UB0001" RO="1" SIZE="16M"' ] || fail "ro0: $line"
test_end

test_begin "a removable LUN without a medium: RM 1, size 0"
card1=$(disk_by_label card1) || fail "no disk for card1"
intf=$(basename "$(readlink -f /sys/block/$card1/device)")
empty=""
for b in /sys/bus/usb/devices/$intf/block/*; do
	[ "$(cat $b/size)" = 0 ] && empty=${b##*/}
done
[ -n "$empty" ] || fail "no empty LUN below $intf"
line=$(lsblk -dn -o RM,SIZE -P /dev/$empty)
[ "$line" = 'RM="1" SIZE="0B"' ] || fail "$empty: $line"
test_end

ktap_finished
