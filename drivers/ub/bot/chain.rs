// SPDX-License-Identifier: GPL-2.0

//! The command chain: a BOT command's three stages (CBW, data, CSW) on three
//! preallocated URBs, each stage submitted from the completion handler of the
//! one before, so that the worker sleeps once per command instead of once per
//! stage and no URB is allocated per command.
//!
//! A stage is chained only when the one before it ended cleanly (the whole CBW
//! taken, all data moved); anything else (stall, short transfer, error) stops
//! the chain and hands the results so far back to [`super::exchange`], which
//! goes on stage by stage as BOT asks (clear halt, read the CSW again, ...).
//!
//! A stage is queued only once the device is ready for its first token: the
//! data and the CSW never before the CBW went out on the other endpoint, the
//! CSW never before the data stage ended. Real devices would NAK an early IN
//! token, but QEMU's `usb-storage` stalls one that comes before the CBW, and
//! loses a CSW read queued behind the data of a read (it defers the read while
//! the SCSI command is still open, then completes the command without
//! answering it). The data of a write is queued right behind the CBW: both go
//! to the bulk-out endpoint, which takes them in order, and the device has the
//! command before it sees the first data packet, so one round trip through the
//! completion handler is saved. On xHCI the data of a read is queued right
//! behind the CBW as well: each endpoint has its own ring, started by a doorbell
//! write as the URB is queued, so the CBW reaches the device first (QEMU's xHCI
//! even hands it to the device inside that doorbell write).
//!
//! Every stage keeps its own timeout: the handler that submits a stage notes
//! when it did, and the waiting worker kills the URBs, in stage order, when the
//! stage in flight has run out of time.
//!
//! The URBs, their buffers and the rules that keep a URB from outliving what
//! it points at are the kernel layer's ([`UrbSet`]); this file is the BOT
//! logic on top, in safe Rust, and its decisions (which stage follows a
//! completion, how long a stage may still take) are [`super::stages`], pure
//! and tested on the host.

use core::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU32, AtomicU8, Ordering};
use kernel::prelude::*;

use super::{
    stages::{
        after_cbw, after_data, all_reported, bit, left_ns, planned, wait_ms, Next, CBW, CSW, DATA,
        DATA_IN, DATA_OUT, NO_DATA,
    },
    Timeouts,
};
use crate::{
    kext::{
        task::now_ns,
        urbset::{Session, Submitter, UrbHandler, UrbSet},
        usb::{Pipe, TransferError, UsbDevice},
    },
    scsi::{cbw::CBW_LEN, csw::CSW_LEN},
    usbcore_sg::Mapping,
};

/// How often a wait for a stage looks whether the interface is being unbound:
/// a stage only a passthrough caller's long timeout bounds ends within this
/// once the unbind starts.
const UNBIND_POLL_MS: u32 = 200;

/// The set's index of `stage`'s URB.
const fn urb(stage: u8) -> usize {
    stage as usize
}

/// How far a chained command got: the result of each stage it reached.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stages {
    /// Bytes of the CBW taken, or the error.
    pub(crate) cbw: core::result::Result<usize, TransferError>,
    /// Bytes of data moved, or the error with the bytes moved before it; `None`
    /// when the data stage was not reached (or the command has none).
    pub(crate) data: Option<(usize, core::result::Result<(), TransferError>)>,
    /// Bytes of the CSW read, or the error; `None` when not reached.
    pub(crate) csw: Option<core::result::Result<usize, TransferError>>,
}

/// One device's chained commands: three URBs (CBW, data, CSW), the CBW's and
/// the CSW's coherent buffers, and the state of the command in flight.
pub(crate) type Chain = UrbSet<Progress>;

/// Allocates the URBs and the CBW and CSW buffers for `udev`.
pub(crate) fn new(udev: &UsbDevice) -> impl PinInit<Chain, Error> + '_ {
    UrbSet::new(
        udev,
        [CBW_LEN, 0, CSW_LEN],
        Progress::new(udev.in_order_rings()),
    )
}

/// The command in flight, as the worker and the completion handlers share it.
pub(crate) struct Progress {
    /// The stage in flight (or the last one reached).
    stage: AtomicU8,
    /// When that stage was submitted (monotonic ns).
    since: AtomicI64,
    /// The command's data stage: `NO_DATA`, `DATA_OUT` or `DATA_IN`.
    plan: AtomicU8,
    /// The data stage's length in bytes.
    len: AtomicU32,
    /// Queue a read's data behind its CBW (the controller starts transfers in
    /// the order they are queued, across endpoints).
    read_ahead: bool,
    /// The data URB is submitted behind the CBW (always for a write).
    data_sent: AtomicBool,
    /// The errno of a submission a handler tried and the core refused (0: none),
    /// and the stage it was for.
    refused: AtomicI32,
    refused_at: AtomicU8,
    /// The stages whose URB's completion handler has run for this command (a
    /// [`bit`] each). A device may answer the data and the CSW of a read queued
    /// behind its CBW before it takes the CBW: the chain then ends with the CBW
    /// still in flight, and only these bits tell.
    reported: AtomicU8,
}

