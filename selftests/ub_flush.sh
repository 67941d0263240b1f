#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Flush: a disk whose device reports a write cache is "write back" and gets its
# flushes; one without a cache is "write through". The runner records each disk's
# USB traffic (QEMU pcap=) and, after the boot, asserts from the recorded CBWs that
# SYNCHRONIZE CACHE reached the cached disk and never the other one.
#
# Guest devices: stick0 (usb-storage, which QEMU gives a write cache; pcap) and
# wcoff (usb-bot + scsi-hd with write-cache=off; pcap). QEMU's usb-storage does not
# pass write-cache=off on to its disk, hence usb-bot for the uncached one.

. "$(dirname "$0")/lib.sh"

ktap_print_header
ktap_set_plan 2

flush_disk() { # ID EXPECTED_MODE
	local dev
	dev=$(disk_by_label "$1") || { fail "no disk for $1"; return; }
	[ "$(cat /sys/block/$dev/queue/write_cache)" = "$2" ] ||
		fail "$dev write_cache is '$(cat /sys/block/$dev/queue/write_cache)', expected '$2'"
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

ktap_finished
