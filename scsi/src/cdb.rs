//! Builders for the SCSI command descriptor blocks a USB disk driver sends,
//! byte-exact to the SPC-4 and SBC-3 layouts (multi-byte fields big-endian,
//! CONTROL byte zero).

/// TEST UNIT READY (SPC-4 6.47).
pub const TEST_UNIT_READY: u8 = 0x00;
/// REQUEST SENSE (SPC-4 6.39).
pub const REQUEST_SENSE: u8 = 0x03;
/// INQUIRY (SPC-4 6.6).
pub const INQUIRY: u8 = 0x12;
/// MODE SENSE(6) (SPC-4 6.11).
pub const MODE_SENSE_6: u8 = 0x1A;
/// START STOP UNIT (SBC-3 5.25).
pub const START_STOP_UNIT: u8 = 0x1B;
/// PREVENT ALLOW MEDIUM REMOVAL (SPC-4 6.13).
pub const PREVENT_ALLOW_MEDIUM_REMOVAL: u8 = 0x1E;
/// READ CAPACITY(10) (SBC-3 5.15).
pub const READ_CAPACITY_10: u8 = 0x25;
/// READ(10) (SBC-3 5.11).
pub const READ_10: u8 = 0x28;
/// WRITE(10) (SBC-3 5.35).
pub const WRITE_10: u8 = 0x2A;
/// SYNCHRONIZE CACHE(10) (SBC-3 5.26).
pub const SYNCHRONIZE_CACHE_10: u8 = 0x35;
/// MODE SENSE(10) (SPC-4 6.12).
pub const MODE_SENSE_10: u8 = 0x5A;
/// READ(16) (SBC-3 5.13).
pub const READ_16: u8 = 0x88;
/// WRITE(16) (SBC-3 5.37).
pub const WRITE_16: u8 = 0x8A;
/// SYNCHRONIZE CACHE(16) (SBC-3 5.27).
pub const SYNCHRONIZE_CACHE_16: u8 = 0x91;
/// SERVICE ACTION IN(16) (SBC-3 table 13).
pub const SERVICE_ACTION_IN_16: u8 = 0x9E;
/// SERVICE ACTION IN(16) service action for READ CAPACITY(16) (SBC-3 5.16).
pub const SAI_READ_CAPACITY_16: u8 = 0x10;
/// UNMAP (SBC-3 5.28).
pub const UNMAP: u8 = 0x42;
/// ATA PASS-THROUGH(12) (SAT-3 12.2.3): sent by tools through `SG_IO`.
pub const ATA_PASS_THROUGH_12: u8 = 0xA1;
/// ATA PASS-THROUGH(16) (SAT-3 12.2.2): sent by tools through `SG_IO`.
pub const ATA_PASS_THROUGH_16: u8 = 0x85;

/// Mode page code of the Caching mode page (SBC-3 6.4.5).
pub const MODE_PAGE_CACHING: u8 = 0x08;
/// Mode page code asking for all mode pages (SPC-4 table 452).
pub const MODE_PAGE_ALL: u8 = 0x3F;

/// Largest LBA + block count a 10-byte READ/WRITE can address (exclusive).
const LBA10_END: u64 = 1 << 32;

/// A command descriptor block of 6 to 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cdb {
    bytes: [u8; 16],
    len: u8,
}

impl Cdb {
    fn from_array<const N: usize>(cdb: [u8; N]) -> Cdb {
        let mut bytes = [0u8; 16];
        let len = match bytes.get_mut(..N) {
            Some(dst) => {
                dst.copy_from_slice(&cdb);
                N
            }
            None => 0,
        };
        Cdb {
            bytes,
            len: u8::try_from(len).unwrap_or(0),
        }
    }

    /// A command given as bytes (passthrough): 6 to 16 of them.
    pub fn from_bytes(cdb: &[u8]) -> Result<Cdb, CdbError> {
        let mut bytes = [0u8; 16];
        match bytes.get_mut(..cdb.len()) {
            Some(dst) if cdb.len() >= 6 => {
                dst.copy_from_slice(cdb);
                Ok(Cdb {
                    bytes,
                    len: cdb.len() as u8,
                })
            }
            _ => Err(CdbError::BadLength(cdb.len())),
        }
    }

