#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Quirks on the misbehaving device (selftests/bot-device on dummy_hcd): ub.quirks
# names the emulator with usb-storage's letters, and each test shows the behaviour
# a flag names, next to the same device without it where the default would not
# show it; then the quirks ub learns at run time from a device that misbehaves
# without one (the same device with the letter given learns nothing), and the
# built-in table's entries and a quirks= list. Split from ub_faults.sh so that the
# two run in boots of their own.
#
# Guest devices: none from QEMU; the emulator runs on dummy_hcd in the guest.

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/bot_lib.sh"

ktap_print_header
ktap_set_plan 34

# Shorter stage timeouts than the defaults (3, 5 and 5 s, checked in
# ub_faults.sh): the tests that hang a command wait for them, several times each.
rmmod ub 2>/dev/null
insmod "$UB_KO" cbw_timeout_ms=1000 data_timeout_ms=2000 csw_timeout_ms=2000 ||
	ktap_exit_fail_msg "insmod ub failed"
setup_bot_device
head -c 4096 /dev/urandom >$W/wr

# A device whose unit serial number (VPD page 0x80, the LUN's) differs from its
# USB iSerialNumber (the bridge's): each attribute shows its own.
test_begin "bot-device ub/serial is the unit serial VPD page's, device/serial the USB iSerialNumber"
quirk_device "" --vpd-serial VPDSER01 || fail "no disk"
[ "$(rd /sys/block/$DEV/ub/serial)" = VPDSER01 ] ||
	fail "ub/serial '$(rd /sys/block/$DEV/ub/serial)', VPD page 0x80 says VPDSER01"
[ "$(rd /sys/block/$DEV/device/serial)" = UBFAULT0 ] ||
	fail "device/serial '$(rd /sys/block/$DEV/device/serial)', iSerialNumber is UBFAULT0"
stop_device >/dev/null
test_end

test_begin "bot-device quirk a (SANE_SENSE) asks 96 bytes of sense at once, b (BAD_SENSE) keeps it at 18"
for spec in "a 96" "ab 18" "- 18"; do
	read -r letters want <<<"$spec"
	[ "$letters" = - ] && letters=""
	quirk_device "$letters" || { fail "quirks '$letters': no disk"; continue; }
	arm "fault medium-error op=read"
	io r 3
	[ "$GOT" = ENODATA ] || fail "quirks '$letters': read: $GOT, expected ENODATA"
	got=$(grep "^cmd .* op=0x03 " $DEVLOG | tail -n 1 | sed -n 's/.* len=\([0-9]*\) .*/\1/p')
	[ "$got" = "$want" ] || fail "quirks '$letters': REQUEST SENSE for '$got' bytes, expected $want"
	stop_device >/dev/null
done
test_end

test_begin "bot-device quirk F (BROKEN_FUA): a device claiming DPOFUA gets no FUA with F, FUA without"
quirk_device "" --dpofua || fail "no disk"
[ "$(rd /sys/block/$DEV/queue/fua)" = 1 ] || fail "without F: queue/fua $(rd /sys/block/$DEV/queue/fua)"
stop_device >/dev/null
quirk_device F --dpofua || fail "no disk"
[ "$(rd /sys/block/$DEV/queue/fua)" = 0 ] || fail "with F: queue/fua $(rd /sys/block/$DEV/queue/fua)"
logged "quirks 'F' (parameter)" || fail "no quirks line"
[ "$(rd /sys/block/$DEV/device/quirks)" = F ] || fail "device/quirks reads '$(rd /sys/block/$DEV/device/quirks)'"
stop_device >/dev/null
test_end

# 05ac:1202 (an Apple iPod) has c in the built-in table. A quirks= entry for a
# device replaces its built-in one, even with no letters; malformed entries are
# logged and skipped, the others kept; the device's entry counts wherever it is.
test_begin "bot-device quirks= list: malformed entries logged and skipped, a device's entry replaces the built-in one"
quirk_device "" --vid 0x05ac --pid 0x1202 || fail "no disk"
[ "$(rd /sys/block/$DEV/size)" = 131071 ] || fail "built-in c: size $(rd /sys/block/$DEV/size), expected 131071"
logged "quirks 'c' (built-in)" || fail "no built-in quirks line"
stop_device >/dev/null
echo "0x05ac:1202:c, 05ac:1202:,12345:1:c,abcd:ef01:m" >/sys/module/ub/parameters/quirks
start_device --vid 0x05ac --pid 0x1202 || fail "no disk"
for bad in "0x05ac:1202:c" "12345:1:c"; do
	test_dmesg | grep -q "ignoring malformed quirks entry '$bad'" || fail "no line for the malformed '$bad'"
