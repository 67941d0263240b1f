//! Parsing of INQUIRY data: the standard data (SPC-4 6.6.2), the Unit Serial
//! Number VPD page 0x80 (SPC-4 7.8.15) and the Block Device Characteristics VPD
//! page 0xB1 (SBC-3 6.6.2).
//!
//! Fields are taken from the bytes the device actually returned. Like Linux's
//! SCSI scan, the ADDITIONAL LENGTH byte is reported but not trusted to bound
//! the identification strings, which many USB devices get wrong.

/// PERIPHERAL DEVICE TYPE of a direct-access block device (disk).
pub const DEVICE_TYPE_DISK: u8 = 0x00;
/// PERIPHERAL DEVICE TYPE of a CD/DVD device.
#[cfg(not(MODULE))]
pub const DEVICE_TYPE_CDROM: u8 = 0x05;
/// PERIPHERAL DEVICE TYPE of an optical memory device.
#[cfg(not(MODULE))]
pub const DEVICE_TYPE_OPTICAL: u8 = 0x07;
/// PERIPHERAL DEVICE TYPE of a simplified direct-access (RBC) device.
pub const DEVICE_TYPE_RBC: u8 = 0x0E;
/// PERIPHERAL DEVICE TYPE meaning "unknown or no device type".
#[cfg(not(MODULE))]
pub const DEVICE_TYPE_UNKNOWN: u8 = 0x1F;
/// PERIPHERAL QUALIFIER: a device of this type is connected to the LUN.
pub const QUALIFIER_CONNECTED: u8 = 0;
/// PERIPHERAL QUALIFIER: the LUN is supported but nothing is connected.
#[cfg(not(MODULE))]
pub const QUALIFIER_NOT_CONNECTED: u8 = 1;
/// PERIPHERAL QUALIFIER: the LUN is not supported.
#[cfg(not(MODULE))]
pub const QUALIFIER_NOT_SUPPORTED: u8 = 3;
/// Page code of the Unit Serial Number VPD page.
pub const VPD_UNIT_SERIAL: u8 = 0x80;
/// Supported VPD Pages (SPC-4 7.8.16).
pub const VPD_SUPPORTED_PAGES: u8 = 0x00;
/// Page code of the Block Device Characteristics VPD page.
pub const VPD_BLOCK_CHARACTERISTICS: u8 = 0xb1;
/// MEDIUM ROTATION RATE of a medium that does not rotate (solid state).
pub const ROTATION_RATE_NON_ROTATING: u16 = 1;
/// The first VERSION (standard INQUIRY byte 2) that claims SPC-3, which makes the
/// Supported VPD Pages page mandatory.
pub const VERSION_SPC3: u8 = 5;
/// Shortest standard INQUIRY data accepted (through ADDITIONAL LENGTH).
#[cfg(not(MODULE))]
pub const INQUIRY_MIN_LEN: usize = 5;
/// Length of standard INQUIRY data through PRODUCT REVISION LEVEL.
pub const INQUIRY_STD_LEN: usize = 36;

/// Why INQUIRY data could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InquiryError {
    /// The device returned only this many bytes.
    TooShort(usize),
    /// A VPD page other than the one asked for came back.
    WrongPage(u8),
}

/// Standard INQUIRY data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inquiry<'a> {
    /// PERIPHERAL QUALIFIER (byte 0, bits 7..5).
    pub qualifier: u8,
    /// PERIPHERAL DEVICE TYPE (byte 0, bits 4..0).
    pub device_type: u8,
    /// RMB: the medium is removable (byte 1, bit 7).
    pub removable: bool,
    /// VERSION: the SPC version claimed (byte 2).
    pub version: u8,
    /// RESPONSE DATA FORMAT (byte 3, bits 3..0); 2 for SPC and later.
    pub response_data_format: u8,
    /// ADDITIONAL LENGTH (byte 4): bytes the device says follow byte 4.
    pub additional_length: u8,
    vendor: Option<&'a [u8]>,
    product: Option<&'a [u8]>,
    revision: Option<&'a [u8]>,
}