impl Progress {
    fn new(read_ahead: bool) -> Self {
        Self {
            stage: AtomicU8::new(CBW),
            since: AtomicI64::new(0),
            plan: AtomicU8::new(NO_DATA),
            len: AtomicU32::new(0),
            read_ahead,
            data_sent: AtomicBool::new(false),
            refused: AtomicI32::new(0),
            refused_at: AtomicU8::new(CBW),
            reported: AtomicU8::new(0),
        }
    }

    /// Notes that `stage` is the one in flight now (for its timeout). The stage
    /// never moves back: a CBW that completes after the data and CSW queued
    /// behind it (a device that answered early) must not rewind the chain.
    fn mark(&self, stage: u8) {
        self.since.store(now_ns(), Ordering::Relaxed);
        self.stage.fetch_max(stage, Ordering::Release);
    }

    /// Notes a submission of `stage` the core refused.
    fn refuse(&self, stage: u8, e: Error) {
        self.refused_at.store(stage, Ordering::Relaxed);
        self.refused.store(e.to_errno(), Ordering::Relaxed);
    }

    /// Moves on to `stage` from a completion handler: false when it must end
    /// here (the core refused the submission).
    fn advance(&self, urbs: &Submitter<'_>, stage: u8) -> bool {
        self.mark(stage);
        match urbs.submit(urb(stage)) {
            Ok(()) => true,
            Err(e) => {
                self.refuse(stage, e);
                false
            }
        }
    }

    /// Whether the CSW URB was submitted for this command: the chain reached
    /// the CSW stage and the core did not refuse the submission.
    fn csw_sent(&self) -> bool {
        self.stage.load(Ordering::Acquire) == CSW && self.refused.load(Ordering::Relaxed) == 0
    }

    /// Whether the chain ran to a CSW the device sent and every URB of the
    /// command has reported: only then may the URBs be reused without a kill.
    fn ended_cleanly(&self, s: &Session<'_, Self>) -> bool {
        self.csw_sent()
            && s.result(urb(CSW)).is_ok()
            && all_reported(
                self.reported.load(Ordering::Acquire),
                planned(self.plan.load(Ordering::Relaxed)),
            )
    }

    /// Waits until a handler ends the chain, or kills it when the stage in
    /// flight runs out of time or the interface is being unbound (looked at
    /// every [`UNBIND_POLL_MS`]); returns whether it killed.
    fn wait(&self, s: &Session<'_, Self>, limits: Timeouts, unbinding: &AtomicBool) -> bool {
        loop {
            if unbinding.load(Ordering::Acquire) {
                s.kill_all();
                return true;
            }
            // `stage` is stored after `since` (Release): a new stage is never
            // seen with its predecessor's start time, so no stage is cut short.
            let stage = self.stage.load(Ordering::Acquire);
            let since = self.since.load(Ordering::Relaxed);
            let limit_ms = match stage {
                CBW => limits.cbw_ms,
                DATA => limits.data_ms,
                _ => limits.csw_ms,
            };
            // The stage's own timeout, or the command's deadline if sooner.
            let left = left_ns(limit_ms, since, limits.deadline_ns, now_ns());
            if left <= 0 {
                s.kill_all();
                return true;
            }
            if s.wait(wait_ms(left, UNBIND_POLL_MS)) {
                return false;
            }
        }
    }

    /// The results of the stages reached. After a kill for a timeout, the stage
    /// that was in flight reports the timeout; a CSW read cancelled otherwise
    /// (by the USB core) counts as not reached (it is read again).
    fn collect(&self, s: &Session<'_, Self>, killed: bool) -> Stages {
        let reached = self.stage.load(Ordering::Acquire);
        let refused = match self.refused.load(Ordering::Relaxed) {
            0 => None,
            e => Some((
                self.refused_at.load(Ordering::Relaxed),
                TransferError::from_errno(e),
            )),
        };
        let result = |stage: u8| -> Option<core::result::Result<usize, TransferError>> {
            match (refused, s.result(urb(stage))) {
                (Some((at, e)), _) if at == stage => Some(Err(e)),
                (_, Err(TransferError::Cancelled)) if killed && stage == reached => {
                    Some(Err(TransferError::TimedOut))
                }
                (_, Err(TransferError::Cancelled)) if stage == CSW => None,
                (_, r) => Some(r),
            }
        };
        let cbw = result(CBW).unwrap_or(Err(TransferError::Cancelled));
        let data = (self.plan.load(Ordering::Relaxed) != NO_DATA && reached >= DATA).then(|| {
            let moved = s.actual(urb(DATA));
            let r = result(DATA).unwrap_or(Err(TransferError::Cancelled));
            (moved, r.map(|_| ()))
        });
        let csw = if self.csw_sent() {
            result(CSW)
        } else {
            refused.filter(|&(at, _)| at == CSW).map(|(_, e)| Err(e))
        };
        Stages { cbw, data, csw }
    }

