// SPDX-License-Identifier: GPL-2.0

//! The data stage of a command as the transport is given it ([`Data`]), and
//! the one place a failed USB transfer becomes a transport error ([`broken`]):
//! kernel-layer types, kept out of [`super::outcome`], which is pure logic.

use super::{Fault, Stage, TransportError};
use crate::kext::{sg::Segments, usb::TransferError};

/// The data stage of a command.
pub(crate) enum Data<'a> {
    /// No data stage.
    None,
    /// Device to host into these segments.
    In(Segments<'a>),
    /// Host to device from these segments.
    Out(Segments<'a>),
}

/// Maps a failed transfer of `stage` to a transport error.
pub(super) fn broken(stage: Stage, e: TransferError) -> TransportError {
    match e {
        TransferError::Gone => TransportError::Gone,
        TransferError::TimedOut => TransportError::Broken(stage, Fault::Timeout),
        TransferError::Stall => TransportError::Broken(stage, Fault::Stall),
        _ => TransportError::Broken(stage, Fault::Usb),
    }
}
