//! Decoding of sense data (SPC-4 4.5), fixed and descriptor format, and the
//! two decisions the driver draws from it: which block-layer status a failed
//! request completes with ([`Sense::blk_status`]) and whether and how to
//! retry it ([`Sense::retry`]).
//!
//! Both decisions follow Linux's SCSI midlayer, which is what a USB disk
//! behind usb-storage gets: `scsi_check_sense()` in `drivers/scsi/scsi_error.c`
//! (the midlayer status it records and the retries it asks for),
//! `scsi_result_to_blk_status()` and `scsi_io_completion_action()` in
//! `drivers/scsi/scsi_lib.c` (the final `blk_status_t` and the delayed
//! retries), and `media_not_present()` in `drivers/scsi/sd.c`.

/// Well-known ADDITIONAL SENSE CODE values (SPC-4 table 28).
pub mod asc {
    /// LOGICAL UNIT NOT READY, with the reason in the ASCQ.
    pub const LUN_NOT_READY: u8 = 0x04;
    /// ID CRC OR ECC ERROR, and the protection information errors (DIF/DIX).
    pub const PROTECTION_ERROR: u8 = 0x10;
    /// UNRECOVERED READ ERROR.
    pub const UNRECOVERED_READ_ERROR: u8 = 0x11;
    /// ADDRESS MARK NOT FOUND FOR DATA FIELD.
    pub const ADDRESS_MARK_NOT_FOUND: u8 = 0x13;
    /// RECORDED ENTITY NOT FOUND.
    pub const RECORD_NOT_FOUND: u8 = 0x14;
    /// INVALID COMMAND OPERATION CODE.
    pub const INVALID_OPCODE: u8 = 0x20;
    /// LOGICAL BLOCK ADDRESS OUT OF RANGE.
    pub const LBA_OUT_OF_RANGE: u8 = 0x21;
    /// ILLEGAL FUNCTION.
    pub const INVALID_FUNCTION: u8 = 0x22;
    /// INVALID FIELD IN CDB.
    pub const INVALID_FIELD_IN_CDB: u8 = 0x24;
    /// LOGICAL UNIT NOT SUPPORTED.
    #[cfg(not(MODULE))]
    pub const LUN_NOT_SUPPORTED: u8 = 0x25;
    /// INVALID FIELD IN PARAMETER LIST (and other parameter value errors).
    pub const INVALID_PARAMETER: u8 = 0x26;
    /// WRITE PROTECTED (ASCQ 7: space allocation failed write protect).
    pub const WRITE_PROTECTED: u8 = 0x27;
    /// NOT READY TO READY CHANGE, MEDIUM MAY HAVE CHANGED (with ASCQ 0).
    pub const MEDIUM_MAY_HAVE_CHANGED: u8 = 0x28;
    /// COMMAND TIMEOUT (ASCQ 1..=3: command duration limit exceeded).
    pub const COMMAND_TIMEOUT: u8 = 0x2E;
    /// MEDIUM NOT PRESENT.
    pub const MEDIUM_NOT_PRESENT: u8 = 0x3A;
}

/// Well-known ADDITIONAL SENSE CODE QUALIFIER values, each named with the
/// ASC it qualifies (SPC-4 table 28).
pub mod ascq {
    /// With [`super::asc::LUN_NOT_READY`]: IN PROCESS OF BECOMING READY.
    #[cfg(not(MODULE))]
    pub const BECOMING_READY: u8 = 0x01;
    /// With [`super::asc::LUN_NOT_READY`]: INITIALIZING COMMAND REQUIRED;
    /// the unit needs START STOP UNIT.
    pub const INITIALIZING_COMMAND_REQUIRED: u8 = 0x02;
    /// With [`super::asc::WRITE_PROTECTED`]: SPACE ALLOCATION FAILED WRITE
    /// PROTECT (thin provisioning hard threshold reached).
    pub const SPACE_ALLOCATION_FAILED: u8 = 0x07;
}

