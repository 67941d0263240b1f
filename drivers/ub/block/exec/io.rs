// SPDX-License-Identifier: GPL-2.0

//! The transport under its I/O lock ([`Executor`], [`ExecutorLock`]): what the lock
//! protects (the transport, its recovery, the scatterlist and buffer for
//! commands, what the driver learned of the device's sense and reads), the
//! executor's bounds, and the rate-limited log of failed requests.

use core::sync::atomic::AtomicBool;
use kernel::{
    prelude::*,
    sync::{Arc, Mutex, MutexGuard},
};

use crate::{
    bot::{
        knobs::Knobs,
        quirks::{Quirks, QUIRKS_TEXT},
        Bot, Recovery, Timeouts, TransportError,
    },
    kext::{dma::DmaBuf, ratelimit::RateLimit, sg::SgTable, task::NoIoScope, usb::PortReset},
    scsi::{
        cdb::Cdb,
        sense::Sense,
        sense_len::{self, SenseLen},
    },
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
pub(crate) struct Executor {
    /// The Bulk-Only transport.
    pub(super) bot: Bot,
    /// Recovery from commands that end without a valid CSW.
    pub(super) rec: Recovery,
    /// Scatterlist for block requests and internal commands.
    pub(super) sg: SgTable,
    /// DMA-able buffer for internal commands' data.
    pub(super) buf: DmaBuf,
    /// Limits the per-request error lines: a broken medium fails every
    /// request, and the log must not drown in them (the counters count all).
    pub(super) req_log: RateLimit,
    /// How much sense data REQUEST SENSE asks this device for.
    pub(super) sense_len: SenseLen,
    /// A command that ended without a valid CSW and whose recovery was left
    /// to whoever sends the next one ([`Executor::owe_recovery`]).
    pub(super) owed: Option<Owed>,
}

/// A recovery left for the next command: the command that needs it.
pub(super) struct Owed {
    pub(super) lun: u8,
    pub(super) cdb: Cdb,
    pub(super) len: u32,
    pub(super) error: TransportError,
}

/// Why a command the driver issues did not deliver its data.
#[derive(Debug)]
pub(crate) enum CmdError {
    /// CHECK CONDITION, with the sense data if REQUEST SENSE worked.
    Sense(Option<Sense>),
    /// No valid CSW.
    Transport(TransportError),
    /// No valid CSW on any try, and after each a reset made the device answer
    /// again (a TEST UNIT READY): the device hangs on this command, not in
    /// general. How the last try ended.
    Hangs(TransportError),
}

/// The transport, locked, with the locking task in a [`NoIoScope`] for as long
/// as it holds the lock: whoever sends commands to the device (the worker, media
/// polling, eject, `SG_IO`, probe, suspend) may allocate memory meanwhile (the
/// USB core's synchronous calls do, with `GFP_KERNEL`), and reclaim must not
/// wait for writeback or swap on this very device while it holds the transport.
pub(crate) struct ExecutorLock<'a> {
    // Dropped in this order: the lock is released before the scope is left.
    io: MutexGuard<'a, Executor>,
    _noio: NoIoScope,
}

impl<'a> ExecutorLock<'a> {
    /// Locks `io`, entering the scope first.
    pub(crate) fn lock(io: &'a Mutex<Executor>) -> Self {
        let noio = NoIoScope::enter();
        Self {
            io: io.lock(),
            _noio: noio,
        }
    }

    /// Locks `io` if nobody holds it.
    pub(crate) fn try_lock(io: &'a Mutex<Executor>) -> Option<Self> {
        let noio = NoIoScope::enter();
        Some(Self {
            io: io.try_lock()?,
            _noio: noio,
        })
    }
}

impl core::ops::Deref for ExecutorLock<'_> {
    type Target = Executor;

    fn deref(&self) -> &Executor {
        &self.io
    }
}

impl core::ops::DerefMut for ExecutorLock<'_> {
    fn deref_mut(&mut self) -> &mut Executor {
        &mut self.io
    }
}

impl Executor {
    /// The transport `bot` with its recovery `rec` and the buffers for the
    /// commands of a device with `quirks`.
    pub(crate) fn new(bot: Bot, rec: Recovery, quirks: Quirks) -> Result<Self> {
        Ok(Self {
            bot,
            rec,
            sg: SgTable::new(MAX_SEGMENTS.into())?,
            buf: DmaBuf::new(CMD_BUF_LEN)?,
            req_log: RateLimit::new(),
            sense_len: SenseLen::new(
                quirks.contains(Quirks::SANE_SENSE),
                quirks.contains(Quirks::BAD_SENSE),
            ),
            owed: None,
        })
    }