    /// The command bytes, ready for [`super::cbw::Cbw::new`].
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// The operation code (first byte).
    pub fn opcode(&self) -> u8 {
        self.bytes[0]
    }

    /// The command's name, for log lines.
    pub fn name(&self) -> &'static str {
        name(self.opcode())
    }

    /// The logical block address a READ or WRITE (10 or 16) names, for log
    /// lines; `None` for other commands.
    pub fn lba(&self) -> Option<u64> {
        let be = |r: core::ops::Range<usize>| {
            self.as_bytes()
                .get(r)
                .map(|s| s.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
        };
        match self.opcode() {
            READ_10 | WRITE_10 => be(2..6),
            READ_16 | WRITE_16 => be(2..10),
            _ => None,
        }
    }
}

/// The name of the command with operation code `op`, for log lines; "command"
/// for one the driver does not know.
pub fn name(op: u8) -> &'static str {
    match op {
        TEST_UNIT_READY => "TEST UNIT READY",
        REQUEST_SENSE => "REQUEST SENSE",
        INQUIRY => "INQUIRY",
        MODE_SENSE_6 => "MODE SENSE(6)",
        MODE_SENSE_10 => "MODE SENSE(10)",
        START_STOP_UNIT => "START STOP UNIT",
        PREVENT_ALLOW_MEDIUM_REMOVAL => "PREVENT ALLOW MEDIUM REMOVAL",
        READ_CAPACITY_10 => "READ CAPACITY(10)",
        SERVICE_ACTION_IN_16 => "READ CAPACITY(16)",
        READ_10 => "READ(10)",
        WRITE_10 => "WRITE(10)",
        READ_16 => "READ(16)",
        WRITE_16 => "WRITE(16)",
        SYNCHRONIZE_CACHE_10 => "SYNCHRONIZE CACHE(10)",
        SYNCHRONIZE_CACHE_16 => "SYNCHRONIZE CACHE(16)",
        UNMAP => "UNMAP",
        ATA_PASS_THROUGH_12 => "ATA PASS-THROUGH(12)",
        ATA_PASS_THROUGH_16 => "ATA PASS-THROUGH(16)",
        _ => "command",
    }
}

/// Why a command could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CdbError {
    /// The block range does not fit the command's LBA field.
    LbaOutOfRange,
    /// The block count does not fit the command's TRANSFER LENGTH field.
    TooManyBlocks,
    /// A READ or WRITE of zero blocks was asked for.
    ZeroBlocks,
    /// A mode page code above 0x3F.
    BadPageCode(u8),
    /// A command of fewer than 6 or more than 16 bytes.
    BadLength(usize),
}

/// PAGE CONTROL field of MODE SENSE (SPC-4 6.11.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageControl {
    /// Current values.
    Current = 0,
    /// Changeable values (a mask).
    #[cfg(not(MODULE))]
    Changeable = 1,
    /// Default values.
    #[cfg(not(MODULE))]
    Default = 2,
    /// Saved values.
    #[cfg(not(MODULE))]
    Saved = 3,
}

/// INQUIRY: the standard data when `vpd_page` is `None`, otherwise the vital
/// product data page with that code (EVPD set).
///
/// SPC-2 and older devices have a one-byte ALLOCATION LENGTH at byte 4; an
/// `alloc_len` below 256 encodes the same for them.
pub fn inquiry(vpd_page: Option<u8>, alloc_len: u16) -> Cdb {
    let (evpd, page) = match vpd_page {
        Some(page) => (0x01, page),
        None => (0x00, 0x00),
    };
    let [hi, lo] = alloc_len.to_be_bytes();
    Cdb::from_array([INQUIRY, evpd, page, hi, lo, 0])
}

/// TEST UNIT READY.
pub fn test_unit_ready() -> Cdb {
    Cdb::from_array([TEST_UNIT_READY, 0, 0, 0, 0, 0])
}

/// REQUEST SENSE asking for fixed-format sense data (DESC = 0).
pub fn request_sense(alloc_len: u8) -> Cdb {
    Cdb::from_array([REQUEST_SENSE, 0, 0, 0, alloc_len, 0])
}

/// READ CAPACITY(10); the device returns 8 bytes.
pub fn read_capacity_10() -> Cdb {
    Cdb::from_array([READ_CAPACITY_10, 0, 0, 0, 0, 0, 0, 0, 0, 0])
}

