// SPDX-License-Identifier: GPL-2.0

//! The Bulk-Only transport of one device ([`Bot`]): its pipes, buffers, tag and
//! what it learned of the device (CSW signature, quirks), one command at
//! a time from start to outcome (counted and traced), the class requests (GET
//! MAX LUN, Bulk-Only Mass Storage Reset), clear halt, port reset, and the
//! backoff of a device given up.
//!
//! [`Bot`] is used by one thread at a time (the device's I/O lock), which is what
//! BOT allows: one command in flight per device.

use core::sync::atomic::{AtomicBool, Ordering};
use kernel::{prelude::*, sync::Arc};

use super::{chain, Chain, Data, Fault, Outcome, Timeouts, TransportError};
use crate::{
    bot::{
        counters::{Counter, Counters},
        knobs::{Knob, Knobs},
        quirks::Quirks,
    },
    kext::{
        dma::DmaBuf,
        ratelimit::RateLimit,
        task::now_ns,
        usb::{Interface, InterfaceRef, Pipe, PortReset, TransferError, UsbDeviceRef},
    },
    scsi::{
        cbw::CBW_LEN,
        cdb::{self, Cdb},
        csw::CSW_LEN,
    },
    usbcore_sg::SgRequest,
};

/// Bulk-Only Mass Storage Reset (BOT 3.1).
const BULK_ONLY_RESET: u8 = 0xff;

/// Get Max LUN (BOT 3.2).
const GET_MAX_LUN: u8 = 0xfe;

/// First wait before a device that was given up is tried again.
const BACKOFF_FIRST_MS: u32 = 1000;

/// Longest wait between two tries of a device that was given up.
const BACKOFF_MAX_MS: u32 = 60_000;

/// When a device that was given up is tried again.
#[derive(Clone, Copy, Debug)]
struct Backoff {
    /// `ktime_get()` nanoseconds from when the next command tries a port reset.
    retry_at_ns: i64,
    /// The wait that led there; doubled after each try that fails.
    wait_ms: u32,
}

/// How a device's transport is set up: module parameters and quirks, at probe.
#[derive(Clone, Copy)]
pub(crate) struct Setup {
    /// The stage timeouts (which sysfs may change later).
    pub(crate) timeouts: Timeouts,
    /// The device's quirks.
    pub(crate) quirks: Quirks,
    /// Whether commands run on the chained path (the host controller takes
    /// scatter-gather).
    pub(crate) pipeline: bool,
    /// Recovery tries a port reset before Reset Recovery.
    pub(crate) port_reset_first: bool,
    /// Testing only: this many port resets fail without being tried.
    pub(crate) fail_port_resets: u32,
}

/// The Bulk-Only transport of one device.
pub(crate) struct Bot {
    pub(super) intf: InterfaceRef,
    pub(super) udev: UsbDeviceRef,
    ifnum: u8,
    pub(super) bulk_in: Pipe,
    pub(super) bulk_out: Pipe,
    /// The stage timeouts, which sysfs may change (read as each command starts).
    knobs: Arc<Knobs>,
    /// The time a block request may take in all (see [`Timeouts::io_ms`]).
    io_ms: u32,
    pub(super) tag: u32,
    /// The CSW signature this device uses, when its first CSW carried one other
    /// than `USBS`.
    pub(super) learned_signature: Option<u32>,
    /// A CSW was accepted already: the signature can no longer be learned.
    pub(super) csw_seen: bool,
    /// The quirks the table or `quirks=` gave the device.
    pub(super) configured: Quirks,
    /// The quirks learned from what the device did since it was bound
    /// ([`Bot::learn`]).
    pub(super) learned: Quirks,
    /// Pause after the CBW before the data stage (quirk `S`, usb-storage's
    /// `GO_SLOW`).
    pub(super) go_slow: bool,
    /// Given up: a port reset did not bring the device back (its re-enumeration
    /// failed). Commands fail at once until the backoff ends; the next one then
    /// tries a port reset first.
    given_up: Option<Backoff>,
    /// The limit on "given up" lines: every open of a disk tries a device
    /// given up again at once (`retry_now`), as often as users open it.
    give_up_log: RateLimit,
    /// The device's port resets (which know whether the probe holds the USB
    /// device lock).
    reset: Arc<PortReset>,
    /// Testing only (`debug_fail_port_resets`): port resets still to fail
    /// without being tried, as if the device did not re-enumerate; the device
    /// stays connected and is given up.
    fail_port_resets: u32,
    pub(super) cbw: DmaBuf,
    pub(super) csw: DmaBuf,
    pub(super) req: Pin<KBox<SgRequest>>,
    /// The chained command path's URBs; `None` runs the stages one by one.
    pub(super) chain: Option<Pin<KBox<Chain>>>,
    /// The interface was unbound: no command is sent any more, and the chain's
    /// coherent buffers went back to the host controller's pools.
    released: bool,
    /// The interface is being unbound: set without the transport's lock, so
    /// that nothing more is sent, no recovery runs, and a chained command
    /// still waiting ends however long its caller let it wait (SG_IO).
    pub(super) unbinding: Arc<AtomicBool>,
    /// What the transport did, for sysfs.
    pub(crate) stats: Arc<Counters>,
}