/// SENSE KEY (SPC-4 table 27); all sixteen values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenseKey {
    /// 0h NO SENSE.
    NoSense,
    /// 1h RECOVERED ERROR: the command completed after recovery.
    RecoveredError,
    /// 2h NOT READY.
    NotReady,
    /// 3h MEDIUM ERROR.
    MediumError,
    /// 4h HARDWARE ERROR.
    HardwareError,
    /// 5h ILLEGAL REQUEST.
    IllegalRequest,
    /// 6h UNIT ATTENTION.
    UnitAttention,
    /// 7h DATA PROTECT.
    DataProtect,
    /// 8h BLANK CHECK.
    BlankCheck,
    /// 9h VENDOR SPECIFIC.
    VendorSpecific,
    /// Ah COPY ABORTED.
    CopyAborted,
    /// Bh ABORTED COMMAND.
    AbortedCommand,
    /// Ch reserved (formerly EQUAL).
    Reserved,
    /// Dh VOLUME OVERFLOW.
    VolumeOverflow,
    /// Eh MISCOMPARE.
    Miscompare,
    /// Fh COMPLETED.
    Completed,
}

impl SenseKey {
    /// The key in the low four bits of `value`.
    pub fn from_bits(value: u8) -> SenseKey {
        match value & 0x0F {
            0x0 => SenseKey::NoSense,
            0x1 => SenseKey::RecoveredError,
            0x2 => SenseKey::NotReady,
            0x3 => SenseKey::MediumError,
            0x4 => SenseKey::HardwareError,
            0x5 => SenseKey::IllegalRequest,
            0x6 => SenseKey::UnitAttention,
            0x7 => SenseKey::DataProtect,
            0x8 => SenseKey::BlankCheck,
            0x9 => SenseKey::VendorSpecific,
            0xA => SenseKey::CopyAborted,
            0xB => SenseKey::AbortedCommand,
            0xC => SenseKey::Reserved,
            0xD => SenseKey::VolumeOverflow,
            0xE => SenseKey::Miscompare,
            _ => SenseKey::Completed,
        }
    }
}

/// The block-layer completion status a sense leads to, named after the
/// kernel's `blk_status_t` value it stands for (the driver maps each variant to
/// the value of the same name); no numeric value is implied here, since the
/// kernel has renumbered them over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlkStatus {
    /// `BLK_STS_OK`.
    Ok,
    /// `BLK_STS_NOSPC`: critical space allocation failure.
    NoSpc,
    /// `BLK_STS_TARGET`: critical target failure; not worth retrying.
    Target,
    /// `BLK_STS_MEDIUM`: critical medium failure.
    Medium,
    /// `BLK_STS_PROTECTION`: protection information error.
    Protection,
    /// `BLK_STS_IOERR`: any other I/O error.
    IoErr,
}

/// What the driver should do about a failed command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Do not retry: complete the request with [`Sense::blk_status`].
    No,
    /// Retry at once, within the driver's bounded retry budget.
    Yes,
    /// The unit is busy becoming ready (LOGICAL UNIT NOT READY with an
    /// "in progress" qualifier): retry after a delay, within the budget.
    Delayed,
    /// The unit needs START STOP UNIT (NOT READY, INITIALIZING COMMAND
    /// REQUIRED): start it, then retry.
    NeedsStart,
    /// UNIT ATTENTION, MEDIUM MAY HAVE CHANGED: revalidate the medium
    /// (capacity, write protect) before any further I/O.
    MediaChanged,
    /// MEDIUM NOT PRESENT: report the medium as gone.
    NoMedium,
}

/// Why sense data could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenseError {
    /// Too few bytes to hold the sense key.
    TooShort(usize),
    /// RESPONSE CODE other than 70h..=73h.
    BadResponseCode(u8),
}

/// Decoded sense data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sense {
    /// SENSE KEY.
    pub key: SenseKey,
    /// ADDITIONAL SENSE CODE; 0 when not returned.
    pub asc: u8,
    /// ADDITIONAL SENSE CODE QUALIFIER; 0 when not returned.
    pub ascq: u8,
    /// The error belongs to an earlier command (response code 71h/73h).
    pub deferred: bool,
    /// INFORMATION field (usually the failing LBA), when marked valid.
    pub info: Option<u64>,
}

/// Fixed format, current error.
const FIXED_CURRENT: u8 = 0x70;
/// Fixed format, deferred error.
const FIXED_DEFERRED: u8 = 0x71;
/// Descriptor format, current error.
const DESC_CURRENT: u8 = 0x72;
/// Descriptor format, deferred error.
const DESC_DEFERRED: u8 = 0x73;
/// Information sense data descriptor type (SPC-4 4.5.2.2).
const DESC_TYPE_INFORMATION: u8 = 0x00;

