//! Bulk-Only Transport wrappers and SCSI commands for USB disks.
//!
//! This file is the root of the code shared between the host crate and the
//! kernel module: it only declares the submodules, one per concept. It must
//! keep compiling when another crate includes it with
//! `#[path = ".../scsi/src/scsi.rs"] mod scsi;`, so the submodules live next
//! to it and name each other with `super::`, never `crate::`.

pub mod capacity;
pub mod cbw;
pub mod cdb;
pub mod csw;
pub mod inquiry;
pub mod mode;
pub mod provisioning;
pub mod sense;
pub mod sense_len;
pub mod transfer;
pub mod unusual;
mod unusual_dev;

/// Fuzz harness body shared by the cargo-fuzz target and the smoke test.
///
/// Compiled only with the host crate's `fuzzing` feature; the kernel build
/// has no such feature and never sees it.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
