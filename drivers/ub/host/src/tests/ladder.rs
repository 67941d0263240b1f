// SPDX-License-Identifier: GPL-2.0

//! The recovery ladder of Documentation/recovery.rst.

use crate::bot::ladder::{steps, Step};

#[test]
fn a_first_failure_climbs_the_whole_ladder_gentle_step_first() {
    assert_eq!(steps(false, 1), [Step::ResetRecovery, Step::PortReset]);
}

#[test]
fn a_failure_right_after_a_recovery_goes_straight_to_the_port_reset() {
    for failures in [2, 3, 1000, u32::MAX] {
        assert_eq!(steps(false, failures), [Step::PortReset], "{failures}");
    }
}

#[test]
fn port_reset_first_swaps_the_steps() {
    assert_eq!(steps(true, 1), [Step::PortReset, Step::ResetRecovery]);
    assert_eq!(steps(true, 2), [Step::ResetRecovery]);
}

#[test]
fn step_names_are_the_log_lines() {
    assert_eq!(Step::ResetRecovery.name(), "reset recovery");
    assert_eq!(Step::PortReset.name(), "port reset");
}
