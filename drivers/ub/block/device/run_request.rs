// SPDX-License-Identifier: GPL-2.0

//! One block request, run by the worker or (its first try) by its submitter:
//! its commands built, run (its request parked where blk-mq's timeout can take
//! it between them), retried as its sense says ([`super::tries`]), and
//! completed, in part when the device locates the error, by its deadline.

use core::sync::atomic::Ordering;
use kernel::prelude::*;

use super::{
    bound::UbDevice,
    lun::{LunParams, LunPrefix},
    pending::Queued,
    tries::{BlockPolicy, RequestData},
};
use crate::{
    block::exec::{Buffer, CommandEnd, Executor},
    bot::{counters::Counter, quirks::Quirks, Fault, TransportError},
    kext::{
        blk::{Op, Request, Status},
        task::now_ns,
    },
    scsi::{
        cdb::{self, Cdb},
        provisioning::{unmap_params, UNMAP_PARAM_LEN},
        sense::{Sense, SenseKey},
    },
};

/// A Bulk-Only command name for log lines.
pub(super) fn op_name(op: Op) -> &'static str {
    match op {
        Op::Read => "read",
        Op::Write => "write",
        Op::Flush => "flush",
        Op::Discard => "discard",
        Op::Other(_) => "unsupported",
    }
}

impl UbDevice {
    /// Hands the worker's request, due by `deadline_ns`, to [`Pending`] while it
    /// waits between commands: blk-mq's timeout may complete it there.
    pub(super) fn park(&self, rq: Request, deadline_ns: i64) {
        self.pending.lock().current = Some((rq, deadline_ns));
    }

    /// Takes the worker's request back for a command, or `None` if its time ran
    /// out meanwhile (blk-mq's timeout completed it).
    pub(super) fn unpark(&self) -> Option<Request> {
        self.pending.lock().current.take().map(|(rq, _)| rq)
    }

    /// A request succeeded: requests still queued are waiting behind a device
    /// that makes progress.
    fn progress(&self) {
        self.pending.lock().progress_ns = now_ns();
    }

