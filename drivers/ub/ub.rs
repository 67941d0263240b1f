// SPDX-License-Identifier: GPL-2.0

//! `ub`: USB mass-storage devices speaking Bulk-Only Transport, driven directly as
//! blk-mq block devices with no SCSI midlayer.
//!
//! This file owns the module: its device table, its driver registration and what
//! happens when an interface is bound or released. The USB plumbing the kernel crate
//! lacks lives in [`usb`].

use kernel::{prelude::*, str::CString};

mod usb;

/// Interface class, subclass and protocol of a Bulk-Only mass-storage interface with
/// the SCSI transparent command set (USB MSC overview 1.4, tables 1 and 2).
const USB_CLASS_MASS_STORAGE: u8 = 0x08;
const USB_SC_SCSI: u8 = 0x06;
const USB_PR_BULK: u8 = 0x50;

kernel::usb_device_table!(
    UB_TABLE,
    (),
    [(
        kernel::usb::DeviceId::from_interface_info(
            USB_CLASS_MASS_STORAGE,
            USB_SC_SCSI,
            USB_PR_BULK
        ),
        ()
    )]
);

/// One bound Bulk-Only interface.
struct UbDevice {
    /// The interface's device name (`1-1:1.0`), for log lines after it is gone.
    name: CString,
}

struct UbDriver;

impl usb::Driver for UbDriver {
    type Data = UbDevice;
    const ID_TABLE: kernel::usb::IdTable<()> = &UB_TABLE;

    fn probe(intf: &usb::Interface) -> impl PinInit<UbDevice, Error> + '_ {
        let name = intf.name();
        let Some((bulk_in, bulk_out)) = intf.bulk_endpoints() else {
            pr_err!(
                "{}: no bulk-in and bulk-out endpoint pair: not a Bulk-Only interface\n",
                name
            );
            return Err(ENODEV);
        };
        let udev = intf.usb_device();
        pr_info!(
            "bound {:04x}:{:04x} {} bulk-in {:#04x} bulk-out {:#04x} maxpacket {} ({})\n",
            udev.vendor_id(),
            udev.product_id(),
            udev.speed(),
            bulk_in.address(),
            bulk_out.address(),
            bulk_in.max_packet(),
            name
        );
        Ok(UbDevice {
            name: CString::try_from(name)?,
        })
    }

    fn disconnect(_intf: &usb::Interface, data: Pin<&UbDevice>) {
        pr_info!("released {}\n", &*data.name);
    }
}

kernel::module_driver!(<T>, usb::Adapter<T>, {
    type: UbDriver,
    name: "ub",
    authors: ["The ub authors"],
    description: "USB mass-storage Bulk-Only Transport block driver",
    license: "GPL v2",
});
