#!/usr/bin/env bash
# The guest half of `make demo`: bind a USB stick to ub, partition it, make ext4,
# mount it, write and verify files, and run a short fio.
set -euo pipefail
ko=$UB_REPO/build/$UB_PROFILE/ub.ko
step() { printf '\n== %s\n' "$*"; }

step "insmod $ko"
insmod "$ko"
for _ in $(seq 150); do
	[ -b /dev/uba ] && break
	sleep 0.2
done
[ -b /dev/uba ] || { echo "no /dev/uba"; exit 1; }

step "interfaces bound to ub"
for i in /sys/bus/usb/drivers/ub/*:*; do
	d=$(dirname "$(readlink -f "$i")")
	printf '%s  %s:%s  %s %s  speed %s Mbit/s\n' "$(basename "$i")" "$(cat "$d/idVendor")" \
		"$(cat "$d/idProduct")" "$(cat "$d/manufacturer" 2>/dev/null)" "$(cat "$d/product" 2>/dev/null)" \
		"$(cat "$d/speed")"
done

step "kernel log"
dmesg | grep -E 'ub: '

step "partition /dev/uba and make ext4 on /dev/uba1"
echo ',,L' | sfdisk -q --label dos /dev/uba
for _ in $(seq 50); do [ -b /dev/uba1 ] && break; sleep 0.2; done
lsblk -o NAME,SIZE,RO,TYPE /dev/uba
mkfs.ext4 -q -F /dev/uba1
mkdir -p /mnt/usb
mount /dev/uba1 /mnt/usb
df -h /mnt/usb | tail -n1

step "write files and verify them after a remount"
# Source trees only (build output under target/ can be larger than the stick).
cp -a "$UB_REPO/scsi/src" "$UB_REPO/drivers" "$UB_REPO/Documentation" /mnt/usb/
head -c 16M /dev/urandom >/mnt/usb/random.bin
(cd /mnt/usb && find . -type f ! -path './lost+found/*' -exec sha256sum {} + >/tmp/sums)
umount /mnt/usb
mount /dev/uba1 /mnt/usb
(cd /mnt/usb && sha256sum --quiet -c /tmp/sums) && echo "$(wc -l </tmp/sums) files verified after remount"
umount /mnt/usb
e2fsck -fn /dev/uba1 | tail -n1

step "fio: 20 s of 4 KiB random reads and 1 MiB sequential reads"
fio --name=rand4k --filename=/dev/uba --direct=1 --rw=randread --bs=4k --iodepth=8 \
	--ioengine=io_uring --runtime=10 --time_based --size=128M --group_reporting | grep -E 'IOPS|lat \(usec\): min|clat percentiles' | head -3
fio --name=seq1m --filename=/dev/uba --direct=1 --rw=read --bs=1M --iodepth=2 \
	--ioengine=io_uring --runtime=10 --time_based --size=128M --group_reporting | grep -E 'READ:|IOPS' | head -2
