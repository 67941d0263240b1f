// SPDX-License-Identifier: GPL-2.0

//! `SG_IO` on a disk ([`sg_io`]): the sg v3 interface with the kernel's own
//! checks (drivers/scsi/scsi_ioctl.c), the caller's header and data copied in
//! and out, and one command ([`Passthrough`]) handed to the disk's owner.
//!
//! Interface `'S'`, a CDB of 6 to 16 bytes (BOT carries at most 16), a transfer
//! no longer than the queue's largest request, a known direction; root only
//! (`CAP_SYS_RAWIO`): there is no table of harmless commands. Neither iovecs nor
//! 32-bit callers are supported. The data goes through a kernel buffer.

use kernel::{
    alloc::KVVec,
    bindings,
    prelude::*,
    time::{Instant, Monotonic},
    uaccess::{UserPtr, UserSlice},
};

/// The direction of a passthrough command's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PtDir {
    /// No data.
    None,
    /// From the device.
    In,
    /// To the device.
    Out,
}

/// SCSI status CHECK CONDITION (SAM-5 5.3).
const SAM_CHECK_CONDITION: u8 = 0x02;
/// `host_status` values (scsi.h's `DID_*`) for a command that got no status.
const DID_NO_CONNECT: u16 = 0x01;
const DID_ERROR: u16 = 0x07;
/// `driver_status`: sense data was returned (scsi.h's `DRIVER_SENSE`).
const DRIVER_SENSE: u16 = 0x08;
/// `info` bits (sg.h).
const SG_INFO_OK: u32 = 0;
const SG_INFO_CHECK: u32 = 1;
/// `dxfer_direction` values (sg.h).
const SG_DXFER_TO_DEV: i32 = -2;
const SG_DXFER_FROM_DEV: i32 = -3;
const SG_DXFER_TO_FROM_DEV: i32 = -4;
/// The most sense data returned (`SCSI_SENSE_BUFFERSIZE`).
const SENSE_MAX: usize = 96;

/// `struct sg_io_hdr` of include/uapi/scsi/sg.h: a user-space ABI, which bindgen
/// leaves opaque. The fields the caller sets, in its layout.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct SgIoIn {
    interface_id: i32,
    dxfer_direction: i32,
    cmd_len: u8,
    mx_sb_len: u8,
    iovec_count: u16,
    dxfer_len: u32,
    dxferp: usize,
    cmdp: usize,
    sbp: usize,
    timeout: u32,
    flags: u32,
    pack_id: i32,
    usr_ptr: usize,
}

/// The fields of `struct sg_io_hdr` the driver sets, which follow [`SgIoIn`]
/// (at `size_of::<SgIoIn>()`: `usr_ptr` ends aligned) without padding.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct SgIoOut {
    status: u8,
    masked_status: u8,
    msg_status: u8,
    sb_len_wr: u8,
    host_status: u16,
    driver_status: u16,
    resid: i32,
    duration: u32,
    info: u32,
}

// SAFETY: Integers only (the user pointers are kept as addresses); any bytes
// are a valid value.
unsafe impl kernel::transmute::FromBytes for SgIoIn {}
// SAFETY: Integers only, and no padding: 4 x u8, 2 x u16, 3 x 32-bit.
unsafe impl kernel::transmute::AsBytes for SgIoOut {}

/// Where [`SgIoOut`] starts in `struct sg_io_hdr`; helpers_blk.c checks the same
/// numbers against the C header at build time.
const _: () = assert!(
    core::mem::size_of::<SgIoIn>()
        == if cfg!(target_pointer_width = "64") {
            64
        } else {
            44
        }
);
const _: () = assert!(core::mem::size_of::<SgIoOut>() == 20);

/// One `SG_IO` command: its CDB, direction, timeout and data, and where its
/// status, residue and sense data go.
pub(crate) struct Passthrough {
    cdb: [u8; 16],
    cdb_len: usize,
    dir: PtDir,
    timeout_ms: u32,
    data: KVVec<u8>,
    status: u8,
    resid: u32,
    sense: [u8; SENSE_MAX],
    sense_len: usize,
}

impl Passthrough {
    /// The command bytes (6 to 16).
    pub(crate) fn cdb(&self) -> &[u8] {
        self.cdb.get(..self.cdb_len).unwrap_or(&[])
    }

    /// The data direction.
    pub(crate) fn dir(&self) -> PtDir {
        self.dir
    }

    /// The caller's timeout in milliseconds, 0 for the default.
    pub(crate) fn timeout_ms(&self) -> u32 {
        self.timeout_ms
    }

    /// The data: what to send, or where to put what arrives.
    pub(crate) fn data(&mut self) -> &mut [u8] {
        &mut self.data
    }

