// SPDX-License-Identifier: GPL-2.0

//! The executor's decision after a try without a valid CSW
//! (drivers/ub/block/exec/step.rs).

use crate::block::exec::step::{after_broken, AfterBroken};

const MAX: u32 = 3;

#[test]
fn a_broken_try_with_tries_and_time_left_is_recovered_and_retried() {
    for recover_last in [false, true] {
        assert_eq!(
            after_broken(1, MAX, false, false, recover_last),
            AfterBroken::RecoverThenRetry
        );
        assert_eq!(
            after_broken(2, MAX, false, false, recover_last),
            AfterBroken::RecoverThenRetry
        );
    }
}

#[test]
fn the_transport_try_limit_ends_the_command() {
    assert_eq!(
        after_broken(MAX, MAX, false, false, false),
        AfterBroken::End
    );
    assert_eq!(
        after_broken(MAX, MAX, false, false, true),
        AfterBroken::RecoverThenEnd
    );
    assert_eq!(
        after_broken(MAX + 1, MAX, false, false, true),
        AfterBroken::RecoverThenEnd
    );
}

#[test]
fn the_policy_last_try_ends_the_command() {
    // The direct path's one try: its recovery is the next command's.
    assert_eq!(after_broken(1, MAX, true, false, false), AfterBroken::End);
    assert_eq!(
        after_broken(1, MAX, true, false, true),
        AfterBroken::RecoverThenEnd
    );
}

#[test]
fn a_command_out_of_time_is_not_tried_again() {
    assert_eq!(after_broken(1, MAX, false, true, false), AfterBroken::End);
    assert_eq!(
        after_broken(1, MAX, false, true, true),
        AfterBroken::RecoverThenEnd
    );
}