    /// Completion of the CBW: when the device took all 31 bytes, chains the
    /// data stage (unless queued behind the CBW already) or the CSW of a
    /// command without data.
    fn cbw_done(&self, urbs: &Submitter<'_>, status: i32, actual: usize) {
        // Read before anything is submitted: once the CSW is, the worker may go
        // on to the next command (it kills this URB first only when a stage
        // failed).
        let plan = self.plan.load(Ordering::Relaxed);
        let sent = self.data_sent.load(Ordering::Acquire);
        self.follow(urbs, after_cbw(plan, sent, status, actual));
    }

    /// Completion of the data stage: chains the CSW when all the data moved.
    fn data_done(&self, urbs: &Submitter<'_>, status: i32, actual: usize) {
        self.follow(
            urbs,
            after_data(status, actual, self.len.load(Ordering::Relaxed)),
        );
    }

    /// Does what a completion handler decided.
    fn follow(&self, urbs: &Submitter<'_>, next: Next) {
        match next {
            Next::Submit(stage) if self.advance(urbs, stage) => {}
            Next::InFlight(stage) => self.mark(stage),
            Next::Submit(_) | Next::Finish => urbs.finish(),
        }
    }
}

impl UrbHandler for Progress {
    fn complete(&self, urbs: &Submitter<'_>, index: usize, status: i32, actual: usize) {
        let stage = match index {
            0 => CBW,
            1 => DATA,
            _ => CSW,
        };
        self.reported.fetch_or(bit(stage), Ordering::AcqRel);
        match stage {
            CBW => self.cbw_done(urbs, status, actual),
            DATA => self.data_done(urbs, status, actual),
            // The CSW ends the chain.
            _ => urbs.finish(),
        }
    }
}

/// Runs one command on `chain`: the 31-byte `cbw` on `out`, then, with `data`,
/// `len` bytes over the mapping on its pipe, then the CSW on `in_` into
/// `csw_out`, each stage within its limit. Returns when no URB is in flight
/// any more.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run(
    chain: Pin<&Chain>,
    out: Pipe,
    in_: Pipe,
    cbw: &[u8; CBW_LEN],
    data: Option<(Pipe, &mut Mapping<'_, '_>)>,
    len: u32,
    limits: Timeouts,
    csw_out: &mut [u8],
    unbinding: &AtomicBool,
) -> Stages {
    let p = chain.get_ref().handler();
    let ran = chain.session(|s| {
        let plan = match &data {
            None => NO_DATA,
            Some((pipe, _)) if pipe.is_in() => DATA_IN,
            Some(_) => DATA_OUT,
        };
        p.plan.store(plan, Ordering::Relaxed);
        p.len.store(len, Ordering::Relaxed);
        p.refused.store(0, Ordering::Relaxed);
        p.reported.store(0, Ordering::Relaxed);
        let filled = s
            .write(urb(CBW), cbw)
            .and_then(|()| s.fill_buf(urb(CBW), out, CBW_LEN))
            .and_then(|()| match data {
                Some((pipe, mapping)) => s.fill_sg(urb(DATA), pipe, mapping, len),
                None => Ok(()),
            })
            .and_then(|()| s.fill_buf(urb(CSW), in_, CSW_LEN));
        if let Err(e) = filled {
            return Stages {
                cbw: Err(TransferError::Other(e)),
                data: None,
                csw: None,
            };
        }
        p.since.store(now_ns(), Ordering::Relaxed);
        p.stage.store(CBW, Ordering::Release);
        // Set before the CBW goes out: its handler may run before the data URB
        // is submitted behind it, and must know it will be.
        let ahead = plan == DATA_OUT || (plan == DATA_IN && p.read_ahead);
        p.data_sent.store(ahead, Ordering::Release);
        if let Err(e) = s.submit(urb(CBW)) {
            return Stages {
                cbw: Err(TransferError::from_errno(e.to_errno())),
                data: None,
                csw: None,
            };
        }
        let mut refused = false;
        if ahead {
            // Queued behind the CBW (see the module documentation). If the CBW
            // fails, its handler ends the chain and this URB is killed: on the
            // CBW's own endpoint a halt keeps it from running, on the other the
            // device has no command to answer it with.
            if let Err(e) = s.submit(urb(DATA)) {
                p.data_sent.store(false, Ordering::Relaxed);
                p.refuse(DATA, e);
                refused = true;
            }
        }
        // A refused data URB ends the chain here: the CBW is killed below.
        let killed = !refused && p.wait(s, limits, unbinding);
        if !killed && !p.ended_cleanly(s) {
            // A stage failed, or the device answered before it took the CBW: a
            // URB may still be pending (the data queued behind a failed CBW, the
            // CBW itself), and a handler may still be running. In stage order, as
            // in `wait`; the next command must find every URB idle.
            s.kill_all();
        }
        let stages = p.collect(s, killed);
        if let Some(Ok(_)) = stages.csw {
            s.settle();
            let _ = s.read(urb(CSW), csw_out);
        }
        stages
    });
    ran.unwrap_or(Stages {
        cbw: Err(TransferError::Other(EBUSY)),
        data: None,
        csw: None,
    })
}
