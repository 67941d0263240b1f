// SPDX-License-Identifier: GPL-2.0

//! Per-device quirks: the flags, the built-in table (usb-storage's unusual_devs.h,
//! generated into the `scsi` crate's [`unusual`] module), and the `quirks` module
//! parameter, which takes usb-storage's syntax (`VID:PID:letters`, entries separated
//! by commas) and overrides the table for the devices it names.
//!
//! usb-storage's letters that make sense for a Bulk-Only disk driven without the
//! SCSI midlayer are honoured; the others are accepted with a log line saying they
//! do not apply (Documentation/ub.rst lists each and why). Upper-case letters are
//! `ub`'s own, so that they never collide with a future usb-storage letter.

use kernel::{device::Device, prelude::*};

use crate::{kext::param::quirks_param, scsi::unusual};

/// A set of quirk flags.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Quirks(u32);

impl Quirks {
    /// `c`: the device reports one block more than it has.
    pub(crate) const FIX_CAPACITY: Self = Self(1 << 0);
    /// `e`: never send READ CAPACITY(16); a disk that READ CAPACITY(10) cannot
    /// describe is taken as 2^32 blocks.
    pub(crate) const NO_READ_CAPACITY_16: Self = Self(1 << 1);
    /// `h`: an odd block count is one too many.
    pub(crate) const CAPACITY_HEURISTICS: Self = Self(1 << 2);
    /// `i`: do not bind the device.
    pub(crate) const IGNORE_DEVICE: Self = Self(1 << 3);
    /// `m`: at most 64 sectors (32 KiB) per command.
    pub(crate) const MAX_SECTORS_64: Self = Self(1 << 4);
    /// `p`: the write cache is on unless the caching mode page says otherwise.
    pub(crate) const WRITE_CACHE: Self = Self(1 << 5);
    /// `r`: the device's residues are bogus: ignore them from the first command.
    pub(crate) const IGNORE_RESIDUE: Self = Self(1 << 6);
    /// `s`: one LUN; do not send GET MAX LUN.
    pub(crate) const SINGLE_LUN: Self = Self(1 << 7);
    /// `w`: do not ask whether the medium is write-protected (MODE SENSE of all
    /// pages); take it as writable.
    pub(crate) const NO_WP_DETECT: Self = Self(1 << 8);
    /// `y`: no MODE SENSE at all; flushes always send SYNCHRONIZE CACHE.
    pub(crate) const ALWAYS_SYNC: Self = Self(1 << 9);
    /// `o`: trust the reported capacity. `ub` always does; accepted so that
    /// usb-storage quirk strings carry over.
    pub(crate) const CAPACITY_OK: Self = Self(1 << 10);
    /// `b`: never ask for more than 18 bytes of sense data, whatever the device
    /// shows (it fails or hangs on longer REQUEST SENSE).
    pub(crate) const BAD_SENSE: Self = Self(1 << 11);
    /// `P` (`ub` only): recover with a USB port reset before trying the
    /// Bulk-Only Mass Storage Reset, as usb-storage does for every device.
    pub(crate) const PORT_RESET_FIRST: Self = Self(1 << 12);
    /// `l`: the device does not take PREVENT ALLOW MEDIUM REMOVAL: a door lock
    /// succeeds without it and eject does not unlock first (as sd does for a
    /// device that is not lockable).
    pub(crate) const NOT_LOCKABLE: Self = Self(1 << 13);
    /// `F` (`ub` only; usb-storage's `BROKEN_FUA`, which its parameter has no
    /// letter for): never set FUA in a WRITE, whatever MODE SENSE says.
    pub(crate) const BROKEN_FUA: Self = Self(1 << 14);
    /// `T` (`ub` only; usb-storage's `BULK_IGNORE_TAG`, which its parameter has
    /// no letter for): accept a CSW whatever its tag; the device does not echo
    /// the CBW's.
    pub(crate) const BULK_IGNORE_TAG: Self = Self(1 << 15);
    /// `a`: the device gives 96 bytes of sense data from the first REQUEST
    /// SENSE (others are asked for 18 until they show they have more).
    pub(crate) const SANE_SENSE: Self = Self(1 << 16);
    /// `D` (`ub` only): no discard, whatever the provisioning VPD page says
    /// (for devices that claim UNMAP and fail or ignore it).
    pub(crate) const NO_DISCARD: Self = Self(1 << 17);
    /// `B` (`ub` only; usb-storage's `BULK32`): the CBW goes out as 32 bytes,
    /// the 31 of the CBW and a zero.
    pub(crate) const BULK32: Self = Self(1 << 18);
    /// `S` (`ub` only; usb-storage's `GO_SLOW`): a pause of 125 us after the
    /// CBW, before the data stage.
    pub(crate) const GO_SLOW: Self = Self(1 << 19);
    /// `E` (`ub` only; usb-storage's `NEEDS_CAP16`): READ CAPACITY(16) first,
    /// (10) only if it fails.
    pub(crate) const NEEDS_CAP16: Self = Self(1 << 20);
    /// `I` (`ub` only; usb-storage's `FIX_INQUIRY`): never send INQUIRY; make
    /// up the answer from the USB device's strings, as usb-storage does.
    pub(crate) const FIX_INQUIRY: Self = Self(1 << 21);
    /// `n`: a READ that fails right after one that worked is tried again at
    /// once (devices that fail the first READ after a media change).
    pub(crate) const INITIAL_READ10: Self = Self(1 << 22);
    /// `Y` (`ub` only; usb-storage's `SENSE_AFTER_SYNC`): a REQUEST SENSE after
    /// every SYNCHRONIZE CACHE (the Kindle ejects its medium unless another
    /// command follows one within a second).
    pub(crate) const SENSE_AFTER_SYNC: Self = Self(1 << 23);

