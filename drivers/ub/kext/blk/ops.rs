// SPDX-License-Identifier: GPL-2.0

//! What a disk's owner implements ([`QueueOps`]) and the `blk_mq_ops` that call
//! it: `queue_rq` and the request timeout. [`DiskHandle`] is the disk as the
//! owner's callbacks see it.

use core::{marker::PhantomData, ptr::NonNull};
use kernel::{bindings, error::to_result, prelude::*, sync::Arc, types::ForeignOwnable};

use super::{raw_status, Expiry, Passthrough, Request, RequestId, Status};
use crate::kext::ffi as c;

/// What a disk's owner does with the requests of its queue and with the disk's
/// block device operations.
pub(crate) trait QueueOps: Sync + 'static {
    /// Takes a started request, to complete now or later. May sleep (the tag
    /// set is `BLK_MQ_F_BLOCKING`: blk-mq calls it from a context that can,
    /// the submitter's or its own worker's, and waits for it in SRCU when it
    /// quiesces the queue), so it may run the request to its end.
    fn queue_rq(&self, rq: Request);

    /// The disk is being opened (`ndelay`: with `O_NDELAY`, which must succeed
    /// without a medium). May sleep. An error fails the open.
    fn open(&self, disk: &DiskHandle, ndelay: bool) -> Result;

    /// Polls for a media change (the block layer's disk events, removable disks
    /// only). May sleep. `true` when the medium changed since the last call.
    fn media_changed(&self) -> bool;

    /// The `CDROMEJECT` ioctl: eject the medium. May sleep.
    fn eject(&self) -> Result;

    /// The `CDROM_LOCKDOOR` ioctl: prevent (`lock`) or allow medium removal.
    /// May sleep.
    fn lock_door(&self, lock: bool) -> Result;

    /// blk-mq's timer of request `rq` ran out (the queue's `io_timeout` passed
    /// since it was started, or the time an earlier [`Expiry::Later`] asked
    /// for). Must not sleep.
    fn timed_out(&self, rq: RequestId) -> Expiry;

    /// An `SG_IO` command, checked by [`super::passthrough`]. `Ok` when the device answered
    /// with a status ([`Passthrough::complete`] was called); `EIO` or `ENODEV`
    /// when the command did not complete (reported to the caller as a host
    /// error); any other error fails the ioctl. May sleep.
    fn passthrough(&self, pt: &mut Passthrough) -> Result;
}

/// A disk as its owner's callbacks see it.
///
/// # Invariants
///
/// `self.0` is a live, added gendisk.
pub(crate) struct DiskHandle(pub(super) NonNull<bindings::gendisk>);

impl DiskHandle {
    /// Asks the disk events code whether the medium changed (through
    /// [`QueueOps::media_changed`]); if it did, the block device's cached data is
    /// dropped and the partitions will be rescanned: the caller must revalidate
    /// the capacity.
    pub(crate) fn check_media_change(&self) -> bool {
        // SAFETY: The disk is live (type invariant); called from `open`, where the
        // block layer allows it.
        unsafe { bindings::disk_check_media_change(self.0.as_ptr()) }
    }

    /// Sets the capacity in 512-byte sectors.
    pub(crate) fn set_capacity(&self, sectors: u64) {
        // SAFETY: The disk is live (type invariant).
        unsafe { bindings::set_capacity(self.0.as_ptr(), sectors) };
    }

    /// Sets or clears the read-only flag.
    pub(crate) fn set_read_only(&self, ro: bool) {
        // SAFETY: The disk is live (type invariant).
        unsafe { bindings::set_disk_ro(self.0.as_ptr(), ro) };
    }

    /// Turns the queue's volatile write cache feature on or off: with it, the
    /// block layer sends flushes (and `queue/write_cache` reads "write back"),
    /// and with `fua` as well, FUA writes instead of a flush after the write.
    /// Freezes the queue: the caller must not hold anything the requests in
    /// flight wait for.
    pub(crate) fn set_write_cache(&self, on: bool, fua: bool) -> Result {
        // SAFETY: The disk is live (type invariant).
        to_result(unsafe { c::ub_disk_set_write_cache(self.0.as_ptr(), on, fua) })
    }
}

pub(super) struct OpsTable<T>(PhantomData<T>);

impl<T: QueueOps> OpsTable<T> {
    pub(super) const OPS: bindings::blk_mq_ops = bindings::blk_mq_ops {
        queue_rq: Some(Self::queue_rq),
        timeout: Some(Self::timeout),
        // SAFETY: All-zero is a valid `blk_mq_ops`: every other callback is `None`.
        ..unsafe { core::mem::MaybeUninit::zeroed().assume_init() }
    };

    extern "C" fn queue_rq(
        _hctx: *mut bindings::blk_mq_hw_ctx,
        bd: *const bindings::blk_mq_queue_data,
    ) -> bindings::blk_status_t {
        // SAFETY: blk-mq passes a valid `bd` with a valid, not yet started request.
        let rq = unsafe { (*bd).rq };
        // SAFETY: The queue data is the `Arc<T>` given to `Disk::new`, handed over
        // with `into_foreign` and kept by the disk's hooks until the disk is freed.
        let owner = unsafe { <Arc<T> as ForeignOwnable>::borrow(c::ub_rq_queuedata(rq)) };
        // SAFETY: `rq` is valid and not started: its timer is not armed yet.
        unsafe { c::ub_rq_time_from_submission(rq) };
        // SAFETY: `rq` is valid and not started.
        unsafe { bindings::blk_mq_start_request(rq) };
        // INVARIANT: Started just above, completed only through `Request`.
        let Some(rq) = NonNull::new(rq) else {
            return raw_status(Status::IoErr);
        };
        owner.queue_rq(Request(rq));
        raw_status(Status::Ok)
    }

    extern "C" fn timeout(rq: *mut bindings::request) -> bindings::blk_eh_timer_return {
        // SAFETY: blk-mq passes a valid request of this queue, which holds a
        // reference to it for the call; the queue data is the `T` of `Disk::new`.
        let owner = unsafe { <Arc<T> as ForeignOwnable>::borrow(c::ub_rq_queuedata(rq)) };
        match owner.timed_out(RequestId(rq)) {
            // Completing from the timeout handler and returning `BLK_EH_DONE` is
            // what blk-mq expects of a driver that ended the request itself.
            Expiry::Expired(rq) => {
                rq.end(Status::Timeout);
                bindings::blk_eh_timer_return_BLK_EH_DONE
            }
            Expiry::Later(ms) => {
                // SAFETY: The request is valid for the call; blk-mq re-arms its
                // timer from `timeout` when this returns `BLK_EH_RESET_TIMER`.
                unsafe { c::ub_rq_set_timeout_ms(rq, ms.max(1)) };
                bindings::blk_eh_timer_return_BLK_EH_RESET_TIMER
            }
            Expiry::Busy => bindings::blk_eh_timer_return_BLK_EH_RESET_TIMER,
        }
    }
}