/// Clamps sense data to the ADDITIONAL SENSE LENGTH at byte 7, as Linux's
/// `scsi_normalize_sense()` does; data of 8 bytes or fewer is kept whole.
fn clamp_to_additional_length(buf: &[u8]) -> &[u8] {
    match buf.get(7) {
        Some(&add_len) => buf.get(..8 + usize::from(add_len)).unwrap_or(buf),
        None => buf,
    }
}

fn parse_fixed(buf: &[u8], deferred: bool) -> Result<Sense, SenseError> {
    let key_byte = *buf.get(2).ok_or(SenseError::TooShort(buf.len()))?;
    let valid = clamp_to_additional_length(buf);
    // VALID bit (byte 0, bit 7) qualifies the INFORMATION field, bytes 3..7.
    let info = match buf.get(3..7) {
        Some(&[a, b, c, d]) if buf.first().is_some_and(|b0| b0 & 0x80 != 0) => {
            Some(u64::from(u32::from_be_bytes([a, b, c, d])))
        }
        _ => None,
    };
    Ok(Sense {
        key: SenseKey::from_bits(key_byte),
        asc: valid.get(12).copied().unwrap_or(0),
        ascq: valid.get(13).copied().unwrap_or(0),
        deferred,
        info,
    })
}

fn parse_descriptor(buf: &[u8], deferred: bool) -> Result<Sense, SenseError> {
    let key_byte = *buf.get(1).ok_or(SenseError::TooShort(buf.len()))?;
    let valid = clamp_to_additional_length(buf);
    let mut info = None;
    let mut descriptors = valid.get(8..).unwrap_or(&[]);
    while let [kind, len, rest @ ..] = descriptors {
        let body = rest.get(..usize::from(*len)).unwrap_or(rest);
        if *kind == DESC_TYPE_INFORMATION && info.is_none() {
            // VALID bit at descriptor byte 2, INFORMATION at bytes 4..12.
            if let [flags, _, i0, i1, i2, i3, i4, i5, i6, i7, ..] = *body {
                if flags & 0x80 != 0 {
                    info = Some(u64::from_be_bytes([i0, i1, i2, i3, i4, i5, i6, i7]));
                }
            }
        }
        descriptors = rest.get(usize::from(*len)..).unwrap_or(&[]);
    }
    Ok(Sense {
        key: SenseKey::from_bits(key_byte),
        asc: valid.get(2).copied().unwrap_or(0),
        ascq: valid.get(3).copied().unwrap_or(0),
        deferred,
        info,
    })
}

impl Sense {
    /// Decodes fixed-format (70h/71h) or descriptor-format (72h/73h) sense
    /// data. Like Linux, it needs only the bytes up to the sense key; absent
    /// ASC and ASCQ read as zero.
    pub fn parse(buf: &[u8]) -> Result<Sense, SenseError> {
        let first = *buf.first().ok_or(SenseError::TooShort(0))?;
        match first & 0x7F {
            FIXED_CURRENT => parse_fixed(buf, false),
            FIXED_DEFERRED => parse_fixed(buf, true),
            DESC_CURRENT => parse_descriptor(buf, false),
            DESC_DEFERRED => parse_descriptor(buf, true),
            other => Err(SenseError::BadResponseCode(other)),
        }
    }

    /// MEDIUM NOT PRESENT, reported with NOT READY or UNIT ATTENTION as
    /// `media_not_present()` in sd.c accepts it.
    pub fn no_medium(&self) -> bool {
        matches!(self.key, SenseKey::NotReady | SenseKey::UnitAttention)
            && self.asc == asc::MEDIUM_NOT_PRESENT
    }