done
[ "$(rd /sys/block/$DEV/size)" = 131072 ] || fail "empty entry: size $(rd /sys/block/$DEV/size), expected 131072"
[ -z "$(rd /sys/block/$DEV/device/quirks)" ] || fail "empty entry: device/quirks reads '$(rd /sys/block/$DEV/device/quirks)'"
stop_device >/dev/null
echo "abcd:ef01:m,05ac:1202:h" >/sys/module/ub/parameters/quirks
start_device --vid 0x05ac --pid 0x1202 || fail "no disk"
[ "$(rd /sys/block/$DEV/device/quirks)" = h ] || fail "second entry: device/quirks reads '$(rd /sys/block/$DEV/device/quirks)', not h"
[ "$(rd /sys/block/$DEV/size)" = 131072 ] || fail "h on an even size: $(rd /sys/block/$DEV/size), expected 131072"
stop_device >/dev/null
echo "" >/sys/module/ub/parameters/quirks
test_end

test_begin "bot-device quirk c (FIX_CAPACITY): the disk is one block smaller than reported, device/quirks says c"
quirk_device c || fail "no disk"
[ "$(rd /sys/block/$DEV/size)" = 131071 ] || fail "size $(rd /sys/block/$DEV/size), expected 131071"
logged "quirks 'c' (parameter)" || fail "no quirks line"
[ "$(rd /sys/block/$DEV/device/quirks)" = c ] || fail "device/quirks reads '$(rd /sys/block/$DEV/device/quirks)', not 'c'"
stop_device >/dev/null
test_end

# A device that reports one block more than it has (its block count as the last
# LBA, as the devices of usb-storage's FIX_CAPACITY), in no table and without
# quirks=: the first request that reaches the block it lacks gets ILLEGAL
# REQUEST, LBA OUT OF RANGE, which no device can mean of a block it reported.
# ub learns c from it: the disk loses the block at once, no reset.
test_begin "bot-device capacity one block too large, no quirks: c learned from the last block out of range, one block fewer, fio verify and ext4"
quirk_device "" --capacity-plus-one || fail "no disk"
if [ -n "$DEV" ]; then
	[ "$(rd /sys/block/$DEV/size)" = 131073 ] || fail "size $(rd /sys/block/$DEV/size) at first, not the reported 131073"
	rec0=$(ub_stat $DEV recoveries)
	dd if=/dev/$DEV of=$W/last bs=512 skip=131072 count=1 iflag=direct status=none 2>/dev/null &&
		fail "the read of the block the device lacks succeeded"
	[ "$(rd /sys/block/$DEV/size)" = 131072 ] || fail "size $(rd /sys/block/$DEV/size) after the read, not 131072"
	learned="learned quirk c: 131073 blocks reported, block 131072 out of range; quirks=1d6b:0104:c makes it permanent"
	test_dmesg | grep -q "$learned" || fail "no '$learned' line: $(ub_dmesg | tail -n 2)"
	[ "$(rd /sys/block/$DEV/device/quirks)" = "learned: c" ] || fail "device/quirks reads '$(rd /sys/block/$DEV/device/quirks)'"
	# The block is past the end now: nothing reaches the device, nothing more is learned.
	n=$(dd if=/dev/$DEV bs=512 skip=131072 count=1 iflag=direct status=none 2>/dev/null | wc -c)
	[ "$n" = 0 ] || fail "$n bytes read past the new end"
	fio --name=lastmib --filename=/dev/$DEV --rw=randwrite --bs=4k --offset=63m --size=1m --direct=1 \
		--ioengine=libaio --iodepth=8 --verify=crc32c --verify_fatal=1 --do_verify=1 \
		--output=$W/lastmib.out >/dev/null 2>&1 || fail "fio verify of the last MiB: $(grep -i -m1 err $W/lastmib.out)"
	mkfs.ext4 -q -F -E nodiscard /dev/$DEV >/dev/null 2>&1 || fail "mkfs.ext4 failed"
	mkdir -p $W/mnt
	if mount /dev/$DEV $W/mnt; then
		head -c 1048576 /dev/urandom >$W/file
		cp $W/file $W/mnt/file && sync || fail "writing a file failed"
		umount $W/mnt
		mount /dev/$DEV $W/mnt && { cmp -s $W/file $W/mnt/file || fail "the file read back differs"; umount $W/mnt; }
		out=$(e2fsck -fn /dev/$DEV 2>&1) || fail "fsck found problems: $(echo "$out" | tail -n 3)"
	else
		fail "mount failed"
	fi
	[ "$(test_dmesg | grep -c 'learned quirk')" = 1 ] || fail "learned lines: $(test_dmesg | grep 'learned quirk')"
	[ "$(ub_stat $DEV recoveries)" = "$rec0" ] || fail "a recovery ran: $(ub_dmesg | tail -n 1)"
fi
stop_device >/dev/null
test_end

