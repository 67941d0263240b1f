// SPDX-License-Identifier: GPL-2.0

//! What a CSW says of its command: strict where data is at stake (tag, status,
//! residue), lenient about a signature learned from the first CSW only.

use crate::bot::outcome::{judge_csw, CswVerdict, Fault, Outcome, Stage, TransportError};
use scsi::csw::{Csw, CSW_SIGNATURE, CSW_SIGNATURE_OLYMPUS};

const TAG: u32 = 7;
const LEN: u32 = 4096;

fn csw(signature: u32, tag: u32, residue: u32, status: u8) -> Csw {
    Csw {
        signature,
        tag,
        residue,
        status,
    }
}

fn broken(fault: Fault) -> Result<Outcome, TransportError> {
    Err(TransportError::Broken(Stage::Csw, fault))
}

/// The verdict on `c` for a command of tag [`TAG`] and [`LEN`] bytes, from a
/// device signing `USBS` that has sent a valid CSW before.
fn judge(c: &Csw) -> CswVerdict {
    judge_csw(c, TAG, LEN, CSW_SIGNATURE, false, false)
}

#[test]
fn a_valid_csw_passes_or_fails_with_its_residue() {
    let v = judge(&csw(CSW_SIGNATURE, TAG, 512, 0));
    assert_eq!(v.result, Ok(Outcome::Passed { residue: 512 }));
    assert!(v.valid);
    assert_eq!(v.learned_signature, None);
    let v = judge(&csw(CSW_SIGNATURE, TAG, 0, 1));
    assert_eq!(v.result, Ok(Outcome::Failed { residue: 0 }));
    assert!(v.valid);
}

#[test]
fn a_wrong_tag_is_a_transport_error_unless_tags_are_ignored() {
    let c = csw(CSW_SIGNATURE, TAG + 1, 0, 0);
    let v = judge(&c);
    assert_eq!(v.result, broken(Fault::WrongTag));
    assert!(!v.valid);
    // Quirk T: one command is in flight, whatever tag comes is its.
    let v = judge_csw(&c, TAG, LEN, CSW_SIGNATURE, false, true);
    assert_eq!(v.result, Ok(Outcome::Passed { residue: 0 }));
    assert!(v.valid);
}

#[test]
fn a_residue_beyond_the_transfer_is_never_a_success() {
    let v = judge(&csw(CSW_SIGNATURE, TAG, LEN + 1, 0));
    assert_eq!(v.result, broken(Fault::BadResidue));
    assert!(!v.valid);
    // With no data stage, any residue but 0 is beyond it.
    let v = judge_csw(
        &csw(CSW_SIGNATURE, TAG, 1, 0),
        TAG,
        0,
        CSW_SIGNATURE,
        false,
        false,
    );
    assert_eq!(v.result, broken(Fault::BadResidue));
}

#[test]
fn status_2_is_a_valid_phase_error_and_above_2_an_invalid_one() {
    let v = judge(&csw(CSW_SIGNATURE, TAG, 0, 2));
    assert_eq!(v.result, broken(Fault::PhaseError));
    assert!(v.valid, "a phase error CSW is well formed");
    for status in [3u8, 4, 0x80, 0xff] {
        let v = judge(&csw(CSW_SIGNATURE, TAG, 0, status));
        assert_eq!(v.result, broken(Fault::PhaseError), "status {status}");
        assert!(!v.valid, "status {status}");
    }
}

#[test]
fn another_signature_is_learned_from_the_first_valid_csw_only() {
    let c = csw(CSW_SIGNATURE_OLYMPUS, TAG, 0, 0);
    let v = judge_csw(&c, TAG, LEN, CSW_SIGNATURE, true, false);
    assert_eq!(v.result, Ok(Outcome::Passed { residue: 0 }));
    assert_eq!(v.learned_signature, Some(CSW_SIGNATURE_OLYMPUS));
    assert!(v.valid);
    // Once the device has signed a CSW, another signature breaks it.
    let v = judge(&c);
    assert_eq!(v.result, broken(Fault::BadCsw));
    assert_eq!(v.learned_signature, None);
    assert!(!v.valid);
    // And the one learned is then the one expected.
    let v = judge_csw(&c, TAG, LEN, CSW_SIGNATURE_OLYMPUS, false, false);
    assert_eq!(v.result, Ok(Outcome::Passed { residue: 0 }));
}

#[test]
fn a_first_csw_that_is_wrong_besides_its_signature_teaches_nothing() {
    for c in [
        csw(CSW_SIGNATURE_OLYMPUS, TAG + 1, 0, 0),
        csw(CSW_SIGNATURE_OLYMPUS, TAG, LEN + 1, 0),
        csw(CSW_SIGNATURE_OLYMPUS, TAG, 0, 9),
    ] {
        let v = judge_csw(&c, TAG, LEN, CSW_SIGNATURE, true, false);
        assert_eq!(v.learned_signature, None, "{c:?}");
        assert_eq!(v.result, broken(Fault::BadCsw), "{c:?}");
        assert!(!v.valid, "{c:?}");
    }
}

#[test]
fn every_csw_gets_a_verdict_consistent_with_its_fields() {
    // Every combination of the fields' interesting values: a success only for
    // the right signature and tag, a status of 0 or 1 and a residue within
    // the transfer.
    let sigs = [CSW_SIGNATURE, CSW_SIGNATURE_OLYMPUS, 0, u32::MAX];
    let tags = [TAG, TAG + 1, 0];
    let residues = [0, 1, LEN - 1, LEN, LEN + 1, u32::MAX];
    for &signature in &sigs {
        for &tag in &tags {
            for &residue in &residues {
                for status in 0..=255u8 {
                    for (first, any_tag) in [(false, false), (true, false), (false, true)] {
                        let c = csw(signature, tag, residue, status);
                        let v = judge_csw(&c, TAG, LEN, CSW_SIGNATURE, first, any_tag);
                        let sig_ok =
                            signature == CSW_SIGNATURE || (first && v.learned_signature.is_some());
                        let tag_ok = tag == TAG || any_tag;
                        let good = sig_ok && tag_ok && residue <= LEN && status <= 1;
                        assert_eq!(
                            v.result.is_ok(),
                            good,
                            "{c:?} first {first} any_tag {any_tag}"
                        );
                        if let Ok(Outcome::Passed { residue: r } | Outcome::Failed { residue: r }) =
                            v.result
                        {
                            assert_eq!(r, residue);
                        }
                        assert!(
                            v.learned_signature.is_none() || (first && signature != CSW_SIGNATURE)
                        );
                    }
                }
            }
        }
    }
}
