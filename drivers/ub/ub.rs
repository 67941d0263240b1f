// SPDX-License-Identifier: GPL-2.0

//! `ub`: USB mass-storage devices speaking Bulk-Only Transport, driven directly as
//! blk-mq block devices with no SCSI midlayer.
//!
//! This file owns the module: its device table, its driver registration and what
//! happens when an interface is bound or released. The driver has three layers,
//! each a directory (Documentation/design.rst draws them):
//!
//! - the block driver, [`block`]: the bound device, its requests and worker, the
//!   command executor, a device's LUNs and their disks;
//! - the Bulk-Only engine, [`bot`]: one command from CBW to CSW, recovery, and
//!   the device's quirks, stage timeouts and counters;
//! - the kernel layer, [`kext`]: safe types over the kernel's USB and blk-mq C
//!   API and the bundled helpers, with `usbcore_sg` (DMA mapping, `usb_sg_*`).
//!   The only `unsafe` code is there: every module above it is compiled with
//!   `forbid(unsafe_code)`, so an `unsafe` block elsewhere does not build.

use kernel::{prelude::*, sync::Arc};

#[forbid(unsafe_code)]
mod block;
#[forbid(unsafe_code)]
mod bot;
mod kext;

#[path = "../../scsi/src/scsi.rs"]
#[allow(unreachable_pub)]
#[forbid(unsafe_code)]
mod scsi;

#[path = "../../usbcore_sg/sg.rs"]
mod usbcore_sg;

use block::{device::UbDevice, luns};
use bot::{counters, knobs, quirks};
use kext::{blk, usb};

/// Interface class, subclass and protocol of a Bulk-Only mass-storage interface with
/// the SCSI transparent command set (USB MSC overview 1.4, tables 1 and 2).
const USB_CLASS_MASS_STORAGE: u8 = 0x08;
const USB_SC_SCSI: u8 = 0x06;
const USB_PR_BULK: u8 = 0x50;

usb::usb_device_table!(
    UB_TABLE,
    (),
    [(
        usb::DeviceId::from_interface_info(USB_CLASS_MASS_STORAGE, USB_SC_SCSI, USB_PR_BULK),
        ()
    )]
);

/// One bound Bulk-Only interface: a disk per LUN and the device.
struct UbBinding {
    disks: KVec<blk::Disk>,
    dev: Arc<UbDevice>,
}

struct UbDriver;

impl usb::Driver for UbDriver {
    type Data = UbBinding;
    type Counters = counters::Counters;
    type Knobs = knobs::Knobs;
    const ID_TABLE: usb::IdTable<()> = &UB_TABLE;

    fn probe(
        intf: &usb::Interface,
        reset: Arc<usb::PortReset>,
    ) -> impl PinInit<UbBinding, Error> + '_ {
        let Some((bulk_in, bulk_out)) = intf.bulk_endpoints() else {
            dev_err!(
                intf.device(),
                "no bulk-in and bulk-out endpoint pair: not a Bulk-Only interface\n"
            );
            return Err(ENODEV);
        };
        let udev = intf.usb_device();
        let quirks = quirks::lookup(
            udev.vendor_id(),
            udev.product_id(),
            udev.release(),
            intf.device(),
        );
        if quirks.contains(quirks::Quirks::IGNORE_DEVICE) {
            dev_info!(
                intf.device(),
                "{:04x}:{:04x} ignored (quirk)\n",
                udev.vendor_id(),
                udev.product_id()
            );
            return Err(ENODEV);
        }
        dev_info!(
            intf.device(),
            "bound {:04x}:{:04x} {} bulk-in {:#04x} bulk-out {:#04x} maxpacket {}\n",
            udev.vendor_id(),
            udev.product_id(),
            udev.speed(),
            bulk_in.address(),
            bulk_out.address(),
            bulk_in.max_packet(),
        );
        let sg_tablesize = if module_parameters::debug_no_sg.value() {
            0
        } else {
            udev.sg_tablesize()
        };
        let pipeline =
            scsi::transfer::chain_allowed(module_parameters::pipeline.value(), sg_tablesize);
        if module_parameters::pipeline.value() && !pipeline {
            dev_info!(
                intf.device(),
                "the host controller has no scatter-gather: commands run stage by stage\n"
            );
        }
        let dev = UbDevice::new(
            intf,
            reset,
            bulk_in,
            bulk_out,
            bot::Setup {
                timeouts: bot::Timeouts {
                    cbw_ms: module_parameters::cbw_timeout_ms
                        .value()
                        .max(MIN_TIMEOUT_MS),
                    data_ms: module_parameters::data_timeout_ms
                        .value()
                        .max(MIN_TIMEOUT_MS),
                    csw_ms: module_parameters::csw_timeout_ms
                        .value()
                        .max(MIN_TIMEOUT_MS),
                    ctrl_ms: module_parameters::ctrl_timeout_ms
                        .value()
                        .max(MIN_TIMEOUT_MS),
                    io_ms: module_parameters::io_timeout_ms
                        .value()
                        .max(MIN_IO_TIMEOUT_MS),
                    deadline_ns: i64::MAX,
                },
                quirks,
                pipeline,
                port_reset_first: module_parameters::port_reset_first.value(),
                fail_port_resets: module_parameters::debug_fail_port_resets.value(),
            },
            module_parameters::direct.value(),
        )?;
        intf.publish_counters(dev.counters().clone())?;
        intf.publish_knobs(dev.with_io(|io| io.knobs()))?;
        let disks = luns::add_disks(&dev, intf, quirks, bulk_in, bulk_out)?;
        Ok(UbBinding { disks, dev })
    }

    fn disconnect(intf: &usb::Interface, data: Pin<&UbBinding>) {
        // Delete the disks first: that drains what blk-mq has in flight while the
        // worker still serves it; then stop the worker.
        for d in data.disks.iter() {
            d.delete();
        }
        data.dev.shutdown();
        dev_info!(intf.device(), "released\n");
    }

    fn pre_reset(data: Pin<&UbBinding>) {
        data.dev.pre_reset();
    }

    fn post_reset(data: Pin<&UbBinding>) {
        data.dev.post_reset();
    }

    fn suspend(data: Pin<&UbBinding>, auto: bool) -> Result {
        data.dev.suspend(auto)
    }

    fn resume(data: Pin<&UbBinding>) {
        data.dev.resume(false);
    }

    fn reset_resume(data: Pin<&UbBinding>) {
        data.dev.resume(true);
    }
}

