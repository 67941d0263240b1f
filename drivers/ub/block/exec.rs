// SPDX-License-Identifier: GPL-2.0

//! The command executor: a device's transport under its I/O lock ([`Executor`]), and
//! the one loop every command runs through ([`Executor::run`]: send, REQUEST SENSE
//! after a CHECK CONDITION, recovery after a try without a valid CSW, retries
//! as a [`Policy`] says), used by block I/O, the probe, passthrough and the
//! driver's own commands ([`Executor::data_in`], [`Executor::start_unit`],
//! [`Executor::passthrough`]). Its decision after a try without a valid CSW
//! is [`step`], pure and tested on the host.

mod commands;
mod io;
mod run;
mod step;

pub(crate) use io::{CmdError, Executor, ExecutorLock, MAX_SEGMENTS, MAX_TRIES};
pub(crate) use run::{Buffer, CommandEnd, Payload, Policy};
