// SPDX-License-Identifier: GPL-2.0

//! URBs the driver owns ([`Urb`]) and the coherent buffers its command and status
//! blocks live in ([`Coherent`]): allocation, filling, submission, killing and
//! freeing. These are the raw `struct urb` calls of [`super::urbset`], which
//! the command chain uses; nothing else touches a `struct urb`.
//!
//! The USB core's synchronous helpers (`usb_bulk_msg()`, `usb_sg_wait()`)
//! allocate URBs per call and put the caller to sleep per stage; a BOT command
//! has three stages, so the chain keeps three URBs for the device's life and
//! submits each stage from the previous stage's completion.

use core::ptr::NonNull;
use kernel::{bindings, error::to_result, ffi, prelude::*};

use crate::{
    kext::usb::TransferError,
    kext::usb::{Pipe, UsbDevice, UsbDeviceRef},
};

/// `GFP_NOIO` (`__GFP_RECLAIM` in gfp_types.h), which bindgen does not export:
/// a submission on the block I/O path must not recurse into block I/O.
const GFP_NOIO: bindings::gfp_t =
    (1 << bindings::___GFP_DIRECT_RECLAIM_BIT) | (1 << bindings::___GFP_KSWAPD_RECLAIM_BIT);

/// The completion handler type of a URB.
pub(crate) type CompleteFn = unsafe extern "C" fn(*mut bindings::urb);

/// An allocated URB, killed and freed on drop.
///
/// # Invariants
///
/// `self.0` was returned by `usb_alloc_urb()` and is freed only by `Drop`.
pub(crate) struct Urb(NonNull<bindings::urb>);

// SAFETY: A URB may be submitted, killed and freed from any thread; the USB core
// serialises access to its own fields, and `Urb`'s methods only read the fields
// the core leaves alone once the completion handler was called.
unsafe impl Send for Urb {}
// SAFETY: As above: the shared methods (`submit`, `kill`, the result getters) are
// the USB core's own thread-safe calls and plain reads.
unsafe impl Sync for Urb {}