impl Bot {
    /// Sets up the transport of `intf` over the given bulk pipes.
    pub(crate) fn new(
        intf: &Interface,
        reset: Arc<PortReset>,
        bulk_in: Pipe,
        bulk_out: Pipe,
        setup: &Setup,
        stats: Arc<Counters>,
    ) -> Result<Self> {
        let Setup {
            timeouts,
            quirks,
            pipeline,
            fail_port_resets,
            ..
        } = *setup;
        let udev = intf.get_usb_device();
        // The chained path queues the data stage behind the CBW at once: not
        // for devices that need a pause between them, nor a longer CBW.
        let cbw_len = if quirks.contains(Quirks::BULK32) {
            CBW_LEN + 1
        } else {
            CBW_LEN
        };
        let go_slow = quirks.contains(Quirks::GO_SLOW);
        let chain = if pipeline && cbw_len == CBW_LEN && !go_slow {
            Some(KBox::pin_init(chain::new(&udev), GFP_KERNEL)?)
        } else {
            None
        };
        Ok(Self {
            intf: intf.get_ref(),
            udev,
            ifnum: intf.number(),
            bulk_in,
            bulk_out,
            knobs: Arc::new(
                Knobs::new(
                    timeouts.cbw_ms,
                    timeouts.data_ms,
                    timeouts.csw_ms,
                    timeouts.ctrl_ms,
                ),
                GFP_KERNEL,
            )?,
            io_ms: timeouts.io_ms,
            tag: 0,
            learned_signature: None,
            csw_seen: false,
            configured: quirks,
            learned: Quirks::empty(),
            go_slow,
            given_up: None,
            give_up_log: RateLimit::new(),
            unbinding: Arc::new(AtomicBool::new(false), GFP_KERNEL)?,
            reset,
            fail_port_resets,
            // What the CBW goes out as: its 31 bytes, or 32 with a zero pad
            // byte (zeroed here, never written) for devices that take nothing
            // shorter (quirk `B`, usb-storage's `BULK32`).
            cbw: DmaBuf::new(cbw_len)?,
            csw: DmaBuf::new(CSW_LEN)?,
            req: KBox::pin_init(SgRequest::new(), GFP_KERNEL)?,
            chain,
            released: false,
            stats,
        })
    }

    /// The interface's device, for `dev_*!` log lines.
    pub(crate) fn device(&self) -> &kernel::device::Device {
        self.intf.device()
    }

    /// GET MAX LUN: the highest LUN number, 0 when the device stalls the request
    /// (single-LUN devices may) or answers nonsense.
    pub(crate) fn get_max_lun(&mut self, buf: &mut DmaBuf) -> u8 {
        match self.udev.class_request(
            true,
            GET_MAX_LUN,
            self.ifnum.into(),
            buf,
            1,
            self.timeouts().ctrl_ms,
        ) {
            Ok(1) => match buf.as_slice().first() {
                Some(&n) if n <= 15 => n,
                _ => 0,
            },
            _ => 0,
        }
    }

    /// Runs one command. `len` is the data stage length in bytes.
    pub(crate) fn command(
        &mut self,
        lun: u8,
        cdb: &Cdb,
        data: Data<'_>,
        len: u32,
    ) -> Result<Outcome, TransportError> {
        self.command_with(lun, cdb, data, len, self.timeouts())
    }

