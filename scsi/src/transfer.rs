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

#[cfg(test)]
mod tests {
    use super::*;

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
