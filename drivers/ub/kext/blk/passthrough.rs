// SPDX-License-Identifier: GPL-2.0

//! One `SG_IO` command as helpers.c hands it over ([`Passthrough`]): the CDB, the
//! direction, the kernel copy of the caller's data, and where its status,
//! residue and sense data go.

use kernel::ffi;

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

/// `struct ub_passthrough` in helpers.h.
#[repr(C)]
pub(super) struct PassthroughCmd {
    pub(super) cdb: [u8; 16],
    pub(super) cdb_len: u8,
    dir: u8,
    status: u8,
    sense_len: u8,
    sense: [u8; 96],
    len: u32,
    timeout_ms: u32,
    resid: u32,
    buf: *mut ffi::c_void,
}

/// One `SG_IO` command and its kernel copy of the caller's data.
///
/// # Invariants
///
/// `self.0.buf` points to `self.0.len` bytes (or `len` is 0), and `cdb_len` is at
/// most 16: helpers.c checked and allocated them.
pub(crate) struct Passthrough<'a>(pub(super) &'a mut PassthroughCmd);

impl Passthrough<'_> {
    /// The command bytes (6 to 16).
    pub(crate) fn cdb(&self) -> &[u8] {
        self.0.cdb.get(..usize::from(self.0.cdb_len)).unwrap_or(&[])
    }

    /// The data direction.
    pub(crate) fn dir(&self) -> PtDir {
        match self.0.dir {
            1 => PtDir::In,
            2 => PtDir::Out,
            _ => PtDir::None,
        }
    }

    /// The caller's timeout in milliseconds, 0 for the default.
    pub(crate) fn timeout_ms(&self) -> u32 {
        self.0.timeout_ms
    }

    /// The data: what to send, or where to put what arrives.
    pub(crate) fn data(&mut self) -> &mut [u8] {
        if self.0.len == 0 || self.0.buf.is_null() {
            return &mut [];
        }
        // SAFETY: By the type invariant `buf` holds `len` bytes, which nothing
        // else uses while helpers.c waits for this command.
        unsafe { core::slice::from_raw_parts_mut(self.0.buf.cast(), self.0.len as usize) }
    }

    /// Records the command's SCSI status, the bytes not transferred and, for a
    /// CHECK CONDITION, the sense data (at most 96 bytes, sd's
    /// `SCSI_SENSE_BUFFERSIZE`).
    pub(crate) fn complete(&mut self, status: u8, resid: u32, sense: &[u8]) {
        let n = sense.len().min(self.0.sense.len());
        self.0.status = status;
        self.0.resid = resid;
        self.0.sense_len = n as u8;
        if let (Some(dst), Some(src)) = (self.0.sense.get_mut(..n), sense.get(..n)) {
            dst.copy_from_slice(src);
        }
    }
}
