// SPDX-License-Identifier: GPL-2.0

//! The commands the driver and its users send outside block I/O, through the
//! executor: the driver's own (with their data in [`Executor::buf`]), the spin-up of
//! a stopped unit, and `SG_IO` passthrough.

use kernel::prelude::*;

use super::{
    io::{CmdError, Executor, SENSE_MAX, SPIN_UP_MS, TRANSPORT_TRIES},
    run::{Buffer, CommandEnd, OwnCommands},
};
use crate::{
    bot::{quirks::Quirks, TransportError},
    kext::{blk::PtDir, dma::DmaBuf},
    scsi::cdb::{self, Cdb},
};

/// SCSI status codes (SAM-5 5.3) a passthrough caller sees.
const SAM_GOOD: u8 = 0x00;
const SAM_CHECK_CONDITION: u8 = 0x02;

impl Executor {
    /// Runs a command with no data stage or a data-in stage of `len` bytes into
    /// `self.buf`, with auto-sense, recovering and retrying (a bounded number of
    /// times) when the transport fails. Returns the bytes received.
    pub(crate) fn data_in(&mut self, lun: u8, cdb: &Cdb, len: usize) -> Result<usize, CmdError> {
        let t = self.bot.timeouts();
        let mut payload = Buffer::In(len);
        match self.run(lun, cdb, t, &mut payload, &mut OwnCommands(TRANSPORT_TRIES)) {
            CommandEnd::Passed { residue } => Ok(len.saturating_sub(residue as usize)),
            CommandEnd::Failed { sense, .. } => Err(CmdError::Sense(sense.parsed())),
            CommandEnd::Broken {
                error,
                tries: TRANSPORT_TRIES..,
                recovery: Some(Ok(())),
            } => Err(CmdError::Hangs(error)),
            CommandEnd::Broken { error, .. } => Err(CmdError::Transport(error)),
            // No deadline, and a buffer can always be sent.
            CommandEnd::Expired | CommandEnd::Aborted | CommandEnd::OutOfTries => {
                Err(CmdError::Transport(TransportError::Dead))
            }
        }
    }

    /// `what` hangs the device, as `err` ([`CmdError::Hangs`]) shows: learns
    /// `q`, the quirk that leaves it unsent (see `bot::learned`). Other errors
    /// teach nothing. Whether `err` was such a hang.
    pub(crate) fn learn_hang(&mut self, q: Quirks, what: &str, err: &CmdError) -> bool {
        let CmdError::Hangs(TransportError::Broken(stage, fault)) = *err else {
            return false;
        };
        self.bot.learn(
            q,
            format_args!(
                "{} got no status on {} tries ({} in {} stage), the device answered after each reset",
                what,
                TRANSPORT_TRIES,
                fault.name(),
                stage.name()
            ),
        );
        true
    }

    /// START STOP UNIT (start) for a LUN that said NOT READY, INITIALIZING
    /// COMMAND REQUIRED: a USB hard disk that spun down, which sd's spin-up wakes
    /// the same way. Waited for (no IMMED), up to [`SPIN_UP_MS`]. Whether the
    /// unit started.
    pub(crate) fn start_unit(&mut self, lun: u8) -> bool {
        // A disk that stops again at once asks for this with every request.
        if self.log_allowed() {
            dev_info!(
                self.bot.device(),
                "LUN {}: spinning up (START STOP UNIT)\n",
                lun
            );
        }
        let cdb = cdb::start_stop_unit(true, false, false);
        let t = self.bot.timeouts().with_wait_ms(SPIN_UP_MS);
        matches!(
            self.run(lun, &cdb, t, &mut Buffer::None, &mut OwnCommands(1)),
            CommandEnd::Passed { .. }
        )
    }

    /// Runs a passthrough command once, without retries (the caller sees the
    /// status and decides), its data in `buf`, its data and status stages
    /// allowed `timeout_ms` each (0: the defaults). Returns the SCSI status (0
    /// GOOD, 2 CHECK CONDITION), the residue and, after a CHECK CONDITION, the
    /// sense bytes and their count. `EIO` or `ENODEV` when no status came (the
    /// transport is recovered first).
    pub(crate) fn passthrough(
        &mut self,
        lun: u8,
        cdb: &Cdb,
        dir: PtDir,
        buf: &mut DmaBuf,
        timeout_ms: u32,
    ) -> Result<(u8, u32, [u8; SENSE_MAX], usize)> {
        let mut t = self.bot.timeouts();
        if timeout_ms > 0 {
            t = t.with_wait_ms(timeout_ms);
        }
        let mut payload = match dir {
            PtDir::None => Buffer::None,
            PtDir::In => Buffer::InTo(buf),
            PtDir::Out => Buffer::OutOf(buf),
        };
        let mut raw = [0u8; SENSE_MAX];
        match self.run(lun, cdb, t, &mut payload, &mut OwnCommands(1)) {
            CommandEnd::Passed { residue } => Ok((SAM_GOOD, residue, raw, 0)),
            CommandEnd::Failed { residue, sense } => {
                let n = sense.bytes().len().min(SENSE_MAX);
                if let (Some(dst), Some(src)) = (raw.get_mut(..n), sense.bytes().get(..n)) {
                    dst.copy_from_slice(src);
                }
                Ok((SAM_CHECK_CONDITION, residue, raw, n))
            }
            CommandEnd::Broken {
                error: TransportError::Gone,
                ..
            }
            | CommandEnd::Broken {
                recovery: Some(Err(TransportError::Gone)),
                ..
            } => Err(ENODEV),
            CommandEnd::Broken { .. }
            | CommandEnd::Expired
            | CommandEnd::Aborted
            | CommandEnd::OutOfTries => Err(EIO),
        }
    }
}