/// Strips the space and NUL padding around an identification field.
pub fn trim_field(field: &[u8]) -> &[u8] {
    let pad = |b: &u8| *b == b' ' || *b == 0;
    let start = field.iter().position(|b| !pad(b)).unwrap_or(field.len());
    let end = field.iter().rposition(|b| !pad(b)).map_or(start, |i| i + 1);
    field.get(start..end).unwrap_or(&[])
}

impl<'a> Inquiry<'a> {
    /// Parses standard INQUIRY data. At least [`INQUIRY_MIN_LEN`] bytes are
    /// required; a string field is `None` unless all its bytes are present.
    pub fn parse(buf: &'a [u8]) -> Result<Inquiry<'a>, InquiryError> {
        let [b0, b1, version, b3, additional_length, ..] = *buf else {
            return Err(InquiryError::TooShort(buf.len()));
        };
        Ok(Inquiry {
            qualifier: b0 >> 5,
            device_type: b0 & 0x1F,
            removable: b1 & 0x80 != 0,
            version,
            response_data_format: b3 & 0x0F,
            additional_length,
            vendor: buf.get(8..16),
            product: buf.get(16..32),
            revision: buf.get(32..36),
        })
    }

    /// T10 VENDOR IDENTIFICATION (bytes 8..16), trimmed.
    pub fn vendor(&self) -> Option<&'a [u8]> {
        self.vendor.map(trim_field)
    }

    /// PRODUCT IDENTIFICATION (bytes 16..32), trimmed.
    pub fn product(&self) -> Option<&'a [u8]> {
        self.product.map(trim_field)
    }

    /// PRODUCT REVISION LEVEL (bytes 32..36), trimmed.
    pub fn revision(&self) -> Option<&'a [u8]> {
        self.revision.map(trim_field)
    }

    /// Whether a device is attached to this LUN (qualifier 0).
    pub fn is_connected(&self) -> bool {
        self.qualifier == QUALIFIER_CONNECTED
    }
}

/// Parses the Unit Serial Number VPD page and returns the trimmed serial.
///
/// A PAGE LENGTH longer than the data returned is clamped to the data, so a
/// truncated page yields the part of the serial that arrived.
pub fn parse_unit_serial(buf: &[u8]) -> Result<&[u8], InquiryError> {
    let [_, page, len_hi, len_lo, rest @ ..] = buf else {
        return Err(InquiryError::TooShort(buf.len()));
    };
    if *page != VPD_UNIT_SERIAL {
        return Err(InquiryError::WrongPage(*page));
    }
    let len = usize::from(u16::from_be_bytes([*len_hi, *len_lo]));
    Ok(trim_field(rest.get(..len).unwrap_or(rest)))
}

/// Parses the Block Device Characteristics VPD page and returns its MEDIUM
/// ROTATION RATE (bytes 4-5): 0 not reported, [`ROTATION_RATE_NON_ROTATING`],
/// otherwise revolutions per minute. As sd, a page of 8 bytes or fewer carries
/// nothing usable.
pub fn parse_rotation_rate(buf: &[u8]) -> Result<u16, InquiryError> {
    let [_, page, _, _, rate_hi, rate_lo, _, _, _, ..] = buf else {
        return Err(InquiryError::TooShort(buf.len()));
    };
    if *page != VPD_BLOCK_CHARACTERISTICS {
        return Err(InquiryError::WrongPage(*page));
    }
    Ok(u16::from_be_bytes([*rate_hi, *rate_lo]))
}

/// Whether a Supported VPD Pages page lists `page`. A PAGE LENGTH longer than
/// the data returned is clamped to the data.
pub fn vpd_lists_page(buf: &[u8], page: u8) -> Result<bool, InquiryError> {
    let [_, code, len_hi, len_lo, rest @ ..] = buf else {
        return Err(InquiryError::TooShort(buf.len()));
    };
    if *code != VPD_SUPPORTED_PAGES {
        return Err(InquiryError::WrongPage(*code));
    }
    let len = usize::from(u16::from_be_bytes([*len_hi, *len_lo]));
    Ok(rest.get(..len).unwrap_or(rest).contains(&page))
}

