// SPDX-License-Identifier: GPL-2.0

//! The command chain: a BOT command's three stages (CBW, data, CSW) on three
//! preallocated URBs, each stage submitted from the completion handler of the
//! one before, so that the worker sleeps once per command instead of once per
//! stage and no URB is allocated per command.
//!
//! A stage is chained only when the one before it ended cleanly (the whole CBW
//! taken, all data moved); anything else (stall, short transfer, error) stops
//! the chain and hands the results so far back to [`crate::transport`], which
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

use core::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU32, AtomicU8, Ordering};
use kernel::{bindings, ffi, prelude::*, time::msecs_to_jiffies, types::Opaque};

use super::Timeouts;
use crate::{
    kext::usb::TransferError,
    kext::{
        task::now_ns,
        urb::{Coherent, Urb},
        usb::{Pipe, UsbDevice},
    },
    scsi::{cbw::CBW_LEN, csw::CSW_LEN},
    usbcore_sg::Mapping,
};

// Stages.
const CBW: u8 = 0;
const DATA: u8 = 1;
const CSW: u8 = 2;

/// The bit of `stage` in [`Chain::reported`].
const fn bit(stage: u8) -> u8 {
    1 << stage
}

// Data stages (`Chain::plan`).
const NO_DATA: u8 = 0;
const DATA_OUT: u8 = 1;
const DATA_IN: u8 = 2;

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

/// The URBs and buffers of one device's commands.
#[pin_data]
pub(crate) struct Chain {
    // Dropped in this order: the URBs (killed) before the buffers they use.
    cbw: Urb,
    data: Urb,
    csw: Urb,
    cbw_buf: Coherent,
    csw_buf: Coherent,
    /// Completed by the handler that ends the chain.
    #[pin]
    done: Opaque<bindings::completion>,
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

// SAFETY: The chain is shared between the worker, which runs commands through
// `Pin<&Chain>` one at a time, and the URB completion handlers; everything they
// share is atomic, a kernel completion, or a URB, which the USB core serialises.
unsafe impl Send for Chain {}
// SAFETY: As above.
unsafe impl Sync for Chain {}

impl Chain {
    /// Allocates the URBs and the CBW and CSW buffers for `udev`.
    pub(crate) fn new(udev: &UsbDevice) -> impl PinInit<Self, Error> + '_ {
        try_pin_init!(Self {
            cbw: Urb::new()?,
            data: Urb::new()?,
            csw: Urb::new()?,
            cbw_buf: Coherent::new(udev, CBW_LEN)?,
            csw_buf: Coherent::new(udev, CSW_LEN)?,
            done <- Opaque::ffi_init(|slot: *mut bindings::completion| {
                // SAFETY: `slot` is valid for writing a `struct completion`.
                unsafe { bindings::init_completion(slot) }
            }),
            stage: AtomicU8::new(CBW),
            since: AtomicI64::new(0),
            plan: AtomicU8::new(NO_DATA),
            len: AtomicU32::new(0),
            read_ahead: udev.in_order_rings(),
            data_sent: AtomicBool::new(false),
            refused: AtomicI32::new(0),
            refused_at: AtomicU8::new(CBW),
            reported: AtomicU8::new(0),
        }? Error)
    }

    /// The CSW buffer as last read. Only meaningful after [`Chain::run`] reported
    /// a CSW stage.
    pub(crate) fn csw(&self) -> &[u8] {
        self.csw_buf.as_slice()
    }

