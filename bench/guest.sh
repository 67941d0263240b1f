#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The benchmark's guest half (run by scripts/bench inside the VM). One image is
# exposed three ways: a usb-storage device (serial UBBENCH0) that is bound in turn
# to ub and to usb-storage through sysfs, a usb-uas device bound to uas, and a
# virtio-blk disk (serial UBBENCHV), the VM's ceiling. For each repetition every
# driver runs every job, the drivers' order rotating between repetitions so that
# drift in the host's speed spreads over all of them.
#
# fio runs pinned to the last CPU, for every driver: left to the scheduler it
# hops between the CPU taking the controller's interrupts and the other, and the
# same job then differs by half between runs.
#
# Per run it leaves in $OUT: DRIVER.JOB.REP.json (fio's JSON) and DRIVER.JOB.REP.cpu
# ("busy_jiffies all_jiffies" from /proc/stat around the run: the CPU the whole
# guest spent, driver threads and interrupts included, which fio's own usr/sys
# misses), plus setup.txt (the queue limits each driver got).
#
# With UB_BENCH_MARK=1 (scripts/bench-trace) every run on a USB disk is framed by
# two direct reads the fio jobs never issue, 12 KiB before and 20 KiB after it, so
# that a trace of the emulated device can be cut into runs; marks.txt lists the
# runs in order.
#
# With UB_BENCH_PERF=1 (scripts/bench-trace) fio runs under `perf record -a -g`
# (the whole guest, kernel symbols of the modules included) and DRIVER.JOB.REP.perf
# gets the flat profile by symbol.
#
# Usage: guest.sh OUTDIR REPS RUNTIME DRIVERS... -- JOBS...
#   a job is NAME:RW:BS:QD[:READ%], e.g. rand-read-4k-qd1:randread:4k:1

. "$(dirname "$0")/../selftests/lib.sh"

OUT=$1 REPS=$2 RUNTIME=$3
shift 3
DRIVERS=()
while [ "$1" != -- ]; do DRIVERS+=("$1"); shift; done
shift
JOBS=("$@")
mkdir -p "$OUT"
# The region every job works on: prefilled on the host, so no read hits a hole.
SIZE=${UB_BENCH_SIZE:-256M}
FIO_CPU=$(($(nproc) - 1))

die() { echo "bench: $*" >&2; exit 1; }

insmod "$UB_KO" 2>/dev/null || [ -d /sys/module/ub ] || die "insmod $UB_KO failed"
# Explicit loads bypass the command line's blacklist (which keeps them off the stick
# at boot). No settle delay: it only slows the rebinds.
modprobe usb-storage delay_use=0 || die "modprobe usb-storage"
modprobe uas || die "modprobe uas"

wait_for 30 interface_by_serial UBBENCH0 >/dev/null || die "no usb-storage stick UBBENCH0"
STICK=$(interface_by_serial UBBENCH0)
# QEMU's usb-uas: interface class 08, subclass 06, protocol 0x62.
UAS=$(find_interface 08 06 62 46f4) || UAS=""

# The block device below a USB interface (ub's gendisk, or sd's through the SCSI host).
disk_below() {
	local b
	b=$(find "/sys/bus/usb/devices/$1/" -maxdepth 7 -type d -name block 2>/dev/null | head -n1)
	[ -n "$b" ] && ls "$b" | grep -m1 .
}

virtio_disk() {
	local b
	for b in /sys/block/vd*; do
		[ "$(cat "$b/serial" 2>/dev/null)" = UBBENCHV ] && { basename "$b"; return 0; }
	done
	return 1
}

# bind_stick DRIVER: move the stick's interface to ub or usb-storage.
bind_stick() {
	local cur
	cur=$(driver_of "$STICK")
	if [ "$cur" != "$1" ]; then
		[ -z "$cur" ] || echo "$STICK" >"/sys/bus/usb/drivers/$cur/unbind"
		echo "$STICK" >"/sys/bus/usb/drivers/$1/bind" || die "bind $STICK to $1"
	fi
	wait_for 30 disk_below "$STICK" >/dev/null || die "$1 made no disk for $STICK"
}

# load_ub 1|0 [KO]: ub loaded with that `pipeline` parameter (read at probe, so the
# module is reloaded to change it; an unbound stick is taken by the new ub at once),
# from KO (default: this tree's build).
UB_LOADED="1 $UB_KO"
load_ub() {
	local ko=${2:-$UB_KO}
	[ "$UB_LOADED" = "$1 $ko" ] && return 0
	[ "$(driver_of "$STICK")" != ub ] || echo "$STICK" >/sys/bus/usb/drivers/ub/unbind
	rmmod ub || die "rmmod ub"
	insmod "$ko" pipeline="$1" || die "insmod $ko pipeline=$1"
	UB_LOADED="$1 $ko"
}

# DRIVER+SCHED (ub+none, uas+none): the driver with its queue on I/O scheduler
# SCHED instead of its default (mq-deadline for a disk with one hardware queue).
# Without a scheduler a lone request is dispatched by its submitter; with one,
# by kblockd. A plain DRIVER gets its disk's default back.
declare -A SCHED0
use_sched() { # DEV DRIVER
	local q=/sys/block/$1/queue/scheduler want
	[ -n "${SCHED0[$1]:-}" ] || SCHED0[$1]=$(sed 's/.*\[\(.*\)\].*/\1/' "$q")
	case $2 in
	*+*) want=${2#*+} ;;
	*) want=${SCHED0[$1]} ;;
	esac
	echo "$want" >"$q" || die "scheduler $want for $2 on $1"
}