    /// The empty set.
    pub(crate) const fn empty() -> Self {
        Self(0)
    }

    /// Whether no flag is set.
    pub(crate) const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every flag of `other` is set.
    pub(crate) const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The flags of both.
    pub(crate) const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// The flag a letter stands for; `Err(true)` for a usb-storage letter that
    /// does not apply to `ub`, `Err(false)` for an unknown one.
    fn from_letter(c: u8) -> Result<Self, bool> {
        match LETTERS.iter().find(|(l, _)| *l == c) {
            Some(&(_, q)) => Ok(q),
            None => Err(NOT_FOR_UB.contains(&c)),
        }
    }

    /// The letters of the set, in [`LETTERS`] order.
    pub(crate) fn letters(self, out: &mut [u8; 32]) -> &str {
        let mut n = 0;
        for &(c, q) in LETTERS {
            if self.contains(q) && n < out.len() {
                out[n] = c;
                n += 1;
            }
        }
        core::str::from_utf8(&out[..n]).unwrap_or("")
    }

    /// What the interface's `quirks` file shows: the letters configured (the
    /// table, `quirks=`), then those `learned` at run time after `learned:`,
    /// each on its own (`s learned: c r`).
    pub(crate) fn describe(self, learned: Self, out: &mut [u8; QUIRKS_TEXT]) -> &str {
        let mut n = 0;
        let mut put = |c: u8| {
            if let Some(b) = out.get_mut(n) {
                *b = c;
                n += 1;
            }
        };
        for &(c, q) in LETTERS {
            if self.contains(q) {
                put(c);
            }
        }
        if !learned.is_empty() {
            if !self.is_empty() {
                put(b' ');
            }
            for &c in b"learned:" {
                put(c);
            }
            for &(c, q) in LETTERS {
                if learned.contains(q) {
                    put(b' ');
                    put(c);
                }
            }
        }
        core::str::from_utf8(out.get(..n).unwrap_or(&[])).unwrap_or("")
    }
}

/// Room for [`Quirks::describe`]: every letter, configured or learned.
pub(crate) const QUIRKS_TEXT: usize = 80;

