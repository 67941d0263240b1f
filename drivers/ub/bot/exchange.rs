// SPDX-License-Identifier: GPL-2.0

//! The three stages of one Bulk-Only command (USB MSC BOT 1.0, section 5): the
//! CBW on bulk-out, the data stage through `usbcore_sg` or the command chain,
//! the CSW on bulk-in, each with its own timeout, and what the spec asks within
//! a command (clear halt after a data or CSW stall, one more CSW read).
//!
//! Lenient where devices are known to be sloppy and nothing is at stake: a CSW
//! signature other than `USBS` is learned from the first CSW that carries it, a
//! zero-length packet before the CSW is skipped, a CSW sent in place of the data
//! is recognised, and devices that report a residue on INQUIRY or READ CAPACITY
//! although all bytes arrived get their residues ignored (usb-storage's heuristic).
//! Strict where data is at stake: a wrong tag, a status above 2 or a residue larger
//! than the transfer is a transport error, never a success, and a residue never
//! counts fewer bytes missing than really went missing.

use core::sync::atomic::{AtomicBool, Ordering};
use kernel::{
    prelude::*,
    time::{delay::fsleep, Delta},
};

use super::{
    chain,
    data::broken,
    outcome::judge_csw,
    residue::{self, Settled},
    Bot, Chain, Data, Fault, Outcome, Stage, Stages, Timeouts, TransportError,
};
use crate::{
    bot::{counters::Counter, quirks::Quirks},
    kext::usb::{Pipe, UsbDevice},
    kext::{dma::DmaBuf, usb::TransferError},
    scsi::{
        cbw::{Cbw, Direction, CBW_LEN},
        cdb::Cdb,
        csw::{Csw, CSW_LEN, CSW_SIGNATURE},
    },
    usbcore_sg::{Mapping, SgRequest},
};

/// A device sent its CSW in place of data: logged once (see [`Bot::exchange`]).
static CSW_AS_DATA_LOGGED: AtomicBool = AtomicBool::new(false);