test_begin "bot-device capacity one block too large, quirk c given: one block fewer from the start, its end reads, nothing learned"
quirk_device c --capacity-plus-one || fail "no disk"
[ "$(rd /sys/block/$DEV/size)" = 131072 ] || fail "size $(rd /sys/block/$DEV/size), expected 131072"
cc0=$(ub_stat $DEV check_conditions)
io r 16383
[ "$GOT" = ok ] || fail "the read of the last 4 KiB: $GOT"
[ "$(ub_stat $DEV check_conditions)" = "$cc0" ] || fail "the device failed a command"
logged "learned quirk" && fail "a quirk was learned: $(test_dmesg | grep 'learned quirk')"
[ "$(rd /sys/block/$DEV/device/quirks)" = c ] || fail "device/quirks reads '$(rd /sys/block/$DEV/device/quirks)'"
stop_device >/dev/null
test_end

test_begin "bot-device one timeout on a read of the last block of a right-sized disk: recovered, nothing learned, size kept"
quirk_device "" || fail "no disk"
arm "fault silent-data op=read"
io r 16383
[ "$GOT" = ok ] || fail "the read of the last 4 KiB: $GOT"
dev_logged "fault done silent-data*" || fail "the device never went silent"
logged "learned quirk" && fail "a quirk was learned: $(test_dmesg | grep 'learned quirk')"
[ "$(rd /sys/block/$DEV/size)" = 131072 ] || fail "size $(rd /sys/block/$DEV/size), expected 131072"
[ -z "$(rd /sys/block/$DEV/device/quirks)" ] || fail "device/quirks reads '$(rd /sys/block/$DEV/device/quirks)'"
stop_device >/dev/null
test_end

# A device that hangs on MODE SENSE (takes the command, never answers), in no
# table and without quirks=: at probe each page is tried twice, and after each
# try a reset brings the device back. Hanging twice on one command while
# answering others is the evidence: w for the page of all pages, y for the
# caching page (no MODE SENSE at all; the cache is taken as on, so flushes go
# on). Later revalidations ask nothing the device hangs on.
test_begin "bot-device every MODE SENSE hangs, no quirks: w and y learned at probe, the disk works, cache taken as on"
quirk_device "" --arm "fault silent-data op=modesense count=forever" || fail "no disk"
if [ -n "$DEV" ]; then
	for l in "w: MODE SENSE of all pages" "y: MODE SENSE of the caching page"; do
		n=$(test_dmesg | grep -c "learned quirk $l got no status on 2 tries (timeout in data stage), the device answered after each reset; quirks=1d6b:0104:")
		[ "$n" = 1 ] || fail "$n 'learned quirk $l' lines: $(test_dmesg | grep 'learned quirk')"
	done
	[ "$(rd /sys/block/$DEV/device/quirks)" = "learned: w y" ] || fail "device/quirks reads '$(rd /sys/block/$DEV/device/quirks)'"
	[ "$(rd /sys/block/$DEV/queue/write_cache)" = "write back" ] || fail "queue/write_cache: $(rd /sys/block/$DEV/queue/write_cache)"
	[ "$(cmds 0x1a)" = 4 ] || fail "$(cmds 0x1a) MODE SENSE commands at probe, expected 2 pages x 2 tries"
	head -c 4096 /dev/urandom >$W/wr
	rec0=$(ub_stat $DEV recoveries) syncs=$(cmds 0x35)
	dd if=$W/wr of=/dev/$DEV bs=4k seek=40 oflag=direct conv=fsync status=none || fail "write + fsync failed"
	io r 40
	[ "$GOT" = ok ] && cmp -s $W/rd $W/wr || fail "read back: $GOT"
	[ "$(cmds 0x35)" -gt "$syncs" ] || fail "fsync sent no SYNCHRONIZE CACHE"
	[ "$(ub_stat $DEV recoveries)" = "$rec0" ] || fail "a recovery after the probe: $(ub_dmesg | tail -n 1)"
	[ "$(cmds 0x1a)" = 4 ] || fail "MODE SENSE sent again after the probe"
fi
stop_device >/dev/null
test_end

test_begin "bot-device every MODE SENSE hangs, quirk y given: no MODE SENSE, no recovery, nothing learned"
quirk_device y --arm "fault silent-data op=modesense count=forever" || fail "no disk"
[ "$(cmds 0x1a)" = 0 ] || fail "$(cmds 0x1a) MODE SENSE commands"
[ "$(ub_stat $DEV recoveries)" = 0 ] || fail "$(ub_stat $DEV recoveries) recoveries"
logged "learned quirk" && fail "a quirk was learned: $(test_dmesg | grep 'learned quirk')"
[ "$(rd /sys/block/$DEV/device/quirks)" = y ] || fail "device/quirks reads '$(rd /sys/block/$DEV/device/quirks)'"
stop_device >/dev/null
test_end