    /// Runs one command: the 31-byte `cbw` on `out`, then, with `data`, `len`
    /// bytes over the mapping on its pipe, then the CSW on `in_`, each stage
    /// within its limit. Returns when no URB is in flight any more.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn run(
        self: Pin<&Self>,
        udev: &UsbDevice,
        out: Pipe,
        in_: Pipe,
        cbw: &[u8; CBW_LEN],
        data: Option<(Pipe, &mut Mapping<'_, '_>)>,
        len: u32,
        limits: Timeouts,
    ) -> Stages {
        let this = self.get_ref();
        let ctx = core::ptr::from_ref(this).cast_mut().cast::<ffi::c_void>();
        let plan = match &data {
            None => NO_DATA,
            Some((pipe, _)) if pipe.is_in() => DATA_IN,
            Some(_) => DATA_OUT,
        };
        this.plan.store(plan, Ordering::Relaxed);
        this.len.store(len, Ordering::Relaxed);
        this.refused.store(0, Ordering::Relaxed);
        this.reported.store(0, Ordering::Relaxed);
        // SAFETY: All three URBs are idle (the last `run` waited for them, and
        // `run` borrows the chain's owner mutably, so no other runs); the buffers,
        // the scatterlist and its mapping, `udev` and the pinned chain outlive the
        // submissions below, since this function kills what is still in flight
        // before it returns.
        unsafe {
            this.cbw_buf.write(cbw);
            this.cbw
                .fill_buf(udev, out, &this.cbw_buf, CBW_LEN, cbw_done, ctx);
            if let Some((pipe, mapping)) = data {
                let (sg, nents, mapped) = mapping.raw();
                this.data
                    .fill_sg(udev, pipe, sg, nents, mapped, len, data_done, ctx);
            }
            this.csw
                .fill_buf(udev, in_, &this.csw_buf, CSW_LEN, csw_done, ctx);
            // Nobody waits on it and no handler can complete it now.
            bindings::init_completion(this.done.get());
        }
        this.since.store(now_ns(), Ordering::Relaxed);
        this.stage.store(CBW, Ordering::Release);
        // Set before the CBW goes out: its handler may run before the data URB
        // is submitted behind it, and must know it will be.
        let ahead = plan == DATA_OUT || (plan == DATA_IN && this.read_ahead);
        this.data_sent.store(ahead, Ordering::Release);
        // SAFETY: Filled above; idle.
        if let Err(e) = unsafe { this.cbw.submit(false) } {
            return Stages {
                cbw: Err(TransferError::from_errno(e.to_errno())),
                data: None,
                csw: None,
            };
        }
        if ahead {
            // SAFETY: Filled above; idle. Queued behind the CBW (see the module
            // documentation). If the CBW fails, its handler ends the chain and
            // this URB is killed: on the CBW's own endpoint a halt keeps it from
            // running, on the other the device has no command to answer it with.
            if let Err(e) = unsafe { this.data.submit(false) } {
                this.data_sent.store(false, Ordering::Relaxed);
                this.refused_at.store(DATA, Ordering::Relaxed);
                this.refused.store(e.to_errno(), Ordering::Relaxed);
                // The CBW's handler may have handed over to this URB already:
                // end the chain here; the wait returns at once and kills the CBW.
                this.finish();
            }
        }
        let killed = this.wait(limits);
        if !killed && !this.ended_cleanly() {
            // A stage failed, or the device answered before it took the CBW: a
            // URB may still be pending (the data queued behind a failed CBW, the
            // CBW itself), and a handler may still be running. In stage order, as
            // in `wait`; the next command must find every URB idle.
            this.kill_all();
        }
        this.collect(killed)
    }

    /// Whether the CSW URB was submitted for this command: the chain reached
    /// the CSW stage and the core did not refuse the submission.
    fn csw_sent(&self) -> bool {
        self.stage.load(Ordering::Acquire) == CSW && self.refused.load(Ordering::Relaxed) == 0
    }

    /// Whether the chain ran to a CSW the device sent and every URB of the
    /// command has reported: only then may the URBs be reused without a kill.
    fn ended_cleanly(&self) -> bool {
        let planned = if self.plan.load(Ordering::Relaxed) == NO_DATA {
            bit(CBW) | bit(CSW)
        } else {
            bit(CBW) | bit(DATA) | bit(CSW)
        };
        self.csw_sent()
            && self.csw.result().is_ok()
            && all_reported(self.reported.load(Ordering::Acquire), planned)
    }

    /// Kills the URBs in stage order: a handler still running may submit the
    /// next stage, which the next kill then cancels.
    fn kill_all(&self) {
        self.cbw.kill();
        self.data.kill();
        self.csw.kill();
    }

    /// Waits until a handler ends the chain, or kills it when the stage in
    /// flight runs out of time; returns whether it killed.
    fn wait(&self, limits: Timeouts) -> bool {
        loop {
            // `stage` is stored after `since` (Release): a new stage is never
            // seen with its predecessor's start time, so no stage is cut short.
            let stage = self.stage.load(Ordering::Acquire);
            let since = self.since.load(Ordering::Relaxed);
            let limit_ms = match stage {
                CBW => limits.cbw_ms,
                DATA => limits.data_ms,
                _ => limits.csw_ms,
            };
            let now = now_ns();
            let elapsed_ns = now.saturating_sub(since).max(0);
            // The stage's own timeout, or the command's deadline if sooner.
            let left_ns = (i64::from(limit_ms) * 1_000_000 - elapsed_ns)
                .min(limits.deadline_ns.saturating_sub(now));
            if left_ns <= 0 {
                self.kill_all();
                return true;
            }
            let left_ms = u32::try_from((left_ns + 999_999) / 1_000_000).unwrap_or(u32::MAX);
            // SAFETY: `done` is an initialised completion.
            let left = unsafe {
                bindings::wait_for_completion_timeout(self.done.get(), msecs_to_jiffies(left_ms))
            };
            if left != 0 {
                return false;
            }
        }
    }

    /// The results of the stages reached. After a kill for a timeout, the stage
    /// that was in flight reports the timeout; a CSW read cancelled otherwise
    /// (by the USB core) counts as not reached (it is read again).
    fn collect(&self, killed: bool) -> Stages {
        let reached = self.stage.load(Ordering::Acquire);
        let refused = match self.refused.load(Ordering::Relaxed) {
            0 => None,
            e => Some((
                self.refused_at.load(Ordering::Relaxed),
                TransferError::from_errno(e),
            )),
        };
        let result = |stage: u8, urb: &Urb| -> Option<core::result::Result<usize, TransferError>> {
            match (refused, urb.result()) {
                (Some((at, e)), _) if at == stage => Some(Err(e)),
                (_, Err(TransferError::Cancelled)) if killed && stage == reached => {
                    Some(Err(TransferError::TimedOut))
                }
                (_, Err(TransferError::Cancelled)) if stage == CSW => None,
                (_, r) => Some(r),
            }
        };
        let cbw = result(CBW, &self.cbw).unwrap_or(Err(TransferError::Cancelled));
        let data = (self.plan.load(Ordering::Relaxed) != NO_DATA && reached >= DATA).then(|| {
            let moved = self.data.actual();
            let r = result(DATA, &self.data).unwrap_or(Err(TransferError::Cancelled));
            (moved, r.map(|_| ()))
        });
        let csw = if self.csw_sent() {
            result(CSW, &self.csw)
        } else {
            refused.filter(|&(at, _)| at == CSW).map(|(_, e)| Err(e))
        };
        Stages { cbw, data, csw }
    }

    /// Notes that `stage` is the one in flight now (for its timeout). The stage
    /// never moves back: a CBW that completes after the data and CSW queued
    /// behind it (a device that answered early) must not rewind the chain.
    fn mark(&self, stage: u8) {
        self.since.store(now_ns(), Ordering::Relaxed);
        self.stage.fetch_max(stage, Ordering::Release);
    }

    /// Records that the completion handler of `stage` runs.
    fn report(&self, stage: u8) {
        self.reported.fetch_or(bit(stage), Ordering::AcqRel);
    }

    /// Submits the URB of `stage` from a completion handler; false when the core
    /// refused it (noted for [`Chain::collect`]).
    fn submit(&self, stage: u8) -> bool {
        let urb = if stage == DATA { &self.data } else { &self.csw };
        // SAFETY: `run` filled this URB for the current command and it is idle:
        // each stage is submitted once per command, after the one before it.
        match unsafe { urb.submit(true) } {
            Ok(()) => true,
            Err(e) => {
                self.refused_at.store(stage, Ordering::Relaxed);
                self.refused.store(e.to_errno(), Ordering::Relaxed);
                false
            }
        }
    }

    /// Moves on to `stage`: false when it must end here.
    fn advance(&self, stage: u8) -> bool {
        self.mark(stage);
        self.submit(stage)
    }

    /// Wakes the worker; the handler must not touch the chain afterwards.
    fn finish(&self) {
        // SAFETY: `done` is an initialised completion.
        unsafe { bindings::complete(self.done.get()) };
    }
}