/// The letters `ub` honours and their flags: usb-storage's order, then `ub`'s own.
const LETTERS: &[(u8, Quirks)] = &[
    (b'a', Quirks::SANE_SENSE),
    (b'b', Quirks::BAD_SENSE),
    (b'c', Quirks::FIX_CAPACITY),
    (b'e', Quirks::NO_READ_CAPACITY_16),
    (b'h', Quirks::CAPACITY_HEURISTICS),
    (b'i', Quirks::IGNORE_DEVICE),
    (b'l', Quirks::NOT_LOCKABLE),
    (b'm', Quirks::MAX_SECTORS_64),
    (b'n', Quirks::INITIAL_READ10),
    (b'o', Quirks::CAPACITY_OK),
    (b'p', Quirks::WRITE_CACHE),
    (b'r', Quirks::IGNORE_RESIDUE),
    (b's', Quirks::SINGLE_LUN),
    (b'w', Quirks::NO_WP_DETECT),
    (b'y', Quirks::ALWAYS_SYNC),
    (b'P', Quirks::PORT_RESET_FIRST),
    (b'F', Quirks::BROKEN_FUA),
    (b'T', Quirks::BULK_IGNORE_TAG),
    (b'D', Quirks::NO_DISCARD),
    (b'B', Quirks::BULK32),
    (b'S', Quirks::GO_SLOW),
    (b'E', Quirks::NEEDS_CAP16),
    (b'I', Quirks::FIX_INQUIRY),
    (b'Y', Quirks::SENSE_AFTER_SYNC),
];

/// usb-storage's letters that do not apply to `ub`: SANE_SENSE,
/// NO_READ_DISC_INFO, NO_REPORT_OPCODES, MAX_SECTORS_240, NO_REPORT_LUNS, NO_SAME,
/// INITIAL_READ10, NO_ATA_1X, IGNORE_UAS: commands `ub` never sends, or uas only.
const NOT_FOR_UB: &[u8] = b"dfgjktu";

/// Bytes of the `quirks` parameter read at probe (the C side's buffer size).
const PARAM_LEN: usize = 256;

/// Parses one `VID:PID:letters` entry.
fn parse_entry(entry: &[u8]) -> Option<(u16, u16, &[u8])> {
    let mut it = entry.splitn(3, |&c| c == b':');
    let hex = |s: &[u8]| {
        if s.is_empty() || s.len() > 4 {
            return None;
        }
        s.iter().try_fold(0u16, |acc, &c| {
            let d = (c as char).to_digit(16)?;
            Some((acc << 4) | d as u16)
        })
    };
    let vid = hex(it.next()?)?;
    let pid = hex(it.next()?)?;
    Some((vid, pid, it.next()?))
}

/// The quirks of device `vid:pid` (release `bcd`): the `quirks` parameter's
/// entry if it names the device (it replaces the table's, as in usb-storage),
/// else the table's, else none. Log lines go on `dev`, the interface's device.
pub(crate) fn lookup(vid: u16, pid: u16, bcd: u16, dev: &Device) -> Quirks {
    let mut buf = [0u8; PARAM_LEN];
    let param = quirks_param(&mut buf);
    // The first entry naming the device counts; every malformed one is
    // reported, wherever it is, so that a typo never goes unsaid.
    let mut found = None;
    for entry in param.split(|&c| c == b',') {
        let entry = entry.trim_ascii();
        if entry.is_empty() {
            continue;
        }
        let Some((v, p, letters)) = parse_entry(entry) else {
            dev_warn!(
                dev,
                "ignoring malformed quirks entry '{}'\n",
                kernel::str::BStr::from_bytes(entry)
            );
            continue;
        };
        if found.is_none() && (v, p) == (vid, pid) {
            found = Some(letters);
        }
    }
    if let Some(letters) = found {
        let mut q = Quirks::empty();
        for &c in letters {
            match Quirks::from_letter(c) {
                Ok(f) => q = q.union(f),
                Err(true) => {
                    dev_info!(dev, "quirk '{}' does not apply to ub; ignored\n", c as char)
                }
                Err(false) => dev_warn!(dev, "unknown quirk '{}'; ignored\n", c as char),
            }
        }
        return log_quirks(q, dev, "parameter");
    }
    match unusual::lookup(vid, pid, bcd) {
        // Every letter of the table is one `ub` honours (its host test checks).
        Some(letters) => log_quirks(
            letters
                .bytes()
                .filter_map(|c| Quirks::from_letter(c).ok())
                .fold(Quirks::empty(), Quirks::union),
            dev,
            "built-in",
        ),
        None => Quirks::empty(),
    }
}

fn log_quirks(q: Quirks, dev: &Device, from: &str) -> Quirks {
    let mut out = [0u8; 32];
    dev_info!(dev, "quirks '{}' ({})\n", q.letters(&mut out), from);
    q
}
