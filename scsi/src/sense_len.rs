//! How much sense data to ask a device for, learned as usb-storage learns it
//! (`US_FL_SANE_SENSE` and `US_FL_BAD_SENSE` in `usb_stor_invoke_transport()`).
//!
//! Many USB devices return garbage or stall when REQUEST SENSE asks for more
//! than the 18 bytes of fixed-format sense data, so a device starts at 18. But
//! ATA PASS-THROUGH (SAT) returns the ATA registers in a descriptor that does
//! not fit in 18 bytes (8 + 14 for the ATA Status Return descriptor): a device
//! that shows it has more to say gets [`LONG`] bytes, sd's
//! `SCSI_SENSE_BUFFERSIZE`. It shows it by
//!
//! * completing an ATA PASS-THROUGH(12/16) command (it is a SAT bridge), or
//! * returning sense data (response code 70h-73h) with an ADDITIONAL SENSE
//!   LENGTH above the 10 bytes that fit in 18, or
//! * the `SANE_SENSE` quirk.
//!
//! The auto-sense of an ATA PASS-THROUGH command itself is always long (unlike
//! usb-storage's, which cuts off the registers of a first CK_COND command such as
//! `hdparm -C`'s): whatever answers it speaks SAT. A device that then fails a
//! long REQUEST SENSE is asked for 18 bytes from then on, as is a device with
//! the `BAD_SENSE` quirk.

use super::cdb;

/// The sense data every device can give: fixed format, 18 bytes.
pub const SHORT: u8 = 18;
/// sd's `SCSI_SENSE_BUFFERSIZE`: what a device that has more sense data gets.
pub const LONG: u8 = 96;

/// The CK_COND bit of byte 2 of ATA PASS-THROUGH(12/16): the command asks for
/// its registers back in sense data even when it succeeds.
const CK_COND: u8 = 0x20;

/// The allocation length for REQUEST SENSE of one device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SenseLen {
    long: bool,
    bad: bool,
}

impl SenseLen {
    /// A device's sense length from its quirks: `sane` (`SANE_SENSE`) starts
    /// long, `bad` (`BAD_SENSE`) stays short whatever the device shows.
    pub const fn new(sane: bool, bad: bool) -> Self {
        Self {
            long: sane && !bad,
            bad,
        }
    }

    /// Bytes to ask for in the next REQUEST SENSE.
    pub const fn alloc_len(&self) -> u8 {
        if self.long {
            LONG
        } else {
            SHORT
        }
    }

    /// Bytes to ask for in the REQUEST SENSE after `failed` ended in CHECK
    /// CONDITION: long for an ATA PASS-THROUGH (its registers), unless the
    /// device cannot give long sense data.
    pub fn alloc_len_after(&self, failed: &[u8]) -> u8 {
        if is_ata_pass_through(failed) && !self.bad {
            LONG
        } else {
            self.alloc_len()
        }
    }

    /// A command `cdb` completed with GOOD status: an ATA PASS-THROUGH that did
    /// so without CK_COND shows a SAT bridge, which will need long sense data
    /// for the commands that return registers.
    pub fn command_passed(&mut self, cdb: &[u8]) {
        if is_ata_pass_through(cdb) && cdb.get(2).is_some_and(|b| b & CK_COND == 0) && !self.bad {
            self.long = true;
        }
    }

    /// REQUEST SENSE returned `sense`: sense data that says it has more than
    /// fits in 18 bytes makes the next request long.
    pub fn sense_received(&mut self, sense: &[u8]) {
        let sense_data = sense.first().is_some_and(|b| b & 0x7C == 0x70);
        if sense_data && sense.get(7).is_some_and(|&n| n > SHORT - 8) && !self.bad {
            self.long = true;
        }
    }

    /// A long REQUEST SENSE failed: this device gets 18 bytes from now on.
    pub fn long_failed(&mut self) {
        self.long = false;
        self.bad = true;
    }
}

