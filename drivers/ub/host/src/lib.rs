// SPDX-License-Identifier: GPL-2.0

//! The pure logic of `ub`'s driver layers, compiled from the module's own
//! source files (no copy) and tested on the host: files that use nothing but
//! `core` and the `scsi` crate are included here with `#[path]`, under the
//! same module paths as in the module. The crate exists for its tests.

#![cfg_attr(not(test), no_std)]

#[cfg(test)]
use ::scsi;

#[cfg(test)]
#[path = "../../bot"]
mod bot {
    pub(crate) mod ladder;
    // The tests judge CSWs; the log names and the other ends are the module's.
    #[allow(dead_code)]
    pub(crate) mod outcome;
    pub(crate) mod residue;
    pub(crate) mod stages;
}

#[cfg(test)]
#[path = "../../block"]
mod block {
    pub(crate) mod device {
        pub(crate) mod state;
    }
    pub(crate) mod exec {
        pub(crate) mod step;
    }
}

#[cfg(test)]
mod tests {
    mod ladder;
    mod outcome;
    mod residue;
    mod stages;
    mod state;
    mod step;
}
