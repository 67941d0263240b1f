#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The data path: every emulated USB disk becomes a ub block device with the image's
# capacity and block size; data written at odd offsets and sizes (1 sector to
# 4 MiB, across the request size limit) reads back intact; fio verifies random-size
# I/O with crc32c at QD 1 and 32 (libaio at one depth and io_uring at the other,
# swapped between controllers, so that every pair runs on a high-speed and a
# full-speed controller); a request that finds the device idle is run in
# queue_rq, and with direct=0 by the worker; ext4 on a partition
# survives mkfs, a copy, fsck and a remount; a read-only image refuses writes; the
# stage-by-stage command path does the same, and (on xHCI, since the choice does not
# depend on the controller) a bus without scatter-gather gets it.
#
# Guest devices (see the boots in scripts/test): stick0 (512-byte blocks),
# ro0 (read-only), lbs4k (usb-bot + scsi-hd with 4096-byte blocks, solid state in
# its VPD page 0xB1).

. "$(dirname "$0")/lib.sh"

# Full-speed controllers move ~1 MB/s: smaller sizes there. Each fio job writes
# its size in random 512 B - 256 KiB pieces and verifies it: a few hundred
# requests of every shape; more volume only adds time.
case $UB_CONTROLLER in
ohci | uhci) fio_size=2M big=1M ;;
*) fio_size=16M big=4M ;;
esac

# ub's own command paths (pipeline=0: stage by stage; direct=0: every request
# through the worker) send the host controller the same bulk URBs as the default
# path, in another order: they run on one USB 3 and one USB 2 controller (xhci,
# ehci), not again on the full-speed ones and behind the IOMMU, where each costs
# about a minute of a boot. The bus without scatter-gather is xHCI's (with and
# without the IOMMU: its URBs map one buffer each).
case $UB_HC in
xhci | ehci) other_paths=2 ;;
*) other_paths=0 ;;
esac

ktap_print_header
ktap_set_plan $((14 + other_paths + $([ "$UB_CONTROLLER" = xhci ] && echo 1 || echo 0) + $([ "$UB_HC" = xhci+iommu ] && echo 1 || echo 0)))

test_begin "every USB disk appears as a ub block device"
load_ub_and_wait || fail "$(count_ub_disks) ub disks for: $UB_DISKS"
for id in stick0 ro0 lbs4k; do
	disk_by_label $id >/dev/null || fail "no ub disk carries the label of $id"
done
test_end

test_begin "capacity and block size match the image (512-byte blocks)"
check_geometry stick0
test_end

test_begin "capacity and block size match the image (4096-byte blocks, usb-bot)"
check_geometry lbs4k
test_end

test_begin "queue/rotational: 0 where VPD page 0xB1 says solid state, else 1 as sd"
rot() { cat "/sys/block/$(disk_by_label "$1")/queue/rotational" 2>/dev/null; }
[ "$(rot lbs4k)" = 0 ] || fail "lbs4k (rotation rate 1): rotational '$(rot lbs4k)'"
[ "$(rot stick0)" = 1 ] || fail "stick0 (rotation rate not reported): rotational '$(rot stick0)'"
[ "$(<"/sys/block/$(disk_by_label stick0)/queue/add_random")" = 1 ] || fail "stick0: add_random is not 1"
test_end

dev=$(disk_by_label stick0)
test_begin "pattern write and read-back at odd offsets and sizes"
for spec in "512 512" "3584 4096" "32256 66048" "66048 1050112" "1049088 $big"; do
	set -- $spec
	msg=$(write_readback "$dev" "$1" "$2") || fail "$msg"
done
test_end

test_begin "requests larger than a lowered max_sectors_kb are split and land intact"
q=/sys/block/$dev/queue
hw=$(<$q/max_hw_sectors_kb)
[ "$hw" -ge 1024 ] || fail "max_hw_sectors_kb is $hw, expected at least 1024"
echo 64 >$q/max_sectors_kb || fail "cannot write max_sectors_kb"
[ "$(<$q/max_sectors_kb)" = 64 ] || fail "max_sectors_kb reads $(<$q/max_sectors_kb) after writing 64"
msg=$(write_readback "$dev" 2560 1049088) || fail "$msg"
echo "$hw" >$q/max_sectors_kb || fail "cannot restore max_sectors_kb"
test_end

# "DMA-maps once": the bundled usb_buffer_map_sg runs once per command with a
# data stage, however many segments the request has (ub_stats/sg_maps); a
# request is one command. 256 KiB direct I/O from a page-aligned user buffer:
# 64 pages, up to 64 segments each.
test_begin "each request DMA-mapped once: ub_stats/sg_maps grows by the reads and writes the disk completed"
rw_ios() { local s; read -r -a s </sys/block/$dev/stat; echo $((s[0] + s[4])); }
m0=$(ub_stat $dev sg_maps) n0=$(rw_ios)
dd if=/dev/$dev of=/dev/null bs=256k count=8 iflag=direct status=none || fail "direct read failed"
dd if=/dev/$dev of=/dev/$dev bs=256k count=4 skip=16 seek=48 iflag=direct oflag=direct status=none ||
	fail "direct copy failed"
