#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Flush: a disk whose device reports a write cache is "write back" and gets its
# flushes; one without a cache is "write through". The runner records each disk's
# USB traffic (QEMU pcap=) and, after the boot, asserts from the recorded CBWs that
# SYNCHRONIZE CACHE reached the cached disk and never the other one. A disk whose
# MODE SENSE says DPOFUA takes FUA writes: an O_DSYNC write goes out as a WRITE with
# FUA set, and the only SYNCHRONIZE CACHE is the one of the fsync the block device
# adds to every O_DSYNC write (generic_write_sync); without DPOFUA the block layer
# sends one more after each write (its post-flush for FUA).
#
# Guest devices: stick0 (usb-storage, which QEMU gives a write cache; pcap) and
# wcoff (usb-bot + scsi-hd with write-cache=off; pcap). QEMU's usb-storage does not
# pass write-cache=off on to its disk, hence usb-bot for the uncached one. lbs4k
# (usb-bot + scsi-hd with dpofua=on, 4096-byte blocks).

. "$(dirname "$0")/lib.sh"

ktap_print_header
ktap_set_plan 3

flush_disk() { # ID EXPECTED_MODE
	local dev
	dev=$(disk_by_label "$1") || { fail "no disk for $1"; return; }
	[ "$(</sys/block/$dev/queue/write_cache)" = "$2" ] ||
		fail "$dev write_cache is '$(</sys/block/$dev/queue/write_cache)', expected '$2'"
	# Each fsync of the block device sends a flush request.
	for i in 1 2 3; do
		dd if=/dev/urandom of=/dev/$dev bs=64k count=1 seek=$i conv=fsync status=none ||
			fail "write+fsync $i failed"
	done
	sync
}

test_begin "disk with a write cache is write back and takes fsync"
load_ub_and_wait || fail "disks missing"
flush_disk stick0 "write back"
test_end

test_begin "disk without a write cache is write through and takes fsync"
flush_disk wcoff "write through"
test_end

DDC=/sys/kernel/debug/dynamic_debug/control
# dsync_writes ID: four 4 KiB O_DIRECT|O_DSYNC writes to disk ID, read back; sets
# FUAS (ub_stats/fua_writes added) and SYNCS (SYNCHRONIZE CACHE CBWs meanwhile).
dsync_writes() {
	local dev f0
	dev=$(disk_by_label "$1") || { fail "no disk for $1"; return; }
	head -c 16384 /dev/urandom >/tmp/dsync.pat
	f0=$(ub_stat $dev fua_writes)
	local mark
	mark=$(dmesg | wc -l)
	echo 'module ub +p' >$DDC
	dd if=/tmp/dsync.pat of=/dev/$dev bs=4k seek=200 oflag=direct,dsync status=none || fail "$1: dsync write failed"
	echo 'module ub -p' >$DDC
	FUAS=$(($(ub_stat $dev fua_writes) - f0))
	SYNCS=$(dmesg | tail -n +$((mark + 1)) | grep -c "CBW tag [0-9]* LUN 0 opcode 0x35 ")
	dd if=/dev/$dev of=/tmp/dsync.back bs=4k skip=200 count=4 iflag=direct status=none &&
		cmp -s /tmp/dsync.pat /tmp/dsync.back || fail "$1: the dsync writes did not read back"
}

test_begin "disk with DPOFUA: queue/fua 1, O_DSYNC writes carry FUA, no post-flush"
fua4k=$(disk_by_label lbs4k) && stick=$(disk_by_label stick0) || fail "no disk for lbs4k or stick0"
[ "$(</sys/block/$fua4k/queue/fua)" = 1 ] || fail "lbs4k: queue/fua is $(</sys/block/$fua4k/queue/fua)"
[ "$(</sys/block/$stick/queue/fua)" = 0 ] || fail "stick0 (no DPOFUA): queue/fua is $(</sys/block/$stick/queue/fua)"
dsync_writes lbs4k
[ "$FUAS" -ge 4 ] || fail "lbs4k: $FUAS FUA writes for 4 dsync writes"
[ "$SYNCS" -le 4 ] || fail "lbs4k: $SYNCS SYNCHRONIZE CACHE for 4 FUA writes (one per fsync expected)"
dsync_writes stick0
[ "$FUAS" = 0 ] || fail "stick0: $FUAS FUA writes without DPOFUA"
[ "$SYNCS" -ge 8 ] || fail "stick0: $SYNCS SYNCHRONIZE CACHE for 4 dsync writes without FUA (a post-flush and an fsync each expected)"
test_end

ktap_finished
