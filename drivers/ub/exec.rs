// SPDX-License-Identifier: GPL-2.0

//! The command executor: a device's transport under its I/O lock ([`Io`]) and
//! the commands the driver runs on it with auto-sense, recovery and retries
//! (its own commands, the probe's, passthrough). The block requests' commands
//! are run by [`crate::device`]'s worker over the same [`Io`].
use kernel::{
    prelude::*,
    sync::{Mutex, MutexGuard},
};

use crate::{
    bot::{Bot, Data, Fault, Outcome, Recovery, Stage, TransportError},
    kext::dma::DmaBuf,
    kext::{blk::PtDir, ratelimit::RateLimit, task::NoIoScope, usb::UsbDevice},
    quirks::Quirks,
    scsi::{
        cdb::{self, Cdb},
        inquiry::{self, INQUIRY_STD_LEN},
        sense::Sense,
        sense_len::{self, SenseLen},
    },
    usbcore_sg::SgTable,
};

/// The most sense data the driver asks for (sd's `SCSI_SENSE_BUFFERSIZE`); how
/// much it asks a device for is learned ([`SenseLen`]).
pub(crate) const SENSE_MAX: usize = sense_len::LONG as usize;

/// Scatterlist entries per request: 1 MiB in 4 KiB pages.
pub(crate) const MAX_SEGMENTS: u16 = 256;
/// Bytes of the buffer for commands the driver issues itself (INQUIRY, sense...).
const CMD_BUF_LEN: usize = 512;

/// Tries of a command whose sense says "retry" (UNIT ATTENTION, ABORTED COMMAND,
/// becoming ready, spun down).
pub(crate) const MAX_TRIES: u32 = 3;

/// Tries of a command that ends without a valid CSW: one recovery in between
/// (at most two resets), and one after the second failure, once the command has
/// failed, to leave the device in step for the next one.
pub(crate) const TRANSPORT_TRIES: u32 = 2;

/// How long a START STOP UNIT that spins a disk up may take (its CSW comes when
/// the disk is ready: no IMMED). USB hard disks take seconds.
pub(crate) const SPIN_UP_MS: u32 = 20_000;

/// What the transport lock protects: the transport, its recovery state and its
/// buffers.
pub(crate) struct Io {
    /// The Bulk-Only transport.
    pub(crate) bot: Bot,
    /// Recovery from commands that end without a valid CSW.
    pub(crate) rec: Recovery,
    /// Scatterlist for block requests and internal commands.
    pub(crate) sg: SgTable,
    /// DMA-able buffer for internal commands' data.
    pub(crate) buf: DmaBuf,
    /// Someone else is resetting the device (between `pre_reset` and
    /// `post_reset`): commands from outside the worker (media polling, eject)
    /// must wait for the next chance.
    pub(crate) foreign_reset: bool,
    /// The device is suspended for system sleep: no command may be sent.
    pub(crate) suspended: bool,
    /// Limits the per-request error lines: a broken medium fails every
    /// request, and the log must not drown in them (the counters count all).
    req_log: RateLimit,
    /// How much sense data REQUEST SENSE asks this device for.
    sense_len: SenseLen,
    /// Quirk I: the INQUIRY data the probe uses instead of asking.
    pub(crate) fixed_inquiry: Option<[u8; INQUIRY_STD_LEN]>,
    /// Quirk n: the last READ worked, so a failing one is tried again at once.
    pub(crate) read_worked: bool,
}

/// Why a command the driver issues did not deliver its data.
#[derive(Debug)]
pub(crate) enum CmdError {
    /// CHECK CONDITION, with the sense data if REQUEST SENSE worked.
    Sense(Option<Sense>),
    /// No valid CSW.
    Transport(TransportError),
}

/// The transport, locked, with the locking task in a [`NoIoScope`] for as long
/// as it holds the lock: whoever sends commands to the device (the worker, media
/// polling, eject, `SG_IO`, probe, suspend) may allocate memory meanwhile (the
/// USB core's synchronous calls do, with `GFP_KERNEL`), and reclaim must not
/// wait for writeback or swap on this very device while it holds the transport.
pub(crate) struct IoLock<'a> {
    // Dropped in this order: the lock is released before the scope is left.
    io: MutexGuard<'a, Io>,
    _noio: NoIoScope,
}

