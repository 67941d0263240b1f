// SPDX-License-Identifier: GPL-2.0

//! The USB device an interface belongs to ([`UsbDevice`], [`UsbDeviceRef`]):
//! its descriptor, its bus's scatter-gather abilities, and the synchronous
//! transfers the driver makes on it (bulk, class and clear-halt control
//! requests) on [`Pipe`]s.

use core::ptr::NonNull;
use kernel::{
    bindings, ffi,
    prelude::*,
    sync::aref::{ARef, AlwaysRefCounted},
    types::Opaque,
};

use super::TransferError;
use crate::kext::dma::DmaBuf;

/// The USB device an [`Interface`] belongs to.
///
/// # Invariants
///
/// `self.0` is a valid `struct usb_device` for as long as the reference exists.
#[repr(transparent)]
pub(crate) struct UsbDevice(Opaque<bindings::usb_device>);

impl UsbDevice {
    /// The raw device, for the bundled C helpers.
    pub(crate) fn as_raw(&self) -> *mut bindings::usb_device {
        self.0.get()
    }

    /// A counted reference to the device.
    pub(crate) fn get_ref(&self) -> UsbDeviceRef {
        self.into()
    }

    /// The pipe for a bulk endpoint.
    pub(crate) fn bulk_pipe(&self, ep: Endpoint) -> Pipe {
        // SAFETY: The device is valid; the helper only computes a number.
        let raw = unsafe { crate::kext::ffi::usb_sg_bulk_pipe(self.as_raw(), ep.address) };
        Pipe {
            raw,
            is_in: ep.address & 0x80 != 0,
        }
    }

    /// Whether URBs reach the device in the order they were queued, across
    /// endpoints (xHCI: one ring and doorbell per endpoint).
    pub(crate) fn in_order_rings(&self) -> bool {
        // SAFETY: The device is valid; the helper only reads its bus's HCD flags.
        unsafe { crate::kext::ffi::usb_sg_in_order_rings(self.as_raw()) }
    }

    /// Lets the controller's DMA layer map scatterlist entries of any length, as
    /// a queue with a virtual boundary hands them out (see usbcore_sg.c).
    pub(crate) fn allow_any_segment_size(&self) {
        // SAFETY: The device is valid; the helper only changes the controller's
        // DMA segment limit, as the SCSI midlayer does for usb-storage.
        unsafe { crate::kext::ffi::usb_sg_allow_any_segment_size(self.as_raw()) }
    }

    /// Scatterlist entries the bus takes in one URB; 0 when it takes none
    /// (dwc2, musb, max3421, controllers with local memory).
    pub(crate) fn sg_tablesize(&self) -> u32 {
        // SAFETY: The device and its bus are valid.
        unsafe { (*(*self.as_raw()).bus).sg_tablesize }
    }

    /// Whether the controller accepts scatterlist entries of any length (xHCI);
    /// others need every entry but the last to be a multiple of the max packet.
    pub(crate) fn no_sg_constraint(&self) -> bool {
        // SAFETY: The device and its bus are valid.
        unsafe { (*(*self.as_raw()).bus).no_sg_constraint() != 0 }
    }

    /// The largest DMA mapping the host controller allows (swiotlb bounds it, for
    /// instance); `usize::MAX` when the HCD maps transfers itself.
    pub(crate) fn dma_max_mapping_size(&self) -> usize {
        // SAFETY: The device is valid; the helper only reads the controller's limits.
        unsafe { crate::kext::ffi::usb_sg_max_mapping_size(self.as_raw()) }
    }

    /// A bulk transfer of the first `len` bytes of `buf`, waiting at most
    /// `timeout_ms`; returns the bytes moved.
    pub(crate) fn bulk_msg(
        &self,
        pipe: Pipe,
        buf: &mut DmaBuf,
        len: usize,
        timeout_ms: u32,
    ) -> core::result::Result<usize, TransferError> {
        // usb_bulk_msg() allocates its URB with GFP_KERNEL.
        crate::kext::task::assert_noio();
        let len = len.min(buf.as_slice().len());
        let len_c = ffi::c_int::try_from(len).map_err(|_| TransferError::Other(EINVAL))?;
        let mut actual: ffi::c_int = 0;
        // SAFETY: The device is valid; `buf` is kmalloc memory of at least `len`
        // bytes, borrowed for the call, which returns when the URB is done or killed.
        let ret = unsafe {
            bindings::usb_bulk_msg(
                self.as_raw(),
                pipe.raw,
                buf.as_mut_ptr(),
                len_c,
                &mut actual,
                wait_ms(timeout_ms),
            )
        };
        match ret {
            0 => Ok(usize::try_from(actual).unwrap_or(0)),
            e => Err(TransferError::from_errno(e)),
        }
    }

