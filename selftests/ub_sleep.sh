#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# System sleep: the guest goes to ACPI S3 (suspend to RAM) with an ext4 mounted on
# one ub disk and unsynced data in its page cache, and another ub disk open with a
# write in its write cache that nothing has flushed; the RTC alarm wakes it. ub's
# suspend must send SYNCHRONIZE CACHE to both disks before the sleep, the disks
# must come back (QEMU resets its devices on the way out of S3: the xHCI is
# reinitialised and every USB device reset, as on many real machines) without a
# rebind, with every byte written before the sleep, and take I/O after it.
#
# S3 also resets the virtio devices that the guest's root filesystem and this
# boot's results directory (9p) live on, and 9p has no resume: after the sleep
# nothing on them can be read or written. So this program runs last in its boot,
# and its part from the sleep on runs from memory: busybox and e2fsck copied to a
# tmpfs, chrooted, with its TAP lines on the second serial port (/dev/ttyS1),
# which the runner reads with the results (scripts/ubvm guest_output()). That
# part ends the boot itself: it prints the status line stage 2 would have
# written, and reboots (QEMU runs with -no-reboot, so it exits).
#
# Guest devices: pm0 (usb-storage, 32 MiB: ext4), stick0 (usb-storage, 64 MiB:
# raw, open across the sleep). Needs the second serial port of scripts/ubvm.

. "$(dirname "$0")/lib.sh"

ktap_print_header
ktap_set_plan 5

R=/run/ub-sleep
load_ub_and_wait || ktap_exit_fail_msg "$(count_ub_disks) ub disks for: $UB_DISKS"
# By serial: ub_pm.sh, before, made an ext4 of pm0 and its label is gone.
pm=$(disk_by_serial UBPM0) || ktap_exit_fail_msg "no disk for pm0 (serial UBPM0)"
stick=$(disk_by_label stick0) || ktap_exit_fail_msg "no disk for stick0"
[ -c /dev/ttyS1 ] && [ -w /sys/power/state ] || ktap_exit_fail_msg "no /dev/ttyS1 or /sys/power/state"
grep -qw deep /sys/power/mem_sleep || ktap_exit_fail_msg "no S3: mem_sleep is '$(</sys/power/mem_sleep)'"

# Runtime PM would flush the caches too: keep both devices awake, so that a
# SYNCHRONIZE CACHE during the sleep can only be system sleep's.
for d in $pm $stick; do
	echo on >"$(usb_dev_of $d)/power/control"
done

# The root the second part runs in: static busybox, e2fsck with its libraries,
# the data to compare (the report patterns come in the environment, from lib.sh).
mkdir -p $R && mount -t tmpfs -o size=64m tmpfs $R || ktap_exit_fail_msg "no tmpfs at $R"
mkdir -p $R/bin $R/dev $R/proc $R/sys $R/mnt $R/tmp
cp "$(command -v busybox)" $R/bin/busybox
for f in /sbin/e2fsck $(ldd /sbin/e2fsck | grep -o '/[^ ]*'); do
	mkdir -p "$R${f%/*}" && cp -L "$f" "$R$f"
done
mount --bind /dev $R/dev
mount -t proc proc $R/proc
mount -t sysfs sysfs $R/sys
mount -t debugfs debugfs $R/sys/kernel/debug

# ext4 on pm0, a file written and not synced (the sleep's own sync writes it);
# on stick0 1 MiB written with O_DIRECT at 8 MiB: in the device's write cache,
# with no flush after it.
mkfs.ext4 -q -F /dev/$pm || ktap_exit_fail_msg "mkfs.ext4 on $pm failed"
mount /dev/$pm $R/mnt || ktap_exit_fail_msg "mount of $pm failed"
head -c $((4 << 20)) /dev/urandom >$R/mnt/before
(cd $R/mnt && md5sum before) >$R/before.md5
head -c $((1 << 20)) /dev/urandom >$R/raw.pat
dd if=$R/raw.pat of=/dev/$stick bs=1M seek=8 count=1 oflag=direct status=none ||
	ktap_exit_fail_msg "write to $stick failed"

# The second part, in busybox sh. Its tests are numbered on from this part's.
cat >$R/after.sh <<'EOF'
pm=$1 stick=$2 hc=$3 n=0 rc=0
DDC=/sys/kernel/debug/dynamic_debug/control
tap() { # tap OK|FAIL DESCRIPTION [DIAGNOSTIC...]
	n=$((n + 1))
	r=$1 d=$2
	shift 2
	for l in "$@"; do
		printf '%s\n' "$l" | while IFS= read -r x; do [ -n "$x" ] && echo "# $hc $d: $x"; done
	done
	if [ "$r" = OK ]; then echo "ok $n $hc $d"; else echo "not ok $n $hc $d"; rc=1; fi
}
stat() { cat /sys/block/$1/device/ub_stats/$2; }
intf() { basename "$(readlink -f /sys/block/$1/device)"; }
s_pm=$(stat $pm suspends) s_st=$(stat $stick suspends)
w_pm=$(($(stat $pm resumes) + $(stat $pm reset_resumes)))
w_st=$(($(stat $stick resumes) + $(stat $stick reset_resumes)))
mark=$(dmesg | wc -l)

