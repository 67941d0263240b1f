// SPDX-License-Identifier: GPL-2.0

//! What a CSW's residue is taken to mean ([`settle_passed`],
//! [`settle_failed`]): never fewer bytes missing than really went missing,
//! and none at all from a device whose residues are known to be bogus.
//! Pure logic: compiled into the module and tested on the host
//! (`drivers/ub/host`).

use crate::scsi::{
    cbw::Direction,
    cdb::{self, Cdb},
};

/// What the residue of a passed command is taken to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Settled {
    /// This many bytes of the data stage did not move.
    Residue(u32),
    /// None: the device reported one for a complete INQUIRY or READ
    /// CAPACITY(10), which shows its residues are bogus (usb-storage's
    /// heuristic); they are to be ignored from now on.
    IgnoreFromNow,
}

/// The residue of a passed command `cdb` of `len` bytes in direction `dir`,
/// `moved` of which really moved, that the device reported as `residue`;
/// `ignoring` when its residues are known to be bogus. Never fewer bytes than
/// went missing, or the block layer would complete garbage as data.
pub(crate) fn settle_passed(
    cdb: &Cdb,
    dir: Direction,
    len: u32,
    moved: u32,
    residue: u32,
    ignoring: bool,
) -> Settled {
    let missing = len.saturating_sub(moved);
    if residue <= missing || ignoring {
        return Settled::Residue(missing);
    }
    let probe_cmd = (cdb.opcode() == cdb::INQUIRY && len == 36)
        || (cdb.opcode() == cdb::READ_CAPACITY_10 && len == 8);
    if missing == 0 && dir == Direction::In && probe_cmd {
        return Settled::IgnoreFromNow;
    }
    Settled::Residue(residue)
}

/// The residue of a failed command: its sense may claim it completed
/// (RECOVERED ERROR), so it too must show what really went missing.
pub(crate) fn settle_failed(len: u32, moved: u32, residue: u32, ignoring: bool) -> u32 {
    let missing = len.saturating_sub(moved);
    if ignoring {
        missing
    } else {
        residue.max(missing)
    }
}