    /// Runs one block request and completes it, by its deadline.
    ///
    /// `held`: the transport, which the caller holds already: the direct path,
    /// which runs the request's first try only (see `direct.rs`). Whatever that
    /// try leaves to do (a retry, a recovery, a device to revive) is the
    /// worker's: the request comes back, to be queued for it.
    pub(super) fn run_request(&self, q: Queued, held: Option<&mut Executor>) -> Option<Queued> {
        let direct = held.is_some();
        let Queued {
            rq,
            lun,
            timeout_ns,
            arrived_ns,
        } = q;
        // The time limit runs from when the request came (the block layer's
        // timer started then; a deadline from the worker's start, later by its
        // wake-up, would have the timer find the request early and re-arm it a
        // whole second later), or, if it waited behind a request that
        // succeeded, from then: as for a request still queued, waiting behind
        // a device that makes progress is free, waiting behind one that fails
        // or recovers is not.
        let progress_ns = self.pending.lock().progress_ns;
        let deadline_ns = arrived_ns
            .max(progress_ns)
            .min(now_ns())
            .saturating_add(timeout_ns);
        let op = rq.op();
        let Some(params) = self.luns.get(usize::from(lun)) else {
            rq.end(Status::IoErr);
            return None;
        };
        let shift = params.block_shift.load(Ordering::Relaxed);
        // The blocks of a read, write or discard.
        let (lba, blocks) = (rq.sector() >> (shift - 9), rq.bytes() >> shift);
        let mut unmap = [0u8; UNMAP_PARAM_LEN];
        let cmd = match op {
            Op::Read | Op::Write => {
                let cdb = if op == Op::Read {
                    cdb::read(lba, blocks)
                } else {
                    // The block layer sets FUA only on queues with the feature.
                    let fua = rq.is_fua() && params.fua.load(Ordering::Relaxed);
                    if fua {
                        self.stats.inc(Counter::FuaWrites);
                    }
                    cdb::write_fua(lba, blocks, fua)
                };
                match cdb {
                    Ok(c) => c,
                    Err(_) => {
                        rq.end(Status::IoErr);
                        return None;
                    }
                }
            }
            Op::Flush if params.write_cache.load(Ordering::Relaxed) => {
                cdb::synchronize_cache_10(0, 0, false)
            }
            Op::Flush => {
                rq.end(Status::Ok);
                return None;
            }
            // Only queues with discard limits get discards: UNMAP.
            Op::Discard => {
                unmap = unmap_params(lba, blocks);
                cdb::unmap(UNMAP_PARAM_LEN as u16)
            }
            Op::Other(_) => {
                rq.end(Status::NotSupp);
                return None;
            }
        };
        let job = BlockCommand {
            lun,
            op,
            cdb: cmd,
            sector: rq.sector(),
            bytes: if op == Op::Discard {
                UNMAP_PARAM_LEN as u32
            } else {
                rq.bytes()
            },
            unmap,
            deadline_ns,
        };

        // Waiting for the transport (another command, a recovery, an ioctl),
        // the request is the timeout's to take.
        self.park(rq, deadline_ns);
        let mut locked;
        let io: &mut Executor = match held {
            Some(io) => io,
            None => {
                locked = self.lock_io();
                &mut locked
            }
        };
        // The request back from where it waits, for the worker (unless its
        // timeout took it meanwhile).
        let hand_back = || {
            self.unpark().map(|rq| Queued {
                rq,
                lun,
                timeout_ns,
                arrived_ns,
            })
        };
        self.take_retry_now(io);
        // Work that may take long before the command is even sent (a recovery
        // owed, a port reset to revive a device given up) has no deadline:
        // the worker's, with the request parked where blk-mq's timeout can end
        // it. Not in a submitter's call, which would wait for all of it.
        if direct && io.owes_work() {
            return hand_back();
        }
        // A device given up whose backoff is over is tried again here, while
        // the request is parked: the port reset and the check after it have no
        // deadline, and blk-mq's timeout must be able to end the request at
        // its own. How it went, its command finds out.
        let _ = io.revive(lun);
        let RequestEnd {
            status,
            done,
            broken,
            to_worker,
        } = self.execute(io, params, &job, direct);
        if to_worker {
            return hand_back();
        }
        if let Some(rq) = self.unpark() {
            if status == Status::Ok {
                self.progress();
            }
            // The disk shrinks before the request ends: its error comes after
            // the size that explains it.
            let resize = params.resize_to.swap(0, Ordering::AcqRel);
            if resize != 0 {
                rq.set_disk_capacity(resize);
            }
            rq.end_after(done, status);
        }
        // The request failed for want of a valid CSW after its last try: put the
        // device back in step for the next command now that the request is over.
        if let Some(e) = broken {
            if io.recover(lun, &job.cdb, job.bytes, e) == Err(TransportError::Gone) {
                self.gone();
            }
        }
        None
    }

    /// Quirk `c` learned: the device refuses, as out of range (ILLEGAL REQUEST
    /// 21/00), a read or write that ends at the last block it reported. A
    /// device cannot mean that of a block its own READ CAPACITY counts: it
    /// reports one block more than it has. The disk loses that block now (with
    /// the request that showed it) and at every revalidation.
    fn learn_capacity(
        &self,
        io: &mut Executor,
        params: &LunParams,
        job: &BlockCommand,
        sense: &Sense,
    ) {
        if !matches!(job.op, Op::Read | Op::Write)
            || sense.key != SenseKey::IllegalRequest
            || (sense.asc, sense.ascq) != (0x21, 0x00)
        {
            return;
        }
        let shift = params.block_shift.load(Ordering::Relaxed);
        let blocks = params.blocks.load(Ordering::Relaxed);
        let end = (job.sector >> (shift - 9)) + u64::from(job.bytes >> shift);
        if blocks < 2 || end != blocks {
            return;
        }
        let learned = io.learn(
            Quirks::FIX_CAPACITY,
            format_args!(
                "{} blocks reported, block {} out of range",
                blocks,
                blocks - 1
            ),
        );
        if learned {
            params.blocks.store(blocks - 1, Ordering::Relaxed);
            params
                .resize_to
                .store((blocks - 1) << (shift - 9), Ordering::Release);
        }
    }

