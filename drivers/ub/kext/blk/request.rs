// SPDX-License-Identifier: GPL-2.0

//! A blk-mq request between `queue_rq` and its completion ([`Request`]): its
//! position, length and operation, its data mapped into a scatterlist, and its
//! completion, whole or in part, with any status. `kernel::block::mq` offers
//! only `end_ok` completions.

use core::ptr::NonNull;
use kernel::{bindings, prelude::*};

use crate::kext::{
    ffi as c,
    sg::{Segments, SgTable},
};

/// What a request asks for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Op {
    /// Read data from the device.
    Read,
    /// Write data to the device.
    Write,
    /// Make the device's volatile cache durable.
    Flush,
    /// The blocks are no longer in use (on queues with discard limits only).
    Discard,
    /// Anything this driver does not support (write zeroes, ...).
    Other(u32),
}

/// A request's completion status: the `blk_status_t` values a driver ends
/// requests with, mapped through the kernel's own errno table
/// (`errno_to_blk_status()`), so that no numeric `BLK_STS_*` value is copied
/// here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// `BLK_STS_OK`.
    Ok,
    /// `BLK_STS_NOTSUPP`: operation not supported.
    NotSupp,
    /// `BLK_STS_TIMEOUT`.
    Timeout,
    /// `BLK_STS_NOSPC`: out of space.
    NoSpc,
    /// `BLK_STS_TARGET`: critical target failure, not worth retrying.
    Target,
    /// `BLK_STS_MEDIUM`: critical medium failure.
    Medium,
    /// `BLK_STS_PROTECTION`: protection information error.
    Protection,
    /// `BLK_STS_RESOURCE`: out of kernel resources.
    Resource,
    /// `BLK_STS_OFFLINE`: the device is gone or going.
    Offline,
    /// `BLK_STS_IOERR`: any other I/O error.
    IoErr,
}

pub(super) fn raw_status(status: Status) -> bindings::blk_status_t {
    let errno = match status {
        Status::Ok => 0,
        Status::NotSupp => EOPNOTSUPP.to_errno(),
        Status::Timeout => ETIMEDOUT.to_errno(),
        Status::NoSpc => ENOSPC.to_errno(),
        Status::Target => EREMOTEIO.to_errno(),
        Status::Medium => ENODATA.to_errno(),
        Status::Protection => EILSEQ.to_errno(),
        Status::Resource => ENOMEM.to_errno(),
        Status::Offline => ENODEV.to_errno(),
        Status::IoErr => EIO.to_errno(),
    };
    // SAFETY: `errno_to_blk_status` is a pure table lookup.
    unsafe { c::ub_errno_to_blk_status(errno) }
}

/// A request between `queue_rq` and its completion. It must be completed with
/// [`Request::end`]; dropping it unended completes it with an I/O error, so that no
/// path can leak a request and hang the queue.
///
/// # Invariants
///
/// `self.0` is a started, not yet completed request owned by this driver.
pub(crate) struct Request(pub(super) NonNull<bindings::request>);

// SAFETY: A started request may be completed from any thread.
unsafe impl Send for Request {}

impl Request {
    fn raw(&self) -> *mut bindings::request {
        self.0.as_ptr()
    }

    /// First sector (512 bytes) of the request.
    pub(crate) fn sector(&self) -> u64 {
        // SAFETY: The request is valid (type invariant).
        unsafe { c::ub_blk_rq_pos(self.raw()) }
    }

    /// Length in bytes.
    pub(crate) fn bytes(&self) -> u32 {
        // SAFETY: The request is valid (type invariant).
        unsafe { c::ub_blk_rq_bytes(self.raw()) }
    }

    /// The operation.
    pub(crate) fn op(&self) -> Op {
        // SAFETY: The request is valid (type invariant).
        let op = unsafe { c::ub_req_op(self.raw()) };
        match op {
            bindings::req_op_REQ_OP_READ => Op::Read,
            bindings::req_op_REQ_OP_WRITE => Op::Write,
            bindings::req_op_REQ_OP_FLUSH => Op::Flush,
            bindings::req_op_REQ_OP_DISCARD => Op::Discard,
            other => Op::Other(other),
        }
    }

    /// Whether the request asks for Force Unit Access: a write that must be on
    /// the medium when it completes. Only set on queues with the FUA feature.
    pub(crate) fn is_fua(&self) -> bool {
        // SAFETY: The request is valid (type invariant).
        unsafe { c::ub_req_fua(self.raw()) }
    }

