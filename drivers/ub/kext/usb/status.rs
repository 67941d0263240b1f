// SPDX-License-Identifier: GPL-2.0

//! How a USB transfer ended ([`TransferError`]), from the USB core's errno.

use kernel::error::{code::*, Error};

/// How a transfer ended: the one classification of the USB core's status
/// codes (of a URB, `usb_sg_wait()` or a synchronous call) in the driver.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum TransferError {
    /// The device sent less than asked (`-EREMOTEIO`); the byte count says how much.
    Short,
    /// The endpoint stalled (`-EPIPE`): clear the halt.
    Stall,
    /// Our timeout fired and cancelled the transfer.
    TimedOut,
    /// Cancelled by someone else (`-ECONNRESET`, `-ENOENT`).
    Cancelled,
    /// The device or controller is gone (`-ENODEV`, `-ESHUTDOWN`).
    Gone,
    /// Anything else (protocol, babble, overflow errors...).
    Other(Error),
}

impl TransferError {
    /// The errno this stands for (for log and debug lines).
    pub(crate) fn errno(&self) -> i32 {
        match self {
            Self::Short => EREMOTEIO.to_errno(),
            Self::Stall => EPIPE.to_errno(),
            Self::TimedOut => ETIMEDOUT.to_errno(),
            Self::Cancelled => ECONNRESET.to_errno(),
            Self::Gone => ENODEV.to_errno(),
            Self::Other(e) => e.to_errno(),
        }
    }

    /// Classifies a negative errno from the USB core.
    pub(crate) fn from_errno(errno: i32) -> Self {
        let e = Error::from_errno(errno);
        if e == EREMOTEIO {
            Self::Short
        } else if e == EPIPE {
            Self::Stall
        } else if e == ETIMEDOUT {
            // The synchronous calls' own timeout.
            Self::TimedOut
        } else if e == ECONNRESET || e == ENOENT {
            Self::Cancelled
        } else if e == ENODEV || e == ESHUTDOWN {
            Self::Gone
        } else {
            Self::Other(e)
        }
    }
}
