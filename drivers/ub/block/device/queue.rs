// SPDX-License-Identifier: GPL-2.0

//! The disk-facing side of a LUN ([`LunQueue`]): `queue_rq` (a request run
//! at once on an idle device, queued for the worker otherwise), open, media
//! polling, eject, door lock, the request timeout and `SG_IO`.

use core::sync::atomic::Ordering;
use kernel::{prelude::*, sync::Arc};

use super::{bound::UbDevice, lun::LunPrefix, pending::Queued, state::State};
use crate::{
    block::exec::Executor,
    bot::{counters::Counter, quirks::Quirks},
    kext::{
        blk::{DiskHandle, Expiry, Passthrough, PtDir, QueueOps, Request, RequestId, Status},
        dma::DmaBuf,
        task::{now_ns, worker_queue},
    },
    scsi::{
        cdb::{self, Cdb},
        sense::Retry,
    },
};

/// The block layer's timer granularity we allow for (a jiffy at HZ=100).
const TIMER_TICK_NS: i64 = 10_000_000;

/// The queue of one LUN's disk: where its requests enter the device.
pub(crate) struct LunQueue {
    dev: Arc<UbDevice>,
    lun: u8,
}

impl LunQueue {
    /// The queue of `lun` of `dev`.
    pub(crate) fn new(dev: &Arc<UbDevice>, lun: u8) -> Result<Arc<Self>> {
        Ok(Arc::new(
            Self {
                dev: dev.clone(),
                lun,
            },
            GFP_KERNEL,
        )?)
    }
}

impl QueueOps for LunQueue {
    fn open(&self, disk: &DiskHandle, ndelay: bool) -> Result {
        let Some(p) = self.dev.luns.get(usize::from(self.lun)) else {
            return Err(ENODEV);
        };
        // A new open is a new chance for a device that was given up.
        self.dev.retry_now.store(true, Ordering::Release);
        if !p.removable.load(Ordering::Acquire) {
            return Ok(());
        }
        // As sd does: a changed medium is revalidated at open, and a removable
        // disk without one can only be opened with O_NDELAY (eject, polling).
        if disk.check_media_change() {
            self.dev.revalidate(self.lun, disk);
        }
        if !p.medium.load(Ordering::Acquire) && !ndelay {
            return Err(ENOMEDIUM);
        }
        Ok(())
    }

    fn media_changed(&self) -> bool {
        let Some(p) = self.dev.luns.get(usize::from(self.lun)) else {
            return false;
        };
        // As sd does, a poll resumes a suspended device (with_usable_io takes a
        // PM reference): a card reader learns of a new card only by asking.
        // Between polls it may autosuspend again.
        if !p.removable.load(Ordering::Acquire) {
            return false;
        }
        let present = self
            .dev
            .with_usable_io(|io| {
                Ok(match io.data_in(self.lun, &cdb::test_unit_ready(), 0) {
                    Ok(_) => Some(true),
                    Err(e) => (p.saw_error(&e) == Some(Retry::NoMedium)).then_some(false),
                })
            })
            .unwrap_or(None);
        if present == Some(true) && !p.medium.swap(true, Ordering::AcqRel) {
            p.changed.store(true, Ordering::Release);
        }
        p.changed.swap(false, Ordering::AcqRel)
    }

    fn eject(&self) -> Result {
        let lun = self.lun;
        let Some(p) = self.dev.luns.get(usize::from(lun)) else {
            return Err(EIO);
        };
        self.dev.with_usable_io(|io| {
            // Devices that lock their medium refuse the eject until unlocked.
            if !io.quirks().contains(Quirks::NOT_LOCKABLE) {
                let _ = prevent_allow(io, lun, false);
            }
            io.data_in(lun, &cdb::start_stop_unit(false, true, false), 0)
                .map(|_| ())
                .map_err(|e| {
                    let _ = p.saw_error(&e);
                    // Anyone who may open the disk may ask, as often as they like.
                    io.request_error(fmt!("{}eject failed: {:?}\n", LunPrefix(lun), e));
                    EIO
                })
        })
    }

    fn lock_door(&self, lock: bool) -> Result {
        let lun = self.lun;
        // As sd: a device that is not lockable has nothing to lock (nor to
        // wake up for; a learned `l` is known only to the transport).
        if self.dev.quirks.contains(Quirks::NOT_LOCKABLE) {
            return Ok(());
        }
        self.dev.with_usable_io(|io| {
            if io.quirks().contains(Quirks::NOT_LOCKABLE) {
                return Ok(());
            }
            prevent_allow(io, lun, lock)
        })
    }