impl Urb {
    /// Allocates a URB for a bulk transfer (no isochronous packets).
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: Plain allocation; may sleep, as `GFP_KERNEL` allows here.
        let urb = unsafe { bindings::usb_alloc_urb(0, bindings::GFP_KERNEL) };
        NonNull::new(urb).map(Self).ok_or(ENOMEM)
    }

    pub(super) fn as_raw(&self) -> *mut bindings::urb {
        self.0.as_ptr()
    }

    /// Points the URB at `len` bytes of the coherent buffer `buf` on `pipe`.
    ///
    /// # Safety
    ///
    /// The URB is idle (not submitted, or its completion handler has run). `buf`
    /// and `udev` outlive every submission of this filling, and `complete` may be
    /// called with this URB, whose `context` is `context`, from interrupt context.
    pub(crate) unsafe fn fill_buf(
        &self,
        udev: &UsbDevice,
        pipe: Pipe,
        buf: &Coherent,
        len: usize,
        complete: CompleteFn,
        context: *mut ffi::c_void,
    ) {
        let urb = self.as_raw();
        // SAFETY: The URB is idle (function contract), so the core does not use
        // these fields now; `buf` holds at least `len` bytes (checked here).
        unsafe {
            (*urb).dev = udev.as_raw();
            (*urb).pipe = pipe.raw();
            (*urb).transfer_buffer = buf.ptr.as_ptr();
            (*urb).transfer_dma = buf.dma;
            (*urb).transfer_buffer_length = len.min(buf.len) as u32;
            (*urb).transfer_flags = bindings::URB_NO_TRANSFER_DMA_MAP;
            (*urb).sg = core::ptr::null_mut();
            (*urb).num_sgs = 0;
            (*urb).num_mapped_sgs = 0;
            (*urb).complete = Some(complete);
            (*urb).context = context;
        }
    }

    /// Points the URB at the scatterlist `sg` of `nents` entries, `len` bytes in
    /// all, on `pipe`. `mapped` is what `usb_buffer_map_sg()` returned when the
    /// list is mapped already; without it the host controller driver maps it at
    /// submission. An IN transfer that ends short fails with `-EREMOTEIO`.
    ///
    /// # Safety
    ///
    /// As for [`Urb::fill_buf`], with `sg` (and the memory it describes, and its
    /// mapping if `mapped`) in place of `buf`; the controller takes whole
    /// scatterlists in one URB (`sg_tablesize > 0`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) unsafe fn fill_sg(
        &self,
        udev: &UsbDevice,
        pipe: Pipe,
        sg: *mut bindings::scatterlist,
        nents: ffi::c_int,
        mapped: Option<ffi::c_int>,
        len: u32,
        complete: CompleteFn,
        context: *mut ffi::c_void,
    ) {
        let urb = self.as_raw();
        let mut flags = 0;
        if pipe.is_in() {
            flags |= bindings::URB_SHORT_NOT_OK;
        }
        if mapped.is_some() {
            flags |= bindings::URB_NO_TRANSFER_DMA_MAP;
        }
        // SAFETY: The URB is idle (function contract), so the core does not use
        // these fields now.
        unsafe {
            (*urb).dev = udev.as_raw();
            (*urb).pipe = pipe.raw();
            (*urb).transfer_buffer = core::ptr::null_mut();
            (*urb).transfer_dma = 0;
            (*urb).transfer_buffer_length = len;
            (*urb).transfer_flags = flags;
            (*urb).sg = sg;
            (*urb).num_sgs = nents;
            (*urb).num_mapped_sgs = mapped.unwrap_or(0);
            (*urb).complete = Some(complete);
            (*urb).context = context;
        }
    }

    /// Submits the URB; `atomic` from a completion handler.
    ///
    /// # Safety
    ///
    /// The URB was filled and what the filling refers to is still valid (see
    /// [`Urb::fill_buf`] and [`Urb::fill_sg`]); it is idle.
    pub(crate) unsafe fn submit(&self, atomic: bool) -> Result {
        let gfp = if atomic {
            bindings::GFP_ATOMIC
        } else {
            GFP_NOIO
        };
        // SAFETY: Filled and idle (function contract).
        to_result(unsafe { bindings::usb_submit_urb(self.as_raw(), gfp) })
    }

    /// Cancels the URB if it is in flight and waits until its completion handler
    /// has returned; meanwhile submissions of it fail. May sleep.
    pub(crate) fn kill(&self) {
        // SAFETY: A valid URB (type invariant); `usb_kill_urb` does nothing to an
        // idle one.
        unsafe { bindings::usb_kill_urb(self.as_raw()) };
    }

    /// Kills the URB like [`Urb::kill`] and makes every later submission fail
    /// until [`Urb::unpoison`]. May sleep.
    pub(crate) fn poison(&self) {
        // SAFETY: A valid URB (type invariant).
        unsafe { bindings::usb_poison_urb(self.as_raw()) };
    }

    /// Undoes one [`Urb::poison`].
    pub(crate) fn unpoison(&self) {
        // SAFETY: A valid URB (type invariant).
        unsafe { bindings::usb_unpoison_urb(self.as_raw()) };
    }

    /// How the last transfer ended: bytes moved, or the error. Only meaningful
    /// once the completion handler has been called.
    pub(crate) fn result(&self) -> core::result::Result<usize, TransferError> {
        // SAFETY: A valid URB; the core does not write these fields of an idle URB
        // (the caller only asks after the completion handler ran).
        let (status, actual) = unsafe { ((*self.as_raw()).status, (*self.as_raw()).actual_length) };
        match status {
            0 => Ok(actual as usize),
            e => Err(TransferError::from_errno(e)),
        }
    }

    /// The bytes the last transfer moved, whatever its status.
    pub(crate) fn actual(&self) -> usize {
        // SAFETY: As in `result`.
        unsafe { (*self.as_raw()).actual_length as usize }
    }

    /// The context of a URB handed to a completion handler.
    ///
    /// # Safety
    ///
    /// `urb` is the URB the handler was called for.
    pub(crate) unsafe fn context_of(urb: *mut bindings::urb) -> *mut ffi::c_void {
        // SAFETY: The core passes a valid URB to its completion handler.
        unsafe { (*urb).context }
    }

    /// `status` and `actual_length` of a URB handed to a completion handler.
    ///
    /// # Safety
    ///
    /// `urb` is the URB the handler was called for.
    pub(crate) unsafe fn completed(urb: *mut bindings::urb) -> (ffi::c_int, usize) {
        // SAFETY: The core passes a valid URB to its completion handler.
        unsafe { ((*urb).status, (*urb).actual_length as usize) }
    }
}