impl<'a> IoLock<'a> {
    /// Locks `io`, entering the scope first.
    pub(crate) fn lock(io: &'a Mutex<Io>) -> Self {
        let noio = NoIoScope::enter();
        Self {
            io: io.lock(),
            _noio: noio,
        }
    }
}

impl core::ops::Deref for IoLock<'_> {
    type Target = Io;

    fn deref(&self) -> &Io {
        &self.io
    }
}

impl core::ops::DerefMut for IoLock<'_> {
    fn deref_mut(&mut self) -> &mut Io {
        &mut self.io
    }
}

impl Io {
    /// The transport `bot` with its recovery `rec` and the buffers for the
    /// commands of `udev`, which has `quirks`.
    pub(crate) fn new(bot: Bot, rec: Recovery, udev: &UsbDevice, quirks: Quirks) -> Result<Self> {
        Ok(Self {
            bot,
            rec,
            sg: SgTable::new(MAX_SEGMENTS.into())?,
            buf: DmaBuf::new(CMD_BUF_LEN)?,
            foreign_reset: false,
            suspended: false,
            req_log: RateLimit::new(),
            sense_len: SenseLen::new(
                quirks.contains(Quirks::SANE_SENSE),
                quirks.contains(Quirks::BAD_SENSE),
            ),
            fixed_inquiry: quirks
                .contains(Quirks::FIX_INQUIRY)
                .then(|| inquiry::made_up(udev.manufacturer(), udev.product(), udev.release())),
            read_worked: false,
        })
    }

    /// Logs a line about a failed request, rate-limited per device (with a
    /// count of the lines suppressed).
    pub(crate) fn request_error(&mut self, line: core::fmt::Arguments<'_>) {
        let (print, missed) = self.req_log.allow();
        if missed > 0 {
            pr_err!(
                "{}: {} I/O error messages suppressed\n",
                &*self.bot.name,
                missed
            );
        }
        if print {
            pr_err!("{}", line);
        }
    }

    /// Runs a command with no data stage or a data-in stage of `len` bytes into
    /// `self.buf`, with auto-sense, recovering and retrying (a bounded number of
    /// times) when the transport fails. Returns the bytes received.
    pub(crate) fn data_in(&mut self, lun: u8, cdb: &Cdb, len: usize) -> Result<usize, CmdError> {
        let mut tries = 0;
        loop {
            tries += 1;
            let out = if len == 0 {
                self.bot.command(lun, cdb, Data::None, 0)
            } else {
                let seg = self.sg.one(&mut self.buf, len).map_err(|_| {
                    CmdError::Transport(TransportError::Broken(Stage::Data, Fault::Usb))
                })?;
                self.bot.command(lun, cdb, Data::In(seg), len as u32)
            };
            match out {
                Ok(Outcome::Passed { residue }) => {
                    self.rec.succeeded();
                    return Ok(len.saturating_sub(residue as usize));
                }
                Ok(Outcome::Failed { .. }) => {
                    self.rec.succeeded();
                    return Err(CmdError::Sense(self.request_sense(lun)));
                }
                Err(e) => {
                    let recovered = self.rec.recover(&mut self.bot, lun, cdb, len as u32, e);
                    if recovered.is_err() || tries >= TRANSPORT_TRIES {
                        return Err(CmdError::Transport(e));
                    }
                }
            }
        }
    }

    /// START STOP UNIT (start) for a LUN that said NOT READY, INITIALIZING
    /// COMMAND REQUIRED: a USB hard disk that spun down, which sd's spin-up wakes
    /// the same way. Waited for (no IMMED), up to [`SPIN_UP_MS`]. Whether the
    /// unit started.
    pub(crate) fn start_unit(&mut self, lun: u8) -> bool {
        pr_info!(
            "{}: LUN {}: spinning up (START STOP UNIT)\n",
            &*self.bot.name,
            lun
        );
        let cdb = cdb::start_stop_unit(true, false, false);
        match self.bot.command_timed(lun, &cdb, Data::None, 0, SPIN_UP_MS) {
            Ok(Outcome::Passed { .. }) => {
                self.rec.succeeded();
                true
            }
            Ok(Outcome::Failed { .. }) => {
                self.rec.succeeded();
                let _ = self.request_sense(lun);
                false
            }
            Err(e) => {
                let _ = self.rec.recover(&mut self.bot, lun, &cdb, 0, e);
                false
            }
        }
    }

