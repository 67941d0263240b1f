//! Parsing of READ CAPACITY(10) and READ CAPACITY(16) data (SBC-3 5.15,
//! 5.16) and the checks that turn it into a disk size the driver can trust.

/// Length of READ CAPACITY(10) data.
pub const READ_CAPACITY_10_LEN: usize = 8;
/// Full length of READ CAPACITY(16) data, the allocation length to ask for.
pub const READ_CAPACITY_16_LEN: usize = 32;
/// Smallest logical block size the driver supports.
pub const MIN_BLOCK_SIZE: u32 = 512;
/// Largest logical block size the driver supports.
pub const MAX_BLOCK_SIZE: u32 = 4096;

/// Why capacity data is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapacityError {
    /// The device returned only this many bytes.
    TooShort(usize),
    /// READ CAPACITY(10) returned last LBA 0xFFFFFFFF: the disk is too big
    /// for it. Not a failure: issue READ CAPACITY(16) instead.
    Needs16,
    /// All-zero data (last LBA 0, block length 0): card readers answer so
    /// when no medium is inserted. The driver should treat the disk as empty.
    Empty,
    /// The block length is zero or not a power of two.
    BadBlockSize(u32),
    /// A power-of-two block length outside
    /// [`MIN_BLOCK_SIZE`]`..=`[`MAX_BLOCK_SIZE`].
    UnsupportedBlockSize(u32),
    /// Last LBA `u64::MAX`: one more block than a `u64` can count.
    AbsurdLba,
    /// The size in bytes does not fit in a `u64`.
    Overflow,
}

/// A validated disk size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// Number of logical blocks (last LBA + 1), never zero.
    pub blocks: u64,
    /// Logical block size in bytes: a power of two in
    /// [`MIN_BLOCK_SIZE`]`..=`[`MAX_BLOCK_SIZE`].
    pub block_size: u32,
}

impl Capacity {
    /// Size of the disk in bytes; cannot overflow (checked at construction).
    pub fn bytes(&self) -> u64 {
        self.blocks.saturating_mul(u64::from(self.block_size))
    }

    fn from_last_lba(last_lba: u64, block_len: u32) -> Result<Capacity, CapacityError> {
        if last_lba == 0 && block_len == 0 {
            return Err(CapacityError::Empty);
        }
        if !block_len.is_power_of_two() {
            return Err(CapacityError::BadBlockSize(block_len));
        }
        if !(MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&block_len) {
            return Err(CapacityError::UnsupportedBlockSize(block_len));
        }
        let blocks = last_lba.checked_add(1).ok_or(CapacityError::AbsurdLba)?;
        blocks
            .checked_mul(u64::from(block_len))
            .ok_or(CapacityError::Overflow)?;
        Ok(Capacity {
            blocks,
            block_size: block_len,
        })
    }
}

/// READ CAPACITY(10) data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadCapacity10 {
    /// RETURNED LOGICAL BLOCK ADDRESS: the last LBA.
    pub last_lba: u32,
    /// LOGICAL BLOCK LENGTH IN BYTES.
    pub block_len: u32,
}

impl ReadCapacity10 {
    /// Parses the data; bytes past the eighth are ignored.
    pub fn parse(buf: &[u8]) -> Result<ReadCapacity10, CapacityError> {
        let [l0, l1, l2, l3, b0, b1, b2, b3, ..] = *buf else {
            return Err(CapacityError::TooShort(buf.len()));
        };
        Ok(ReadCapacity10 {
            last_lba: u32::from_be_bytes([l0, l1, l2, l3]),
            block_len: u32::from_be_bytes([b0, b1, b2, b3]),
        })
    }

    /// Validates the data into a [`Capacity`].
    pub fn capacity(&self) -> Result<Capacity, CapacityError> {
        if self.last_lba == u32::MAX {
            return Err(CapacityError::Needs16);
        }
        Capacity::from_last_lba(u64::from(self.last_lba), self.block_len)
    }

    /// The capacity for a device that must not get READ CAPACITY(16): what the
    /// data names, taking `0xffffffff` ("use (16)") as the last LBA itself, as sd
    /// does for such devices.
    pub fn capacity_without_16(&self) -> Result<Capacity, CapacityError> {
        Capacity::from_last_lba(u64::from(self.last_lba), self.block_len)
    }
}

