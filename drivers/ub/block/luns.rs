// SPDX-License-Identifier: GPL-2.0

//! A bound device's LUNs: how many it has (GET MAX LUN, unless quirk `s`), a
//! probe of each, a disk for each usable one, and the line that announces it.
//! One LUN that cannot be used does not cost the others their disks.

use kernel::{device::Device, prelude::*, sync::Arc};

use crate::{
    block::{device::UbDevice, disk, probe},
    bot::quirks::{Quirks, QUIRKS_TEXT},
    kext::{
        blk,
        usb::{Endpoint, Interface},
    },
};

/// Probes every LUN of `dev` (bound on `intf`, with `quirks`) and adds a disk
/// for each usable one; the interface's identification comes from the first.
/// The disks, or the first error if no LUN is usable.
pub(crate) fn add_disks(
    dev: &Arc<UbDevice>,
    intf: &Interface,
    quirks: Quirks,
    bulk_in: Endpoint,
    bulk_out: Endpoint,
) -> Result<KVec<blk::Disk>> {
    let idev = intf.device();
    let max_lun = if quirks.contains(Quirks::SINGLE_LUN) {
        0
    } else {
        dev.with_io(|io| io.get_max_lun())
    };
    let luns = usize::from(max_lun) + 1;
    dev.reserve_luns(luns)?;
    let mut disks = KVec::with_capacity(luns, GFP_KERNEL)?;
    let mut first_err = None;
    for lun in 0..=max_lun {
        // One LUN that cannot be used (not a disk, broken) does not cost the
        // others their disks; the device is refused only if none is usable.
        let added = dev
            .with_io(|io| probe::probe_lun(io, lun, idev, io.quirks(), dev.fixed_inquiry()))
            .and_then(|info| {
                if disks.is_empty() {
                    // The interface's vendor/model/rev/serial: those of the first
                    // LUN with a disk; the quirks, with those learned so far.
                    let mut text = [0u8; QUIRKS_TEXT];
                    let text = dev.with_io(|io| io.quirks_text(&mut text));
                    intf.set_ident(
                        info.ident.vendor(),
                        info.ident.product(),
                        info.ident.revision(),
                        text,
                    )?;
                }
                let d = disk::add_disk(dev, lun, intf, &info, bulk_in, bulk_out, quirks)?;
                log_disk(&d, &info, idev, lun, luns);
                Ok(d)
            })
            // Room for every LUN was reserved: this push does not allocate.
            .and_then(|d| disks.push(d, GFP_KERNEL).map_err(Error::from));
        match added {
            Ok(()) => {}
            Err(e) => {
                if luns > 1 {
                    dev_warn!(idev, "LUN {}: no disk (error {})\n", lun, e.to_errno());
                }
                first_err.get_or_insert(e);
            }
        }
    }
    if disks.is_empty() {
        return Err(first_err.unwrap_or(ENODEV));
    }
    Ok(disks)
}

/// Logs what a new disk is: one line per LUN, on the interface, the disk
/// in brackets as sd puts it (`ub 1-1:1.0: [uba] ...`).
fn log_disk(disk: &blk::Disk, info: &probe::LunInfo, dev: &Device, lun: u8, luns: usize) {
    dev_info!(
        dev,
        "[{}] {} {} {} (LUN {}), {}{}, {} LUN(s)\n",
        disk.name(),
        info.ident.vendor(),
        info.ident.product(),
        info.ident.revision(),
        lun,
        Medium(info),
        if info.removable { ", removable" } else { "" },
        luns
    );
}

/// A LUN's medium for the log: size and properties, or its absence.
struct Medium<'a>(&'a probe::LunInfo);

impl kernel::fmt::Display for Medium<'_> {
    fn fmt(&self, f: &mut kernel::fmt::Formatter<'_>) -> kernel::fmt::Result {
        let info = self.0;
        let Some(cap) = info.capacity else {
            return f.write_str("no medium");
        };
        write!(
            f,
            "{} {}-byte blocks ({} MiB){}{}",
            cap.blocks,
            cap.block_size,
            cap.bytes() >> 20,
            if info.read_only { ", read-only" } else { "" },
            if info.write_cache {
                ", write cache"
            } else {
                ", no write cache"
            }
        )
    }
}