test_begin "bot-device one MODE SENSE hangs once at probe: recovered and asked again, nothing learned"
quirk_device "" --arm "fault silent-data op=modesense" || fail "no disk"
dev_logged "fault done silent-data*" || fail "the device never hung"
[ "$(ub_stat $DEV recoveries)" = 1 ] || fail "$(ub_stat $DEV recoveries) recoveries"
logged "learned quirk" && fail "a quirk was learned: $(test_dmesg | grep 'learned quirk')"
[ -z "$(rd /sys/block/$DEV/device/quirks)" ] || fail "device/quirks reads '$(rd /sys/block/$DEV/device/quirks)'"
[ "$(rd /sys/block/$DEV/queue/write_cache)" = "write back" ] || fail "queue/write_cache: $(rd /sys/block/$DEV/queue/write_cache) (the device has a cache)"
stop_device >/dev/null
test_end

test_begin "bot-device quirk h (CAPACITY_HEURISTICS): an odd block count loses one, an even one does not"
quirk_device h --blocks 131073 || fail "no disk"
[ "$(rd /sys/block/$DEV/size)" = 131072 ] || fail "odd: size $(rd /sys/block/$DEV/size), expected 131072"
stop_device >/dev/null
quirk_device h --blocks 131072 || fail "no disk"
[ "$(rd /sys/block/$DEV/size)" = 131072 ] || fail "even: size $(rd /sys/block/$DEV/size), expected 131072"
stop_device >/dev/null
test_end

test_begin "bot-device quirk e (NO_READ_CAPACITY_16): a 2 TiB + 512 B disk is 2^32 blocks, no READ CAPACITY(16)"
quirk_device "" --blocks 0x100000001 || fail "no disk"
[ "$(rd /sys/block/$DEV/size)" = 4294967297 ] || fail "without: size $(rd /sys/block/$DEV/size)"
[ "$(cmds 0x9e)" -ge 1 ] || fail "without the quirk, no READ CAPACITY(16)"
stop_device >/dev/null
quirk_device e --blocks 0x100000001 || fail "no disk"
[ "$(rd /sys/block/$DEV/size)" = 4294967296 ] || fail "with: size $(rd /sys/block/$DEV/size)"
[ "$(cmds 0x9e)" = 0 ] || fail "READ CAPACITY(16) sent despite the quirk"
stop_device >/dev/null
test_end

# The same disk hanging on READ CAPACITY(16), in no table and without quirks=:
# two tries, a reset after each, then e is learned and the disk is what READ
# CAPACITY(10) can name, as with the letter. One hang teaches nothing.
test_begin "bot-device READ CAPACITY(16) hangs on a 2 TiB + 512 B disk, no quirks: e learned, 2^32 blocks; once: nothing learned"
quirk_device "" --blocks 0x100000001 --arm "fault silent-data op=0x9e count=forever" || fail "no disk"
if [ -n "$DEV" ]; then
	[ "$(rd /sys/block/$DEV/size)" = 4294967296 ] || fail "size $(rd /sys/block/$DEV/size)"
	[ "$(cmds 0x9e)" = 2 ] || fail "$(cmds 0x9e) READ CAPACITY(16), expected 2 tries"
	n=$(test_dmesg | grep -c "learned quirk e: READ CAPACITY(16) got no status on 2 tries (timeout in data stage), the device answered after each reset; quirks=1d6b:0104:e makes it permanent")
	[ "$n" = 1 ] || fail "$n 'learned quirk e' lines: $(test_dmesg | grep 'learned quirk')"
	[ "$(rd /sys/block/$DEV/device/quirks)" = "learned: e" ] || fail "device/quirks reads '$(rd /sys/block/$DEV/device/quirks)'"
	check_io 43; msg=$CHECK_IO
	[ -z "$msg" ] || fail "$msg"
fi
stop_device >/dev/null
mark=$(dmesg | wc -l)
quirk_device "" --blocks 0x100000001 --arm "fault silent-data op=0x9e" || fail "no disk after one hang"
[ "$(rd /sys/block/$DEV/size)" = 4294967297 ] || fail "once: size $(rd /sys/block/$DEV/size)"
dmesg | tail -n +"$((mark + 1))" | grep -q "learned quirk" && fail "once: a quirk was learned"
[ -z "$(rd /sys/block/$DEV/device/quirks)" ] || fail "once: device/quirks reads '$(rd /sys/block/$DEV/device/quirks)'"
stop_device >/dev/null
test_end

test_begin "bot-device quirk i (IGNORE_DEVICE): ub does not bind, logs why"
echo "$QUIRK_ID:i" >/sys/module/ub/parameters/quirks
: >$DEVLOG
"$BOT" --blocks 131072 --serial UBFAULT0 --control $CTL --log $DEVLOG >>$W/bot.out 2>&1 &
BOT_PID=$!
DEV=""
wait_for 60 dev_logged 'ready*' || fail "device not configured"
wait_for 30 eval 'logged "ignored (quirk)"' || fail "no 'ignored (quirk)' line"
intf=$(interface_by_serial UBFAULT0)
[ -n "$intf" ] && [ "$(driver_of "$intf")" != ub ] || fail "ub bound $intf"
[ "$(grep -c '^cmd ' $DEVLOG)" = 0 ] || fail "ub sent commands to an ignored device"
stop_device >/dev/null
test_end

