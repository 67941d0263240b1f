//! The Command Block Wrapper (BOT 1.0, section 5.1): the 31-byte packet that
//! carries a SCSI command to the device on the bulk-out pipe.
//!
//! Layout (all multi-byte fields little-endian):
//!
//! | bytes  | field                  |
//! |--------|------------------------|
//! | 0..4   | dCBWSignature "USBC"   |
//! | 4..8   | dCBWTag                |
//! | 8..12  | dCBWDataTransferLength |
//! | 12     | bmCBWFlags (bit 7: in) |
//! | 13     | bCBWLUN (bits 3..0)    |
//! | 14     | bCBWCBLength (1..=16)  |
//! | 15..31 | CBWCB                  |

/// `dCBWSignature`: "USBC" read as a little-endian `u32`.
pub const CBW_SIGNATURE: u32 = 0x4342_5355;
/// Length of an encoded CBW in bytes.
pub const CBW_LEN: usize = 31;
/// `bmCBWFlags` bit 7: the data stage goes from the device to the host.
pub const CBW_FLAG_DATA_IN: u8 = 0x80;
/// Highest logical unit number a CBW can address (4-bit field).
pub const MAX_LUN: u8 = 15;
/// Longest command block a CBW can carry.
pub const MAX_CB_LEN: usize = 16;

/// Direction of the data stage of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// No data stage; the transfer length must be zero.
    None,
    /// Data flows from the device to the host (bulk-in).
    In,
    /// Data flows from the host to the device (bulk-out).
    Out,
}

/// Why a CBW could not be built or decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CbwError {
    /// The LUN does not fit in the 4-bit `bCBWLUN` field.
    LunOutOfRange(u8),
    /// The command block is empty or longer than 16 bytes.
    BadCdbLength(usize),
    /// [`Direction::None`] with a non-zero length, or a data direction with a
    /// zero length.
    DirectionMismatch,
    /// A buffer to decode was not exactly [`CBW_LEN`] bytes long.
    #[cfg(not(MODULE))]
    BadLength(usize),
    /// A decoded CBW did not start with [`CBW_SIGNATURE`].
    #[cfg(not(MODULE))]
    BadSignature(u32),
    /// Reserved bits of `bmCBWFlags` or `bCBWLUN` were set.
    #[cfg(not(MODULE))]
    ReservedBits,
}

/// A validated Command Block Wrapper.
///
/// Only [`Cbw::new`] and [`Cbw::parse`] build one, so every value holds a LUN
/// in `0..=15`, a command block of 1 to 16 bytes and a direction consistent
/// with the transfer length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cbw {
    tag: u32,
    transfer_len: u32,
    direction: Direction,
    lun: u8,
    cb: [u8; MAX_CB_LEN],
    cb_len: u8,
}

impl Cbw {
    /// Builds a CBW for `cdb` addressed to `lun`, expecting `transfer_len`
    /// bytes of data in `direction`.
    ///
    /// A zero `transfer_len` requires [`Direction::None`] and a non-zero one
    /// requires [`Direction::In`] or [`Direction::Out`].
    pub fn new(
        tag: u32,
        transfer_len: u32,
        direction: Direction,
        lun: u8,
        cdb: &[u8],
    ) -> Result<Cbw, CbwError> {
        if lun > MAX_LUN {
            return Err(CbwError::LunOutOfRange(lun));
        }
        if (direction == Direction::None) != (transfer_len == 0) {
            return Err(CbwError::DirectionMismatch);
        }
        let mut cb = [0u8; MAX_CB_LEN];
        let dst = match cb.get_mut(..cdb.len()) {
            Some(dst) if !cdb.is_empty() => dst,
            _ => return Err(CbwError::BadCdbLength(cdb.len())),
        };
        dst.copy_from_slice(cdb);
        let cb_len = u8::try_from(cdb.len()).map_err(|_| CbwError::BadCdbLength(cdb.len()))?;
        Ok(Cbw {
            tag,
            transfer_len,
            direction,
            lun,
            cb,
            cb_len,
        })
    }

    /// Decodes a CBW, as a device would. Strict: exact length, signature,
    /// reserved bits clear, LUN and command block length in range.
    #[cfg(not(MODULE))]
    pub fn parse(buf: &[u8]) -> Result<Cbw, CbwError> {
        let raw: &[u8; CBW_LEN] = buf.try_into().map_err(|_| CbwError::BadLength(buf.len()))?;
        let [s0, s1, s2, s3, t0, t1, t2, t3, l0, l1, l2, l3, flags, lun, cb_len, cb @ ..] = *raw;
        let signature = u32::from_le_bytes([s0, s1, s2, s3]);
        if signature != CBW_SIGNATURE {
            return Err(CbwError::BadSignature(signature));
        }
        if flags & !CBW_FLAG_DATA_IN != 0 || lun & !MAX_LUN != 0 {
            return Err(CbwError::ReservedBits);
        }
        let transfer_len = u32::from_le_bytes([l0, l1, l2, l3]);
        let direction = match (transfer_len, flags & CBW_FLAG_DATA_IN != 0) {
            (0, _) => Direction::None,
            (_, true) => Direction::In,
            (_, false) => Direction::Out,
        };
        let cdb = cb
            .get(..usize::from(cb_len))
            .ok_or(CbwError::BadCdbLength(usize::from(cb_len)))?;
        Cbw::new(
            u32::from_le_bytes([t0, t1, t2, t3]),
            transfer_len,
            direction,
            lun,
            cdb,
        )
    }

