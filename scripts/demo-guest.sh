#!/usr/bin/env bash
# The guest half of `make demo`: bind a USB stick to ub, partition it, make ext4,
# mount it, write and verify files, and run a short fio through ub and then
# through usb-storage on the same stick, with the ratio.
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
dmesg | grep -E ' ub [0-9]+-[0-9.]+:[0-9.]+: '

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
if ! (cd /mnt/usb && sha256sum --quiet -c /tmp/sums); then
	echo "FAILED: files differ after remount"
	exit 1
fi
echo "$(wc -l </tmp/sums) files verified after remount"
umount /mnt/usb
if ! out=$(e2fsck -fn /dev/uba1 2>&1); then
	printf '%s\nFAILED: e2fsck found problems\n' "$out"
	exit 1
fi
echo "${out##*$'\n'}"

# fio_pair DEV: 10 s of 4 KiB random reads (IOPS) and 10 s of 1 MiB sequential
# reads (MiB/s) on DEV, printed as "IOPS MiB/s" (fio's terse output: field 8 is
# the read IOPS, field 7 the read bandwidth in KiB/s).
fio_pair() {
	local a b
	a=$(fio --name=rand4k --filename="$1" --direct=1 --rw=randread --bs=4k --iodepth=8 \
		--ioengine=io_uring --runtime=10 --time_based --size=128M \
		--output-format=terse --terse-version=3 | tail -n1 | cut -d';' -f8)
	b=$(fio --name=seq1m --filename="$1" --direct=1 --rw=read --bs=1M --iodepth=2 \
		--ioengine=io_uring --runtime=10 --time_based --size=128M \
		--output-format=terse --terse-version=3 | tail -n1 | cut -d';' -f7)
	[ -n "$a" ] && [ -n "$b" ] || { echo "FAILED: fio on $1"; exit 1; }
	echo "$a $((b / 1024))"
}

step "fio through ub: 4 KiB random reads (qd8), 1 MiB sequential reads (qd2)"
r=$(fio_pair /dev/uba)
read -r ub_iops ub_mib <<<"$r"
echo "ub: $ub_iops IOPS, $ub_mib MiB/s"

step "the same fio through usb-storage: the same stick in the same boot"
intf=$(basename "$(ls -d /sys/bus/usb/drivers/ub/*:* | head -n1)")
echo "$intf" >/sys/bus/usb/drivers/ub/unbind
modprobe usb-storage delay_use=0
# Registering usb-storage probes the interface ub left; bind it if it did not.
[ -e "/sys/bus/usb/drivers/usb-storage/$intf" ] || echo "$intf" >/sys/bus/usb/drivers/usb-storage/bind
sd=
for _ in $(seq 150); do
	sd=$(ls /sys/bus/usb/devices/"$intf"/host*/target*/*/block 2>/dev/null | head -n1)
	[ -n "$sd" ] && break
	sleep 0.2
done
[ -n "$sd" ] || { echo "FAILED: usb-storage made no disk"; exit 1; }
r=$(fio_pair "/dev/$sd")
read -r us_iops us_mib <<<"$r"
echo "usb-storage ($sd): $us_iops IOPS, $us_mib MiB/s"

step "ub / usb-storage"
awk -v a="$ub_iops" -v b="$us_iops" -v c="$ub_mib" -v d="$us_mib" 'BEGIN {
	printf "4 KiB random reads: %.2fx    1 MiB sequential reads: %.2fx\n", a / b, c / d }'
echo "This guest runs a debug kernel (KASAN, lockdep, DMA-API checks) under emulation:"
echo "the absolute numbers mean little, and the debug checks cost the two drivers"
echo "differently. make bench compares them on a kernel without those options."