m=$(($(ub_stat $dev sg_maps) - m0)) n=$(($(rw_ios) - n0))
[ "$n" -ge 16 ] || fail "only $n requests completed for 16 I/Os of 256 KiB"
[ "$m" = "$n" ] || fail "$m DMA mappings for $n read and write requests"
ktap_print_msg "$m DMA mappings for $n requests of 256 KiB"
test_end

# A request that finds the device idle is run in queue_rq (by its submitter, or
# blk-mq's own work item) and not handed to the device's worker
# (ub_stats/direct_requests): a lone reader at queue depth 1 never leaves one
# queued, so every one of its requests is direct.
test_begin "idle device: each request of a qd1 reader run in queue_rq, not by the worker (ub_stats/direct_requests), data intact"
d0=$(ub_stat $dev direct_requests) n0=$(rw_ios)
msg=$(write_readback "$dev" 1536 12800) || fail "$msg"
dd if=/dev/$dev of=/dev/null bs=4k count=64 skip=100 iflag=direct status=none || fail "direct read failed"
d=$(($(ub_stat $dev direct_requests) - d0)) n=$(($(rw_ios) - n0))
[ "$n" -ge 64 ] || fail "only $n requests completed for 64 reads of 4 KiB"
[ "$d" = "$n" ] || fail "$d of $n requests run in queue_rq"
ktap_print_msg "$d of $n requests run in queue_rq"
test_end

if [ "$UB_HC" = xhci+iommu ]; then
	# The boot's point: the host controller's DMA goes through a translating
	# IOMMU, so that an address ub hands it that was not mapped faults.
	test_begin "the xHCI is behind a translating IOMMU (DMA domain), and I/O works through it"
	pci=$(readlink -f /sys/block/$dev/device | grep -o -E '/[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-9a-f]/usb[0-9]+/' | head -n 1)
	pci=${pci%/usb*/}
	group=$(readlink -f "/sys/bus/pci/devices/${pci#/}/iommu_group" 2>/dev/null)
	[ -n "$group" ] || fail "the host controller ${pci#/} is in no IOMMU group"
	type=$(cat "$group/type" 2>/dev/null)
	[[ $type == DMA || $type == DMA-FQ ]] || fail "IOMMU group ${group##*/} of ${pci#/} has domain type '$type', not a translating one"
	dmesg | grep -q "DMAR: IOMMU enabled" || fail "no 'DMAR: IOMMU enabled' in the log"
	msg=$(write_readback "$dev" 4096 1048576) || fail "$msg"
	ktap_print_msg "host controller ${pci#/}, IOMMU group ${group##*/}, domain type $type"
	test_end
fi

test_begin "pattern write and read-back on 4096-byte blocks"
dev4k=$(disk_by_label lbs4k)
for spec in "4096 4096" "12288 69632" "1052672 $big"; do
	set -- $spec
	msg=$(write_readback "$dev4k" "$1" "$2") || fail "$msg"
done
test_end

test_begin "read-only image gives a read-only disk and writes fail"
rodev=$(disk_by_label ro0)
[ "$(</sys/block/$rodev/ro)" = 1 ] || fail "/sys/block/$rodev/ro is not 1"
[ "$(blockdev --getro /dev/$rodev)" = 1 ] || fail "BLKROGET says writable"
if err=$(dd if=/dev/zero of=/dev/$rodev bs=4096 count=1 oflag=direct 2>&1); then
	fail "a write to the read-only disk succeeded"
else
	# The block layer refuses writes to a read-only disk with EPERM before they
	# reach the driver; EROFS, EACCES or EIO would be as good.
	echo "$err" | grep -qE "Operation not permitted|Read-only file system|Permission denied|Input/output error" ||
		fail "unexpected error: $err"
fi
[ "$(head -c 12 /dev/$rodev)" = "ub-image:ro0" ] || fail "read-only disk content changed"
test_end

run_fio() { # ENGINE DEPTH [SIZE]
	local out
	out=$(fio --name=verify --filename=/dev/$dev --direct=1 --rw=randwrite --bsrange=512-256k \
		--size="${3:-$fio_size}" --offset=8M --ioengine="$1" --iodepth="$2" --verify=crc32c \
		--verify_fatal=1 --do_verify=1 --randseed=$((RANDOM + 1)) --output-format=terse \
		--terse-version=3 2>&1)
	local rc=$?
	[ $rc = 0 ] || { echo "$out" | tail -n 5 | sed 's/^/fio: /'; fail "fio exited $rc"; return; }
	# terse v3: field 5 is the error number.
	[ "$(echo "$out" | tail -n1 | cut -d';' -f5)" = 0 ] || fail "fio reports an error: $(echo "$out" | tail -n1 | cut -d';' -f5)"
}

