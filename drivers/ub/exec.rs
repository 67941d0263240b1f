// SPDX-License-Identifier: GPL-2.0

//! The command executor: a device's transport under its I/O lock ([`Io`]), and
//! the one loop every command runs through ([`Io::run`]: send, REQUEST SENSE
//! after a CHECK CONDITION, recovery after a try without a valid CSW, retries
//! as a [`Policy`] says), used by block I/O, the probe, passthrough and the
//! driver's own commands ([`Io::data_in`], [`Io::start_unit`],
//! [`Io::passthrough`]).

mod commands;
mod io;
mod run;

pub(crate) use io::{CmdError, Io, IoLock, MAX_SEGMENTS, MAX_TRIES};
pub(crate) use run::{Buffer, Payload, Policy, Ran};
