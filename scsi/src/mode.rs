//! Parsing of MODE SENSE(6) and MODE SENSE(10) data (SPC-4 7.5): the mode
//! parameter header, the block descriptors, the mode pages after them, and
//! the Caching mode page (SBC-3 6.4.5).
//!
//! The region parsed is the shorter of the bytes returned and the length the
//! MODE DATA LENGTH field claims, so a lying length can neither reach past
//! the buffer nor make stale bytes count.

/// Length of the MODE SENSE(6) mode parameter header.
pub const HEADER_6_LEN: usize = 4;
/// Length of the MODE SENSE(10) mode parameter header.
#[cfg(not(MODULE))]
pub const HEADER_10_LEN: usize = 8;
/// DEVICE-SPECIFIC PARAMETER bit 7 for disks: WP, the medium is write
/// protected.
pub const DSP_WP: u8 = 0x80;
/// DEVICE-SPECIFIC PARAMETER bit 4 for disks: DPOFUA, the device honours
/// the DPO and FUA bits.
pub const DSP_DPOFUA: u8 = 0x10;
/// Page code of the Caching mode page.
pub const PAGE_CACHING: u8 = 0x08;

/// Why mode data could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeError {
    /// Fewer bytes than a mode parameter header (returned or claimed).
    TooShort(usize),
    /// BLOCK DESCRIPTOR LENGTH reaches past the mode data.
    BadBlockDescriptorLength(u16),
}

/// The mode parameter header, common to both MODE SENSE forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModeHeader {
    /// MODE DATA LENGTH: bytes that follow the length field itself.
    pub mode_data_length: u16,
    /// MEDIUM TYPE.
    pub medium_type: u8,
    /// DEVICE-SPECIFIC PARAMETER (see [`DSP_WP`], [`DSP_DPOFUA`]).
    pub device_specific: u8,
    /// LONGLBA (MODE SENSE(10) only): block descriptors are 16 bytes long.
    pub long_lba: bool,
    /// BLOCK DESCRIPTOR LENGTH.
    pub block_descriptor_length: u16,
}

impl ModeHeader {
    /// WP: the medium is write protected.
    pub fn write_protected(&self) -> bool {
        self.device_specific & DSP_WP != 0
    }

    /// DPOFUA: the device supports the DPO and FUA bits.
    pub fn dpofua(&self) -> bool {
        self.device_specific & DSP_DPOFUA != 0
    }
}

/// Parsed mode data: the header plus the descriptor and page regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModeData<'a> {
    /// The mode parameter header.
    pub header: ModeHeader,
    /// The block descriptors, raw.
    pub block_descriptors: &'a [u8],
    /// The mode pages, raw; walk them with [`ModeData::pages`].
    pub page_bytes: &'a [u8],
}

/// One mode page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModePage<'a> {
    /// PAGE CODE (bits 5..0 of the first byte).
    pub code: u8,
    /// SUBPAGE CODE; 0 for pages in the page_0 format.
    pub subpage: u8,
    /// PS: the page can be saved.
    pub ps: bool,
    /// SPF: the page is in the sub_page format (4-byte header).
    pub spf: bool,
    /// The parameters after the page header; shorter than the PAGE LENGTH
    /// claims when the data was cut off.
    pub data: &'a [u8],
}

/// The Caching mode page settings the driver needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachingPage {
    /// WCE: write cache enabled (page byte 2, bit 2).
    pub wce: bool,
    /// RCD: read cache disabled (page byte 2, bit 0).
    pub rcd: bool,
}

/// Iterator over the mode pages of [`ModeData`].
#[derive(Debug, Clone)]
pub struct ModePages<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for ModePages<'a> {
    type Item = ModePage<'a>;

    fn next(&mut self) -> Option<ModePage<'a>> {
        let (code_byte, subpage, len, body) = match *self.rest {
            [b0, sub, hi, lo, ref body @ ..] if b0 & 0x40 != 0 => {
                (b0, sub, usize::from(u16::from_be_bytes([hi, lo])), body)
            }
            [b0, len, ref body @ ..] if b0 & 0x40 == 0 => (b0, 0, usize::from(len), body),
            _ => {
                self.rest = &[];
                return None;
            }
        };
        let (data, rest) = body.split_at(len.min(body.len()));
        self.rest = rest;
        Some(ModePage {
            code: code_byte & 0x3F,
            subpage,
            ps: code_byte & 0x80 != 0,
            spf: code_byte & 0x40 != 0,
            data,
        })
    }
}