    /// The status to complete a request with when this sense data ends its
    /// command (after any retries), for a CHECK CONDITION status.
    ///
    /// The midlayer status `scsi_check_sense()` records decides first, then
    /// `scsi_io_completion_action()` refines current (not deferred) errors.
    /// Everything else is `BLK_STS_IOERR`, as `scsi_result_to_blk_status()`
    /// gives for a CHECK CONDITION without a midlayer status.
    pub fn blk_status(&self) -> BlkStatus {
        let current = !self.deferred;
        match self.key {
            // SPC-4: RECOVERED ERROR means the command completed. Linux's
            // scsi_io_completion_nz_result() completes it with BLK_STS_OK.
            SenseKey::RecoveredError => BlkStatus::Ok,
            // Unrecovered read error, address mark or record not found:
            // SCSIML_STAT_MED_ERROR -> BLK_STS_MEDIUM. Other medium errors
            // carry no midlayer status -> BLK_STS_IOERR.
            SenseKey::MediumError => match self.asc {
                asc::UNRECOVERED_READ_ERROR
                | asc::ADDRESS_MARK_NOT_FOUND
                | asc::RECORD_NOT_FOUND => BlkStatus::Medium,
                _ => BlkStatus::IoErr,
            },
            // HARDWARE ERROR without the retry_hwerror quirk:
            // SCSIML_STAT_TGT_FAILURE -> BLK_STS_TARGET.
            SenseKey::HardwareError => BlkStatus::Target,
            // ILLEGAL REQUEST: DIX protection error (ASC 10h) on a current
            // error -> BLK_STS_PROTECTION; the ASCs Linux lists as permanent
            // target failures (invalid opcode, LBA out of range, invalid
            // function, invalid field in CDB, parameter value invalid, write
            // protected) -> BLK_STS_TARGET; others -> BLK_STS_IOERR.
            SenseKey::IllegalRequest => match self.asc {
                asc::PROTECTION_ERROR if current => BlkStatus::Protection,
                asc::INVALID_OPCODE
                | asc::LBA_OUT_OF_RANGE
                | asc::INVALID_FUNCTION
                | asc::INVALID_FIELD_IN_CDB
                | asc::INVALID_PARAMETER
                | asc::WRITE_PROTECTED => BlkStatus::Target,
                _ => BlkStatus::IoErr,
            },
            // ABORTED COMMAND: DIF error (ASC 10h) on a current error ->
            // BLK_STS_PROTECTION; otherwise BLK_STS_IOERR once the retries
            // are spent.
            SenseKey::AbortedCommand if self.asc == asc::PROTECTION_ERROR && current => {
                BlkStatus::Protection
            }
            // DATA PROTECT: space allocation failed write protect (27h/07h,
            // thin provisioning hard threshold) -> SCSIML_STAT_NOSPC ->
            // BLK_STS_NOSPC; any other -> SCSIML_STAT_TGT_FAILURE ->
            // BLK_STS_TARGET. (Linux's zoned-device refinement to
            // BLK_STS_ZONE_OPEN_RESOURCE does not apply to this driver.)
            SenseKey::DataProtect
                if self.asc == asc::WRITE_PROTECTED
                    && self.ascq == ascq::SPACE_ALLOCATION_FAILED =>
            {
                BlkStatus::NoSpc
            }
            SenseKey::DataProtect => BlkStatus::Target,
            // BLANK CHECK, COPY ABORTED, VOLUME OVERFLOW, MISCOMPARE:
            // SCSIML_STAT_TGT_FAILURE -> BLK_STS_TARGET.
            SenseKey::BlankCheck
            | SenseKey::CopyAborted
            | SenseKey::VolumeOverflow
            | SenseKey::Miscompare => BlkStatus::Target,
            // NO SENSE on a failed command (usb-storage turns empty sense of
            // a failed command into a hardware error so that it ends in an
            // I/O error), NOT READY, UNIT ATTENTION, other ABORTED COMMAND,
            // VENDOR SPECIFIC, reserved Ch and COMPLETED (whose command
            // duration limit case, 55h/0Ah, needs CDL, which USB disks do
            // not use): no midlayer status -> BLK_STS_IOERR.
            SenseKey::NoSense
            | SenseKey::NotReady
            | SenseKey::UnitAttention
            | SenseKey::AbortedCommand
            | SenseKey::VendorSpecific
            | SenseKey::Reserved
            | SenseKey::Completed => BlkStatus::IoErr,
        }
    }

    /// The status for a command that ended in CHECK CONDITION with this sense
    /// data, given whether its data stage moved every byte (`all_moved`; true
    /// for a command without data). RECOVERED ERROR means the command
    /// completed, but a device that says so and moved nothing (or part) did not
    /// complete it: success would hand stale memory to a reader, and count a
    /// write that never happened as written.
    pub fn blk_status_after(&self, all_moved: bool) -> BlkStatus {
        match self.key {
            SenseKey::RecoveredError if !all_moved => BlkStatus::IoErr,
            _ => self.blk_status(),
        }
    }

