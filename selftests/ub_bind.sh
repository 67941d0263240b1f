#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Binding: ub.ko loads; it claims the Bulk-Only interface of an emulated USB stick on
# this host controller and logs the speed the device runs at; it refuses an interface
# without bulk endpoints with -ENODEV; sysfs unbind/bind moves the stick to usb-storage
# (which reads the image's label) and back; rmmod with the stick bound releases it
# without a warning or a leak, and a reload binds it again.
#
# Guest devices: a usb-storage stick with serial UB0000 (label "ub-image:stick0"),
# other disks, and one usb-kbd.

. "$(dirname "$0")/lib.sh"

QEMU_STICK_VID=46f4
QEMU_KBD_VID=0627
case $UB_CONTROLLER in
xhci) speed=super-speed mbps=5000 maxp=1024 ;;
ehci) speed=high-speed mbps=480 maxp=512 ;;
ohci | uhci) speed=full-speed mbps=12 maxp=64 ;;
*) speed=unknown mbps=0 maxp=0 ;;
esac

ktap_print_header
ktap_set_plan 8

stick=""
# Taint: O (out-of-tree, 4096) always, E (unsigned, 8192) on a kernel that signs
# its modules (Debian's); anything else means the kernel took ub for broken
# (a symbol version, a forced load, a staging or proprietary flag).
test_begin "module loads, taints the kernel as out-of-tree (and unsigned) only"
taint0=$(rd /proc/sys/kernel/tainted)
insmod "$UB_KO" || fail "insmod $UB_KO failed"
[ -d /sys/module/ub ] || fail "/sys/module/ub missing"
[ -d /sys/bus/usb/drivers/ub ] || fail "no usb driver 'ub' registered"
taint=$(rd /proc/sys/kernel/tainted)
new=$((taint & ~taint0))
[ $((new & ~(4096 | 8192))) = 0 ] || fail "taint went from $taint0 to $taint"
[ "$(rd /sys/module/ub/taint)" != "" ] || fail "no taint flags for ub (out-of-tree expected)"
ktap_print_msg "kernel taint $taint0 -> $taint, ub: $(rd /sys/module/ub/taint)"
test_end

test_begin "usb-storage device binds to ub"
wait_for 30 interface_by_serial UB0000 >/dev/null || fail "no Bulk-Only interface with serial UB0000"
stick=$(interface_by_serial UB0000)
[ "$(</sys/bus/usb/devices/$stick/bInterfaceSubClass)$(</sys/bus/usb/devices/$stick/bInterfaceProtocol)" = 0650 ] ||
	fail "$stick is not SCSI over Bulk-Only"
wait_for 10 test "$(driver_of "$stick")" = ub || fail "interface $stick is bound to '$(driver_of "$stick")', not ub"
test_end

test_begin "bound log line names $speed"
sysfs_speed=$(rd "/sys/bus/usb/devices/${stick%%:*}/speed")
[ "$sysfs_speed" = "$mbps" ] || fail "device runs at '$sysfs_speed' Mbit/s, expected $mbps"
line=$(dmesg | grep -E "ub $stick: bound $QEMU_STICK_VID:0001 " | tail -n1)
echo "$line" | grep -qE "ub $stick: bound $QEMU_STICK_VID:0001 $speed bulk-in 0x8[0-9a-f] bulk-out 0x0[0-9a-f] maxpacket $maxp\$" ||
	fail "log line '$line' does not match '$speed ... maxpacket $maxp ($stick)'"
test_end

if [ "${UB_KBD:-1}" = 0 ]; then
	# The runner attached no keyboard (EHCI's root ports go to other disks).
	skip_test "interface without bulk endpoints refused with ENODEV: no keyboard in this boot"