fn split<'a>(
    header: ModeHeader,
    buf: &'a [u8],
    header_len: usize,
    claimed_total: usize,
) -> Result<ModeData<'a>, ModeError> {
    let valid = buf.get(..claimed_total).unwrap_or(buf);
    let body = valid
        .get(header_len..)
        .ok_or(ModeError::TooShort(valid.len()))?;
    let bd_len = header.block_descriptor_length;
    if usize::from(bd_len) > body.len() {
        return Err(ModeError::BadBlockDescriptorLength(bd_len));
    }
    let (block_descriptors, page_bytes) = body.split_at(usize::from(bd_len));
    Ok(ModeData {
        header,
        block_descriptors,
        page_bytes,
    })
}

impl<'a> ModeData<'a> {
    /// Parses MODE SENSE(6) data.
    pub fn parse_6(buf: &'a [u8]) -> Result<ModeData<'a>, ModeError> {
        let [len, medium_type, device_specific, bd_len, ..] = *buf else {
            return Err(ModeError::TooShort(buf.len()));
        };
        let header = ModeHeader {
            mode_data_length: u16::from(len),
            medium_type,
            device_specific,
            long_lba: false,
            block_descriptor_length: u16::from(bd_len),
        };
        split(header, buf, HEADER_6_LEN, usize::from(len) + 1)
    }

    /// Parses MODE SENSE(10) data.
    #[cfg(not(MODULE))]
    pub fn parse_10(buf: &'a [u8]) -> Result<ModeData<'a>, ModeError> {
        let [l0, l1, medium_type, device_specific, flags, _, b0, b1, ..] = *buf else {
            return Err(ModeError::TooShort(buf.len()));
        };
        let len = u16::from_be_bytes([l0, l1]);
        let header = ModeHeader {
            mode_data_length: len,
            medium_type,
            device_specific,
            long_lba: flags & 0x01 != 0,
            block_descriptor_length: u16::from_be_bytes([b0, b1]),
        };
        split(header, buf, HEADER_10_LEN, usize::from(len) + 2)
    }

    /// The mode pages, in order. Iteration stops at a page whose header is
    /// cut off; the last page's data may be shorter than its length claims.
    pub fn pages(&self) -> ModePages<'a> {
        ModePages {
            rest: self.page_bytes,
        }
    }

    /// The first page with this page and subpage code.
    #[cfg(not(MODULE))]
    pub fn find_page(&self, code: u8, subpage: u8) -> Option<ModePage<'a>> {
        self.pages()
            .find(|p| p.code == code && p.subpage == subpage)
    }