    /// Leaves the recovery after command `cdb` to `lun` (`len` bytes), which
    /// ended without a valid CSW (`error`), to the next command, whoever
    /// sends it ([`Executor::run`] recovers first): the direct path hands its
    /// request to the worker rather than recover in its submitter's call.
    pub(crate) fn owe_recovery(&mut self, lun: u8, cdb: &Cdb, len: u32, error: TransportError) {
        self.owed = Some(Owed {
            lun,
            cdb: *cdb,
            len,
            error,
        });
    }

    /// Whether a command now could take long before it is even sent: a
    /// recovery is owed, or a device given up is due for a port reset.
    pub(crate) fn owes_work(&self) -> bool {
        self.owed.is_some() || self.bot.revive_due()
    }

    /// Logs a line about a failed request, with the interface's `dev_err!`
    /// prefix, rate-limited per device (with a count of the lines suppressed).
    pub(crate) fn request_error(&mut self, line: core::fmt::Arguments<'_>) {
        if self.log_allowed() {
            dev_err!(self.bot.device(), "{}", line);
        }
    }

    /// Whether a line about a request may be logged now: the per-device rate
    /// limit that every line a user can cause once per request or ioctl goes
    /// through (with a count of the lines suppressed before).
    pub(crate) fn log_allowed(&mut self) -> bool {
        let (print, missed) = self.req_log.allow();
        if missed > 0 {
            dev_err!(
                self.bot.device(),
                "{} I/O error messages suppressed\n",
                missed
            );
        }
        print
    }
}

/// What the layers above ask of the transport and its state: they go through
/// these, never into the fields.
impl Executor {
    /// The quirks in force: configured and learned.
    pub(crate) fn quirks(&self) -> Quirks {
        self.bot.quirks()
    }

    /// The text of the interface's `quirks` file, into `out`.
    pub(crate) fn quirks_text<'a>(&self, out: &'a mut [u8; QUIRKS_TEXT]) -> &'a str {
        self.bot.quirks_text(out)
    }

    /// Learns quirk `q` from `evidence` (logged once); whether it was new.
    pub(crate) fn learn(&mut self, q: Quirks, evidence: core::fmt::Arguments<'_>) -> bool {
        self.bot.learn(q, evidence)
    }

    /// The timeouts a command starting now gets.
    pub(crate) fn timeouts(&self) -> Timeouts {
        self.bot.timeouts()
    }

    /// The device's stage timeouts, for its sysfs files.
    pub(crate) fn knobs(&self) -> Arc<Knobs> {
        self.bot.knobs()
    }

    /// The device's port reset, for whoever must wait for it.
    pub(crate) fn port_resets(&self) -> Arc<PortReset> {
        self.bot.port_resets()
    }

    /// The flag that tells the transport the interface is being unbound.
    pub(crate) fn unbinding_flag(&self) -> Arc<AtomicBool> {
        self.bot.unbinding_flag()
    }

    /// The interface is being unbound: send nothing any more, and give the
    /// transport's USB resources back now.
    pub(crate) fn release(&mut self) {
        self.bot.release();
    }

    /// A device given up is tried again at the next command, backoff or not.
    pub(crate) fn retry_now(&mut self) {
        self.bot.retry_now();
    }

    /// Tries a device given up again once its backoff is over (a port reset).
    pub(crate) fn revive(&mut self, lun: u8) -> Result<(), TransportError> {
        self.bot.revive(lun)
    }

    /// GET MAX LUN: the highest LUN, 0 for a device that does not say.
    pub(crate) fn get_max_lun(&mut self) -> u8 {
        self.bot.get_max_lun(&mut self.buf)
    }

    /// Someone else reset the device: it starts afresh, recovery included.
    pub(crate) fn reset_by_others(&mut self) {
        self.bot.reset_by_others();
        self.rec.succeeded();
    }

    /// Recovers the transport after a command to `lun` (`cdb`, `len` bytes)
    /// ended without a valid CSW (`e`): the caller completed its request first.
    pub(crate) fn recover(
        &mut self,
        lun: u8,
        cdb: &Cdb,
        len: u32,
        e: TransportError,
    ) -> Result<(), TransportError> {
        self.owed = None;
        self.rec.recover(&mut self.bot, lun, cdb, len, e)
    }

    /// The data an internal command read, the whole buffer.
    pub(crate) fn data(&self) -> &[u8] {
        self.buf.as_slice()
    }

    /// The buffer of internal commands, to fill.
    pub(crate) fn data_mut(&mut self) -> &mut [u8] {
        self.buf.as_mut_slice()
    }
}