# max_reads N: a 1 MiB direct read must go out as READs of at most N blocks,
# the largest N, that add up to 1 MiB; prints what is wrong, nothing if all is
# well.
max_reads() {
	local reads
	: >$DEVLOG
	dd if=/dev/$DEV of=/dev/null bs=1M count=1 iflag=direct status=none || { echo "1 MiB read failed"; return; }
	reads=$(grep "^cmd .* op=0x28 " $DEVLOG | sed 's/.* blocks=\([0-9]*\) .*/\1/' | sort -n)
	[ "$(echo "$reads" | tail -n 1)" = "$1" ] || echo "largest READ $(echo "$reads" | tail -n 1) blocks, not $1"
	[ "$(echo "$reads" | awk '{ s += $1 } END { print s }')" = 2048 ] || echo "the reads do not add up to 1 MiB: $(echo $reads)"
}

test_begin "bot-device quirk m (MAX_SECTORS_64): 32 KiB per command, a 1 MiB read split"
quirk_device m || fail "no disk"
[ "$(rd /sys/block/$DEV/queue/max_hw_sectors_kb)" = 32 ] || fail "max_hw_sectors_kb $(rd /sys/block/$DEV/queue/max_hw_sectors_kb)"
msg=$(max_reads 64) && [ -z "$msg" ] || fail "$msg"
stop_device >/dev/null
test_end

test_begin "bot-device ub/max_sectors: 64 splits a 1 MiB read into 32 KiB commands, 2048 restores 1 MiB; bad values refused"
quirk_device "" || fail "no disk"
ms=/sys/block/$DEV/ub/max_sectors
[ "$(rd $ms)" = 2048 ] || fail "max_sectors reads '$(rd $ms)', not 2048"
echo 64 >$ms || fail "writing 64 failed"
[ "$(rd /sys/block/$DEV/queue/max_hw_sectors_kb)" = 32 ] || fail "max_hw_sectors_kb $(rd /sys/block/$DEV/queue/max_hw_sectors_kb)"
msg=$(max_reads 64) && [ -z "$msg" ] || fail "at 64: $msg"
for bad in 4 4096 soon; do
	{ echo $bad >$ms; } 2>/dev/null && fail "$bad was accepted"
done
[ "$(rd $ms)" = 64 ] || fail "a refused write changed max_sectors to '$(rd $ms)'"
echo 2048 >$ms || fail "writing 2048 failed"
msg=$(max_reads 2048) && [ -z "$msg" ] || fail "at 2048: $msg"
stop_device >/dev/null
test_end

test_begin "bot-device quirk r (IGNORE_RESIDUE) and d (not for ub): a bogus residue does not fail the read"
quirk_device dr || fail "no disk"
logged "quirk 'd' does not apply to ub" || fail "no line about d"
head -c 4096 /dev/urandom >$W/wr
dd if=$W/wr of=/dev/$DEV bs=4k seek=5 oflag=direct status=none || fail "write failed"
arm "fault bogus-residue op=read"
io r 5
[ "$GOT" = ok ] || fail "read with a bogus residue: $GOT (without the quirk: EIO)"
cmp -s $W/rd $W/wr || fail "the read returned wrong data"
dev_logged "fault done bogus-residue*" || fail "the device never sent the bogus residue"
stop_device >/dev/null
test_end

test_begin "bot-device quirk T (BULK_IGNORE_TAG): a CSW with another command's tag is taken, no reset"
quirk_device T || fail "no disk"
head -c 4096 /dev/urandom >$W/wr
dd if=$W/wr of=/dev/$DEV bs=4k seek=8 oflag=direct status=none || fail "write failed"
rec0=$(ub_stat $DEV recoveries)
arm "fault wrong-tag op=read"
io r 8
[ "$GOT" = ok ] || fail "read with a wrong CSW tag: $GOT"
cmp -s $W/rd $W/wr || fail "the read returned wrong data"
dev_logged "fault done wrong-tag*" || fail "the device never sent the wrong tag"
[ "$(ub_stat $DEV recoveries)" = "$rec0" ] || fail "a recovery ran: $(test_dmesg | grep 'ub:' | tail -n 1)"
[ "$(rd /sys/block/$DEV/device/quirks)" = T ] || fail "device/quirks reads '$(rd /sys/block/$DEV/device/quirks)'"
stop_device >/dev/null
test_end

