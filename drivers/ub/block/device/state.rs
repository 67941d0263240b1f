// SPDX-License-Identifier: GPL-2.0

//! The one state of a bound device ([`State`]) and its transitions, as
//! Documentation/design.rst draws them. Pure logic: compiled into the module
//! and tested on the host (`drivers/ub/host`).
//!
//! The state lives in [`super::pending::Pending`], under the device's pending
//! lock: `queue_rq` (atomic context) reads it there, and every transition is
//! made there. What the transport knows of the device (a device given up for
//! a while after a failed port reset, its backoff) is the transport's own and
//! does not stop requests: they fail at once, one by one, until the backoff
//! ends.

/// Whether a device serves requests and takes commands from outside its worker
/// (media polling, eject, door lock, `SG_IO`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// Requests are served; outside commands are sent.
    Running,
    /// Someone else is resetting the device (between its `pre_reset` and
    /// `post_reset`): requests wait, outside commands get `EBUSY`.
    Reset,
    /// Suspended for system sleep: requests wait, outside commands get
    /// `EBUSY`.
    Asleep,
    /// Unplugged, unbound, or found gone by the transport: queued and new
    /// requests fail with `ENODEV`, outside commands get `ENODEV`. Final.
    Gone,
}

/// What a command from outside the worker gets in a state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// It is sent.
    Go,
    /// `EBUSY`: try again later.
    Busy,
    /// `ENODEV`.
    Gone,
}

impl State {
    /// Someone else is about to reset the device.
    pub(crate) fn reset_begins(self) -> Self {
        match self {
            State::Running => State::Reset,
            s => s,
        }
    }

    /// The system is going to sleep.
    pub(crate) fn sleeps(self) -> Self {
        match self {
            State::Running => State::Asleep,
            s => s,
        }
    }

    /// Someone else's reset is over, or the device resumed.
    pub(crate) fn wakes(self) -> Self {
        match self {
            State::Reset | State::Asleep => State::Running,
            s => s,
        }
    }

    /// Whether the worker takes queued requests: to run them, or, once the
    /// device is gone, to fail them.
    pub(crate) fn worker_takes(self) -> bool {
        !matches!(self, State::Reset | State::Asleep)
    }

    /// Whether requests fail at once.
    pub(crate) fn fails_requests(self) -> bool {
        self == State::Gone
    }

    /// What a command from outside the worker gets.
    pub(crate) fn access(self) -> Access {
        match self {
            State::Running => Access::Go,
            State::Reset | State::Asleep => Access::Busy,
            State::Gone => Access::Gone,
        }
    }
}