/// READ CAPACITY(16) data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadCapacity16 {
    /// RETURNED LOGICAL BLOCK ADDRESS: the last LBA.
    pub last_lba: u64,
    /// LOGICAL BLOCK LENGTH IN BYTES.
    pub block_len: u32,
    /// PROT_EN (byte 12, bit 0), when byte 12 was returned.
    pub prot_en: Option<bool>,
    /// LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT (byte 13, bits 3..0), when
    /// byte 13 was returned.
    pub lbppb_exponent: Option<u8>,
    /// LOWEST ALIGNED LOGICAL BLOCK ADDRESS (bytes 14..16, 14 bits), when
    /// both bytes were returned.
    pub lowest_aligned_lba: Option<u16>,
}

impl ReadCapacity16 {
    /// Parses the data; at least [`READ_CAPACITY_16_MIN_LEN`] bytes are
    /// required and the optional fields are read only when present.
    pub fn parse(buf: &[u8]) -> Result<ReadCapacity16, CapacityError> {
        let [l0, l1, l2, l3, l4, l5, l6, l7, b0, b1, b2, b3, rest @ ..] = buf else {
            return Err(CapacityError::TooShort(buf.len()));
        };
        Ok(ReadCapacity16 {
            last_lba: u64::from_be_bytes([*l0, *l1, *l2, *l3, *l4, *l5, *l6, *l7]),
            block_len: u32::from_be_bytes([*b0, *b1, *b2, *b3]),
            prot_en: rest.first().map(|b| b & 0x01 != 0),
            lbppb_exponent: rest.get(1).map(|b| b & 0x0F),
            lowest_aligned_lba: match rest.get(2..4) {
                Some(&[hi, lo]) => Some(u16::from_be_bytes([hi & 0x3F, lo])),
                _ => None,
            },
        })
    }

    /// Validates the data into a [`Capacity`].
    pub fn capacity(&self) -> Result<Capacity, CapacityError> {
        Capacity::from_last_lba(self.last_lba, self.block_len)
    }

