#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# SCSI passthrough: SG_IO on a ub disk serves sg3_utils (sg_inq, sg_readcap,
# sg_turs, sg_raw) and smartctl, reports CHECK CONDITION with its sense data,
# applies the kernel's SG_IO bounds checks, and is refused without CAP_SYS_RAWIO.
#
# Guest devices: stick0 (usb-storage, serial UB0000, 64 MiB).

. "$(dirname "$0")/lib.sh"

ktap_print_header
ktap_set_plan 7

load_ub_and_wait || ktap_exit_fail_msg "$(count_ub_disks) ub disks for: $UB_DISKS"
stick=$(disk_by_label stick0) || ktap_exit_fail_msg "no disk for stick0"
dev=/dev/$stick

test_begin "SG_IO sg_inq: vendor, product, VPD unit serial number"
out=$(sg_inq $dev 2>&1) || fail "sg_inq failed: $out"
echo "$out" | grep -q "Vendor identification: QEMU" || fail "vendor: $(echo "$out" | grep -i vendor)"
echo "$out" | grep -q "Product identification: QEMU HARDDISK" || fail "product: $(echo "$out" | grep -i product)"
out=$(sg_inq -p 0x80 $dev 2>&1) || fail "sg_inq -p 0x80 failed: $out"
echo "$out" | grep -q "Unit serial number: UB0000" || fail "VPD 0x80: $out"
test_end

test_begin "SG_IO sg_readcap and sg_turs: capacity of the disk, unit ready"
out=$(sg_readcap $dev 2>&1) || fail "sg_readcap failed: $out"
echo "$out" | grep -q "Last LBA=131071 " || fail "last LBA: $(echo "$out" | grep LBA)"
echo "$out" | grep -q "Logical block length=512 bytes" || fail "block length: $(echo "$out" | grep length)"
sg_turs $dev >/dev/null 2>&1 || fail "sg_turs: not ready"
test_end

test_begin "SG_IO READ(10) of 8 blocks returns what the block device reads"
dd if=/dev/urandom of=/tmp/sg.pat bs=4k count=1 status=none
dd if=/tmp/sg.pat of=$dev bs=512 seek=2048 oflag=direct status=none || fail "write failed"
sg_raw -r 4096 -o /tmp/sg.back $dev 28 00 00 00 08 00 00 00 08 00 >/tmp/sg.out 2>&1 ||
	fail "sg_raw READ(10): $(</tmp/sg.out)"
cmp -s /tmp/sg.pat /tmp/sg.back || fail "data differs"
test_end

test_begin "SG_IO unsupported opcode: CHECK CONDITION, ILLEGAL REQUEST sense, disk fine after"
sg_raw -v $dev ff 00 00 00 00 00 >/tmp/sg.out 2>&1
rc=$?
[ $rc = 9 ] || fail "sg_raw exit $rc (9: invalid opcode): $(tail -n 3 /tmp/sg.out)"
grep -qi "check condition" /tmp/sg.out || fail "no CHECK CONDITION: $(tail -n 3 /tmp/sg.out)"
grep -qi "illegal request" /tmp/sg.out || fail "no ILLEGAL REQUEST sense: $(tail -n 3 /tmp/sg.out)"
sg_turs $dev >/dev/null 2>&1 || fail "not ready after"
dd if=$dev of=/dev/null bs=4k count=1 iflag=direct status=none || fail "read after failed"
test_end

test_begin "SG_IO smartctl -i -d scsi identifies the disk"
out=$(smartctl -i -d scsi $dev 2>&1)
echo "$out" | grep -q "Vendor: *QEMU" || fail "vendor: $(echo "$out" | tail -n 5)"
echo "$out" | grep -q "Product: *QEMU HARDDISK" || fail "product"
echo "$out" | grep -q "Serial number: *UB0000" || fail "serial"
echo "$out" | grep -q "User Capacity: *67,108,864 bytes" || fail "capacity"
test_end