    /// WCE and RCD from the Caching mode page, when it is present in the
    /// page_0 format with at least its first parameter byte.
    pub fn caching(&self) -> Option<CachingPage> {
        let page = self.pages().find(|p| p.code == PAGE_CACHING && !p.spf)?;
        let flags = *page.data.first()?;
        Some(CachingPage {
            wce: flags & 0x04 != 0,
            rcd: flags & 0x01 != 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MODE SENSE(6) data: WP set, one 8-byte block descriptor, then a
    /// Caching page (PS set, WCE set, 18 parameter bytes) and a Control page
    /// (10 parameter bytes).
    fn sense6() -> [u8; 44] {
        let mut d = [0u8; 44];
        d[..4].copy_from_slice(&[43, 0x00, 0x80, 8]);
        d[10..12].copy_from_slice(&[0x02, 0x00]); // block length 512
        d[12..15].copy_from_slice(&[0x88, 0x12, 0x04]);
        d[32..34].copy_from_slice(&[0x0A, 0x0A]);
        d
    }

    #[test]
    fn parses_mode_sense_6() {
        let d = sense6();
        let m = ModeData::parse_6(&d).unwrap();
        assert_eq!(m.header.mode_data_length, 43);
        assert!(m.header.write_protected());
        assert!(!m.header.dpofua());
        assert_eq!(m.block_descriptors.len(), 8);
        assert_eq!(m.pages().count(), 2);
        assert_eq!(
            m.caching(),
            Some(CachingPage {
                wce: true,
                rcd: false
            })
        );
        let control = m.find_page(0x0A, 0).unwrap();
        assert_eq!(control.data.len(), 10);
        assert!(!control.ps);
        assert!(m.find_page(0x1C, 0).is_none());
    }

    #[test]
    fn parses_mode_sense_10_with_subpage() {
        let d = [
            0x00, 18, 0x00, 0x10, 0x01, 0x00, 0x00, 0x00, // header, no descriptors
            0x48, 0x01, 0x00, 0x02, 0xAA, 0xBB, // caching subpage 1 (sub_page format)
            0x08, 0x02, 0x05, 0x00, // caching page_0: WCE | RCD
            0x3F, 0x01, // a page whose single parameter byte is missing
        ];
        let m = ModeData::parse_10(&d).unwrap();
        assert_eq!(m.header.mode_data_length, 18);
        assert!(m.header.dpofua());
        assert!(m.header.long_lba);
        assert!(!m.header.write_protected());
        let sub = m.find_page(0x08, 0x01).unwrap();
        assert!(sub.spf);
        assert_eq!(sub.data, &[0xAA, 0xBB]);
        assert_eq!(
            m.caching(),
            Some(CachingPage {
                wce: true,
                rcd: true
            })
        );
        let last = m.pages().last().unwrap();
        assert_eq!(last.code, 0x3F);
        assert!(last.data.is_empty());
    }

    #[test]
    fn truncated_and_lying_lengths() {
        assert_eq!(ModeData::parse_6(&[3, 0, 0]), Err(ModeError::TooShort(3)));
        assert_eq!(
            ModeData::parse_10(&[0, 6, 0, 0, 0, 0, 0]),
            Err(ModeError::TooShort(7))
        );
        // Claimed length shorter than the header.
        assert_eq!(
            ModeData::parse_6(&[0, 0, 0, 0, 0x08, 0x01, 0x04]),
            Err(ModeError::TooShort(1))
        );
        // Block descriptor length past the data.
        assert_eq!(
            ModeData::parse_6(&[11, 0, 0, 200, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(ModeError::BadBlockDescriptorLength(200))
        );
        assert_eq!(
            ModeData::parse_10(&[0xFF, 0xFF, 0, 0, 0, 0, 0xFF, 0xFF, 1, 2]),
            Err(ModeError::BadBlockDescriptorLength(0xFFFF))
        );
        // Claimed length past the buffer: clamp to what arrived.
        let full = sense6();
        let m = ModeData::parse_6(&full[..16]).unwrap();
        let caching = m.pages().next().unwrap();
        assert_eq!(caching.data, &[0x04, 0]);
        assert_eq!(m.caching().map(|c| c.wce), Some(true));
        // Claimed length shorter than the buffer: stale bytes ignored.
        let mut d = sense6();
        d[0] = 3 + 8;
        let m = ModeData::parse_6(&d).unwrap();
        assert_eq!(m.pages().count(), 0);
        assert_eq!(m.caching(), None);
    }

    #[test]
    fn caching_page_needs_its_flags_byte() {
        let d = [5, 0, 0, 0, 0x08, 0x12];
        let m = ModeData::parse_6(&d).unwrap();
        assert_eq!(m.pages().count(), 1);
        assert_eq!(m.caching(), None);
        let d = [6, 0, 0, 0, 0x08, 0x00, 0x04];
        let m = ModeData::parse_6(&d).unwrap();
        assert_eq!(m.caching(), None, "page length 0 hides the flags byte");
        let d = [4, 0, 0, 0, 0x08];
        let m = ModeData::parse_6(&d).unwrap();
        assert_eq!(m.pages().count(), 0);
    }
}