case $UB_CONTROLLER in
xhci | ohci) fio_jobs="libaio:1 io_uring:32" ;;
*) fio_jobs="io_uring:1 libaio:32" ;;
esac
for job in $fio_jobs; do
	test_begin "fio verify crc32c ${job%:*} qd${job#*:}"
	run_fio "${job%:*}" "${job#*:}"
	test_end
done

# A request's time limit runs from when the device starts on it: requests queued
# behind others must not fail for waiting. Calibrated on this bus: io_timeout is
# five times what one write takes (at least 500 ms), and enough writes are in
# flight (up to 48) that the last waits three io_timeouts or more. Writes are
# 1 MiB, 256 KiB on full-speed controllers (about 1 MB/s), where the same number
# of 1 MiB writes and their verification took 45 s. A request is never larger
# than the write that calibrated the limit: the block layer would merge fio's
# contiguous writes up to max_sectors_kb, and a merged 1 MiB request on a bus
# calibrated with 256 KiB takes four fifths of the limit, not one fifth.
case $UB_CONTROLLER in
ohci | uhci) dq_kib=256 ;;
*) dq_kib=1024 ;;
esac
test_begin "deep queue: writes in flight for 3 x queue/io_timeout, none times out, data verifies"
to=/sys/block/$dev/queue/io_timeout
old_to=$(rd $to)
msk=/sys/block/$dev/queue/max_sectors_kb
old_msk=$(rd $msk)
echo $dq_kib >$msk || fail "cannot set max_sectors_kb to $dq_kib"
t1=$(python3 -S -c '
import mmap, os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_DIRECT)
bs = int(sys.argv[2]) << 10
buf = mmap.mmap(-1, bs)
t = time.monotonic()
for i in range(4):
    os.pwrite(fd, buf, (8 << 20) + i * bs)
print(max(1, int((time.monotonic() - t) * 250)))
' /dev/$dev $dq_kib) || fail "calibration write failed"
t1=${t1:-100}
io_to=$((t1 * 5 > 500 ? t1 * 5 : 500))
n=$(((3 * io_to + t1 - 1) / t1))
n=$((n > 48 ? 48 : n < 8 ? 8 : n))
ktap_print_msg "$dq_kib KiB write $t1 ms: queue/io_timeout $io_to ms, $n writes of $dq_kib KiB in flight"
echo $io_to >$to || fail "cannot set queue/io_timeout"
out=$(fio --name=deep --filename=/dev/$dev --direct=1 --rw=write --bs=${dq_kib}k --size=$((n * dq_kib))k \
	--offset=8M --ioengine=libaio --iodepth=$n --iodepth_batch_submit=$n --verify=crc32c \
	--verify_fatal=1 --do_verify=1 --output-format=terse --terse-version=3 2>&1)
rc=$?
[ $rc = 0 ] || { echo "$out" | tail -n 5 | sed 's/^/fio: /'; fail "fio exited $rc"; }
[ "$(echo "$out" | tail -n1 | cut -d';' -f5)" = 0 ] || fail "fio reports an error"
logged -E "timeout error|time limit" && fail "a request timed out: $(test_dmesg | grep -m1 -E 'timeout error|time limit')"
echo "${old_to:-8000}" >$to
[ -n "$old_msk" ] && echo "$old_msk" >$msk
test_end

test_begin "ext4 on a partition: mkfs, copy, fsck clean, checksums equal after remount"
mnt=/mnt/ub-ext4
mkdir -p $mnt
echo ',,L' | sfdisk -q --label dos /dev/$dev >/dev/null 2>&1 || fail "sfdisk failed"
wait_for 10 test -b /dev/${dev}1 || fail "/dev/${dev}1 did not appear"
if [ -b /dev/${dev}1 ]; then
	mkfs.ext4 -q -F /dev/${dev}1 || fail "mkfs.ext4 failed"
	mount /dev/${dev}1 $mnt || fail "mount failed"
	# Source trees only: build output (target/) would not fit a small disk.
	mkdir -p $mnt/scsi
	cp -a "$UB_REPO/scsi/src" "$UB_REPO/scsi/Cargo.toml" $mnt/scsi/ &&
		cp -a "$UB_REPO/drivers" "$UB_REPO/Documentation" $mnt/ || fail "copy failed"
	head -c $big /dev/urandom >$mnt/random.bin
	(cd $mnt && find . -type f ! -path './lost+found/*' -exec sha256sum {} + | sort -k2) >/tmp/sums
	umount $mnt || fail "umount failed"
	out=$(e2fsck -fn /dev/${dev}1 2>&1) || fail "fsck found problems: $(echo "$out" | tail -n 3)"
	mount /dev/${dev}1 $mnt || fail "remount failed"
	(cd $mnt && sha256sum --quiet -c /tmp/sums) || fail "checksums differ after remount"
	[ "$(wc -l </tmp/sums)" -gt 20 ] || fail "only $(wc -l </tmp/sums) files copied"
	umount $mnt
