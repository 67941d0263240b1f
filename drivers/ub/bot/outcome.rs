// SPDX-License-Identifier: GPL-2.0

//! How a command ends: with a valid CSW ([`Outcome`]) or without
//! ([`TransportError`]: the [`Stage`] and the [`Fault`]), and the one place a
//! failed transfer's status is classified ([`broken`]).

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

/// A command the device answered with a valid CSW.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Status 0: passed, with `residue` bytes not transferred.
    Passed {
        /// Bytes of the data stage not transferred.
        residue: u32,
    },
    /// Status 1: failed; the sense data says why.
    Failed {
        /// Bytes of the data stage not transferred.
        residue: u32,
    },
}

/// The BOT stage in which a command went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Sending the CBW.
    Cbw,
    /// The data stage.
    Data,
    /// Receiving the CSW.
    Csw,
}

impl Stage {
    /// The stage's name in log lines.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Stage::Cbw => "CBW",
            Stage::Data => "data",
            Stage::Csw => "CSW",
        }
    }
}

/// What broke the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The stage timed out and was cancelled.
    Timeout,
    /// The endpoint stalled and the halt could not be cleared.
    Stall,
    /// The CBW was not taken whole.
    ShortCbw,
    /// The CSW is not 13 bytes, or has an unknown signature.
    BadCsw,
    /// The CSW answers another command.
    WrongTag,
    /// The CSW reports a residue larger than the transfer.
    BadResidue,
    /// The CSW status is 2 (phase error) or undefined.
    PhaseError,
    /// A USB error (babble, CRC, ...) or a mapping failure.
    Usb,
}

impl Fault {
    /// The fault's name in log lines.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Fault::Timeout => "timeout",
            Fault::Stall => "stall not cleared",
            Fault::ShortCbw => "short CBW",
            Fault::BadCsw => "invalid CSW",
            Fault::WrongTag => "CSW tag mismatch",
            Fault::BadResidue => "CSW residue larger than the transfer",
            Fault::PhaseError => "phase error",
            Fault::Usb => "USB error",
        }
    }
}

/// A command that did not end with a valid CSW.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TransportError {
    /// The device broke the protocol in a stage; Reset Recovery is due.
    Broken(Stage, Fault),
    /// The device is gone (unplugged, or its port disabled).
    Gone,
    /// The device was given up (a port reset could not bring it back) and is
    /// not tried again before its backoff ends.
    Dead,
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