impl Drop for Urb {
    fn drop(&mut self) {
        self.kill();
        // SAFETY: Allocated by `usb_alloc_urb` and idle (just killed); ours only.
        unsafe { bindings::usb_free_urb(self.as_raw()) };
    }
}

/// A small buffer from `usb_alloc_coherent()`: DMA-coherent for the device's host
/// controller (plain kernel memory on controllers without DMA), so a URB over it
/// needs no mapping per transfer.
///
/// # Invariants
///
/// `ptr` and `dma` were returned for `len` bytes by `usb_alloc_coherent()` on
/// `udev` and are freed only by `Drop`.
pub(crate) struct Coherent {
    udev: UsbDeviceRef,
    ptr: NonNull<ffi::c_void>,
    dma: bindings::dma_addr_t,
    len: usize,
}

// SAFETY: The buffer is plain memory owned by this value.
unsafe impl Send for Coherent {}
// SAFETY: Shared access only reads the buffer's address; its contents are read and
// written through `&mut self` or by the device while a URB owns it.
unsafe impl Sync for Coherent {}

impl Coherent {
    /// Allocates `len` zeroed bytes for transfers with `udev`.
    pub(crate) fn new(udev: &UsbDevice, len: usize) -> Result<Self> {
        let mut dma: bindings::dma_addr_t = 0;
        // SAFETY: `udev` is valid; `dma` is written by the call.
        let ptr = unsafe {
            bindings::usb_alloc_coherent(udev.as_raw(), len, bindings::GFP_KERNEL, &mut dma)
        };
        let ptr = NonNull::new(ptr).ok_or(ENOMEM)?;
        // SAFETY: `ptr` points at `len` bytes we own.
        unsafe { core::ptr::write_bytes(ptr.as_ptr().cast::<u8>(), 0, len) };
        Ok(Self {
            udev: udev.get_ref(),
            ptr,
            dma,
            len,
        })
    }

    /// The buffer's bytes. Only meaningful while no URB over it is in flight.
    pub(crate) fn as_slice(&self) -> &[u8] {
        // SAFETY: `len` bytes we own (type invariant).
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr().cast(), self.len) }
    }

    /// Copies `bytes` to the start of the buffer (as much as fits).
    ///
    /// # Safety
    ///
    /// No URB over the buffer is in flight, and nobody reads it meanwhile.
    pub(crate) unsafe fn write(&self, bytes: &[u8]) {
        let n = bytes.len().min(self.len);
        // SAFETY: `n` bytes fit in the buffer we own, which nothing else accesses
        // now (function contract); `bytes` cannot overlap it.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.as_ptr().cast(), n) };
    }
}

impl Drop for Coherent {
    fn drop(&mut self) {
        // SAFETY: Allocated in `new` with these arguments (type invariant); no URB
        // uses it any more (its owner kills its URBs first).
        unsafe {
            bindings::usb_free_coherent(self.udev.as_raw(), self.len, self.ptr.as_ptr(), self.dma)
        };
    }
}