    /// TEST UNIT READY with every stage bounded by the control timeout: whether
    /// the device answers commands again after a reset. Any valid CSW will do
    /// (a UNIT ATTENTION after a reset is expected).
    pub(crate) fn answers(&mut self, lun: u8) -> Result<(), TransportError> {
        let t = self.timeouts().short();
        self.command_with(lun, &cdb::test_unit_ready(), Data::None, 0, t)
            .map(|_| ())
    }

    /// The flag that [`Bot::is_unbinding`] reads, for the one who unbinds.
    pub(crate) fn unbinding_flag(&self) -> Arc<AtomicBool> {
        self.unbinding.clone()
    }

    /// Whether the interface is being unbound: nothing more is to be sent.
    pub(crate) fn is_unbinding(&self) -> bool {
        self.unbinding.load(Ordering::Acquire)
    }

    /// The interface is being unbound: send nothing any more, and give the
    /// chain's URBs and coherent buffers back now. The buffers come from the host
    /// controller's DMA pools, which its removal destroys, while an open file may
    /// keep this transport alive long after (usb-storage frees them in
    /// `disconnect` for the same reason).
    pub(crate) fn release(&mut self) {
        self.released = true;
        self.chain = None;
    }

    /// Runs one command with the timeouts `t` (a block request's end by its
    /// deadline). A device given up fails it at once, or, once its backoff is
    /// over, gets a port reset first.
    pub(crate) fn command_with(
        &mut self,
        lun: u8,
        cdb: &Cdb,
        data: Data<'_>,
        len: u32,
        t: Timeouts,
    ) -> Result<Outcome, TransportError> {
        if self.released || self.is_unbinding() {
            return Err(TransportError::Gone);
        }
        self.revive(lun)?;
        let out = self.exchange(lun, cdb, data, len, t);
        self.account(&out);
        out
    }

    /// A device given up: `Dead` while its backoff lasts; once it is over,
    /// another chance: the port reset that failed last time, then the check
    /// that the device answers (a command, so this recurses once). Neither has
    /// a deadline (a device may take its time to enumerate): the worker calls
    /// this before it takes its request out of the block layer's reach, so
    /// that the request still ends by its own deadline.
    pub(crate) fn revive(&mut self, lun: u8) -> Result<(), TransportError> {
        let Some(b) = self.given_up else {
            return Ok(());
        };
        if now_ns() < b.retry_at_ns {
            return Err(TransportError::Dead);
        }
        self.given_up = None;
        let back = match self.port_reset() {
            Ok(()) => self.answers(lun),
            Err(_) => Err(TransportError::Dead),
        };
        match back {
            Ok(()) => {
                dev_info!(
                    self.intf.device(),
                    "device answers again after a port reset\n"
                );
                Ok(())
            }
            Err(TransportError::Gone) => Err(TransportError::Gone),
            Err(_) => {
                self.give_up(b.wait_ms.saturating_mul(2));
                Err(TransportError::Dead)
            }
        }
    }

    /// Counts how the command with the current tag ended, and traces it.
    fn account(&self, out: &Result<Outcome, TransportError>) {
        let tag = self.tag;
        match *out {
            Ok(Outcome::Passed { residue }) => {
                if residue > 0 {
                    self.stats.inc(Counter::Residues);
                }
                self.intf.trace_csw(tag, residue, 0);
            }
            Ok(Outcome::Failed { residue }) => {
                self.stats.inc(Counter::CheckConditions);
                self.intf.trace_csw(tag, residue, 1);
            }
            Err(TransportError::Broken(stage, fault)) => {
                self.stats.inc(match fault {
                    Fault::Timeout => Counter::Timeouts,
                    Fault::Stall => Counter::Stalls,
                    Fault::BadCsw => Counter::BadCsws,
                    Fault::WrongTag => Counter::TagMismatches,
                    Fault::BadResidue => Counter::BadResidues,
                    Fault::PhaseError => Counter::PhaseErrors,
                    Fault::ShortCbw | Fault::Usb => Counter::UsbErrors,
                });
                self.intf.trace_error(tag, stage.name(), fault.name());
            }
            Err(TransportError::Gone) => {
                self.stats.inc(Counter::Gone);
                self.intf.trace_error(tag, "any", "device gone");
            }
            Err(TransportError::Dead) => {}
        }
    }

