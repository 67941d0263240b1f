// SPDX-License-Identifier: GPL-2.0

//! The device state machine of Documentation/design.rst, transition by
//! transition.

use crate::block::device::state::{Access, State};

const ALL: [State; 4] = [State::Running, State::Reset, State::Asleep, State::Gone];

#[test]
fn a_foreign_reset_pauses_a_running_device_and_ends() {
    assert_eq!(State::Running.reset_begins(), State::Reset);
    assert_eq!(State::Reset.wakes(), State::Running);
    // A reset during system sleep leaves the device asleep until it resumes.
    assert_eq!(State::Asleep.reset_begins(), State::Asleep);
}

#[test]
fn system_sleep_pauses_a_running_device_until_resume() {
    assert_eq!(State::Running.sleeps(), State::Asleep);
    assert_eq!(State::Asleep.wakes(), State::Running);
    assert_eq!(State::Reset.sleeps(), State::Reset);
}

#[test]
fn gone_is_final() {
    for s in [
        State::Gone.reset_begins(),
        State::Gone.sleeps(),
        State::Gone.wakes(),
    ] {
        assert_eq!(s, State::Gone);
    }
}

#[test]
fn a_running_device_needs_no_waking() {
    assert_eq!(State::Running.wakes(), State::Running);
}

#[test]
fn requests_wait_while_paused_and_fail_once_gone() {
    for s in ALL {
        let paused = matches!(s, State::Reset | State::Asleep);
        assert_eq!(s.worker_takes(), !paused, "{s:?}");
        assert_eq!(s.fails_requests(), s == State::Gone, "{s:?}");
        // The worker takes a gone device's requests, to fail them.
        if s.fails_requests() {
            assert!(s.worker_takes());
        }
    }
}

#[test]
fn outside_commands_go_only_to_a_running_device() {
    assert_eq!(State::Running.access(), Access::Go);
    assert_eq!(State::Reset.access(), Access::Busy);
    assert_eq!(State::Asleep.access(), Access::Busy);
    assert_eq!(State::Gone.access(), Access::Gone);
}