# device_for DRIVER: the block device to run the jobs on, with the driver bound.
# ub-stepwise is ub waiting for each BOT stage in turn (pipeline=0): what the
# chained command path buys, measured in the same boot. ub-base is ub built from
# another revision ($UB_BENCH_BASE_KO, scripts/bench with UB_BENCH_BASE): a change
# measured against what it changes, in the same boot.
device_for() {
	case $1 in
	ub) load_ub 1 && bind_stick ub && disk_below "$STICK" ;;
	ub-stepwise) load_ub 0 && bind_stick ub && disk_below "$STICK" ;;
	ub-base)
		[ -f "${UB_BENCH_BASE_KO:-}" ] || die "ub-base needs UB_BENCH_BASE_KO"
		load_ub 1 "$UB_BENCH_BASE_KO" && bind_stick ub && disk_below "$STICK"
		;;
	usb-storage) bind_stick "$1" && disk_below "$STICK" ;;
	uas)
		[ -n "$UAS" ] || die "no usb-uas device"
		wait_for 30 disk_below "$UAS" >/dev/null || die "uas made no disk"
		disk_below "$UAS"
		;;
	virtio) virtio_disk || die "no virtio disk" ;;
	*) die "unknown driver $1" ;;
	esac
}

# mark DEV KIB [RUN]: one direct read of KIB KiB, a marker in the device's command
# trace; RUN ("driver job") is listed in marks.txt.
mark() {
	[ "${UB_BENCH_MARK:-0}" = 1 ] || return 0
	dd if="/dev/$1" of=/dev/null bs="${2}k" count=1 iflag=direct status=none ||
		die "marker read on $1 failed"
	[ -z "${3:-}" ] || echo "$3" >>"$OUT/marks.txt"
}

# The profiler around fio, when asked for; the modules' symbols must be readable.
PERF=()
if [ "${UB_BENCH_PERF:-0}" = 1 ]; then
	echo 0 >/proc/sys/kernel/kptr_restrict
	echo -1 >/proc/sys/kernel/perf_event_paranoid
	PERF=(perf record -q -a -g -F 500)
fi

cpu_jiffies() { # busy and all jiffies of the whole guest
	awk '/^cpu / { all = 0; for (i = 2; i <= NF; i++) all += $i; print all - $5 - $6, all }' /proc/stat
}

{
	echo "kernel $(uname -r)"
	echo "fio $(fio --version)"
	echo "controller $UB_HC"
	echo "ncpu $(nproc)"
	echo "fio cpu $FIO_CPU"
	echo "speed $(cat "/sys/bus/usb/devices/${STICK%%:*}/speed") Mbit/s"
} >"$OUT/setup.txt"

for rep in $(seq 1 "$REPS"); do
	n=${#DRIVERS[@]}
	for k in $(seq 0 $((n - 1))); do
		drv=${DRIVERS[$(((k + rep - 1) % n))]}
		dev=$(device_for "${drv%%+*}") || die "no device for $drv"
		[ -b "/dev/$dev" ] || die "/dev/$dev for $drv is not a block device"
		use_sched "$dev" "$drv"
		if [ "$rep" = 1 ]; then
			q=/sys/block/$dev/queue
			echo "$drv /dev/$dev max_sectors_kb $(cat $q/max_sectors_kb) max_hw_sectors_kb $(cat $q/max_hw_sectors_kb)" \
				"scheduler $(sed 's/.*\[\(.*\)\].*/\1/' $q/scheduler) nr_requests $(cat $q/nr_requests)" >>"$OUT/setup.txt"
		fi
		for job in "${JOBS[@]}"; do
			IFS=: read -r name rw bs qd mix <<<"$job"
			base=$OUT/$drv.$name.$rep
			mark "$dev" 12 "$drv $name"
			before=$(cpu_jiffies)
			# perf cannot write its data file on the shared 9p directory.
			${PERF[@]:+"${PERF[@]}" -o "/tmp/perf.data" --} \
				fio --name="$name" --filename="/dev/$dev" --direct=1 --ioengine=io_uring --thread \
				--cpus_allowed="$FIO_CPU" \
				--rw="$rw" --bs="$bs" --iodepth="$qd" ${mix:+--rwmixread=$mix} --size="$SIZE" \
				--time_based --runtime="$RUNTIME" --ramp_time=1 --norandommap --randrepeat=0 \
				--lat_percentiles=1 \
				--output-format=json --output="$base.json" >/dev/null 2>"$base.err" ||
				die "fio $name on $drv ($dev) failed: $(tail -n3 "$base.err")"
			echo "$before $(cpu_jiffies)" >"$base.cpu"
			mark "$dev" 20
			if [ ${#PERF[@]} -gt 0 ]; then
				perf report -i /tmp/perf.data --no-children --sort sym -g none --stdio \
					--percent-limit 0.05 2>/dev/null | grep -v '^#' | grep -v '^$' >"$base.perf" ||
					die "perf report for $drv $name failed"
				rm -f /tmp/perf.data
			fi
			echo "bench: rep $rep $drv $name done"
		done
	done
done
# The stick goes back to ub: what a user of this build gets.
load_ub 1
bind_stick ub
echo "bench: all runs done"
