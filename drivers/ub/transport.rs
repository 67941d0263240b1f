// SPDX-License-Identifier: GPL-2.0

//! One Bulk-Only Transport command (USB MSC BOT 1.0, section 5): the CBW on
//! bulk-out, the data stage through `usbcore_sg`, the CSW on bulk-in, each with its
//! own timeout, and the recovery the spec asks for when a stage goes wrong (clear
//! halt after a data or CSW stall, Reset Recovery after an invalid CSW, a phase
//! error or a timeout).
//!
//! [`Bot`] is used by one thread at a time (the device's I/O lock), which is what
//! BOT allows: one command in flight per device.

use kernel::{prelude::*, time::Delta};

use crate::{
    scsi::{
        cbw::{Cbw, Direction, CBW_LEN},
        cdb::Cdb,
        csw::{Csw, CswStatus, CSW_LEN, CSW_SIGNATURE},
    },
    usb::{Interface, Pipe, UsbDeviceRef},
    usbcore_sg::{DmaBuf, Mapping, Segments, SgRequest, Transfer, TransferError},
};

/// Bulk-Only Mass Storage Reset (BOT 3.1).
const BULK_ONLY_RESET: u8 = 0xff;
/// Get Max LUN (BOT 3.2).
const GET_MAX_LUN: u8 = 0xfe;

/// Per-stage timeouts.
pub(crate) struct Timeouts {
    /// Sending the CBW.
    pub(crate) cbw_ms: u32,
    /// The data stage.
    pub(crate) data_ms: u32,
    /// Receiving the CSW (the device may be writing its cache meanwhile).
    pub(crate) csw_ms: u32,
    /// Control requests (GET MAX LUN, Bulk-Only reset).
    pub(crate) ctrl_ms: u32,
}

/// Defaults: generous for slow full-speed devices, still bounded.
pub(crate) const TIMEOUTS: Timeouts = Timeouts {
    cbw_ms: 5_000,
    data_ms: 20_000,
    csw_ms: 20_000,
    ctrl_ms: 5_000,
};

/// The data stage of a command.
pub(crate) enum Data<'a> {
    /// No data stage.
    None,
    /// Device to host into these segments.
    In(Segments<'a>),
    /// Host to device from these segments.
    Out(Segments<'a>),
}

/// A command the device answered with a valid CSW.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Status 0: passed, with `residue` bytes not transferred.
    Passed {
        /// Bytes of the data stage not transferred.
        residue: u32,
    },
    /// Status 1: failed; the sense data says why.
    Failed {
        /// Bytes of the data stage not transferred.
        residue: u32,
    },
}

/// The BOT stage in which a command went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Sending the CBW.
    Cbw,
    /// The data stage.
    Data,
    /// Receiving the CSW.
    Csw,
}

/// A command that did not end with a valid CSW.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TransportError {
    /// A stage timed out and was cancelled.
    Timeout(Stage),
    /// The device is gone (unplugged, or its port disabled).
    Gone,
    /// The device broke the protocol (short CBW, bad CSW, phase error...).
    Protocol(Stage),
}

/// The Bulk-Only transport of one device.
pub(crate) struct Bot {
    udev: UsbDeviceRef,
    ifnum: u8,
    bulk_in: Pipe,
    bulk_out: Pipe,
    tag: u32,
    cbw: DmaBuf,
    csw: DmaBuf,
    req: Pin<KBox<SgRequest>>,
}

impl Bot {
    /// Sets up the transport of `intf` over the given bulk pipes.
    pub(crate) fn new(intf: &Interface, bulk_in: Pipe, bulk_out: Pipe) -> Result<Self> {
        Ok(Self {
            udev: intf.get_usb_device(),
            ifnum: intf.number(),
            bulk_in,
            bulk_out,
            tag: 0,
            cbw: DmaBuf::new(CBW_LEN)?,
            csw: DmaBuf::new(CSW_LEN)?,
            req: KBox::pin_init(SgRequest::new(), GFP_KERNEL)?,
        })
    }

    /// GET MAX LUN: the highest LUN number, 0 when the device stalls the request
    /// (single-LUN devices may) or answers nonsense.
    pub(crate) fn get_max_lun(&mut self, buf: &mut DmaBuf) -> u8 {
        match self.udev.class_request(
            true,
            GET_MAX_LUN,
            self.ifnum.into(),
            buf,
            1,
            TIMEOUTS.ctrl_ms,
        ) {
            Ok(1) => match buf.as_slice().first() {
                Some(&n) if n <= 15 => n,
                _ => 0,
            },
            _ => 0,
        }
    }

