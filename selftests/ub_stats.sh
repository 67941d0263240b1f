#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Counters and tracing: the bound interface's ub_stats/ directory has every counter
# Documentation/ub.rst lists, the data counters follow direct I/O byte for byte, a
# CHECK CONDITION is counted, and dynamic debug (`module ub +p`) traces the three
# BOT phases of a command. The error and recovery counters are checked where the
# faults are made (ub_faults.sh).
#
# Guest devices: stick0 (usb-storage, 64 MiB).

. "$(dirname "$0")/lib.sh"

COUNTERS="commands bytes_in bytes_out check_conditions residues timeouts stalls
	phase_errors bad_csws tag_mismatches bad_residues usb_errors gone recoveries
	bulk_resets clear_halts port_resets dead passthrough suspends resumes reset_resumes
	fua_writes stepwise_commands sg_maps direct_requests"
ERRORS="check_conditions residues timeouts stalls phase_errors bad_csws
	tag_mismatches bad_residues usb_errors gone recoveries bulk_resets port_resets dead"
DDC=/sys/kernel/debug/dynamic_debug/control

ktap_print_header
ktap_set_plan 4

load_ub_and_wait || ktap_exit_fail_msg "$(count_ub_disks) ub disks for: $UB_DISKS"
stick=$(disk_by_label stick0) || ktap_exit_fail_msg "no disk for stick0"

# snapshot NAME...: "name=value" for each counter.
snapshot() {
	local c
	for c in "$@"; do echo "$c=$(ub_stat $stick $c)"; done
}

test_begin "ub_stats has every counter, numeric, commands and bytes_in counted at probe"
dir=/sys/block/$stick/device/ub_stats
n=$(ls $dir | wc -l)
[ "$n" = "$(echo $COUNTERS | wc -w)" ] || fail "$n files in $dir: $(ls $dir | tr '\n' ' ')"
for c in $COUNTERS; do
	[[ $(rd $dir/$c) =~ ^[0-9]+$ ]] || fail "$c: '$(cat $dir/$c 2>&1)'"
done
[ "$(ub_stat $stick commands)" -ge 4 ] || fail "commands: $(ub_stat $stick commands)"
[ "$(ub_stat $stick bytes_in)" -ge 36 ] || fail "bytes_in: $(ub_stat $stick bytes_in)"
test_end

test_begin "ub_stats counts a 1 MiB direct write and read byte for byte, no errors"
errs=$(snapshot $ERRORS)
in0=$(ub_stat $stick bytes_in) out0=$(ub_stat $stick bytes_out) cmd0=$(ub_stat $stick commands)
write_readback $stick $((4 << 20)) $((1 << 20)) >/tmp/wr.err || fail "$(</tmp/wr.err)"
din=$(($(ub_stat $stick bytes_in) - in0)) dout=$(($(ub_stat $stick bytes_out) - out0))
dcmd=$(($(ub_stat $stick commands) - cmd0))
[ $din = $((1 << 20)) ] || fail "bytes_in grew by $din"
[ $dout = $((1 << 20)) ] || fail "bytes_out grew by $dout"
[ $dcmd -ge 2 ] && [ $dcmd -le 64 ] || fail "commands grew by $dcmd"
[ "$(snapshot $ERRORS)" = "$errs" ] || fail "error counters changed: $(diff <(echo "$errs") <(snapshot $ERRORS) | grep '^>' | tr '\n' ' ')"
test_end

test_begin "ub_stats counts a CHECK CONDITION (unsupported opcode through SG_IO)"
cc0=$(ub_stat $stick check_conditions) pt0=$(ub_stat $stick passthrough)
sg_raw /dev/$stick ff 00 00 00 00 00 >/dev/null 2>&1
[ "$(ub_stat $stick check_conditions)" = $((cc0 + 1)) ] || fail "check_conditions: $cc0 -> $(ub_stat $stick check_conditions)"
[ "$(ub_stat $stick passthrough)" = $((pt0 + 1)) ] || fail "passthrough: $pt0 -> $(ub_stat $stick passthrough)"
test_end

test_begin "dynamic debug traces the CBW, data and CSW of a 4 KiB read"
if [ -w $DDC ]; then
	echo 'module ub +p' >$DDC
	dd if=/dev/$stick of=/dev/null bs=4k skip=3 count=1 iflag=direct status=none || fail "read failed"
	echo 'module ub -p' >$DDC
	log=$(test_dmesg)
	tag=$(echo "$log" | sed -n 's/.*CBW tag \([0-9]*\) LUN 0 opcode 0x28 in 4096 bytes.*/\1/p' | tail -n 1)
	if [ -z "$tag" ]; then
		fail "no CBW line for READ(10): $(echo "$log" | tail -n 3)"
	else
		echo "$log" | grep -q "data tag $tag: 4096 of 4096 bytes, status 0" || fail "no data line for tag $tag"
		echo "$log" | grep -q "CSW tag $tag status 0 residue 0" || fail "no CSW line for tag $tag"
	fi
	n=$(test_dmesg | wc -l)
	dd if=/dev/$stick of=/dev/null bs=4k count=1 iflag=direct status=none
	[ "$(test_dmesg | wc -l)" = "$n" ] || fail "still tracing after -p"
else
	fail "no $DDC"
fi
test_end

ktap_finished
