// SPDX-License-Identifier: GPL-2.0

//! How a command ends: with a valid CSW ([`Outcome`]) or without
//! ([`TransportError`]: the [`Stage`] and the [`Fault`]), and what a CSW says
//! of the command it should answer ([`judge_csw`]). Pure logic: compiled into
//! the module and tested on the host (`drivers/ub/host`).

use crate::scsi::csw::{Csw, CswError, CswStatus};

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

/// What a CSW says of the command it should answer ([`judge_csw`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CswVerdict {
    /// How the command ended.
    pub(crate) result: Result<Outcome, TransportError>,
    /// The CSW is well formed and answers the command (its status may still be
    /// a phase error): the device has sent a valid CSW.
    pub(crate) valid: bool,
    /// A signature other than `USBS` that the device's CSWs carry from now on.
    pub(crate) learned_signature: Option<u32>,
}

/// Judges `csw` against the command it should answer (BOT 6.3): tag `tag`,
/// `len` bytes of data stage, from a device whose CSWs carry `signature`.
/// `first` when no valid CSW came from the device yet: a signature other than
/// the expected one is learned from the first CSW, as usb-storage does, and
/// only if the rest of it is meaningful; later, a changed signature is a
/// broken CSW. `any_tag` for usb-storage's BULK_IGNORE_TAG: whatever tag the
/// device sends is this command's (one command is in flight at a time).
/// Strict where data is at stake: a wrong tag, a status above 2 or a residue
/// larger than the transfer is a transport error, never a success.
pub(crate) fn judge_csw(
    csw: &Csw,
    tag: u32,
    len: u32,
    signature: u32,
    first: bool,
    any_tag: bool,
) -> CswVerdict {
    let tag = if any_tag { csw.tag } else { tag };
    let learned_signature =
        (csw.signature != signature && first && csw.check(tag, len, csw.signature).is_ok())
            .then_some(csw.signature);
    let checked = csw.check(tag, len, learned_signature.unwrap_or(signature));
    let broken = |fault| Err(TransportError::Broken(Stage::Csw, fault));
    let result = match checked {
        Ok(CswStatus::Passed { residue }) => Ok(Outcome::Passed { residue }),
        Ok(CswStatus::Failed { residue }) => Ok(Outcome::Failed { residue }),
        Ok(CswStatus::PhaseError) | Err(CswError::BadStatus(_)) => broken(Fault::PhaseError),
        Err(CswError::TagMismatch { .. }) => broken(Fault::WrongTag),
        Err(CswError::ResidueTooLarge { .. }) => broken(Fault::BadResidue),
        Err(_) => broken(Fault::BadCsw),
    };
    CswVerdict {
        result,
        valid: checked.is_ok(),
        learned_signature,
    }
}