/// The standard INQUIRY data usb-storage makes up for a device whose own
/// answer cannot be used (its `FIX_INQUIRY` flag, `fill_inquiry_response()`): a
/// removable direct-access device claiming SCSI-2, named by `vendor` and
/// `product` (cut to 8 and 16 bytes, space-padded), revision the four digits of
/// the USB release number `bcd_device`.
pub fn made_up(vendor: &[u8], product: &[u8], bcd_device: u16) -> [u8; INQUIRY_STD_LEN] {
    let mut d = [b' '; INQUIRY_STD_LEN];
    d[..8].copy_from_slice(&[DEVICE_TYPE_DISK, 0x80, 0x02, 0x02, 0x1f, 0, 0, 0]);
    for (dst, src) in d[8..16].iter_mut().zip(vendor) {
        *dst = *src;
    }
    for (dst, src) in d[16..32].iter_mut().zip(product) {
        *dst = *src;
    }
    for (i, dst) in d[32..36].iter_mut().enumerate() {
        let digit = (bcd_device >> (12 - 4 * i)) & 0x0f;
        *dst = if digit < 10 { b'0' } else { b'A' - 10 } + digit as u8;
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_rate() {
        // QEMU's scsi-hd with rotation_rate=1: a 0x3c-byte page.
        let mut page = [0u8; 64];
        page[1] = 0xb1;
        page[3] = 0x3c;
        page[5] = 1;
        assert_eq!(parse_rotation_rate(&page), Ok(ROTATION_RATE_NON_ROTATING));
        page[4] = 0x1c;
        page[5] = 0x20;
        assert_eq!(parse_rotation_rate(&page), Ok(7200));
        // Not reported.
        assert_eq!(parse_rotation_rate(&[0, 0xb1, 0, 5, 0, 0, 0, 0, 0]), Ok(0));
        // As sd: 8 bytes or fewer carry nothing.
        assert_eq!(
            parse_rotation_rate(&[0, 0xb1, 0, 4, 0, 1, 0, 0]),
            Err(InquiryError::TooShort(8))
        );
        assert_eq!(
            parse_rotation_rate(&[0, 0xb0, 0, 5, 0, 1, 0, 0, 0]),
            Err(InquiryError::WrongPage(0xb0))
        );
    }

    #[test]
    fn supported_pages() {
        let page = [0, 0, 0, 3, 0x00, 0x80, 0x83];
        assert_eq!(vpd_lists_page(&page, 0x80), Ok(true));
        assert_eq!(vpd_lists_page(&page, 0xb0), Ok(false));
        // The length says 2: 0x83 is past it.
        assert_eq!(
            vpd_lists_page(&[0, 0, 0, 2, 0x00, 0x80, 0x83], 0x83),
            Ok(false)
        );
        // Truncated: what arrived counts.
        assert_eq!(vpd_lists_page(&[0, 0, 0, 9, 0x00, 0x80], 0x80), Ok(true));
        assert_eq!(
            vpd_lists_page(&[0, 0x80, 0, 0], 0x80),
            Err(InquiryError::WrongPage(0x80))
        );
        assert_eq!(
            vpd_lists_page(&[0, 0], 0x80),
            Err(InquiryError::TooShort(2))
        );
    }

    fn standard() -> [u8; 36] {
        let mut d = [0u8; 36];
        d[0] = 0x00;
        d[1] = 0x80;
        d[2] = 0x06;
        d[3] = 0x02;
        d[4] = 31;
        d[8..16].copy_from_slice(b"Generic ");
        d[16..32].copy_from_slice(b"Flash Disk      ");
        d[32..36].copy_from_slice(b"8.07");
        d
    }

    #[test]
    fn parses_standard_data() {
        let d = standard();
        let inq = Inquiry::parse(&d).unwrap();
        assert_eq!(inq.qualifier, 0);
        assert_eq!(inq.device_type, DEVICE_TYPE_DISK);
        assert!(inq.removable);
        assert!(inq.is_connected());
        assert_eq!(inq.version, 6);
        assert_eq!(inq.response_data_format, 2);
        assert_eq!(inq.additional_length, 31);
        assert_eq!(inq.vendor(), Some(&b"Generic"[..]));
        assert_eq!(inq.product(), Some(&b"Flash Disk"[..]));
        assert_eq!(inq.revision(), Some(&b"8.07"[..]));
    }

    #[test]
    fn qualifier_and_type_bits() {
        let inq = Inquiry::parse(&[0x7F, 0x00, 0, 0, 0]).unwrap();
        assert_eq!(inq.qualifier, QUALIFIER_NOT_SUPPORTED);
        assert_eq!(inq.device_type, DEVICE_TYPE_UNKNOWN);
        assert!(!inq.removable);
        assert!(!inq.is_connected());
        let inq = Inquiry::parse(&[0x25, 0x7F, 0, 0xF2, 0]).unwrap();
        assert_eq!(inq.qualifier, QUALIFIER_NOT_CONNECTED);
        assert_eq!(inq.device_type, DEVICE_TYPE_CDROM);
        assert!(!inq.removable);
        assert_eq!(inq.response_data_format, 2);
    }

    #[test]
    fn short_responses() {
        let d = standard();
        assert_eq!(Inquiry::parse(&d[..4]), Err(InquiryError::TooShort(4)));
        assert_eq!(Inquiry::parse(&[]), Err(InquiryError::TooShort(0)));
        let inq = Inquiry::parse(&d[..5]).unwrap();
        assert_eq!(inq.vendor(), None);
        assert_eq!(inq.product(), None);
        let inq = Inquiry::parse(&d[..20]).unwrap();
        assert_eq!(inq.vendor(), Some(&b"Generic"[..]));
        assert_eq!(inq.product(), None);
        let inq = Inquiry::parse(&d[..35]).unwrap();
        assert_eq!(inq.product(), Some(&b"Flash Disk"[..]));
        assert_eq!(inq.revision(), None);
    }

    #[test]
    fn oversized_response_and_lying_length() {
        let mut big = [0x20u8; 96];
        big[..36].copy_from_slice(&standard());
        big[4] = 3; // claims almost nothing follows
        let inq = Inquiry::parse(&big).unwrap();
        assert_eq!(inq.additional_length, 3);
        assert_eq!(inq.revision(), Some(&b"8.07"[..]));
    }

    #[test]
    fn trims_spaces_and_nuls() {
        assert_eq!(trim_field(b"  AB C \0\0"), b"AB C");
        assert_eq!(trim_field(b"    "), b"");
        assert_eq!(trim_field(b"\0"), b"");
        assert_eq!(trim_field(b""), b"");
        assert_eq!(trim_field(b"X"), b"X");
    }

    #[test]
    fn unit_serial_page() {
        let page = [
            0x00, 0x80, 0x00, 0x0A, b' ', b' ', b'0', b'1', b'2', b'3', b'4', b'5', 0, 0,
        ];
        assert_eq!(parse_unit_serial(&page), Ok(&b"012345"[..]));
        // Page length larger than the data: clamp.
        let trunc = [0x00, 0x80, 0x00, 0xFF, b'S', b'N'];
        assert_eq!(parse_unit_serial(&trunc), Ok(&b"SN"[..]));
        // Page length shorter than the data: honour it.
        let short = [0x00, 0x80, 0x00, 0x02, b'A', b'B', b'C'];
        assert_eq!(parse_unit_serial(&short), Ok(&b"AB"[..]));
        assert_eq!(parse_unit_serial(&[0, 0x80, 0, 0]), Ok(&b""[..]));
        assert_eq!(
            parse_unit_serial(&[0, 0x83, 0, 0]),
            Err(InquiryError::WrongPage(0x83))
        );
        assert_eq!(
            parse_unit_serial(&[0, 0x80, 0]),
            Err(InquiryError::TooShort(3))
        );
    }

    #[test]
    fn made_up_inquiry() {
        let d = made_up(b"Sony", b"PEG Mass Storage and more", 0x0110);
        let inq = Inquiry::parse(&d).unwrap();
        assert_eq!(
            (inq.device_type, inq.removable, inq.version),
            (DEVICE_TYPE_DISK, true, 2)
        );
        assert_eq!(inq.vendor, Some(&b"Sony    "[..]));
        assert_eq!(inq.product, Some(&b"PEG Mass Storage"[..]));
        assert_eq!(inq.revision, Some(&b"0110"[..]));
        assert_eq!(&made_up(b"", b"", 0x9a0f)[32..], b"9A0F");
    }
}
