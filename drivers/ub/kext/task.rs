// SPDX-License-Identifier: GPL-2.0

//! Where the driver's work runs and under what rules: the workqueue of the
//! per-device worker, waiting for a work item to finish, and the no-I/O
//! allocation scope of whoever holds a device's transport.

use kernel::workqueue::{Queue, Work};

use super::ffi as c;

/// The queue the per-device worker runs on: the per-CPU high-priority system
/// workqueue (`system_highpri_wq`).
///
/// Per-CPU, so the worker runs on the CPU that queued the request (the
/// submitter's, whose caches hold the request), and high priority, so it starts
/// as soon as the submitter sleeps or its tick ends instead of waiting behind it.
/// On the unbound `system_dfl_wq` the hand-over went through another CPU's run
/// queue and the worker's wake-up was up to a third of a 4 KiB command's latency
/// (bench/results/2026-11-26-1307-quick-highpri-worker-experiment.md). The
/// worker sleeps on every URB and in recovery, so it never holds the CPU long
/// enough to stall the pool.
pub(crate) fn worker_queue() -> &'static Queue {
    kernel::workqueue::system_highpri()
}

/// Waits until `work` is neither pending nor running (`flush_work()`).
///
/// A driver whose work function lives in module text must do this before the
/// module can go away.
pub(crate) fn flush_work<T: ?Sized>(work: &Work<T>) {
    // SAFETY: `work` is a live, initialised work item (it is borrowed), and
    // `flush_work` only waits on it.
    unsafe { kernel::bindings::flush_work(Work::raw_get(work)) };
}

/// While alive, every allocation of this task behaves as `GFP_NOIO`: a block
/// driver's I/O path must not recurse into I/O through memory reclaim (which could
/// wait on this very device).
pub(crate) struct NoIoScope(
    kernel::ffi::c_uint,
    // Not `Send`: the saved flags belong to the task that entered the scope.
    core::marker::PhantomData<*mut ()>,
);

impl NoIoScope {
    /// Enters the scope.
    pub(crate) fn enter() -> Self {
        // SAFETY: Only sets a flag of the current task; restored on drop.
        Self(unsafe { c::ub_noio_save() }, core::marker::PhantomData)
    }
}

/// Warns, with a backtrace, unless the current task is in a [`NoIoScope`]: for
/// the USB core's calls that allocate with `GFP_KERNEL`, which the driver makes
/// with its transport locked, where reclaim must not wait on this very device.
/// Called before `usb_bulk_msg()`, which also sends the CBW ahead of every
/// stage-by-stage data stage (`usb_sg_init()`).
pub(crate) fn assert_noio() {
    // SAFETY: Reads a flag of the current task.
    let active = unsafe { c::ub_noio_active() };
    kernel::warn_on!(!active);
}

impl Drop for NoIoScope {
    fn drop(&mut self) {
        // SAFETY: Restores what `enter` saved, on the same task (the guard is not
        // `Send`), in reverse order of entering (guards are scoped values).
        unsafe { c::ub_noio_restore(self.0) };
    }
}

/// The monotonic clock in nanoseconds (`ktime_get()`), for deadlines kept in
/// atomics and compared across threads.
pub(crate) fn now_ns() -> i64 {
    <kernel::time::Monotonic as kernel::time::ClockSource>::ktime_get()
}