test_begin "SG_IO bounds: interface id, CDB length, transfer length, iovecs, direction"
max=$(( $(</sys/block/$stick/queue/max_hw_sectors_kb) * 1024 ))
out=$(python3 -S - "$dev" "$max" <<'PY' 2>&1
import ctypes, errno, fcntl, os, sys

class SgIoHdr(ctypes.Structure):
    _fields_ = [("interface_id", ctypes.c_int), ("dxfer_direction", ctypes.c_int),
                ("cmd_len", ctypes.c_ubyte), ("mx_sb_len", ctypes.c_ubyte),
                ("iovec_count", ctypes.c_ushort), ("dxfer_len", ctypes.c_uint),
                ("dxferp", ctypes.c_void_p), ("cmdp", ctypes.c_void_p), ("sbp", ctypes.c_void_p),
                ("timeout", ctypes.c_uint), ("flags", ctypes.c_uint), ("pack_id", ctypes.c_int),
                ("usr_ptr", ctypes.c_void_p), ("status", ctypes.c_ubyte),
                ("masked_status", ctypes.c_ubyte), ("msg_status", ctypes.c_ubyte),
                ("sb_len_wr", ctypes.c_ubyte), ("host_status", ctypes.c_ushort),
                ("driver_status", ctypes.c_ushort), ("resid", ctypes.c_int),
                ("duration", ctypes.c_uint), ("info", ctypes.c_uint)]

SG_IO, SG_DXFER_NONE, SG_DXFER_FROM_DEV = 0x2285, -1, -3
fd = os.open(sys.argv[1], os.O_RDONLY)
maxlen = int(sys.argv[2])
buf = ctypes.create_string_buffer(maxlen + 512)
sense = ctypes.create_string_buffer(32)

def sgio(cdb, direction=SG_DXFER_FROM_DEV, length=36, iid=ord("S"), iovecs=0):
    c = ctypes.create_string_buffer(bytes(cdb), len(cdb))
    h = SgIoHdr(interface_id=iid, dxfer_direction=direction, cmd_len=len(cdb), mx_sb_len=32,
                iovec_count=iovecs, dxfer_len=length, dxferp=ctypes.addressof(buf),
                cmdp=ctypes.addressof(c), sbp=ctypes.addressof(sense), timeout=10000)
    try:
        fcntl.ioctl(fd, SG_IO, h)
        return 0, h
    except OSError as e:
        return e.errno, h

inquiry = [0x12, 0, 0, 0, 36, 0]
bad = []
for name, want, args in [
        ("good INQUIRY", 0, dict(cdb=inquiry)),
        ("interface 'Q'", errno.EINVAL, dict(cdb=inquiry, iid=ord("Q"))),
        ("5-byte CDB", errno.EMSGSIZE, dict(cdb=inquiry[:5])),
        ("17-byte CDB", errno.EINVAL, dict(cdb=inquiry + [0] * 11)),
        ("transfer of max + 512", errno.EIO, dict(cdb=inquiry, length=maxlen + 512)),
        ("iovec_count 1", errno.EOPNOTSUPP, dict(cdb=inquiry, iovecs=1)),
        ("direction UNKNOWN with data", errno.EINVAL, dict(cdb=inquiry, direction=-5))]:
    got, h = sgio(**args)
    if got != want:
        bad.append(f"{name}: errno {got}, expected {want}")
    if name == "good INQUIRY" and (h.status != 0 or h.resid != 0 or buf.raw[8:12] != b"QEMU"):
        bad.append(f"INQUIRY: status {h.status} resid {h.resid} data {buf.raw[8:24]!r}")
# A TEST UNIT READY without data: status GOOD, no sense.
got, h = sgio([0, 0, 0, 0, 0, 0], direction=SG_DXFER_NONE, length=0)
if got or h.status or h.sb_len_wr or h.info & 1:
    bad.append(f"TEST UNIT READY: errno {got} status {h.status} sense {h.sb_len_wr} info {h.info}")
print("\n".join(bad) or "all as expected")
sys.exit(1 if bad else 0)
PY
) || fail "$out"
test_end

test_begin "SG_IO needs CAP_SYS_RAWIO: refused with EPERM without it"
out=$(setpriv --inh-caps=-all --bounding-set=-sys_rawio sg_inq $dev 2>&1)
rc=$?
[ $rc != 0 ] || fail "sg_inq without CAP_SYS_RAWIO succeeded"
echo "$out" | grep -qi "not permitted" || fail "no EPERM: $out"
test_end

ktap_finished