    /// Runs the commands of `job` (its request parked in [`Pending`] between
    /// them) until it succeeds, fails, or its deadline passes. Returns its
    /// status, and the transport error still to recover from if the last try
    /// ended without a valid CSW.
    ///
    /// `direct`: the first try only (the direct path); what would follow it
    /// (a retry, the recovery after a try without a valid CSW, which is left
    /// owed to the next command) ends it with [`RequestEnd::to_worker`].
    fn execute(
        &self,
        io: &mut Executor,
        params: &LunParams,
        job: &BlockCommand,
        direct: bool,
    ) -> RequestEnd {
        let who = LunPrefix(job.lun);
        let (lun, op, cdb) = (job.lun, job.op, &job.cdb);
        if params.stale.load(Ordering::Acquire) {
            io.request_error(fmt!(
                "{}{} at sector {}: the medium changed; I/O fails until the disk is opened again\n",
                who,
                op_name(op),
                job.sector
            ));
            return RequestEnd::of(Status::IoErr);
        }
        let mut t = io.timeouts().by(job.deadline_ns);
        if matches!(op, Op::Flush | Op::Discard) {
            // The status of a SYNCHRONIZE CACHE comes once the cache is on the
            // medium, an UNMAP's once the blocks are freed: seconds on a disk
            // with a large cache. As sd gives them the whole command time, they
            // get what is left of the request's (its deadline ends every
            // stage), not csw_timeout_ms, which would reset a device that is
            // only slow.
            t = t.with_wait_ms(t.left(u32::MAX));
        }
        let mut policy = BlockPolicy::new(self, params, op, direct);
        let ran = match op {
            Op::Flush => io.run(lun, cdb, t, &mut Buffer::None, &mut policy),
            // The UNMAP parameter list is the driver's, in its own buffer.
            Op::Discard => io.run(lun, cdb, t, &mut Buffer::Out(&job.unmap), &mut policy),
            _ => {
                let mut data = RequestData::new(self, op, job.bytes, job.deadline_ns);
                io.run(lun, cdb, t, &mut data, &mut policy)
            }
        };
        match ran {
            // The worker tries again (and recovers first, if owed).
            CommandEnd::Failed { .. } if direct && policy.wants_retry() => RequestEnd::to_worker(),
            CommandEnd::OutOfTries if direct => RequestEnd::to_worker(),
            CommandEnd::Broken {
                error: e @ TransportError::Broken(..),
                recovery: None,
                ..
            } if direct => {
                io.owe_recovery(lun, cdb, job.bytes, e);
                RequestEnd::to_worker()
            }
            CommandEnd::Passed { residue: 0 } => RequestEnd::of(Status::Ok),
            CommandEnd::Passed { residue } => {
                io.request_error(fmt!(
                    "{}{} at sector {}: {} of {} bytes not transferred\n",
                    who,
                    op_name(op),
                    job.sector,
                    residue,
                    job.bytes
                ));
                RequestEnd::of(Status::IoErr)
            }
            CommandEnd::Failed { residue, sense } => {
                let Some(sense) = sense.parsed() else {
                    io.request_error(fmt!(
                        "{}{} at sector {} failed, no sense data\n",
                        who,
                        op_name(op),
                        job.sector
                    ));
                    return RequestEnd::of(Status::IoErr);
                };
                let all_moved = residue == 0;
                let status = Status::from(sense.blk_status_after(all_moved));
                if status == Status::Ok {
                    return RequestEnd::of(status);
                }
                self.learn_capacity(io, params, job, &sense);
                // As sd: the blocks before one the device names as bad
                // complete; only the rest of the request fails.
                let shift = params.block_shift.load(Ordering::Relaxed);
                let moved = job.bytes.saturating_sub(residue);
                let done = if matches!(op, Op::Flush | Op::Discard) {
                    0
                } else {
                    let done = sense.completed_bytes(
                        job.sector >> (shift - 9),
                        u64::from(job.bytes >> shift),
                        1 << shift,
                        moved.into(),
                    );
                    // Never more than `moved`, a u32.
                    u32::try_from(done).unwrap_or(0)
                };
                io.request_error(fmt!(
                    "{}{} at sector {} failed{}: sense {:?} {:02x}/{:02x}{}\n",
                    who,
                    op_name(op),
                    job.sector,
                    PartialNote(done, job.sector),
                    sense.key,
                    sense.asc,
                    sense.ascq,
                    if all_moved { "" } else { ", data missing" }
                ));
                RequestEnd {
                    done,
                    ..RequestEnd::of(status)
                }
            }
            CommandEnd::Broken {
                error: TransportError::Gone,
                ..
            }
            | CommandEnd::Broken {
                recovery: Some(Err(TransportError::Gone)),
                ..
            } => {
                self.gone();
                RequestEnd::of(Status::Offline)
            }
            CommandEnd::Broken {
                error: e @ TransportError::Broken(_, fault),
                tries,
                recovery,
            } => {
                let status = if fault == Fault::Timeout {
                    Status::Timeout
                } else {
                    Status::IoErr
                };
                if recovery.is_some() {
                    // Given up for now, or reset and still not answering:
                    // this request fails, the next one tries again.
                    return RequestEnd::of(status);
                }
                io.request_error(fmt!(
                    "{}{} at sector {}: {} after {} tries; failing it\n",
                    who,
                    op_name(op),
                    job.sector,
                    fault.name(),
                    tries
                ));
                RequestEnd {
                    broken: Some(e),
                    ..RequestEnd::of(status)
                }
            }
            CommandEnd::Broken { .. } | CommandEnd::OutOfTries => RequestEnd::of(Status::IoErr),
            CommandEnd::Expired => {
                io.request_error(fmt!(
                    "{}{} at sector {}: no result within its time limit (queue/io_timeout)\n",
                    who,
                    op_name(op),
                    job.sector
                ));
                RequestEnd::of(Status::Timeout)
            }
            // Its time ran out while it waited: blk-mq's timeout completed it.
            CommandEnd::Aborted => RequestEnd::of(Status::Timeout),
        }
    }
}