# The sleep, with stick0 open, and the CBW of every command traced.
exec 3</dev/$stick
echo 'module ub +p' >$DDC
echo deep >/sys/power/mem_sleep
echo 0 >/sys/class/rtc/rtc0/wakealarm
echo +5 >/sys/class/rtc/rtc0/wakealarm
echo mem >/sys/power/state
slept=$?
echo 'module ub -p' >$DDC
dmesg | tail -n +$((mark + 1)) >/tmp/log
# The part of the log from the sleep's start to the platform's S3 entry.
sed -n '/PM: suspend entry/,/Preparing to enter system sleep state S3/p' /tmp/log >/tmp/before-s3

why=""
[ $slept = 0 ] || why="echo mem: status $slept"
grep -q 'Waking up from system sleep state S3' /tmp/log || why="$why; no wake-up from S3 in the log"
grep -q 'PM: suspend exit' /tmp/log || why="$why; no 'PM: suspend exit'"
[ -b /dev/$pm ] && [ -b /dev/$stick ] || why="$why; a disk is gone"
# Bound again (a resume that failed ends in a rebind): not the same disks.
again=$(grep -E "ub [0-9.:-]+: (bound|released)" /tmp/log | head -n 2)
[ -z "$again" ] || why="$why; $again"
tap "$([ -z "$why" ] && echo OK)" \
	"system sleep (S3, RTC wake-up) with ext4 mounted and a disk open: both disks stay, same names" "${why#; }"

flushed() { # flushed DISK SUSPENDS_BEFORE RESUMES_BEFORE
	local i
	i=$(intf $1)
	grep -q "ub $i: .*CBW tag [0-9]* LUN 0 opcode 0x35" /tmp/before-s3 ||
		why="$why; $1 ($i): no SYNCHRONIZE CACHE between suspend entry and S3"
	[ "$(stat $1 suspends)" -gt "$2" ] || why="$why; $1: ub_stats/suspends stayed at $2"
	[ $(($(stat $1 resumes) + $(stat $1 reset_resumes))) -gt "$3" ] ||
		why="$why; $1: neither ub_stats/resumes nor reset_resumes grew from $3"
}
why=""
flushed $pm $s_pm $w_pm
flushed $stick $s_st $w_st
tap "$([ -z "$why" ] && echo OK)" \
	"suspend sends SYNCHRONIZE CACHE to each disk with a write cache, resume counted" "${why#; }"

why=""
dd if=/dev/$stick of=/tmp/raw.back bs=1M skip=8 count=1 iflag=direct 2>/tmp/err || why="read failed: $(cat /tmp/err)"
cmp -s /raw.pat /tmp/raw.back || why="$why; $stick: the 1 MiB written before the sleep differs"
# Page cache only (1): evicting inodes (2) would evict 9p's, whose release
# waits on the dead 9p device for good.
echo 1 >/proc/sys/vm/drop_caches
(cd /mnt && md5sum -c -s /before.md5) || why="$why; $pm: the file written before the sleep differs"
tap "$([ -z "$why" ] && echo OK)" \
	"data written before the sleep reads back after it (raw O_DIRECT, and ext4 from the device)" "${why#; }"

why=""
head -c 1048576 /dev/urandom >/tmp/new.pat
dd if=/tmp/new.pat of=/dev/$stick bs=1M seek=16 count=1 oflag=direct 2>/tmp/err || why="write failed: $(cat /tmp/err)"
dd if=/dev/$stick of=/tmp/new.back bs=1M skip=16 count=1 iflag=direct 2>/tmp/err || why="$why; read failed: $(cat /tmp/err)"
cmp -s /tmp/new.pat /tmp/new.back || why="$why; $stick: written after the sleep, read back different"
head -c 2097152 /dev/urandom >/mnt/after && (cd /mnt && md5sum before after) >/tmp/all.md5 && sync -f /mnt/after ||
	why="$why; writing to ext4 failed"
exec 3<&-
umount /mnt || why="$why; umount failed"
e2fsck -fn /dev/$pm >/tmp/fsck 2>&1 || why="$why; e2fsck: $(tail -n 3 /tmp/fsck | tr '\n' ' ')"
mount /dev/$pm /mnt && (cd /mnt && md5sum -c -s /tmp/all.md5) || why="$why; files differ after remount"
umount /mnt
tap "$([ -z "$why" ] && echo OK)" \
	"I/O after the resume: raw write reads back, ext4 written, fsck clean, files intact after remount" "${why#; }"

dmesg | tail -n +$((mark + 1)) | grep -E "$UB_REPORTS_RE" | grep -v -E "$UB_EXCEPT_RE" | head -n 20 >/tmp/reports
tap "$([ -s /tmp/reports ] || echo OK)" "kernel log clean from the sleep to the end" \
	"$(sed 's/^/kernel: /' /tmp/reports)"

echo "# exit: $rc"
# What stage 2 would have written to the results directory: scripts/ubvm
# takes it from this port when the results directory has no status.
echo "ubvm: command exited with $rc"
# No sync(2) (-n): it would wait on the 9p mounts, dead since the sleep.
reboot -f -n
EOF

ktap_print_msg "the rest of this program's output comes on /dev/ttyS1, after the sleep"
exec chroot $R /bin/busybox sh /after.sh "$pm" "$stick" "$UB_HC" >/dev/ttyS1 2>&1