    /// Bytes of a failed READ or WRITE of `blocks` blocks of `block_size` bytes
    /// from `lba` that completed before the error, of the `transferred` bytes
    /// its data stage moved: `sd_completed_bytes()`. A medium or hardware
    /// error (or a protection error) whose INFORMATION names a block inside the
    /// command says the blocks before it are good; anything else says nothing,
    /// and nothing completes. A command of one block has nothing before it.
    pub fn completed_bytes(&self, lba: u64, blocks: u64, block_size: u32, transferred: u64) -> u64 {
        let located = match self.key {
            SenseKey::MediumError | SenseKey::HardwareError => true,
            SenseKey::AbortedCommand => self.asc == asc::PROTECTION_ERROR,
            _ => false,
        };
        let Some(bad) = self.info else {
            return 0;
        };
        if !located || self.deferred || blocks <= 1 || bad < lba || bad - lba >= blocks {
            return 0;
        }
        ((bad - lba) * u64::from(block_size)).min(transferred)
    }

    /// [`Sense::retry`] for a command whose data stage moved every byte
    /// (`all_moved`) or not: a RECOVERED ERROR that left data missing is retried
    /// (within the budget) like any other transient error.
    pub fn retry_after(&self, all_moved: bool) -> Retry {
        match self.key {
            SenseKey::RecoveredError if !self.deferred && !all_moved => Retry::Yes,
            _ => self.retry(),
        }
    }

