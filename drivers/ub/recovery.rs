// SPDX-License-Identifier: GPL-2.0

//! What happens when a command ends without a valid CSW (BOT 1.0 sections 5.3.4 and
//! 6.6): the recovery ladder, its escalation, and the decision that a device is dead.
//!
//! The ladder has two steps, Reset Recovery (Bulk-Only Mass Storage Reset and clear
//! halt on both bulk endpoints) and a USB port reset; the `port_reset_first` module
//! parameter swaps them. After a step the device must answer a TEST UNIT READY
//! whose every stage is bounded by the control timeout; if it does, the caller
//! retries its command (a bounded number of times). If the previous recovery did
//! not stick (the next command failed too), the first step is skipped. When no step
//! brings the device back, or [`MAX_FAILURES`] commands in a row fail despite
//! resets, the device is dead: every command fails at once until it is unplugged.
//!
//! Every step logs one rate-limited line naming the command, the stage, the fault
//! and the outcome. Documentation/recovery.rst describes the whole state machine.

use core::sync::atomic::{AtomicBool, Ordering};
use kernel::{prelude::*, sync::Arc};

use crate::{
    counters::Counter,
    kext::RateLimit,
    scsi::cdb::{self, Cdb},
    transport::{cdb_name, Bot, TransportError},
};

/// Commands in a row that may end without a valid CSW, recoveries in between,
/// before the device is declared dead.
const MAX_FAILURES: u32 = 6;

/// A recovery step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Bulk-Only Mass Storage Reset and clear halt on both bulk endpoints.
    ResetRecovery,
    /// USB port reset (re-enumeration up to SET_CONFIGURATION).
    PortReset,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::ResetRecovery => "reset recovery",
            Step::PortReset => "port reset",
        }
    }
}

/// The recovery state of one device.
pub(crate) struct Recovery {
    /// Try a port reset before Reset Recovery.
    port_reset_first: bool,
    /// Commands in a row that ended without a valid CSW.
    failures: u32,
    limit: RateLimit,
    /// Set while this device's own port reset runs, for its reset callbacks.
    self_reset: Arc<AtomicBool>,
}

/// The logical block address a read or write CDB names, for log lines.
fn cdb_lba(cdb: &Cdb) -> Option<u64> {
    let b = cdb.as_bytes();
    let be = |r: core::ops::Range<usize>| {
        b.get(r)
            .map(|s| s.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
    };
    match cdb.opcode() {
        cdb::READ_10 | cdb::WRITE_10 => be(2..6),
        cdb::READ_16 | cdb::WRITE_16 => be(2..10),
        _ => None,
    }
}

impl Recovery {
    /// A device with no failures yet.
    pub(crate) fn new(port_reset_first: bool, self_reset: Arc<AtomicBool>) -> Self {
        Self {
            port_reset_first,
            failures: 0,
            limit: RateLimit::new(),
            self_reset,
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
            pr_warn!("{}: {} recovery messages suppressed\n", &*bot.name, missed);
        }
        if !print {
            return;
        }
        match cdb_lba(cdb) {
            Some(lba) => pr_warn!(
                "{}: {} lba {} ({} bytes): {}\n",
                &*bot.name,
                cdb_name(cdb.opcode()),
                lba,
                len,
                what
            ),
            None => pr_warn!(
                "{}: {} ({} bytes): {}\n",
                &*bot.name,
                cdb_name(cdb.opcode()),
                len,
                what
            ),
        }
    }

    /// Recovers from `err`, which `cdb` (with a data stage of `len` bytes) on
    /// `lun` ended with. `Ok` when the device answers commands again and the caller
    /// may retry; otherwise the device is gone or dead.
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
        bot.stats.inc(Counter::Recoveries);
        self.failures += 1;
        if self.failures > MAX_FAILURES {
            return self.give_up(bot, "too many failures in a row despite resets");
        }
        let order = if self.port_reset_first {
            [Step::PortReset, Step::ResetRecovery]
        } else {
            [Step::ResetRecovery, Step::PortReset]
        };
        // The last recovery did not stick: go straight to the stronger step.
        let skip = usize::from(self.failures > 1);
        for step in order.into_iter().skip(skip) {
            let done = match step {
                Step::ResetRecovery => bot.reset_recovery().map_err(|_| ()),
                Step::PortReset => {
                    self.self_reset.store(true, Ordering::Release);
                    let r = bot.port_reset().map_err(|_| ());
                    self.self_reset.store(false, Ordering::Release);
                    r
                }
            };
            let check = match done {
                Ok(()) => bot.answers(lun),
                Err(()) => Err(TransportError::Broken(stage, fault)),
            };
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
            match check {
                Ok(()) => return Ok(()),
                Err(TransportError::Gone) => return Err(TransportError::Gone),
                Err(_) => {}
            }
        }
        self.give_up(bot, "no reset brought the device back")
    }

    /// Declares the device dead.
    fn give_up(&mut self, bot: &mut Bot, why: &str) -> Result<(), TransportError> {
        bot.dead = true;
        bot.stats.inc(Counter::Dead);
        // Not rate-limited: this happens once per device.
        pr_err!(
            "{}: device not responding ({}); failing all I/O until it is unplugged\n",
            &*bot.name,
            why
        );
        Err(TransportError::Dead)
    }
}
