//! USB Mass Storage Bulk-Only Transport and SCSI command encoding for `ub`.
//!
//! This crate builds and checks everything the `ub` driver exchanges with a
//! USB disk, without touching hardware: the Command Block Wrapper and Command
//! Status Wrapper of the Bulk-Only Transport 1.0 ([`cbw`], [`csw`]), the SCSI
//! command descriptor blocks a disk driver sends ([`cdb`]), and parsers for
//! what comes back: INQUIRY data ([`inquiry`]), READ CAPACITY data
//! ([`capacity`]), MODE SENSE data ([`mode`]) and sense data with the
//! decisions drawn from it ([`sense`]).
//!
//! Everything here is `no_std`, allocation-free and free of `unsafe`. Every
//! parser takes the bytes the device actually returned and bounds-checks them:
//! hostile or truncated input yields an error, never a panic.
//!
//! # Shared with the kernel module
//!
//! The same sources are compiled twice. On the host, cargo builds this crate
//! for the unit, property and fuzz tests. In the kernel, the driver includes
//! `src/scsi.rs` as a module with `#[path = ".../scsi/src/scsi.rs"] mod scsi;`
//! and Kbuild compiles it with the kernel's flags (`missing_docs`,
//! `unreachable_pub`, only `core`). That is why this file holds nothing but
//! crate attributes and the inclusion of `scsi.rs`, and why the submodules
//! refer to each other through `super::` rather than `crate::`.
//!
//! `scsi.rs` is brought in as a module declared with `#[path]` and
//! re-exported, exactly as the kernel brings it in, rather than with
//! `include!`: an included file cannot carry the `//!` documentation that the
//! kernel's `missing_docs` lint requires of the `scsi` module.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(
    unreachable_pub,
    rust_2018_idioms,
    clippy::cast_lossless,
    clippy::as_underscore
)]

#[path = "scsi.rs"]
mod scsi;

pub use scsi::*;
