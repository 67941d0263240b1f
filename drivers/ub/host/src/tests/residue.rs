// SPDX-License-Identifier: GPL-2.0

//! Residue settling: a residue never hides missing data, and usb-storage's
//! bogus-residue heuristic.

use crate::bot::residue::{settle_failed, settle_passed, Settled};
use scsi::{cbw::Direction, cdb};

#[test]
fn a_passed_read_is_as_short_as_the_data_that_arrived() {
    let read = cdb::read_10(0, 8).unwrap();
    // The device claims all 4096 bytes came; 512 did not.
    assert_eq!(
        settle_passed(&read, Direction::In, 4096, 3584, 0, false),
        Settled::Residue(512)
    );
    // A residue that says more is missing is believed.
    assert_eq!(
        settle_passed(&read, Direction::In, 4096, 4096, 1024, false),
        Settled::Residue(1024)
    );
}

#[test]
fn a_residue_on_a_complete_inquiry_or_read_capacity_marks_residues_bogus() {
    let inquiry = cdb::inquiry(None, 36);
    assert_eq!(
        settle_passed(&inquiry, Direction::In, 36, 36, 4, false),
        Settled::IgnoreFromNow
    );
    let cap = cdb::read_capacity_10();
    assert_eq!(
        settle_passed(&cap, Direction::In, 8, 8, 8, false),
        Settled::IgnoreFromNow
    );
    // Not for a short one, nor another length, nor another command.
    assert_eq!(
        settle_passed(&inquiry, Direction::In, 36, 30, 8, false),
        Settled::Residue(8)
    );
    assert_eq!(
        settle_passed(&cdb::inquiry(None, 96), Direction::In, 96, 96, 4, false),
        Settled::Residue(4)
    );
    let read = cdb::read_10(0, 1).unwrap();
    assert_eq!(
        settle_passed(&read, Direction::In, 512, 512, 512, false),
        Settled::Residue(512)
    );
}

#[test]
fn an_ignored_residue_leaves_only_what_went_missing() {
    let read = cdb::read_10(0, 8).unwrap();
    assert_eq!(
        settle_passed(&read, Direction::In, 4096, 4096, 4096, true),
        Settled::Residue(0)
    );
    assert_eq!(
        settle_passed(&read, Direction::In, 4096, 1024, 0, true),
        Settled::Residue(3072)
    );
}

#[test]
fn a_failed_command_shows_at_least_what_went_missing() {
    assert_eq!(settle_failed(4096, 4096, 0, false), 0);
    assert_eq!(settle_failed(4096, 1024, 0, false), 3072);
    assert_eq!(settle_failed(4096, 4096, 512, false), 512);
    assert_eq!(settle_failed(4096, 4096, 512, true), 0);
    // A moved count past the length (never from the USB core) is no residue.
    assert_eq!(settle_failed(512, 4096, 0, false), 0);
}
