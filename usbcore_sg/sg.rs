// SPDX-License-Identifier: GPL-2.0

//! Safe scatter-gather bulk transfers: the DMA mapping of a scatterlist
//! ([`Segments`], from the kernel layer) through the bundled `usb_buffer_map_sg()`
//! ([`Mapping`], unmapped on drop), and a pinned `struct usb_sg_request` with a timeout that cancels it
//! ([`SgRequest`]).
//!
//! An [`SgRequest`] is used through `Pin<&mut SgRequest>`: it cannot move, and it
//! cannot be reused while a transfer is in flight, because [`SgRequest::transfer`]
//! holds that borrow until `usb_sg_wait()` has returned and the timer is dead. The
//! timer's callback only calls `usb_sg_cancel()`, which merely unlinks URBs and is
//! safe from interrupt context, before, during or after `usb_sg_wait()`.

use core::sync::atomic::{AtomicBool, Ordering};
use kernel::{
    bindings,
    error::Error,
    ffi,
    prelude::*,
    time::{
        hrtimer::{
            HrTimer, HrTimerCallback, HrTimerCallbackContext, HrTimerRestart, RelativeMode,
            ScopedHrTimerPointer,
        },
        Delta, Monotonic,
    },
    types::Opaque,
};

use crate::kext::{
    ffi as c,
    sg::{Segments, UrbSg},
    usb::{Pipe, TransferError, UsbDevice},
};

/// A DMA mapping of [`Segments`] for one transfer; unmapped (and synced for the
/// CPU) when dropped. On controllers without DMA the HCD maps at submit time, and
/// this guard holds nothing.
pub(crate) struct Mapping<'a, 'b> {
    udev: &'a UsbDevice,
    sg: &'a mut Segments<'b>,
    is_in: bool,
    /// `Some(n)`: mapped here into `n` DMA entries.
    mapped: Option<ffi::c_int>,
}

impl<'a, 'b> Mapping<'a, 'b> {
    /// Maps `sg` for a transfer on `pipe` of `udev`.
    pub(crate) fn new(udev: &'a UsbDevice, pipe: Pipe, sg: &'a mut Segments<'b>) -> Result<Self> {
        let is_in = pipe.is_in();
        let nents = ffi::c_int::try_from(sg.nents())?;
        // SAFETY: `udev` is a live device (type invariant of `UsbDevice`).
        let premap = unsafe { c::usb_sg_premappable(udev.as_raw()) };
        let mapped = if premap {
            // SAFETY: `sg` holds `nents` initialised entries that stay mapped until
            // this guard is dropped, which unmaps them with the same arguments.
            let n = unsafe {
                c::usb_buffer_map_sg(udev.as_raw(), is_in.into(), sg.as_mut_ptr(), nents)
            };
            if n < 0 {
                return Err(Error::from_errno(n));
            }
            Some(n)
        } else {
            None
        };
        Ok(Self {
            udev,
            sg,
            is_in,
            mapped,
        })
    }
}

// SAFETY: The scatterlist is the borrowed `Segments`' first `nents` entries,
// their memory borrowed for as long as it; when `mapped` is `Some`, the mapping
// made in `new` lasts until `drop`, so for as long as the mapping is borrowed.
unsafe impl UrbSg for Mapping<'_, '_> {
    fn raw(&mut self) -> (*mut bindings::scatterlist, ffi::c_int, Option<ffi::c_int>) {
        let nents = ffi::c_int::try_from(self.sg.nents()).unwrap_or(ffi::c_int::MAX);
        (self.sg.as_mut_ptr(), nents, self.mapped)
    }
}

impl Drop for Mapping<'_, '_> {
    fn drop(&mut self) {
        if self.mapped.is_some() {
            let nents = self.sg.nents() as ffi::c_int;
            // SAFETY: Mapped in `new` with these same arguments and not yet unmapped.
            unsafe {
                c::usb_buffer_unmap_sg(
                    self.udev.as_raw(),
                    self.is_in.into(),
                    self.sg.as_mut_ptr(),
                    nents,
                )
            };
        }
    }
}

