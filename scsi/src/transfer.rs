//! How a command's data stage reaches the host controller, decided from what
//! the controller's bus can take: a whole scatterlist in one URB
//! (`sg_tablesize > 0`) or one URB per buffer (`sg_tablesize == 0`: dwc2 on
//! the Raspberry Pi, musb, max3421 and controllers with local memory).

/// Whether commands may run on the chained path, whose data stage is one URB
/// over the request's whole scatterlist with no transfer buffer. A bus without
/// scatter-gather cannot take that URB (its host controller driver would
/// transfer from address 0): such a device runs every command stage by stage,
/// through `usb_sg_init()`, which splits the list into one URB per entry.
/// `pipeline` is the driver's own setting.
pub fn chain_allowed(pipeline: bool, sg_tablesize: u32) -> bool {
    pipeline && sg_tablesize > 0
}

/// Scatterlist entries one request may have: the driver's own table size
/// `max`, but no more than the bus takes in one URB when it takes lists at all
/// (`sg_tablesize == 0` means one URB per entry, which any count allows).
pub fn max_segments(sg_tablesize: u32, max: u16) -> u16 {
    match sg_tablesize {
        0 => max,
        n => max.min(u16::try_from(n).unwrap_or(u16::MAX)),
    }
}

/// The request size limits of a disk, in 512-byte sectors: `(max, cap)`, the
/// limit it starts with and the most `ub/max_sectors` may raise it to. `cap` is
/// the driver's `most` but no more than the host controller's DMA layer maps at
/// once (`dma_max_bytes`); `max` is `cap`, or less when a quirk `wants` less.
/// Neither is ever below one page (`page_size` bytes): the block layer refuses
/// a queue whose largest request is smaller (`blk_validate_limits` warns), so
/// on 16 KiB and 64 KiB pages a quirk's 32 KiB gives way to a page.
pub fn max_hw_sectors(
    most: u32,
    wants: Option<u32>,
    dma_max_bytes: u64,
    page_size: u32,
) -> (u32, u32) {
    let page = (page_size >> 9).max(1);
    let dma = u32::try_from(dma_max_bytes >> 9).unwrap_or(u32::MAX);
    let cap = most.min(dma).max(page);
    let max = wants.map_or(cap, |w| w.min(cap)).max(page);
    (max, cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_limits_never_below_a_page() {
        let no_dma_limit = u64::MAX;
        for (page, floor) in [(4096, 8), (16384, 32), (65536, 128)] {
            // No quirk: 1 MiB on every page size.
            assert_eq!(max_hw_sectors(2048, None, no_dma_limit, page), (2048, 2048));
            // The 32 KiB quirk: a page where a page is larger.
            assert_eq!(
                max_hw_sectors(2048, Some(64), no_dma_limit, page),
                (64.max(floor), 2048)
            );
            // A DMA layer that maps less than a page at once (swiotlb cut
            // down): still a page, the block layer's floor.
            assert_eq!(max_hw_sectors(2048, None, 2048, page), (floor, floor));
            let (max, cap) = max_hw_sectors(2048, Some(1), 0, page);
            assert!(max >= floor && cap >= floor && max <= cap);
        }
        // swiotlb's 256 KiB.
        assert_eq!(max_hw_sectors(2048, None, 256 << 10, 4096), (512, 512));
        assert_eq!(max_hw_sectors(2048, Some(64), 256 << 10, 4096), (64, 512));
    }

    #[test]
    fn chain_needs_scatter_gather_and_the_setting() {
        assert!(chain_allowed(true, u32::MAX));
        assert!(chain_allowed(true, 1));
        assert!(!chain_allowed(true, 0));
        assert!(!chain_allowed(false, u32::MAX));
        assert!(!chain_allowed(false, 0));
    }

    #[test]
    fn segments_follow_a_small_table() {
        // xHCI, EHCI, OHCI, UHCI: ~0.
        assert_eq!(max_segments(u32::MAX, 256), 256);
        assert_eq!(max_segments(70_000, 256), 256);
        // A controller with a small table.
        assert_eq!(max_segments(16, 256), 16);
        assert_eq!(max_segments(1, 256), 1);
        // No scatter-gather: one URB per entry, the driver's own limit.
        assert_eq!(max_segments(0, 256), 256);
    }
}
