// SPDX-License-Identifier: GPL-2.0

//! The USB layer the kernel crate does not have yet. This module is the only
//! place the driver touches `struct usb_driver`, `struct usb_interface` and
//! `struct usb_device` directly.

mod driver;
mod id;
mod interface;
mod reset;
mod status;
mod sysfs;
mod udev;

pub(crate) use driver::{Adapter, Driver};
pub(crate) use id::{usb_device_table, DeviceId, IdTable};
pub(crate) use interface::{AutoPm, Interface, InterfaceRef};
pub(crate) use reset::PortReset;
pub(crate) use status::TransferError;
pub(crate) use sysfs::{SysfsCounters, SysfsKnobs};
pub(crate) use udev::{Endpoint, Pipe, UsbDevice, UsbDeviceRef};