    /// Records the command's SCSI status, the bytes not transferred and, for a
    /// CHECK CONDITION, the sense data (at most 96 bytes, sd's
    /// `SCSI_SENSE_BUFFERSIZE`).
    pub(crate) fn complete(&mut self, status: u8, resid: u32, sense: &[u8]) {
        let n = sense.len().min(SENSE_MAX);
        self.status = status;
        self.resid = resid;
        self.sense_len = n;
        if let (Some(dst), Some(src)) = (self.sense.get_mut(..n), sense.get(..n)) {
            dst.copy_from_slice(src);
        }
    }
}

/// Whether the caller may send raw commands.
fn may_send_raw() -> bool {
    // SAFETY: Reads the current task's credentials.
    unsafe { bindings::capable(bindings::CAP_SYS_RAWIO as i32) }
}

/// The user memory at `addr`, `len` bytes long.
fn user(addr: usize, len: usize) -> UserSlice {
    UserSlice::new(UserPtr::from_addr(addr), len)
}

/// `SG_IO` with the header at `arg`, on a disk whose largest request is
/// `max_bytes`; `compat` for a 32-bit caller. `run` sends the command (the
/// disk owner's [`super::QueueOps::passthrough`]).
pub(super) fn sg_io(
    run: impl FnOnce(&mut Passthrough) -> Result,
    arg: usize,
    compat: bool,
    max_bytes: u32,
) -> Result {
    if !may_send_raw() {
        return Err(EPERM);
    }
    if compat {
        return Err(ENOTTY);
    }
    let hdr_in: SgIoIn = user(arg, core::mem::size_of::<SgIoIn>()).reader().read()?;
    if hdr_in.interface_id != i32::from(b'S') {
        return Err(EINVAL);
    }
    if hdr_in.iovec_count != 0 {
        return Err(EOPNOTSUPP);
    }
    let cdb_len = usize::from(hdr_in.cmd_len);
    if cdb_len < 6 {
        return Err(EMSGSIZE);
    }
    if cdb_len > 16 {
        return Err(EINVAL);
    }
    if hdr_in.dxfer_len > max_bytes {
        return Err(EIO);
    }
    let len = hdr_in.dxfer_len as usize;
    let dir = match hdr_in.dxfer_direction {
        _ if len == 0 => PtDir::None,
        SG_DXFER_TO_DEV => PtDir::Out,
        SG_DXFER_FROM_DEV | SG_DXFER_TO_FROM_DEV => PtDir::In,
        _ => return Err(EINVAL),
    };
    let mut pt = Passthrough {
        cdb: [0; 16],
        cdb_len,
        dir,
        timeout_ms: hdr_in.timeout,
        data: KVVec::from_elem(0u8, len, GFP_KERNEL)?,
        status: 0,
        resid: 0,
        sense: [0; SENSE_MAX],
        sense_len: 0,
    };
    if let Some(cdb) = pt.cdb.get_mut(..cdb_len) {
        user(hdr_in.cmdp, cdb_len).reader().read_slice(cdb)?;
    }
    if dir == PtDir::Out {
        user(hdr_in.dxferp, len).reader().read_slice(&mut pt.data)?;
    }

    let start = Instant::<Monotonic>::now();
    let ran = run(&mut pt);
    let mut out = SgIoOut {
        duration: u32::try_from(start.elapsed().as_millis()).unwrap_or(u32::MAX),
        ..SgIoOut::default()
    };
    match ran {
        // The command did not complete: no status, as for a host error.
        Err(e) if e == EIO || e == ENODEV => {
            out.host_status = if e == ENODEV {
                DID_NO_CONNECT
            } else {
                DID_ERROR
            };
            out.resid = i32::try_from(len).unwrap_or(i32::MAX);
        }
        Err(e) => return Err(e),
        Ok(()) => {
            out.status = pt.status;
            out.masked_status = pt.status >> 1;
            let resid = (pt.resid as usize).min(len);
            out.resid = i32::try_from(resid).unwrap_or(i32::MAX);
            if pt.status == SAM_CHECK_CONDITION && pt.sense_len > 0 {
                let n = pt.sense_len.min(usize::from(hdr_in.mx_sb_len));
                out.sb_len_wr = u8::try_from(n).unwrap_or(u8::MAX);
                out.driver_status = DRIVER_SENSE;
                if let Some(sense) = pt.sense.get(..n).filter(|s| !s.is_empty()) {
                    user(hdr_in.sbp, n).writer().write_slice(sense)?;
                }
            }
            let moved = len - resid;
            if let Some(data) = pt
                .data
                .get(..moved)
                .filter(|d| dir == PtDir::In && !d.is_empty())
            {
                user(hdr_in.dxferp, moved).writer().write_slice(data)?;
            }
        }
    }
    out.info = if out.status != 0 || out.host_status != 0 || out.driver_status != 0 {
        SG_INFO_CHECK
    } else {
        SG_INFO_OK
    };
    let at = arg
        .checked_add(core::mem::size_of::<SgIoIn>())
        .ok_or(EFAULT)?;
    user(at, core::mem::size_of::<SgIoOut>())
        .writer()
        .write(&out)
}