    /// Whether and how to retry the command that returned this sense data.
    ///
    /// Every [`Retry::Yes`] and [`Retry::Delayed`] must be bounded by the
    /// driver's retry budget, as the midlayer bounds them with the command's
    /// allowed retries and run time.
    pub fn retry(&self) -> Retry {
        // A deferred error reports on an earlier command; Linux fails the
        // current one (scsi_io_completion_action() only retries current
        // errors).
        if self.deferred {
            return Retry::No;
        }
        // sd.c media_not_present(): NOT READY or UNIT ATTENTION with ASC 3Ah.
        if self.no_medium() {
            return Retry::NoMedium;
        }
        match self.key {
            // Empty sense for a failed command: usb-storage reports it as
            // DID_ERROR, which the midlayer retries a bounded number of times.
            SenseKey::NoSense => Retry::Yes,
            // NOT READY, LOGICAL UNIT NOT READY: "becoming ready" and the
            // "... in progress" qualifiers that scsi_io_completion_action()
            // retries after a delay (ACTION_DELAYED_RETRY, and the ALUA
            // transition 0Ah it delays too). "Initializing command required"
            // is what sd's error handler answers with START STOP UNIT
            // (usb-storage sets allow_restart); the driver does the same,
            // then tries the command again.
            SenseKey::NotReady if self.asc == asc::LUN_NOT_READY => match self.ascq {
                ascq::INITIALIZING_COMMAND_REQUIRED => Retry::NeedsStart,
                0x01 | 0x04..=0x0A | 0x11 | 0x14 | 0x1A | 0x1B | 0x1D | 0x24 | 0x25 => {
                    Retry::Delayed
                }
                _ => Retry::No,
            },
            // UNIT ATTENTION, NOT READY TO READY CHANGE, MEDIUM MAY HAVE
            // CHANGED: the medium must be revalidated (Linux sets
            // sdev->changed for removable devices).
            SenseKey::UnitAttention
                if self.asc == asc::MEDIUM_MAY_HAVE_CHANGED && self.ascq == 0 =>
            {
                Retry::MediaChanged
            }
            // Any other UNIT ATTENTION (power on, reset, parameters changed):
            // the command was not executed; retry it (ACTION_RETRY).
            SenseKey::UnitAttention => Retry::Yes,
            // MEDIUM ERROR other than the three fatal ASCs: NEEDS_RETRY.
            SenseKey::MediumError => match self.asc {
                asc::UNRECOVERED_READ_ERROR
                | asc::ADDRESS_MARK_NOT_FOUND
                | asc::RECORD_NOT_FOUND => Retry::No,
                _ => Retry::Yes,
            },
            // ABORTED COMMAND: NEEDS_RETRY, except protection information
            // errors and command duration limit timeouts (2Eh/01h..03h).
            SenseKey::AbortedCommand => match (self.asc, self.ascq) {
                (asc::PROTECTION_ERROR, _) => Retry::No,
                (asc::COMMAND_TIMEOUT, 0x01..=0x03) => Retry::No,
                _ => Retry::Yes,
            },
            _ => Retry::No,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(key: u8, asc: u8, ascq: u8) -> [u8; 18] {
        let mut d = [0u8; 18];
        d[0] = 0x70;
        d[2] = key;
        d[7] = 10;
        d[12] = asc;
        d[13] = ascq;
        d
    }

    fn sense(key: SenseKey, asc: u8, ascq: u8) -> Sense {
        Sense {
            key,
            asc,
            ascq,
            deferred: false,
            info: None,
        }
    }

    #[test]
    fn all_sixteen_keys() {
        let keys: [SenseKey; 16] = core::array::from_fn(|i| SenseKey::from_bits(i as u8));
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(SenseKey::from_bits(0xF6), SenseKey::UnitAttention);
        assert_eq!(SenseKey::from_bits(0x0F), SenseKey::Completed);
        assert_eq!(SenseKey::from_bits(0x0C), SenseKey::Reserved);
    }

    #[test]
    fn parses_fixed_format() {
        let mut d = fixed(0x03, 0x11, 0x00);
        d[0] = 0xF0; // VALID, current
        d[3..7].copy_from_slice(&[0x00, 0x12, 0x34, 0x56]);
        let s = Sense::parse(&d).unwrap();
        assert_eq!(s.key, SenseKey::MediumError);
        assert_eq!((s.asc, s.ascq), (0x11, 0x00));
        assert!(!s.deferred);
        assert_eq!(s.info, Some(0x12_3456));
        d[0] = 0x71; // deferred, INFORMATION not valid
        let s = Sense::parse(&d).unwrap();
        assert!(s.deferred);
        assert_eq!(s.info, None);
    }

    #[test]
    fn fixed_format_short_and_clamped() {
        let d = fixed(0x06, 0x28, 0x00);
        assert_eq!(Sense::parse(&d[..2]), Err(SenseError::TooShort(2)));
        let s = Sense::parse(&d[..3]).unwrap();
        assert_eq!((s.key, s.asc, s.ascq), (SenseKey::UnitAttention, 0, 0));
        let s = Sense::parse(&d[..13]).unwrap();
        assert_eq!((s.asc, s.ascq), (0x28, 0));
        // ADDITIONAL SENSE LENGTH 4 hides ASC/ASCQ.
        let mut short = d;
        short[7] = 4;
        let s = Sense::parse(&short).unwrap();
        assert_eq!((s.asc, s.ascq), (0, 0));
        // A huge ADDITIONAL SENSE LENGTH is clamped to the buffer.
        let mut long = d;
        long[7] = 0xFF;
        assert_eq!(Sense::parse(&long).unwrap().asc, 0x28);
    }

    #[test]
    fn parses_descriptor_format() {
        let d = [
            0x72, 0x03, 0x11, 0x01, 0, 0, 0, 12, // header, 12 bytes of descriptors
            0x00, 0x0A, 0x80, 0x00, 0, 0, 0, 0, 0x01, 0x02, 0x03, 0x04, // information
        ];
        let s = Sense::parse(&d).unwrap();
        assert_eq!(s.key, SenseKey::MediumError);
        assert_eq!((s.asc, s.ascq), (0x11, 0x01));
        assert_eq!(s.info, Some(0x0102_0304));
        assert!(!s.deferred);
        let mut deferred = d;
        deferred[0] = 0x73;
        assert!(Sense::parse(&deferred).unwrap().deferred);
        let mut invalid = d;
        invalid[10] = 0x00;
        assert_eq!(Sense::parse(&invalid).unwrap().info, None);
        // Truncated information descriptor.
        assert_eq!(Sense::parse(&d[..15]).unwrap().info, None);
        assert_eq!(Sense::parse(&d[..1]), Err(SenseError::TooShort(1)));
        let s = Sense::parse(&d[..2]).unwrap();
        assert_eq!((s.key, s.asc), (SenseKey::MediumError, 0));
    }

    #[test]
    fn descriptor_walk_skips_other_descriptors() {
        let d = [
            0x72, 0x05, 0x24, 0x00, 0, 0, 0, 20, // header
            0x02, 0x06, 0, 0, 0x80, 0, 0, 0, // sense key specific
            0x00, 0x0A, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0x2A, // information
        ];
        let s = Sense::parse(&d).unwrap();
        assert_eq!(s.key, SenseKey::IllegalRequest);
        assert_eq!(s.info, Some(0x2A));
        // A descriptor length that runs off the end ends the walk.
        let mut bad = d;
        bad[9] = 0xFF;
        assert_eq!(Sense::parse(&bad).unwrap().info, None);
    }

    #[test]
    fn rejects_unknown_response_codes() {
        assert_eq!(Sense::parse(&[]), Err(SenseError::TooShort(0)));
        assert_eq!(
            Sense::parse(&[0x00; 18]),
            Err(SenseError::BadResponseCode(0))
        );
        assert_eq!(
            Sense::parse(&[0x7F, 0, 5]),
            Err(SenseError::BadResponseCode(0x7F))
        );
        assert_eq!(
            Sense::parse(&[0x74, 5, 0]),
            Err(SenseError::BadResponseCode(0x74))
        );
    }

    #[test]
    fn blk_status_table() {
        use BlkStatus as B;
        use SenseKey as K;
        let cases = [
            (K::NoSense, 0, 0, B::IoErr),
            (K::RecoveredError, 0x17, 0x01, B::Ok),
            (K::NotReady, 0x04, 0x01, B::IoErr),
            (K::NotReady, 0x3A, 0x00, B::IoErr),
            (K::MediumError, 0x11, 0x00, B::Medium),
            (K::MediumError, 0x13, 0x00, B::Medium),
            (K::MediumError, 0x14, 0x01, B::Medium),
            (K::MediumError, 0x0C, 0x00, B::IoErr),
            (K::HardwareError, 0x44, 0x00, B::Target),
            (K::IllegalRequest, 0x10, 0x01, B::Protection),
            (K::IllegalRequest, 0x20, 0x00, B::Target),
            (K::IllegalRequest, 0x21, 0x00, B::Target),
            (K::IllegalRequest, 0x22, 0x00, B::Target),
            (K::IllegalRequest, 0x24, 0x00, B::Target),
            (K::IllegalRequest, 0x26, 0x00, B::Target),
            (K::IllegalRequest, 0x27, 0x00, B::Target),
            (K::IllegalRequest, 0x25, 0x00, B::IoErr),
            (K::UnitAttention, 0x28, 0x00, B::IoErr),
            (K::DataProtect, 0x27, 0x00, B::Target),
            (K::DataProtect, 0x27, 0x07, B::NoSpc),
            (K::BlankCheck, 0, 0, B::Target),
            (K::VendorSpecific, 0, 0, B::IoErr),
            (K::CopyAborted, 0, 0, B::Target),
            (K::AbortedCommand, 0x10, 0x01, B::Protection),
            (K::AbortedCommand, 0x47, 0x00, B::IoErr),
            (K::Reserved, 0, 0, B::IoErr),
            (K::VolumeOverflow, 0, 0, B::Target),
            (K::Miscompare, 0x1D, 0, B::Target),
            (K::Completed, 0x55, 0x0A, B::IoErr),
        ];
        for (key, asc, ascq, want) in cases {
            assert_eq!(
                sense(key, asc, ascq).blk_status(),
                want,
                "{key:?} {asc:#x}/{ascq:#x}"
            );
        }
    }

    #[test]
    fn deferred_errors() {
        let mut s = sense(SenseKey::IllegalRequest, 0x10, 0);
        s.deferred = true;
        assert_eq!(s.blk_status(), BlkStatus::IoErr);
        assert_eq!(s.retry(), Retry::No);
        let mut s = sense(SenseKey::MediumError, 0x0C, 0);
        s.deferred = true;
        assert_eq!(s.blk_status(), BlkStatus::IoErr);
        assert_eq!(s.retry(), Retry::No);
        let mut s = sense(SenseKey::DataProtect, 0, 0);
        s.deferred = true;
        assert_eq!(s.blk_status(), BlkStatus::Target);
    }

    #[test]
    fn retry_table() {
        use Retry as R;
        use SenseKey as K;
        let cases = [
            (K::NoSense, 0, 0, R::Yes),
            (K::RecoveredError, 0, 0, R::No),
            (K::NotReady, 0x04, 0x00, R::No),
            (K::NotReady, 0x04, 0x01, R::Delayed),
            (K::NotReady, 0x04, 0x02, R::NeedsStart),
            (K::NotReady, 0x04, 0x03, R::No),
            (K::NotReady, 0x04, 0x04, R::Delayed),
            (K::NotReady, 0x04, 0x0A, R::Delayed),
            (K::NotReady, 0x04, 0x0B, R::No),
            (K::NotReady, 0x04, 0x1A, R::Delayed),
            (K::NotReady, 0x04, 0x25, R::Delayed),
            (K::NotReady, 0x3A, 0x00, R::NoMedium),
            (K::NotReady, 0x3A, 0x02, R::NoMedium),
            (K::NotReady, 0x30, 0x00, R::No),
            (K::MediumError, 0x11, 0x00, R::No),
            (K::MediumError, 0x0C, 0x00, R::Yes),
            (K::HardwareError, 0, 0, R::No),
            (K::IllegalRequest, 0x20, 0, R::No),
            (K::UnitAttention, 0x28, 0x00, R::MediaChanged),
            (K::UnitAttention, 0x28, 0x01, R::Yes),
            (K::UnitAttention, 0x29, 0x00, R::Yes),
            (K::UnitAttention, 0x3A, 0x00, R::NoMedium),
            (K::DataProtect, 0x27, 0, R::No),
            (K::AbortedCommand, 0x47, 0x03, R::Yes),
            (K::AbortedCommand, 0x10, 0x01, R::No),
            (K::AbortedCommand, 0x2E, 0x02, R::No),
            (K::AbortedCommand, 0x2E, 0x00, R::Yes),
            (K::Completed, 0, 0, R::No),
        ];
        for (key, asc, ascq, want) in cases {
            assert_eq!(
                sense(key, asc, ascq).retry(),
                want,
                "{key:?} {asc:#x}/{ascq:#x}"
            );
        }
    }

    #[test]
    fn recovered_error_is_success_only_with_all_data() {
        let s = sense(SenseKey::RecoveredError, 0x17, 0x01);
        assert_eq!(s.blk_status_after(true), BlkStatus::Ok);
        assert_eq!(s.retry_after(true), Retry::No);
        assert_eq!(s.blk_status_after(false), BlkStatus::IoErr);
        assert_eq!(s.retry_after(false), Retry::Yes);
        // Other keys do not depend on the data moved.
        let m = sense(SenseKey::MediumError, 0x11, 0x00);
        assert_eq!(m.blk_status_after(false), m.blk_status());
        assert_eq!(m.retry_after(false), m.retry());
        assert_eq!(m.blk_status_after(true), m.blk_status());
        let mut d = s;
        d.deferred = true;
        assert_eq!(d.retry_after(false), Retry::No);
        assert_eq!(d.blk_status_after(false), BlkStatus::IoErr);
    }

    #[test]
    fn parse_then_decide() {
        let s = Sense::parse(&fixed(0x02, 0x3A, 0x01)).unwrap();
        assert!(s.no_medium());
        assert_eq!(s.retry(), Retry::NoMedium);
        let s = Sense::parse(&fixed(0x06, 0x28, 0x00)).unwrap();
        assert!(!s.no_medium());
        assert_eq!(s.retry(), Retry::MediaChanged);
    }

    #[test]
    fn completed_bytes_before_the_bad_block() {
        let mut s = Sense::parse(&fixed(0x3, 0x11, 0x00)).unwrap();
        assert_eq!(
            s.completed_bytes(100, 8, 512, 4096),
            0,
            "no INFORMATION: nothing"
        );
        s.info = Some(103);
        assert_eq!(s.completed_bytes(100, 8, 512, 4096), 3 * 512);
        assert_eq!(
            s.completed_bytes(100, 8, 512, 1024),
            1024,
            "no more than moved"
        );
        assert_eq!(
            s.completed_bytes(103, 8, 4096, 32768),
            0,
            "the first block is bad"
        );
        assert_eq!(s.completed_bytes(90, 8, 512, 4096), 0, "beyond the command");
        assert_eq!(
            s.completed_bytes(104, 8, 512, 4096),
            0,
            "before the command"
        );
        assert_eq!(s.completed_bytes(103, 1, 512, 512), 0, "one block");
        s.deferred = true;
        assert_eq!(s.completed_bytes(100, 8, 512, 4096), 0, "deferred");
        s.deferred = false;
        s.key = SenseKey::HardwareError;
        assert_eq!(s.completed_bytes(100, 8, 512, 4096), 3 * 512);
        s.key = SenseKey::AbortedCommand;
        assert_eq!(
            s.completed_bytes(100, 8, 512, 4096),
            0,
            "aborted: no location"
        );
        s.asc = asc::PROTECTION_ERROR;
        assert_eq!(s.completed_bytes(100, 8, 512, 4096), 3 * 512);
        s.key = SenseKey::IllegalRequest;
        assert_eq!(s.completed_bytes(100, 8, 512, 4096), 0);
    }
}
