// SPDX-License-Identifier: GPL-2.0

//! One try of a block request, as the executor sees it: what the try sends
//! ([`RequestData`], the executor's `Payload`: the request's own pages, taken
//! back from where blk-mq's timeout can end it and parked there again after)
//! and whether another try follows ([`BlockPolicy`], its `Policy`: sd's reading
//! of the sense, usb-storage's INITIAL_READ10 and SENSE_AFTER_SYNC quirks).

use core::sync::atomic::Ordering;
use kernel::{
    prelude::*,
    time::{delay::fsleep, Delta},
};

use super::{bound::UbDevice, lun::LunParams};
use crate::{
    block::exec::{Executor, Payload, Policy, MAX_TRIES},
    bot::{quirks::Quirks, Outcome, Timeouts, TransportError},
    kext::blk::{Op, Status},
    scsi::{
        cdb::Cdb,
        sense::{BlkStatus, Retry, Sense},
    },
};

/// The data stage of a read or a write: the request's own pages, out of the
/// timeout's reach while they move.
pub(super) struct RequestData<'a> {
    dev: &'a UbDevice,
    op: Op,
    bytes: u32,
    deadline_ns: i64,
}

impl Payload for RequestData<'_> {
    fn len(&self) -> u32 {
        self.bytes
    }

    fn send(
        &mut self,
        io: &mut Executor,
        lun: u8,
        cdb: &Cdb,
        t: Timeouts,
    ) -> Option<Result<Outcome, TransportError>> {
        // Taken back from where blk-mq's timeout can complete it, unless it did.
        let rq = self.dev.unpark()?;
        let is_in = self.op == Op::Read;
        let out = io.send_mapped(lun, cdb, |sg| rq.map_sg(sg), is_in, self.bytes, t);
        self.dev.park(rq, self.deadline_ns);
        Some(out)
    }
}

/// How a block request's command is tried again: as sd does after its sense,
/// and as usb-storage's quirks ask.
pub(super) struct BlockPolicy<'a> {
    dev: &'a UbDevice,
    params: &'a LunParams,
    op: Op,
    /// INITIAL_READ10: the last try was a READ that failed right after one
    /// that worked.
    read_after_worked: bool,
    /// The direct path: one try; a retry it would want is the worker's.
    direct: bool,
    /// The direct path's try ended with a sense the command would be tried
    /// again after.
    wants_retry: bool,
}

impl Policy for BlockPolicy<'_> {
    fn tries(&self) -> u32 {
        if self.direct {
            1
        } else {
            MAX_TRIES
        }
    }

    fn recover_last(&self) -> bool {
        // The worker completes the request first.
        false
    }

    fn after_try(
        &mut self,
        io: &mut Executor,
        lun: u8,
        out: &Result<Outcome, TransportError>,
        last: bool,
    ) -> bool {
        // The direct path's one try is not the request's last: the worker has
        // the others.
        let last = last && !self.direct;
        let quirks = self.dev.quirks;
        if self.op == Op::Flush
            && matches!(out, Ok(Outcome::Passed { .. }))
            && quirks.contains(Quirks::SENSE_AFTER_SYNC)
        {
            // usb-storage's SENSE_AFTER_SYNC: a command right after the flush
            // keeps the device from taking it as a goodbye.
            let _ = io.request_sense(lun);
        }
        if self.op == Op::Read && quirks.contains(Quirks::INITIAL_READ10) {
            // usb-storage's INITIAL_READ10: a READ that fails right after one
            // that worked is tried again at once.
            let worked = matches!(out, Ok(Outcome::Passed { residue: 0 }));
            if self.dev.read_worked.swap(worked, Ordering::Relaxed) && !worked && !last {
                // A CHECK CONDITION's sense is read and recorded as any
                // other's (`after_sense` tries it again): a UNIT ATTENTION
                // for a new medium must still mark the LUN stale.
                if let Ok(Outcome::Failed { .. }) = out {
                    self.read_after_worked = true;
                    return false;
                }
                return out.is_ok();
            }
        }
        false
    }

    fn after_sense(
        &mut self,
        io: &mut Executor,
        lun: u8,
        sense: &Sense,
        residue: u32,
        last: bool,
    ) -> bool {
        let all_moved = residue == 0;
        let decision = sense.retry_after(all_moved);
        self.params.saw(decision);
        // INITIAL_READ10: tried again whatever the sense, unless the medium
        // went or may be another one.
        let quirk_retry = core::mem::take(&mut self.read_after_worked)
            && !matches!(decision, Retry::MediaChanged | Retry::NoMedium);
        // As sd: tried again after these senses, but not on a removable
        // medium that may be another one.
        let wanted = quirk_retry
            || match decision {
                Retry::Yes | Retry::NeedsStart | Retry::Delayed => true,
                Retry::MediaChanged => !self.params.removable.load(Ordering::Acquire),
                Retry::No | Retry::NoMedium => false,
            };
        // A sense that completes the command (RECOVERED ERROR) ends it.
        let ends = sense.blk_status_after(all_moved) == BlkStatus::Ok;
        if self.direct {
            // Recorded above; the worker's try acts on it (starts the unit,
            // waits), not the submitter's call.
            self.wants_retry = wanted && !ends;
            return false;
        }
        let retry = wanted
            && (quirk_retry
                || match decision {
                    // As sd: a unit that needs starting is started, then the
                    // command is tried again.
                    Retry::NeedsStart => !last && io.start_unit(lun),
                    Retry::Delayed => {
                        fsleep(Delta::from_millis(100));
                        true
                    }
                    _ => true,
                });
        retry && !ends
    }
}

impl<'a> RequestData<'a> {
    pub(super) fn new(dev: &'a UbDevice, op: Op, bytes: u32, deadline_ns: i64) -> Self {
        Self {
            dev,
            op,
            bytes,
            deadline_ns,
        }
    }
}

impl<'a> BlockPolicy<'a> {
    /// `direct`: the direct path's one try.
    pub(super) fn new(dev: &'a UbDevice, params: &'a LunParams, op: Op, direct: bool) -> Self {
        Self {
            dev,
            params,
            op,
            read_after_worked: false,
            direct,
            wants_retry: false,
        }
    }

    /// The direct path's try ended with a sense after which the worker tries
    /// the command again.
    pub(super) fn wants_retry(&self) -> bool {
        self.wants_retry
    }
}

/// The block status the `scsi` crate's reading of a sense maps to: the same
/// `blk_status_t` by name.
impl From<BlkStatus> for Status {
    fn from(s: BlkStatus) -> Self {
        match s {
            BlkStatus::Ok => Status::Ok,
            BlkStatus::NoSpc => Status::NoSpc,
            BlkStatus::Target => Status::Target,
            BlkStatus::Medium => Status::Medium,
            BlkStatus::Protection => Status::Protection,
            BlkStatus::IoErr => Status::IoErr,
        }
    }
}
