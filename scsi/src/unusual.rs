//! usb-storage's table of unusual devices (its `unusual_devs.h`), as far as a
//! Bulk-Only disk driver can use it: the quirk letters a device gets by its
//! vendor and product id and its release number (`bcdDevice`).
//!
//! The table is generated from the kernel source by `scripts/gen-unusual-devs`
//! and committed (`unusual_devs.rs`): entries whose transport is Bulk-Only or the
//! device's own and whose command set is SCSI or the device's own, with the
//! flags `ub` honours, in the letters of usb-storage's `quirks` parameter (`F`,
//! BROKEN_FUA, and `T`, BULK_IGNORE_TAG, are `ub`'s: that parameter has no
//! letters for them).

#[path = "unusual_devs.rs"]
mod table;

// The entry type lives in a module of its own, which the generated table and
// this file both import: the table does not depend on the file that reads it.
pub use super::unusual_dev::UnusualDev;

/// The quirk letters of device `vid:pid` release `bcd`, if the table has it
/// (the first entry that covers it, as usb-storage matches).
pub fn lookup(vid: u16, pid: u16, bcd: u16) -> Option<&'static str> {
    table::TABLE
        .iter()
        .find(|e| e.vid == vid && e.pid == pid && (e.bcd_lo..=e.bcd_hi).contains(&bcd))
        .map(|e| e.letters)
}

#[cfg(test)]
mod tests {
    use super::{lookup, table::TABLE};

    #[test]
    fn known_devices() {
        // TrekStor i.Beat 115 2.0: IGNORE_RESIDUE | NOT_LOCKABLE.
        assert_eq!(lookup(0x0419, 0xaaf5, 0x0100), Some("lr"));
        // HP PhotoSmart R707: FIX_CAPACITY, release 0001 only.
        assert_eq!(lookup(0x03f0, 0x4002, 0x0001), Some("c"));
        assert_eq!(lookup(0x03f0, 0x4002, 0x0002), None);
        // Nokia 5300: MAX_SECTORS_64.
        assert_eq!(lookup(0x0421, 0x04b9, 0x0350), Some("m"));
        assert_eq!(lookup(0x1d6b, 0x0104, 0x0100), None);
    }

    #[test]
    fn table_is_sane() {
        // usb-storage has about 140 such entries; a parser that lost them
        // would leave far fewer.
        assert!(TABLE.len() >= 130, "{} entries", TABLE.len());
        for e in TABLE {
            assert!(e.bcd_lo <= e.bcd_hi, "{e:?}");
            assert!(!e.letters.is_empty(), "{e:?}");
            assert!(
                e.letters
                    .bytes()
                    .all(|c| b"abcehilmnoprswyFTBSEIY".contains(&c)),
                "{e:?}"
            );
        }
        // Sorted, so that a regeneration shows as a clean diff.
        assert!(TABLE
            .windows(2)
            .all(|w| (w[0].vid, w[0].pid, w[0].bcd_lo) <= (w[1].vid, w[1].pid, w[1].bcd_lo)));
    }
}