/// The result of one transfer: bytes moved, and the error if any.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Transfer {
    /// Bytes actually transferred.
    pub(crate) bytes: usize,
    /// `Ok` when all `len` bytes moved.
    pub(crate) status: core::result::Result<(), TransferError>,
}

/// A `struct usb_sg_request` and the timer that cancels it.
#[pin_data]
pub(crate) struct SgRequest {
    #[pin]
    io: Opaque<bindings::usb_sg_request>,
    #[pin]
    timer: HrTimer<SgRequest>,
    timed_out: AtomicBool,
}

// SAFETY: The request is only driven through `Pin<&mut SgRequest>`; the timer
// callback only calls `usb_sg_cancel()`, which takes the request's own lock.
unsafe impl Send for SgRequest {}
// SAFETY: As above: shared access is limited to `usb_sg_cancel()` and an atomic.
unsafe impl Sync for SgRequest {}

kernel::impl_has_hr_timer! {
    impl HasHrTimer<Self> for SgRequest {
        mode: RelativeMode<Monotonic>,
        field: self.timer
    }
}

impl HrTimerCallback for SgRequest {
    type Pointer<'a> = Pin<&'a SgRequest>;

    fn run(this: Pin<&SgRequest>, _ctx: HrTimerCallbackContext<'_, Self>) -> HrTimerRestart {
        this.timed_out.store(true, Ordering::Relaxed);
        // SAFETY: `io` is valid while the timer can run (`transfer` cancels the timer
        // before returning), and `usb_sg_cancel()` may be called from any context,
        // before, during or after `usb_sg_wait()`.
        unsafe { bindings::usb_sg_cancel(this.io.get()) };
        HrTimerRestart::NoRestart
    }
}

impl SgRequest {
    /// A zeroed request with its timer set up.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            io <- Opaque::zeroed(),
            timer <- HrTimer::new(),
            timed_out: AtomicBool::new(false),
        })
    }

    /// Moves `len` bytes over `mapping` on `pipe`, waiting at most `timeout` before
    /// cancelling. Returns when the transfer is over and nothing refers to it.
    pub(crate) fn transfer(
        self: Pin<&mut Self>,
        pipe: Pipe,
        mapping: &mut Mapping<'_, '_>,
        len: usize,
        timeout: Delta,
    ) -> Transfer {
        let this = self.into_ref();
        this.timed_out.store(false, Ordering::Relaxed);
        let io = this.io.get();
        let nents = mapping.sg.nents() as ffi::c_int;
        // SAFETY: `io` is pinned and not in use (we hold the only `&mut`); the device
        // and scatterlist are live for the whole call.
        let ret = unsafe {
            bindings::usb_sg_init(
                io,
                mapping.udev.as_raw(),
                pipe.raw(),
                0,
                mapping.sg.as_mut_ptr(),
                nents,
                len,
                bindings::GFP_KERNEL,
            )
        };
        if ret != 0 {
            return Transfer {
                bytes: 0,
                status: Err(TransferError::Other(Error::from_errno(ret))),
            };
        }
        if let Some(n) = mapping.mapped {
            // SAFETY: `io` was just initialised and is not submitted yet.
            unsafe { c::usb_sg_mark_premapped(io, n) };
        }
        // SAFETY: `io` is initialised; `usb_sg_wait` submits, waits and cleans up.
        // The scoped timer is cancelled (and its callback finished) before
        // `start_scoped` returns.
        this.start_scoped(timeout, || unsafe { bindings::usb_sg_wait(io) });
        // SAFETY: `usb_sg_wait` returned, so nothing else writes these fields.
        let (status, bytes) = unsafe { ((*io).status, (*io).bytes) };
        let status = match status {
            0 => Ok(()),
            _ if this.timed_out.load(Ordering::Relaxed) => Err(TransferError::TimedOut),
            e => Err(TransferError::from_errno(e)),
        };
        Transfer { bytes, status }
    }
}