    /// Runs one command. `len` is the data stage length in bytes.
    pub(crate) fn command(
        &mut self,
        lun: u8,
        cdb: &Cdb,
        data: Data<'_>,
        len: u32,
    ) -> Result<Outcome, TransportError> {
        let dir = match (&data, len) {
            (Data::In(_), 1..) => Direction::In,
            (Data::Out(_), 1..) => Direction::Out,
            _ => Direction::None,
        };
        self.tag = self.tag.wrapping_add(1);
        let tag = self.tag;
        let Ok(cbw) = Cbw::new(tag, len, dir, lun, cdb.as_bytes()) else {
            return Err(TransportError::Protocol(Stage::Cbw));
        };
        self.cbw.as_mut_slice().copy_from_slice(&cbw.encode());

        match self
            .udev
            .bulk_msg(self.bulk_out, &mut self.cbw, CBW_LEN, TIMEOUTS.cbw_ms)
        {
            Ok(CBW_LEN) => {}
            Ok(_) => return Err(self.recover(Stage::Cbw, TransportError::Protocol(Stage::Cbw))),
            Err(e) => return Err(self.fail(Stage::Cbw, e)),
        }

        let data_stage = match data {
            Data::In(sg) if len > 0 => Some((self.bulk_in, sg)),
            Data::Out(sg) if len > 0 => Some((self.bulk_out, sg)),
            _ => None,
        };
        // Bytes the data stage really moved; a CSW residue may not claim less missing.
        let mut moved = 0;
        if let Some((pipe, mut sg)) = data_stage {
            let t = match Mapping::new(&self.udev, pipe, &mut sg) {
                Ok(mut mapping) => self.req.as_mut().transfer(
                    pipe,
                    &mut mapping,
                    len as usize,
                    Delta::from_millis(TIMEOUTS.data_ms.into()),
                ),
                Err(e) => Transfer {
                    bytes: 0,
                    status: Err(TransferError::Other(e)),
                },
            };
            moved = t.bytes;
            match t.status {
                // A short transfer is reported by the residue in the CSW.
                Ok(()) | Err(TransferError::Short) => {}
                // BOT 6.7.2/6.7.3: a stalled data stage is cleared, then the CSW read.
                Err(TransferError::Stall) => {
                    if self.udev.clear_halt(pipe).is_err() {
                        return Err(
                            self.recover(Stage::Data, TransportError::Protocol(Stage::Data))
                        );
                    }
                }
                Err(e) => return Err(self.fail(Stage::Data, e)),
            }
        }

        match self.read_csw(tag, len)? {
            // A device that reports a smaller residue than what really went missing
            // would have us complete garbage as data: trust the bytes counted.
            Outcome::Passed { residue } => Ok(Outcome::Passed {
                residue: residue.max(len.saturating_sub(moved as u32)),
            }),
            failed => Ok(failed),
        }
    }

    /// Reads and checks the CSW (BOT 5.3.3 and 6.3).
    fn read_csw(&mut self, tag: u32, len: u32) -> Result<Outcome, TransportError> {
        let mut stalls = 0;
        let mut empties = 0;
        let n = loop {
            match self
                .udev
                .bulk_msg(self.bulk_in, &mut self.csw, CSW_LEN, TIMEOUTS.csw_ms)
            {
                // Some devices send a zero-length packet before the CSW: read again once.
                Ok(0) if empties == 0 => empties += 1,
                Ok(n) => break n,
                // A stalled CSW: clear the halt and retry once (BOT 6.7.2).
                Err(TransferError::Stall) if stalls == 0 => {
                    stalls += 1;
                    if self.udev.clear_halt(self.bulk_in).is_err() {
                        return Err(self.recover(Stage::Csw, TransportError::Protocol(Stage::Csw)));
                    }
                }
                Err(e) => return Err(self.fail(Stage::Csw, e)),
            }
        };
        let csw = match self.csw.as_slice().get(..n).map(Csw::parse) {
            Some(Ok(csw)) => csw,
            _ => return Err(self.recover(Stage::Csw, TransportError::Protocol(Stage::Csw))),
        };
        match csw.check(tag, len, CSW_SIGNATURE) {
            Ok(CswStatus::Passed { residue }) => Ok(Outcome::Passed { residue }),
            Ok(CswStatus::Failed { residue }) => Ok(Outcome::Failed { residue }),
            Ok(CswStatus::PhaseError) | Err(_) => {
                Err(self.recover(Stage::Csw, TransportError::Protocol(Stage::Csw)))
            }
        }
    }

    /// Maps a failed transfer of `stage` to an error, recovering when the device
    /// is still there.
    fn fail(&mut self, stage: Stage, e: TransferError) -> TransportError {
        match e {
            TransferError::Gone => TransportError::Gone,
            TransferError::TimedOut => self.recover(stage, TransportError::Timeout(stage)),
            _ => self.recover(stage, TransportError::Protocol(stage)),
        }
    }

    /// Reset Recovery (BOT 5.3.4): Bulk-Only Mass Storage Reset, then clear halt on
    /// both bulk endpoints. Returns `err`, or `Gone` when the device has vanished.
    fn recover(&mut self, stage: Stage, err: TransportError) -> TransportError {
        let reset = self.udev.class_request(
            false,
            BULK_ONLY_RESET,
            self.ifnum.into(),
            &mut self.csw,
            0,
            TIMEOUTS.ctrl_ms,
        );
        if reset == Err(TransferError::Gone) {
            return TransportError::Gone;
        }
        let halts = self.udev.clear_halt(self.bulk_in).is_ok()
            && self.udev.clear_halt(self.bulk_out).is_ok();
        dev_warn!(
            self.udev.as_dev(),
            "ub: {:?} in {:?} stage: reset recovery {}\n",
            err,
            stage,
            if reset.is_ok() && halts {
                "done"
            } else {
                "failed"
            }
        );
        err
    }
}