# A device that never echoes the CBW's tag, in no table and without quirks=:
# the probe's INQUIRY gets a CSW with another tag, a reset follows, and so does
# the TEST UNIT READY right after it, when no earlier command's CSW can still
# come: T is learned, and that one reset is the last.
test_begin "bot-device CSW tag never matches, no quirks: T learned after one reset, reads and writes work, no more resets"
quirk_device "" --arm "fault wrong-tag count=forever" || fail "no disk"
if [ -n "$DEV" ]; then
	n=$(test_dmesg | grep -c "learned quirk T: CSWs with another tag for INQUIRY and for the TEST UNIT READY right after a reset; quirks=1d6b:0104:T makes it permanent")
	[ "$n" = 1 ] || fail "$n 'learned quirk T' lines: $(test_dmesg | grep 'learned quirk')"
	[ "$(rd /sys/block/$DEV/device/quirks)" = "learned: T" ] || fail "device/quirks reads '$(rd /sys/block/$DEV/device/quirks)'"
	[ "$(ub_stat $DEV recoveries)" = 1 ] || fail "$(ub_stat $DEV recoveries) recoveries at probe, expected 1"
	check_io 42; msg=$CHECK_IO
	[ -z "$msg" ] || fail "$msg"
	[ "$(ub_stat $DEV recoveries)" = 1 ] || fail "$(ub_stat $DEV recoveries) recoveries after I/O"
	[ "$(ub_stat $DEV tag_mismatches)" = 2 ] || fail "ub_stats/tag_mismatches: $(ub_stat $DEV tag_mismatches), expected the 2 before learning"
fi
stop_device >/dev/null
test_end

test_begin "bot-device CSW tag never matches, quirk T given: no reset, no tag mismatch, nothing learned"
quirk_device T --arm "fault wrong-tag count=forever" || fail "no disk"
check_io 42; msg=$CHECK_IO
[ -z "$msg" ] || fail "$msg"
[ "$(ub_stat $DEV recoveries)" = 0 ] || fail "$(ub_stat $DEV recoveries) recoveries"
[ "$(ub_stat $DEV tag_mismatches)" = 0 ] || fail "ub_stats/tag_mismatches: $(ub_stat $DEV tag_mismatches)"
logged "learned quirk" && fail "a quirk was learned: $(test_dmesg | grep 'learned quirk')"
stop_device >/dev/null
test_end

test_begin "bot-device built-in quirks of 0419:aaf5 (TrekStor i.Beat 115): lr in device/quirks, residues ignored"
quirk_device "" --vid 0x0419 --pid 0xaaf5 || fail "no disk"
logged "quirks 'lr' (built-in)" || fail "no built-in quirks line"
[ "$(rd /sys/block/$DEV/device/quirks)" = lr ] || fail "device/quirks reads '$(rd /sys/block/$DEV/device/quirks)', not 'lr'"
arm "fault bogus-residue op=read"
io r 5
[ "$GOT" = ok ] || fail "read with a bogus residue: $GOT"
stop_device >/dev/null
test_end

test_begin "bot-device quirk l (NOT_LOCKABLE): door lock and eject without PREVENT ALLOW MEDIUM REMOVAL"
quirk_device "" --removable || fail "no disk"
eject -i on /dev/$DEV >/dev/null 2>&1 || fail "door lock failed without the quirk"
[ "$(cmds 0x1e)" -ge 1 ] || fail "without the quirk, no PREVENT ALLOW MEDIUM REMOVAL"
eject -i off /dev/$DEV >/dev/null 2>&1
stop_device >/dev/null
quirk_device l --removable || fail "no disk"
eject -i on /dev/$DEV >/dev/null 2>&1 || fail "door lock failed with the quirk"
eject /dev/$DEV >/dev/null 2>&1 || fail "eject failed with the quirk"
[ "$(cmds 0x1b)" -ge 1 ] || fail "eject sent no START STOP UNIT"
[ "$(cmds 0x1e)" = 0 ] || fail "$(cmds 0x1e) PREVENT ALLOW MEDIUM REMOVAL despite the quirk"
stop_device >/dev/null
test_end

# A removable-medium device that hangs on PREVENT ALLOW MEDIUM REMOVAL (takes
# it, never answers), in no table and without quirks=: the first door lock tries
# it twice, a reset after each; l is learned and the lock succeeds without it,
# as with the letter. Nothing is sent for later locks and ejects.
test_begin "bot-device PREVENT ALLOW MEDIUM REMOVAL hangs, no quirks: l learned at the first door lock, lock and eject work after"
quirk_device "" --removable || fail "no disk"
if [ -n "$DEV" ]; then
	arm "fault silent-csw op=0x1e count=forever"
	eject -i on /dev/$DEV >/dev/null 2>&1 || fail "the door lock that learned l failed"
	[ "$(cmds 0x1e)" = 2 ] || fail "$(cmds 0x1e) PREVENT ALLOW MEDIUM REMOVAL, expected 2 tries"
	n=$(test_dmesg | grep -c "learned quirk l: PREVENT ALLOW MEDIUM REMOVAL got no status on 2 tries (timeout in CSW stage), the device answered after each reset; quirks=1d6b:0104:l makes it permanent")
	[ "$n" = 1 ] || fail "$n 'learned quirk l' lines: $(test_dmesg | grep 'learned quirk')"
	[ "$(rd /sys/block/$DEV/device/quirks)" = "learned: l" ] || fail "device/quirks reads '$(rd /sys/block/$DEV/device/quirks)'"
	rec0=$(ub_stat $DEV recoveries)
	eject -i off /dev/$DEV >/dev/null 2>&1 || fail "door unlock failed"
	eject -i on /dev/$DEV >/dev/null 2>&1 || fail "door lock failed"
	eject /dev/$DEV >/dev/null 2>&1 || fail "eject failed"
	[ "$(cmds 0x1b)" -ge 1 ] || fail "eject sent no START STOP UNIT"
	[ "$(cmds 0x1e)" = 2 ] || fail "PREVENT ALLOW MEDIUM REMOVAL sent again after l was learned"
	[ "$(ub_stat $DEV recoveries)" = "$rec0" ] || fail "a recovery after l was learned"
