// SPDX-License-Identifier: GPL-2.0

//! Per-device stage timeouts that users may change while the device is bound:
//! the attributes `cbw_timeout_ms`, `data_timeout_ms`, `csw_timeout_ms` and
//! `ctrl_timeout_ms` of the bound interface (`/sys/block/ubX/device/`), named by
//! [`Knob::name`]. They start from the module parameters of the same names,
//! which are read at bind only.
//!
//! The values are atomics in an `Arc` shared by the transport (which reads them
//! when a command starts) and the sysfs files, so neither waits for the other: a
//! change applies from the next command on.

use core::sync::atomic::{AtomicU32, Ordering};
use kernel::prelude::*;

use crate::kext::usb::SysfsKnobs;

/// The shortest stage timeout accepted (module parameters below it are raised to
/// it; a sysfs write below it is refused).
pub(crate) const MIN_MS: u32 = 100;
/// The longest stage timeout a sysfs write may set: ten minutes.
const MAX_MS: u32 = 600_000;

/// One knob; the discriminant is its index in [`Knob::ALL`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Knob {
    /// Sending the CBW.
    Cbw,
    /// The data stage.
    Data,
    /// Receiving the CSW.
    Csw,
    /// Control requests and the check after a reset.
    Ctrl,
}

impl Knob {
    /// Every knob, in the order of the discriminants.
    const ALL: [Knob; KNOBS] = [Knob::Cbw, Knob::Data, Knob::Csw, Knob::Ctrl];

    /// Checked at build time: `ALL[i]` is the knob with discriminant `i`.
    const _ORDERED: () = {
        let mut i = 0;
        while i < KNOBS {
            assert!(Knob::ALL[i] as usize == i);
            i += 1;
        }
    };

    /// The name of its file, and of its module parameter.
    pub(crate) fn name(self) -> &'static CStr {
        match self {
            Knob::Cbw => c"cbw_timeout_ms",
            Knob::Data => c"data_timeout_ms",
            Knob::Csw => c"csw_timeout_ms",
            Knob::Ctrl => c"ctrl_timeout_ms",
        }
    }
}

/// How many knobs there are.
pub(crate) const KNOBS: usize = 4;

/// The stage timeouts of one device, in milliseconds.
pub(crate) struct Knobs([AtomicU32; KNOBS]);

impl Knobs {
    /// Knobs with these values (already at least [`MIN_MS`]).
    pub(crate) fn new(cbw: u32, data: u32, csw: u32, ctrl: u32) -> Self {
        Self([cbw, data, csw, ctrl].map(AtomicU32::new))
    }

    /// The value of `knob`.
    pub(crate) fn get(&self, knob: Knob) -> u32 {
        self.0
            .get(knob as usize)
            .map_or(MIN_MS, |v| v.load(Ordering::Relaxed))
    }
}

impl SysfsKnobs for Knobs {
    const COUNT: usize = KNOBS;

    fn name(index: usize) -> &'static CStr {
        let () = Knob::_ORDERED;
        Knob::ALL.get(index).map_or(c"", |k| k.name())
    }

    /// The value of knob number `index`, for a sysfs file.
    fn get(&self, index: usize) -> Option<u32> {
        self.0.get(index).map(|v| v.load(Ordering::Relaxed))
    }

    /// Sets knob number `index` to `ms`, from a sysfs file: `EINVAL` outside
    /// [`MIN_MS`]..=10 minutes or for an unknown knob.
    fn set(&self, index: usize, ms: u32) -> Result {
        if !(MIN_MS..=MAX_MS).contains(&ms) {
            return Err(EINVAL);
        }
        self.0
            .get(index)
            .ok_or(EINVAL)?
            .store(ms, Ordering::Relaxed);
        Ok(())
    }
}