    /// Clears a halt on `pipe`, counted.
    pub(super) fn clear_halt(&self, pipe: Pipe, timeout_ms: u32) -> Result<(), TransferError> {
        self.stats.inc(Counter::ClearHalts);
        self.udev.clear_halt(pipe, timeout_ms)
    }
}

impl Bot {
    /// Reset Recovery (BOT 5.3.4): Bulk-Only Mass Storage Reset, then clear halt on
    /// both bulk endpoints.
    pub(crate) fn reset_recovery(&mut self) -> Result<(), TransferError> {
        let ms = self.timeouts().ctrl_ms;
        self.stats.inc(Counter::BulkResets);
        self.udev.class_request(
            false,
            BULK_ONLY_RESET,
            self.ifnum.into(),
            &mut self.csw,
            0,
            ms,
        )?;
        self.clear_halt(self.bulk_in, ms)?;
        self.clear_halt(self.bulk_out, ms)
    }

    /// A USB port reset of the device (the driver's `pre_reset`/`post_reset` run
    /// meanwhile and must not wait for the caller).
    pub(crate) fn port_reset(&mut self) -> Result {
        self.stats.inc(Counter::PortResets);
        if self.fail_port_resets > 0 {
            self.fail_port_resets -= 1;
            dev_warn!(
                self.intf.device(),
                "port reset not tried, failed as debug_fail_port_resets asks\n"
            );
            return Err(EIO);
        }
        self.reset.reset()
    }

    /// The timeouts a command starting now gets (no deadline).
    pub(crate) fn timeouts(&self) -> Timeouts {
        Timeouts {
            cbw_ms: self.knobs.get(Knob::Cbw),
            data_ms: self.knobs.get(Knob::Data),
            csw_ms: self.knobs.get(Knob::Csw),
            ctrl_ms: self.knobs.get(Knob::Ctrl),
            io_ms: self.io_ms,
            deadline_ns: i64::MAX,
        }
    }

    /// The stage timeouts, for the interface's sysfs attributes.
    pub(crate) fn knobs(&self) -> Arc<Knobs> {
        self.knobs.clone()
    }

    /// The device's port resets, for the reset callbacks' check.
    pub(crate) fn port_resets(&self) -> Arc<PortReset> {
        self.reset.clone()
    }

    /// Gives the device up for `wait_ms` (at least [`BACKOFF_FIRST_MS`], at most
    /// [`BACKOFF_MAX_MS`]): a port reset could not bring it back. Commands fail
    /// at once meanwhile; the first one after it tries a port reset again.
    pub(crate) fn give_up(&mut self, wait_ms: u32) {
        let wait_ms = wait_ms.clamp(BACKOFF_FIRST_MS, BACKOFF_MAX_MS);
        self.stats.inc(Counter::Dead);
        // At most once a second, and once a minute when it lasts, unless
        // opens cut the backoff short: rate-limited then.
        let (print, missed) = self.give_up_log.allow();
        if missed > 0 {
            dev_err!(
                self.intf.device(),
                "{} 'not answering' messages suppressed\n",
                missed
            );
        }
        if print {
            dev_err!(self.intf.device(), "device not answering, not even after a port reset; its I/O fails at once, next try in {} s\n", wait_ms / 1000);
        }
        self.given_up = Some(Backoff {
            retry_at_ns: now_ns().saturating_add(i64::from(wait_ms) * 1_000_000),
            wait_ms,
        });
    }

    /// Whether the next command would try to revive a device given up (its
    /// backoff is over): a port reset, with no deadline of its own.
    pub(crate) fn revive_due(&self) -> bool {
        self.given_up.is_some_and(|b| now_ns() >= b.retry_at_ns)
    }

    /// A device given up is tried again with the next command (a new open, or
    /// someone else's reset, gives it another chance at once).
    pub(crate) fn retry_now(&mut self) {
        if let Some(b) = self.given_up.as_mut() {
            b.retry_at_ns = now_ns();
        }
    }

    /// Someone else reset the device: whatever made it give up is over.
    pub(crate) fn reset_by_others(&mut self) {
        self.given_up = None;
    }
}