fi
stop_device >/dev/null
test_end

test_begin "bot-device quirk s (SINGLE_LUN): no GET MAX LUN; without quirks device/quirks is empty"
quirk_device "" || fail "no disk"
dev_logged 'event get-max-lun*' || fail "without the quirk, no GET MAX LUN"
[ -e /sys/block/$DEV/device/quirks ] && [ -z "$(rd /sys/block/$DEV/device/quirks)" ] ||
	fail "device/quirks of a device without quirks: '$(rd /sys/block/$DEV/device/quirks)'"
stop_device >/dev/null
quirk_device s || fail "no disk"
dev_logged 'event get-max-lun*' && fail "GET MAX LUN sent despite the quirk"
stop_device >/dev/null
test_end

test_begin "bot-device quirk w (NO_WP_DETECT): a write-protected medium is not detected"
quirk_device "" --write-protect || fail "no disk"
[ "$(rd /sys/block/$DEV/ro)" = 1 ] || fail "without the quirk the disk is not read-only"
stop_device >/dev/null
quirk_device w --write-protect || fail "no disk"
[ "$(rd /sys/block/$DEV/ro)" = 0 ] || fail "with the quirk the disk is read-only"
# The device still refuses writes: the writer sees an error, not silence.
io w 30
[ "$GOT" != ok ] || fail "a write to the protected medium succeeded"
logged "sense DataProtect 27/00" || fail "no DATA PROTECT line: $(ub_dmesg | tail -n 1)"
stop_device >/dev/null
test_end

test_begin "bot-device quirk p (WRITE_CACHE): cache assumed on when MODE SENSE fails"
quirk_device "" --write-cache off --arm "fault medium-error op=modesense count=forever" || fail "no disk"
[ "$(rd /sys/block/$DEV/queue/write_cache)" = "write through" ] || fail "without: $(rd /sys/block/$DEV/queue/write_cache)"
stop_device >/dev/null
quirk_device p --write-cache off --arm "fault medium-error op=modesense count=forever" || fail "no disk"
[ "$(rd /sys/block/$DEV/queue/write_cache)" = "write back" ] || fail "with: $(rd /sys/block/$DEV/queue/write_cache)"
stop_device >/dev/null
test_end

test_begin "bot-device quirk y (ALWAYS_SYNC): no MODE SENSE, fsync sends SYNCHRONIZE CACHE"
quirk_device y --write-cache off || fail "no disk"
[ "$(cmds 0x1a)" = 0 ] || fail "MODE SENSE sent despite the quirk"
[ "$(rd /sys/block/$DEV/queue/write_cache)" = "write back" ] || fail "write_cache: $(rd /sys/block/$DEV/queue/write_cache)"
dd if=$W/wr of=/dev/$DEV bs=4k seek=6 conv=fsync status=none || fail "write + fsync failed"
[ "$(cmds 0x35)" -ge 1 ] || fail "no SYNCHRONIZE CACHE after fsync"
stop_device >/dev/null
test_end

test_begin "bot-device quirk P (ub: port reset first): a timeout is recovered by a port reset alone"
quirk_device P || fail "no disk"
dd if=$W/wr of=/dev/$DEV bs=4k seek=7 oflag=direct status=none || fail "write failed"
p0=$(ub_stat $DEV port_resets) b0=$(ub_stat $DEV bulk_resets)
arm "fault silent-csw op=read"
io r 7
[ "$GOT" = ok ] || fail "dd: $GOT"
[ "$(ub_stat $DEV port_resets)" = $((p0 + 1)) ] || fail "ub_stats/port_resets: $p0 -> $(ub_stat $DEV port_resets)"
[ "$(ub_stat $DEV bulk_resets)" = "$b0" ] || fail "ub_stats/bulk_resets: $b0 -> $(ub_stat $DEV bulk_resets)"
cmp -s $W/rd $W/wr || fail "the read returned wrong data"
logged "timeout in CSW stage; port reset: device answers again" || fail "no port reset line: $(ub_dmesg | tail -n 1)"
logged "reset recovery" && fail "a Bulk-Only reset was tried"
dev_logged 'event bulk-reset*' && fail "the device saw a Bulk-Only reset"
stop_device >/dev/null
echo "" >/sys/module/ub/parameters/quirks
test_end