    /// A control request on the default pipe with, if `data` is given, its first
    /// `len` bytes as data stage (IN when `is_in`); waits at most `timeout_ms`.
    #[allow(clippy::too_many_arguments)]
    fn control_msg(
        &self,
        is_in: bool,
        request: u8,
        request_type: u8,
        value: u16,
        index: u16,
        data: Option<(&mut DmaBuf, usize)>,
        timeout_ms: u32,
    ) -> core::result::Result<usize, TransferError> {
        let (ptr, len) = match data {
            Some((buf, len)) if len > 0 => {
                let len = u16::try_from(len.min(buf.as_slice().len()))
                    .map_err(|_| TransferError::Other(EINVAL))?;
                (buf.as_mut_ptr(), len)
            }
            _ => (core::ptr::null_mut(), 0),
        };
        // SAFETY: The device is valid; the helper only computes a number.
        let pipe = unsafe { crate::kext::ffi::usb_sg_ctrl_pipe(self.as_raw(), is_in) };
        // SAFETY: The device is valid; `ptr` is null with `len` 0, or kmalloc memory
        // of at least `len` bytes borrowed for the call.
        let ret = unsafe {
            bindings::usb_control_msg(
                self.as_raw(),
                pipe,
                request,
                request_type,
                value,
                index,
                ptr,
                len,
                wait_ms(timeout_ms),
            )
        };
        if ret >= 0 {
            Ok(ret as usize)
        } else {
            Err(TransferError::from_errno(ret))
        }
    }

    /// A class request to interface `index` on the default pipe, with `len` bytes
    /// of `buf` as data stage (IN when `is_in`).
    pub(crate) fn class_request(
        &self,
        is_in: bool,
        request: u8,
        index: u16,
        buf: &mut DmaBuf,
        len: usize,
        timeout_ms: u32,
    ) -> core::result::Result<usize, TransferError> {
        let dir = if is_in { bindings::USB_DIR_IN } else { 0 };
        let request_type = (dir | bindings::USB_TYPE_CLASS | bindings::USB_RECIP_INTERFACE) as u8;
        self.control_msg(
            is_in,
            request,
            request_type,
            0,
            index,
            Some((buf, len)),
            timeout_ms,
        )
    }

    /// Clears a halt (stall) on a bulk pipe: CLEAR_FEATURE(ENDPOINT_HALT), waiting
    /// at most `timeout_ms` (`usb_clear_halt()` would wait 5 s), then a reset of the
    /// host side's data toggle, as `usb_clear_halt()` does.
    pub(crate) fn clear_halt(
        &self,
        pipe: Pipe,
        timeout_ms: u32,
    ) -> core::result::Result<(), TransferError> {
        // SAFETY: The helper only computes a number.
        let endpoint = unsafe { crate::kext::ffi::usb_sg_pipe_endpoint(pipe.raw) };
        self.control_msg(
            false,
            bindings::USB_REQ_CLEAR_FEATURE as u8,
            bindings::USB_RECIP_ENDPOINT as u8,
            bindings::USB_ENDPOINT_HALT as u16,
            endpoint.into(),
            None,
            timeout_ms,
        )?;
        // SAFETY: The device is valid; `usb_reset_endpoint` resets the toggle of an
        // endpoint of its current configuration and ignores unknown ones.
        unsafe { bindings::usb_reset_endpoint(self.as_raw(), endpoint.into()) };
        Ok(())
    }

    fn descriptor(&self) -> &bindings::usb_device_descriptor {
        // SAFETY: The device is valid (type invariant); its descriptor is read at
        // enumeration and not written while interfaces are bound.
        unsafe { &(*self.0.get()).descriptor }
    }

    /// `idVendor` from the device descriptor.
    pub(crate) fn vendor_id(&self) -> u16 {
        u16::from_le(self.descriptor().idVendor)
    }

    /// `bcdDevice`: the device's release number.
    pub(crate) fn release(&self) -> u16 {
        u16::from_le(self.descriptor().bcdDevice)
    }

    /// `idProduct` from the device descriptor.
    pub(crate) fn product_id(&self) -> u16 {
        u16::from_le(self.descriptor().idProduct)
    }