    /// REQUEST SENSE after a failed command (auto-sense). `None` when the device
    /// does not deliver sense data (a transport failure is recovered from first).
    pub(crate) fn request_sense(&mut self, lun: u8) -> Option<Sense> {
        let mut raw = [0u8; SENSE_MAX];
        let n = self.request_sense_raw(lun, &[], &mut raw);
        Sense::parse(raw.get(..n)?).ok()
    }

    /// REQUEST SENSE after command `failed` into `out` (18 bytes, or up to
    /// [`SENSE_MAX`] for a device that has shown it has more and after ATA
    /// PASS-THROUGH); returns the bytes received, 0 when the device delivers
    /// none. A device that fails a long REQUEST SENSE is asked for 18 bytes,
    /// now and from then on, as usb-storage does.
    fn request_sense_raw(&mut self, lun: u8, failed: &[u8], out: &mut [u8; SENSE_MAX]) -> usize {
        loop {
            let alloc = self.sense_len.alloc_len_after(failed);
            let len = usize::from(alloc);
            let Ok(seg) = self.sg.one(&mut self.buf, len) else {
                return 0;
            };
            let cdb = cdb::request_sense(alloc);
            match self.bot.command(lun, &cdb, Data::In(seg), len as u32) {
                Ok(Outcome::Passed { residue }) => {
                    self.rec.succeeded();
                    let n = len.saturating_sub(residue as usize).min(out.len());
                    for (o, b) in out.iter_mut().zip(self.buf.as_slice().iter().take(n)) {
                        *o = *b;
                    }
                    self.sense_len.sense_received(out.get(..n).unwrap_or(&[]));
                    return n;
                }
                Ok(Outcome::Failed { .. }) if alloc > sense_len::SHORT => {
                    self.rec.succeeded();
                    pr_info!(
                        "{}: REQUEST SENSE of {} bytes failed; asking for 18 from now on\n",
                        &*self.bot.name,
                        alloc
                    );
                    self.sense_len.long_failed();
                }
                Ok(Outcome::Failed { .. }) => return 0,
                Err(e) => {
                    if alloc > sense_len::SHORT {
                        self.sense_len.long_failed();
                    }
                    let _ = self.rec.recover(&mut self.bot, lun, &cdb, len as u32, e);
                    return 0;
                }
            }
        }
    }

    /// Runs a passthrough command once, without retries (the caller sees the
    /// status and decides), its data in `buf`. Returns the SCSI status (0 GOOD,
    /// 2 CHECK CONDITION), the residue and, after a CHECK CONDITION, the sense
    /// bytes and their count. `EIO` or `ENODEV` when no status came (the
    /// transport is recovered first).
    pub(crate) fn passthrough(
        &mut self,
        lun: u8,
        cdb: &Cdb,
        dir: PtDir,
        buf: &mut DmaBuf,
        timeout_ms: u32,
    ) -> Result<(u8, u32, [u8; SENSE_MAX], usize)> {
        let len = buf.as_slice().len();
        let out = if len == 0 || dir == PtDir::None {
            self.bot.command_timed(lun, cdb, Data::None, 0, timeout_ms)
        } else {
            let seg = self.sg.one(buf, len)?;
            let data = if dir == PtDir::In {
                Data::In(seg)
            } else {
                Data::Out(seg)
            };
            self.bot
                .command_timed(lun, cdb, data, len as u32, timeout_ms)
        };
        let mut sense = [0u8; SENSE_MAX];
        match out {
            Ok(Outcome::Passed { residue }) => {
                self.rec.succeeded();
                self.sense_len.command_passed(cdb.as_bytes());
                Ok((SAM_GOOD, residue, sense, 0))
            }
            Ok(Outcome::Failed { residue }) => {
                self.rec.succeeded();
                let n = self.request_sense_raw(lun, cdb.as_bytes(), &mut sense);
                Ok((SAM_CHECK_CONDITION, residue, sense, n))
            }
            Err(e) => {
                let r = self.rec.recover(&mut self.bot, lun, cdb, len as u32, e);
                Err(match (e, r) {
                    (TransportError::Gone, _) | (_, Err(TransportError::Gone)) => ENODEV,
                    _ => EIO,
                })
            }
        }
    }
}

/// SCSI status codes (SAM-5 5.3) a passthrough caller sees.
const SAM_GOOD: u8 = 0x00;

const SAM_CHECK_CONDITION: u8 = 0x02;