impl Bot {
    /// The three stages of one command.
    pub(super) fn exchange(
        &mut self,
        lun: u8,
        cdb: &Cdb,
        data: Data<'_>,
        len: u32,
        t: Timeouts,
    ) -> Result<Outcome, TransportError> {
        let dir = match (&data, len) {
            (Data::In(_), 1..) => Direction::In,
            (Data::Out(_), 1..) => Direction::Out,
            _ => Direction::None,
        };
        self.tag = self.tag.wrapping_add(1);
        let tag = self.tag;
        let Ok(cbw) = Cbw::new(tag, len, dir, lun, cdb.as_bytes()) else {
            return Err(TransportError::Broken(Stage::Cbw, Fault::Usb));
        };
        let cbw = cbw.encode();
        self.stats.inc(Counter::Commands);
        if self.chain.is_none() {
            self.stats.inc(Counter::StepwiseCommands);
        }
        self.intf
            .trace_cbw(tag, lun, cdb.opcode(), len, dir == Direction::In);

        let mut data_stage = match data {
            Data::In(sg) if len > 0 => Some((self.bulk_in, sg)),
            Data::Out(sg) if len > 0 => Some((self.bulk_out, sg)),
            _ => None,
        };
        // The data stage is mapped before the CBW goes out: the device waits for
        // nothing but the bus once it has the command.
        let stages = {
            let Self {
                udev,
                chain,
                req,
                cbw: cbw_buf,
                csw: csw_buf,
                bulk_in,
                bulk_out,
                go_slow,
                unbinding,
                stats,
                ..
            } = self;
            let mut wire = StagePath {
                go_slow: *go_slow,
                unbinding,
                udev,
                chain: chain.as_ref().map(|c| c.as_ref()),
                req: req.as_mut(),
                cbw: cbw_buf,
                csw: csw_buf,
                bulk_in: *bulk_in,
                bulk_out: *bulk_out,
            };
            match data_stage.as_mut() {
                Some((pipe, sg)) => match Mapping::new(udev, *pipe, sg) {
                    Ok(mut mapping) => {
                        stats.inc(Counter::SgMaps);
                        wire.stages(&cbw, Some((*pipe, &mut mapping)), len, t)
                    }
                    Err(_) => return Err(TransportError::Broken(Stage::Data, Fault::Usb)),
                },
                None => wire.stages(&cbw, None, 0, t),
            }
        };

        match stages.cbw {
            Ok(n) if n == self.cbw.as_slice().len() => {}
            Ok(_) => return Err(TransportError::Broken(Stage::Cbw, Fault::ShortCbw)),
            Err(e) => return Err(broken(Stage::Cbw, e)),
        }

        // Bytes the data stage really moved; a CSW residue may not claim less missing.
        let mut moved = 0;
        if let Some((pipe, mut sg)) = data_stage {
            let Some((bytes, status)) = stages.data else {
                return Err(TransportError::Broken(Stage::Data, Fault::Usb));
            };
            moved = bytes;
            self.stats.add(
                if pipe.is_in() {
                    Counter::BytesIn
                } else {
                    Counter::BytesOut
                },
                moved as u64,
            );
            self.intf.trace_data(
                tag,
                len,
                moved,
                status.as_ref().map_or_else(|e| e.errno(), |()| 0),
            );
            match status {
                // Some devices answer a command they cannot serve with the CSW in
                // place of the data: take it as the CSW rather than wait for one.
                Err(TransferError::Short) if pipe.is_in() && moved == CSW_LEN => {
                    let mut head = [0u8; CSW_LEN];
                    if sg.copy_prefix(&mut head) == CSW_LEN {
                        if let Ok(csw) = Csw::parse(&head) {
                            if csw.tag == tag && csw.signature == self.signature() {
                                // Once per module, as pr_warn_once.
                                if !CSW_AS_DATA_LOGGED.swap(true, Ordering::Relaxed) {
                                    dev_warn!(
                                        self.intf.device(),
                                        "device sent its CSW in place of data; accepting it\n"
                                    );
                                }
                                // Not one byte of the data came: whatever its
                                // status and residue say, and whatever the sense
                                // of a failed one will claim (RECOVERED ERROR, a
                                // bad block further on), all of it is missing.
                                return self.check_csw(&csw, tag, len).map(|o| match o {
                                    Outcome::Passed { .. } => Outcome::Passed { residue: len },
                                    Outcome::Failed { .. } => Outcome::Failed { residue: len },
                                });
                            }
                        }
                    }
                }
                // A short transfer is reported by the residue in the CSW.
                Ok(()) | Err(TransferError::Short) => {}
                // BOT 6.7.2/6.7.3: a stalled data stage is cleared, then the CSW read.
                Err(TransferError::Stall) => {
                    self.stats.inc(Counter::Stalls);
                    if let Err(e) = self.clear_halt(pipe, t.left(t.ctrl_ms)) {
                        return Err(match e {
                            TransferError::Gone => TransportError::Gone,
                            _ => TransportError::Broken(Stage::Data, Fault::Stall),
                        });
                    }
                }
                Err(e) => return Err(broken(Stage::Data, e)),
            }
        }

        let csw = self.read_csw(stages.csw, &t)?;
        match self.check_csw(&csw, tag, len)? {
            Outcome::Passed { residue } => Ok(Outcome::Passed {
                residue: self.settle_residue(cdb, dir, len, moved as u32, residue),
            }),
            // The sense of a failed command may claim it completed (RECOVERED
            // ERROR): its residue must show what really went missing too.
            Outcome::Failed { residue } => Ok(Outcome::Failed {
                residue: residue::settle_failed(
                    len,
                    moved as u32,
                    residue,
                    self.quirks().contains(Quirks::IGNORE_RESIDUE),
                ),
            }),
        }
    }

    /// The residue of a passed command: what the device reported, but never fewer
    /// bytes than really went missing (or the block layer would complete garbage as
    /// data), and none at all from a device known to report bogus residues.
    fn settle_residue(
        &mut self,
        cdb: &Cdb,
        dir: Direction,
        len: u32,
        moved: u32,
        residue: u32,
    ) -> u32 {
        let ignoring = self.quirks().contains(Quirks::IGNORE_RESIDUE);
        match residue::settle_passed(cdb, dir, len, moved, residue, ignoring) {
            Settled::Residue(r) => r,
            Settled::IgnoreFromNow => {
                // Safe to ignore: the residue is taken from the bytes that
                // moved, which the host knows, never from the device's word.
                self.learn(
                    Quirks::IGNORE_RESIDUE,
                    format_args!(
                        "residue {} reported for a complete {}, residues ignored",
                        residue,
                        cdb.name()
                    ),
                );
                0
            }
        }
    }

    /// The signature CSWs of this device carry.
    fn signature(&self) -> u32 {
        self.learned_signature.unwrap_or(CSW_SIGNATURE)
    }