    /// Encodes the CBW into its 31-byte wire form. Command block bytes past
    /// the command's length are zero.
    pub fn encode(&self) -> [u8; CBW_LEN] {
        let mut out = [0u8; CBW_LEN];
        out[0..4].copy_from_slice(&CBW_SIGNATURE.to_le_bytes());
        out[4..8].copy_from_slice(&self.tag.to_le_bytes());
        out[8..12].copy_from_slice(&self.transfer_len.to_le_bytes());
        out[12] = if self.direction == Direction::In {
            CBW_FLAG_DATA_IN
        } else {
            0
        };
        out[13] = self.lun;
        out[14] = self.cb_len;
        out[15..31].copy_from_slice(&self.cb);
        out
    }

    /// The tag the device must echo in its CSW.
    #[cfg(not(MODULE))]
    pub fn tag(&self) -> u32 {
        self.tag
    }

    /// Number of bytes the host expects to transfer in the data stage.
    #[cfg(not(MODULE))]
    pub fn transfer_len(&self) -> u32 {
        self.transfer_len
    }

    /// Direction of the data stage.
    #[cfg(not(MODULE))]
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// Logical unit the command is addressed to.
    #[cfg(not(MODULE))]
    pub fn lun(&self) -> u8 {
        self.lun
    }

    /// The command block, without padding.
    #[cfg(not(MODULE))]
    pub fn cdb(&self) -> &[u8] {
        self.cb.get(..usize::from(self.cb_len)).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_read10_byte_exact() {
        let cdb = [0x28, 0, 0x12, 0x34, 0x56, 0x78, 0, 0x01, 0x02, 0];
        let cbw = Cbw::new(0xDEAD_BEEF, 0x0002_0400, Direction::In, 3, &cdb).unwrap();
        let expected: [u8; 31] = [
            0x55, 0x53, 0x42, 0x43, // "USBC"
            0xEF, 0xBE, 0xAD, 0xDE, // tag
            0x00, 0x04, 0x02, 0x00, // transfer length
            0x80, // flags: data in
            0x03, // LUN
            0x0A, // CB length
            0x28, 0, 0x12, 0x34, 0x56, 0x78, 0, 0x01, 0x02, 0, // CDB
            0, 0, 0, 0, 0, 0, // padding
        ];
        assert_eq!(cbw.encode(), expected);
    }

    #[test]
    fn encodes_out_and_none_directions() {
        let out = Cbw::new(1, 512, Direction::Out, 0, &[0x2A; 10]).unwrap();
        assert_eq!(out.encode()[12], 0x00);
        let none = Cbw::new(2, 0, Direction::None, 15, &[0; 6]).unwrap();
        let bytes = none.encode();
        assert_eq!(&bytes[0..4], b"USBC");
        assert_eq!(bytes[12], 0x00);
        assert_eq!(bytes[13], 15);
        assert_eq!(bytes[14], 6);
    }

    #[test]
    fn sixteen_byte_cdb_fills_the_block() {
        let cdb: [u8; 16] = core::array::from_fn(|i| i as u8 + 1);
        let cbw = Cbw::new(7, 4096, Direction::In, 0, &cdb).unwrap();
        assert_eq!(&cbw.encode()[15..31], &cdb);
        assert_eq!(cbw.cdb(), &cdb);
    }

    #[test]
    fn rejects_bad_arguments() {
        assert_eq!(
            Cbw::new(0, 0, Direction::None, 16, &[0]),
            Err(CbwError::LunOutOfRange(16))
        );
        assert_eq!(
            Cbw::new(0, 0, Direction::None, 0, &[]),
            Err(CbwError::BadCdbLength(0))
        );
        assert_eq!(
            Cbw::new(0, 0, Direction::None, 0, &[0; 17]),
            Err(CbwError::BadCdbLength(17))
        );
        assert_eq!(
            Cbw::new(0, 8, Direction::None, 0, &[0]),
            Err(CbwError::DirectionMismatch)
        );
        assert_eq!(
            Cbw::new(0, 0, Direction::In, 0, &[0]),
            Err(CbwError::DirectionMismatch)
        );
    }

    #[test]
    fn parse_round_trips_and_rejects() {
        let cbw = Cbw::new(9, 36, Direction::In, 1, &[0x12, 0, 0, 0, 36, 0]).unwrap();
        let bytes = cbw.encode();
        assert_eq!(Cbw::parse(&bytes), Ok(cbw));
        assert_eq!(Cbw::parse(&bytes[..30]), Err(CbwError::BadLength(30)));
        let mut bad = bytes;
        bad[0] = b'X';
        assert!(matches!(Cbw::parse(&bad), Err(CbwError::BadSignature(_))));
        let mut bad = bytes;
        bad[12] = 0x81;
        assert_eq!(Cbw::parse(&bad), Err(CbwError::ReservedBits));
        let mut bad = bytes;
        bad[13] = 0x10;
        assert_eq!(Cbw::parse(&bad), Err(CbwError::ReservedBits));
        let mut bad = bytes;
        bad[14] = 17;
        assert_eq!(Cbw::parse(&bad), Err(CbwError::BadCdbLength(17)));
        bad[14] = 0;
        assert_eq!(Cbw::parse(&bad), Err(CbwError::BadCdbLength(0)));
    }
}
