// SPDX-License-Identifier: GPL-2.0

//! The recovery ladder's steps, and which of them a recovery takes
//! ([`steps`]). Pure logic: compiled into the module and tested on the host
//! (`drivers/ub/host`).

/// A recovery step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Bulk-Only Mass Storage Reset and clear halt on both bulk endpoints.
    ResetRecovery,
    /// USB port reset (re-enumeration up to SET_CONFIGURATION).
    PortReset,
}

impl Step {
    /// The step's name in log lines.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Step::ResetRecovery => "reset recovery",
            Step::PortReset => "port reset",
        }
    }
}

/// The steps a recovery takes, in order, after `failures` commands in a row
/// (this one included) ended without a valid CSW: Reset Recovery then a port
/// reset (the other way round with `port_reset_first`); when the last
/// recovery did not stick (`failures` above 1), the first step is skipped.
pub(crate) fn steps(port_reset_first: bool, failures: u32) -> &'static [Step] {
    const GENTLE_FIRST: [Step; 2] = [Step::ResetRecovery, Step::PortReset];
    const PORT_FIRST: [Step; 2] = [Step::PortReset, Step::ResetRecovery];
    let order: &'static [Step] = if port_reset_first {
        &PORT_FIRST
    } else {
        &GENTLE_FIRST
    };
    let skip = usize::from(failures > 1);
    order.get(skip..).unwrap_or(&[])
}
