//! Logical block provisioning (SBC-3 4.7): whether a device can be told that
//! blocks are no longer in use (discard, TRIM), and how. The Logical Block
//! Provisioning VPD page (0xB2) says which commands unmap (UNMAP, WRITE SAME
//! with UNMAP), the Block Limits VPD page (0xB0) how much one UNMAP may cover
//! and at which granularity. The decision is sd's (`sd_discard_mode()` and
//! `sd_read_block_limits()` in `drivers/scsi/sd.c`), limited to UNMAP: a
//! device that offers only WRITE SAME gets no discard (WRITE SAME needs a block
//! of data per command, which `ub`'s command buffer does not hold for every
//! block size).

use super::inquiry::InquiryError;

/// Page code of the Block Limits VPD page.
pub const VPD_BLOCK_LIMITS: u8 = 0xb0;
/// Page code of the Logical Block Provisioning VPD page.
pub const VPD_LB_PROVISIONING: u8 = 0xb2;
/// Bytes of an UNMAP parameter list with one block descriptor.
pub const UNMAP_PARAM_LEN: usize = 24;

/// What the Logical Block Provisioning VPD page says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Provisioning {
    /// LBPU: UNMAP unmaps.
    pub unmap: bool,
    /// LBPWS: WRITE SAME(16) with UNMAP unmaps.
    pub write_same_16: bool,
    /// LBPWS10: WRITE SAME(10) with UNMAP unmaps.
    pub write_same_10: bool,
}

/// What the Block Limits VPD page says about unmapping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockLimits {
    /// MAXIMUM UNMAP LBA COUNT: blocks one UNMAP may cover (0: none).
    pub max_unmap_blocks: u32,
    /// MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT (0: UNMAP not supported).
    pub max_unmap_descriptors: u32,
    /// OPTIMAL UNMAP GRANULARITY in blocks (0: not reported).
    pub unmap_granularity: u32,
}

/// Parses the Logical Block Provisioning VPD page.
pub fn parse_lb_provisioning(buf: &[u8]) -> Result<Provisioning, InquiryError> {
    let [_, page, _, _, _, flags, ..] = buf else {
        return Err(InquiryError::TooShort(buf.len()));
    };
    if *page != VPD_LB_PROVISIONING {
        return Err(InquiryError::WrongPage(*page));
    }
    Ok(Provisioning {
        unmap: flags & 0x80 != 0,
        write_same_16: flags & 0x40 != 0,
        write_same_10: flags & 0x20 != 0,
    })
}

fn be32(buf: &[u8], at: usize) -> u32 {
    match buf.get(at..at + 4) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}

/// Parses the Block Limits VPD page. As sd, the unmap fields count only in a
/// page long enough to hold them (PAGE LENGTH 0x3C, SBC-3); a shorter page
/// says nothing about unmapping.
pub fn parse_block_limits(buf: &[u8]) -> Result<BlockLimits, InquiryError> {
    let [_, page, len_hi, len_lo, ..] = buf else {
        return Err(InquiryError::TooShort(buf.len()));
    };
    if *page != VPD_BLOCK_LIMITS {
        return Err(InquiryError::WrongPage(*page));
    }
    let len = usize::from(u16::from_be_bytes([*len_hi, *len_lo]));
    if len < 0x3c || buf.len() < 36 {
        return Ok(BlockLimits::default());
    }
    Ok(BlockLimits {
        max_unmap_blocks: be32(buf, 20),
        max_unmap_descriptors: be32(buf, 24),
        unmap_granularity: be32(buf, 28),
    })
}

/// How a LUN discards, when it can.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Discard {
    /// Blocks one UNMAP may cover.
    pub max_blocks: u32,
    /// The granularity in blocks (at least 1).
    pub granularity: u32,
}

/// The discard a LUN gets from its provisioning and limits pages: UNMAP when
/// the device says UNMAP unmaps (LBPU) and allows at least one descriptor of at
/// least one block, as sd's `SD_LBP_UNMAP`. `None` otherwise.
pub fn discard(p: &Provisioning, l: &BlockLimits) -> Option<Discard> {
    if !p.unmap || l.max_unmap_blocks == 0 || l.max_unmap_descriptors == 0 {
        return None;
    }
    Some(Discard {
        max_blocks: l.max_unmap_blocks,
        granularity: l.unmap_granularity.max(1),
    })
}

