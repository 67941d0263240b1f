// SPDX-License-Identifier: GPL-2.0

//! Small extensions of the kernel crate that are neither USB nor block specific:
//! the default unbound workqueue, waiting for a work item to finish, a no-I/O
//! allocation scope, and the module's string parameter.

use kernel::workqueue::{Queue, Work};

use crate::ffi as c;

/// The default unbound workqueue (`system_dfl_wq`). The kernel crate's
/// `system_unbound()` is `system_unbound_wq`, which 7.3 deprecates with a warning.
pub(crate) fn default_queue() -> &'static Queue {
    // SAFETY: `system_dfl_wq` is set up at boot before any module loads and never
    // freed; reading the pointer races with nothing.
    unsafe { Queue::from_raw(kernel::bindings::system_dfl_wq) }
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
pub(crate) struct NoIoScope(kernel::ffi::c_uint);

impl NoIoScope {
    /// Enters the scope.
    pub(crate) fn enter() -> Self {
        // SAFETY: Only sets a flag of the current task; restored on drop.
        Self(unsafe { c::ub_noio_save() })
    }
}

impl Drop for NoIoScope {
    fn drop(&mut self) {
        // SAFETY: Restores what `enter` saved, on the same task (the guard is not
        // `Send`: it holds a raw flag value tied to this task by construction).
        unsafe { c::ub_noio_restore(self.0) };
    }
}

/// The `quirks` module parameter (declared in helpers.c: the module macro has no
/// string parameters), copied into `buf` under the parameter lock so that a
/// concurrent write through sysfs cannot tear it. Truncated to `buf`'s length
/// less one.
pub(crate) fn quirks_param(buf: &mut [u8]) -> &[u8] {
    // SAFETY: `buf` is writable for its length; the helper writes at most that many
    // bytes (NUL included) and returns the length of the string it wrote.
    let n = unsafe { c::ub_quirks_param(buf.as_mut_ptr().cast(), buf.len()) };
    buf.get(..n).unwrap_or(&[])
}
