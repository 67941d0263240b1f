// SPDX-License-Identifier: GPL-2.0

//! A USB interface as the driver bound to it sees it ([`Interface`]), counted
//! references to it ([`InterfaceRef`]) and to its runtime PM state ([`AutoPm`]),
//! its bulk endpoints ([`Endpoint`]) and the port reset of its device.

use core::ptr::NonNull;
use kernel::{
    bindings, device,
    error::to_result,
    prelude::*,
    sync::aref::{ARef, AlwaysRefCounted},
    types::Opaque,
};

use super::{Endpoint, UsbDevice, UsbDeviceRef};

/// A USB interface, as seen from a callback of the driver bound to it.
///
/// # Invariants
///
/// `self.0` is a valid `struct usb_interface` for as long as the reference exists.
#[repr(transparent)]
pub(crate) struct Interface(Opaque<bindings::usb_interface>);

impl Interface {
    /// # Safety
    ///
    /// `ptr` must point to a `struct usb_interface` that stays valid for `'a`.
    pub(super) unsafe fn from_raw<'a>(ptr: *mut bindings::usb_interface) -> &'a Self {
        // SAFETY: `Interface` is a transparent wrapper; validity is the caller's promise.
        unsafe { &*ptr.cast() }
    }

    pub(super) fn as_raw(&self) -> *mut bindings::usb_interface {
        self.0.get()
    }

    /// The interface's `struct device`, as parent for what the driver registers
    /// below it (the disks).
    pub(crate) fn raw_device(&self) -> *mut bindings::device {
        // SAFETY: The interface is valid (type invariant).
        unsafe { &raw mut (*self.as_raw()).dev }
    }

    /// `bInterfaceNumber` of the current alternate setting.
    pub(crate) fn number(&self) -> u8 {
        // SAFETY: The interface is valid and has a current alternate setting.
        unsafe { (*(*self.as_raw()).cur_altsetting).desc.bInterfaceNumber }
    }

    /// A counted reference to the interface's USB device, usable after the
    /// callback returns.
    pub(crate) fn get_usb_device(&self) -> UsbDeviceRef {
        self.usb_device().get_ref()
    }

    /// A counted reference to the interface, usable after the callback returns
    /// (to reset the device from the worker).
    pub(crate) fn get_ref(&self) -> InterfaceRef {
        self.into()
    }

    /// Resets the device the interface belongs to (a USB port reset, re-running
    /// enumeration up to SET_CONFIGURATION). Fails at once if the interface is being
    /// unbound, and after a second if someone else holds the device lock. Drivers of
    /// the device's interfaces get their `pre_reset`/`post_reset` callbacks, this
    /// one's included.
    pub(super) fn port_reset(&self) -> Result {
        // SAFETY: The interface is valid; the helper takes and drops the device lock
        // itself and does not keep the pointer.
        to_result(unsafe { crate::kext::ffi::ub_usb_port_reset(self.as_raw()) })
    }

    /// [`Interface::port_reset`] without taking the device lock, for a driver
    /// whose probe holds it (the driver core takes it around probe, so the locking
    /// variant could only time out). The driver's own reset callbacks run without
    /// driver data then.
    ///
    /// # Safety
    ///
    /// The USB device's lock must be held for the whole call, by the caller or by
    /// a thread that waits for the caller to return (the probe, waiting for the I/O
    /// it started).
    pub(super) unsafe fn port_reset_locked(&self) -> Result {
        let udev = self.usb_device().as_raw();
        // SAFETY: `udev` is valid while its interface is; the caller guarantees the
        // device lock `usb_reset_device` requires.
        to_result(unsafe { bindings::usb_reset_device(udev) })
    }
}

impl Interface {
    /// Takes a runtime PM reference on the interface, resuming the device if it
    /// is suspended (which may sleep); the reference goes with the guard.
    pub(crate) fn autopm_get(&self) -> Result<AutoPm> {
        // SAFETY: The interface is valid; on success the reference is dropped by
        // `AutoPm`, which holds its own reference to the interface.
        to_result(unsafe { bindings::usb_autopm_get_interface(self.as_raw()) })?;
        Ok(AutoPm(self.get_ref()))
    }

    /// The interface's `struct device`, for the kernel's `dev_*!` log lines
    /// (`ub 1-1:1.0: ...`, as usb-storage logs `usb-storage 1-1:1.0: ...`).
    pub(crate) fn device(&self) -> &device::Device {
        // SAFETY: The interface is valid (type invariant), so its embedded
        // `struct device` is a valid, initialized device for as long as `&self`.
        unsafe { device::Device::from_raw(self.raw_device()) }
    }

    /// The USB device this interface belongs to.
    pub(crate) fn usb_device(&self) -> &UsbDevice {
        // SAFETY: The interface is valid; its parent device outlives it.
        let udev = unsafe { bindings::interface_to_usbdev(self.as_raw()) };
        // SAFETY: `udev` is valid for as long as `self`; `UsbDevice` is transparent.
        unsafe { &*udev.cast() }
    }

    /// The first bulk-in and bulk-out endpoints of the current alternate setting.
    pub(crate) fn bulk_endpoints(&self) -> Option<(Endpoint, Endpoint)> {
        let mut bulk_in: *mut bindings::usb_endpoint_descriptor = core::ptr::null_mut();
        let mut bulk_out: *mut bindings::usb_endpoint_descriptor = core::ptr::null_mut();
        // SAFETY: The interface is valid and has a current alternate setting while a
        // driver is bound or binding; the out-pointers are valid locals.
        let ret = unsafe {
            bindings::usb_find_common_endpoints(
                (*self.as_raw()).cur_altsetting,
                &mut bulk_in,
                &mut bulk_out,
                core::ptr::null_mut(),
                core::ptr::null_mut(),
            )
        };
        if ret != 0 || bulk_in.is_null() || bulk_out.is_null() {
            return None;
        }
        // SAFETY: On success both point into the altsetting's endpoint array.
        unsafe {
            Some((
                Endpoint::from_desc(&*bulk_in),
                Endpoint::from_desc(&*bulk_out),
            ))
        }
    }
}

/// A counted reference to an [`Interface`] (`usb_get_intf()`, dropped with
/// `usb_put_intf()`).
pub(crate) type InterfaceRef = ARef<Interface>;

// SAFETY: The USB core's reference count keeps a `struct usb_interface` alive:
// `usb_get_intf` takes a reference, `usb_put_intf` drops one.
unsafe impl AlwaysRefCounted for Interface {
    fn inc_ref(&self) {
        // SAFETY: The interface is valid (type invariant), so its count is not 0.
        unsafe { bindings::usb_get_intf(self.as_raw()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The caller gives up a reference it holds (function contract).
        unsafe { bindings::usb_put_intf(obj.as_ref().as_raw()) };
    }
}

// SAFETY: An interface may be used from any thread: the methods reachable
// through a reference take `&self`, and the USB core serialises what needs it
// (the device lock in a port reset).
unsafe impl Send for Interface {}
// SAFETY: As above.
unsafe impl Sync for Interface {}

/// A runtime PM reference on an interface (`usb_autopm_get_interface()`); dropped
/// asynchronously, so that a suspend it allows never runs in the dropping thread.
pub(crate) struct AutoPm(InterfaceRef);

impl Drop for AutoPm {
    fn drop(&mut self) {
        // SAFETY: Drops the PM reference `Interface::autopm_get` took; the
        // interface is valid (we hold a reference to it).
        unsafe { bindings::usb_autopm_put_interface_async(self.0.as_raw()) };
    }
}