    /// The manufacturer string (iManufacturer) read at enumeration; empty if
    /// the device has none.
    pub(crate) fn manufacturer(&self) -> &[u8] {
        // SAFETY: The device is valid (type invariant); its string is null or
        // set at enumeration and freed with the device, which `self` outlives.
        unsafe { string_or_empty((*self.0.get()).manufacturer) }
    }

    /// The product string (iProduct) read at enumeration; empty if none.
    pub(crate) fn product(&self) -> &[u8] {
        // SAFETY: As in `manufacturer`.
        unsafe { string_or_empty((*self.0.get()).product) }
    }

    /// The negotiated speed, as the USB core names it (`high-speed`, `super-speed`, ...).
    pub(crate) fn speed(&self) -> &'static CStr {
        // SAFETY: The device is valid; `speed` is set at enumeration.
        let speed = unsafe { (*self.0.get()).speed };
        // SAFETY: `usb_speed_string` returns a static string for any value.
        unsafe { CStr::from_char_ptr(bindings::usb_speed_string(speed)) }
    }
}

/// The bytes of a C string the USB core owns, or nothing for a null pointer.
///
/// # Safety
///
/// `s` is null or a NUL-terminated string that stays valid and unchanged for `'a`.
unsafe fn string_or_empty<'a>(s: *const ffi::c_char) -> &'a [u8] {
    if s.is_null() {
        return &[];
    }
    // SAFETY: Non-null, so NUL-terminated and valid for `'a` (the contract).
    unsafe { CStr::from_char_ptr(s) }.to_bytes()
}

/// A counted reference to a [`UsbDevice`] (`usb_get_dev()`, dropped with
/// `usb_put_dev()`).
pub(crate) type UsbDeviceRef = ARef<UsbDevice>;

// SAFETY: The USB core's reference count keeps a `struct usb_device` alive:
// `usb_get_dev` takes a reference, `usb_put_dev` drops one.
unsafe impl AlwaysRefCounted for UsbDevice {
    fn inc_ref(&self) {
        // SAFETY: The device is valid (type invariant), so its count is not 0.
        unsafe { bindings::usb_get_dev(self.as_raw()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The caller gives up a reference it holds (function contract).
        unsafe { bindings::usb_put_dev(obj.as_ref().as_raw()) };
    }
}

// SAFETY: A device may be used from any thread: `UsbDevice`'s methods are the
// USB core's thread-safe calls and reads of fields set at enumeration.
unsafe impl Send for UsbDevice {}
// SAFETY: As above.
unsafe impl Sync for UsbDevice {}

/// A USB pipe (the encoded endpoint, type and direction the USB core takes).
#[derive(Clone, Copy)]
pub(crate) struct Pipe {
    raw: ffi::c_uint,
    is_in: bool,
}

impl Pipe {
    /// The encoded pipe.
    pub(crate) fn raw(&self) -> ffi::c_uint {
        self.raw
    }

    /// Whether data flows from the device.
    pub(crate) fn is_in(&self) -> bool {
        self.is_in
    }
}

/// A bulk endpoint: its address (direction bit included) and max packet size.
#[derive(Clone, Copy)]
pub(crate) struct Endpoint {
    pub(super) address: u8,
    max_packet: u16,
}

impl Endpoint {
    pub(super) fn from_desc(desc: &bindings::usb_endpoint_descriptor) -> Self {
        Self {
            address: desc.bEndpointAddress,
            // Bits 10..0 of wMaxPacketSize (USB 2.0 9.6.6); the rest are high-bandwidth bits.
            max_packet: u16::from_le(desc.wMaxPacketSize) & 0x7ff,
        }
    }

    /// `bEndpointAddress`, with bit 7 set for IN endpoints.
    pub(crate) fn address(&self) -> u8 {
        self.address
    }

    /// The maximum packet size in bytes.
    pub(crate) fn max_packet(&self) -> u16 {
        self.max_packet
    }
}

/// `timeout_ms` as the USB core's message calls take it: a positive `int`.
/// Their 0 means "wait for ever", and a value past `INT_MAX` would turn
/// negative, which they take as an unbounded wait too (a passthrough caller's
/// timeout of 2^31 ms or more): at least 1 ms, at most `INT_MAX`.
fn wait_ms(timeout_ms: u32) -> ffi::c_int {
    ffi::c_int::try_from(timeout_ms)
        .unwrap_or(ffi::c_int::MAX)
        .max(1)
}
