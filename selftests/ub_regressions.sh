#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Defects that reviews and devices outside this repository found, each checked by
# what a user of the disk would see: the bytes a read returns, the name and dev_t a
# new disk gets, whether a media change reaches the file system, how long an unbind
# takes, how many lines a flood of failing requests leaves in the log. Each test
# but the last failed before its fix (the commit that fixed it says so).
#
# Guest devices: none from QEMU; selftests/bot-device runs on dummy_hcd.

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/bot_lib.sh"

ktap_print_header
ktap_set_plan 11

setup_bot_device

# restart_device [ub-bot-device options...]: a new emulator (a new, empty RAM
# disk) with the pattern written.
restart_device() {
	stop_device
	start_device "$@" && write_pattern
}

restart_device || ktap_exit_fail_msg "the emulated device did not come up"
head -c 4096 /dev/urandom >$W/wr

# The read lands in a buffer of 0xAA bytes (bot_lib.sh's io): a request that
# completed without its data returns them, and the CSW's 13 bytes at its start.
test_begin "bot-device failed CSW in place of read data, RECOVERED ERROR sense: read again, no stale bytes"
dd if=$W/wr of=/dev/$DEV bs=4k seek=40 oflag=direct status=none || fail "setup write failed"
arm "fault csw-as-data-recovered op=read"
io r 40
[ "$GOT" = ok ] || fail "read: $GOT"
cmp -s $W/rd $W/wr || fail "the read returned $(od -An -tx1 -N16 $W/rd | tr -s ' ') ..., not the block's data"
dev_logged 'fault done csw-as-data-recovered*' || fail "the device never acted on the fault"
pattern_intact || fail "the next read failed, or the pattern at 1 MiB changed"
test_end

test_begin "bot-device failed CSW in place of read data on every try, RECOVERED ERROR sense: EIO"
arm "fault csw-as-data-recovered op=read count=forever"
io r 40
[ "$GOT" = EIO ] || fail "read: $GOT, expected EIO$([ "$GOT" = ok ] && cmp -s $W/rd $W/wr || echo ' (stale data)')"
echo clear >$CTL
nap 0.5
pattern_intact || fail "the next read failed, or the pattern at 1 MiB changed"
test_end

# The sense names the block in the middle of the read as bad; none of the data
# came, so none of the blocks before it may complete either.
test_begin "bot-device failed CSW in place of read data, MEDIUM ERROR mid-read: ENODATA, no block completes"
arm "fault csw-as-data-medium op=read"
io r 41
[ "$GOT" = ENODATA ] || fail "read: $GOT, expected ENODATA"
logged "sense MediumError 11/00" || fail "no MEDIUM ERROR line"
logged "sectors before it completed" &&
	fail "blocks completed that never came: $(test_dmesg | grep -m1 'sectors before')"
pattern_intact || fail "the next read failed, or the pattern at 1 MiB changed"
test_end

# sd frees a disk's index when its last opener is gone, not at unplug: the kernel
# finds a file system by dev_t, and one still mounted on the old disk would be
# taken for the new disk's.
test_begin "bot-device unplugged with ext4 mounted and a file open: the next disk gets another name and dev_t"
old=$DEV old_devt=$(rd /sys/block/$DEV/dev)
mkdir -p $W/old $W/new
mkfs.ext4 -q -F -L ubold /dev/$DEV >/dev/null 2>&1 || fail "mkfs failed"
mount /dev/$DEV $W/old || fail "mount failed"
echo old >$W/old/file
sync
# A process of its own holds the file open (a descriptor of this shell's would
# be inherited by the next emulator).
sleep 600 <$W/old/file &
holder=$!
stop_device
start_device || fail "the device did not come back"
[ "$DEV" != "$old" ] || fail "the new disk is $DEV again while the old $old is open"
[ "$(rd /sys/block/$DEV/dev)" != "$old_devt" ] || fail "the new disk has dev_t $old_devt, still the open old disk's"
mkfs.ext4 -q -F -L ubnew /dev/$DEV >/dev/null 2>&1 || fail "mkfs on the new disk failed"
if mount /dev/$DEV $W/new; then
	[ -e $W/new/file ] && fail "mounting the new disk gave the old file system"
	umount $W/new
else
	fail "mounting the new disk failed"
fi
kill $holder
wait $holder 2>/dev/null
umount $W/old || fail "the old file system could not be unmounted"
stop_device
# Closed and unmounted, the old disk is freed: its name is the first free again.
restart_device || fail "the device did not come back"
[ "$DEV" = "$old" ] || fail "the disk is $DEV, not $old, once nothing held $old"
test_end