fn is_ata_pass_through(cdb: &[u8]) -> bool {
    matches!(
        cdb.first(),
        Some(&cdb::ATA_PASS_THROUGH_12 | &cdb::ATA_PASS_THROUGH_16)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ata16(ck_cond: bool) -> [u8; 16] {
        let mut c = [0u8; 16];
        c[0] = cdb::ATA_PASS_THROUGH_16;
        c[2] = if ck_cond { 0x2e } else { 0x0e };
        c
    }

    #[test]
    fn starts_short_unless_sane() {
        assert_eq!(SenseLen::default().alloc_len(), 18);
        assert_eq!(SenseLen::new(false, false).alloc_len(), 18);
        assert_eq!(SenseLen::new(true, false).alloc_len(), 96);
        // BAD_SENSE wins over SANE_SENSE.
        assert_eq!(SenseLen::new(true, true).alloc_len(), 18);
    }

    #[test]
    fn ata_pass_through_without_ck_cond_makes_it_long() {
        let mut s = SenseLen::default();
        s.command_passed(&ata16(true));
        assert!(
            s.alloc_len() == SHORT,
            "CK_COND commands do not show anything"
        );
        s.command_passed(&[0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0]);
        assert!(s.alloc_len() == SHORT, "READ(10) shows nothing");
        s.command_passed(&ata16(false));
        assert!(s.alloc_len() == LONG);
        let mut s = SenseLen::default();
        s.command_passed(&[
            cdb::ATA_PASS_THROUGH_12,
            0x08,
            0x0e,
            0,
            1,
            0,
            0,
            0,
            0,
            0xec,
            0,
            0,
        ]);
        assert_eq!(s.alloc_len(), 96);
        s.command_passed(&[cdb::ATA_PASS_THROUGH_12]);
        assert_eq!(s.alloc_len(), 96, "a short CDB changes nothing");
    }

    #[test]
    fn long_fixed_sense_makes_it_long() {
        let mut s = SenseLen::default();
        let mut sense = [0u8; 18];
        sense[0] = 0x70;
        sense[7] = 10;
        s.sense_received(&sense);
        assert!(s.alloc_len() == SHORT, "10 additional bytes fit");
        sense[7] = 11;
        sense[0] = 0x7f;
        s.sense_received(&sense);
        assert!(
            s.alloc_len() == SHORT,
            "only response codes 70h-73h count, as in usb-storage"
        );
        sense[0] = 0xf1;
        s.sense_received(&sense);
        assert!(
            s.alloc_len() == LONG,
            "deferred fixed format with VALID counts"
        );
        let mut s = SenseLen::default();
        sense[0] = 0x72;
        s.sense_received(&sense);
        assert!(s.alloc_len() == LONG, "descriptor format counts");
        s.sense_received(&[]);
        assert!(s.alloc_len() == LONG);
    }

    #[test]
    fn a_failed_long_request_or_bad_sense_keeps_it_short() {
        let mut s = SenseLen::new(true, false);
        s.long_failed();
        assert_eq!(s.alloc_len(), 18);
        s.command_passed(&ata16(false));
        let mut sense = [0u8; 18];
        sense[0] = 0x70;
        sense[7] = 40;
        s.sense_received(&sense);
        assert_eq!(s.alloc_len(), 18, "learned BAD_SENSE is for good");
        let mut s = SenseLen::new(false, true);
        s.command_passed(&ata16(false));
        assert_eq!(s.alloc_len(), 18);
    }

    #[test]
    fn the_sense_of_an_ata_pass_through_is_long() {
        let mut s = SenseLen::default();
        assert_eq!(s.alloc_len_after(&ata16(true)), 96, "even the first one");
        assert_eq!(s.alloc_len_after(&[0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0]), 18);
        assert_eq!(s.alloc_len_after(&[]), 18);
        s.long_failed();
        assert_eq!(
            s.alloc_len_after(&ata16(true)),
            18,
            "not after a long one failed"
        );
        assert_eq!(
            SenseLen::new(false, true).alloc_len_after(&ata16(true)),
            18,
            "BAD_SENSE"
        );
    }
}
