// SPDX-License-Identifier: GPL-2.0

//! The executor loop's decision after a try that ended without a valid CSW
//! ([`super::run`]), apart from the device: pure, tested on the host.

/// What follows a try that ended without a valid CSW.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AfterBroken {
    /// End the command; the recovery is the caller's (a block request is
    /// completed first, and the next command recovers).
    End,
    /// Recover the transport, then end the command, whatever the recovery
    /// gives.
    RecoverThenEnd,
    /// Recover the transport, then try again if the recovery worked.
    RecoverThenRetry,
}

/// After the `broken`-th try of a command that ended without a valid CSW: it
/// is tried again only while fewer than `max_broken` tries have, the try was
/// not the `last` its policy allows and its time is not `expired`; the
/// transport is recovered before a retry, and after the final try only when
/// the caller asks (`recover_last`).
pub(crate) fn after_broken(
    broken: u32,
    max_broken: u32,
    last: bool,
    expired: bool,
    recover_last: bool,
) -> AfterBroken {
    if broken < max_broken && !last && !expired {
        AfterBroken::RecoverThenRetry
    } else if recover_last {
        AfterBroken::RecoverThenEnd
    } else {
        AfterBroken::End
    }
}