/// How the commands of a block request ended.
struct RequestEnd {
    /// The status of the request, or of its part after `done`.
    status: Status,
    /// Bytes at the start of the request that completed before an error the
    /// device located (sense INFORMATION), as sd completes them.
    done: u32,
    /// The transport error still to recover from, if the last try ended
    /// without a valid CSW.
    broken: Option<TransportError>,
    /// The direct path's try did not end the request: the worker goes on.
    to_worker: bool,
}

impl RequestEnd {
    const fn of(status: Status) -> Self {
        Self {
            status,
            done: 0,
            broken: None,
            to_worker: false,
        }
    }

    /// Not ended: the worker goes on with the request.
    const fn to_worker() -> Self {
        Self {
            to_worker: true,
            ..Self::of(Status::Ok)
        }
    }
}

/// ` at sector S` for the first bad sector of a partly completed request
/// (`done` bytes from sector `start`), nothing otherwise.
struct PartialNote(u32, u64);

impl kernel::fmt::Display for PartialNote {
    fn fmt(&self, f: &mut kernel::fmt::Formatter<'_>) -> kernel::fmt::Result {
        let (done, start) = (u64::from(self.0 >> 9), self.1);
        match done {
            0 => Ok(()),
            _ => kernel::fmt::Display::fmt(
                &format_args!(
                    " at sector {} (the {done} sectors before it completed)",
                    start + done
                ),
                f,
            ),
        }
    }
}

/// What the worker runs for one block request.
struct BlockCommand {
    lun: u8,
    op: Op,
    cdb: Cdb,
    sector: u64,
    /// Bytes of the data stage: the request's, or the UNMAP parameter list's.
    bytes: u32,
    /// A discard's UNMAP parameter list.
    unmap: [u8; UNMAP_PARAM_LEN],
    /// `ktime_get()` nanoseconds by which the request must be over.
    deadline_ns: i64,
}
