//! Property tests: the parsers never panic on arbitrary bytes, CBW encoding
//! round-trips, CSW checking never reports success for a CSW that is not
//! valid and meaningful, and the CDB builders respect their field limits.

use proptest::prelude::*;
use scsi::capacity::{ReadCapacity10, ReadCapacity16};
use scsi::cbw::{Cbw, Direction};
use scsi::cdb;
use scsi::csw::{Csw, CswStatus, CSW_SIGNATURE};
use scsi::inquiry::{parse_unit_serial, Inquiry};
use scsi::mode::ModeData;
use scsi::sense::{BlkStatus, Retry, Sense, SenseKey};

fn direction() -> impl Strategy<Value = Direction> {
    prop_oneof![
        Just(Direction::None),
        Just(Direction::In),
        Just(Direction::Out)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn parsers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Csw::parse(&data);
        if let Ok(s) = Sense::parse(&data) {
            let _ = (s.blk_status(), s.retry(), s.no_medium());
        }
        if let Ok(i) = Inquiry::parse(&data) {
            let _ = (i.vendor(), i.product(), i.revision());
        }
        let _ = parse_unit_serial(&data);
        if let Ok(rc) = ReadCapacity10::parse(&data) {
            let _ = rc.capacity();
        }
        if let Ok(rc) = ReadCapacity16::parse(&data) {
            let _ = (rc.capacity(), rc.physical_block_size());
        }
        for m in [ModeData::parse_6(&data), ModeData::parse_10(&data)].into_iter().flatten() {
            prop_assert!(m.pages().count() <= m.page_bytes.len() / 2);
            let _ = m.caching();
        }
        let _ = Cbw::parse(&data);
    }

    #[test]
    fn cbw_round_trips(
        tag in any::<u32>(),
        len in any::<u32>(),
        dir in direction(),
        lun in 0u8..=15,
        cdb in proptest::collection::vec(any::<u8>(), 1..=16),
    ) {
        let len = if dir == Direction::None { 0 } else { len.max(1) };
        let cbw = Cbw::new(tag, len, dir, lun, &cdb).unwrap();
        let bytes = cbw.encode();
        prop_assert_eq!(&bytes[0..4], b"USBC");
        let back = Cbw::parse(&bytes).unwrap();
        prop_assert_eq!(back, cbw);
        prop_assert_eq!(back.cdb(), &cdb[..]);
        prop_assert_eq!(back.tag(), tag);
        prop_assert_eq!(back.transfer_len(), len);
        prop_assert_eq!(back.direction(), dir);
        prop_assert_eq!(back.lun(), lun);
    }

    #[test]
    fn cbw_new_rejects_what_it_cannot_encode(
        lun in any::<u8>(),
        cdb_len in 0usize..40,
        len in any::<u32>(),
        dir in direction(),
    ) {
        let cdb = vec![0xA5u8; cdb_len];
        let ok = lun <= 15
            && (1..=16).contains(&cdb_len)
            && ((dir == Direction::None) == (len == 0));
        prop_assert_eq!(Cbw::new(1, len, dir, lun, &cdb).is_ok(), ok);
    }

    #[test]
    fn csw_check_is_strict(
        sig in prop_oneof![Just(CSW_SIGNATURE), any::<u32>()],
        tag in any::<u32>(),
        expected_tag in any::<u32>(),
        residue in any::<u32>(),
        status in any::<u8>(),
        transfer_len in any::<u32>(),
        same_tag in any::<bool>(),
    ) {
        let expected_tag = if same_tag { tag } else { expected_tag };
        let mut raw = [0u8; 13];
        raw[0..4].copy_from_slice(&sig.to_le_bytes());
        raw[4..8].copy_from_slice(&tag.to_le_bytes());
        raw[8..12].copy_from_slice(&residue.to_le_bytes());
        raw[12] = status;
        let csw = Csw::parse(&raw).unwrap();
        match csw.check(expected_tag, transfer_len, CSW_SIGNATURE) {
            Ok(CswStatus::Passed { residue: r }) | Ok(CswStatus::Failed { residue: r }) => {
                prop_assert_eq!(sig, CSW_SIGNATURE);
                prop_assert_eq!(tag, expected_tag);
                prop_assert!(status <= 1);
                prop_assert!(residue <= transfer_len);
                prop_assert_eq!(r, residue);
            }
            Ok(CswStatus::PhaseError) => {
                prop_assert_eq!(sig, CSW_SIGNATURE);
                prop_assert_eq!(tag, expected_tag);
                prop_assert_eq!(status, 2);
            }
            Err(_) => {
                prop_assert!(
                    sig != CSW_SIGNATURE
                        || tag != expected_tag
                        || status > 2
                        || (status < 2 && residue > transfer_len)
                );
            }
        }
    }

    #[test]
    fn csw_wrong_length_is_rejected(data in proptest::collection::vec(any::<u8>(), 0..64)) {
        prop_assert_eq!(Csw::parse(&data).is_ok(), data.len() == 13);
    }

    #[test]
    fn rw_builders_respect_limits(lba in any::<u64>(), blocks in any::<u32>()) {
        let end = u128::from(lba) + u128::from(blocks);
        match cdb::read_10(lba, blocks) {
            Ok(c) => {
                prop_assert!((1..=0xFFFF).contains(&blocks) && end <= 1 << 32);
                let b = c.as_bytes();
                prop_assert_eq!(b.len(), 10);
                prop_assert_eq!(u64::from(u32::from_be_bytes([b[2], b[3], b[4], b[5]])), lba);
                prop_assert_eq!(u32::from(u16::from_be_bytes([b[7], b[8]])), blocks);
            }
            Err(_) => prop_assert!(blocks == 0 || blocks > 0xFFFF || end > 1 << 32),
        }
        match cdb::write(lba, blocks) {
            Ok(c) => {
                let b = c.as_bytes();
                prop_assert!(blocks >= 1);
                if b.len() == 16 {
                    prop_assert_eq!(b[0], cdb::WRITE_16);
                    prop_assert_eq!(u64::from_be_bytes(b[2..10].try_into().unwrap()), lba);
                    prop_assert_eq!(u32::from_be_bytes(b[10..14].try_into().unwrap()), blocks);
                    prop_assert!(blocks > 0xFFFF || end > 1 << 32);
                } else {
                    prop_assert_eq!(b[0], cdb::WRITE_10);
                }
            }
            Err(_) => prop_assert!(blocks == 0 || end > 1 << 64),
        }
    }

    #[test]
    fn sense_decisions_are_consistent(key in 0u8..16, asc in any::<u8>(), ascq in any::<u8>(), deferred in any::<bool>()) {
        let s = Sense { key: SenseKey::from_bits(key), asc, ascq, deferred, info: None };
        let status = s.blk_status();
        let retry = s.retry();
        // Only RECOVERED ERROR completes a request successfully.
        prop_assert_eq!(status == BlkStatus::Ok, s.key == SenseKey::RecoveredError);
        // Deferred errors are never retried; medium-not-present is reported
        // whenever the ASC says so on a current NOT READY / UNIT ATTENTION.
        if deferred {
            prop_assert_eq!(retry, Retry::No);
        } else if s.no_medium() {
            prop_assert_eq!(retry, Retry::NoMedium);
        }
        if retry == Retry::MediaChanged {
            prop_assert_eq!((s.key, asc, ascq), (SenseKey::UnitAttention, 0x28, 0));
        }
    }
}
