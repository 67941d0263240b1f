// SPDX-License-Identifier: GPL-2.0

//! The command chain's decisions (drivers/ub/bot/stages.rs): which stage a
//! completion chains, when the URBs may be reused, how long a stage may take.

use crate::bot::stages::{
    after_cbw, after_data, all_reported, bit, left_ns, planned, wait_ms, Next, CBW, CSW, DATA,
    DATA_IN, DATA_OUT, NO_DATA,
};

const EPIPE: i32 = -32;
const ETIMEDOUT: i32 = -110;

#[test]
fn a_whole_cbw_chains_the_next_stage_of_each_plan() {
    assert_eq!(after_cbw(NO_DATA, false, 0, 31), Next::Submit(CSW));
    assert_eq!(after_cbw(DATA_IN, false, 0, 31), Next::Submit(DATA));
    // Queued behind the CBW (a write always, a read on xHCI): now in flight.
    assert_eq!(after_cbw(DATA_IN, true, 0, 31), Next::InFlight(DATA));
    assert_eq!(after_cbw(DATA_OUT, true, 0, 31), Next::InFlight(DATA));
}

#[test]
fn a_write_whose_data_was_not_queued_ends_the_chain() {
    assert_eq!(after_cbw(DATA_OUT, false, 0, 31), Next::Finish);
}

#[test]
fn a_cbw_short_failed_or_stalled_ends_the_chain_whatever_the_plan() {
    for plan in [NO_DATA, DATA_IN, DATA_OUT] {
        for sent in [false, true] {
            for (status, actual) in [(0, 0), (0, 30), (0, 32), (EPIPE, 31), (ETIMEDOUT, 0)] {
                assert_eq!(
                    after_cbw(plan, sent, status, actual),
                    Next::Finish,
                    "plan {plan} sent {sent} status {status} actual {actual}"
                );
            }
        }
    }
}

#[test]
fn the_csw_follows_data_only_when_all_of_it_moved() {
    assert_eq!(after_data(0, 4096, 4096), Next::Submit(CSW));
    assert_eq!(after_data(0, 1 << 20, 1 << 20), Next::Submit(CSW));
    // A short read is the CSW's residue to explain, read stage by stage.
    assert_eq!(after_data(0, 4095, 4096), Next::Finish);
    assert_eq!(after_data(0, 0, 4096), Next::Finish);
    assert_eq!(after_data(EPIPE, 4096, 4096), Next::Finish);
    assert_eq!(after_data(ETIMEDOUT, 512, 4096), Next::Finish);
    // More than a u32 can say is never "all of it".
    assert_eq!(after_data(0, usize::MAX, u32::MAX), Next::Finish);
}

#[test]
fn urbs_are_reusable_only_once_every_planned_stage_reported() {
    let with_data = planned(DATA_IN);
    let without = planned(NO_DATA);
    assert_eq!(with_data, bit(CBW) | bit(DATA) | bit(CSW));
    assert_eq!(planned(DATA_OUT), with_data);
    assert_eq!(without, bit(CBW) | bit(CSW));
    assert!(all_reported(with_data, with_data));
    assert!(all_reported(without, without));
    // A device that answered the data and the CSW before the CBW's
    // completion ran: the CBW's URB is still the core's.
    assert!(!all_reported(bit(DATA) | bit(CSW), with_data));
    assert!(!all_reported(bit(CBW) | bit(CSW), with_data));
    assert!(!all_reported(bit(CSW), without));
    assert!(all_reported(with_data, without));
}

#[test]
fn a_stage_has_what_is_left_of_its_own_limit() {
    let ms = 1_000_000i64;
    // Submitted at 1 s, limit 5 s, deadline far: 4 s left at 2 s.
    assert_eq!(left_ns(5000, 1000 * ms, i64::MAX, 2000 * ms), 4000 * ms);
    assert_eq!(left_ns(5000, 1000 * ms, i64::MAX, 6000 * ms), 0);
    assert!(left_ns(5000, 1000 * ms, i64::MAX, 7000 * ms) < 0);
}

#[test]
fn the_command_deadline_cuts_a_stage_short() {
    let ms = 1_000_000i64;
    assert_eq!(left_ns(20_000, 0, 3000 * ms, 1000 * ms), 2000 * ms);
    assert!(left_ns(20_000, 0, 1000 * ms, 1500 * ms) < 0);
}

#[test]
fn a_clock_before_the_submission_counts_as_no_time_elapsed() {
    let ms = 1_000_000i64;
    assert_eq!(left_ns(5000, 2000 * ms, i64::MAX, 1000 * ms), 5000 * ms);
}

#[test]
fn a_wait_never_ends_before_the_time_it_stands_for() {
    assert_eq!(wait_ms(1, 200), 1);
    assert_eq!(wait_ms(1_000_000, 200), 1);
    assert_eq!(wait_ms(1_000_001, 200), 2);
    assert_eq!(wait_ms(150_000_000, 200), 150);
    // Looked at again every poll period (an unbind may have started).
    assert_eq!(wait_ms(5_000_000_000, 200), 200);
    assert_eq!(wait_ms(i64::MAX, 200), 200);
}
