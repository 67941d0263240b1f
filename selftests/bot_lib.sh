#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Helpers for the tests that run selftests/bot-device (ub-bot-device) on the
# guest's dummy_hcd: start and stop the emulated device, arm its faults, and one
# timed 4 KiB direct read or write. Sourced after lib.sh.

BOT=${UB_BOT_DEVICE:-$UB_REPO/target/release/ub-bot-device}
W=/tmp/ub-faults
CTL=$W/ctl
DEVLOG=$W/dev.log

# setup_bot_device: the modules and the emulator the tests need, or the
# program's whole plan fails.
setup_bot_device() {
	mkdir -p $W
	rm -f $W/*
	# Never leave the device running: it would outlive the test.
	trap 'pkill -f "$BOT" 2>/dev/null' EXIT
	modprobe dummy_hcd || ktap_exit_fail_msg "no dummy_hcd"
	modprobe raw_gadget || ktap_exit_fail_msg "no raw_gadget"
	[ -d /sys/module/ub ] || insmod "$UB_KO" || ktap_exit_fail_msg "insmod ub failed"
	[ -x "$BOT" ] || ktap_exit_fail_msg "no $BOT (cargo build --release -p ub-bot-device)"
}

# start_device [ub-bot-device options...]: start the emulator and wait for its ub
# disk; sets DEV (ubX) and BOT_PID.
start_device() {
	DEV=""
	# Its own output to a file: a background job holding the test's stdout would
	# keep the runner's pipe open.
	"$BOT" --blocks 131072 --serial UBFAULT0 --control $CTL --log $DEVLOG "$@" >>$W/bot.out 2>&1 &
	BOT_PID=$!
	wait_for 60 dev_logged 'ready*' || { echo "device not configured"; return 1; }
	local intf
	wait_for 30 eval 'intf=$(interface_by_serial UBFAULT0)' || { echo "no interface"; return 1; }
	wait_for 60 eval 'DEV=$(ls /sys/bus/usb/devices/$intf/block 2>/dev/null | head -n 1); [ -n "$DEV" ]' ||
		{ echo "ub made no disk for $intf"; return 1; }
}

# stop_device: disconnect the emulator and wait until the disk is gone.
stop_device() {
	[ -n "${BOT_PID:-}" ] || return 0
	kill -TERM "$BOT_PID" 2>/dev/null
	wait "$BOT_PID" 2>/dev/null
	BOT_PID=""
	[ -z "$DEV" ] || wait_for 30 test ! -e "/sys/block/$DEV" || echo "$DEV still there after disconnect"
	: >$DEVLOG
}

# is_disk: /dev/$DEV is a block device. Where the disk went, a dd to its name
# would make a regular file there, which reads back what was written: every
# helper below checks first.
is_disk() {
	[ -n "$DEV" ] && [ -b "/dev/$DEV" ]
}

# A pattern at 1 MiB that every test checks afterwards.
write_pattern() {
	head -c 65536 /dev/urandom >$W/pat
	is_disk && dd if=$W/pat of=/dev/$DEV bs=64k seek=16 oflag=direct status=none
}
pattern_intact() {
	io r 256 16 $W/pat
	[ "$GOT" = ok ] && [ "$DATA" = same ]
}

# The I/O of io(): COUNT 4 KiB blocks (one by default) read or written with one
# O_DIRECT system call, timed around that call alone (spawning a process takes
# seconds under TCG when the host is busy, and is not the driver's time). Prints
# "ok MS", or the errno's name and MS; a read given a file to compare with adds
# "same" or "differs".
IO_PY='
import errno, mmap, os, sys, time
def one(op, dev, block, path, count=1, expect=None):
    size = 4096 * count
    buf = mmap.mmap(-1, size)
    # A read lands in 0xAA bytes: what a request completed without moving shows.
    buf.write(b"\xaa" * size)
    buf.seek(0)
    if op == "w":
        with open(path, "rb") as f:
            buf.write(f.read(size))
    fd = os.open(dev, (os.O_RDONLY if op == "r" else os.O_WRONLY) | os.O_DIRECT)
    t0 = time.monotonic()
    try:
        n = os.preadv(fd, [buf], block * 4096) if op == "r" else os.pwrite(fd, buf, block * 4096)
        res = "ok" if n == size else "short"
    except OSError as e:
        res = errno.errorcode.get(e.errno, str(e.errno))
    finally:
        os.close(fd)
    ms = int((time.monotonic() - t0) * 1000)
    if op == "r" and res == "ok":
        with open(path, "wb") as f:
            f.write(buf[:])
        if expect:
            with open(expect, "rb") as f:
                res += " %d " % ms + ("same" if f.read(size) == buf[:] else "differs")
                return res
    return f"{res} {ms}"
def request(args):
    op, dev, block, path = args[:4]
    count = int(args[4]) if len(args) > 4 else 1
    return one(op, dev, int(block), path, count, args[5] if len(args) > 5 else None)
if sys.argv[1] == "serve":
    # One request a line on stdin, one answer a line on stdout: a process
    # start costs ~2 s under TCG, a request through this one nothing.
    for line in sys.stdin:
        try:
            print(request(line.split()), flush=True)
        except Exception as e:
            print(f"{type(e).__name__}: {e}".replace("\n", " "), flush=True)
else:
    print(request(sys.argv[1:]))
'

# io r|w BLOCK [COUNT [FILE]]: a direct read (into $W/rd) or write (of $W/wr) of
# COUNT (1) 4 KiB blocks at block BLOCK (4 KiB units); sets GOT to ok or the
# errno name (EIO, ENODATA, ETIMEDOUT, ENODEV...; HANG after 120 s; no-disk where
# /dev/$DEV is not a block device), IO_MS to the time the I/O took, and for a
# read compared with FILE, DATA to same or differs. The program's own shell
# sends it to one long-running python3 (started at the first call, started
# again after a hang); a subshell (a background reader) starts its own.
io() {
	local out file=$W/wr rc
	[ "$1" = r ] && file=$W/rd
	DATA=""
	if ! is_disk; then
		GOT="no-disk" IO_MS=0
		return
	fi
	if [ "$BASHPID" = "$$" ]; then
		if [ -z "${IO_HELPER_PID:-}" ]; then
			coproc IO_HELPER { exec python3 -S -c "$IO_PY" serve 2>&1; }
		fi
		echo "$1 /dev/$DEV $2 $file ${3:-1} $4" >&"${IO_HELPER[1]}"
		if read -r -t 120 out <&"${IO_HELPER[0]}"; then
			rc=0
		else
			# Hung (or died): the next call starts another.
			kill "$IO_HELPER_PID" 2>/dev/null
			[ -z "${IO_HELPER[1]:-}" ] || exec {IO_HELPER[0]}<&- {IO_HELPER[1]}>&-
			unset IO_HELPER_PID
			rc=124
		fi
	else
		out=$(timeout 120 python3 -S -c "$IO_PY" "$1" "/dev/$DEV" "$2" "$file" "${3:-1}" $4 2>&1)
		rc=$?
	fi
	if [ $rc = 124 ]; then
		GOT=HANG IO_MS=120000
	elif [[ $out =~ ^([A-Za-z0-9]+)\ ([0-9]+)(\ (same|differs))?$ ]]; then
		GOT=${BASH_REMATCH[1]} IO_MS=${BASH_REMATCH[2]} DATA=${BASH_REMATCH[4]}
	else
		GOT="other: $out" IO_MS=0
	fi
}

# The emulator's log, read by this shell (a grep of it is a process, ~0.3 s
# under TCG): dev_logged GLOB is true if a whole line matches GLOB (`grep -q` of
# DEVLOG), dev_count GLOB sets DEV_N to how many do (`grep -c`).
dev_count() {
	local l
	DEV_N=0
	mapfile -t _devlog 2>/dev/null <"$DEVLOG" || _devlog=()
	for l in "${_devlog[@]}"; do
		# shellcheck disable=SC2053 # $1 is a glob
		[[ $l == $1 ]] && DEV_N=$((DEV_N + 1))
	done
	unset _devlog
}
dev_logged() {
	dev_count "$1"
	[ "$DEV_N" -gt 0 ]
}

# arm LINE: send the emulator a control line and wait until its log says the
# fault is armed.
arm() {
	local before deadline=$((EPOCHSECONDS + 10))
	dev_count 'fault armed*'
	before=$DEV_N
	echo "$*" >$CTL
	until dev_count 'fault armed*' && [ "$DEV_N" -gt "$before" ]; do
		[ "$EPOCHSECONDS" -lt "$deadline" ] || { echo "fault not armed: $*"; return; }
		nap 0.05
	done
}

# check_io BLOCK: a 4 KiB write and direct read of BLOCK return the same data;
# CHECK_IO says what went wrong, or is empty.
check_io() {
	CHECK_IO=""
	is_disk || { CHECK_IO="no disk /dev/$DEV"; return; }
	io w "$1"
	[ "$GOT" = ok ] || { CHECK_IO="write: $GOT"; return; }
	io r "$1" 1 $W/wr
	[ "$GOT" = ok ] || { CHECK_IO="read: $GOT"; return; }
	[ "$DATA" = same ] || CHECK_IO="the read returned wrong data"
}

# Quirks: ub.quirks names the emulator (its default id 1d6b:0104, bcdDevice
# 0x0100) with usb-storage's letters; each test shows the behaviour the flag
# names, next to the same device without it where the default would not show it.
QUIRK_ID=1d6b:0104

# quirk_device LETTERS [emulator options]: ub.quirks set to LETTERS for the
# emulator ("" for none), then start_device; sets DEV.
quirk_device() {
	echo "${1:+$QUIRK_ID:$1}" >/sys/module/ub/parameters/quirks
	shift
	: >$DEVLOG
	start_device "$@"
}

# cmds OPCODE: how many commands with this opcode (e.g. 0x1a) the device saw.
cmds() {
	dev_count "cmd * op=$1 *"
	echo "$DEV_N"
}
