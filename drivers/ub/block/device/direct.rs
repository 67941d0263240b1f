// SPDX-License-Identifier: GPL-2.0

//! The direct path: a block request that finds its device idle is run in
//! `queue_rq` (the tag set is blocking), by the task that submitted it or by
//! blk-mq's own work item, instead of being handed to the device's worker.
//!
//! At queue depth 1 the hand-over was most of the time the guest spent
//! between one command's CSW and the next one's CBW: the worker's wake-up on
//! the way down and the submitter's on the way up. Run here, a command costs
//! the submitter one sleep, in the wait for its CSW, as a UAS command costs
//! one, in the wait for its completion.
//!
//! Only the request's first try is run here, as the worker runs one
//! ([`UbDevice::run_request`]: the same deadline, parked in
//! [`super::pending::Pending`] while it waits, the same runtime PM reference).
//! A try that passes, or fails for good, ends the request. Whatever would come
//! next has no deadline of its own and is the worker's, with the request
//! queued again at the front: a retry the sense asks for, the recovery after a
//! try without a valid CSW (owed to the next command, which makes it first), a
//! device given up whose backoff is over. The submitter's call never waits for
//! a recovery: the request ends by its deadline whoever has it, and the
//! requests behind it, which wait in the I/O scheduler until `queue_rq`
//! returns, get theirs counted from when they were submitted.
//!
//! [`super::pending::Pending::running`] makes the submitter and the worker take
//! turns. Whatever is not idle goes to the worker as before: requests already
//! queued (they keep their order), a request being run, a transport held by a
//! command from outside the worker (media polling, an ioctl), a device paused
//! for a reset or a system sleep, one that does not resume.

use kernel::{alloc::kvec::InsertError, sync::Arc};

use super::{bound::UbDevice, pending::Queued, state::State};
use crate::{
    bot::counters::Counter,
    kext::{
        blk::Status,
        task::{worker_queue, NoIoScope},
    },
};

impl UbDevice {
    /// Runs the first try of `q` here, in `queue_rq`. The caller found nothing
    /// queued and nothing running, and set [`super::pending::Pending::running`]
    /// for it.
    pub(super) fn run_direct(self: &Arc<Self>, q: Queued) {
        // As in the worker: resuming allocates and waits, and whoever holds
        // the transport must not recurse into I/O through reclaim.
        let _noio = NoIoScope::enter();
        // Resumes a suspended device here, as the worker would.
        let Ok(pm) = self.intf.autopm_get() else {
            // The worker says why, and tries the command anyway.
            return self.hand_to_worker(q);
        };
        let Some(mut io) = self.try_lock_io() else {
            return self.hand_to_worker(q);
        };
        // A reset by someone else or a system sleep may have begun since the
        // caller looked: it waits for the transport, and nothing may be sent
        // once it has it. The state is looked at again under the lock, as a
        // command from outside the worker does.
        if self.pending.lock().state != State::Running {
            drop(io);
            return self.hand_to_worker(q);
        }
        self.stats.inc(Counter::DirectRequests);
        let back = self.run_request(q, Some(&mut io));
        drop(io);
        if let Some(q) = back {
            // Its first try left work that has no deadline of its own.
            drop(pm);
            return self.hand_to_worker(q);
        }
        let kick = {
            let mut p = self.pending.lock();
            p.running = false;
            !p.requests.is_empty()
        };
        drop(pm);
        // Requests that came meanwhile waited for this one: the worker's now.
        if kick {
            let _ = worker_queue().enqueue(self.clone());
        }
    }

    /// Queues `q` for the worker after all, giving up
    /// [`super::pending::Pending::running`].
    fn hand_to_worker(self: &Arc<Self>, q: Queued) {
        let mut p = self.pending.lock();
        p.running = false;
        if p.state.fails_requests() {
            drop(p);
            return q.rq.end(Status::Offline);
        }
        // Before the others: it came when nothing was queued.
        if let Err(InsertError::OutOfCapacity(q) | InsertError::IndexOutOfBounds(q)) =
            p.requests.insert_within_capacity(0, q)
        {
            drop(p);
            // Cannot happen: the list has room for every tag of every LUN.
            return q.rq.end(Status::Resource);
        }
        drop(p);
        let _ = worker_queue().enqueue(self.clone());
    }
}