/// The shortest stage timeout accepted; smaller parameter values are raised to it.
const MIN_TIMEOUT_MS: u32 = knobs::MIN_MS;
/// The shortest time a block request may be given (`io_timeout_ms`).
const MIN_IO_TIMEOUT_MS: u32 = 1000;

/// The module: the block major its disks use and the USB driver registration.
#[pin_data]
struct UbModule {
    // Dropped in this order: the driver goes (and with it every disk) before the
    // major is given back.
    #[pin]
    _driver: kernel::driver::Registration<usb::Adapter<UbDriver>>,
    _major: blk::Major,
}

impl kernel::InPlaceModule for UbModule {
    fn init(module: &'static kernel::ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            // Before the driver: its probe adds disks at once.
            _major: blk::Major::register(c"ub")?,
            _driver <- kernel::driver::Registration::new(
                <Self as kernel::ModuleMetadata>::NAME,
                module,
            ),
        })
    }
}

module! {
    type: UbModule,
    name: "ub",
    authors: ["The ub authors"],
    description: "USB mass-storage Bulk-Only Transport block driver",
    license: "GPL v2",
    params: {
        cbw_timeout_ms: u32 {
            default: 3000,
            description: "Milliseconds to wait for the device to take a command block (CBW)",
        },
        data_timeout_ms: u32 {
            default: 5000,
            description: "Milliseconds to wait for a command's data stage (up to 1 MiB)",
        },
        csw_timeout_ms: u32 {
            default: 5000,
            description: "Milliseconds to wait for a command's status (CSW)",
        },
        ctrl_timeout_ms: u32 {
            default: 1000,
            description: "Milliseconds to wait for a control request (reset, clear halt, GET MAX LUN) and for each stage of the check after a reset",
        },
        io_timeout_ms: u32 {
            default: 8000,
            description: "Milliseconds within which every block request ends, with its data or an error, retries and recovery included: the default of each disk's queue/io_timeout (read at probe; at least 1000)",
        },
        port_reset_first: bool {
            default: false,
            description: "Recover with a USB port reset before trying the Bulk-Only reset",
        },
        debug_no_sg: bool {
            default: false,
            description: "Testing only: treat every host controller as one without scatter-gather (sg_tablesize 0), as dwc2 or musb are (read at probe)",
        },
        debug_fail_port_resets: u32 {
            default: 0,
            description: "Testing only: the first N port resets of each device (read at probe) fail without being tried, as if the device did not re-enumerate: it is given up while still connected",
        },
        pipeline: bool {
            default: true,
            description: "Submit each stage of a command (CBW, data, CSW) from the previous stage's completion; 0 waits for each stage in turn (read at probe)",
        },
        direct: bool {
            default: true,
            description: "Run the first try of a request that finds the device idle in queue_rq (the submitter's context, or blk-mq's work item); 0 hands every request to the device's worker (read at probe)",
        },
    },
}