# usb-storage's INITIAL_READ10 (quirk n) tries a READ again when it fails right
# after one that worked; its sense must still be recorded, or a new card under a
# mounted file system is written as if it were the old one.
test_begin "bot-device quirk n, removable: UNIT ATTENTION 28/00 after a read that worked fails the read"
stop_device
quirk_device n --removable || fail "no disk"
check_io 13; [ -z "$CHECK_IO" ] || fail "first read: $CHECK_IO"
arm "fault unit-attention op=read"
io r 13
[ "$GOT" = EIO ] || fail "the read after the medium changed: $GOT (the UNIT ATTENTION was swallowed)"
dev_logged 'fault done unit-attention*' || fail "the device never reported the change"
logged "UnitAttention 28/00" || fail "no UNIT ATTENTION line"
echo "" >/sys/module/ub/parameters/quirks
restart_device || fail "the device did not come back"
test_end

# A device may lose power while suspended (bus power cut, port power off, a
# reset-resume): what its volatile cache held is gone. sd flushes the cache on
# runtime suspend; so must ub. The emulator's cache loses its contents when the
# host suspends it.
test_begin "bot-device volatile write cache lost in autosuspend: acknowledged writes survive it"
stop_device
start_device --volatile-cache || fail "no disk"
head -c 65536 /dev/urandom >$W/cached
dd if=$W/cached of=/dev/$DEV bs=64k seek=40 oflag=direct status=none || fail "write failed"
u=$(usb_dev_of $DEV)
echo 200 >$u/power/autosuspend_delay_ms
echo auto >$u/power/control
wait_for 30 dev_logged 'event suspend*' || fail "the device was never suspended"
dd if=/dev/$DEV of=$W/cached.back bs=64k skip=40 count=1 iflag=direct status=none || fail "read after resume failed"
echo on >$u/power/control
cmp -s $W/cached $W/cached.back || fail "written data lost in suspend: $(grep -m1 '^event cache-lost' $DEVLOG)"
dev_logged 'event cache-lost chunks=0' || fail "the cache held data at suspend: $(grep '^event cache-lost' $DEVLOG)"
restart_device || fail "the device did not come back"
test_end

# A card swapped just as the reader autosuspends: the SYNCHRONIZE CACHE before
# the suspend is the command that gets the UNIT ATTENTION, and a device tells it
# once. It must reach the disk as sd's would: the disk held open fails its I/O
# (the page cache there is the old card's), a new open reads the new card.
test_begin "bot-device removable, write cache: a medium change reported to the flush before autosuspend is not lost"
restart_device --removable --write-cache on || fail "no disk"
dd if=$W/wr of=/dev/$DEV bs=4k seek=60 oflag=direct status=none || fail "setup write failed"
rm -f $W/go
python3 -S -c '
import errno, mmap, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT)
buf = mmap.mmap(-1, 4096)
def read():
    try:
        os.preadv(fd, [buf], 60 * 4096)
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
print(read(), flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.1)
print(read(), flush=True)
' /dev/$DEV $W/go >$W/held.out 2>&1 &
held=$!
wait_for 10 grep -q . $W/held.out || fail "the holder did not read"
arm "fault unit-attention op=sync"
u=$(usb_dev_of $DEV)
echo 200 >$u/power/autosuspend_delay_ms
echo auto >$u/power/control
wait_for 30 dev_logged 'event suspend*' || fail "the device was never suspended"
echo on >$u/power/control
dev_logged 'fault done unit-attention*' || fail "the flush before the suspend never got the UNIT ATTENTION"
touch $W/go
wait $held
read -r first second <<<"$(tr '\n' ' ' <$W/held.out)"
[ "$first" = ok ] || fail "the first read on the held disk: $first"
[ "$second" = EIO ] || fail "the held disk read the new medium: $second, expected EIO (the change was lost)"
logged "cache flush before autosuspend failed" &&
	fail "a medium change logged as a failed flush: $(test_dmesg | grep -m1 'cache flush before')"
io r 60
[ "$GOT" = ok ] && cmp -s $W/rd $W/wr || fail "a new open did not read the medium: $GOT"
restart_device || fail "the device did not come back"
test_end

# Lines a user can cause once per request or ioctl go through the device's rate
# limit: 10 per 5 s (the kernel's default burst and interval).
# log_bound MS: the most lines such a limit lets through in MS milliseconds.
log_bound() {
	echo $((10 * ($1 / 5000 + 2)))
}

test_begin "bot-device disk that stops again after every START: spin-up lines rate-limited"
arm "fault not-ready-until-start op=read count=forever"
starts0=$(cmds 0x1b)
t0=$(now_ms)
for ((i = 1; i <= 60; i++)); do
	io r $((50 + i))