/// Whether the stages in `reported` (a [`bit`] each) include every one in
/// `planned`.
fn all_reported(reported: u8, planned: u8) -> bool {
    reported & planned == planned
}

/// The chain a URB belongs to, and how the URB ended.
///
/// # Safety
///
/// `urb` is one of a [`Chain`]'s URBs, handed to its completion handler.
unsafe fn chain_of<'a>(urb: *mut bindings::urb) -> (&'a Chain, ffi::c_int, usize) {
    // SAFETY: `run` set the context to the pinned chain, which waits for (or
    // kills) every URB before it can move or drop.
    let chain = unsafe { &*Urb::context_of(urb).cast::<Chain>() };
    // SAFETY: Called for this URB's completion (function contract).
    let (status, actual) = unsafe { Urb::completed(urb) };
    (chain, status, actual)
}

/// Completion of the CBW: when the device took all 31 bytes, chains the data
/// stage (unless queued behind the CBW already) or the CSW of a command without
/// data.
///
/// # Safety
///
/// Called by the USB core for a URB that [`Chain::run`] filled with this handler.
unsafe extern "C" fn cbw_done(urb: *mut bindings::urb) {
    // SAFETY: Installed by `run` on the chain's CBW URB only.
    let (chain, status, actual) = unsafe { chain_of(urb) };
    chain.report(CBW);
    // Read before anything is submitted: once the CSW is, the worker may go on
    // to the next command (it kills this URB first only when a stage failed).
    let plan = chain.plan.load(Ordering::Relaxed);
    if status == 0 && actual == CBW_LEN {
        match plan {
            NO_DATA if chain.advance(CSW) => return,
            // Queued behind the CBW already: now in flight.
            DATA_OUT | DATA_IN if chain.data_sent.load(Ordering::Acquire) => {
                chain.mark(DATA);
                return;
            }
            DATA_IN if chain.advance(DATA) => return,
            _ => {}
        }
    }
    chain.finish();
}

/// Completion of the data stage: chains the CSW when all the data moved.
///
/// # Safety
///
/// Called by the USB core for a URB that [`Chain::run`] filled with this handler.
unsafe extern "C" fn data_done(urb: *mut bindings::urb) {
    // SAFETY: Installed by `run` on the chain's data URB only.
    let (chain, status, actual) = unsafe { chain_of(urb) };
    chain.report(DATA);
    let whole = u32::try_from(actual).is_ok_and(|a| a == chain.len.load(Ordering::Relaxed));
    if status == 0 && whole && chain.advance(CSW) {
        return;
    }
    chain.finish();
}

/// Completion of the CSW: ends the chain.
///
/// # Safety
///
/// Called by the USB core for a URB that [`Chain::run`] filled with this handler.
unsafe extern "C" fn csw_done(urb: *mut bindings::urb) {
    // SAFETY: Installed by `run` on the chain's CSW URB only.
    let (chain, _, _) = unsafe { chain_of(urb) };
    chain.report(CSW);
    chain.finish();
}