    /// Reads the CSW (BOT 5.3.3 and 6.3): one more read after a stall (cleared)
    /// or a zero-length packet. `first` is the result of a read already done
    /// (into `self.csw`).
    fn read_csw(
        &mut self,
        mut first: Option<core::result::Result<usize, TransferError>>,
        t: &Timeouts,
    ) -> Result<Csw, TransportError> {
        let mut stalls = 0;
        let mut empties = 0;
        let n = loop {
            let read = match first.take() {
                Some(r) => r,
                None => self
                    .udev
                    .bulk_msg(self.bulk_in, &mut self.csw, CSW_LEN, t.left(t.csw_ms)),
            };
            match read {
                Ok(0) if empties == 0 => empties += 1,
                Ok(n) => break n,
                Err(TransferError::Stall) if stalls == 0 => {
                    stalls += 1;
                    self.stats.inc(Counter::Stalls);
                    match self.clear_halt(self.bulk_in, t.left(t.ctrl_ms)) {
                        Ok(()) => {}
                        Err(TransferError::Gone) => return Err(TransportError::Gone),
                        Err(_) => return Err(TransportError::Broken(Stage::Csw, Fault::Stall)),
                    }
                }
                Err(e) => return Err(broken(Stage::Csw, e)),
            }
        };
        match self.csw.as_slice().get(..n).map(Csw::parse) {
            Some(Ok(csw)) => Ok(csw),
            _ => Err(TransportError::Broken(Stage::Csw, Fault::BadCsw)),
        }
    }

    /// Checks a CSW against the command it should answer (BOT 6.3), and
    /// learns a non-standard signature from the first ([`judge_csw`]).
    fn check_csw(&mut self, csw: &Csw, tag: u32, len: u32) -> Result<Outcome, TransportError> {
        let any_tag = self.quirks().contains(Quirks::BULK_IGNORE_TAG);
        let verdict = judge_csw(csw, tag, len, self.signature(), !self.csw_seen, any_tag);
        if let Some(sig) = verdict.learned_signature {
            dev_info!(
                self.intf.device(),
                "device signs its CSWs {:#010x} instead of {:#010x}; accepting that\n",
                sig,
                CSW_SIGNATURE
            );
            self.learned_signature = Some(sig);
        }
        if verdict.valid {
            self.csw_seen = true;
        }
        verdict.result
    }
}

/// What the stages of one command go over: split from [`Bot`] so that the data
/// stage's mapping can borrow the device meanwhile.
struct StagePath<'a> {
    udev: &'a UsbDevice,
    chain: Option<Pin<&'a Chain>>,
    req: Pin<&'a mut SgRequest>,
    cbw: &'a mut DmaBuf,
    csw: &'a mut DmaBuf,
    bulk_in: Pipe,
    bulk_out: Pipe,
    /// [`Bot::go_slow`] (stage by stage only).
    go_slow: bool,
    /// [`Bot::is_unbinding`]'s flag: ends a chained command's wait.
    unbinding: &'a AtomicBool,
}

impl StagePath<'_> {
    /// Sends the CBW and, as long as each stage ends cleanly, moves the data and
    /// reads the CSW (into the transport's CSW buffer): chained on the device's URBs, or one
    /// stage after the other with the USB core's synchronous calls.
    fn stages(
        &mut self,
        cbw: &[u8; CBW_LEN],
        data: Option<(Pipe, &mut Mapping<'_, '_>)>,
        len: u32,
        t: Timeouts,
    ) -> Stages {
        if let Some(chain) = self.chain {
            return chain::run(
                chain,
                self.bulk_out,
                self.bulk_in,
                cbw,
                data,
                len,
                t,
                self.csw.as_mut_slice(),
                self.unbinding,
            );
        }

        // The whole buffer goes out: a 32-byte one keeps its zero pad byte.
        let cbw_len = self.cbw.as_slice().len();
        if let Some(dst) = self.cbw.as_mut_slice().get_mut(..CBW_LEN) {
            dst.copy_from_slice(cbw);
        }
        let sent = self
            .udev
            .bulk_msg(self.bulk_out, self.cbw, cbw_len, t.left(t.cbw_ms));
        let mut stages = Stages {
            cbw: sent,
            data: None,
            csw: None,
        };
        if sent != Ok(cbw_len) {
            return stages;
        }
        if self.go_slow {
            // usb-storage's usleep_range(125, 150) for these devices.
            fsleep(Delta::from_micros(125));
        }
        if let Some((pipe, mapping)) = data {
            let xfer = self.req.as_mut().transfer(
                pipe,
                mapping,
                len as usize,
                Delta::from_millis(t.left(t.data_ms).into()),
            );
            stages.data = Some((xfer.bytes, xfer.status));
            if xfer.status.is_err() {
                return stages;
            }
        }
        stages.csw = Some(
            self.udev
                .bulk_msg(self.bulk_in, self.csw, CSW_LEN, t.left(t.csw_ms)),
        );
        stages
    }
}