done
ms=$(($(now_ms) - t0))
echo clear >$CTL
starts=$(($(cmds 0x1b) - starts0))
lines=$(test_dmesg | grep -c "spinning up")
bound=$(log_bound $ms)
ktap_print_msg "$starts START STOP UNIT in $ms ms, $lines spin-up lines (at most $bound)"
[ "$starts" -gt "$bound" ] || fail "only $starts spin-ups: too few to show the limit"
[ "$lines" -le "$bound" ] || fail "$lines spin-up lines in $ms ms"
test_end

test_begin "bot-device eject refused by the device, 60 times: eject lines rate-limited"
arm "fault medium-error op=0x1b count=forever"
starts0=$(cmds 0x1b)
t0=$(now_ms)
python3 -S -c '
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
fails = 0
for _ in range(60):
    try:
        fcntl.ioctl(fd, 0x5309)  # CDROMEJECT
    except OSError:
        fails += 1
print(fails)
' /dev/$DEV >$W/ejects 2>&1
ms=$(($(now_ms) - t0))
echo clear >$CTL
[ "$(<$W/ejects)" = 60 ] || fail "ejects that failed: $(<$W/ejects), expected 60"
lines=$(test_dmesg | grep -c "eject failed")
bound=$(log_bound $ms)
ktap_print_msg "$(($(cmds 0x1b) - starts0)) START STOP UNIT in $ms ms, $lines eject lines (at most $bound)"
[ "$lines" -le "$bound" ] || fail "$lines eject lines in $ms ms"
[ "$lines" -ge 1 ] || fail "no eject line at all"
test_end

# SG_IO's caller sets its timeout, up to 2^32 ms: the wait must neither look like a
# hung task nor hold up an unbind. The hung-task detector runs with a 4 s
# threshold while the command waits 12 s (blk_execute_rq wakes up in the same
# way to stay clear of it).
test_begin "bot-device SG_IO READ with a 12 s timeout, device silent: EIO after it, no hung-task report"
arm "fault silent-data op=read"
hung=$(rd /proc/sys/kernel/hung_task_timeout_secs)
echo 4 >/proc/sys/kernel/hung_task_timeout_secs
t0=$(now_ms)
sg_raw -t 12 -r 4096 /dev/$DEV 28 00 00 00 01 00 00 00 08 00 >$W/sg.out 2>&1
rc=$?
ms=$(($(now_ms) - t0))
echo "$hung" >/proc/sys/kernel/hung_task_timeout_secs
dev_logged '*fault=silent-data*' || fail "the READ never reached the device"
[ "$rc" != 0 ] || fail "SG_IO to a silent device succeeded"
[ "$ms" -ge 12000 ] || fail "SG_IO returned after $ms ms, before its 12 s"
[ "$ms" -lt 30000 ] || fail "SG_IO returned after $ms ms"
ktap_print_msg "SG_IO with a 12 s timeout: sg_raw exit $rc after $ms ms"
pattern_intact || fail "the next read failed, or the pattern at 1 MiB changed"
test_end

# Last: a command the caller let wait for 2^32 ms must end when the interface
# goes. The USB core cancels the interface's URBs before the driver's disconnect;
# this guards that nothing in ub waits for the caller's timeout all the same.
test_begin "bot-device SG_IO READ with a 2^32 ms timeout, device silent: unbind ends it within seconds"
intf=$(interface_by_serial UBFAULT0)
arm "fault silent-data op=read"
: >$W/sg.rc
( sg_raw -t 4294967 -r 4096 /dev/$DEV 28 00 00 00 01 00 00 00 08 00 >$W/sg.out 2>&1; echo $? >$W/sg.rc ) &
wait_for 20 dev_logged '*fault=silent-data*' || fail "the READ never reached the device"
nap 1
t0=$(now_ms)
( echo "$intf" >/sys/bus/usb/drivers/ub/unbind; echo done >$W/unbound ) &
wait_for 30 test -s $W/unbound || fail "unbind still waiting after 30 s"
ms=$(($(now_ms) - t0))
wait_for 10 test -s $W/sg.rc || fail "SG_IO still waiting after the unbind"
[ "$(rd $W/sg.rc)" != 0 ] || fail "SG_IO to a silent device succeeded"
ktap_print_msg "unbind took $ms ms with SG_IO in flight; sg_raw exit $(rd $W/sg.rc)"
[ "$ms" -lt 12000 ] || fail "unbind took $ms ms"
echo clear >$CTL
stop_device
test_end


ktap_finished
