//! The fuzz harness body: feeds one input to every parser and to the
//! decisions drawn from their results. Shared by the cargo-fuzz target
//! (`fuzz/fuzz_targets/parsers.rs`) and the stable-toolchain smoke test
//! (`tests/fuzz_smoke.rs`). Compiled only with the `fuzzing` feature, never
//! in the kernel.
//!
//! Besides "no panic", it checks a few invariants the parsers promise, so a
//! violation aborts the run like a crash would.

use super::capacity::{ReadCapacity10, ReadCapacity16};
use super::csw::{Csw, CswStatus};
use super::inquiry::{parse_rotation_rate, parse_unit_serial, vpd_lists_page, Inquiry};
use super::mode::ModeData;
use super::sense::Sense;

/// Runs every parser on `data`, asserting the invariants the parsers promise.
pub fn fuzz_parsers(data: &[u8]) {
    // The first four bytes double as the tag and transfer length a CSW is
    // checked against, so both matching and mismatching cases get exercised.
    let word = |at: usize| {
        data.get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u32::from_le_bytes)
    };
    if let Ok(csw) = Csw::parse(data) {
        assert_eq!(Csw::parse(&csw.encode()), Ok(csw));
        for (tag, len) in [(csw.tag, word(8)), (word(0), word(4)), (csw.tag, u32::MAX)] {
            if let Ok(status) = csw.check(tag, len, csw.signature) {
                assert_eq!(csw.tag, tag);
                match status {
                    CswStatus::Passed { residue } | CswStatus::Failed { residue } => {
                        assert!(csw.status <= 1 && residue <= len)
                    }
                    CswStatus::PhaseError => assert_eq!(csw.status, 2),
                }
            }
        }
    }

    if let Ok(sense) = Sense::parse(data) {
        let _ = sense.blk_status();
        let _ = sense.retry();
    }

    if let Ok(inq) = Inquiry::parse(data) {
        for field in [inq.vendor(), inq.product(), inq.revision()]
            .into_iter()
            .flatten()
        {
            assert!(field.first().is_none_or(|b| *b != b' ' && *b != 0));
            assert!(field.last().is_none_or(|b| *b != b' ' && *b != 0));
        }
    }
    if let Ok(true) = vpd_lists_page(data, 0x80) {
        assert!(data.len() > 4);
    }
    if let Ok(serial) = parse_unit_serial(data) {
        assert!(serial.len() + 4 <= data.len());
    }
    if parse_rotation_rate(data).is_ok() {
        assert!(data.len() > 8);
    }

    if let Ok(rc) = ReadCapacity10::parse(data) {
        if let Ok(cap) = rc.capacity() {
            assert!(cap.blocks > 0 && cap.block_size.is_power_of_two());
            assert!(cap.blocks.checked_mul(u64::from(cap.block_size)).is_some());
        }
    }
    if let Ok(rc) = ReadCapacity16::parse(data) {
        let _ = rc.physical_block_size();
        if let Ok(cap) = rc.capacity() {
            assert!(cap.blocks > 0 && cap.block_size.is_power_of_two());
            assert!(cap.blocks.checked_mul(u64::from(cap.block_size)).is_some());
        }
    }

    for mode in [ModeData::parse_6(data), ModeData::parse_10(data)]
        .into_iter()
        .flatten()
    {
        let mut seen = 0usize;
        for page in mode.pages() {
            seen += page.data.len() + 2;
            assert!(seen <= mode.page_bytes.len());
        }
        let _ = mode.caching();
        let _ = mode.header.write_protected();
    }
}
