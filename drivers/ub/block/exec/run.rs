// SPDX-License-Identifier: GPL-2.0

//! The executor's loop ([`Executor::run`]): one command tried until it passes, fails
//! for good or runs out of tries or time. What a try sends is a [`Payload`];
//! when to try again is a [`Policy`]. Auto-sense ([`Executor::request_sense_raw`])
//! and the recovery of a try without a valid CSW happen here and nowhere else.

use kernel::prelude::*;

use super::{
    io::{Executor, SENSE_MAX, TRANSPORT_TRIES},
    step::{after_broken, AfterBroken},
};
use crate::{
    bot::{Bot, Data, Fault, Outcome, Stage, Timeouts, TransportError},
    kext::{
        dma::DmaBuf,
        sg::{Segments, SgTable},
    },
    scsi::{
        cdb::{self, Cdb},
        sense::Sense,
        sense_len,
    },
};

/// What one try of a command sends and receives.
pub(crate) trait Payload {
    /// Bytes of the data stage, for log lines.
    fn len(&self) -> u32;

    /// Sends `cdb` to `lun` once, with its data stage. `None` when the command
    /// cannot be tried any more (its block request was taken by its timeout).
    fn send(
        &mut self,
        io: &mut Executor,
        lun: u8,
        cdb: &Cdb,
        t: Timeouts,
    ) -> Option<Result<Outcome, TransportError>>;
}

/// A data stage in a driver buffer.
pub(crate) enum Buffer<'a> {
    /// No data stage.
    None,
    /// This many bytes in, into [`Executor::buf`].
    In(usize),
    /// These bytes out, through [`Executor::buf`].
    Out(&'a [u8]),
    /// Into this buffer, all of it (passthrough).
    InTo(&'a mut DmaBuf),
    /// Out of this buffer, all of it (passthrough).
    OutOf(&'a mut DmaBuf),
}

impl Payload for Buffer<'_> {
    fn len(&self) -> u32 {
        let len = match self {
            Buffer::None => 0,
            Buffer::In(len) => *len,
            Buffer::Out(bytes) => bytes.len(),
            Buffer::InTo(b) | Buffer::OutOf(b) => b.as_slice().len(),
        };
        u32::try_from(len).unwrap_or(u32::MAX)
    }

    fn send(
        &mut self,
        io: &mut Executor,
        lun: u8,
        cdb: &Cdb,
        t: Timeouts,
    ) -> Option<Result<Outcome, TransportError>> {
        let Executor { bot, sg, buf, .. } = io;
        let (buf, len, is_in) = match self {
            Buffer::None => (buf, 0, true),
            Buffer::In(len) => (buf, *len, true),
            Buffer::Out(bytes) => {
                let len = bytes.len();
                match buf.as_mut_slice().get_mut(..len) {
                    Some(dst) => dst.copy_from_slice(bytes),
                    None => return Some(Err(TransportError::Broken(Stage::Data, Fault::Usb))),
                }
                (buf, len, false)
            }
            Buffer::InTo(b) => {
                let len = b.as_slice().len();
                (&mut **b, len, true)
            }
            Buffer::OutOf(b) => {
                let len = b.as_slice().len();
                (&mut **b, len, false)
            }
        };
        if len == 0 {
            return Some(bot.command_with(lun, cdb, Data::None, 0, t));
        }
        Some(send_over(
            bot,
            lun,
            cdb,
            sg.one(buf, len),
            is_in,
            len as u32,
            t,
        ))
    }
}

/// Sends `cdb` to `lun` with a data stage of `len` bytes over `segments`, in
/// when `is_in`: the one place a scatterlist that could not be set up fails a
/// try (as a USB error in the data stage).
pub(super) fn send_over(
    bot: &mut Bot,
    lun: u8,
    cdb: &Cdb,
    segments: Result<Segments<'_>>,
    is_in: bool,
    len: u32,
    t: Timeouts,
) -> Result<Outcome, TransportError> {
    let Ok(seg) = segments else {
        return Err(TransportError::Broken(Stage::Data, Fault::Usb));
    };
    let data = if is_in { Data::In(seg) } else { Data::Out(seg) };
    bot.command_with(lun, cdb, data, len, t)
}

impl Executor {
    /// Sends `cdb` to `lun` with `len` bytes over the scatterlist `map` fills
    /// (a block request's own pages), in when `is_in`.
    pub(crate) fn send_mapped<F>(
        &mut self,
        lun: u8,
        cdb: &Cdb,
        map: F,
        is_in: bool,
        len: u32,
        t: Timeouts,
    ) -> Result<Outcome, TransportError>
    where
        F: for<'s> FnOnce(&'s mut SgTable) -> Result<Segments<'s>>,
    {
        let Executor { bot, sg, .. } = self;
        send_over(bot, lun, cdb, map(sg), is_in, len, t)
    }
}

/// When a command is tried again.
pub(crate) trait Policy {
    /// Tries at most, whatever ends them.
    fn tries(&self) -> u32;

    /// Whether the transport is recovered after the last try ended without a
    /// valid CSW as well (the driver's own commands, passthrough), or left to
    /// the caller, which first completes its request (block I/O).
    fn recover_last(&self) -> bool;

    /// Called after every try, before its outcome is looked at: `true` to
    /// try again at once (a quirk's retry).
    fn after_try(
        &mut self,
        _io: &mut Executor,
        _lun: u8,
        _out: &Result<Outcome, TransportError>,
        _last: bool,
    ) -> bool {
        false
    }