fi
test_end

# with_ub PARAMS CHECK [AFTER]: reload ub with module parameters PARAMS, run CHECK
# (a function, with $dev the stick0 disk), then write and read back and fio verify
# at qd32 on stick0, then AFTER; ub is loaded with its defaults again afterwards.
with_ub() {
	local after=${3:-:}
	rmmod ub || fail "rmmod ub"
	insmod "$UB_KO" $1 || fail "insmod $1"
	load_ub_and_wait || fail "$(count_ub_disks) ub disks after reloading"
	dev=$(disk_by_label stick0) || fail "no stick0 disk after reloading"
	$2
	for spec in "3584 4096" "1049088 $big"; do
		set -- $spec
		msg=$(write_readback "$dev" "$1" "$2") || fail "$msg"
	done
	# A quarter of the default path's volume: still every request shape.
	run_fio io_uring 32 $((${fio_size%M} * 256))k
	$after
	rmmod ub && insmod "$UB_KO" || fail "reloading ub with defaults"
	load_ub_and_wait || fail "$(count_ub_disks) ub disks after reloading with defaults"
}

# The same checks on ub's other command path: each BOT stage waited for in turn
# (the USB core's synchronous calls) instead of chained from URB completions.
# SG_IO there runs the USB core's synchronous calls, which allocate, from an ioctl:
# the driver warns unless the caller is in its no-I/O allocation scope.
sg_inquiry() {
	local out
	out=$(sg_inq /dev/$dev 2>&1) || fail "sg_inq failed: $(echo "$out" | tail -n 1)"
	echo "$out" | grep -q "Vendor identification: QEMU" || fail "sg_inq: no QEMU vendor in: $(echo "$out" | head -n 3)"
}
# all_stepwise: every command of stick0 since ub was loaded went stage by stage
# (ub_stats/stepwise_commands), the probe's, the I/O's and SG_IO's.
all_stepwise() {
	local c s
	c=$(ub_stat $dev commands) s=$(ub_stat $dev stepwise_commands)
	[ "$s" -ge 20 ] && [ "$s" = "$c" ] || fail "$s of $c commands went stage by stage"
}
if [ "$other_paths" = 2 ]; then
	test_begin "stage-by-stage command path (pipeline=0): write and read-back, fio verify qd32, SG_IO INQUIRY"
	sg_lines=$(test_dmesg | grep -c "no scatter-gather")
	with_ub pipeline=0 sg_inquiry all_stepwise
	# And with the defaults, on a bus that takes scatterlists, none does.
	dev=$(disk_by_label stick0) || fail "no stick0 disk with the defaults"
	msg=$(write_readback "$dev" 3584 4096) || fail "$msg"
	if [ "$(test_dmesg | grep -c "no scatter-gather")" = "$sg_lines" ]; then
		[ "$(ub_stat $dev stepwise_commands)" = 0 ] ||
			fail "$(ub_stat $dev stepwise_commands) commands went stage by stage with the defaults"
	fi
	test_end

	# Every request through the device's worker (direct=0), as before the direct
	# path: the same checks, and no request run in queue_rq.
	no_direct() {
		[ "$(ub_stat $dev direct_requests)" = 0 ] ||
			fail "$(ub_stat $dev direct_requests) requests run in queue_rq with direct=0"
	}
	test_begin "every request through the worker (direct=0): write and read-back, fio verify qd32"
	with_ub direct=0 : no_direct
	test_end
fi

# dwc2, musb, max3421 and controllers with local memory take no scatterlists
# (sg_tablesize 0): the chained path's one-URB data stage is refused for them.
chain_refused() {
	refused=$(test_dmesg | grep -c "no scatter-gather: commands run stage by stage")
	[ "$refused" -gt 0 ] || fail "no line saying the chain was refused"
}
if [ "$UB_CONTROLLER" = xhci ]; then
	test_begin "bus without scatter-gather (debug_no_sg=1): stage by stage, write and read-back, fio verify qd32"
	with_ub debug_no_sg=1 chain_refused all_stepwise
	[ "$(test_dmesg | grep -c "no scatter-gather")" = "$refused" ] || fail "the chain was refused with the defaults too"
	test_end
fi

ktap_finished