    /// Physical block size in bytes (logical size shifted by the exponent),
    /// when the exponent was returned and the result fits a `u32`.
    pub fn physical_block_size(&self) -> Option<u32> {
        let exp = self.lbppb_exponent?;
        let size = u64::from(self.block_len) << exp;
        u32::try_from(size).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_read_capacity_10() {
        let d = [0x00, 0x3B, 0x9F, 0xFF, 0x00, 0x00, 0x02, 0x00];
        let rc = ReadCapacity10::parse(&d).unwrap();
        assert_eq!(
            rc,
            ReadCapacity10 {
                last_lba: 0x003B_9FFF,
                block_len: 512
            }
        );
        assert_eq!(
            rc.capacity(),
            Ok(Capacity {
                blocks: 0x003B_A000,
                block_size: 512
            })
        );
        assert_eq!(rc.capacity().unwrap().bytes(), 0x003B_A000 * 512);
        let mut long = [0u8; 12];
        long[..8].copy_from_slice(&d);
        assert_eq!(ReadCapacity10::parse(&long), Ok(rc));
        assert_eq!(
            ReadCapacity10::parse(&d[..7]),
            Err(CapacityError::TooShort(7))
        );
    }

    #[test]
    fn read_capacity_10_special_values() {
        let needs16 = ReadCapacity10::parse(&[0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 2, 0]).unwrap();
        assert_eq!(needs16.capacity(), Err(CapacityError::Needs16));
        assert_eq!(
            needs16.capacity_without_16(),
            Ok(Capacity {
                blocks: 1 << 32,
                block_size: 512
            })
        );
        let empty = ReadCapacity10::parse(&[0; 8]).unwrap();
        assert_eq!(empty.capacity(), Err(CapacityError::Empty));
        let one = ReadCapacity10::parse(&[0, 0, 0, 0, 0, 0, 0x10, 0]).unwrap();
        assert_eq!(
            one.capacity(),
            Ok(Capacity {
                blocks: 1,
                block_size: 4096
            })
        );
    }

    #[test]
    fn block_size_checks() {
        let cap = |bs: u32| {
            ReadCapacity10 {
                last_lba: 100,
                block_len: bs,
            }
            .capacity()
        };
        for ok in [512, 1024, 2048, 4096] {
            assert!(cap(ok).is_ok(), "{ok}");
        }
        assert_eq!(cap(0), Err(CapacityError::BadBlockSize(0)));
        assert_eq!(cap(520), Err(CapacityError::BadBlockSize(520)));
        assert_eq!(cap(u32::MAX), Err(CapacityError::BadBlockSize(u32::MAX)));
        assert_eq!(cap(256), Err(CapacityError::UnsupportedBlockSize(256)));
        assert_eq!(cap(8192), Err(CapacityError::UnsupportedBlockSize(8192)));
        assert_eq!(
            cap(1 << 31),
            Err(CapacityError::UnsupportedBlockSize(1 << 31))
        );
    }

    #[test]
    fn parses_read_capacity_16() {
        let mut d = [0u8; 32];
        d[0..8].copy_from_slice(&0x0000_0001_D1C0_BEAFu64.to_be_bytes());
        d[8..12].copy_from_slice(&4096u32.to_be_bytes());
        d[12] = 0x01;
        d[13] = 0x13; // P_I_EXPONENT 1, LBPPBE 3
        d[14] = 0xC0 | 0x01; // LBPME, LBPRZ, aligned LBA high bits
        d[15] = 0x02;
        let rc = ReadCapacity16::parse(&d).unwrap();
        assert_eq!(rc.last_lba, 0x0000_0001_D1C0_BEAF);
        assert_eq!(rc.block_len, 4096);
        assert_eq!(rc.prot_en, Some(true));
        assert_eq!(rc.lbppb_exponent, Some(3));
        assert_eq!(rc.lowest_aligned_lba, Some(0x0102));
        assert_eq!(rc.physical_block_size(), Some(32768));
        assert_eq!(
            rc.capacity(),
            Ok(Capacity {
                blocks: 0x0000_0001_D1C0_BEB0,
                block_size: 4096
            })
        );
    }

    #[test]
    fn read_capacity_16_short_forms() {
        let mut d = [0u8; 16];
        d[7] = 0x10;
        d[10] = 0x02;
        d[13] = 0x03;
        d[14] = 0x3F;
        d[15] = 0xFF;
        assert_eq!(
            ReadCapacity16::parse(&d[..11]),
            Err(CapacityError::TooShort(11))
        );
        let rc = ReadCapacity16::parse(&d[..12]).unwrap();
        assert_eq!((rc.last_lba, rc.block_len), (0x10, 512));
        assert_eq!(
            (rc.prot_en, rc.lbppb_exponent, rc.lowest_aligned_lba),
            (None, None, None)
        );
        assert_eq!(rc.physical_block_size(), None);
        let rc = ReadCapacity16::parse(&d[..14]).unwrap();
        assert_eq!(rc.prot_en, Some(false));
        assert_eq!(rc.lbppb_exponent, Some(3));
        assert_eq!(rc.lowest_aligned_lba, None);
        let rc = ReadCapacity16::parse(&d[..15]).unwrap();
        assert_eq!(rc.lowest_aligned_lba, None);
        let rc = ReadCapacity16::parse(&d).unwrap();
        assert_eq!(rc.lowest_aligned_lba, Some(0x3FFF));
    }

    #[test]
    fn read_capacity_16_hostile_values() {
        let rc = |last_lba: u64, block_len: u32| ReadCapacity16 {
            last_lba,
            block_len,
            prot_en: None,
            lbppb_exponent: Some(15),
            lowest_aligned_lba: None,
        };
        assert_eq!(rc(u64::MAX, 512).capacity(), Err(CapacityError::AbsurdLba));
        assert_eq!(
            rc(u64::MAX / 512, 512).capacity(),
            Err(CapacityError::Overflow)
        );
        assert_eq!(
            rc(u64::MAX / 512 - 1, 512).capacity(),
            Ok(Capacity {
                blocks: u64::MAX / 512,
                block_size: 512
            })
        );
        assert_eq!(rc(0, 0).capacity(), Err(CapacityError::Empty));
        assert_eq!(rc(0, 1 << 20).physical_block_size(), None);
        assert_eq!(rc(0, 512).physical_block_size(), Some(512 << 15));
    }
}