/// The parameter list of an UNMAP of `blocks` blocks from `lba` (SBC-3 5.28.2):
/// the header and one block descriptor.
pub fn unmap_params(lba: u64, blocks: u32) -> [u8; UNMAP_PARAM_LEN] {
    let mut p = [0u8; UNMAP_PARAM_LEN];
    // UNMAP DATA LENGTH: the bytes after it; BLOCK DESCRIPTOR DATA LENGTH.
    p[0..2].copy_from_slice(&((UNMAP_PARAM_LEN - 2) as u16).to_be_bytes());
    p[2..4].copy_from_slice(&16u16.to_be_bytes());
    p[8..16].copy_from_slice(&lba.to_be_bytes());
    p[16..20].copy_from_slice(&blocks.to_be_bytes());
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    /// QEMU's scsi-hd pages: LBPU, LBPWS and LBPWS10 set; UNMAP of up to 1 GiB
    /// in one descriptor, granularity 4 KiB.
    fn qemu_pages(bs: u32) -> ([u8; 8], [u8; 64]) {
        let b2 = [0, 0xb2, 0, 4, 0, 0xe0, 2, 0];
        let mut b0 = [0u8; 64];
        b0[1] = 0xb0;
        b0[3] = 0x3c;
        b0[20..24].copy_from_slice(&((1u32 << 30) / bs).to_be_bytes());
        b0[24..28].copy_from_slice(&1u32.to_be_bytes());
        b0[28..32].copy_from_slice(&(4096 / bs).to_be_bytes());
        (b2, b0)
    }

    #[test]
    fn qemu_disk_discards_with_unmap() {
        let (b2, b0) = qemu_pages(512);
        let p = parse_lb_provisioning(&b2).unwrap();
        assert!(p.unmap && p.write_same_16 && p.write_same_10);
        let l = parse_block_limits(&b0).unwrap();
        assert_eq!(
            discard(&p, &l),
            Some(Discard {
                max_blocks: 2 * 1024 * 1024,
                granularity: 8
            })
        );
    }

    #[test]
    fn no_unmap_no_discard() {
        let (mut b2, b0) = qemu_pages(4096);
        b2[5] = 0x40; // WRITE SAME(16) only
        let p = parse_lb_provisioning(&b2).unwrap();
        assert_eq!(discard(&p, &parse_block_limits(&b0).unwrap()), None);
        let p = Provisioning {
            unmap: true,
            ..Default::default()
        };
        let mut l = parse_block_limits(&b0).unwrap();
        l.max_unmap_descriptors = 0;
        assert_eq!(discard(&p, &l), None, "no descriptors allowed");
        l.max_unmap_descriptors = 1;
        l.max_unmap_blocks = 0;
        assert_eq!(discard(&p, &l), None, "no blocks allowed");
        l.max_unmap_blocks = 8;
        l.unmap_granularity = 0;
        assert_eq!(discard(&p, &l).map(|d| d.granularity), Some(1));
    }

    #[test]
    fn short_or_wrong_pages() {
        assert_eq!(
            parse_lb_provisioning(&[0, 0xb2, 0, 0]),
            Err(InquiryError::TooShort(4))
        );
        assert_eq!(
            parse_lb_provisioning(&[0, 0xb0, 0, 4, 0, 0xe0]),
            Err(InquiryError::WrongPage(0xb0))
        );
        let (_, mut b0) = qemu_pages(512);
        b0[3] = 0x10; // an SBC-2 page: no unmap fields
        assert_eq!(parse_block_limits(&b0), Ok(BlockLimits::default()));
        assert_eq!(parse_block_limits(&b0[..3]), Err(InquiryError::TooShort(3)));
        b0[3] = 0x3c;
        assert_eq!(
            parse_block_limits(&b0[..30]),
            Ok(BlockLimits::default()),
            "page cut short"
        );
    }

    #[test]
    fn unmap_parameter_list() {
        let p = unmap_params(0x1122_3344_5566, 0x0102_0304);
        assert_eq!(&p[..8], &[0, 22, 0, 16, 0, 0, 0, 0]);
        assert_eq!(&p[8..16], &[0, 0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66]);
        assert_eq!(&p[16..24], &[1, 2, 3, 4, 0, 0, 0, 0]);
    }
}
