// SPDX-License-Identifier: GPL-2.0

//! One LUN as a block device: its queue limits, derived from the LUN and the host
//! controller, and the gendisk (`/dev/uba`) whose requests go through the LUN's
//! queue to the device's worker.

use kernel::{prelude::*, sync::Arc};

use crate::{
    block::{
        device::{LunQueue, UbDevice, QUEUE_DEPTH},
        exec::MAX_SEGMENTS,
        probe::LunInfo,
    },
    bot::quirks::Quirks,
    kext::{
        blk::{Disk, DiskIdent, Limits},
        usb::{Endpoint, Interface},
    },
};

/// Largest request in 512-byte sectors: 1 MiB. usb-storage sends 120 KiB on high
/// speed for the sake of old devices; a quirk can lower this per device.
const MAX_HW_SECTORS: u32 = 2048;
/// The MAX_SECTORS_64 quirk's limit (32 KiB), as in usb-storage.
const QUIRK_MAX_SECTORS: u32 = 64;
/// What usb-storage asks of buffers (scsiglue.c): 512-byte alignment.
const DMA_ALIGNMENT: u32 = 511;

/// Creates and adds the disk for `lun` of `dev`.
pub(crate) fn add_disk(
    dev: &Arc<UbDevice>,
    lun: u8,
    intf: &Interface,
    info: &LunInfo,
    bulk_in: Endpoint,
    bulk_out: Endpoint,
    quirks: Quirks,
) -> Result<Disk> {
    let block_size = info.capacity.map_or(512, |c| c.block_size);
    let udev = intf.usb_device();
    // Controllers other than xHCI need every scatterlist entry but the last to be
    // a multiple of the max packet size (usb_submit_urb checks): tell the block
    // layer, as usb-storage does.
    let virt_boundary_mask = if udev.no_sg_constraint() {
        0
    } else {
        // Such a queue has no segment size limit: tell the DMA layer, or
        // DMA-API debug reports every entry over the PCI default of 64 KiB.
        udev.allow_any_segment_size();
        usize::from(bulk_in.max_packet().max(bulk_out.max_packet()).max(1)) - 1
    };
    // A request is mapped in one piece: never more than the controller's DMA
    // layer can map at once. The quirk and `ub/max_sectors` go below this.
    let (max_hw_sectors, max_hw_sectors_cap) = crate::scsi::transfer::max_hw_sectors(
        MAX_HW_SECTORS,
        quirks
            .contains(Quirks::MAX_SECTORS_64)
            .then_some(QUIRK_MAX_SECTORS),
        u64::try_from(udev.dma_max_mapping_size()).unwrap_or(u64::MAX),
        kernel::page::PAGE_SIZE as u32,
    );
    let lim = Limits {
        logical_block_size: block_size,
        physical_block_size: info.physical_block_size.max(block_size),
        max_hw_sectors,
        max_hw_sectors_cap,
        max_segments: crate::scsi::transfer::max_segments(udev.sg_tablesize(), MAX_SEGMENTS),
        // As sd: a discard is at most what one UNMAP may cover, and never
        // more than a 32-bit sector count holds.
        max_discard_sectors: info.discard.map_or(0, |d| {
            let sectors = u64::from(d.max_blocks) * u64::from(block_size / 512);
            u32::try_from(sectors).unwrap_or(u32::MAX)
        }),
        discard_granularity: info
            .discard
            .map_or(0, |d| d.granularity.saturating_mul(block_size)),
        virt_boundary_mask,
        dma_alignment: DMA_ALIGNMENT,
        write_cache: info.write_cache,
        fua: info.fua,
        rotational: info.rotational,
        io_timeout_ms: dev.with_io(|io| io.timeouts().io_ms),
    };
    let sectors = info.capacity.map_or(0, |c| c.bytes() >> 9);
    dev.set_lun_params(lun, block_size, info);
    let queue = LunQueue::new(dev, lun)?;
    let mut disk = Disk::new(
        queue,
        QUEUE_DEPTH,
        &lim,
        sectors,
        info.read_only,
        info.removable,
    )?;
    disk.add(
        intf.raw_device(),
        &DiskIdent {
            lun,
            vendor: info.ident.vendor(),
            model: info.ident.product(),
            rev: info.ident.revision(),
            serial: info.ident.serial(),
        },
    )?;
    Ok(disk)
}
