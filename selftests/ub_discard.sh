#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Discard: a disk whose VPD pages say UNMAP unmaps (Logical Block Provisioning,
# 0xB2, LBPU) and how much one may cover (Block Limits, 0xB0) gets discard limits
# from them; fstrim on ext4 sends UNMAP for the free blocks, which QEMU punches
# out of the sparse image (its allocated size drops), and the files left verify.
# Quirk D turns discard off.
#
# Guest devices: trim0 (usb-storage, 64 MiB, QEMU discard=unmap, serial UBTRIM0;
# its image is /run/ub-images/trim0.img, the run directory mounted without the
# host root's attribute cache, so that its allocated size is the host's).

. "$(dirname "$0")/lib.sh"

ktap_print_header
ktap_set_plan 3

MNT=/tmp/ub-trim
IMG=/run/ub-images/trim0.img
load_ub_and_wait || ktap_exit_fail_msg "$(count_ub_disks) ub disks for: $UB_DISKS"
dev=$(disk_by_label trim0) || ktap_exit_fail_msg "no disk for trim0"

# allocated_mib: the image's allocated size on the host, in MiB.
allocated_mib() {
	echo $(($(stat -c %b "$IMG") * 512 >> 20))
}

test_begin "discard limits from VPD pages B0 and B2: 1 GiB per UNMAP, 4 KiB granularity"
q=/sys/block/$dev/queue
# QEMU's scsi-hd: MAXIMUM UNMAP LBA COUNT of 1 GiB, OPTIMAL UNMAP GRANULARITY 4 KiB.
[ "$(rd $q/discard_max_hw_bytes)" = 1073741824 ] || fail "discard_max_hw_bytes $(rd $q/discard_max_hw_bytes)"
[ "$(rd $q/discard_granularity)" = 4096 ] || fail "discard_granularity $(rd $q/discard_granularity)"
[ "$(rd $q/max_discard_segments)" = 1 ] || fail "max_discard_segments $(rd $q/max_discard_segments)"
test_end

test_begin "fstrim on ext4 sends UNMAP: the image's freed blocks are punched out, files left verify"
mkdir -p $MNT
mkfs.ext4 -q -F -E nodiscard /dev/$dev || fail "mkfs.ext4 failed"
mount /dev/$dev $MNT || fail "mount failed"
head -c $((4 << 20)) /dev/urandom >$MNT/keep
head -c $((24 << 20)) /dev/urandom >$MNT/junk
(cd $MNT && md5sum keep >/tmp/trim.sum)
sync
before=$(allocated_mib)
rm $MNT/junk
# ext4 trims freed blocks only once the transaction that freed them commits.
sync
out=$(fstrim -v $MNT 2>&1) || fail "fstrim failed: $out"
ktap_print_msg "fstrim -v: $out"
sync
after=$(allocated_mib)
ktap_print_msg "image allocated: $before MiB before, $after MiB after"
[ "$after" -le $((before - 20)) ] || fail "the image kept its blocks: $before MiB before, $after MiB after fstrim"
umount $MNT || fail "umount failed"
out=$(e2fsck -fn /dev/$dev 2>&1) || fail "fsck found problems: $(echo "$out" | tail -n 3)"
mount /dev/$dev $MNT || fail "remount failed"
(cd $MNT && md5sum -c --quiet /tmp/trim.sum) || fail "the file left changed"
umount $MNT
test_end

test_begin "quirk D: no discard limits, fstrim says the disk cannot discard"
intf=$(interface_by_serial UBTRIM0) || fail "no interface for UBTRIM0"
if [ -n "$intf" ]; then
	echo "$(rd /sys/bus/usb/devices/$intf/../idVendor):$(rd /sys/bus/usb/devices/$intf/../idProduct):D" >/sys/module/ub/parameters/quirks
	echo "$intf" >/sys/bus/usb/drivers/ub/unbind
	echo "$intf" >/sys/bus/usb/drivers/ub/bind
	echo "" >/sys/module/ub/parameters/quirks
	wait_for 30 eval 'dev=$(disk_by_serial UBTRIM0)' || fail "no disk after rebinding"
	[ "$(rd /sys/block/$dev/device/quirks)" = D ] || fail "device/quirks reads '$(rd /sys/block/$dev/device/quirks)'"
	[ "$(rd /sys/block/$dev/queue/discard_max_bytes)" = 0 ] || fail "discard_max_bytes $(rd /sys/block/$dev/queue/discard_max_bytes)"
	mount /dev/$dev $MNT || fail "mount failed"
	out=$(fstrim -v $MNT 2>&1) && fail "fstrim worked: $out"
	umount $MNT
fi
test_end

ktap_finished
