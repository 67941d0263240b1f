// SPDX-License-Identifier: GPL-2.0

//! Block requests waiting for the device's worker ([`Pending`]), with the
//! device's [`State`].

use kernel::prelude::*;

use super::state::State;
use crate::kext::blk::Request;

/// Requests blk-mq may hand us per LUN before we complete one.
pub(crate) const QUEUE_DEPTH: u32 = 64;

/// A block request waiting for the worker.
pub(super) struct Queued {
    pub(super) rq: Request,
    pub(super) lun: u8,
    /// Its queue's `io_timeout` when it came, in nanoseconds.
    pub(super) timeout_ns: i64,
    /// When it was submitted (`ktime_get()` nanoseconds), or reached the
    /// driver if the block layer keeps no time stamp.
    pub(super) arrived_ns: i64,
}

/// Block requests waiting for the worker, and the one it runs while that one
/// waits between commands. blk-mq's timeout takes requests from here
/// ([`LunQueue::timed_out`]); never from the worker while their data moves.
///
/// A request's time limit runs from when it came or from when a request last
/// succeeded, whichever is later, whether it is still queued or the worker's:
/// behind others that complete, on a slow device with a deep queue, it just
/// waits; behind a device that fails, recovers or answers nothing, it fails.
pub(crate) struct Pending {
    pub(super) requests: KVec<Queued>,
    /// The worker's request between its commands, and its deadline.
    pub(super) current: Option<(Request, i64)>,
    /// A block request is being run, by the worker or by the task that
    /// submitted it ([`super::queue::LunQueue`]'s direct path): one at a time,
    /// as `current` has room for one.
    pub(super) running: bool,
    /// When a request last succeeded (`ktime_get()` ns).
    pub(super) progress_ns: i64,
    /// The device's state ([`State`]): its one copy, under this lock.
    pub(super) state: State,
}
