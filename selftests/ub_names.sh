#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Names: the bound interface carries the device's identification (INQUIRY vendor,
# product and revision, the USB serial number) as sysfs attributes, where
# /sys/block/ubX/device points, so that lsblk (here without udev, from sysfs) shows
# vendor, model, serial, removable, read-only and size as for a usb-storage disk.
# (lsblk's TRAN column stays empty: util-linux derives it from a SCSI host or from
# nvme/vd/mmcblk names only.) Each disk's ub/ directory names its LUN and that
# LUN's INQUIRY strings and VPD unit serial number, and udev with ub's rules
# (drivers/ub/60-ub-persistent-storage.rules) makes the by-id, by-path and by-uuid
# links usb-storage's disks get (as udevadm test evaluates them).
#
# Guest devices: stick0 (usb-storage, serial UB0000, 64 MiB), ro0 (read-only,
# serial UB0001), card0 (usb-bot, LUN 0 removable without a medium).

. "$(dirname "$0")/lib.sh"

ktap_print_header
ktap_set_plan 5

load_ub_and_wait || ktap_exit_fail_msg "$(count_ub_disks) ub disks for: $UB_DISKS"
stick=$(disk_by_label stick0) || ktap_exit_fail_msg "no disk for stick0"
ro=$(disk_by_label ro0) || ktap_exit_fail_msg "no disk for ro0"

test_begin "sysfs vendor, model, rev and serial below the disk"
d=/sys/block/$stick/device
[ "$(rd $d/vendor)" = QEMU ] || fail "vendor '$(rd $d/vendor)'"
[ "$(rd $d/model)" = "QEMU HARDDISK" ] || fail "model '$(rd $d/model)'"
[ -n "$(rd $d/rev)" ] || fail "no rev"
[ "$(rd $d/serial)" = UB0000 ] || fail "serial '$(rd $d/serial)'"
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
	[ "$(<$b/size)" = 0 ] && empty=${b##*/}
done
[ -n "$empty" ] || fail "no empty LUN below $intf"
line=$(lsblk -dn -o RM,SIZE -P /dev/$empty)
[ "$line" = 'RM="1" SIZE="0B"' ] || fail "$empty: $line"
test_end

test_begin "per-LUN ub/ attributes: LUN, INQUIRY strings, VPD unit serial number"
d=/sys/block/$stick/ub
line="$(cat $d/lun 2>&1)|$(cat $d/vendor 2>&1)|$(cat $d/model 2>&1)|$(cat $d/serial 2>&1)"
[ "$line" = "0|QEMU|QEMU HARDDISK|UB0000" ] || fail "stick0: $line"
[ -n "$(rd $d/rev)" ] || fail "stick0: no rev"
for n in 1 2 3; do
	disk=$(disk_by_label card$n) || { fail "no disk for card$n"; continue; }
	[ "$(cat /sys/block/$disk/ub/lun 2>&1)" = $n ] || fail "card$n: lun $(cat /sys/block/$disk/ub/lun 2>&1)"
done
test_end

test_begin "udev with ub's rules: by-id (as usb-storage names it), by-path per LUN, by-uuid"
# udevadm test runs the rules as udevd would (builtins, imports) and prints the
# links it would make; the guest kernel has no inotify for udevd itself.
rules=$UB_REPO/drivers/ub/60-ub-persistent-storage.rules
links() { # links DISK: the DEVLINKS udev's rules give DISK
	udevadm test --action=add "/sys/class/block/$1" 2>/dev/null | sed -n 's/^DEVLINKS=//p' | tr ' ' '\n'
}
if command -v udevadm >/dev/null; then
	mkdir -p /run/udev/rules.d
	cp "$rules" /run/udev/rules.d/
	card1=$(disk_by_label card1)
	card3=$(disk_by_label card3)
	mkfs.vfat -i 1234ABCD /dev/$card3 >/dev/null || fail "mkfs.vfat on card3 failed"
	l=$(links $stick)
	echo "$l" | grep -qx /dev/disk/by-id/usb-QEMU_QEMU_HARDDISK_UB0000-0:0 ||
		fail "stick0: $(echo $l)"
	echo "$l" | grep -q '^/dev/disk/by-path/pci-.*-usb-.*-lun-0$' || fail "stick0 by-path: $(echo $l)"
	cserial=$(</sys/block/$card1/device/serial)
	l=$(links $card1)
	echo "$l" | grep -qx "/dev/disk/by-id/usb-QEMU_QEMU_HARDDISK_$cserial-0:1" ||
		fail "card1: $(echo $l)"
	echo "$l" | grep -q '^/dev/disk/by-path/pci-.*-usb-.*-lun-1$' || fail "card1 by-path: $(echo $l)"
	l=$(links $card3)
	echo "$l" | grep -qx /dev/disk/by-uuid/1234-ABCD || fail "card3: $(echo $l)"
	rm -f /run/udev/rules.d/60-ub-persistent-storage.rules
else
	fail "no udevadm (scripts/setup installs udev)"
fi
test_end

ktap_finished
