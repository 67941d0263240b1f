// SPDX-License-Identifier: GPL-2.0

//! What happens when a command ends without a valid CSW (BOT 1.0 sections 5.3.4 and
//! 6.6): the recovery ladder, its escalation, and when a device is given up.
//!
//! The ladder has two steps, Reset Recovery (Bulk-Only Mass Storage Reset and clear
//! halt on both bulk endpoints) and a USB port reset; the `port_reset_first` module
//! parameter swaps them. After a step the device must answer a TEST UNIT READY
//! whose every stage is bounded by the control timeout; if it does, the caller
//! may retry its command. If the previous recovery did not stick (the next command
//! failed too), the first step is skipped. A CSW that is in sync but claims a
//! residue larger than the transfer needs no reset at all.
//!
//! A device that takes the resets but does not answer stays in use: each command
//! succeeds or fails on its own. Only a port reset that fails (the device does not
//! even re-enumerate) gives the device up, and then only for a while
//! ([`Bot::give_up`]): the next command after the backoff tries a port reset again.
//!
//! Every step logs one rate-limited line naming the command, the stage, the fault
//! and the outcome. Documentation/recovery.rst describes the whole state machine.

use kernel::prelude::*;

use super::{
    ladder::{self, Step},
    Bot, Fault, Stage, TransportError,
};
use crate::{bot::counters::Counter, kext::ratelimit::RateLimit, scsi::cdb::Cdb};

/// The recovery state of one device.
pub(crate) struct Recovery {
    /// Try a port reset before Reset Recovery.
    port_reset_first: bool,
    /// Commands in a row that ended without a valid CSW.
    failures: u32,
    limit: RateLimit,
}

impl Recovery {
    /// A device with no failures yet.
    pub(crate) fn new(port_reset_first: bool) -> Self {
        Self {
            port_reset_first,
            failures: 0,
            limit: RateLimit::new(),
        }
    }

    /// A command ended with a valid CSW: the device works.
    pub(crate) fn succeeded(&mut self) {
        self.failures = 0;
    }

    /// Logs one line about `cdb`, rate-limited.
    fn log(&mut self, bot: &Bot, cdb: &Cdb, len: u32, what: core::fmt::Arguments<'_>) {
        let (print, missed) = self.limit.allow();
        if missed > 0 {
            dev_warn!(
                bot.intf.device(),
                "{} recovery messages suppressed\n",
                missed
            );
        }
        if !print {
            return;
        }
        match cdb.lba() {
            Some(lba) => dev_warn!(
                bot.intf.device(),
                "{} lba {} ({} bytes): {}\n",
                cdb.name(),
                lba,
                len,
                what
            ),
            None => dev_warn!(
                bot.intf.device(),
                "{} ({} bytes): {}\n",
                cdb.name(),
                len,
                what
            ),
        }
    }

    /// Recovers from `err`, which `cdb` (with a data stage of `len` bytes) on
    /// `lun` ended with. `Ok` when the device answers commands again and the caller
    /// may retry. `Err(Broken)` when the device took the resets but does not
    /// answer: the command fails, the device stays in use. `Err(Gone)` when it
    /// is gone, `Err(Dead)` when a failed port reset made the transport give it
    /// up for a while.
    pub(crate) fn recover(
        &mut self,
        bot: &mut Bot,
        lun: u8,
        cdb: &Cdb,
        len: u32,
        err: TransportError,
    ) -> Result<(), TransportError> {
        let TransportError::Broken(stage, fault) = err else {
            return Err(err);
        };
        // A command cut short by the unbind: nothing more goes to the device.
        if bot.is_unbinding() {
            return Err(TransportError::Gone);
        }
        // The CSW came, with the right signature and tag: the device is in step
        // with the host, only its residue is nonsense. Nothing to reset (usb-storage
        // fails such a command at once too); the caller may try it again.
        if fault == Fault::BadResidue {
            return Ok(());
        }
        bot.stats.inc(Counter::Recoveries);
        self.failures = self.failures.saturating_add(1);
        for &step in ladder::steps(self.port_reset_first, self.failures) {
            let done = match step {
                Step::ResetRecovery => bot.reset_recovery().map_err(|_| ()),
                Step::PortReset => bot.port_reset().map_err(|_| ()),
            };
            let mut check = match done {
                Ok(()) => bot.answers(lun),
                Err(()) => Err(TransportError::Broken(stage, fault)),
            };
            if fault == Fault::WrongTag
                && check == Err(TransportError::Broken(Stage::Csw, Fault::WrongTag))
                && bot.learn_ignore_tag(cdb)
            {
                check = bot.answers(lun);
            }
            let outcome = match (done, check) {
                (_, Err(TransportError::Gone)) => "device gone",
                (Ok(()), Ok(())) => "device answers again",
                (Ok(()), Err(_)) => "done, device still not answering",
                (Err(()), _) => "failed",
            };
            self.log(
                bot,
                cdb,
                len,
                format_args!(
                    "{} in {} stage; {}: {}",
                    fault.name(),
                    stage.name(),
                    step.name(),
                    outcome
                ),
            );
            match (step, done, check) {
                (_, _, Ok(())) => return Ok(()),
                (_, _, Err(TransportError::Gone)) => return Err(TransportError::Gone),
                // Not even re-enumerated: give it up for a while.
                (Step::PortReset, Err(()), _) => {
                    bot.give_up(0);
                    return Err(TransportError::Dead);
                }
                _ => {}
            }
        }
        // It took every reset and still does not answer: this command fails, the
        // device stays in use (the next command's failure starts at the port reset).
        Err(err)
    }
}