/// READ CAPACITY(16) (SERVICE ACTION IN(16), service action 0x10).
pub fn read_capacity_16(alloc_len: u32) -> Cdb {
    let mut cdb = [0u8; 16];
    cdb[0] = SERVICE_ACTION_IN_16;
    cdb[1] = SAI_READ_CAPACITY_16;
    cdb[10..14].copy_from_slice(&alloc_len.to_be_bytes());
    Cdb::from_array(cdb)
}

fn rw10(opcode: u8, lba: u64, blocks: u32) -> Result<Cdb, CdbError> {
    if blocks == 0 {
        return Err(CdbError::ZeroBlocks);
    }
    let count = u16::try_from(blocks).map_err(|_| CdbError::TooManyBlocks)?;
    let end = lba.checked_add(u64::from(blocks));
    if end.is_none_or(|end| end > LBA10_END) {
        return Err(CdbError::LbaOutOfRange);
    }
    let lba = u32::try_from(lba).map_err(|_| CdbError::LbaOutOfRange)?;
    let mut cdb = [0u8; 10];
    cdb[0] = opcode;
    cdb[2..6].copy_from_slice(&lba.to_be_bytes());
    cdb[7..9].copy_from_slice(&count.to_be_bytes());
    Ok(Cdb::from_array(cdb))
}

fn rw16(opcode: u8, lba: u64, blocks: u32) -> Result<Cdb, CdbError> {
    if blocks == 0 {
        return Err(CdbError::ZeroBlocks);
    }
    // The last block read, lba + blocks - 1, must itself be addressable.
    if lba.checked_add(u64::from(blocks - 1)).is_none() {
        return Err(CdbError::LbaOutOfRange);
    }
    let mut cdb = [0u8; 16];
    cdb[0] = opcode;
    cdb[2..10].copy_from_slice(&lba.to_be_bytes());
    cdb[10..14].copy_from_slice(&blocks.to_be_bytes());
    Ok(Cdb::from_array(cdb))
}

fn fits_10(lba: u64, blocks: u32) -> bool {
    blocks <= u32::from(u16::MAX)
        && lba
            .checked_add(u64::from(blocks))
            .is_some_and(|end| end <= LBA10_END)
}

/// READ(10) of `blocks` blocks from `lba`. The whole range must lie below
/// 2^32 and `blocks` must be 1..=65535.
pub fn read_10(lba: u64, blocks: u32) -> Result<Cdb, CdbError> {
    rw10(READ_10, lba, blocks)
}

/// WRITE(10) of `blocks` blocks at `lba`, with the limits of [`read_10`].
pub fn write_10(lba: u64, blocks: u32) -> Result<Cdb, CdbError> {
    rw10(WRITE_10, lba, blocks)
}

/// READ(16) of `blocks` (at least one) blocks from `lba`.
pub fn read_16(lba: u64, blocks: u32) -> Result<Cdb, CdbError> {
    rw16(READ_16, lba, blocks)
}

/// WRITE(16) of `blocks` (at least one) blocks at `lba`.
pub fn write_16(lba: u64, blocks: u32) -> Result<Cdb, CdbError> {
    rw16(WRITE_16, lba, blocks)
}

/// FUA (Force Unit Access) in byte 1 of WRITE(10) and WRITE(16) (SBC-3 5.35).
const FUA: u8 = 0x08;

/// WRITE(10) or WRITE(16) as [`write`], with FUA set when `fua`: the device
/// reports completion only once the data is on the medium, not in its cache.
pub fn write_fua(lba: u64, blocks: u32, fua: bool) -> Result<Cdb, CdbError> {
    let mut cdb = write(lba, blocks)?;
    if fua {
        cdb.bytes[1] |= FUA;
    }
    Ok(cdb)
}

/// READ(10) when the range fits it, READ(16) otherwise. Many USB bridges
/// reject 16-byte commands, so the shorter form is preferred whenever it can
/// express the request.
pub fn read(lba: u64, blocks: u32) -> Result<Cdb, CdbError> {
    if fits_10(lba, blocks) {
        read_10(lba, blocks)
    } else {
        read_16(lba, blocks)
    }
}

/// WRITE(10) when the range fits it, WRITE(16) otherwise (see [`read`]).
pub fn write(lba: u64, blocks: u32) -> Result<Cdb, CdbError> {
    if fits_10(lba, blocks) {
        write_10(lba, blocks)
    } else {
        write_16(lba, blocks)
    }
}

