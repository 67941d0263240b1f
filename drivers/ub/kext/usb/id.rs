// SPDX-License-Identifier: GPL-2.0

//! USB device IDs ([`DeviceId`], [`IdTable`], [`usb_device_table!`]) over
//! `struct usb_device_id`, as the kernel crate's `kernel::usb` has them. That
//! module is built only with `CONFIG_USB=y` (the kernel crate is part of
//! vmlinux and cannot reach a modular usbcore), while distributions build USB as
//! modules: `ub` brings its own, on the generic `kernel::device_id` layer, which
//! every configuration has.

use kernel::{
    bindings,
    device_id::{RawDeviceId, RawDeviceIdIndex},
};

/// One entry of a USB driver's ID table: `struct usb_device_id`.
#[repr(transparent)]
#[derive(Clone, Copy)]
pub(crate) struct DeviceId(bindings::usb_device_id);

impl DeviceId {
    /// The interfaces of class `class`, subclass `subclass` and protocol
    /// `protocol`, on any device: C's `USB_INTERFACE_INFO`.
    pub(crate) const fn from_interface_info(class: u8, subclass: u8, protocol: u8) -> Self {
        Self(bindings::usb_device_id {
            match_flags: bindings::USB_DEVICE_ID_MATCH_INT_INFO as u16,
            bInterfaceClass: class,
            bInterfaceSubClass: subclass,
            bInterfaceProtocol: protocol,
            ..pin_init::zeroed()
        })
    }
}

// SAFETY: `DeviceId` is a `#[repr(transparent)]` wrapper of `usb_device_id` and
// adds no fields.
unsafe impl RawDeviceId for DeviceId {
    type RawType = bindings::usb_device_id;
}

// SAFETY: `DRIVER_DATA_OFFSET` is the offset of the `driver_info` field.
unsafe impl RawDeviceIdIndex for DeviceId {
    const DRIVER_DATA_OFFSET: usize = core::mem::offset_of!(bindings::usb_device_id, driver_info);
}

/// A USB driver's ID table, with the information `T` of each entry.
pub(crate) type IdTable<T> = &'static dyn kernel::device_id::IdTable<DeviceId, T>;

/// Declares a USB ID table and its alias for modpost (the `usb:` module alias
/// that makes udev load the module for a matching interface).
macro_rules! usb_device_table {
    ($($tt:tt)*) => {
        kernel::module_device_table!("usb", $crate::kext::usb::DeviceId, $($tt)*);
    };
}
pub(crate) use usb_device_table;
