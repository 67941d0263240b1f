// SPDX-License-Identifier: GPL-2.0

//! One entry of usb-storage's table of unusual devices ([`super::unusual`]).

/// One entry: devices `vid:pid` with a release in `bcd_lo..=bcd_hi` get
/// `letters`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnusualDev {
    /// USB vendor id.
    pub vid: u16,
    /// USB product id.
    pub pid: u16,
    /// Lowest release (`bcdDevice`) covered.
    pub bcd_lo: u16,
    /// Highest release covered.
    pub bcd_hi: u16,
    /// The quirk letters.
    pub letters: &'static str,
}

impl UnusualDev {
    pub(crate) const fn new(
        vid: u16,
        pid: u16,
        bcd_lo: u16,
        bcd_hi: u16,
        letters: &'static str,
    ) -> Self {
        Self {
            vid,
            pid,
            bcd_lo,
            bcd_hi,
            letters,
        }
    }
}