test_begin "bot-device quirk I (FIX_INQUIRY): no INQUIRY sent, identity from the USB strings, a removable disk"
quirk_device I || fail "no disk"
[ "$(cmds 0x12)" = 0 ] || fail "INQUIRY sent $(cmds 0x12) times despite the quirk"
[ "$(rd /sys/block/$DEV/ub/vendor)" = UBTEST ] || fail "vendor '$(rd /sys/block/$DEV/ub/vendor)'"
[ "$(rd /sys/block/$DEV/ub/model)" = "BOT FAULTS" ] || fail "model '$(rd /sys/block/$DEV/ub/model)'"
# The USB release number (bcdDevice 0x0100), not the INQUIRY revision "1.00".
[ "$(rd /sys/block/$DEV/ub/rev)" = 0100 ] || fail "rev '$(rd /sys/block/$DEV/ub/rev)'"
[ "$(rd /sys/block/$DEV/removable)" = 1 ] || fail "not removable, as usb-storage makes it"
check_io 9; [ -z "$CHECK_IO" ] || fail "$CHECK_IO"
stop_device >/dev/null
test_end

test_begin "bot-device quirk E (NEEDS_CAP16): READ CAPACITY(16) first, no READ CAPACITY(10)"
quirk_device E || fail "no disk"
[ "$(cmds 0x9e)" -ge 1 ] || fail "no READ CAPACITY(16)"
[ "$(cmds 0x25)" = 0 ] || fail "READ CAPACITY(10) sent $(cmds 0x25) times"
[ "$(rd /sys/block/$DEV/size)" = 131072 ] || fail "size $(rd /sys/block/$DEV/size)"
stop_device >/dev/null
test_end

test_begin "bot-device quirk n (INITIAL_READ10): a READ failing after one that worked is tried again, data intact"
quirk_device n || fail "no disk"
check_io 13; [ -z "$CHECK_IO" ] || fail "first read: $CHECK_IO"
arm "fault medium-error op=read"
io r 13
[ "$GOT" = ok ] || fail "the read after the failed one: $GOT (without the quirk: ENODATA)"
cmp -s $W/rd $W/wr || fail "the read returned wrong data"
dev_logged 'fault done medium-error*' || fail "the device never failed the read"
stop_device >/dev/null
test_end

test_begin "bot-device quirks B and S (BULK32, GO_SLOW): a device that takes only 32-byte CBWs works"
quirk_device BS --cbw32 || fail "no disk"
check_io 14; [ -z "$CHECK_IO" ] || fail "$CHECK_IO"
head -c $((1 << 20)) /dev/urandom >$W/big
dd if=$W/big of=/dev/$DEV bs=1M seek=4 oflag=direct status=none || fail "1 MiB write failed"
dd if=/dev/$DEV of=$W/big.back bs=1M skip=4 count=1 iflag=direct status=none || fail "1 MiB read failed"
cmp -s $W/big $W/big.back || fail "1 MiB read back differs"
dev_logged '*invalid CBW*' && fail "the device got a CBW that was not 32 bytes: $(grep -m1 'invalid CBW' $DEVLOG)"
[ "$(rd /sys/block/$DEV/device/quirks)" = BS ] || fail "device/quirks reads '$(rd /sys/block/$DEV/device/quirks)'"
stop_device >/dev/null
echo "" >/sys/module/ub/parameters/quirks
test_end

test_begin "bot-device quirk Y (SENSE_AFTER_SYNC): every SYNCHRONIZE CACHE is followed by a REQUEST SENSE"
quirk_device Y || fail "no disk"
: >$DEVLOG
dd if=$W/wr of=/dev/$DEV bs=4k seek=15 oflag=direct conv=fsync status=none || fail "write + fsync failed"
grep '^cmd ' $DEVLOG | awk '{ op = ""; for (i = 1; i <= NF; i++) if ($i ~ /^op=/) op = $i }
	prev == "op=0x35" && op != "op=0x03" { bad = 1 } op == "op=0x35" { n++ } { prev = op }
	END { exit !(n > 0 && !bad && prev != "op=0x35") }' ||
	fail "not every SYNCHRONIZE CACHE was followed by a REQUEST SENSE: $(grep '^cmd ' $DEVLOG | sed 's/.* op=\(0x[0-9a-f]*\) .*/\1/' | tr '\n' ' ')"
stop_device >/dev/null
echo "" >/sys/module/ub/parameters/quirks
test_end

echo "" >/sys/module/ub/parameters/quirks

ktap_finished