fn page_byte(pc: PageControl, page_code: u8) -> Result<u8, CdbError> {
    if page_code > MODE_PAGE_ALL {
        return Err(CdbError::BadPageCode(page_code));
    }
    Ok(((pc as u8) << 6) | page_code)
}

/// MODE SENSE(6). `dbd` asks the device to leave out block descriptors.
pub fn mode_sense_6(
    dbd: bool,
    pc: PageControl,
    page_code: u8,
    subpage: u8,
    alloc_len: u8,
) -> Result<Cdb, CdbError> {
    let byte1 = if dbd { 0x08 } else { 0x00 };
    let byte2 = page_byte(pc, page_code)?;
    Ok(Cdb::from_array([
        MODE_SENSE_6,
        byte1,
        byte2,
        subpage,
        alloc_len,
        0,
    ]))
}

/// MODE SENSE(10) with LLBAA clear. `dbd` asks the device to leave out block
/// descriptors.
#[cfg(not(MODULE))]
pub fn mode_sense_10(
    dbd: bool,
    pc: PageControl,
    page_code: u8,
    subpage: u8,
    alloc_len: u16,
) -> Result<Cdb, CdbError> {
    let mut cdb = [0u8; 10];
    cdb[0] = MODE_SENSE_10;
    cdb[1] = if dbd { 0x08 } else { 0x00 };
    cdb[2] = page_byte(pc, page_code)?;
    cdb[3] = subpage;
    cdb[7..9].copy_from_slice(&alloc_len.to_be_bytes());
    Ok(Cdb::from_array(cdb))
}

/// SYNCHRONIZE CACHE(10) of `blocks` blocks from `lba`; zero blocks means
/// "through the last block", so `(0, 0)` flushes the whole cache.
pub fn synchronize_cache_10(lba: u32, blocks: u16, immed: bool) -> Cdb {
    let mut cdb = [0u8; 10];
    cdb[0] = SYNCHRONIZE_CACHE_10;
    cdb[1] = if immed { 0x02 } else { 0x00 };
    cdb[2..6].copy_from_slice(&lba.to_be_bytes());
    cdb[7..9].copy_from_slice(&blocks.to_be_bytes());
    Cdb::from_array(cdb)
}

/// SYNCHRONIZE CACHE(16), same meaning as [`synchronize_cache_10`].
#[cfg(not(MODULE))]
pub fn synchronize_cache_16(lba: u64, blocks: u32, immed: bool) -> Cdb {
    let mut cdb = [0u8; 16];
    cdb[0] = SYNCHRONIZE_CACHE_16;
    cdb[1] = if immed { 0x02 } else { 0x00 };
    cdb[2..10].copy_from_slice(&lba.to_be_bytes());
    cdb[10..14].copy_from_slice(&blocks.to_be_bytes());
    Cdb::from_array(cdb)
}

/// UNMAP with a parameter list of `param_len` bytes (from
/// [`super::provisioning::unmap_params`]).
pub fn unmap(param_len: u16) -> Cdb {
    let mut cdb = [0u8; 10];
    cdb[0] = UNMAP;
    cdb[7..9].copy_from_slice(&param_len.to_be_bytes());
    Cdb::from_array(cdb)
}

/// START STOP UNIT with POWER CONDITION 0: `start` spins up (or down),
/// `loej` loads (with `start`) or ejects (without) the medium, `immed`
/// returns before the operation completes.
pub fn start_stop_unit(start: bool, loej: bool, immed: bool) -> Cdb {
    let byte1 = u8::from(immed);
    let byte4 = (u8::from(loej) << 1) | u8::from(start);
    Cdb::from_array([START_STOP_UNIT, byte1, 0, 0, byte4, 0])
}