    /// Maps the request's data into `table`; the block layer has kept it within
    /// the queue limits, so it fits.
    pub(crate) fn map_sg<'a>(&self, table: &'a mut SgTable) -> Result<Segments<'a>> {
        let (sgl, _cap) = table.reset();
        // SAFETY: The request is valid; `sgl` has room for `max_segments` entries,
        // which is what the queue limits allow a request to have.
        let n = unsafe { c::ub_blk_rq_map_sg(self.raw(), sgl) };
        table.filled(usize::try_from(n).map_err(|_| EINVAL)?)
    }

    /// What identifies this request to [`QueueOps::timed_out`].
    pub(crate) fn id(&self) -> RequestId {
        RequestId(self.raw())
    }

    /// The time the request may take, from when it was submitted: its queue's
    /// `io_timeout` (which users may change in sysfs), in milliseconds. Its
    /// timer was started for what was left of it when the driver got it.
    pub(crate) fn timeout_ms(&self) -> u32 {
        // SAFETY: The request is valid (type invariant), and so is its queue.
        unsafe { c::ub_rq_timeout_ms(self.raw()) }
    }

    /// When the request was submitted (`ktime_get()` nanoseconds): the block
    /// layer's time stamp of it, taken before it waited in the I/O scheduler
    /// or a plug; `None` when the queue keeps none (`queue/iostats` off and
    /// no scheduler).
    pub(crate) fn submitted_ns(&self) -> Option<i64> {
        // SAFETY: The request is valid (type invariant); the block layer wrote
        // `start_time_ns` before the driver got it and does not change it
        // while the driver has it.
        let ns = unsafe { (*self.raw()).start_time_ns };
        i64::try_from(ns).ok().filter(|&ns| ns > 0)
    }

    /// Completes the first `done` bytes of the request successfully and the
    /// rest with `status`, as sd completes the blocks before a bad one.
    pub(crate) fn end_after(self, done: u32, status: Status) {
        if done > 0 && status != Status::Ok {
            // SAFETY: The request is started and owned by us. Completing part
            // of it leaves it ours, with its position and size moved past
            // that part.
            let more =
                unsafe { bindings::blk_update_request(self.raw(), raw_status(Status::Ok), done) };
            if !more {
                // `done` covered it all (never for a located error, which lies
                // inside the request): nothing is left to fail.
                let rq = self.raw();
                core::mem::forget(self);
                // SAFETY: As in `end`: the one completion of a request whose
                // bytes are all accounted for.
                unsafe { bindings::__blk_mq_end_request(rq, raw_status(Status::Ok)) };
                return;
            }
        }
        self.end(status);
    }

    /// Sets the capacity of the disk the request is for to `sectors` (512
    /// bytes each) and tells user space (a `RESIZE=1` change uevent), as a
    /// revalidation does.
    pub(crate) fn set_disk_capacity(&self, sectors: u64) {
        // SAFETY: A started request belongs to a queue that belongs to a live
        // disk: `del_gendisk` drains the queue's requests before the disk goes.
        unsafe {
            let disk = (*(*self.raw()).q).disk;
            if !disk.is_null() {
                bindings::set_capacity_and_notify(disk, sectors);
            }
        }
    }

    /// Completes the request.
    pub(crate) fn end(self, status: Status) {
        let rq = self.raw();
        core::mem::forget(self);
        // SAFETY: The request is started and owned by us; `forget` above makes this
        // the only completion.
        unsafe { bindings::blk_mq_end_request(rq, raw_status(status)) };
    }
}

/// What the owner of a queue says about a request whose timer ran out.
pub(crate) enum Expiry {
    /// Its time is up: here it is, to complete with [`Status::Timeout`].
    Expired(Request),
    /// Not yet: look again in this many milliseconds.
    Later(u32),
    /// The owner is moving its data and completes it itself, by its deadline;
    /// the timer is restarted meanwhile.
    Busy,
}

/// A request's identity, for finding it among those a driver holds; it is never
/// dereferenced.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct RequestId(pub(super) *mut bindings::request);

// SAFETY: A `RequestId` is only compared, never dereferenced.
unsafe impl Send for RequestId {}

impl Drop for Request {
    fn drop(&mut self) {
        // SAFETY: As in `end`: a dropped request is still ours and not completed.
        unsafe { bindings::blk_mq_end_request(self.raw(), raw_status(Status::IoErr)) };
    }
}