else
	test_begin "interface without bulk endpoints refused with ENODEV"
	kbd=$(find_interface 03 "" "" "$QEMU_KBD_VID")
	if [ -z "$kbd" ]; then
		fail "no keyboard interface enumerated"
	else
		cur=$(driver_of "$kbd")
		[ -z "$cur" ] || echo "$kbd" >"/sys/bus/usb/drivers/$cur/unbind"
		echo 'file drivers/base/dd.c +p' >/sys/kernel/debug/dynamic_debug/control
		echo "$QEMU_KBD_VID 0001" >/sys/bus/usb/drivers/ub/new_id
		wait_for 10 grep -q "$kbd: no bulk-in" <(test_dmesg) || fail "no refusal logged for $kbd"
		echo 'file drivers/base/dd.c -p' >/sys/kernel/debug/dynamic_debug/control
		echo "$QEMU_KBD_VID 0001" >/sys/bus/usb/drivers/ub/remove_id
		[ -z "$(driver_of "$kbd")" ] || fail "$kbd is bound to $(driver_of "$kbd")"
		# The driver core's own debug line is on the interface too, with
		# the driver's name while it probes: not one of ub's.
		n=$(test_dmesg | grep "ub $kbd: " | grep -vc ": probe with driver ub rejects match")
		[ "$n" = 1 ] || fail "expected one ub log line for $kbd, found $n"
		test_dmesg | grep -q "$kbd: probe with driver ub rejects match -19" ||
			fail "the driver core did not see -ENODEV from ub"
	fi
	test_end
fi

test_begin "sysfs unbind and bind move the device from ub to usb-storage"
modprobe usb-storage || fail "modprobe usb-storage failed"
nap 1
[ "$(driver_of "$stick")" = ub ] || fail "loading usb-storage took $stick from ub"
echo "$stick" >/sys/bus/usb/drivers/ub/unbind || fail "unbind from ub failed"
test_dmesg | grep -q "ub $stick: released$" || fail "ub did not log the release"
echo "$stick" >/sys/bus/usb/drivers/usb-storage/bind || fail "bind to usb-storage failed"
[ "$(driver_of "$stick")" = usb-storage ] || fail "$stick not bound to usb-storage"
sd_of_stick() { ls -d /sys/bus/usb/devices/"$stick"/host*/target*/*/block/sd* 2>/dev/null | head -n1; }
has_sd() { test -n "$(sd_of_stick)"; }
wait_for 30 has_sd || fail "usb-storage made no disk"
sd=$(basename "$(sd_of_stick)")
label=$(dd if="/dev/$sd" bs=512 count=1 2>/dev/null | head -c 15)
[ "$label" = "ub-image:stick0" ] || fail "read '$label' from /dev/$sd, expected the image label"
test_end

test_begin "sysfs unbind and bind move the device back to ub"
mark=$(dmesg | grep -c "ub $stick: bound $QEMU_STICK_VID")
echo "$stick" >/sys/bus/usb/drivers/usb-storage/unbind || fail "unbind from usb-storage failed"
wait_for 10 test ! -e "/dev/$sd" || fail "/dev/$sd still exists"
echo "$stick" >/sys/bus/usb/drivers/ub/bind || fail "bind to ub failed"
[ "$(driver_of "$stick")" = ub ] || fail "$stick is bound to '$(driver_of "$stick")', not ub"
[ "$(dmesg | grep -c "ub $stick: bound $QEMU_STICK_VID")" -gt "$mark" ] || fail "no new bound line"
rmmod usb-storage || fail "rmmod usb-storage failed"
test_end

test_begin "rmmod ub with a device bound leaves no warning"
rmmod ub || fail "rmmod ub failed"
[ ! -d /sys/module/ub ] || fail "/sys/module/ub still present"
[ -z "$(driver_of "$stick")" ] || fail "$stick still bound to $(driver_of "$stick")"
test_dmesg | grep -q "ub $stick: released$" || fail "ub did not log the release"
test_end

test_begin "module reload binds the device again"
insmod "$UB_KO" || fail "insmod failed"
wait_for 10 test "$(driver_of "$stick")" = ub || fail "$stick not bound to ub after reload"
rmmod ub || fail "rmmod ub failed"
test_end

ktap_finished