    /// After a CHECK CONDITION whose sense is `sense` (`residue` bytes of
    /// the data not moved): `true` to try again, which only a try but the
    /// `last` gets.
    fn after_sense(
        &mut self,
        _io: &mut Executor,
        _lun: u8,
        _sense: &Sense,
        _residue: u32,
        _last: bool,
    ) -> bool {
        false
    }
}

/// The policy of the driver's own commands: tried again only after a try
/// without a valid CSW was recovered from, `tries` times in all.
pub(crate) struct OwnCommands(pub(crate) u32);

impl Policy for OwnCommands {
    fn tries(&self) -> u32 {
        self.0
    }

    fn recover_last(&self) -> bool {
        true
    }
}

/// The sense data a REQUEST SENSE returned.
pub(crate) struct SenseData {
    raw: [u8; SENSE_MAX],
    len: usize,
}

impl SenseData {
    /// The bytes received (none when REQUEST SENSE failed).
    pub(crate) fn bytes(&self) -> &[u8] {
        self.raw.get(..self.len).unwrap_or(&[])
    }

    /// The sense, decoded, if there is any.
    pub(crate) fn parsed(&self) -> Option<Sense> {
        Sense::parse(self.bytes()).ok()
    }
}

/// How a command ended.
pub(crate) enum CommandEnd {
    /// GOOD status, with `residue` bytes of the data stage not moved.
    Passed {
        /// Bytes not moved.
        residue: u32,
    },
    /// CHECK CONDITION on the last try, with what REQUEST SENSE returned.
    Failed {
        /// Bytes not moved.
        residue: u32,
        /// The sense data.
        sense: SenseData,
    },
    /// No valid CSW on the last try (or the device is gone or given up).
    Broken {
        /// How the last try ended.
        error: TransportError,
        /// Tries that ended without a valid CSW.
        tries: u32,
        /// How the recovery after the last try went; `None` when none
        /// followed it (left to the caller, or not possible).
        recovery: Option<Result<(), TransportError>>,
    },
    /// The deadline passed before a try.
    Expired,
    /// The payload could not be sent any more.
    Aborted,
    /// The last try was one a policy asked for again at once.
    OutOfTries,
}

impl Executor {
    /// Runs `cdb` on `lun` within `t`: sends it with `payload`, reads the
    /// sense after a CHECK CONDITION, recovers after a try without a valid
    /// CSW, and tries again as `policy` says, at most [`TRANSPORT_TRIES`]
    /// times without a valid CSW.
    pub(crate) fn run(
        &mut self,
        lun: u8,
        cdb: &Cdb,
        t: Timeouts,
        payload: &mut dyn Payload,
        policy: &mut dyn Policy,
    ) -> CommandEnd {
        // The recovery a command before this one left to it: the device is
        // out of step until it is done. A device gone or given up in it ends
        // this command as that try would have ended had it recovered at once.
        if let Some(o) = self.owed.take() {
            let Executor { bot, rec, .. } = &mut *self;
            let recovery = rec.recover(bot, o.lun, &o.cdb, o.len, o.error);
            if let Err(TransportError::Gone | TransportError::Dead) = recovery {
                return CommandEnd::Broken {
                    error: o.error,
                    tries: 1,
                    recovery: Some(recovery),
                };
            }
        }
        let tries = policy.tries();
        let mut broken = 0;
        for attempt in 1..=tries {
            if t.expired() {
                return CommandEnd::Expired;
            }
            let Some(out) = payload.send(self, lun, cdb, t) else {
                return CommandEnd::Aborted;
            };
            let last = attempt == tries;
            if out.is_ok() {
                self.rec.succeeded();
            }
            if policy.after_try(self, lun, &out, last) {
                continue;
            }
            match out {
                Ok(Outcome::Passed { residue }) => {
                    self.sense_len.command_passed(cdb.as_bytes());
                    return CommandEnd::Passed { residue };
                }
                Ok(Outcome::Failed { residue }) => {
                    let mut sense = SenseData {
                        raw: [0; SENSE_MAX],
                        len: 0,
                    };
                    sense.len = self.request_sense_raw(lun, cdb.as_bytes(), &mut sense.raw);
                    let retry = match sense.parsed() {
                        Some(s) => policy.after_sense(self, lun, &s, residue, last) && !last,
                        None => false,
                    };
                    if !retry {
                        return CommandEnd::Failed { residue, sense };
                    }
                }
                Err(error @ (TransportError::Gone | TransportError::Dead)) => {
                    return CommandEnd::Broken {
                        error,
                        tries: broken + 1,
                        recovery: None,
                    }
                }
                Err(error) => {
                    broken += 1;
                    let next = after_broken(
                        broken,
                        TRANSPORT_TRIES,
                        last,
                        t.expired(),
                        policy.recover_last(),
                    );
                    if next == AfterBroken::End {
                        return CommandEnd::Broken {
                            error,
                            tries: broken,
                            recovery: None,
                        };
                    }
                    let Executor { bot, rec, .. } = &mut *self;
                    let len = payload.len();
                    let recovery = rec.recover(bot, lun, cdb, len, error);
                    if next == AfterBroken::RecoverThenEnd || recovery.is_err() {
                        return CommandEnd::Broken {
                            error,
                            tries: broken,
                            recovery: Some(recovery),
                        };
                    }
                }
            }
        }
        CommandEnd::OutOfTries
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
                    dev_info!(
                        self.bot.device(),
                        "REQUEST SENSE of {} bytes failed; asking for 18 from now on\n",
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
}