/// PREVENT ALLOW MEDIUM REMOVAL: `prevent` locks the medium in.
pub fn prevent_allow_medium_removal(prevent: bool) -> Cdb {
    Cdb::from_array([PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, u8::from(prevent), 0])
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_and_lbas_for_log_lines() {
        let r10 = read_10(0x1234_5678, 8).unwrap();
        assert_eq!((r10.name(), r10.lba()), ("READ(10)", Some(0x1234_5678)));
        let w16 = write_16(0x1_0000_0000, 1).unwrap();
        assert_eq!((w16.name(), w16.lba()), ("WRITE(16)", Some(0x1_0000_0000)));
        let tur = test_unit_ready();
        assert_eq!((tur.name(), tur.lba()), ("TEST UNIT READY", None));
        assert_eq!(unmap(24).name(), "UNMAP");
        assert_eq!(name(0xC0), "command");
    }

    use super::*;

    #[test]
    fn write_with_fua() {
        let c = write_fua(8, 2, true).unwrap();
        assert_eq!(c.as_bytes(), &[WRITE_10, 0x08, 0, 0, 0, 8, 0, 0, 2, 0]);
        assert_eq!(write_fua(8, 2, false).unwrap(), write(8, 2).unwrap());
        let c = write_fua(1 << 32, 1, true).unwrap();
        assert_eq!(c.as_bytes()[..2], [WRITE_16, 0x08]);
        assert_eq!(write_fua(0, 0, true), Err(CdbError::ZeroBlocks));
    }

    #[test]
    fn inquiry_layouts() {
        assert_eq!(inquiry(None, 36).as_bytes(), &[0x12, 0, 0, 0, 36, 0]);
        assert_eq!(
            inquiry(Some(0x80), 0x0104).as_bytes(),
            &[0x12, 0x01, 0x80, 0x01, 0x04, 0]
        );
    }

    #[test]
    fn simple_commands() {
        assert_eq!(test_unit_ready().as_bytes(), &[0, 0, 0, 0, 0, 0]);
        assert_eq!(request_sense(18).as_bytes(), &[0x03, 0, 0, 0, 18, 0]);
        assert_eq!(unmap(24).as_bytes(), &[0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0]);
        assert_eq!(
            read_capacity_10().as_bytes(),
            &[0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            read_capacity_16(32).as_bytes(),
            &[0x9E, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0]
        );
        assert_eq!(
            read_capacity_16(0x0102_0304).as_bytes()[10..14],
            [0x01, 0x02, 0x03, 0x04]
        );
        assert_eq!(test_unit_ready().opcode(), TEST_UNIT_READY);
    }

    #[test]
    fn read_write_10() {
        assert_eq!(
            read_10(0x1234_5678, 0x0102).unwrap().as_bytes(),
            &[0x28, 0, 0x12, 0x34, 0x56, 0x78, 0, 0x01, 0x02, 0]
        );
        assert_eq!(
            write_10(0xFFFF_FFFF, 1).unwrap().as_bytes(),
            &[0x2A, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0x00, 0x01, 0]
        );
        assert_eq!(
            read_10(0, 0xFFFF).unwrap().as_bytes(),
            &[0x28, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0]
        );
        assert_eq!(read_10(0, 0x1_0000), Err(CdbError::TooManyBlocks));
        assert_eq!(read_10(0x1_0000_0000, 1), Err(CdbError::LbaOutOfRange));
        assert_eq!(write_10(0xFFFF_FFFF, 2), Err(CdbError::LbaOutOfRange));
        assert_eq!(read_10(u64::MAX, 1), Err(CdbError::LbaOutOfRange));
        assert_eq!(read_10(5, 0), Err(CdbError::ZeroBlocks));
    }

    #[test]
    fn read_write_16() {
        #[rustfmt::skip]
        let expected = [
            0x88, 0,                                        // opcode, flags
            0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, // LBA
            0x11, 0x22, 0x33, 0x44,                         // transfer length
            0, 0,                                           // group, control
        ];
        let cdb = read_16(0x0102_0304_0506_0708, 0x1122_3344).unwrap();
        assert_eq!(cdb.as_bytes(), &expected);
        assert_eq!(
            write_16(u64::MAX, 1).unwrap().as_bytes(),
            &[0x8A, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 1, 0, 0]
        );
        assert_eq!(write_16(u64::MAX, 2), Err(CdbError::LbaOutOfRange));
        assert_eq!(read_16(0, 0), Err(CdbError::ZeroBlocks));
    }

    #[test]
    fn picks_10_or_16() {
        assert_eq!(read(0, 8).unwrap().opcode(), READ_10);
        assert_eq!(read(0xFFFF_FFF8, 8).unwrap().opcode(), READ_10);
        assert_eq!(read(0xFFFF_FFF8, 9).unwrap().opcode(), READ_16);
        assert_eq!(read(0, 0x1_0000).unwrap().opcode(), READ_16);
        assert_eq!(write(0x1_0000_0000, 1).unwrap().opcode(), WRITE_16);
        assert_eq!(write(7, 1).unwrap().opcode(), WRITE_10);
        assert_eq!(read(0, 0), Err(CdbError::ZeroBlocks));
        assert_eq!(write(u64::MAX, 2), Err(CdbError::LbaOutOfRange));
    }

    #[test]
    fn mode_sense_layouts() {
        assert_eq!(
            mode_sense_6(true, PageControl::Current, MODE_PAGE_CACHING, 0, 192)
                .unwrap()
                .as_bytes(),
            &[0x1A, 0x08, 0x08, 0x00, 192, 0]
        );
        assert_eq!(
            mode_sense_6(false, PageControl::Saved, MODE_PAGE_ALL, 0xFF, 4)
                .unwrap()
                .as_bytes(),
            &[0x1A, 0x00, 0xFF, 0xFF, 4, 0]
        );
        assert_eq!(
            mode_sense_10(true, PageControl::Changeable, 0x08, 0x01, 0x0200)
                .unwrap()
                .as_bytes(),
            &[0x5A, 0x08, 0x48, 0x01, 0, 0, 0, 0x02, 0x00, 0]
        );
        assert_eq!(
            mode_sense_10(false, PageControl::Default, 0x1C, 0, 8)
                .unwrap()
                .as_bytes(),
            &[0x5A, 0x00, 0x9C, 0x00, 0, 0, 0, 0, 8, 0]
        );
        assert_eq!(
            mode_sense_6(false, PageControl::Current, 0x40, 0, 4),
            Err(CdbError::BadPageCode(0x40))
        );
        assert_eq!(
            mode_sense_10(false, PageControl::Current, 0xFF, 0, 4),
            Err(CdbError::BadPageCode(0xFF))
        );
    }

    #[test]
    fn synchronize_cache_layouts() {
        assert_eq!(
            synchronize_cache_10(0, 0, false).as_bytes(),
            &[0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            synchronize_cache_10(0x0A0B_0C0D, 0x0102, true).as_bytes(),
            &[0x35, 0x02, 0x0A, 0x0B, 0x0C, 0x0D, 0, 0x01, 0x02, 0]
        );
        #[rustfmt::skip]
        let expected = [
            0x91, 0x02,                                     // opcode, IMMED
            0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, // LBA
            0x0A, 0x0B, 0x0C, 0x0D,                         // number of blocks
            0, 0,                                           // group, control
        ];
        let cdb = synchronize_cache_16(0x0102_0304_0506_0708, 0x0A0B_0C0D, true);
        assert_eq!(cdb.as_bytes(), &expected);
    }

    #[test]
    fn start_stop_and_removal() {
        assert_eq!(
            start_stop_unit(true, false, false).as_bytes(),
            &[0x1B, 0, 0, 0, 0x01, 0]
        );
        assert_eq!(
            start_stop_unit(false, true, true).as_bytes(),
            &[0x1B, 0x01, 0, 0, 0x02, 0]
        );
        assert_eq!(
            start_stop_unit(true, true, false).as_bytes(),
            &[0x1B, 0, 0, 0, 0x03, 0]
        );
        assert_eq!(
            prevent_allow_medium_removal(true).as_bytes(),
            &[0x1E, 0, 0, 0, 0x01, 0]
        );
        assert_eq!(
            prevent_allow_medium_removal(false).as_bytes(),
            &[0x1E, 0, 0, 0, 0x00, 0]
        );
    }

    #[test]
    fn from_bytes_bounds() {
        assert_eq!(Cdb::from_bytes(&[0; 5]), Err(CdbError::BadLength(5)));
        assert_eq!(Cdb::from_bytes(&[0; 17]), Err(CdbError::BadLength(17)));
        let c = Cdb::from_bytes(&[0x12, 0, 0, 0, 36, 0]).unwrap();
        assert_eq!(c.as_bytes(), &[0x12, 0, 0, 0, 36, 0]);
        assert_eq!(c.opcode(), 0x12);
        let c = Cdb::from_bytes(&[0x88; 16]).unwrap();
        assert_eq!(c.as_bytes().len(), 16);
    }
}
