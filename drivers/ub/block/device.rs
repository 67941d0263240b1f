// SPDX-License-Identifier: GPL-2.0

//! One USB device bound to `ub`: its transport behind the I/O lock, the block
//! requests of all its LUNs waiting for it, the worker that runs them one at a time
//! (BOT allows one command in flight per device, whatever the LUN), the mapping of
//! each outcome to a block status, and teardown.
//!
//! Each LUN's disk queues into a [`LunQueue`]. A request that finds the device
//! idle is run at once by the task that submitted it (`queue_rq` may sleep:
//! [`direct`]); any other is appended, tagged with the LUN and its deadline, to
//! [`pending::Pending`] for the worker, a work item on the per-CPU
//! high-priority workqueue ([`crate::kext::task::worker_queue`]) that is never
//! run twice at once. Either builds the CDB, maps the data and runs the command
//! through the executor ([`crate::block::exec`]), one request at a time.
//!
//! The files: [`bound`] (the device, its locks and worker), [`direct`] (a
//! request run in `queue_rq`), [`pending`] and
//! [`state`] (what waits, and whether the device serves it), [`queue`] (the
//! disk-facing side), [`run_request`] (one block request) and [`tries`] (one
//! try of it, as the executor asks), [`lun`] and [`media`]
//! (LUNs and their media), [`pm`] (teardown, resets by others, suspend).
//!
//! Every request ends within its queue's `io_timeout` (the `io_timeout_ms`
//! parameter) of reaching the driver, whatever the device does: the commands
//! that move its data end by its deadline, and while it waits anywhere else
//! (queued, for the transport, during a recovery) it sits in [`pending::Pending`], where
//! blk-mq's timeout takes it and completes it with `ETIMEDOUT`.

mod bound;
mod direct;
mod lun;
mod media;
mod pending;
mod pm;
mod queue;
mod run_request;
mod state;
mod tries;

pub(crate) use bound::UbDevice;
pub(crate) use pending::QUEUE_DEPTH;
pub(crate) use queue::LunQueue;
