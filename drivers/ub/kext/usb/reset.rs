// SPDX-License-Identifier: GPL-2.0

//! USB port resets a driver asks for itself ([`PortReset`]), from its probe or
//! from any thread later, and the flag its own reset callbacks check.
//!
//! A port reset needs the USB device's lock. Outside probe it is taken (and
//! given up after a second if someone else holds it). During probe the driver
//! core holds it already, around the probe callback, and the probe may wait for
//! a thread that resets the device (the partition scan of a new disk waits for
//! the worker): that thread must reset without taking the lock, or it would
//! only time out. Which of the two is right is known here, not in the driver:
//! [`super::Adapter`] creates the [`PortReset`] before the driver's probe and
//! ends its probe phase after the probe returned, under the lock every reset
//! holds, so no reset runs without the device lock once the probe is over.

use core::sync::atomic::{AtomicBool, Ordering};
use kernel::{
    new_mutex,
    prelude::*,
    sync::{Arc, Mutex},
};

use super::{Interface, InterfaceRef};

/// The port resets of one bound interface's device.
#[pin_data]
pub(crate) struct PortReset {
    intf: InterfaceRef,
    /// The driver's probe is running (the driver core holds the device lock
    /// for it). Held by every reset for its whole length; lock order: this
    /// lock, then the USB device lock.
    #[pin]
    in_probe: Mutex<bool>,
    /// A reset asked for here is running: the driver's `pre_reset` and
    /// `post_reset` callbacks must not wait for the thread that runs it.
    busy: AtomicBool,
}

impl PortReset {
    /// The resets of `intf`, whose probe is about to run.
    pub(super) fn new(intf: &Interface) -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Self {
                intf: intf.get_ref(),
                in_probe <- new_mutex!(true),
                busy: AtomicBool::new(false),
            }),
            GFP_KERNEL,
        )
    }

    /// The probe returned (the caller still holds the device lock): from now on
    /// resets take the device lock. Waits for a reset in progress.
    pub(super) fn probe_over(&self) {
        *self.in_probe.lock() = false;
    }

    /// Resets the device (a USB port reset, re-running enumeration up to
    /// SET_CONFIGURATION). Drivers of the device's interfaces get their
    /// `pre_reset`/`post_reset` callbacks, this one's included (with
    /// [`PortReset::is_busy`] set). Fails at once if the interface is being
    /// unbound, and after a second if someone else holds the device lock.
    pub(crate) fn reset(&self) -> Result {
        let in_probe = self.in_probe.lock();
        self.busy.store(true, Ordering::Release);
        let r = if *in_probe {
            // SAFETY: `in_probe` is set from before the driver's probe until
            // `probe_over`, which the adapter calls in the probe callback, where
            // the driver core holds the device lock; `probe_over` waits for the
            // lock held here, so the device lock stays held until this returns.
            unsafe { self.intf.port_reset_locked() }
        } else {
            self.intf.port_reset()
        };
        self.busy.store(false, Ordering::Release);
        r
    }

    /// Whether a reset asked for here is running.
    pub(crate) fn is_busy(&self) -> bool {
        self.busy.load(Ordering::Acquire)
    }
}
