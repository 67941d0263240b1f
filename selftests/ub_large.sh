#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A disk beyond 2 TiB: READ CAPACITY(10) cannot express it, so the capacity must
# come from READ CAPACITY(16); blocks past 2^32 need 16-byte CDBs. Data written at
# LBA 2^32 + n and at LBA n must both read back: a truncated 10-byte CDB would put
# both at LBA n.
#
# Guest devices: huge (3 TiB sparse image).

. "$(dirname "$0")/lib.sh"

ktap_print_header
ktap_set_plan 2

test_begin "capacity over 2 TiB comes from READ CAPACITY(16)"
load_ub_and_wait || fail "disks missing"
dev=$(disk_by_label huge) || fail "no disk for huge"
bytes=$(disk_field huge 2)
[ "$(($(</sys/block/$dev/size) * 512))" = "$bytes" ] ||
	fail "$dev: $(($(</sys/block/$dev/size) * 512)) bytes, image has $bytes"
test_end

test_begin "blocks past 2^32 are addressed with 16-byte CDBs"
low=$((4096 * 512))
high=$(((4294967296 + 4096) * 512))
msg=$(write_readback "$dev" $high 65536) || fail "$msg"
cp /tmp/wr.pat /tmp/high.pat
msg=$(write_readback "$dev" $low 65536) || fail "$msg"
dd if=/dev/$dev of=/tmp/high.back bs=65536 count=1 skip=$high iflag=direct,skip_bytes status=none
cmp -s /tmp/high.pat /tmp/high.back || fail "data above 2^32 blocks was overwritten by a write below"
test_end

ktap_finished
