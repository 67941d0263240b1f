#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Media errors: the runner puts QEMU's blkdebug under the disk "media" so that reads
# of sector 4096 and writes of sector 8192 fail; the emulated disk answers those
# commands with CHECK CONDITION and MEDIUM ERROR sense (03/11/00). Exactly the
# requests that touch those sectors fail, with ENODATA (BLK_STS_MEDIUM: the error sd
# returns for the same sense) and a log line naming the sense;
# their neighbours read and write normally, and the device is not reset for it.
#
# Guest devices: media (usb-storage, 64 MiB, errors=read@4096+write@8192).

. "$(dirname "$0")/lib.sh"

# A few hundred requests of every size around the bad sectors; the full-speed
# controllers move ~1 MB/s.
case $UB_CONTROLLER in
ohci | uhci) fio_size=2M ;;
*) fio_size=4M ;;
esac

ktap_print_header
ktap_set_plan 3

load_ub_and_wait || ktap_exit_fail_msg "ub disks missing"
dev=$(disk_by_label media) || ktap_exit_fail_msg "no disk for media"

# direct_io read|write SECTOR COUNT: 512-byte direct I/O; prints dd's error, if any.
direct_io() {
	if [ "$1" = read ]; then
		dd if=/dev/$dev of=/dev/null bs=512 skip="$2" count="$3" iflag=direct status=none 2>&1
	else
		dd if=/dev/zero of=/dev/$dev bs=512 seek="$2" count="$3" oflag=direct status=none 2>&1
	fi
}

# resets DEV: recoveries, Bulk-Only resets and port resets so far, from the
# driver's counters (a log line may be rate-limited or reworded; a counter is not).
resets() {
	echo "$(ub_stat $1 recoveries) $(ub_stat $1 bulk_resets) $(ub_stat $1 port_resets)"
}

test_begin "read of a sector with a medium error fails with ENODATA, neighbours read"
r0=$(resets $dev)
cc0=$(ub_stat $dev check_conditions)
out=$(direct_io read 4096 1) && fail "read of sector 4096 succeeded"
echo "$out" | grep -q "No data available" || fail "read error is not ENODATA: $out"
out=$(direct_io read 4090 8) && fail "8-sector read covering 4096 succeeded"
for s in 4095 4097; do
	out=$(direct_io read $s 1) || fail "read of neighbour $s failed: $out"
done
out=$(dd if=/dev/$dev of=/dev/null bs=64k count=32 iflag=direct status=none 2>&1) ||
	fail "read of sectors 0..4095 failed: $out"
logged "read at sector 4096 failed: sense MediumError 11/00" ||
	fail "no MEDIUM ERROR log line for sector 4096: $(test_dmesg | grep ub | tail -n 3)"
logged -E "reset recovery|port reset" && fail "a medium error caused a reset"
[ "$(resets $dev)" = "$r0" ] || fail "recoveries, bulk and port resets went from $r0 to $(resets $dev)"
[ "$(ub_stat $dev check_conditions)" -gt "$cc0" ] || fail "ub_stats/check_conditions stayed at $cc0"
test_end

test_begin "write of a sector with a medium error fails with ENODATA, neighbours write"
head -c 4096 /dev/urandom >/tmp/media.pat
dd if=/tmp/media.pat of=/dev/$dev bs=4096 seek=$((8200 / 8)) oflag=direct status=none ||
	fail "write of 8200..8207 failed"
out=$(direct_io write 8192 1) && fail "write of sector 8192 succeeded"
echo "$out" | grep -q "No data available" || fail "write error is not ENODATA: $out"
for s in 8191 8193; do
	out=$(direct_io write $s 1) || fail "write of neighbour $s failed: $out"
done
cmp -s /tmp/media.pat <(dd if=/dev/$dev bs=4096 skip=$((8200 / 8)) count=1 iflag=direct status=none) ||
	fail "data next to the failed write changed"
logged "write at sector 8192 failed: sense MediumError" ||
	fail "no MEDIUM ERROR log line for the write"
test_end

test_begin "fio verify around the bad sectors sees no error"
fio --name=around --filename=/dev/$dev --direct=1 --ioengine=libaio --iodepth=8 \
	--rw=randwrite --bsrange=4k-64k --offset=8M --size=$fio_size --verify=crc32c \
	--verify_fatal=1 --output=/tmp/media-fio.log >/dev/null 2>&1 ||
	fail "fio verify away from the bad sectors failed: $(grep -m3 -i err /tmp/media-fio.log)"
test_end

ktap_finished