    fn timed_out(&self, id: RequestId) -> Expiry {
        let now = now_ns();
        let mut p = self.dev.pending.lock();
        let ms = |ns: i64| u32::try_from((ns + 999_999) / 1_000_000).unwrap_or(u32::MAX);
        if let Some(&(ref rq, deadline)) = p.current.as_ref() {
            if rq.id() == id {
                // The block layer's timer counts jiffies from just before
                // `queue_rq` took the time: a deadline within a tick is here.
                if now < deadline - TIMER_TICK_NS {
                    return Expiry::Later(ms(deadline - now));
                }
                return p
                    .current
                    .take()
                    .map_or(Expiry::Busy, |(rq, _)| Expiry::Expired(rq));
            }
        }
        let Some(at) = p.requests.iter().position(|q| q.rq.id() == id) else {
            return Expiry::Busy;
        };
        let Some(timeout_ns) = p.requests.get(at).map(|q| q.timeout_ns) else {
            return Expiry::Busy;
        };
        let since = p
            .requests
            .get(at)
            .map_or(0, |q| q.arrived_ns)
            .max(p.progress_ns);
        let stalled_at = since.saturating_add(timeout_ns);
        if now < stalled_at {
            return Expiry::Later(ms(stalled_at - now));
        }
        p.requests
            .remove(at)
            .map_or(Expiry::Busy, |q| Expiry::Expired(q.rq))
    }

    fn passthrough(&self, pt: &mut Passthrough) -> Result {
        let cdb = Cdb::from_bytes(pt.cdb()).map_err(|_| EINVAL)?;
        let dir = pt.dir();
        // Allocated before the transport lock is taken: reclaim may write to
        // this very device.
        let mut buf = DmaBuf::new(pt.data().len())?;
        if dir == PtDir::Out {
            for (d, s) in buf.as_mut_slice().iter_mut().zip(pt.data().iter()) {
                *d = *s;
            }
        }
        let timeout_ms = pt.timeout_ms();
        self.dev.stats.inc(Counter::Passthrough);
        let (status, resid, sense, n) = self
            .dev
            .with_usable_io(|io| io.passthrough(self.lun, &cdb, dir, &mut buf, timeout_ms))?;
        if dir == PtDir::In {
            for (d, s) in pt.data().iter_mut().zip(buf.as_slice().iter()) {
                *d = *s;
            }
        }
        pt.complete(status, resid, sense.get(..n).unwrap_or(&[]));
        Ok(())
    }

    fn queue_rq(&self, rq: Request) {
        let dev = &self.dev;
        let timeout_ns = i64::from(rq.timeout_ms()) * 1_000_000;
        let mut p = dev.pending.lock();
        if p.state.fails_requests() {
            drop(p);
            rq.end(Status::Offline);
            return;
        }
        // Its time runs from when it was submitted: it may have waited in
        // the I/O scheduler while a request ran here (the direct path).
        let now = now_ns();
        let arrived_ns = rq.submitted_ns().map_or(now, |t| t.min(now));
        let q = Queued {
            rq,
            lun: self.lun,
            timeout_ns,
            arrived_ns,
        };
        // An idle device: the request is ours to run (see `direct.rs`).
        if dev.direct && p.state == State::Running && !p.running && p.requests.is_empty() {
            p.running = true;
            drop(p);
            dev.run_direct(q);
            return;
        }
        if let Err(err) = p.requests.push_within_capacity(q) {
            drop(p);
            // Cannot happen: the list has room for every tag of every LUN.
            err.0.rq.end(Status::Resource);
            return;
        }
        drop(p);
        // Already queued: it will see our request.
        let _ = worker_queue().enqueue(dev.clone());
    }
}

/// PREVENT ALLOW MEDIUM REMOVAL (`prevent` or allow). A device that hangs on
/// it (no status on either try, answering after each reset) gets quirk `l`
/// learned: it is not lockable, and the lock or unlock succeeds without it,
/// as with the letter.
fn prevent_allow(io: &mut Executor, lun: u8, prevent: bool) -> Result {
    match io.data_in(lun, &cdb::prevent_allow_medium_removal(prevent), 0) {
        Ok(_) => Ok(()),
        Err(e) if io.learn_hang(Quirks::NOT_LOCKABLE, "PREVENT ALLOW MEDIUM REMOVAL", &e) => Ok(()),
        Err(_) => Err(EIO),
    }
}
